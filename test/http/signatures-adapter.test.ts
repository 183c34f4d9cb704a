import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync } from 'node:crypto';

import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { bulwarkExpress } from '../../src/adapters/express.js';
import { bulwarkFastify } from '../../src/adapters/fastify.js';
import { withBulwark } from '../../src/adapters/node-http.js';
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

/** Responds `ok`, or the request body when there is one, read from the request stream. */
function echoBody(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => res.end(chunks.length === 0 ? 'ok' : Buffer.concat(chunks)));
}

interface Running {
  url: string;
  close(): Promise<void>;
}

/** Serves `handler` on a loopback port; `close` stops the server, then releases the adapter. */
async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  release: () => Promise<void>,
): Promise<Running> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await release();
    },
  };
}

describe.each([
  {
    name: 'node:http',
    start(): Promise<Running> {
      const adapter = withBulwark((req, res) => echoBody(req, res), options);
      return serve(adapter, adapter.close);
    },
  },
  {
    name: 'Express under a mount path',
    start(): Promise<Running> {
      const adapter = bulwarkExpress(options);
      const app = express();
      app.use('/api', adapter);
      app.use((req, res) => echoBody(req, res));
      return serve(app, adapter.close);
    },
  },
  {
    name: 'Fastify',
    async start(): Promise<Running> {
      const app = Fastify();
      await app.register(bulwarkFastify, options);
      // Fastify parses the body after the plugin's hook; the raw text shows what it read.
      app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) =>
        done(null, body),
      );
      app.all('/api/orders', async (request) => (request.body === undefined ? 'ok' : request.body));
      const url = await app.listen({ port: 0, host: '127.0.0.1' });
      return { url, close: () => app.close() };
    },
  },
])('signatures in the $name adapter', ({ start }) => {
  let url: string;
  let running: Running;

  beforeAll(async () => {
    running = await start();
    url = running.url;
  });

  afterAll(() => running.close());

  it('admits a signed request once', async () => {
    const first = await sendSigned(url, '/api/orders?page=2', { keyId: 'partner', key });
    expect(first.reply.status).toBe(200);
    expect(first.reply.text).toBe('ok');

    const replayed = await resend(url, '/api/orders?page=2', 'GET', first.headers);
    expect(replayed.status).toBe(401);
    expect(json(replayed)).toMatchObject({ reason: 'replay' });
  });

  it('passes a signed body on to the application', async () => {
    const body = '{"item":42}';
    const { reply } = await sendSigned(url, '/api/orders', { keyId: 'partner', key, body });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe(body);
  });

  it('rejects a tampered body', async () => {
    const { reply } = await sendSigned(url, '/api/orders', {
      keyId: 'partner',
      key,
      body: '{"item":42}',
      sentBody: '{"item":43}',
    });
    expect(reply.status).toBe(401);
    expect(json(reply)).toMatchObject({ reason: 'digest_mismatch' });
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
