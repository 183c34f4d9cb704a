import { z } from 'zod';

import { digestAlgorithms } from './content-digest.js';
import { isSupportedComponent } from './signature-base.js';
import { secretEncodings, signatureAlgorithms } from './signature-keys.js';

/**
 * The `signatures` part of the configuration schema (HTTP Message Signatures, RFC 9421) and
 * its per-route counterpart `routes[].signatures`. The shared schema imports both.
 */

const CODE = 'BWK_ERR_CONFIG_SIGNATURES';

/** Components every signature must cover, whatever the configuration adds. */
export const MINIMUM_COMPONENTS = ['@method', '@target-uri'] as const;

// Key ids appear in problem details and events, so they are printable ASCII without quotes.
const keyId = z
  .string()
  .regex(
    /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/,
    'must be 1 to 128 printable characters without space, " or \\',
  );

const envName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'must be an environment variable name such as SIG_KEY_K1');

const componentName = z.string().refine(isSupportedComponent, {
  message:
    'must be a lower-case header field name or one of @method, @target-uri, @authority, @scheme, @request-target, @path, @query',
  params: { bwk: CODE },
});

const tag = z.string().min(1).max(256);

const keySchema = z
  .object({
    /** The `keyid` that signatures name. */
    id: keyId,
    algorithm: z.enum(signatureAlgorithms),
    /** hmac-sha256: environment variable that contains the shared secret. */
    secretEnv: envName.optional(),
    /** hmac-sha256: file that contains the shared secret, read at start. */
    secretFile: z.string().min(1).optional(),
    /** Encoding of the secret's text, which is decoded into the key bytes. */
    encoding: z.enum(secretEncodings).default('base64'),
    /** ed25519: the public key as PEM text (`BEGIN PUBLIC KEY`). */
    publicKey: z.string().min(1).optional(),
    /** ed25519: a file that contains the public key as PEM or as a JWK. */
    publicKeyFile: z.string().min(1).optional(),
    /** ed25519: the public key as a JWK (`kty: OKP`, `crv: Ed25519`, `x`). */
    jwk: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .superRefine((key, ctx) => {
    const secretSources = [key.secretEnv, key.secretFile].filter((value) => value !== undefined);
    const publicSources = [key.publicKey, key.publicKeyFile, key.jwk].filter(
      (value) => value !== undefined,
    );
    const issue = (message: string): void =>
      ctx.addIssue({ code: 'custom', message, params: { bwk: CODE } });
    if (key.algorithm === 'hmac-sha256') {
      if (secretSources.length !== 1 || publicSources.length > 0)
        issue(
          'an hmac-sha256 key needs exactly one of secretEnv and secretFile, and no public key',
        );
    } else if (publicSources.length !== 1 || secretSources.length > 0) {
      issue('an ed25519 key needs exactly one of publicKey, publicKeyFile and jwk, and no secret');
    }
    if (key.jwk !== undefined && 'd' in key.jwk) {
      issue('jwk contains a private key (d); configure the public key only');
    }
  });

/** Global defaults of the signature policy. */
export const signaturesDefaults = {
  keys: [],
  required: false,
  reportOnly: false,
  components: [...MINIMUM_COMPONENTS],
  clockSkew: 30_000,
  maxAge: 300_000,
  digestAlgorithms: [...digestAlgorithms],
  nonces: { store: 'auto' as const, maxEntries: 100_000 },
};

export function signaturesSchema(duration: z.ZodType<number, unknown>) {
  return z
    .object({
      keys: z.array(keySchema).default([]),
      /** Whether requests that match no route, and routes that do not set it, need a signature. */
      required: z.boolean().default(false),
      /** Publish rejections as `would_block` events but let the requests through. */
      reportOnly: z.boolean().default(false),
      /** Components every signature must cover. The route's own are added to these. */
      components: z.array(componentName).default([...MINIMUM_COMPONENTS]),
      /** How far `created` may lie in the future, and `expires` in the past. */
      clockSkew: duration.default(signaturesDefaults.clockSkew),
      /** Oldest `created` accepted; nonces are remembered this long (plus `clockSkew`). */
      maxAge: duration
        .refine((ms) => ms > 0, { message: 'must be longer than 0', params: { bwk: CODE } })
        .default(signaturesDefaults.maxAge),
      /** Content-Digest algorithms accepted. */
      digestAlgorithms: z
        .array(z.enum(digestAlgorithms))
        .min(1)
        .default([...digestAlgorithms]),
      /**
       * The scheme and authority clients sign in `@target-uri`, `@authority` and `@scheme`,
       * e.g. `https://api.example.com` where TLS ends before Bulwark. Without it they are
       * `http` and the Host header.
       */
      origin: z.string().optional(),
      /** A `tag` parameter that every signature must carry, naming this application. */
      tag: tag.optional(),
      nonces: z
        .object({
          /** `auto` uses Redis when `storage.redis` is set, else memory. */
          store: z.enum(['auto', 'memory', 'redis']).default('auto'),
          /** Nonces one instance keeps in memory; when full, new signed requests get 503. */
          maxEntries: z.number().int().positive().max(10_000_000).default(100_000),
        })
        .strict()
        .default(signaturesDefaults.nonces),
    })
    .strict()
    .superRefine((value, ctx) => {
      if (value.origin !== undefined && !isOrigin(value.origin)) {
        ctx.addIssue({
          code: 'custom',
          path: ['origin'],
          message: 'must be an origin such as https://api.example.com, without path or query',
          params: { bwk: CODE },
        });
      }
    })
    .default(signaturesDefaults);
}

/** `routes[].signatures`: replaces `required` and `tag`, adds components, limits keys. */
export const routeSignaturesSchema = z
  .object({
    required: z.boolean().optional(),
    /** Components this route's signatures must cover besides the global ones. */
    components: z.array(componentName).optional(),
    /** The key ids accepted on this route; every configured key when absent. */
    keys: z.array(keyId).min(1).optional(),
    tag: tag.optional(),
  })
  .strict();

type SignaturesLike = {
  signatures: {
    keys: ReadonlyArray<{ id: string }>;
    required: boolean;
    components: readonly string[];
    nonces: { store: string };
  };
  routes: ReadonlyArray<{ signatures?: { required?: boolean; keys?: readonly string[] } }>;
  storage: { redis?: string };
};

/**
 * Checks what one field cannot: unique key ids, route keys that exist, a key wherever a
 * signature is required, the minimum components, and Redis for `nonces.store: redis`.
 */
export function checkSignatures(config: SignaturesLike, ctx: z.RefinementCtx): void {
  const { signatures } = config;
  const ids = new Set<string>();
  signatures.keys.forEach((key, index) => {
    if (ids.has(key.id)) {
      addIssue(ctx, ['signatures', 'keys', index, 'id'], `key id "${key.id}" is declared twice`);
    }
    ids.add(key.id);
  });

  const missing = MINIMUM_COMPONENTS.filter((name) => !signatures.components.includes(name));
  if (missing.length > 0) {
    addIssue(
      ctx,
      ['signatures', 'components'],
      `must include ${missing.join(' and ')}: a signature that does not cover the method and the whole target URI could be moved to another request`,
    );
  }
  if (signatures.nonces.store === 'redis' && config.storage.redis === undefined) {
    addIssue(ctx, ['signatures', 'nonces', 'store'], 'redis needs storage.redis');
  }

  const noKeys = ids.size === 0;
  if (signatures.required && noKeys) {
    addIssue(
      ctx,
      ['signatures', 'required'],
      'signatures are required but signatures.keys is empty',
    );
  }
  config.routes.forEach((route, index) => {
    const own = route.signatures;
    if (own === undefined) return;
    if (own.required === true && noKeys) {
      addIssue(
        ctx,
        ['routes', index, 'signatures', 'required'],
        'signatures are required but signatures.keys is empty',
      );
    }
    own.keys?.forEach((id, keyIndex) => {
      if (!ids.has(id)) {
        addIssue(
          ctx,
          ['routes', index, 'signatures', 'keys', keyIndex],
          `key id "${id}" is not in signatures.keys`,
        );
      }
    });
  });
}

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.pathname === '/' &&
      !value.includes('?') &&
      !value.includes('#') &&
      url.username === '' &&
      url.password === ''
    );
  } catch {
    return false;
  }
}

function addIssue(ctx: z.RefinementCtx, path: (string | number)[], message: string): void {
  ctx.addIssue({ code: 'custom', path, message, params: { bwk: CODE } });
}

export type SignaturesConfig = z.output<ReturnType<typeof signaturesSchema>>;
export type SignatureKeyConfig = SignaturesConfig['keys'][number];
export type RouteSignaturesConfig = z.output<typeof routeSignaturesSchema>;
