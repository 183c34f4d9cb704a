import { z } from 'zod';

/**
 * The `oauth` section of the gateway configuration: the OAuth 2.0 client-credentials server
 * that issues access tokens for the routes behind the gateway. The shared schema imports it.
 */

/** JWS algorithms the server signs with: asymmetric, with short keys and fast verification. */
export const signingAlgorithms = ['EdDSA', 'ES256'] as const;

export type SigningAlgorithm = (typeof signingAlgorithms)[number];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const oauthPathDefaults = {
  token: '/oauth/token',
  introspection: '/oauth/introspect',
  revocation: '/oauth/revoke',
  jwks: '/.well-known/jwks.json',
  metadata: '/.well-known/oauth-authorization-server',
};

export const oauthDefaults = {
  tokenLifetime: HOUR,
  clockTolerance: 30_000,
  secretRotationGrace: DAY,
  algorithm: 'EdDSA' as SigningAlgorithm,
  rotateEvery: 30 * DAY,
};

// Segments of RFC 3986 unreserved characters, which covers `.well-known` and needs no escaping.
const endpointPath = z
  .string()
  .regex(
    /^(\/[A-Za-z0-9._~-]+)+$/,
    'must be an absolute path of letters, digits, ".", "_", "~" and "-", such as /oauth/token',
  );

const scopeToken = z
  .string()
  .regex(
    /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/,
    'must be 1 to 128 printable characters without space, " or \\',
  );

function bounded(
  duration: z.ZodType<number, unknown>,
  minMs: number,
  maxMs: number,
  text: string,
): z.ZodType<number, unknown> {
  return duration.refine((ms) => ms >= minMs && ms <= maxMs, {
    message: `must be between ${text}`,
    params: { bwk: 'BWK_ERR_CONFIG_DURATION' },
  });
}

export function oauthSchema(
  duration: z.ZodType<number, unknown>,
  httpUrl: z.ZodType<string, string>,
) {
  return z
    .object({
      /**
       * The `iss` of every token and the base of the endpoint URLs in the metadata. Without it,
       * the URL the gateway listens on is used, which is wrong behind a proxy or on 0.0.0.0.
       */
      issuer: httpUrl
        .refine((value) => !value.includes('?') && !value.includes('#'), {
          message: 'must be a URL without query or fragment (RFC 8414 section 2)',
          params: { bwk: 'BWK_ERR_CONFIG_OAUTH' },
        })
        .optional(),
      /** The `aud` of every token; the oauth guard accepts tokens naming one of them. */
      audience: z
        .union([z.string().min(1).max(512), z.array(z.string().min(1).max(512)).min(1).max(16)])
        .optional(),
      tokenLifetime: bounded(duration, 1_000, DAY, '1s and 1d').default(
        oauthDefaults.tokenLifetime,
      ),
      /** Clock skew allowed when the oauth guard checks `exp` and `iat`. */
      clockTolerance: bounded(duration, 0, 5 * 60_000, '0ms and 5m').default(
        oauthDefaults.clockTolerance,
      ),
      /** Overlap of an old and a new client secret after a rotation that names none. */
      secretRotationGrace: duration.default(oauthDefaults.secretRotationGrace),
      signingKeys: z
        .object({
          algorithm: z.enum(signingAlgorithms).default(oauthDefaults.algorithm),
          /** Age at which the signing key is replaced by a new one. */
          rotateEvery: bounded(duration, 60_000, 365 * DAY, '1m and 365d').default(
            oauthDefaults.rotateEvery,
          ),
          /**
           * How long a replaced key stays in the JWKS. Tokens it signed must expire first, so
           * the default is `tokenLifetime` plus `clockTolerance`.
           */
          keepRetiredFor: duration.optional(),
        })
        .strict()
        .default({ algorithm: oauthDefaults.algorithm, rotateEvery: oauthDefaults.rotateEvery }),
      paths: z
        .object({
          token: endpointPath.default(oauthPathDefaults.token),
          introspection: endpointPath.default(oauthPathDefaults.introspection),
          revocation: endpointPath.default(oauthPathDefaults.revocation),
          jwks: endpointPath.default(oauthPathDefaults.jwks),
          metadata: endpointPath.default(oauthPathDefaults.metadata),
        })
        .strict()
        .default(oauthPathDefaults),
      /**
       * `scopes_supported` in the server metadata. Without it, the scopes that the `auth`
       * policies require are listed.
       */
      scopesSupported: z.array(scopeToken).max(256).optional(),
    })
    .strict()
    .superRefine((oauth, ctx) => {
      const keep = oauth.signingKeys.keepRetiredFor;
      if (keep !== undefined && keep < oauth.tokenLifetime + oauth.clockTolerance) {
        ctx.addIssue({
          code: 'custom',
          path: ['signingKeys', 'keepRetiredFor'],
          message:
            'must be at least tokenLifetime plus clockTolerance, or tokens signed by a retired key fail before they expire',
          params: { bwk: 'BWK_ERR_CONFIG_OAUTH' },
        });
      }
      const seen = new Map<string, string>();
      for (const [name, path] of Object.entries(oauth.paths)) {
        const first = seen.get(path);
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['paths', name],
            message: `path ${path} is also the ${first} path`,
            params: { bwk: 'BWK_ERR_CONFIG_DUPLICATE' },
          });
        }
        seen.set(path, name);
      }
    })
    .transform((oauth) => ({
      ...oauth,
      signingKeys: {
        ...oauth.signingKeys,
        keepRetiredFor:
          oauth.signingKeys.keepRetiredFor ?? oauth.tokenLifetime + oauth.clockTolerance,
      },
    }));
}

export type OAuthConfig = z.output<ReturnType<typeof oauthSchema>>;

type OAuthLike = {
  oauth?: { paths: Record<string, string> };
  admin?: { prefix: string };
  auth: { methods?: readonly string[] };
  routes: ReadonlyArray<{ auth?: { methods?: readonly string[] } }>;
};

/**
 * Checks that the `oauth` section exists wherever a policy lists the `oauth` method, and that
 * no endpoint lies under the admin prefix, where the admin handler would respond instead.
 */
export function checkOAuth(config: OAuthLike, ctx: z.RefinementCtx): void {
  const { oauth, admin } = config;
  if (oauth !== undefined && admin !== undefined) {
    for (const [name, path] of Object.entries(oauth.paths)) {
      if (path === admin.prefix || path.startsWith(`${admin.prefix}/`)) {
        ctx.addIssue({
          code: 'custom',
          path: ['oauth', 'paths', name],
          message: `must not lie under the admin prefix ${admin.prefix}`,
          params: { bwk: 'BWK_ERR_CONFIG_CONFLICT' },
        });
      }
    }
  }
  if (oauth !== undefined) return;

  const missing = (path: (string | number)[]): void =>
    ctx.addIssue({
      code: 'custom',
      path,
      message:
        'method oauth needs the gateway oauth section; the library adapters run no token server, so verify the gateway tokens there with method jwt and its JWKS',
      params: { bwk: 'BWK_ERR_CONFIG_OAUTH' },
    });
  if (config.auth.methods?.includes('oauth')) missing(['auth', 'methods']);
  config.routes.forEach((route, index) => {
    if (route.auth?.methods?.includes('oauth')) missing(['routes', index, 'auth', 'methods']);
  });
}
