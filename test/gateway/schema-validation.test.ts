import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { loadConfigFile } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { send, type Reply } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

interface Forwarded {
  url: string;
  body: string;
}

const userSchema = {
  type: 'object',
  required: ['email', 'age'],
  properties: {
    email: { type: 'string', format: 'email', maxLength: 254 },
    age: { type: 'integer', minimum: 13 },
    items: {
      type: 'array',
      maxItems: 10,
      items: {
        type: 'object',
        properties: { sku: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{3}$' } },
      },
    },
  },
};

const JSON_HEADERS = { 'content-type': 'application/json' };

function problemOf(reply: Reply): {
  code: string;
  status: number;
  errors: { in: string; path: string; rule: string; message: string }[];
} {
  return JSON.parse(reply.text);
}

describe('gateway schema validation', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  let dir: string;
  const forwarded: Forwarded[] = [];
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bwk-schema-gw-'));
    writeFileSync(join(dir, 'user.json'), JSON.stringify(userSchema));
    upstream = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        forwarded.push({ url: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    });
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway(
      {
        upstream: upstream.url,
        routes: [
          { match: 'POST /users', validate: { body: join(dir, 'user.json') } },
          {
            match: 'POST /profiles',
            validate: {
              body: {
                type: 'object',
                properties: { name: { type: 'string' }, bio: { type: 'string' } },
              },
              unknownFields: 'strip',
            },
            sanitize: { 'body.bio': 'basic' },
          },
          {
            match: 'PUT /items/:id',
            validate: {
              params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } } },
              status: 422,
            },
          },
          {
            match: 'GET /search',
            validate: {
              query: {
                type: 'object',
                required: ['q'],
                properties: {
                  q: { type: 'string', maxLength: 20 },
                  page: { type: 'integer', minimum: 1 },
                },
              },
              unknownFields: 'strip',
            },
          },
          {
            match: 'GET /tenant',
            validate: {
              headers: {
                type: 'object',
                required: ['x-tenant'],
                properties: { 'x-tenant': { type: 'string', format: 'slug' } },
              },
            },
          },
          { match: 'POST /bio-form', sanitize: { 'body.bio': 'text' } },
          {
            match: 'POST /posts',
            sanitize: { 'body.post.html': 'rich', 'body.comments.*': 'text' },
          },
          {
            match: 'POST /signup-form',
            validate: {
              body: {
                type: 'object',
                required: ['age'],
                properties: { age: { type: 'integer', minimum: 18 }, name: { type: 'string' } },
              },
            },
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
  });

  beforeEach(() => {
    forwarded.length = 0;
    events.length = 0;
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = JSON_HEADERS) =>
    send(gateway.url, path, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('valid body is forwarded as sent', async () => {
    const body = '{ "email": "ada@example.org",\n  "age": 36 }';
    const reply = await post('/users', body);
    expect(reply.status).toBe(200);
    expect(forwarded[0]?.body).toBe(body);
  });

  it('invalid body is rejected listing each field', async () => {
    const reply = await post('/users', { email: 'not-an-email', age: 3, items: [{ sku: 'abc' }] });
    expect(reply.status).toBe(400);
    expect(reply.headers['content-type']).toBe('application/problem+json');
    const problem = problemOf(reply);
    expect(problem.code).toBe('BWK_ERR_VALIDATION_FAILED');
    expect(problem.errors.map((error) => `${error.in} ${error.path} ${error.rule}`)).toEqual([
      'body /email format',
      'body /age minimum',
      'body /items/0/sku pattern',
    ]);
    expect(forwarded).toEqual([]);
  });

  it('rejection never echoes the values', async () => {
    const script = '<script>alert("owned")</script>';
    const long = 'A'.repeat(5000);
    const reply = await post('/users', { email: script, age: long, items: [{ sku: long }] });
    expect(reply.status).toBe(400);
    expect(reply.text).not.toContain('<script');
    expect(reply.text).not.toContain('owned');
    expect(reply.text).not.toContain('AAAA');
    expect(reply.text.length).toBeLessThan(1500);
  });

  it('unknown field is rejected by default', async () => {
    const reply = await post('/users', { email: 'ada@example.org', age: 36, isAdmin: true });
    expect(reply.status).toBe(400);
    expect(problemOf(reply).errors).toEqual([
      { in: 'body', path: '/isAdmin', rule: 'unknownField', message: 'is not allowed' },
    ]);
  });

  it('hostile unknown field name is cut and encoded', async () => {
    const key = `<img src=x onerror=alert(1)>${'k'.repeat(200)}`;
    const reply = await post('/users', { email: 'ada@example.org', age: 36, [key]: 1 });
    const path = problemOf(reply).errors[0]!.path;
    expect(path).not.toContain('<');
    expect(path.length).toBeLessThan(120);
    expect(path.startsWith('/%3Cimg')).toBe(true);
  });

  it('missing body is a required failure', async () => {
    const reply = await send(gateway.url, '/users', { method: 'POST' });
    expect(reply.status).toBe(400);
    expect(problemOf(reply).errors[0]).toMatchObject({ in: 'body', path: '', rule: 'required' });
  });

  it('body of another media type is rejected', async () => {
    const reply = await post('/users', 'email=a', { 'content-type': 'text/plain' });
    expect(reply.status).toBe(400);
    expect(problemOf(reply).errors[0]).toMatchObject({ rule: 'mediaType' });
  });

  it('stripped body reaches the upstream', async () => {
    const reply = await post('/profiles', { name: 'Ada', role: 'admin', bio: 'hi' });
    expect(reply.status).toBe(200);
    expect(JSON.parse(forwarded[0]!.body)).toEqual({ name: 'Ada', bio: 'hi' });
  });

  it('sanitized HTML reaches the upstream', async () => {
    const bio =
      '<b onclick="steal()">Ada</b><script>alert(1)</script><a href="javascript:x">me</a>';
    const reply = await post('/profiles', { name: 'Ada', bio });
    expect(reply.status).toBe(200);
    expect(JSON.parse(forwarded[0]!.body)).toEqual({ name: 'Ada', bio: '<b>Ada</b><a>me</a>' });
  });

  it('nested and wildcard HTML fields are sanitized', async () => {
    const reply = await post('/posts', {
      post: {
        html: '<h2>T</h2><img src="https://example.org/a.png" onerror="x()">',
        title: '<b>kept</b>',
      },
      comments: ['<i>one</i>', 'two <script>x</script>'],
    });
    expect(reply.status).toBe(200);
    expect(JSON.parse(forwarded[0]!.body)).toEqual({
      post: { html: '<h2>T</h2><img src="https://example.org/a.png">', title: '<b>kept</b>' },
      comments: ['one', 'two '],
    });
  });

  it('form HTML field is sanitized', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const reply = await post(
      '/bio-form',
      'bio=%3Cb%3EAda%3C%2Fb%3E%3Cscript%3Ex()%3C%2Fscript%3E&x=1',
      form,
    );
    expect(reply.status).toBe(200);
    expect(forwarded[0]?.body).toBe('bio=Ada&x=1');
  });

  it('HTML field over the length limit is rejected', async () => {
    const reply = await post('/posts', { post: { html: '<p>x</p>'.repeat(3000) } });
    expect(reply.status).toBe(400);
    expect(problemOf(reply).errors).toEqual([
      expect.objectContaining({ in: 'body', path: '/post/html', rule: 'maxLength' }),
    ]);
    expect(forwarded).toEqual([]);
  });

  it('path parameter failure uses status 422', async () => {
    const reply = await send(gateway.url, '/items/42', { method: 'PUT' });
    expect(reply.status).toBe(422);
    const problem = problemOf(reply);
    expect(problem.status).toBe(422);
    expect(problem.errors).toEqual([
      expect.objectContaining({ in: 'params', path: '/id', rule: 'format' }),
    ]);
    const ok = await send(gateway.url, '/items/0190f5d2-6c5a-7cc0-8d3e-5f1f2a3b4c5d', {
      method: 'PUT',
    });
    expect(ok.status).toBe(200);
  });

  it('query is coerced and unknown parameters stripped', async () => {
    const reply = await send(gateway.url, '/search?q=shoes&page=2&debug=1&q2=x');
    expect(reply.status).toBe(200);
    expect(forwarded[0]?.url).toBe('/search?q=shoes&page=2');
  });

  it('invalid query is rejected', async () => {
    const reply = await send(gateway.url, '/search?page=0');
    expect(reply.status).toBe(400);
    expect(
      problemOf(reply).errors.map((error) => `${error.in} ${error.path} ${error.rule}`),
    ).toEqual(['query /q required', 'query /page minimum']);
  });

  it('headers are validated by name', async () => {
    expect(
      (await send(gateway.url, '/tenant', { headers: { 'x-tenant': 'acme-eu' } })).status,
    ).toBe(200);
    const reply = await send(gateway.url, '/tenant', { headers: { 'x-tenant': 'ACME EU' } });
    expect(reply.status).toBe(400);
    expect(problemOf(reply).errors[0]).toMatchObject({
      in: 'headers',
      path: '/x-tenant',
      rule: 'format',
    });
  });

  it('form body fields are coerced and checked', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await post('/signup-form', 'age=21&name=Ada', form)).status).toBe(200);
    expect(forwarded[0]?.body).toBe('age=21&name=Ada');
    const reply = await post('/signup-form', 'age=12', form);
    expect(problemOf(reply).errors[0]).toMatchObject({ in: 'body', path: '/age', rule: 'minimum' });
  });

  it('failure publishes validation.failed without values', async () => {
    await post('/users', { email: 'secret-value@', age: 'forty' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const event = events.find((candidate) => candidate.type === 'validation.failed');
    expect(event).toBeDefined();
    expect(event!.category).toBe('violation');
    expect(event!.outcome).toBe('blocked');
    expect(event!.details).toEqual({
      fields: [
        { in: 'body', path: '/email', rule: 'format' },
        { in: 'body', path: '/age', rule: 'type' },
      ],
      count: 2,
    });
    expect(JSON.stringify(event)).not.toContain('secret-value');
  });
});

