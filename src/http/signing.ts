/**
 * Signing of requests for routes that require HTTP Message Signatures: the client side of
 * the signature guard, for applications, tests and `bulwark sign`.
 *
 * ```ts
 * const headers = signRequest({
 *   method: 'POST',
 *   url: 'https://api.example.com/orders',
 *   body: JSON.stringify(order),
 *   keyId: 'billing',
 *   key: hmacSigningKey(process.env.BILLING_SIGNING_SECRET!),
 * });
 * await fetch(url, { method: 'POST', body, headers: { ...headers, 'content-type': 'application/json' } });
 * ```
 */
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

import {
  serializeDictionary,
  serializeInnerList,
  type InnerList,
  type Item,
  type Parameters,
} from 'structured-headers';

import { InvalidArgumentError } from '../core/errors.js';
import { contentDigest, type DigestAlgorithm } from './content-digest.js';
import { normalizeAuthority, signatureBase, type SignedRequest } from './signature-base.js';
import {
  createSignature,
  decodeSecret,
  readEd25519PrivateKey,
  type SecretEncoding,
  type SigningKey,
} from './signature-keys.js';
import { MINIMUM_COMPONENTS } from './signatures-config.js';

export interface SignRequestOptions {
  method: string;
  /** The absolute URL the request is sent to, as the verifier receives it. */
  url: string;
  /** Fields the request will carry; any of them can be covered through `components`. */
  headers?: Readonly<Record<string, string>>;
  body?: string | Uint8Array;
  /** The `keyid` under which the verifier has the key configured. */
  keyId: string;
  key: SigningKey;
  /**
   * Components to cover; `@method` and `@target-uri` by default, and `content-digest` is
   * always added when there is a body.
   */
  components?: readonly string[];
  /** Signature label, `sig` by default. */
  label?: string;
  /** Creation time in seconds since the epoch; now by default. */
  created?: number;
  /** Lifetime in seconds, written as the `expires` parameter. */
  expiresIn?: number;
  /** A nonce for replay protection; 16 random bytes (base64url) by default. */
  nonce?: string;
  tag?: string;
  /** Content-Digest algorithm for the body, `sha-256` by default. */
  digest?: DigestAlgorithm;
}

/** Fields to add to the request. `content-digest` is present when the request has a body. */
export interface SignatureHeaders {
  'content-digest'?: string;
  'signature-input': string;
  signature: string;
}

// RFC 8941 dictionary keys, which signature labels are.
const LABEL = /^[a-z*][a-z0-9_\-.*]{0,63}$/;

/**
 * Computes Content-Digest (for a body), Signature-Input and Signature for one request.
 * Throws InvalidArgumentError when the URL, label or a covered field is missing or invalid.
 */
export function signRequest(options: SignRequestOptions): SignatureHeaders {
  const url = parseUrl(options.url);
  const label = options.label ?? 'sig';
  if (!LABEL.test(label)) {
    throw new InvalidArgumentError(
      `invalid signature label "${label.slice(0, 64)}": expected lower-case letters, digits, _ - . *`,
    );
  }

  const fields = new Map<string, string>();
  for (const [name, value] of Object.entries(options.headers ?? {}))
    fields.set(name.toLowerCase(), value);
  if (!fields.has('host')) fields.set('host', url.host);
  const result: Partial<SignatureHeaders> = {};
  const components = [...(options.components ?? MINIMUM_COMPONENTS)];
  if (options.body !== undefined && byteLength(options.body) > 0) {
    const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
    result['content-digest'] = contentDigest(body, options.digest ?? 'sha-256');
    fields.set('content-digest', result['content-digest']);
    if (!components.includes('content-digest')) components.push('content-digest');
  }

  const innerList: InnerList = [
    [...new Set(components)].map((name): Item => [name, new Map()]),
    signatureParameters(options),
  ];
  const serializedParameters = serializeInnerList(innerList);
  const scheme = url.protocol.slice(0, -1);
  const request: SignedRequest = {
    method: options.method.toUpperCase(),
    scheme,
    authority: normalizeAuthority(url.host, scheme),
    target: `${url.pathname}${url.search}`,
    field: (name) => fields.get(name),
  };
  const covered = innerList[0].map(([name, parameters]) => ({ name: name as string, parameters }));
  const base = signatureBase(request, covered, serializedParameters);
  if (!base.ok) throw new InvalidArgumentError(`cannot sign the request: ${base.detail}`);

  const signature = createSignature(options.key, base.base);
  result['signature-input'] = serializeDictionary(new Map([[label, innerList]]));
  // A copy typed as Uint8Array<ArrayBuffer>, which the Byte Sequence type asks for.
  const bytes = new Uint8Array(signature);
  result.signature = serializeDictionary(new Map([[label, [bytes, new Map()]]]));
  return result as SignatureHeaders;
}

/** Makes an `hmac-sha256` signing key from a secret: text in `encoding`, or the raw bytes. */
export function hmacSigningKey(
  secret: string | Uint8Array,
  encoding: SecretEncoding = 'base64',
): SigningKey {
  if (typeof secret === 'string')
    return { algorithm: 'hmac-sha256', secret: decodeSecret(secret, encoding) };
  return { algorithm: 'hmac-sha256', secret: createSecretKey(secret) };
}

/** Makes an `ed25519` signing key from a PKCS #8 PEM, a private JWK, or a KeyObject. */
export function ed25519SigningKey(key: string | KeyObject): SigningKey {
  return {
    algorithm: 'ed25519',
    privateKey: typeof key === 'string' ? readEd25519PrivateKey(key) : key,
  };
}

function signatureParameters(options: SignRequestOptions): Parameters {
  const created = options.created ?? Math.floor(Date.now() / 1000);
  if (!Number.isSafeInteger(created) || created < 0) {
    throw new InvalidArgumentError(
      `invalid created ${created}: expected whole seconds since the epoch`,
    );
  }
  if (
    options.expiresIn !== undefined &&
    (!Number.isSafeInteger(options.expiresIn) || options.expiresIn <= 0)
  ) {
    throw new InvalidArgumentError(
      `invalid expiresIn ${options.expiresIn}: expected whole seconds above 0`,
    );
  }
  const parameters: Parameters = new Map();
  parameters.set('created', created);
  if (options.expiresIn !== undefined) parameters.set('expires', created + options.expiresIn);
  parameters.set('nonce', options.nonce ?? randomBytes(16).toString('base64url'));
  parameters.set('keyid', options.keyId);
  if (options.tag !== undefined) parameters.set('tag', options.tag);
  return parameters;
}

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError(
      `invalid URL "${text.slice(0, 200)}": expected an absolute http:// or https:// URL`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(
      `invalid URL "${text.slice(0, 200)}": expected http:// or https://`,
    );
  }
  return url;
}

function byteLength(body: string | Uint8Array): number {
  return typeof body === 'string' ? Buffer.byteLength(body) : body.length;
}
