import { afterEach, describe, expect, it } from 'vitest';

import type { ConfigInput } from '../../src/core/config.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { okHandler, startUpstream, unusedPort, type Upstream } from '../helpers/upstream.js';
import { AUDIENCE, createSigner, ISSUER, JwksServer, sign } from './tokens.js';

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function gatewayFor(
  jwksUri: string,
  jwks: { cacheMaxAge?: string; cooldown?: string },
): Promise<Gateway> {
  const upstream: Upstream = await startUpstream(okHandler);
  cleanups.push(() => upstream.close());
  const auth: ConfigInput['auth'] = {
    methods: ['jwt'],
    jwt: {
      issuers: [
        { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256', 'EdDSA'], jwksUri, jwks },
      ],
    },
  };
  const gateway = await startGateway({ upstream: upstream.url, auth });
  cleanups.push(() => gateway.stop());
  return gateway;
}

async function startJwks(): Promise<{ jwks: JwksServer; url: string }> {
  const jwks = new JwksServer();
  const url = await jwks.start();
  cleanups.push(() => jwks.close());
  return { jwks, url };
}

describe('remote JWKS', () => {
  it('cached keys survive endpoint outage', async () => {
    const first = await createSigner('ES256', 'k1');
    const second = await createSigner('EdDSA', 'k2');
    const { jwks, url } = await startJwks();
    jwks.keys = [first.publicJwk];
    // cacheMaxAge 1 ms makes every request try to refresh, so the outage is always hit.
    const gateway = await gatewayFor(url, { cacheMaxAge: '1ms', cooldown: '0ms' });
    const call = async (token: string) =>
      send(gateway.url, '/x', { headers: { authorization: `Bearer ${token}` } });

    expect((await call(await sign(first, { sub: 'alice' }))).status).toBe(200);
    jwks.up = false;
    jwks.keys = [first.publicJwk, second.publicJwk];
    const fetchesBefore = jwks.fetches;

    const cached = await call(await sign(first, { sub: 'alice' }));
    const unknown = await call(await sign(second, { sub: 'alice' }));

    expect(jwks.fetches).toBeGreaterThan(fetchesBefore);
    expect(cached.status).toBe(200);
    expect(unknown.status).toBe(401);
    expect(json(unknown).reason).toBe('unknown_key');
  });

  it('new kid fetched once endpoint recovers', async () => {
    const first = await createSigner('ES256', 'k1');
    const second = await createSigner('ES256', 'k2');
    const { jwks, url } = await startJwks();
    jwks.keys = [first.publicJwk];
    const gateway = await gatewayFor(url, { cooldown: '0ms' });
    const call = async (token: string) =>
      send(gateway.url, '/x', { headers: { authorization: `Bearer ${token}` } });
    expect((await call(await sign(first, { sub: 'alice' }))).status).toBe(200);

    jwks.keys = [first.publicJwk, second.publicJwk];
    const rotated = await call(await sign(second, { sub: 'alice' }));

    expect(rotated.status).toBe(200);
    expect(jwks.fetches).toBe(2);
  });

  it('unknown kids within cooldown fetch once', async () => {
    const known = await createSigner('ES256', 'k1');
    const { jwks, url } = await startJwks();
    jwks.keys = [known.publicJwk];
    const gateway = await gatewayFor(url, { cooldown: '1h' });
    const call = async (token: string) =>
      send(gateway.url, '/x', { headers: { authorization: `Bearer ${token}` } });
    expect((await call(await sign(known, { sub: 'alice' }))).status).toBe(200);

    for (let index = 0; index < 5; index++) {
      const reply = await call(await sign(known, { sub: 'alice' }, { kid: `made-up-${index}` }));
      expect(json(reply).reason).toBe('unknown_key');
    }

    expect(jwks.fetches).toBe(1);
  });

  it('unreachable endpoint without cache is 503', async () => {
    const signer = await createSigner('ES256', 'k1');
    const port = await unusedPort();
    const gateway = await gatewayFor(`http://127.0.0.1:${port}/jwks.json`, {});

    const reply = await send(gateway.url, '/x', {
      headers: { authorization: `Bearer ${await sign(signer, { sub: 'alice' })}` },
    });

    expect(reply.status).toBe(503);
    expect(json(reply).code).toBe('BWK_ERR_AUTH_KEYS_UNAVAILABLE');
  });

  it('outage without cache fetches once per cooldown', async () => {
    const signer = await createSigner('ES256', 'k1');
    const { jwks, url } = await startJwks();
    jwks.up = false;
    const gateway = await gatewayFor(url, { cooldown: '1h' });
    const token = await sign(signer, { sub: 'alice' });

    for (let index = 0; index < 3; index++) {
      const reply = await send(gateway.url, '/x', {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(reply.status).toBe(503);
    }

    expect(jwks.fetches).toBe(1);
  });
});
