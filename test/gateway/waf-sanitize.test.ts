import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

// Markup in a field the sanitize guard rewrites is expected: the injection guard's XSS rules
// skip it, and the upstream receives the sanitized form. Other fields are still inspected.
describe('injection guard with sanitized HTML fields', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  const forwarded: string[] = [];

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        forwarded.push(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    });
    gateway = await startGateway({
      upstream: upstream.url,
      waf: { enabled: true },
      routes: [{ match: 'POST /posts', sanitize: { 'body.bio': 'basic', 'body.notes.*': 'text' } }],
    });
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  beforeEach(() => {
    forwarded.length = 0;
  });

  const post = (body: unknown) =>
    send(gateway.url, '/posts', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('sanitized field markup cleaned, not blocked', async () => {
    const reply = await post({ bio: '<b onclick="steal()">Ada</b><script>alert(1)</script>' });
    expect(reply.status).toBe(200);
    expect(JSON.parse(forwarded[0]!)).toEqual({ bio: '<b>Ada</b>' });
  });

  it('sanitized array elements cleaned', async () => {
    const reply = await post({ notes: ['<img src=x onerror=alert(1)>one', 'two'] });
    expect(reply.status).toBe(200);
    expect(JSON.parse(forwarded[0]!)).toEqual({ notes: ['one', 'two'] });
  });

  it('object in sanitized field rejected', async () => {
    const reply = await post({ bio: { x: '<img src=x onerror=alert(1)>' } });
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.text).errors).toEqual([
      { in: 'body', path: '/bio', rule: 'type', message: 'must be HTML text' },
    ]);
    expect(forwarded).toEqual([]);
  });

  it('the same markup in another field is blocked', async () => {
    const reply = await post({ bio: 'Ada', title: '<script>alert(1)</script>' });
    expect(reply.status).toBe(403);
    expect(forwarded).toEqual([]);
  });

  it('SQL injection in sanitized field blocked', async () => {
    const reply = await post({ bio: "' UNION SELECT password FROM users --" });
    expect(reply.status).toBe(403);
  });
});
