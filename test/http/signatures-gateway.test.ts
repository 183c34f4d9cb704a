import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { contentDigest } from '../../src/http/content-digest.js';
import { ed25519SigningKey, hmacSigningKey, signRequest } from '../../src/http/signing.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { resend, sendSigned, uniqueEnvName } from './signed-requests.js';

const SECRET_ENV = uniqueEnvName('BWK_TEST_SIG');
const SECRET = randomBytes(32).toString('base64');
const hmac = hmacSigningKey(SECRET);
const pair = generateKeyPairSync('ed25519');
const ed25519 = ed25519SigningKey(pair.privateKey);

let upstream: Upstream;
let gateway: Gateway;
let dir: string;
const events: SecurityEvent[] = [];
/** Every body the upstream received. */
const received: string[] = [];

beforeAll(async () => {
  process.env[SECRET_ENV] = SECRET;
  dir = mkdtempSync(join(tmpdir(), 'bwk-sig-'));
  const publicKeyFile = join(dir, 'partner.pem');
  writeFileSync(publicKeyFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));

  upstream = await startUpstream((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push(body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url, body }));
    });
  });
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  gateway = await startGateway(
    {
      upstream: upstream.url,
      signatures: {
        keys: [
          { id: 'billing', algorithm: 'hmac-sha256', secretEnv: SECRET_ENV },
          { id: 'partner', algorithm: 'ed25519', publicKeyFile },
        ],
      },
      routes: [
        { match: '* /orders/*', signatures: { required: true } },
        { match: '* /partner/*', signatures: { required: true, keys: ['partner'] } },
        {
          match: 'GET /typed',
          signatures: { required: true, components: ['content-type'], tag: 'orders-app' },
        },
      ],
    },
    { bus },
  );
});

afterAll(async () => {
  await gateway.stop();
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
  delete process.env[SECRET_ENV];
});

/** Returns the signature rejections published so far; subscribers get events synchronously. */
function rejections(): SecurityEvent[] {
  return events.filter((event) => event.type === 'http.signature_rejected');
}

