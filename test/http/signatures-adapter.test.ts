import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';

import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { bulwarkExpress, type BulwarkMiddleware } from '../../src/adapters/express.js';
import { withBulwark, type BulwarkListener } from '../../src/adapters/node-http.js';
import type { AdapterOptions } from '../../src/adapters/options.js';
import { ConfigError } from '../../src/core/errors.js';
import { ed25519SigningKey } from '../../src/http/signing.js';
import { json, send } from '../helpers/http.js';
import { resend, sendSigned } from './signed-requests.js';

const pair = generateKeyPairSync('ed25519');
const key = ed25519SigningKey(pair.privateKey);

const options: AdapterOptions = {
  signatures: {
    keys: [
      {
        id: 'partner',
        algorithm: 'ed25519',
        publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    ],
  },
  routes: [{ match: '* /api/orders', signatures: { required: true } }],
};

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe.each([
  {
    name: 'node:http',
    create(): { server: Server; adapter: BulwarkListener } {
      const adapter = withBulwark((_req, res) => res.end('ok'), options);
      return { server: createServer(adapter), adapter };
    },
  },
  {
    name: 'Express under a mount path',
    create(): { server: Server; adapter: BulwarkMiddleware } {
      const adapter = bulwarkExpress(options);
      const app = express();
      app.use('/api', adapter);
      app.use((_req, res) => {
        res.send('ok');
      });
      return { server: createServer(app), adapter };
    },
  },
])('signatures in the $name adapter', ({ create }) => {
  let url: string;
  let running: ReturnType<typeof create>;

  beforeAll(async () => {
    running = create();
    url = await listen(running.server);
  });

  afterAll(async () => {
    running.server.closeAllConnections();
    await new Promise((resolve) => running.server.close(resolve));
    await running.adapter.close();
  });

  it('admits a signed request once', async () => {
    const first = await sendSigned(url, '/api/orders?page=2', { keyId: 'partner', key });
    expect(first.reply.status).toBe(200);
    expect(first.reply.text).toBe('ok');

    const replayed = await resend(url, '/api/orders?page=2', 'GET', first.headers);
    expect(replayed.status).toBe(401);
    expect(json(replayed)).toMatchObject({ reason: 'replay' });
  });

  it('rejects an unsigned request', async () => {
    const reply = await send(url, '/api/orders');
    expect(reply.status).toBe(401);
    expect(json(reply)).toMatchObject({ code: 'BWK_ERR_SIGNATURE_REQUIRED' });
  });

  it('rejects a tampered target', async () => {
    const { reply } = await sendSigned(url, '/api/orders?page=2', {
      keyId: 'partner',
      key,
      sentPath: '/api/orders?page=3',
    });
    expect(json(reply)).toMatchObject({ reason: 'bad_signature' });
  });
});

describe('signature options in adapters', () => {
  it('rejects a missing secret variable at creation', () => {
    const create = () =>
      withBulwark(() => undefined, {
        signatures: {
          required: true,
          keys: [{ id: 'k1', algorithm: 'hmac-sha256', secretEnv: 'BWK_TEST_SIG_UNSET_VARIABLE' }],
        },
      });
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(
      /BWK_ERR_CONFIG_SIGNATURES at signatures\.keys\.0\.secretEnv: key "k1": environment variable BWK_TEST_SIG_UNSET_VARIABLE is not set/,
    );
  });
});
