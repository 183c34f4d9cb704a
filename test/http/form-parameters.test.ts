import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { bulwarkExpress, type BulwarkMiddleware } from '../../src/adapters/express.js';
import { withBulwark, type BulwarkListener } from '../../src/adapters/node-http.js';
import type { PolicyInput } from '../../src/core/config.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** A body as the upstream or application received it. */
interface ReceivedBody {
  url: string;
  contentLength: string | undefined;
  contentDigest?: string;
  body: string;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

const policy: PolicyInput = {
  parameters: { duplicates: 'reject', rules: { tag: 'array', sort: 'last', page: 'first' } },
  routes: [
    { match: 'POST /search', parameters: { duplicates: 'first', rules: { tag: 'reject' } } },
    { match: 'POST /raw', body: { validate: false } },
    { match: 'POST /audit', reportOnly: true },
  ],
};

function readAll(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    req.on('error', reject);
  });
}

function postForm(url: string, path: string, body: string | Buffer): Promise<Reply> {
  return send(url, path, { method: 'POST', headers: FORM, body });
}

function postFormWith(
  url: string,
  path: string,
  body: string,
  headers: Record<string, string>,
): Promise<Reply> {
  return send(url, path, { method: 'POST', headers: { ...FORM, ...headers }, body });
}

describe('gateway form parameter pollution', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  const received: ReceivedBody[] = [];
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      void readAll(req).then((body) => {
        received.push({
          url: req.url ?? '',
          contentLength: req.headers['content-length'],
          contentDigest: req.headers['content-digest'] as string | undefined,
          body,
        });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      });
    });
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway({ upstream: upstream.url, ...policy }, { bus });
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  async function forwarded(path: string, body: string | Buffer): Promise<ReceivedBody> {
    const before = received.length;
    const reply = await postForm(gateway.url, path, body);
    expect(reply.status, reply.text).toBe(200);
    expect(received.length).toBe(before + 1);
    return received.at(-1)!;
  }

  it.each([
    ['single fields untouched', '/o', 'q=a%20b&x=%2F&y', 'q=a%20b&x=%2F&y'],
    ['array rule keeps every value', '/o', 'tag=a&tag=b&x=1', 'tag=a&tag=b&x=1'],
    ['last rule keeps the last', '/o', 'sort=name&x=1&sort=date', 'x=1&sort=date'],
    ['first rule keeps the first', '/o', 'page=1&page=2', 'page=1'],
    ['encoded name repeats', '/o', 'page=1&%70age=2', 'page=1'],
    ['plus in value kept as sent', '/o', 'page=a+b%2B&page=2&x=%7E', 'page=a+b%2B&x=%7E'],
    ['empty pairs dropped on rewrite', '/o', 'page=1&&page=2&', 'page=1'],
    ['route default first', '/search', 'q=a&x=1&q=b', 'q=a&x=1'],
    ['body checks off still rewritten', '/raw', 'page=1&page=2', 'page=1'],
  ])('%s', async (_title, path, body, expected) => {
    const upstreamSaw = await forwarded(path, body);

    expect(upstreamSaw.body).toBe(expected);
    expect(upstreamSaw.contentLength).toBe(String(Buffer.byteLength(expected)));
  });

  it('client digest dropped only when the body is rewritten', async () => {
    const digest = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';
    const post = (body: string) =>
      postFormWith(gateway.url, '/o', body, { 'content-digest': digest });

    await post('page=1&page=2');
    expect(received.at(-1)?.contentDigest).toBeUndefined();
    await post('page=1');
    expect(received.at(-1)?.contentDigest).toBe(digest);
  });

  it('kept pairs forwarded byte for byte', async () => {
    const body = Buffer.from('name=caf%C3%A9&page=1&page=2&raw=é', 'utf8');
    const expected = Buffer.from('name=caf%C3%A9&page=1&raw=é', 'utf8');

    const upstreamSaw = await forwarded('/o', body);

    expect(Buffer.from(upstreamSaw.body, 'latin1').equals(expected)).toBe(true);
    expect(upstreamSaw.contentLength).toBe(String(expected.length));
  });

  it.each([
    ['plain repeat', '/o', 'role=user&role=admin', 'role'],
    ['encoded repeat', '/o', 'role=user&%72ole=admin', 'role'],
    ['encoded and raw UTF-8 name', '/o', 'caf%C3%A9=1&café=2', 'café'],
    ['route rule over global', '/search', 'tag=a&tag=b', 'tag'],
    ['body checks off', '/raw', 'role=user&role=admin', 'role'],
  ])('%s rejected', async (_title, path, body, name) => {
    const before = received.length;
    const reply = await postForm(gateway.url, path, body);
    const problem = json(reply);

    expect(reply.status).toBe(400);
    expect(problem.code).toBe('BWK_ERR_PARAMETER_REPEATED');
    expect(problem.in).toBe('form');
    expect(received.length).toBe(before);
    if (/^[\w.[\]-]+$/.test(name)) expect(problem.parameter).toBe(name);
    else expect(problem.parameter).toBeUndefined();
  });

  it('rejection names field in event', async () => {
    events.length = 0;
    await postForm(gateway.url, '/o', 'role=user&role=admin');

    expect(events.map((event) => [event.type, event.outcome, event.details])).toEqual([
      ['http.parameter_repeated', 'blocked', { parameter: 'role', count: 2, in: 'form' }],
    ]);
  });

  it('report-only forwards unchanged', async () => {
    events.length = 0;
    const upstreamSaw = await forwarded('/audit', 'role=user&role=admin');

    expect(upstreamSaw.body).toBe('role=user&role=admin');
    expect(events.map((event) => [event.type, event.outcome])).toEqual([
      ['http.parameter_repeated', 'would_block'],
    ]);
  });

  it('other media types stream unchanged', async () => {
    const before = received.length;
    const reply = await send(gateway.url, '/o', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'role=user&role=admin',
    });

    expect(reply.status).toBe(200);
    expect(received.length).toBe(before + 1);
    expect(received.at(-1)?.body).toBe('role=user&role=admin');
  });
});