describe('signature guard through the gateway', () => {
  it('admits a request signed with hmac-sha256', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/1?expand=items', {
      keyId: 'billing',
      key: hmac,
    });
    expect(reply.status).toBe(200);
    expect(json(reply).url).toBe('/orders/1?expand=items');
  });

  it('admits a request signed with ed25519', async () => {
    const { reply } = await sendSigned(gateway.url, '/partner/feed', {
      method: 'DELETE',
      keyId: 'partner',
      key: ed25519,
    });
    expect(reply.status).toBe(200);
  });

  it('lets unsigned requests through on other routes', async () => {
    const reply = await send(gateway.url, '/public');
    expect(reply.status).toBe(200);
  });

  it('rejects a request without a signature', async () => {
    const reply = await send(gateway.url, '/orders/1');
    expect(reply.status).toBe(401);
    expect(reply.headers['content-type']).toBe('application/problem+json');
    expect(reply.headers['accept-signature']).toBe('sig=("@method" "@target-uri")');
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_SIGNATURE_REQUIRED',
      reason: 'missing_signature',
    });
  });

  it('rejects a tampered query string', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/1?amount=10', {
      keyId: 'billing',
      key: hmac,
      sentPath: '/orders/1?amount=1000',
    });
    expect(reply.status).toBe(401);
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_SIGNATURE_INVALID',
      reason: 'bad_signature',
    });
  });

  it('rejects a signature moved to another method', async () => {
    const signed = signRequest({
      method: 'GET',
      url: `${gateway.url}/orders/2`,
      keyId: 'billing',
      key: hmac,
    });
    const reply = await resend(gateway.url, '/orders/2', 'DELETE', { ...signed });
    expect(reply.status).toBe(401);
    expect(json(reply)).toMatchObject({ reason: 'bad_signature' });
  });

  it('rejects a signature made with another secret', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/3', {
      keyId: 'billing',
      key: hmacSigningKey(randomBytes(32).toString('base64')),
    });
    expect(json(reply)).toMatchObject({ reason: 'bad_signature' });
  });

  it('rejects an expired signature', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/4', {
      keyId: 'billing',
      key: hmac,
      created: Math.floor(Date.now() / 1000) - 600,
    });
    expect(reply.status).toBe(401);
    expect(json(reply)).toMatchObject({ code: 'BWK_ERR_SIGNATURE_EXPIRED', reason: 'expired' });
  });

  it('rejects a signature created in the future', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/5', {
      keyId: 'billing',
      key: hmac,
      created: Math.floor(Date.now() / 1000) + 600,
    });
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_SIGNATURE_EXPIRED',
      reason: 'created_in_future',
    });
  });

  it('rejects a signature past its expires time', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/6', {
      keyId: 'billing',
      key: hmac,
      created: Math.floor(Date.now() / 1000) - 120,
      expiresIn: 60,
    });
    expect(json(reply)).toMatchObject({ reason: 'expired' });
  });

  it('rejects an unknown key', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/7', { keyId: 'nobody', key: hmac });
    expect(reply.status).toBe(401);
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_SIGNATURE_UNKNOWN_KEY',
      reason: 'unknown_key',
    });
  });

  it('rejects a key that the route does not accept', async () => {
    const { reply } = await sendSigned(gateway.url, '/partner/feed', {
      keyId: 'billing',
      key: hmac,
    });
    expect(json(reply)).toMatchObject({ reason: 'unknown_key' });
  });

  it('rejects a replayed request', async () => {
    const first = await sendSigned(gateway.url, '/orders/8', { keyId: 'billing', key: hmac });
    expect(first.reply.status).toBe(200);
    const replayed = await resend(gateway.url, '/orders/8', 'GET', first.headers);
    expect(replayed.status).toBe(401);
    expect(json(replayed)).toMatchObject({ code: 'BWK_ERR_SIGNATURE_REPLAYED', reason: 'replay' });
  });

  it('rejects a signature that covers too little', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/9', {
      keyId: 'billing',
      key: hmac,
      components: ['@method', '@path'],
    });
    expect(json(reply)).toMatchObject({ reason: 'missing_component' });
    expect(json(reply).detail).toContain('"@target-uri"');
  });

  it('rejects a signature without a nonce', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/10', {
      keyId: 'billing',
      key: hmac,
      tamper: (headers) => {
        headers['signature-input'] = headers['signature-input']!.replace(/;nonce="[^"]*"/, '');
      },
    });
    expect(json(reply)).toMatchObject({ reason: 'missing_nonce' });
  });

  it('rejects a Signature-Input that does not parse', async () => {
    const reply = await send(gateway.url, '/orders/11', {
      headers: { 'signature-input': 'sig=("@method"', signature: 'sig=:AAAA:' },
    });
    expect(reply.status).toBe(401);
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_SIGNATURE_INVALID',
      reason: 'malformed_signature',
    });
  });

  it('enforces route components and tag', async () => {
    const headers = { 'content-type': 'application/json' };
    const untagged = await sendSigned(gateway.url, '/typed', {
      keyId: 'billing',
      key: hmac,
      headers,
      components: ['@method', '@target-uri', 'content-type'],
    });
    expect(json(untagged.reply)).toMatchObject({ reason: 'tag_mismatch' });

    const tagged = await sendSigned(gateway.url, '/typed', {
      keyId: 'billing',
      key: hmac,
      headers,
      tag: 'orders-app',
      components: ['@method', '@target-uri', 'content-type'],
    });
    expect(tagged.reply.status).toBe(200);

    const changed = await sendSigned(gateway.url, '/typed', {
      keyId: 'billing',
      key: hmac,
      headers,
      tag: 'orders-app',
      components: ['@method', '@target-uri', 'content-type'],
      tamper: (sent) => {
        sent['content-type'] = 'text/plain';
      },
    });
    expect(json(changed.reply)).toMatchObject({ reason: 'bad_signature' });
  });

  it('admits a signed body and forwards it unchanged', async () => {
    const body = JSON.stringify({ item: 42, note: 'ünïcode' });
    const { reply } = await sendSigned(gateway.url, '/partner/orders', {
      method: 'POST',
      keyId: 'partner',
      key: ed25519,
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(reply.status).toBe(200);
    expect(json(reply).body).toBe(body);
  });

  it('rejects a tampered body as a digest mismatch', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/12', {
      method: 'PUT',
      keyId: 'billing',
      key: hmac,
      body: '{"amount":10}',
      sentBody: '{"amount":99}',
    });
    expect(reply.status).toBe(401);
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_CONTENT_DIGEST',
      reason: 'digest_mismatch',
    });
    expect(received).not.toContain('{"amount":99}');
  });

  it('rejects a body whose digest is not covered', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/13', {
      method: 'GET',
      keyId: 'billing',
      key: hmac,
      sentBody: '{"amount":99}',
    });
    expect(reply.status).toBe(401);
    expect(reply.headers['accept-signature']).toBe(
      'sig=("@method" "@target-uri" "content-digest")',
    );
    expect(json(reply)).toMatchObject({ reason: 'missing_component' });
  });

  it('rejects a replaced digest as a bad signature', async () => {
    const { reply } = await sendSigned(gateway.url, '/orders/14', {
      method: 'POST',
      keyId: 'billing',
      key: hmac,
      body: '{"amount":10}',
      sentBody: '{"amount":99}',
      tamper: (headers) => {
        headers['content-digest'] = contentDigest(Buffer.from('{"amount":99}'));
      },
    });
    expect(json(reply)).toMatchObject({ reason: 'bad_signature' });
  });

  it('publishes an event per rejection without secrets', () => {
    const seen = rejections();
    const reasons = new Set(seen.map((event) => event.details.reason));
    for (const reason of [
      'missing_signature',
      'bad_signature',
      'expired',
      'unknown_key',
      'replay',
    ]) {
      expect(reasons).toContain(reason);
    }
    const replay = seen.find((event) => event.details.reason === 'replay')!;
    expect(replay).toMatchObject({
      category: 'authentication',
      severity: 'high',
      outcome: 'blocked',
      source: { component: 'signatures' },
      details: { keyId: 'billing' },
    });
    expect(JSON.stringify(seen)).not.toContain(SECRET);
  });
});
