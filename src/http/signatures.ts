/**
 * Verification of HTTP Message Signatures (RFC 9421) with Content-Digest (RFC 9530) on the
 * routes whose policy requires them.
 *
 * A request passes when one of its signatures names a configured key and covers at least the
 * route's components, plus `content-digest` when the request has a body. That signature must
 * also be inside the time window, carry a nonce and verify, its digest must match the body,
 * and its nonce must be new. The checks run in that order, cheapest first. The nonce is
 * recorded last, so that only verified requests take room in the replay cache.
 */
import type { IncomingHttpHeaders } from 'node:http';

import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../core/guard.js';
import { isPromise } from '../core/guard.js';
import { verifyContentDigest } from './content-digest.js';
import type { ReplayCache, NonceVerdict } from './replay-cache.js';
import { normalizeAuthority, signatureBase, type SignedRequest } from './signature-base.js';
import { parseSignatureFields, type ParsedSignature } from './signature-fields.js';
import { verifySignature, type VerificationKey } from './signature-keys.js';
import type { SignaturePolicies, SignaturePolicy } from './signature-policy.js';
import { signatureRejection, unavailable, type SignatureFailure } from './signature-rejections.js';

export interface SignatureGuardOptions {
  policies: SignaturePolicies;
  keys: ReadonlyMap<string, VerificationKey>;
  replay: ReplayCache;
  /** Record rejections as `would_block` and let requests through. */
  reportOnly?: boolean;
  clock?: Clock;
}

type Failure = { reason: SignatureFailure; detail: string; keyId?: string };

/**
 * The guard of the routes whose policy requires a signature; other requests pass untouched.
 *
 * NOTE: a verified key does not become `ctx.principal`, because the authentication guards
 * after it take any principal as proof and would skip their own checks. Limits and scopes
 * therefore cannot key on the signing key yet.
 */
export class SignatureGuard implements Guard {
  readonly name = 'signatures';
  readonly reportOnly: boolean;
  private readonly policies: SignaturePolicies;
  private readonly keys: ReadonlyMap<string, VerificationKey>;
  private readonly replay: ReplayCache;
  private readonly clock: Clock;

  constructor(options: SignatureGuardOptions) {
    this.policies = options.policies;
    this.keys = options.keys;
    this.replay = options.replay;
    this.reportOnly = options.reportOnly ?? false;
    this.clock = options.clock ?? systemClock;
  }

  check(ctx: RequestContext): Verdict | Promise<Verdict> {
    const policy = this.policyOf(ctx);
    if (!policy.required) return CONTINUE;

    const verified = this.verify(ctx, policy);
    if ('reason' in verified) return signatureRejection(verified, policy, hasBody(ctx.headers));

    const { key, nonce } = verified;
    const ttl = this.policies.maxAgeMs + this.policies.clockSkewMs;
    const remembered = this.replay.remember(key.id, nonce, ttl);
    return isPromise(remembered)
      ? remembered.then((result) => afterNonce(result, key.id, policy, ctx))
      : afterNonce(remembered, key.id, policy, ctx);
  }

  close(): Promise<void> {
    return this.replay.close();
  }

  private policyOf(ctx: RequestContext): SignaturePolicy {
    const routeId = ctx.route?.id;
    return (routeId !== undefined && this.policies.byRoute.get(routeId)) || this.policies.fallback;
  }

  /** Runs every check but the nonce; returns the key and nonce, or the first failure. */
  private verify(
    ctx: RequestContext,
    policy: SignaturePolicy,
  ): { key: VerificationKey; nonce: string } | Failure {
    const input = fieldValue(ctx.headers, 'signature-input');
    if (input === undefined) {
      return { reason: 'missing_signature', detail: 'the request has no Signature-Input field' };
    }
    const parsed = parseSignatureFields(input, fieldValue(ctx.headers, 'signature'));
    if (!parsed.ok) return { reason: 'malformed_signature', detail: parsed.detail };

    const chosen = this.choose(parsed.signatures, policy);
    if ('reason' in chosen) return chosen;
    const { signature, key } = chosen;
    const keyId = key.id;

    const stated = this.checkParameters(signature, key, policy, hasBody(ctx.headers));
    if (stated !== undefined) return { ...stated, keyId };

    const base = signatureBase(
      requestOf(ctx, this.policies),
      signature.components,
      signature.serializedParameters,
    );
    if (!base.ok) return { reason: base.reason, detail: base.detail, keyId };
    if (!verifySignature(key, base.base, signature.signature!)) {
      return {
        reason: 'bad_signature',
        detail: `the signature does not verify with key "${keyId}"`,
        keyId,
      };
    }

    if (covers(signature, 'content-digest')) {
      const digest = verifyContentDigest(
        fieldValue(ctx.headers, 'content-digest'),
        bodyOf(ctx),
        this.policies.digestAlgorithms,
      );
      if (!digest.ok) return { reason: digest.reason, detail: digest.detail, keyId };
    }
    return { key, nonce: signature.parameters.nonce! };
  }

