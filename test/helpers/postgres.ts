import { randomBytes } from 'node:crypto';

import pg from 'pg';

/** The maintenance database of the local PostgreSQL, used only to create and drop others. */
export const POSTGRES_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database of one test file's own, dropped by `drop()`. */
export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Returns a fresh name of the form `bwk_test_<random>`. */
export function testDatabaseName(): string {
  return `bwk_test_${randomBytes(6).toString('hex')}`;
}

/** Creates an empty database on the local PostgreSQL, named `bwk_test_<random>` by default. */
export async function createTestDatabase(name = testDatabaseName()): Promise<TestDatabase> {
  checkName(name);
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    drop: () => dropDatabase(name),
  };
}

/**
 * Ends every connection to the database, then drops it. Connections left open by a store
 * under test would otherwise make DROP DATABASE fail.
 */
export async function dropDatabase(name: string): Promise<void> {
  checkName(name);
  await withAdmin(async (client) => {
    await client.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    await client.query(`DROP DATABASE IF EXISTS ${name}`);
  });
}

// The name is written into the statement, so only names of the test form are accepted.
function checkName(name: string): void {
  if (!/^bwk_test_[0-9a-f]+$/.test(name)) throw new Error(`not a test database name: ${name}`);
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
