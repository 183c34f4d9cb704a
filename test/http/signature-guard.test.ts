import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { ManualClock } from '../../src/core/clock.js';
import { validatePolicy } from '../../src/core/config.js';
import { createContext, type RequestContext } from '../../src/core/context.js';
import type { Reject, Verdict } from '../../src/core/guard.js';
import { MemoryReplayCache } from '../../src/http/replay-cache.js';
import {
  parseSignatureFields,
  MAX_SIGNATURE_FIELD_LENGTH,
} from '../../src/http/signature-fields.js';
import { decodeSecret } from '../../src/http/signature-keys.js';
import { compileSignaturePolicies } from '../../src/http/signature-policy.js';
import { SignatureGuard } from '../../src/http/signatures.js';
import { hmacSigningKey, signRequest, type SignRequestOptions } from '../../src/http/signing.js';

const SECRET = randomBytes(32).toString('base64');
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const BASE = 'http://gateway.test';

function guard(clock = new ManualClock(NOW), maxEntries = 100) {
  const config = validatePolicy({
    signatures: {
      required: true,
      clockSkew: '10s',
      maxAge: '1m',
      keys: [{ id: 'k1', algorithm: 'hmac-sha256', secretEnv: 'UNUSED' }],
    },
  });
  return new SignatureGuard({
    policies: compileSignaturePolicies(config),
    keys: new Map([
      ['k1', { id: 'k1', algorithm: 'hmac-sha256', secret: decodeSecret(SECRET, 'base64') }],
    ]),
    replay: new MemoryReplayCache(maxEntries, clock),
    clock,
  });
}

function signedContext(
  options: Partial<SignRequestOptions> = {},
  edit?: (headers: Record<string, string>) => void,
): RequestContext {
  const path = '/orders?id=1';
  const signed = signRequest({
    method: 'GET',
    url: BASE + path,
    keyId: 'k1',
    key: hmacSigningKey(SECRET),
    created: NOW / 1000,
    ...options,
  });
  const headers: Record<string, string> = { host: 'gateway.test', ...signed };
  edit?.(headers);
  return createContext({
    id: 'r1',
    correlationId: 'r1',
    method: options.method ?? 'GET',
    url: path,
    headers,
    ip: '127.0.0.1',
    remoteAddress: '127.0.0.1',
    receivedAt: NOW,
  });
}

function reasonOf(verdict: Verdict | Promise<Verdict>): string | undefined {
  if (verdict instanceof Promise) throw new Error('memory cache should decide synchronously');
  return verdict.action === 'reject' ? ((verdict as Reject).problem.reason as string) : undefined;
}

describe('signature guard time window', () => {
  it('accepts created within the clock skew ahead', () => {
    expect(reasonOf(guard().check(signedContext({ created: NOW / 1000 + 9 })))).toBeUndefined();
  });

  it('rejects created beyond the clock skew ahead', () => {
    expect(reasonOf(guard().check(signedContext({ created: NOW / 1000 + 11 })))).toBe(
      'created_in_future',
    );
  });

  it('accepts a signature up to maxAge old', () => {
    expect(reasonOf(guard().check(signedContext({ created: NOW / 1000 - 60 })))).toBeUndefined();
  });

  it('rejects a signature older than maxAge', () => {
    expect(reasonOf(guard().check(signedContext({ created: NOW / 1000 - 61 })))).toBe('expired');
  });

  it('honours expires with the clock skew', () => {
    const created = NOW / 1000 - 30;
    expect(reasonOf(guard().check(signedContext({ created, expiresIn: 21 })))).toBeUndefined();
    expect(reasonOf(guard().check(signedContext({ created, expiresIn: 19 })))).toBe('expired');
  });

  it('rejects a signature without created', () => {
    const ctx = signedContext({}, (headers) => {
      headers['signature-input'] = headers['signature-input']!.replace(/;created=\d+/, '');
    });
    expect(reasonOf(guard().check(ctx))).toBe('missing_created');
  });
});

