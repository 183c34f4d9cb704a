import { randomBytes } from 'node:crypto';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { withBulwark } from '../../src/adapters/node-http.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { createMemoryCredentialStores } from '../../src/storage/memory-credentials.js';
import { startNodeServer, type RunningServer } from '../adapters/contract.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';

const TOKEN_ENV = `BWK_TEST_BANS_TOKEN_${randomBytes(6).toString('hex').toUpperCase()}`;
const TOKEN = randomBytes(32).toString('hex');
const ADMIN = '/_bulwark/admin';

// The admin token switches the credential stores on; memory ones keep files out of the tree.
const credentials = () => createMemoryCredentialStores({ pepper: randomBytes(32).toString('hex') });

/** One request a minute per client, and three rejections within a minute ban it. */
const policy = {
  trustProxy: ['127.0.0.1/32'],
  rateLimits: [{ name: 'per-ip', key: 'ip', limit: 1, window: '1m' }],
  bans: {
    durations: ['400ms', '2s'],
    triggers: [{ event: 'ratelimit.exceeded', count: 3, window: '1m' }],
  },
};

function from(url: string, ip: string, path = '/'): Promise<Reply> {
  return send(url, path, { headers: { 'x-forwarded-for': ip } });
}

/** Sends requests from `ip` until one gets `status`; a wide bound, not a timing check. */
async function until(url: string, ip: string, status: number, limitMs = 5_000): Promise<Reply> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const reply = await from(url, ip);
    if (reply.status === status || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function admin(url: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return send(url, `${ADMIN}${path}`, {
    method,
    body: payload,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    },
  });
}

describe('automatic bans through the gateway', () => {
  let upstream: Upstream;
  let gateway: Gateway | undefined;
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    process.env[TOKEN_ENV] = TOKEN;
    upstream = await startUpstream(okHandler);
  });

  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
    events.length = 0;
  });

  afterAll(async () => {
    await upstream.close();
    delete process.env[TOKEN_ENV];
  });

  async function start(input: Record<string, unknown> = {}): Promise<Gateway> {
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway(
      {
        upstream: upstream.url,
        admin: { tokenEnv: TOKEN_ENV, allow: ['127.0.0.1/32'] },
        ...policy,
        ...input,
      },
      { bus, credentials: credentials() },
    );
    return gateway;
  }

  const applied = () => events.filter((event) => event.type === 'ban.applied');

  it('repeated violations ban with 403 and Retry-After', async () => {
    const gw = await start();
    const ip = '198.51.100.10';
    expect((await from(gw.url, ip)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await from(gw.url, ip)).status).toBe(429);

    const banned = await until(gw.url, ip, 403);
    expect(banned.status).toBe(403);
    expect(json(banned).code).toBe('BWK_ERR_IP_BANNED');
    expect(banned.headers['retry-after']).toBe('1');
    expect((await from(gw.url, '198.51.100.11')).status).toBe(200);

    expect(applied()).toHaveLength(1);
    expect(applied()[0]).toMatchObject({
      category: 'violation',
      actor: { ip },
      details: { subject: `${ip}/32`, trigger: 'ratelimit.exceeded', level: 1, durationMs: 400 },
    });
    const rejected = events.filter((event) => event.type === 'ban.rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ outcome: 'blocked', details: { subject: `${ip}/32` } });
  });

  it('ban expires and the next one escalates', async () => {
    const gw = await start();
    const ip = '198.51.100.20';
    for (let i = 0; i < 4; i++) await from(gw.url, ip);
    expect((await until(gw.url, ip, 403)).status).toBe(403);

    // After 400 ms the ban ends; the limit still rejects, so three more 429s ban again.
    expect((await until(gw.url, ip, 429)).status).toBe(429);
    for (let i = 0; i < 2; i++) await from(gw.url, ip);
    const second = await until(gw.url, ip, 403);

    expect(second.headers['retry-after']).toBe('2');
    expect(applied().map((event) => event.details.level)).toEqual([1, 2]);
    expect(applied()[1]!.details.durationMs).toBe(2_000);
  });

  it('allowlisted address never banned', async () => {
    const gw = await start({ ipLists: { allow: ['198.51.100.30'] } });
    const ip = '198.51.100.30';

    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await from(gw.url, ip)).status);
    await gw.bus.flush();

    expect(statuses).toEqual([200, ...Array<number>(11).fill(429)]);
    expect(applied()).toEqual([]);
  });

  it('allowlisted address inside banned network passes', async () => {
    const gw = await start({ ipLists: { allow: ['192.0.2.5'] } });

    const added = await admin(gw.url, 'POST', '/bans', { address: '192.0.2.0/24' });
    expect(added.status).toBe(201);
    expect((await from(gw.url, '192.0.2.6')).status).toBe(403);
    expect((await from(gw.url, '192.0.2.5')).status).toBe(200);
  });

  it('IPv6 client banned by its /64', async () => {
    const gw = await start();
    for (let i = 0; i < 4; i++) await from(gw.url, '2001:db8:1:2::5');
    expect((await until(gw.url, '2001:db8:1:2::5', 403)).status).toBe(403);

    expect((await from(gw.url, '2001:db8:1:2::ffff')).status).toBe(403);
    expect((await from(gw.url, '2001:db8:1:3::5')).status).toBe(200);
    expect(applied()[0]!.details.subject).toBe('2001:db8:1:2::/64');
  });

  it('report-only route violations never ban', async () => {
    const gw = await start({
      routes: [{ match: 'GET /trial', reportOnly: true }],
    });
    const ip = '198.51.100.40';
    for (let i = 0; i < 8; i++) await from(gw.url, ip, '/trial');
    await gw.bus.flush();

    expect(applied()).toEqual([]);
  });
});

