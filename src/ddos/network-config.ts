import { z } from 'zod';

/**
 * The configuration of the network-level guards: IP allow and deny lists (`ipLists`),
 * automatic bans (`bans`), country rules (`geo`), the CDN client header (`cdn`) and the
 * per-route `network` key. The shared schema passes in its duration and CIDR schemas, so that
 * this file does not import the shared one.
 */

/** Default largest list file or country database read, in bytes. */
export const DEFAULT_MAX_LIST_FILE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_GEO_FILE_BYTES = 128 * 1024 * 1024;

/** The sliding window of one trigger keeps at most this many timestamps per address. */
export const MAX_TRIGGER_COUNT = 10_000;

const EVENT_TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const COUNTRY_CODE = /^[A-Z]{2}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;

export const banDefaults = {
  ipv6Prefix: 64,
  durations: [60_000, 600_000, 3_600_000, 86_400_000],
  resetAfter: 86_400_000,
  syncInterval: 10_000,
  triggers: [
    { event: 'ratelimit.exceeded', count: 30, window: 60_000 },
    { event: 'auth.failure', count: 10, window: 300_000 },
    { event: 'injection.detected', count: 3, window: 300_000 },
  ],
};

type DurationSchema = z.ZodType<number, string | number>;
type CidrSchema = z.ZodType<string, string>;

const positiveBytes = z
  .number()
  .int()
  .positive()
  .max(2 ** 31);

/** `10.0.0.0/8`, or `{ file: path }` for a feed file of such entries. */
function listEntry(cidr: CidrSchema) {
  return z.union([cidr, z.object({ file: z.string().min(1) }).strict()], {
    error: 'expected a CIDR such as 10.0.0.0/8, or { file: PATH } naming a list file',
  });
}

function countryList() {
  return z
    .array(
      z
        .string()
        .transform((code) => code.toUpperCase())
        .pipe(z.string().regex(COUNTRY_CODE, 'must be an ISO 3166-1 alpha-2 code such as DE')),
    )
    .min(1);
}

/** `allow` or `deny` (exactly one) and what to do with addresses of no known country. */
function countryRule() {
  return z
    .object({
      allow: countryList().optional(),
      deny: countryList().optional(),
      unknown: z.enum(['allow', 'deny']).default('allow'),
    })
    .strict()
    .superRefine((value, ctx) => {
      if ((value.allow === undefined) === (value.deny === undefined)) {
        ctx.addIssue({
          code: 'custom',
          message: 'set exactly one of allow and deny',
          params: { bwk: 'BWK_ERR_CONFIG_GEO' },
        });
      }
    });
}

/** Returns the top-level policy keys, which the shared schema spreads into its policy shape. */
export function networkPolicyShape(positiveDuration: DurationSchema, cidr: CidrSchema) {
  const entry = listEntry(cidr);
  return {
    ipLists: z
      .object({
        /** Never banned and never rejected by deny lists or country rules. */
        allow: z.array(entry).default([]),
        deny: z.array(entry).default([]),
        /** How often list files are checked for changes. */
        reloadInterval: positiveDuration.default(30_000),
        maxFileBytes: positiveBytes.default(DEFAULT_MAX_LIST_FILE_BYTES),
      })
      .strict()
      .optional(),
    bans: z
      .object({
        ipv6Prefix: z.number().int().min(1).max(128).default(banDefaults.ipv6Prefix),
        /** Ban lengths by escalation level; later bans use the last one. */
        durations: z.array(positiveDuration).min(1).max(16).default(banDefaults.durations),
        /** Quiet time after the end of a ban after which escalation starts over. */
        resetAfter: positiveDuration.default(banDefaults.resetAfter),
        /** How often each instance reloads every ban from Redis, besides live notices. */
        syncInterval: positiveDuration.default(banDefaults.syncInterval),
        triggers: z
          .array(
            z
              .object({
                event: z
                  .string()
                  .regex(EVENT_TYPE, 'must be an event type such as ratelimit.exceeded'),
                count: z.number().int().min(1).max(MAX_TRIGGER_COUNT),
                window: positiveDuration,
              })
              .strict(),
          )
          .default(banDefaults.triggers),
      })
      .strict()
      .superRefine(checkBans)
      .optional(),
    geo: z
      .object({
        /** Path of a country MMDB file. */
        database: z.string().min(1),
        allow: countryList().optional(),
        deny: countryList().optional(),
        unknown: z.enum(['allow', 'deny']).default('allow'),
        reloadInterval: positiveDuration.default(60_000),
        maxFileBytes: positiveBytes.default(DEFAULT_MAX_GEO_FILE_BYTES),
      })
      .strict()
      .superRefine((value, ctx) => {
        if (value.allow !== undefined && value.deny !== undefined) {
          ctx.addIssue({
            code: 'custom',
            message: 'set at most one of allow and deny',
            params: { bwk: 'BWK_ERR_CONFIG_GEO' },
          });
        }
      })
      .optional(),
    cdn: z
      .object({
        /** The header in which the CDN names the client. */
        header: z
          .string()
          .regex(HEADER_NAME, 'must be a header name such as CF-Connecting-IP')
          .transform((name) => name.toLowerCase())
          .default('cf-connecting-ip'),
        /** The CDN's edge ranges; the header is read only from these peers. */
        ranges: z.array(cidr).min(1),
      })
      .strict()
      .optional(),
  };
}

