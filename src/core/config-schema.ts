import { z } from 'zod';

import { authSchema, checkAuth, routeAuthSchema } from '../auth/config-schema.js';
import { checkOAuth, oauthSchema } from '../auth/oauth/config-schema.js';
import { checkVersioning, versioningSchema } from '../auth/versioning-config.js';
import { checkNetwork, networkPolicyShape, routeNetworkSchema } from '../ddos/network-config.js';
import {
  connectionsSchema,
  loadSheddingSchema,
  routeLoadSheddingSchema,
} from '../ddos/config-schema.js';
import {
  checkSignatures,
  routeSignaturesSchema,
  signaturesSchema,
} from '../http/signatures-config.js';
import {
  checkHardening,
  hardeningPolicyShape,
  hardeningRouteShape,
} from '../http/hardening-config.js';
import {
  bodySchema,
  checkBodyLimits,
  limitsSchema,
  routeBodySchema,
  routeLimitsSchema,
} from '../http/body-config.js';
import { auditSchema } from '../audit/config.js';
import { checkExpressions, routeExpressionsSchema } from '../expression/config-schema.js';
import { algorithms } from '../ratelimit/policy.js';
import { uploadSchema } from '../upload/config.js';
import { routeWafSchema, wafSchema } from '../validation/waf/config.js';
import {
  checkValidation,
  validationPolicyShape,
  validationRouteShape,
} from '../validation/schema/config.js';
import { parseCidr } from './ip.js';
import { parseDuration } from './duration.js';

/**
 * The `bulwark.yaml` schema. Objects are strict so that a misspelt key is an error rather
 * than a silently ignored policy.
 */

// A bare number is rejected rather than read in some unit: `window: 60` meant as seconds
// would otherwise become 60 ms and quietly switch a limit off.
const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  if (typeof value === 'number') {
    ctx.addIssue({
      code: 'custom',
      message: `a duration needs a unit: write e.g. ${value}s or ${value}ms`,
      params: { bwk: 'BWK_ERR_CONFIG_DURATION' },
    });
    return z.NEVER;
  }
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: (error as Error).message,
      params: { bwk: 'BWK_ERR_CONFIG_DURATION' },
    });
    return z.NEVER;
  }
});

const positiveDuration = duration.refine((ms) => ms > 0, {
  message: 'must be longer than 0',
  params: { bwk: 'BWK_ERR_CONFIG_DURATION' },
});

const cidr = z.string().superRefine((value, ctx) => {
  try {
    parseCidr(value);
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: (error as Error).message,
      params: { bwk: 'BWK_ERR_CONFIG_CIDR' },
    });
  }
});

const KEY_PART = /^(ip|route|principal|user|apiKey|client|plan|method|header:[A-Za-z0-9-]+)$/;

