import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { withBulwark, type BulwarkListener } from '../../src/adapters/node-http.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';
import { AUDIENCE, createSigner, ISSUER, sign, type Signer } from './tokens.js';

let signer: Signer;

function issuers() {
  return [
    {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['ES256' as const],
      publicKeys: [{ pem: signer.publicPem, alg: 'ES256' as const }],
      planClaim: 'plan',
    },
  ];
}

beforeAll(async () => {
  signer = await createSigner('ES256', 'k1');
});

describe('rate limits keyed on the principal', () => {
  let upstream: Upstream;
  let gateway: Gateway;

  beforeAll(async () => {
    upstream = await startUpstream(okHandler);
    gateway = await startGateway({
      upstream: upstream.url,
      auth: { methods: ['jwt'], jwt: { issuers: issuers() } },
      rateLimits: [{ name: 'per-user', key: 'user', limit: 2, window: '1m', tiers: { pro: 4 } }],
    });
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  async function statuses(token: string, count: number): Promise<number[]> {
    const result: number[] = [];
    for (let index = 0; index < count; index++) {
      const reply = await send(gateway.url, '/x', {
        headers: { authorization: `Bearer ${token}` },
      });
      result.push(reply.status);
    }
    return result;
  }

  it('user limit counts the JWT subject', async () => {
    const alice = await sign(signer, { sub: 'limit-alice' });
    const aliceAgain = await sign(signer, { sub: 'limit-alice', jti: 'second-token' });
    const bob = await sign(signer, { sub: 'limit-bob' });

    expect(await statuses(alice, 2)).toEqual([200, 200]);
    expect(await statuses(aliceAgain, 1)).toEqual([429]);
    expect(await statuses(bob, 1)).toEqual([200]);
  });

  it('plan claim selects the tier', async () => {
    const pro = await sign(signer, { sub: 'limit-carol', plan: 'pro' });

    expect(await statuses(pro, 5)).toEqual([200, 200, 200, 200, 429]);
  });
});

describe('node:http adapter', () => {
  let server: Server;
  let listener: BulwarkListener;
  let url: string;

  beforeAll(async () => {
    listener = withBulwark(
      (_req, res, ctx) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ctx.principal));
      },
      {
        auth: { methods: ['jwt'], scopes: { all: ['read'] }, jwt: { issuers: issuers() } },
      },
    );
    server = createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await listener.close();
  });

  it('handler sees the verified principal', async () => {
    const token = await sign(signer, { sub: 'dave', scope: 'read write' });

    const reply = await send(url, '/x', { headers: { authorization: `Bearer ${token}` } });

    expect(reply.status).toBe(200);
    expect(json(reply)).toEqual({ type: 'user', id: 'dave', scopes: ['read', 'write'] });
  });

  it('adapter rejects missing scope', async () => {
    const token = await sign(signer, { sub: 'dave', scope: 'write' });

    const reply = await send(url, '/x', { headers: { authorization: `Bearer ${token}` } });

    expect(reply.status).toBe(403);
    expect(reply.headers['www-authenticate']).toBe(
      'Bearer error="insufficient_scope", scope="read"',
    );
  });
});
