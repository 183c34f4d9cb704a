import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import express from 'express';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { bulwarkExpress } from '../../src/adapters/express.js';
import { silentLogger } from '../../src/core/logger.js';
import { CountryDatabase } from '../../src/ddos/geo.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startNodeServer, type RunningServer } from '../adapters/contract.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * The country database from @ip-location-db/geo-whois-asn-country-mmdb (CC0 package of NRO
 * registry data). The addresses used are stable registry assignments: 193.0.0.1 is RIPE
 * NCC's own network in the Netherlands, 8.8.8.8 Google's in the United States. No traffic
 * goes to them: they only appear in X-Forwarded-For from a trusted loopback proxy.
 */
const PACKAGE = '@ip-location-db/geo-whois-asn-country-mmdb';
const require = createRequire(import.meta.url);
const DATABASE = require.resolve(`${PACKAGE}/geo-whois-asn-country.mmdb`);
const IPV4_DATABASE = require.resolve(`${PACKAGE}/geo-whois-asn-country-ipv4.mmdb`);

const NL = '193.0.0.1';
const US = '8.8.8.8';
const NL_V6 = '2001:67c:2e8::1';
const DOCUMENTATION = '192.0.2.1';

function from(url: string, ip: string, path = '/') {
  return send(url, path, { headers: { 'x-forwarded-for': ip } });
}

describe('country database', () => {
  let dir: string;
  const databases: CountryDatabase[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bwk-geo-'));
  });

  afterAll(() => {
    for (const database of databases) database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function open(path: string): CountryDatabase {
    const database = new CountryDatabase(
      { database: path, unknown: 'allow', reloadInterval: 60_000, maxFileBytes: 64 * 1024 * 1024 },
      silentLogger,
    );
    databases.push(database);
    return database;
  }

  it('real lookups by country code', () => {
    const database = open(DATABASE);

    expect(database.country(NL)).toBe('NL');
    expect(database.country(US)).toBe('US');
    expect(database.country(NL_V6)).toBe('NL');
    expect(database.country(`::ffff:${NL}`)).toBe('NL');
  });

  it('non-public addresses unknown', () => {
    const database = open(DATABASE);

    // The registry data places some documentation ranges in a country; they stay unknown.
    for (const ip of [DOCUMENTATION, '203.0.113.5', '2001:db8::1', '10.0.0.1', '127.0.0.1'])
      expect(database.country(ip), ip).toBeUndefined();
  });

  it('file that is no MMDB rejected at start', () => {
    const junk = join(dir, 'junk.mmdb');
    writeFileSync(junk, 'not a database');

    expect(() => open(junk)).toThrow(/not a MaxMind DB \(MMDB\) file/);
    expect(() => open(join(dir, 'absent.mmdb'))).toThrow(/cannot read/);
  });

  it('replaced database reloaded, broken one ignored', async () => {
    const path = join(dir, 'country.mmdb');
    copyFileSync(IPV4_DATABASE, path);
    const database = open(path);
    expect(database.country(NL)).toBe('NL');
    expect(database.country(NL_V6)).toBeUndefined();

    writeFileSync(path, 'truncated download');
    await database.reload();
    expect(database.country(NL)).toBe('NL');

    copyFileSync(DATABASE, path);
    await database.reload();
    expect(database.country(NL_V6)).toBe('NL');
  });
});

describe('country rules through the gateway', () => {
  let upstream: Upstream;
  let gateway: Gateway | undefined;
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    upstream = await startUpstream(okHandler);
  });

  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
    events.length = 0;
  });

  afterAll(async () => {
    await upstream.close();
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

  it('denied country gets 403', async () => {
    const gw = await start({ geo: { database: DATABASE, deny: ['nl'] } });

    const denied = await from(gw.url, NL);
    expect(denied.status).toBe(403);
    expect(json(denied).code).toBe('BWK_ERR_COUNTRY_DENIED');
    expect((await from(gw.url, NL_V6)).status).toBe(403);
    expect((await from(gw.url, US)).status).toBe(200);
    expect((await from(gw.url, DOCUMENTATION)).status).toBe(200);
    expect(events.find((event) => event.type === 'geo.denied')).toMatchObject({
      category: 'violation',
      actor: { ip: NL },
      details: { country: 'NL' },
    });
  });

  it('allow list and unknown policy', async () => {
    const gw = await start({ geo: { database: DATABASE, allow: ['NL'], unknown: 'deny' } });

    expect((await from(gw.url, NL)).status).toBe(200);
    expect((await from(gw.url, US)).status).toBe(403);
    const unknown = await from(gw.url, DOCUMENTATION);
    expect(unknown.status).toBe(403);
    expect(events.filter((e) => e.type === 'geo.denied').map((e) => e.details.country)).toEqual([
      'US',
      'unknown',
    ]);
  });

  it('route rule replaces global rule', async () => {
    const gw = await start({
      geo: { database: DATABASE, deny: ['US'] },
      routes: [{ match: 'GET /eu/*', network: { countries: { allow: ['NL', 'DE'] } } }],
    });

    expect((await from(gw.url, US, '/other')).status).toBe(403);
    expect((await from(gw.url, NL, '/other')).status).toBe(200);
    expect((await from(gw.url, US, '/eu/data')).status).toBe(403);
    expect((await from(gw.url, NL, '/eu/data')).status).toBe(200);
  });

  it('allowlisted address passes country rule', async () => {
    const gw = await start({ ipLists: { allow: [US] }, geo: { database: DATABASE, deny: ['US'] } });

    expect((await from(gw.url, US)).status).toBe(200);
    expect((await from(gw.url, '8.8.4.4')).status).toBe(403);
  });
});

describe('country rules through Express adapter', () => {
  let server: RunningServer | undefined;

  afterEach(async () => {
    await server?.close();
  });

  it('denied country gets 403', async () => {
    const bulwark = bulwarkExpress({
      trustProxy: ['127.0.0.1/32'],
      geo: { database: DATABASE, deny: ['NL'] },
    });
    const app = express();
    app.use(bulwark);
    app.use((_req, res) => void res.send('ok'));
    server = await startNodeServer(app, () => bulwark.close());

    const denied = await from(server.url, NL);
    expect(denied.status).toBe(403);
    expect(json(denied).code).toBe('BWK_ERR_COUNTRY_DENIED');
    expect((await from(server.url, US)).status).toBe(200);
  });
});