describe('signature guard replay cache', () => {
  it('forgets a nonce after maxAge plus skew', () => {
    const clock = new ManualClock(NOW);
    const subject = guard(clock);
    const ctx = signedContext({ nonce: 'n-1' });
    expect(reasonOf(subject.check(ctx))).toBeUndefined();
    expect(reasonOf(subject.check(ctx))).toBe('replay');

    // By then the signature itself is too old, so the expired entry allows nothing.
    clock.advance(70_001);
    expect(reasonOf(subject.check(ctx))).toBe('expired');
  });

  it('keeps nonces apart per key id', () => {
    const cache = new MemoryReplayCache(10);
    expect(cache.remember('a', 'n', 1000)).toBe('fresh');
    expect(cache.remember('b', 'n', 1000)).toBe('fresh');
    expect(cache.remember('a', 'n', 1000)).toBe('replayed');
  });

  it('refuses new nonces when full instead of forgetting live ones', () => {
    const clock = new ManualClock(NOW);
    const subject = guard(clock, 2);
    expect(reasonOf(subject.check(signedContext({ nonce: 'a' })))).toBeUndefined();
    expect(reasonOf(subject.check(signedContext({ nonce: 'b' })))).toBeUndefined();
    const verdict = subject.check(signedContext({ nonce: 'c' })) as Reject;
    expect(verdict.status).toBe(503);
    expect(verdict.problem.code).toBe('BWK_ERR_SIGNATURE_UNAVAILABLE');

    clock.advance(70_001);
    expect(
      reasonOf(
        subject.check(signedContext({ nonce: 'd', created: Math.floor((NOW + 70_001) / 1000) })),
      ),
    ).toBeUndefined();
  });
});

describe('signature guard parameters', () => {
  it('uses the first signature with a known key', () => {
    const ctx = signedContext({}, (headers) => {
      headers['signature-input'] =
        `other=("@method");created=1;keyid="someone-else", ${headers['signature-input']}`;
      headers.signature = `other=:AAAA:, ${headers.signature}`;
    });
    expect(reasonOf(guard().check(ctx))).toBeUndefined();
  });

  it('rejects an alg that differs from the key', () => {
    const ctx = signedContext({}, (headers) => {
      headers['signature-input'] = headers['signature-input']!.replace(
        ';keyid=',
        ';alg="ed25519";keyid=',
      );
    });
    expect(reasonOf(guard().check(ctx))).toBe('algorithm_mismatch');
  });

  it('rejects component parameters it cannot evaluate', () => {
    const ctx = signedContext({}, (headers) => {
      headers['signature-input'] = headers['signature-input']!.replace('"@method"', '"@method";sf');
    });
    expect(reasonOf(guard().check(ctx))).toBe('missing_component');

    const withField = signedContext(
      { components: ['@method', '@target-uri', 'x-tenant'], headers: { 'x-tenant': 'a' } },
      (headers) => {
        headers['x-tenant'] = 'a';
        headers['signature-input'] = headers['signature-input']!.replace(
          '"x-tenant"',
          '"x-tenant";bs',
        );
      },
    );
    expect(reasonOf(guard().check(withField))).toBe('unsupported_component');
  });

  it('rejects a covered field the request lacks', () => {
    const ctx = signedContext({
      components: ['@method', '@target-uri', 'x-tenant'],
      headers: { 'x-tenant': 'a' },
    });
    expect(reasonOf(guard().check(ctx))).toBe('missing_component');
  });

  it('rejects a label without a Signature value', () => {
    const ctx = signedContext({}, (headers) => {
      headers.signature = headers.signature!.replace(/^sig=/, 'other=');
    });
    expect(reasonOf(guard().check(ctx))).toBe('malformed_signature');
  });
});

