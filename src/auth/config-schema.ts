import { z } from 'zod';

/**
 * The `auth` part of the configuration schema: JWT issuers, the default authentication
 * policy and per-route policies. The shared schema imports it, so parsing stays in one place.
 */

/** Asymmetric JWS algorithms (RFC 7518 and RFC 8037) that an issuer may allow. */
export const jwtAlgorithms = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

export type JwtAlgorithm = (typeof jwtAlgorithms)[number];

/**
 * Parses one allowed JWS algorithm. Every key source (JWKS file, PEM, remote JWKS) contains
 * public keys, so `none` and the HS* shared-secret algorithms are rejected here. Allowing HS256 next to a public key is the
 * classic algorithm-confusion hole: a client signs with the public key as the HMAC secret.
 */
const jwtAlgorithm = z.string().transform((value, ctx) => {
  if ((jwtAlgorithms as readonly string[]).includes(value)) return value as JwtAlgorithm;
  let message = `unknown JWS algorithm "${value}": allowed are ${jwtAlgorithms.join(', ')}`;
  if (value.toLowerCase() === 'none') {
    message = 'algorithm "none" is never allowed because it accepts unsigned tokens';
  } else if (/^HS\d+$/i.test(value)) {
    message = `${value} is a shared-secret algorithm, but this issuer's keys are public keys; allowing it would let anyone holding the public key sign tokens. Use RS*, PS*, ES* or EdDSA`;
  }
  ctx.addIssue({ code: 'custom', message, params: { bwk: 'BWK_ERR_CONFIG_JWT_ALGORITHM' } });
  return z.NEVER;
});

// RFC 6749 section 3.3: a scope token is printable ASCII without space, `"` or `\`, so it can
// go into a WWW-Authenticate quoted string unescaped.
const scopeToken = z
  .string()
  .regex(
    /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/,
    'must be 1 to 128 printable characters without space, " or \\',
  );

// Claim names appear in error_description, a quoted string, so they exclude `"` and `\`.
const claimName = z
  .string()
  .regex(
    /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/,
    'must be 1 to 128 printable characters without space, " or \\',
  );

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name of letters, digits and dashes');

const publicKeySchema = z
  .object({
    /** PEM text (SPKI `BEGIN PUBLIC KEY`). */
    pem: z.string().optional(),
    /** Path of a PEM file, read at start. */
    file: z.string().optional(),
    alg: jwtAlgorithm,
    kid: z.string().min(1).optional(),
  })
  .strict()
  .refine((key) => (key.pem === undefined) !== (key.file === undefined), {
    message: 'set exactly one of pem and file',
    params: { bwk: 'BWK_ERR_CONFIG_AUTH' },
  });

export function jwtIssuerSchema(
  duration: z.ZodType<number, unknown>,
  httpUrl: z.ZodType<string, string>,
) {
  return z
    .object({
      issuer: z.string().min(1),
      audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
      algorithms: z.array(jwtAlgorithm).min(1),
      jwksUri: httpUrl.optional(),
      jwksFile: z.string().optional(),
      publicKeys: z.array(publicKeySchema).min(1).optional(),
      jwks: z
        .object({
          /** Keys older than this are fetched again before use (while the endpoint responds). */
          cacheMaxAge: duration.default(600_000),
          /** Minimum time between two fetches triggered by an unknown `kid`. */
          cooldown: duration.default(30_000),
          timeout: duration.default(5_000),
        })
        .strict()
        .default({ cacheMaxAge: 600_000, cooldown: 30_000, timeout: 5_000 }),
      clockTolerance: duration.default(30_000),
      requiredClaims: z.array(claimName).default([]),
      /** Claim whose string value becomes the principal's plan (rate-limit tier). */
      planClaim: z.string().min(1).optional(),
    })
    .strict()
    .superRefine((issuer, ctx) => {
      const sources = [issuer.jwksUri, issuer.jwksFile, issuer.publicKeys].filter(
        (source) => source !== undefined,
      );
      if (sources.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          message: 'set exactly one key source: jwksUri, jwksFile or publicKeys',
          params: { bwk: 'BWK_ERR_CONFIG_AUTH' },
        });
      }
    });
}

const authMethod = z.enum(['apiKey', 'jwt', 'oauth', 'anonymous']);

/** Policy fields of `auth` and `routes[].auth`: accepted credentials and required scopes. */
export const authPolicyShape = {
  methods: z.array(authMethod).min(1).optional(),
  scopes: z
    .object({
      /** Every one of these scopes is required. */
      all: z.array(scopeToken).default([]),
      /** At least one of these scopes is required, when the list is not empty. */
      any: z.array(scopeToken).default([]),
    })
    .strict()
    .optional(),
};

export const routeAuthSchema = z.object(authPolicyShape).strict();

// An environment variable name, so the pepper itself never sits in the configuration file.
const envName = z
  .string()
  .regex(
    /^[A-Z_][A-Z0-9_]{0,127}$/,
    'must be an environment variable name such as BULWARK_API_KEY_PEPPER',
  );

