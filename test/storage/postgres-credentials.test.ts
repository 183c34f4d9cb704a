import { randomBytes } from 'node:crypto';

import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';

import { StoreUnavailableError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import type { CredentialStores } from '../../src/storage/credentials.js';
import {
  createPostgresCredentialStores,
  type PostgresCredentialOptions,
} from '../../src/storage/postgres-credentials.js';
import {
  createTestDatabase,
  dropDatabase,
  POSTGRES_ADMIN_URL,
  testDatabaseName,
} from '../helpers/postgres.js';
import { unusedPort } from '../helpers/upstream.js';

const PEPPER = randomBytes(32).toString('base64');

const opened: CredentialStores[] = [];
const databases: string[] = [];

afterEach(async () => {
  for (const stores of opened.splice(0)) await stores.close();
  for (const name of databases.splice(0)) await dropDatabase(name);
});

function open(url: string, options: Partial<PostgresCredentialOptions> = {}): CredentialStores {
  const stores = createPostgresCredentialStores({ url, pepper: PEPPER, ...options });
  opened.push(stores);
  return stores;
}

async function database(): Promise<string> {
  const created = await createTestDatabase();
  databases.push(created.name);
  return created.url;
}

function logLines(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { lines, logger };
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('postgres credential store failures', () => {
  it('unreachable server is unavailable', async () => {
    const port = await unusedPort();
    const stores = open(`postgres://postgres:hunter2@127.0.0.1:${port}/bulwark`);

    const lookup = stores.apiKeys.findById('AAAAAAAAAAAA');

    await expect(lookup).rejects.toBeInstanceOf(StoreUnavailableError);
    const error = (await lookup.catch((caught: unknown) => caught)) as StoreUnavailableError;
    expect(error.code).toBe('BWK_ERR_STORE_UNAVAILABLE');
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).not.toContain('hunter2');
  });

  it('dropped database is unavailable', async () => {
    const created = await createTestDatabase();
    const stores = open(created.url);
    const { record } = await stores.apiKeys.create({ env: 'test', name: 'n', owner: 'o' });

    await created.drop();

    await expect(stores.apiKeys.findById(record.id)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('ready retries after a failure', async () => {
    const name = testDatabaseName();
    const stores = open(`postgres://postgres@127.0.0.1:5432/${name}`);

    await expect(stores.ready()).rejects.toBeInstanceOf(StoreUnavailableError);
    await createTestDatabase(name);
    databases.push(name);

    await stores.ready();
    const { record } = await stores.apiKeys.create({ env: 'test', name: 'n', owner: 'o' });
    expect((await stores.apiKeys.findById(record.id))?.id).toBe(record.id);
  });

  it('newer schema is refused', async () => {
    const url = await database();
    await open(url).ready();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`INSERT INTO bwk_schema_migrations (version, name) VALUES (99, 'future')`);
    await admin.end();

    const ready = open(url).ready();

    await expect(ready).rejects.toMatchObject({ code: 'BWK_ERR_STORE_SCHEMA' });
    await expect(ready).rejects.toThrow(/schema version 99, but this Bulwark supports up to 2/);
  });

  it('idle connection failure is logged', async () => {
    const url = await database();
    const { lines, logger } = logLines();
    const stores = open(url, { logger });
    await stores.ready();
    const { record } = await stores.apiKeys.create({ env: 'test', name: 'n', owner: 'o' });

    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = $1 AND application_name = 'bulwark'`,
      [new URL(url).pathname.slice(1)],
    );
    await admin.end();
    await until(() => lines.some((line) => line.msg === 'idle PostgreSQL connection failed'));

    expect(lines.find((line) => line.msg === 'idle PostgreSQL connection failed')?.level).toBe(40);
    expect((await stores.apiKeys.findById(record.id))?.id).toBe(record.id);
  });
});