describe('signature field parsing', () => {
  it.each([
    ['an item instead of an inner list', 'sig="@method"'],
    ['a component that is not a string', 'sig=(@method);created=1'],
    ['a repeated component', 'sig=("@method" "@method");created=1'],
    ['created as a string', 'sig=("@method");created="1"'],
    ['a negative created', 'sig=("@method");created=-1'],
    ['an empty nonce', 'sig=("@method");nonce=""'],
    ['a nonce as a token', 'sig=("@method");nonce=abc'],
    ['a trailing comma', 'sig=("@method"),'],
  ])('rejects %s', (_name, input) => {
    const result = parseSignatureFields(input, 'sig=:AAAA:');
    expect(result.ok).toBe(false);
  });

  it('rejects fields over the length bound', () => {
    const input = `sig=("@method");nonce="${'a'.repeat(MAX_SIGNATURE_FIELD_LENGTH)}"`;
    expect(parseSignatureFields(input, 'sig=:AAAA:')).toMatchObject({ ok: false });
  });

  it('rejects too many signatures and components', () => {
    const labels = Array.from({ length: 9 }, (_, index) => `s${index}=("@method")`).join(', ');
    expect(parseSignatureFields(labels, undefined)).toMatchObject({ ok: false });
    const components = Array.from({ length: 33 }, (_, index) => `"x-${index}"`).join(' ');
    expect(parseSignatureFields(`sig=(${components})`, undefined)).toMatchObject({ ok: false });
  });

  it('rejects a Signature value that is not a byte sequence', () => {
    expect(parseSignatureFields('sig=("@method")', 'sig="AAAA"')).toMatchObject({ ok: false });
  });

  it('keeps unknown parameters in the serialized list', () => {
    const result = parseSignatureFields(
      'sig=("@method");created=1;custom="x";keyid="k"',
      'sig=:AAAA:',
    );
    expect(result).toMatchObject({
      ok: true,
      signatures: [{ serializedParameters: '("@method");created=1;custom="x";keyid="k"' }],
    });
  });
});

describe('signRequest', () => {
  const key = hmacSigningKey(SECRET);

  it('rejects a relative or non-HTTP URL', () => {
    expect(() => signRequest({ method: 'GET', url: '/orders', keyId: 'k1', key })).toThrow(
      'invalid URL "/orders"',
    );
    expect(() => signRequest({ method: 'GET', url: 'ftp://host/x', keyId: 'k1', key })).toThrow(
      'expected http:// or https://',
    );
  });

  it('rejects an invalid label and times', () => {
    const url = `${BASE}/orders`;
    expect(() => signRequest({ method: 'GET', url, keyId: 'k1', key, label: 'Sig' })).toThrow(
      'invalid signature label',
    );
    expect(() => signRequest({ method: 'GET', url, keyId: 'k1', key, created: 1.5 })).toThrow(
      'invalid created',
    );
    expect(() => signRequest({ method: 'GET', url, keyId: 'k1', key, expiresIn: 0 })).toThrow(
      'invalid expiresIn',
    );
  });

  it('rejects a covered field the request lacks', () => {
    expect(() =>
      signRequest({
        method: 'GET',
        url: `${BASE}/orders`,
        keyId: 'k1',
        key,
        components: ['@method', '@target-uri', 'x-tenant'],
      }),
    ).toThrow('the covered field "x-tenant" is not in the request');
  });

  it('covers content-digest whenever there is a body', () => {
    const signed = signRequest({
      method: 'PUT',
      url: `${BASE}/orders/1`,
      keyId: 'k1',
      key,
      body: 'x',
      components: ['@method', '@target-uri'],
      digest: 'sha-512',
    });
    expect(signed['content-digest']).toMatch(/^sha-512=:/);
    expect(signed['signature-input']).toMatch(
      /^sig=\("@method" "@target-uri" "content-digest"\);created=\d+;nonce="[\w-]{22}";keyid="k1"$/,
    );
  });
});