export const apiKeysDefaults = {
  header: 'X-API-Key',
  pepperEnv: 'BULWARK_API_KEY_PEPPER',
  lastUsedFlushInterval: 10_000,
};

function apiKeysSchema(duration: z.ZodType<number, unknown>) {
  return z
    .object({
      /** Header that carries a key besides `Authorization: Bearer`. */
      header: headerName
        .refine((name) => name.toLowerCase() !== 'authorization', {
          message: 'must not be Authorization, which is always read for Bearer keys',
          params: { bwk: 'BWK_ERR_CONFIG_CONFLICT' },
        })
        .default(apiKeysDefaults.header),
      /** Environment variable that contains the HMAC pepper (at least 32 bytes). */
      pepperEnv: envName.default(apiKeysDefaults.pepperEnv),
      /** How often last-use times are written to the store. */
      lastUsedFlushInterval: duration
        .refine((ms) => ms > 0, {
          message: 'must be longer than 0',
          params: { bwk: 'BWK_ERR_CONFIG_DURATION' },
        })
        .default(apiKeysDefaults.lastUsedFlushInterval),
    })
    .strict();
}

/** Credential cache lifetimes when `auth.cache.ttl` is not set. */
export const credentialCacheDefaults = { ttlWithoutRedis: 1_000, ttlWithRedis: 60_000 };

export const upstreamIdentityDefaults = {
  subject: 'X-Auth-Subject',
  scopes: 'X-Auth-Scopes',
  type: 'X-Auth-Type',
};

export function authSchema(
  duration: z.ZodType<number, unknown>,
  httpUrl: z.ZodType<string, string>,
) {
  return z
    .object({
      ...authPolicyShape,
      jwt: z
        .object({
          issuers: z.array(jwtIssuerSchema(duration, httpUrl)).min(1),
          /**
           * Verified tokens remembered, so a client that repeats a token skips the signature
           * check until the token expires; 0 turns the cache off.
           */
          cacheSize: z.number().int().min(0).max(1_000_000).default(10_000),
        })
        .strict()
        .optional(),
      apiKeys: apiKeysSchema(duration).optional(),
      /**
       * How long each instance reuses a credential it looked up. Without Redis this bounds
       * how long a revocation made elsewhere goes unnoticed; with Redis, changes are announced
       * over pub/sub and this bounds only notices that were lost.
       */
      cache: z
        .object({
          ttl: duration.optional(),
          maxEntries: z.number().int().positive().default(50_000),
        })
        .strict()
        .default({ maxEntries: 50_000 }),
      /** Request headers that carry the verified identity to the upstream (gateway only). */
      upstreamHeaders: z
        .object({
          subject: headerName.default(upstreamIdentityDefaults.subject),
          scopes: headerName.default(upstreamIdentityDefaults.scopes),
          type: headerName.default(upstreamIdentityDefaults.type),
        })
        .strict()
        .default(upstreamIdentityDefaults),
    })
    .strict()
    .default({ upstreamHeaders: upstreamIdentityDefaults, cache: { maxEntries: 50_000 } });
}

type AuthLike = {
  methods?: readonly string[];
  jwt?: { issuers: ReadonlyArray<{ issuer: string }> };
};

/** Checks that `jwt` is configured wherever a policy lists it, and that issuers are unique. */
export function checkAuth(
  config: { auth: AuthLike; routes: ReadonlyArray<{ auth?: { methods?: readonly string[] } }> },
  ctx: z.RefinementCtx,
): void {
  const seen = new Set<string>();
  config.auth.jwt?.issuers.forEach((issuer, index) => {
    if (seen.has(issuer.issuer)) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'jwt', 'issuers', index, 'issuer'],
        message: `issuer "${issuer.issuer}" is declared twice`,
        params: { bwk: 'BWK_ERR_CONFIG_DUPLICATE' },
      });
    }
    seen.add(issuer.issuer);
  });
  if (config.auth.jwt !== undefined) return;

  const missing = (path: (string | number)[]): void =>
    ctx.addIssue({
      code: 'custom',
      path,
      message: 'method jwt needs auth.jwt.issuers',
      params: { bwk: 'BWK_ERR_CONFIG_AUTH' },
    });
  if (config.auth.methods?.includes('jwt')) missing(['auth', 'methods']);
  config.routes.forEach((route, index) => {
    if (route.auth?.methods?.includes('jwt')) missing(['routes', index, 'auth', 'methods']);
  });
}

export type AuthConfig = z.output<ReturnType<typeof authSchema>>;
export type ApiKeysConfig = z.output<ReturnType<typeof apiKeysSchema>>;
export type JwtIssuerConfig = z.output<ReturnType<typeof jwtIssuerSchema>>;
export type RouteAuthConfig = z.output<typeof routeAuthSchema>;