describe('ban admin API', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    process.env[TOKEN_ENV] = TOKEN;
    upstream = await startUpstream(okHandler);
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway(
      {
        upstream: upstream.url,
        admin: { tokenEnv: TOKEN_ENV, allow: ['127.0.0.1/32'] },
        ...policy,
        ipLists: { allow: ['203.0.113.1'] },
      },
      { bus, credentials: credentials() },
    );
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
    delete process.env[TOKEN_ENV];
  });

  it('add, list and remove a ban', async () => {
    const added = await admin(gateway.url, 'POST', '/bans', {
      address: '192.0.2.77/24',
      duration: '1h',
      reason: 'scraping',
    });
    expect(added.status).toBe(201);
    expect(json(added)).toMatchObject({
      subject: '192.0.2.0/24',
      reason: 'scraping',
      source: 'manual',
    });
    expect(added.headers.location).toBe(`${ADMIN}/bans/192.0.2.0%2F24`);
    expect((await from(gateway.url, '192.0.2.9')).status).toBe(403);

    const listed = json<{ bans: Array<{ subject: string }> }>(
      await admin(gateway.url, 'GET', '/bans'),
    );
    expect(listed.bans.map((ban) => ban.subject)).toEqual(['192.0.2.0/24']);

    expect((await admin(gateway.url, 'DELETE', '/bans/192.0.2.0%2F24')).status).toBe(204);
    expect((await from(gateway.url, '192.0.2.9')).status).toBe(200);
    const again = await admin(gateway.url, 'DELETE', '/bans/192.0.2.0%2F24');
    expect(again.status).toBe(404);
    expect(json(again).code).toBe('BWK_ERR_BAN_NOT_FOUND');

    await gateway.bus.flush();
    const changes = events.filter((event) => event.type.startsWith('ban.'));
    expect(changes.map((event) => [event.type, event.category])).toEqual([
      ['ban.applied', 'admin'],
      ['ban.rejected', 'violation'],
      ['ban.removed', 'admin'],
    ]);
    const actions = events
      .filter((event) => event.type === 'admin.action')
      .map((event) => [event.details.action, event.outcome]);
    expect(actions).toEqual([
      ['bans.add', 'success'],
      ['bans.list', 'success'],
      ['bans.remove', 'success'],
      ['bans.remove', 'failure'],
    ]);
  });

  it('allowlisted address cannot be banned', async () => {
    const reply = await admin(gateway.url, 'POST', '/bans', { address: '203.0.113.1' });

    expect(reply.status).toBe(409);
    expect(json(reply).code).toBe('BWK_ERR_BAN_ALLOWLISTED');
  });

  it('invalid input named by field', async () => {
    const reply = await admin(gateway.url, 'POST', '/bans', {
      address: 'example.com',
      duration: '2y',
      extra: 1,
    });

    expect(reply.status).toBe(400);
    const fields = json<{ errors: Array<{ field: string }> }>(reply).errors.map((e) => e.field);
    expect(fields.sort()).toEqual(['address', 'duration', 'extra']);
  });

  it('admin token required', async () => {
    const reply = await send(gateway.url, `${ADMIN}/bans`);

    expect(reply.status).toBe(401);
  });
});

describe('ban endpoints without bans', () => {
  it('answer 404 bans disabled', async () => {
    process.env[TOKEN_ENV] = TOKEN;
    const upstream = await startUpstream(okHandler);
    const gateway = await startGateway(
      {
        upstream: upstream.url,
        admin: { tokenEnv: TOKEN_ENV, allow: ['127.0.0.1/32'] },
        ipLists: { deny: ['192.0.2.0/24'] },
      },
      { credentials: credentials() },
    );
    try {
      const reply = await admin(gateway.url, 'GET', '/bans');
      expect(reply.status).toBe(404);
      expect(json(reply).code).toBe('BWK_ERR_BANS_DISABLED');
    } finally {
      await gateway.stop();
      await upstream.close();
      delete process.env[TOKEN_ENV];
    }
  });
});

describe('automatic bans through node:http adapter', () => {
  let server: RunningServer | undefined;

  afterEach(async () => {
    await server?.close();
  });

  it('violations ban the client', async () => {
    const listener = withBulwark((_req, res) => res.end('ok'), policy);
    server = await startNodeServer(listener, () => listener.close());
    const ip = '198.51.100.50';

    for (let i = 0; i < 4; i++) await from(server.url, ip);
    const banned = await until(server.url, ip, 403);

    expect(banned.status).toBe(403);
    expect(json(banned).code).toBe('BWK_ERR_IP_BANNED');
    expect((await from(server.url, '198.51.100.51')).status).toBe(200);
  });
});
