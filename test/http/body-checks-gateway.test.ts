import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

describe('gateway body checks', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  const forwarded: string[] = [];
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        forwarded.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true }));
      });
    });
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway(
      {
        upstream: upstream.url,
        body: { json: { maxDepth: 4, maxKeys: 3, maxStringLength: 16 } },
        routes: [
          {
            match: 'POST,PATCH /orders',
            body: { contentTypes: ['application/json', 'application/*+json'] },
          },
          { match: 'POST /forms', body: { form: { maxFields: 2, maxStringLength: 8 } } },
          { match: 'POST /raw', body: { validate: false } },
          { match: 'POST /trial', reportOnly: true },
        ],
      },
      { bus },
    );
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  beforeEach(() => {
    forwarded.length = 0;
    events.length = 0;
  });

  const post = (
    path: string,
    type: string | undefined,
    body: string,
    method = 'POST',
  ): Promise<Reply> =>
    send(gateway.url, path, {
      method,
      headers: type === undefined ? {} : { 'content-type': type },
      body,
    });

  it('disallowed media type gets 415', async () => {
    const reply = await post('/orders', 'text/plain', 'hello');

    expect(reply.status).toBe(415);
    expect(json(reply)).toMatchObject({
      code: 'BWK_ERR_UNSUPPORTED_MEDIA_TYPE',
      allowed: ['application/json', 'application/*+json'],
    });
    expect(reply.headers['accept-post']).toBe('application/json, application/*+json');
    expect(forwarded).toHaveLength(0);
    expect(events[0]?.type).toBe('http.media_type_rejected');
  });

  it('PATCH 415 lists Accept-Patch', async () => {
    const reply = await post('/orders', 'application/xml', '<a/>', 'PATCH');

    expect(reply.status).toBe(415);
    expect(reply.headers['accept-patch']).toBe('application/json, application/*+json');
  });

  it('missing content type gets 415', async () => {
    const reply = await post('/orders', undefined, '{}');

    expect(reply.status).toBe(415);
    expect(json(reply).detail).toContain('no valid Content-Type');
  });

  it('suffix range admits vendor JSON', async () => {
    const reply = await post('/orders', 'application/vnd.shop+json; charset=utf-8', '{"a":1}');

    expect(reply.status).toBe(200);
    expect(forwarded).toEqual(['{"a":1}']);
  });

  it('invalid JSON named with position', async () => {
    const reply = await post('/orders', 'application/json', '{"a":1,\n "b": tru}');
    const body = json(reply);

    expect(reply.status).toBe(400);
    expect(body).toMatchObject({
      code: 'BWK_ERR_BODY_INVALID',
      syntax: 'json',
      error: 'invalid literal, expected true',
      position: 17,
      line: 2,
      column: 10,
    });
    expect(reply.text).not.toContain('tru}');
    expect(forwarded).toHaveLength(0);
    expect(events[0]).toMatchObject({ type: 'http.body_invalid', outcome: 'blocked' });
  });

  it('JSON limits named in 413', async () => {
    const cases: Array<[string, string, number]> = [
      ['[[[[[1]]]]]', 'json.maxDepth', 4],
      ['{"a":1,"b":2,"c":3,"d":4}', 'json.maxKeys', 3],
      [`{"a":"${'x'.repeat(17)}"}`, 'json.maxStringLength', 16],
    ];
    for (const [text, limit, max] of cases) {
      const reply = await post('/elsewhere', 'application/json', text);

      expect(reply.status, limit).toBe(413);
      expect(json(reply), limit).toMatchObject({ code: 'BWK_ERR_BODY_LIMIT_EXCEEDED', limit, max });
    }
    expect(forwarded).toHaveLength(0);
  });

  it('duplicate JSON member rejected', async () => {
    const reply = await post(
      '/elsewhere',
      'application/json',
      '{"role":"user","\\u0072ole":"admin"}',
    );

    expect(reply.status).toBe(400);
    expect(json(reply)).toMatchObject({ error: 'duplicate member name', position: 15 });
  });

  it('valid JSON forwarded unchanged', async () => {
    const text = '{ "a" : [1, 2.5e3, -0, true, null, "\\u00e9\\n"] }';
    const reply = await post('/elsewhere', 'application/json', text);

    expect(reply.status).toBe(200);
    expect(forwarded).toEqual([text]);
  });

  it('non-UTF-8 JSON charset gets 415', async () => {
    const reply = await post('/elsewhere', 'application/json; charset=utf-16', '{}');

    expect(reply.status).toBe(415);
  });

  it('form checks apply', async () => {
    const valid = await post('/forms', 'application/x-www-form-urlencoded', 'a=1&b=%C3%A9');
    const badEscape = await post('/forms', 'application/x-www-form-urlencoded', 'a=1&b=%zz');
    const tooMany = await post('/forms', 'application/x-www-form-urlencoded', 'a=1&b=2&c=3');
    const tooLong = await post('/forms', 'application/x-www-form-urlencoded', 'a=123456789');

    expect(valid.status).toBe(200);
    expect(forwarded).toEqual(['a=1&b=%C3%A9']);
    expect(badEscape.status).toBe(400);
    expect(json(badEscape)).toMatchObject({
      syntax: 'form',
      error: 'invalid percent-encoding',
      position: 6,
    });
    expect(tooMany.status).toBe(413);
    expect(json(tooMany)).toMatchObject({ limit: 'form.maxFields', max: 2 });
    expect(tooLong.status).toBe(413);
    expect(json(tooLong)).toMatchObject({ limit: 'form.maxStringLength', max: 8 });
  });

  it('validation off forwards anything', async () => {
    const reply = await post('/raw', 'application/json', '{not json');

    expect(reply.status).toBe(200);
    expect(forwarded).toEqual(['{not json']);
  });

  it('report-only forwards invalid JSON', async () => {
    const reply = await post('/trial', 'application/json', '{not json');

    expect(reply.status).toBe(200);
    expect(forwarded).toEqual(['{not json']);
    expect(events[0]).toMatchObject({ type: 'http.body_invalid', outcome: 'would_block' });
  });

  it('report-only still enforces size', async () => {
    const reply = await post('/trial', 'application/json', `"${'x'.repeat(2 * 1024 * 1024)}"`);

    expect(reply.status).toBe(413);
    expect(events[0]).toMatchObject({ type: 'http.request_too_large', outcome: 'blocked' });
  });
});
