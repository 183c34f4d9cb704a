import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { PostgresAuditStore } from '../../src/audit/postgres-store.js';
import type { AuditStore } from '../../src/audit/store.js';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { unusedPort } from '../helpers/upstream.js';
import { newKeys, openWriter, removeTempDirs, sampleEvent } from './log-helpers.js';
import { auditStoreContract } from './store-contract.js';

afterAll(removeTempDirs);

let database: TestDatabase;
const opened: AuditStore[] = [];
let tables = 0;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

afterAll(async () => {
  await database.drop();
});

// Every test gets empty tables: each store works in a schema of its own, named through the
// connection's search path.
auditStoreContract('postgres', async () => {
  tables += 1;
  const schema = `t${tables}`;
  const url = `${database.url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const pg = await import('pg');
  const client = new pg.default.Client({ connectionString: database.url });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.end();
  const store = new PostgresAuditStore({ url });
  opened.push(store);
  await store.ready();
  return store;
});

describe('postgres audit store failures', () => {
  it('unreachable server rejects with StoreUnavailableError', async () => {
    const port = await unusedPort();
    const store = new PostgresAuditStore({
      url: `postgres://postgres@127.0.0.1:${port}/none`,
      connectTimeoutMs: 500,
    });
    opened.push(store);
    await expect(store.head('gw-1')).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('writer spools while the server is unreachable', async () => {
    const port = await unusedPort();
    const store = new PostgresAuditStore({
      url: `postgres://postgres@127.0.0.1:${port}/none`,
      connectTimeoutMs: 500,
    });
    const log = openWriter(store, newKeys());
    await log.appendEvents([sampleEvent(1), sampleEvent(2)]);
    expect(log.degraded).toBe(true);
    expect(await log.metrics.spooled.get()).toMatchObject({ values: [{ value: 2 }] });
    await log.close();
  });
});
