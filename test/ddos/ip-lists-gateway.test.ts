import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { withBulwark } from '../../src/adapters/node-http.js';
import { validatePolicy } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startNodeServer, type RunningServer } from '../adapters/contract.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';

/** Requests come from 127.0.0.1, a trusted proxy, so X-Forwarded-For names the client. */
function from(url: string, ip: string, path = '/') {
  return send(url, path, { headers: { 'x-forwarded-for': ip } });
}

describe('IP lists through the gateway', () => {
  let upstream: Upstream;
  let dir: string;
  let gateway: Gateway | undefined;
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    upstream = await startUpstream(okHandler);
    dir = mkdtempSync(join(tmpdir(), 'bwk-lists-gw-'));
  });

  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
    events.length = 0;
  });

  afterAll(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(input: Record<string, unknown>): Promise<Gateway> {
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway(
      { upstream: upstream.url, trustProxy: ['127.0.0.1/32'], ...input },
      { bus },
    );
    return gateway;
  }

  it('deny list rejects with 403 problem', async () => {
    const file = join(dir, 'drop.txt');
    writeFileSync(file, '; Spamhaus DROP\n198.51.100.0/24 ; SBL1\n');
    const gw = await start({ ipLists: { deny: ['203.0.113.7', { file }] } });

    const fromFile = await from(gw.url, '198.51.100.20');
    const inline = await from(gw.url, '203.0.113.7');
    const other = await from(gw.url, '203.0.113.8');

    expect(fromFile.status).toBe(403);
    expect(fromFile.headers['content-type']).toBe('application/problem+json');
    expect(json(fromFile).code).toBe('BWK_ERR_IP_DENIED');
    expect(inline.status).toBe(403);
    expect(other.status).toBe(200);
    const denied = events.filter((event) => event.type === 'ip.denied');
    expect(denied).toHaveLength(2);
    expect(denied[0]).toMatchObject({
      category: 'violation',
      outcome: 'blocked',
      actor: { ip: '198.51.100.20' },
    });
  });

  it('repeated denials sampled into one event', async () => {
    const gw = await start({ ipLists: { deny: ['203.0.113.0/24'] } });

    for (let i = 0; i < 5; i++) expect((await from(gw.url, '203.0.113.1')).status).toBe(403);

    expect(events.filter((event) => event.type === 'ip.denied')).toHaveLength(1);
  });

  it('allowlist wins over deny list', async () => {
    const gw = await start({
      ipLists: { allow: ['198.51.100.5'], deny: ['198.51.100.0/24'] },
    });

    expect((await from(gw.url, '198.51.100.5')).status).toBe(200);
    expect((await from(gw.url, '198.51.100.6')).status).toBe(403);
  });

  it('deny file reloaded without restart', async () => {
    const file = join(dir, 'reloaded.txt');
    writeFileSync(file, '198.51.100.0/24\n');
    const gw = await start({ ipLists: { deny: [{ file }], reloadInterval: '50ms' } });
    expect((await from(gw.url, '198.51.100.1')).status).toBe(403);
    expect((await from(gw.url, '192.0.2.1')).status).toBe(200);

    writeFileSync(file, '192.0.2.0/24\n');
    // The poll runs every 50 ms; five seconds is a wide functional bound, not a timing check.
    const deadline = Date.now() + 5_000;
    while ((await from(gw.url, '192.0.2.1')).status !== 403 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect((await from(gw.url, '192.0.2.1')).status).toBe(403);
    expect((await from(gw.url, '198.51.100.1')).status).toBe(200);
  });

  it('invalid list file stops the start', async () => {
    const file = join(dir, 'bad.txt');
    writeFileSync(file, '192.0.2.0/24\n192.0.2.0/99\n');

    await expect(start({ ipLists: { deny: [{ file }] } })).rejects.toThrow(
      /line 2: not an address or CIDR: "192.0.2.0\/99"/,
    );
  });

  it('route allowOnly admits listed networks only', async () => {
    const gw = await start({
      ipLists: { allow: ['198.51.100.9'] },
      routes: [{ match: '* /admin/*', network: { allowOnly: ['10.0.0.0/8'] } }],
    });

    expect((await from(gw.url, '10.1.2.3', '/admin/users')).status).toBe(200);
    const outside = await from(gw.url, '192.0.2.1', '/admin/users');
    expect(outside.status).toBe(403);
    expect(json(outside).code).toBe('BWK_ERR_IP_NOT_ALLOWED');
    // The global allowlist exempts from deny lists, not from a route's own list of callers.
    expect((await from(gw.url, '198.51.100.9', '/admin/users')).status).toBe(403);
    expect((await from(gw.url, '192.0.2.1', '/public')).status).toBe(200);
    expect(events.map((event) => event.type)).toContain('ip.not_allowed');
  });
});