describe('adapter form parameter pollution', () => {
  const seen: ReceivedBody[] = [];
  let expressApp: Server;
  let middleware: BulwarkMiddleware;
  let nodeApp: Server;
  let listener: BulwarkListener;

  function listen(server: Server): Promise<string> {
    return new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => {
        resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      }),
    );
  }

  let expressUrl: string;
  let nodeUrl: string;

  beforeAll(async () => {
    middleware = bulwarkExpress(policy);
    const app = express();
    app.use(middleware);
    // The raw parser compares the bytes it reads with Content-Length.
    app.use(express.raw({ type: 'application/x-www-form-urlencoded' }));
    app.use((req, res) => {
      const body = (req.body as Buffer).toString('latin1');
      seen.push({ url: req.url, contentLength: req.headers['content-length'], body });
      res.send('ok');
    });
    expressApp = createServer(app);
    expressUrl = await listen(expressApp);

    listener = withBulwark((req, res) => {
      void readAll(req).then((body) => {
        seen.push({ url: req.url ?? '', contentLength: req.headers['content-length'], body });
        res.end('ok');
      });
    }, policy);
    nodeApp = createServer(listener);
    nodeUrl = await listen(nodeApp);
  });

  afterAll(async () => {
    await middleware.close();
    await listener.close();
    await new Promise((resolve) => expressApp.close(resolve));
    await new Promise((resolve) => nodeApp.close(resolve));
  });

  for (const [name, url] of [
    ['express', () => expressUrl],
    ['node:http', () => nodeUrl],
  ] as const) {
    it(`${name} replays rewritten body`, async () => {
      const before = seen.length;
      const reply = await postForm(url(), '/o', 'sort=name&x=1&sort=date');

      expect(reply.status, reply.text).toBe(200);
      expect(seen.length).toBe(before + 1);
      expect(seen.at(-1)?.body).toBe('x=1&sort=date');
      expect(seen.at(-1)?.contentLength).toBe('13');
    });

    it(`${name} rejects repeated field`, async () => {
      const before = seen.length;
      const reply = await postForm(url(), '/o', 'role=user&role=admin');

      expect(reply.status).toBe(400);
      expect(json(reply).code).toBe('BWK_ERR_PARAMETER_REPEATED');
      expect(seen.length).toBe(before);
    });

    it(`${name} keeps array fields`, async () => {
      const reply = await postForm(url(), '/o', 'tag=a&tag=b');

      expect(reply.status).toBe(200);
      expect(seen.at(-1)?.body).toBe('tag=a&tag=b');
    });
  }
});