/** Returns the schema of the per-route `network` key. */
export function routeNetworkSchema(cidr: CidrSchema) {
  return z
    .object({
      /** Only these addresses may call the route. */
      allowOnly: z.array(cidr).min(1).optional(),
      /** Replaces the global country rule on this route. */
      countries: countryRule().optional(),
    })
    .strict();
}

function checkBans(
  value: { durations: number[]; triggers: { event: string }[] },
  ctx: z.RefinementCtx,
) {
  value.durations.forEach((duration, index) => {
    if (index > 0 && duration < value.durations[index - 1]!) {
      ctx.addIssue({
        code: 'custom',
        path: ['durations', index],
        message:
          'durations must not decrease: each repeat ban lasts at least as long as the one before',
        params: { bwk: 'BWK_ERR_CONFIG_BANS' },
      });
    }
  });
  const seen = new Set<string>();
  value.triggers.forEach((trigger, index) => {
    if (trigger.event.startsWith('ban.')) {
      ctx.addIssue({
        code: 'custom',
        path: ['triggers', index, 'event'],
        message: 'ban events cannot trigger bans',
        params: { bwk: 'BWK_ERR_CONFIG_BANS' },
      });
    }
    if (seen.has(trigger.event)) {
      ctx.addIssue({
        code: 'custom',
        path: ['triggers', index, 'event'],
        message: `event ${trigger.event} has two triggers; keep one`,
        params: { bwk: 'BWK_ERR_CONFIG_DUPLICATE' },
      });
    }
    seen.add(trigger.event);
  });
}

type NetworkLike = {
  geo?: unknown;
  routes: ReadonlyArray<{ network?: { countries?: unknown } }>;
};

/** Checks what spans several keys: route country rules need the global country database. */
export function checkNetwork(config: NetworkLike, ctx: z.RefinementCtx): void {
  if (config.geo !== undefined) return;
  config.routes.forEach((route, index) => {
    if (route.network?.countries === undefined) return;
    ctx.addIssue({
      code: 'custom',
      path: ['routes', index, 'network', 'countries'],
      message: 'country rules need geo.database, the country database to look addresses up in',
      params: { bwk: 'BWK_ERR_CONFIG_GEO' },
    });
  });
}

export type NetworkPolicy = {
  [K in keyof ReturnType<typeof networkPolicyShape>]?: z.output<
    ReturnType<typeof networkPolicyShape>[K]
  >;
};
export type IpListsConfig = NonNullable<NetworkPolicy['ipLists']>;
export type BansConfig = NonNullable<NetworkPolicy['bans']>;
export type GeoConfig = NonNullable<NetworkPolicy['geo']>;
export type CdnConfig = NonNullable<NetworkPolicy['cdn']>;
export type RouteNetworkConfig = z.output<ReturnType<typeof routeNetworkSchema>>;
export type CountryRule = z.output<ReturnType<typeof countryRule>>;
export type ListEntry = string | { file: string };