describe('IP lists through node:http adapter', () => {
  let server: RunningServer | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('deny list and allowlist apply', async () => {
    const listener = withBulwark((_req, res) => res.end('ok'), {
      trustProxy: ['127.0.0.1/32'],
      ipLists: { allow: ['198.51.100.5'], deny: ['198.51.100.0/24'] },
    });
    server = await startNodeServer(listener, () => listener.close());

    const denied = await from(server.url, '198.51.100.6');
    expect(denied.status).toBe(403);
    expect(json(denied).code).toBe('BWK_ERR_IP_DENIED');
    expect((await from(server.url, '198.51.100.5')).status).toBe(200);
    expect((await from(server.url, '192.0.2.1')).status).toBe(200);
  });
});

describe('network configuration', () => {
  function issuesOf(input: Record<string, unknown>): Array<{ path: string; code: string }> {
    try {
      validatePolicy(input);
    } catch (error) {
      if (error instanceof ConfigError)
        return error.issues.map(({ path, code }) => ({ path, code }));
      throw error;
    }
    return [];
  }

  it('invalid entries named by path', () => {
    expect(issuesOf({ ipLists: { deny: ['10.0.0.0/40'] } })).toEqual([
      { path: 'ipLists.deny.0', code: 'BWK_ERR_CONFIG_CIDR' },
    ]);
    expect(issuesOf({ ipLists: { deny: [{ path: 'x' }] } })[0]?.path).toBe('ipLists.deny.0');
    expect(issuesOf({ cdn: { ranges: [] } })[0]?.path).toBe('cdn.ranges');
  });

  it('conflicting or incomplete rules rejected', () => {
    expect(issuesOf({ geo: { database: 'x.mmdb', allow: ['DE'], deny: ['FR'] } })).toEqual([
      { path: 'geo', code: 'BWK_ERR_CONFIG_GEO' },
    ]);
    expect(issuesOf({ geo: { database: 'x.mmdb', deny: ['Germany'] } })[0]?.path).toBe(
      'geo.deny.0',
    );
    expect(
      issuesOf({ routes: [{ match: 'GET /x', network: { countries: { deny: ['DE'] } } }] }),
    ).toEqual([{ path: 'routes.0.network.countries', code: 'BWK_ERR_CONFIG_GEO' }]);
    expect(
      issuesOf({
        geo: { database: 'x.mmdb' },
        routes: [{ match: 'GET /x', network: { countries: { unknown: 'deny' } } }],
      }),
    ).toEqual([{ path: 'routes.0.network.countries', code: 'BWK_ERR_CONFIG_GEO' }]);
  });

  it('ban settings checked', () => {
    expect(issuesOf({ bans: { durations: ['1h', '10m'] } })).toEqual([
      { path: 'bans.durations.1', code: 'BWK_ERR_CONFIG_BANS' },
    ]);
    expect(issuesOf({ bans: { durations: [60] } })).toEqual([
      { path: 'bans.durations.0', code: 'BWK_ERR_CONFIG_DURATION' },
    ]);
    expect(
      issuesOf({ bans: { triggers: [{ event: 'ban.rejected', count: 1, window: '1m' }] } }),
    ).toEqual([{ path: 'bans.triggers.0.event', code: 'BWK_ERR_CONFIG_BANS' }]);
    expect(
      issuesOf({
        bans: {
          triggers: [
            { event: 'auth.failure', count: 1, window: '1m' },
            { event: 'auth.failure', count: 2, window: '1m' },
          ],
        },
      }),
    ).toEqual([{ path: 'bans.triggers.1.event', code: 'BWK_ERR_CONFIG_DUPLICATE' }]);
    expect(issuesOf({ bans: {} })).toEqual([]);
  });
});