describe('schema files at start', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bwk-schema-start-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function writeConfig(schemaLine: string): string {
    const file = join(dir, 'bulwark.yaml');
    writeFileSync(
      file,
      [
        'upstream: http://127.0.0.1:9',
        'listen: { host: 127.0.0.1, port: 0 }',
        'events: { sink: none }',
        'logging: { level: silent }',
        `dataDir: ${join(dir, 'data')}`,
        'routes:',
        '  - match: POST /users',
        '    validate:',
        `      body: ${schemaLine}`,
      ].join('\n'),
    );
    return file;
  }

  it('relative schema path resolves next to the file', async () => {
    writeFileSync(join(dir, 'user.json'), JSON.stringify(userSchema));
    const gateway = new Gateway(loadConfigFile(writeConfig('user.json')));
    await gateway.stop();
  });

  it('broken schema fails startup with pointer', () => {
    writeFileSync(
      join(dir, 'broken.json'),
      JSON.stringify({ type: 'object', properties: { a: { type: 'strin' } } }),
    );
    const config = loadConfigFile(writeConfig('broken.json'));
    let caught: unknown;
    try {
      new Gateway(config);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const issue = (caught as ConfigError).issues[0]!;
    expect(issue.code).toBe('BWK_ERR_CONFIG_SCHEMA');
    expect(issue.path).toBe('routes.0.validate.body');
    expect(issue.value).toBe(`${join(dir, 'broken.json')}#/properties/a/type`);
  });

  it('vulnerable pattern stops the start', () => {
    writeFileSync(
      join(dir, 'redos.json'),
      JSON.stringify({
        type: 'object',
        properties: { name: { type: 'string', pattern: '^([a-z]+)*$' } },
      }),
    );
    const config = loadConfigFile(writeConfig('redos.json'));
    expect(() => new Gateway(config)).toThrow(/ReDoS/);
  });

  it('problems of all schema files reported together', () => {
    const pattern = (source: string) => ({ type: 'string', pattern: source });
    writeFileSync(
      join(dir, 'names.json'),
      JSON.stringify({
        type: 'object',
        properties: { first: pattern('^(a+)+$'), last: pattern('^([a-z]+)*$') },
      }),
    );
    writeFileSync(
      join(dir, 'tags.json'),
      JSON.stringify({ type: 'object', properties: { tag: pattern('^(\\w+\\s?)*$') } }),
    );
    const file = join(dir, 'two-files.yaml');
    writeFileSync(
      file,
      [
        'upstream: http://127.0.0.1:9',
        'listen: { host: 127.0.0.1, port: 0 }',
        'events: { sink: none }',
        'logging: { level: silent }',
        `dataDir: ${join(dir, 'data')}`,
        'routes:',
        '  - match: POST /names',
        '    validate: { body: names.json }',
        '  - match: POST /tags',
        '    validate: { query: tags.json }',
      ].join('\n'),
    );
    let caught: unknown;
    try {
      new Gateway(loadConfigFile(file));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const issues = (caught as ConfigError).issues;
    expect(issues.map((issue) => `${issue.path} ${issue.value}`)).toEqual([
      `routes.0.validate.body ${join(dir, 'names.json')}#/properties/first/pattern`,
      `routes.0.validate.body ${join(dir, 'names.json')}#/properties/last/pattern`,
      `routes.1.validate.query ${join(dir, 'tags.json')}#/properties/tag/pattern`,
    ]);
    expect((caught as ConfigError).message).toContain(join(dir, 'tags.json'));
  });

  it('unknown sanitize profile is a config error', () => {
    const file = join(dir, 'profile.yaml');
    writeFileSync(
      file,
      [
        'upstream: http://127.0.0.1:9',
        'routes:',
        '  - match: POST /bio',
        "    sanitize: { 'body.bio': fancy }",
      ].join('\n'),
    );
    expect(() => loadConfigFile(file)).toThrow(/unknown profile "fancy"/);
  });
});
