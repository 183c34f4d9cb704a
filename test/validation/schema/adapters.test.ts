import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { bulwarkExpress } from '../../../src/adapters/express.js';
import { bulwarkFastify } from '../../../src/adapters/fastify.js';
import { withBulwark } from '../../../src/adapters/node-http.js';
import { ConfigError } from '../../../src/core/errors.js';
import { clientFor, startNodeServer, type RunningServer } from '../../adapters/contract.js';

const signup = z.object({
  email: z.email(),
  password: z.string().min(12),
  plan: z.enum(['free', 'pro']).default('free'),
  bio: z.string().max(2000).optional(),
});

describe('Express adapter with zod schemas', () => {
  const servers: RunningServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
  });

  async function serve(options: Parameters<typeof bulwarkExpress>[0]) {
    const bulwark = bulwarkExpress(options);
    const app = express();
    app.use(bulwark);
    app.use(express.json());
    app.post('/signup', (req, res) => {
      res.json({ received: req.body });
    });
    const server = await startNodeServer(app, () => bulwark.close());
    servers.push(server);
    return clientFor(server.url);
  }

  const body = (value: unknown) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value),
  });

  it('invalid body is rejected before the handler', async () => {
    const client = await serve({ routes: [{ match: 'POST /signup', validate: { body: signup } }] });
    const reply = await client.send('/signup', body({ email: 'nope', password: 'short' }));
    expect(reply.status).toBe(400);
    const problem = JSON.parse(reply.text);
    expect(problem.code).toBe('BWK_ERR_VALIDATION_FAILED');
    expect(
      problem.errors.map((error: { path: string; rule: string }) => `${error.path} ${error.rule}`),
    ).toEqual(['/email format', '/password minLength']);
  });

  it('stripped body reaches the handler', async () => {
    const client = await serve({
      routes: [{ match: 'POST /signup', validate: { body: signup, unknownFields: 'strip' } }],
    });
    const reply = await client.send(
      '/signup',
      body({ email: 'ada@example.org', password: 'x'.repeat(12), isAdmin: true }),
    );
    expect(reply.status).toBe(200);
    // The forwarded body is the schema's output: unknown key gone, default filled in.
    expect(JSON.parse(reply.text)).toEqual({
      received: { email: 'ada@example.org', password: 'x'.repeat(12), plan: 'free' },
    });
  });

  it('sanitized field reaches the handler', async () => {
    const client = await serve({
      routes: [
        { match: 'POST /signup', validate: { body: signup }, sanitize: { 'body.bio': 'basic' } },
      ],
    });
    const reply = await client.send(
      '/signup',
      body({
        email: 'ada@example.org',
        password: 'x'.repeat(12),
        bio: '<em>hi</em><img src=x onerror=alert(1)>',
      }),
    );
    expect(JSON.parse(reply.text).received.bio).toBe('<em>hi</em>');
  });

  it('unknown key is rejected by default', async () => {
    const client = await serve({ routes: [{ match: 'POST /signup', validate: { body: signup } }] });
    const reply = await client.send(
      '/signup',
      body({ email: 'ada@example.org', password: 'x'.repeat(12), isAdmin: true }),
    );
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).errors).toEqual([
      { in: 'body', path: '/isAdmin', rule: 'unknownField', message: 'is not allowed' },
    ]);
  });

  it('status 422 is configurable', async () => {
    const client = await serve({
      validation: { status: 422 },
      routes: [{ match: 'POST /signup', validate: { body: signup } }],
    });
    const reply = await client.send('/signup', body({}));
    expect(reply.status).toBe(422);
  });

  it('invalid validate option fails at creation', () => {
    expect(() =>
      bulwarkExpress({ routes: [{ match: 'POST /signup', validate: { body: 42 as never } }] }),
    ).toThrow(ConfigError);
  });
});

describe('Fastify and node:http adapters with zod schemas', () => {
  const options = {
    routes: [
      {
        match: 'POST /signup',
        validate: { body: signup, unknownFields: 'strip' as const },
        sanitize: { 'body.bio': 'text' },
      },
    ],
  };
  const request = {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: 'ada@example.org',
      password: 'x'.repeat(12),
      bio: '<b>Ada</b>',
      extra: 1,
    }),
  };
  const expected = { email: 'ada@example.org', password: 'x'.repeat(12), plan: 'free', bio: 'Ada' };

  it('Fastify handler receives the rewritten body', async () => {
    const app = Fastify();
    await app.register(bulwarkFastify, options);
    app.post('/signup', async (req) => ({ received: req.body }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address() as AddressInfo;
    const client = clientFor(`http://127.0.0.1:${address.port}`);
    try {
      const reply = await client.send('/signup', request);
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.text)).toEqual({ received: expected });
      const invalid = await client.send('/signup', { ...request, body: '{"email":"x"}' });
      expect(invalid.status).toBe(400);
    } finally {
      await client.close();
      await app.close();
    }
  });

  it('node:http handler receives the rewritten body', async () => {
    const listener = withBulwark((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ received: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      });
    }, options);
    const server = createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = clientFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const reply = await client.send('/signup', request);
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.text)).toEqual({ received: expected });
    } finally {
      await client.close();
      await listener.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