/** `ip`, `header:X-Tenant`, `ip+route`, or a list of parts that combine. */
const keySpec = z.union([z.string(), z.array(z.string()).min(1)]).transform((value, ctx) => {
  const parts = (Array.isArray(value) ? value : value.split('+')).map((part) => part.trim());
  const bad = parts.find((part) => !KEY_PART.test(part));
  if (bad !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown key part "${bad}": allowed are ip, route, principal, user, apiKey, client, plan, method, header:NAME, combined with +`,
      params: { bwk: 'BWK_ERR_CONFIG_KEY' },
    });
    return z.NEVER;
  }
  return parts;
});

export const rateLimitSchema = z
  .object({
    name: z
      .string()
      .regex(
        /^[A-Za-z0-9_.-]{1,64}$/,
        'must be 1 to 64 letters, digits, dots, dashes or underscores',
      ),
    key: keySpec.default(['ip']),
    limit: z.number().int().positive(),
    window: positiveDuration,
    algorithm: z.enum(algorithms).default('sliding-window-log'),
    burst: z.number().int().positive().optional(),
    blockFor: positiveDuration.optional(),
    cost: z.number().int().positive().default(1),
    /** Limits per plan; a principal without a listed plan gets `limit`. */
    tiers: z.record(z.string(), z.number().int().positive()).optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.burst !== undefined && value.algorithm !== 'gcra') {
      ctx.addIssue({
        code: 'custom',
        path: ['burst'],
        message: 'burst applies only to algorithm gcra',
        params: { bwk: 'BWK_ERR_CONFIG_CONFLICT' },
      });
    }
  });

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'];

/** `POST /login`, `GET,HEAD /orders/:id`, `* /admin/*` or just `/path` for every method. */
const routeMatch = z.string().transform((value, ctx) => {
  const parts = value.trim().split(/\s+/);
  const [methodText, path] = parts.length === 1 ? ['*', parts[0]!] : parts;
  const methods = methodText === '*' ? [...METHODS] : (methodText ?? '').toUpperCase().split(',');
  const badMethod = methods.find((method) => !METHODS.includes(method));
  if (parts.length > 2 || !path?.startsWith('/') || badMethod !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid route "${value}": expected "METHOD /path" (methods ${METHODS.join(', ')} or *, comma-separated), path parameters as :name, wildcard *`,
      params: { bwk: 'BWK_ERR_CONFIG_ROUTE' },
    });
    return z.NEVER;
  }
  return { methods, path, text: value.trim() };
});

export const routeSchema = z
  .object({
    match: routeMatch,
    reportOnly: z.boolean().default(false),
    rateLimits: z.array(rateLimitSchema).default([]),
    /** Replaces the fields of the global `auth` policy that it sets. */
    auth: routeAuthSchema.optional(),
    /** Addresses and countries allowed on this route. */
    network: routeNetworkSchema(cidr).optional(),
    /** HTTP Message Signatures required on this route. */
    signatures: routeSignaturesSchema.optional(),
    /** The load-shedding priority of the route's requests. */
    loadShedding: routeLoadSheddingSchema,
    /** CORS, security headers and repeated query parameters on this route. */
    ...hardeningRouteShape(duration),
    /** Size limits and the minimum body rate; each field replaces the global one. */
    limits: routeLimitsSchema(duration),
    /** Allowed media types and body checks; each field replaces the global one. */
    body: routeBodySchema,
    /** Rules that reject a request when an expression over it is true. */
    expressions: routeExpressionsSchema.optional(),
    /** Injection detection on this route; exclusions add to the global ones. */
    waf: routeWafSchema,
    /** Schemas of the request parts, and body fields sanitized as HTML. */
    ...validationRouteShape(),
    /** Multipart uploads: limits, allowed types, content checks, malware scan, storage. */
    upload: uploadSchema.optional(),
  })
  .strict();

/** The proxy speaks HTTP only; other schemes would pass a plain URL check and fail at start. */
const httpUrl = z.string().refine(
  (value) => {
    try {
      const { protocol } = new URL(value);
      return protocol === 'http:' || protocol === 'https:';
    } catch {
      return false;
    }
  },
  { message: 'must be an http:// or https:// URL such as http://127.0.0.1:3000' },
);

const upstreamSchema = z.union(
  [
    httpUrl,
    z
      .object({
        url: httpUrl,
        connections: z.number().int().positive().default(128),
        connectTimeout: positiveDuration.default(5_000),
        headersTimeout: positiveDuration.default(30_000),
        bodyTimeout: positiveDuration.default(30_000),
      })
      .strict(),
  ],
  {
    error:
      'must be an http:// URL such as http://127.0.0.1:3000, or an object with url and pool settings',
  },
);

/** Everything that shapes protection; shared by the gateway file and the library adapters. */
const policyShape = {
  trustProxy: z.array(cidr).default([]),
  rateLimits: z.array(rateLimitSchema).default([]),
  rateLimiting: z
    .object({
      reportOnly: z.boolean().default(false),
      ipv6Prefix: z.number().int().min(1).max(128).default(64),
      headers: z
        .object({ draft: z.boolean().default(true), legacy: z.boolean().default(true) })
        .strict()
        .default({ draft: true, legacy: true }),
    })
    .strict()
    .default({ reportOnly: false, ipv6Prefix: 64, headers: { draft: true, legacy: true } }),
  routes: z.array(routeSchema).default([]),
  ...networkPolicyShape(positiveDuration, cidr),
  loadShedding: loadSheddingSchema(positiveDuration),
  ...hardeningPolicyShape(duration),
  /** URL, header and body size limits and the minimum body transfer rate. */
  limits: limitsSchema(duration),
  /** Allowed media types and the checks on JSON and form bodies. */
  body: bodySchema,
  /** Injection detection (the WAF guard); off unless `enabled`. */
  waf: wafSchema,
  /** Schema validation and HTML sanitization settings. */
  ...validationPolicyShape(),
  auth: authSchema(duration, httpUrl),
  versioning: versioningSchema(rateLimitSchema, httpUrl),
  signatures: signaturesSchema(duration),
  storage: z
    .object({
      redis: z
        .string()
        .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
        .optional(),
      keyPrefix: z.string().default('bwk:'),
      /**
       * PostgreSQL URL for keys, clients and other credentials shared by several instances.
       * Without it they live in SQLite in the data directory.
       */
      postgres: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
        .optional(),
      /** Rate-limiting behaviour while Redis is unreachable. */
      onRedisFailure: z.enum(['fallback', 'open', 'closed']).default('fallback'),
      /** The local fallback admits limit ÷ this number on each instance. */
      expectedInstances: z.number().int().positive().default(1),
      commandTimeout: positiveDuration.default(100),
    })
    .strict()
    .default({
      keyPrefix: 'bwk:',
      onRedisFailure: 'fallback',
      expectedInstances: 1,
      commandTimeout: 100,
    }),
};

/** Minimum length of the admin token; a shorter one leaves the admin API off. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

const adminDefaults = {
  prefix: '/_bulwark',
  allow: ['127.0.0.0/8', '::1'],
  tokenEnv: 'BULWARK_ADMIN_TOKEN',
};

/**
 * Reads the admin API token from the environment. Returns undefined, which keeps the admin
 * API off, when the variable is unset or shorter than `MIN_ADMIN_TOKEN_LENGTH`.
 */
export function readAdminToken(
  admin: { tokenEnv: string },
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const token = env[admin.tokenEnv];
  return token !== undefined && token.length >= MIN_ADMIN_TOKEN_LENGTH ? token : undefined;
}

const gatewayShape = {
  listen: z
    .object({
      host: z.string().default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
    })
    .strict()
    .default({ host: '127.0.0.1', port: 8080 }),
  upstream: upstreamSchema,
  dataDir: z.string().default('./data'),
  admin: z
    .object({
      prefix: z
        .string()
        .regex(/^\/[A-Za-z0-9_-]+$/, 'must be one path segment such as /_bulwark')
        .default(adminDefaults.prefix),
      /** Clients allowed to call the admin endpoints (health, metrics, admin API). */
      allow: z.array(cidr).default(adminDefaults.allow),
      /**
       * Environment variable that holds the admin API bearer token, so the token never sits
       * in the file. The admin API is on only while it holds one.
       */
      tokenEnv: z
        .string()
        .regex(
          /^[A-Z_][A-Z0-9_]{0,127}$/,
          'must be an environment variable name such as BULWARK_ADMIN_TOKEN',
        )
        .default(adminDefaults.tokenEnv),
    })
    .strict()
    .default(adminDefaults),
  events: z
    .object({
      /**
       * `audit`: the tamper-evident audit log (see the `audit` section). `file` and `stdout`
       * write plain JSON lines without integrity protection.
       */
      sink: z.enum(['audit', 'file', 'stdout', 'none']).default('audit'),
      file: z.string().optional(),
    })
    .strict()
    .default({ sink: 'audit' }),
  /** The tamper-evident audit log of every security event. */
  audit: auditSchema(duration, positiveDuration),
  logging: z
    .object({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .strict()
    .default({ level: 'info' }),
  shutdownTimeout: positiveDuration.default(10_000),
  /** Per-IP connection limits and the deadlines of slow and idle clients. */
  connections: connectionsSchema(duration, positiveDuration, cidr),
  /** The OAuth 2.0 client-credentials server; off unless set. */
  oauth: oauthSchema(duration, httpUrl).optional(),
};

function checkRoutesUnique(
  config: { routes: ReadonlyArray<{ match: { methods: string[]; path: string } }> },
  ctx: z.RefinementCtx,
): void {
  const seen = new Set<string>();
  config.routes.forEach((route, index) => {
    for (const method of route.match.methods) {
      const id = `${method} ${route.match.path}`;
      if (seen.has(id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'match'],
          message: `route ${id} is declared twice`,
          params: { bwk: 'BWK_ERR_CONFIG_DUPLICATE' },
        });
      }
      seen.add(id);
    }
  });
}

type LimitLike = { name: string } & Record<string, unknown>;
type PolicyLike = {
  rateLimits: readonly LimitLike[];
  routes: ReadonlyArray<{
    match: { methods: string[]; path: string };
    rateLimits: readonly LimitLike[];
    auth?: { methods?: readonly string[] };
  }>;
  auth: Parameters<typeof checkAuth>[0]['auth'];
};

/**
 * Checks rate-limit names. A limit's name identifies its counter. Within one list a name may appear once. The same
 * name on several routes shares one counter, so its settings must be identical there. A
 * route limit named like a global one overrides it for that route, with its own counter.
 */
function checkLimitNames(config: PolicyLike, ctx: z.RefinementCtx): void {
  const globalNames = new Set<string>();
  config.rateLimits.forEach((limit, index) => {
    if (globalNames.has(limit.name))
      duplicateName(
        ctx,
        ['rateLimits', index, 'name'],
        `rate limit "${limit.name}" is declared twice in rateLimits`,
      );
    globalNames.add(limit.name);
  });

  const shared = new Map<string, { settings: string; where: string }>();
  config.routes.forEach((route, routeIndex) => {
    const names = new Set<string>();
    route.rateLimits.forEach((limit, index) => {
      const path = ['routes', routeIndex, 'rateLimits', index, 'name'];
      if (names.has(limit.name)) {
        duplicateName(ctx, path, `rate limit "${limit.name}" is declared twice on this route`);
        return;
      }
      names.add(limit.name);
      if (globalNames.has(limit.name)) return;
      const settings = JSON.stringify(limit);
      const first = shared.get(limit.name);
      if (first === undefined) {
        shared.set(limit.name, { settings, where: `routes.${routeIndex}` });
      } else if (first.settings !== settings) {
        duplicateName(
          ctx,
          path,
          `rate limit "${limit.name}" differs from the one at ${first.where}; routes share one counter per name, so rename one or make them identical`,
        );
      }
    });
  });
}

function duplicateName(ctx: z.RefinementCtx, path: (string | number)[], message: string): void {
  ctx.addIssue({ code: 'custom', path, message, params: { bwk: 'BWK_ERR_CONFIG_DUPLICATE' } });
}

function checkPolicy(
  config: PolicyLike &
    Parameters<typeof checkVersioning>[0] &
    Parameters<typeof checkNetwork>[0] &
    Parameters<typeof checkSignatures>[0] &
    Parameters<typeof checkHardening>[0] &
    Parameters<typeof checkBodyLimits>[0] &
    Parameters<typeof checkExpressions>[0] &
    Parameters<typeof checkValidation>[0],
  ctx: z.RefinementCtx,
): void {
  checkRoutesUnique(config, ctx);
  checkLimitNames(config, ctx);
  checkAuth(config, ctx);
  checkOAuth(config, ctx);
  checkVersioning(config, ctx);
  checkNetwork(config, ctx);
  checkHardening(config, ctx);
  checkSignatures(config, ctx);
  checkBodyLimits(config, ctx);
  checkExpressions(config, ctx);
  checkValidation(config, ctx);
}

/** Options of the library adapters: the policy without listener or upstream. */
export const policySchema = z.object(policyShape).strict().superRefine(checkPolicy);

/** The whole gateway file. */
export const configSchema = z
  .object({ ...gatewayShape, ...policyShape })
  .strict()
  .superRefine(checkPolicy);

export type ConfigInput = z.input<typeof configSchema>;
export type BulwarkConfig = z.output<typeof configSchema>;
export type PolicyInput = z.input<typeof policySchema>;
export type PolicyConfig = z.output<typeof policySchema>;
export type VersioningConfig = PolicyConfig['versioning'];
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