  /**
   * Picks the first signature that names a key accepted on this route. Signatures for other
   * keys are left alone: a request may carry signatures meant for other verifiers.
   */
  private choose(
    signatures: readonly ParsedSignature[],
    policy: SignaturePolicy,
  ): { signature: ParsedSignature; key: VerificationKey } | Failure {
    for (const signature of signatures) {
      const keyId = signature.parameters.keyid;
      if (keyId === undefined || (policy.keys !== undefined && !policy.keys.has(keyId))) continue;
      const key = this.keys.get(keyId);
      if (key === undefined) continue;
      if (signature.signature === undefined) {
        return {
          reason: 'malformed_signature',
          detail: `the Signature field has no value for the label of key "${keyId}"`,
          keyId,
        };
      }
      return { signature, key };
    }
    return {
      reason: 'unknown_key',
      detail:
        signatures.length === 0
          ? 'Signature-Input lists no signature'
          : 'no signature names a keyid that this route accepts',
    };
  }

  /** Checks what the signature states about itself before any cryptography. */
  private checkParameters(
    signature: ParsedSignature,
    key: VerificationKey,
    policy: SignaturePolicy,
    withBody: boolean,
  ): Failure | undefined {
    const { parameters } = signature;
    if (parameters.alg !== undefined && parameters.alg !== key.algorithm) {
      return {
        reason: 'algorithm_mismatch',
        detail: `key "${key.id}" is an ${key.algorithm} key, but the signature names another alg`,
      };
    }
    if (policy.tag !== undefined && parameters.tag !== policy.tag) {
      return { reason: 'tag_mismatch', detail: `the signature must carry tag="${policy.tag}"` };
    }

    const required = withBody ? [...policy.components, 'content-digest'] : policy.components;
    const uncovered = required.filter((name) => !covers(signature, name));
    if (uncovered.length > 0) {
      return {
        reason: 'missing_component',
        detail: `the signature must cover ${uncovered.map((name) => `"${name}"`).join(', ')}`,
      };
    }
    return this.checkTimes(parameters.created, parameters.expires) ?? checkNonce(parameters.nonce);
  }

  private checkTimes(
    created: number | undefined,
    expires: number | undefined,
  ): Failure | undefined {
    if (created === undefined) {
      return { reason: 'missing_created', detail: 'the signature has no created parameter' };
    }
    const now = this.clock.now();
    const { clockSkewMs, maxAgeMs } = this.policies;
    if (created * 1000 > now + clockSkewMs) {
      return {
        reason: 'created_in_future',
        detail: 'created lies in the future beyond the allowed clock skew',
      };
    }
    if (now - created * 1000 > maxAgeMs) {
      return {
        reason: 'expired',
        detail: `the signature was created more than ${maxAgeMs / 1000} s ago`,
      };
    }
    if (expires !== undefined && now > expires * 1000 + clockSkewMs) {
      return { reason: 'expired', detail: 'the signature expired' };
    }
    return undefined;
  }
}

function checkNonce(nonce: string | undefined): Failure | undefined {
  return nonce === undefined
    ? {
        reason: 'missing_nonce',
        detail: 'the signature has no nonce parameter, which replay protection needs',
      }
    : undefined;
}

function afterNonce(
  result: NonceVerdict,
  keyId: string,
  policy: SignaturePolicy,
  ctx: RequestContext,
): Verdict {
  if (result === 'fresh') return CONTINUE;
  if (result === 'unavailable') return unavailable(keyId);
  return signatureRejection(
    { reason: 'replay', detail: 'this signature nonce was already used', keyId },
    policy,
    hasBody(ctx.headers),
  );
}

/** Tells whether the signature covers `name` without parameters, as policies list components. */
function covers(signature: ParsedSignature, name: string): boolean {
  return signature.components.some(
    (component) => component.name === name && component.parameters.size === 0,
  );
}

/** Returns the request as the client addressed it, for the signature base. */
function requestOf(ctx: RequestContext, policies: SignaturePolicies): SignedRequest {
  const scheme = policies.origin?.scheme ?? 'http';
  const host = fieldValue(ctx.headers, 'host') ?? '';
  return {
    method: ctx.method,
    scheme,
    authority: policies.origin?.authority ?? normalizeAuthority(host, scheme),
    target: ctx.url,
    field: (name) => fieldValue(ctx.headers, name),
  };
}

/**
 * Returns a field's value with repeated lines joined by `, `, as RFC 9421 section 2.1 requires.
 * Node has joined most repeated fields that way already; it keeps only the first value of a
 * few singleton fields (Host, Content-Type and others), so a client that repeats one of those
 * gets a signature mismatch rather than a verified value it did not send.
 */
function fieldValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const EMPTY = Buffer.alloc(0);

/**
 * Returns the buffered body. A request that declares a body on a route without buffering is
 * a wiring fault, not a client error, so it throws and the pipeline responds with 500.
 */
function bodyOf(ctx: RequestContext): Buffer {
  if (ctx.body !== undefined) return ctx.body;
  if (!hasBody(ctx.headers)) return EMPTY;
  throw new Error('the request body was not buffered, so its Content-Digest cannot be checked');
}
