import { z } from 'zod';

/**
 * The `connections` (gateway) and `loadShedding` (gateway and adapters) parts of the
 * configuration schema, and the per-route `loadShedding` key. The shared schema passes in
 * its duration and CIDR parsers so that every duration and address reads the same way.
 */

/** Request priorities of the load shedder, highest first. */
export const priorities = ['critical', 'authenticated', 'anonymous'] as const;
export type Priority = (typeof priorities)[number];

export const connectionsDefaults = {
  perIp: {
    maxConcurrent: 128,
    maxNewPerSecond: 64,
    ipv6Prefix: 64,
    // A proxy or health checker on the same host carries many clients on its connections.
    allow: ['127.0.0.0/8', '::1'],
  },
  headersTimeout: 10_000,
  requestTimeout: 300_000,
  keepAliveTimeout: 5_000,
  maxRequestsPerConnection: 0,
  reportInterval: 10_000,
};

export const loadSheddingDefaults = {
  initialLimit: 20,
  minLimit: 4,
  maxLimit: 1_000,
  latencyTolerance: 2,
  maxEventLoopDelay: 50,
  queue: { size: 100, timeout: 1_000 },
  retryAfter: 1_000,
  reportOnly: false,
  reportInterval: 10_000,
};

type Duration = z.ZodType<number, unknown>;
type Cidr = z.ZodType<string, unknown>;

/** `connections`: per-IP connection throttling and the deadlines of slow and idle clients. */
export function connectionsSchema(duration: Duration, positiveDuration: Duration, cidr: Cidr) {
  const d = connectionsDefaults;
  return z
    .object({
      perIp: z
        .object({
          /** Open connections per client; 0 turns the limit off. */
          maxConcurrent: z.number().int().min(0).default(d.perIp.maxConcurrent),
          /** New connections per second per client, with bursts of as many; 0 turns it off. */
          maxNewPerSecond: z.number().int().min(0).default(d.perIp.maxNewPerSecond),
          ipv6Prefix: z.number().int().min(1).max(128).default(d.perIp.ipv6Prefix),
          allow: z.array(cidr).default(d.perIp.allow),
        })
        .strict()
        .default(d.perIp),
      headersTimeout: positiveDuration.default(d.headersTimeout),
      requestTimeout: positiveDuration.default(d.requestTimeout),
      /** 0 keeps idle keep-alive connections open until the client closes them. */
      keepAliveTimeout: duration.default(d.keepAliveTimeout),
      maxRequestsPerConnection: z.number().int().min(0).default(d.maxRequestsPerConnection),
      reportInterval: positiveDuration.default(d.reportInterval),
    })
    .strict()
    .superRefine((value, ctx) => {
      if (value.headersTimeout > value.requestTimeout) {
        ctx.addIssue({
          code: 'custom',
          path: ['headersTimeout'],
          message: `must not be longer than requestTimeout (${value.requestTimeout} ms), which bounds the whole request`,
          params: { bwk: 'BWK_ERR_CONFIG_CONFLICT' },
        });
      }
    })
    .default(d);
}

/**
 * `loadShedding`: an adaptive concurrency limit with a bounded priority queue. Off unless
 * the section is present, because a limit that adapts wrongly rejects legitimate traffic.
 */
export function loadSheddingSchema(positiveDuration: Duration) {
  const d = loadSheddingDefaults;
  return z
    .object({
      initialLimit: z.number().int().positive().default(d.initialLimit),
      minLimit: z.number().int().positive().default(d.minLimit),
      maxLimit: z.number().int().positive().default(d.maxLimit),
      /** Latency may grow to this multiple of the unloaded latency before the limit shrinks. */
      latencyTolerance: z.number().min(1).max(10).default(d.latencyTolerance),
      /** The limit shrinks while the event loop's p99 delay is longer than this. */
      maxEventLoopDelay: positiveDuration.default(d.maxEventLoopDelay),
      queue: z
        .object({
          /** Requests that may wait for a slot; 0 sheds every request over the limit at once. */
          size: z.number().int().min(0).max(100_000).default(d.queue.size),
          timeout: positiveDuration.default(d.queue.timeout),
        })
        .strict()
        .default(d.queue),
      retryAfter: positiveDuration.default(d.retryAfter),
      reportOnly: z.boolean().default(d.reportOnly),
      reportInterval: positiveDuration.default(d.reportInterval),
    })
    .strict()
    .superRefine((value, ctx) => {
      if (value.minLimit > value.maxLimit) {
        ctx.addIssue({
          code: 'custom',
          path: ['minLimit'],
          message: `must not be larger than maxLimit (${value.maxLimit})`,
          params: { bwk: 'BWK_ERR_CONFIG_CONFLICT' },
        });
      }
      if (value.initialLimit < value.minLimit || value.initialLimit > value.maxLimit) {
        ctx.addIssue({
          code: 'custom',
          path: ['initialLimit'],
          message: `must lie between minLimit (${value.minLimit}) and maxLimit (${value.maxLimit})`,
          params: { bwk: 'BWK_ERR_CONFIG_CONFLICT' },
        });
      }
    })
    .optional();
}

/** `routes[].loadShedding`: the priority of the route's requests, whoever sends them. */
export const routeLoadSheddingSchema = z
  .object({ priority: z.enum(priorities) })
  .strict()
  .optional();

export type ConnectionsConfig = z.output<ReturnType<typeof connectionsSchema>>;
export type LoadSheddingConfig = NonNullable<z.output<ReturnType<typeof loadSheddingSchema>>>;
