import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { ApiKeyGuard } from '../../src/auth/api-key-guard.js';
import { ApiKeyHasher } from '../../src/auth/api-key-store.js';
import { clientSecretMatches, type SigningKeyRecord } from '../../src/auth/client-store.js';
import { ManualClock } from '../../src/core/clock.js';
import { validatePolicy } from '../../src/core/config.js';
import { createContext } from '../../src/core/context.js';
import { InvalidArgumentError, StoreUnavailableError } from '../../src/core/errors.js';
import type { Reject, Verdict } from '../../src/core/guard.js';
import { compilePolicy } from '../../src/runtime/policy.js';
import type { CredentialStores } from '../../src/storage/credentials.js';
import { createMemoryCredentialStores } from '../../src/storage/memory-credentials.js';
import { createPostgresCredentialStores } from '../../src/storage/postgres-credentials.js';
import { createSqliteCredentialStores } from '../../src/storage/sqlite-credentials.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const PEPPER = randomBytes(32).toString('base64');
const START = 1_700_000_000_000;
const MINUTE = 60_000;

/** Storage that starts empty; every `open` is a new store instance on the same data. */
interface Target {
  open(clock: ManualClock): CredentialStores;
  /** Everything stored, as text, to search for secrets that must not be there. */
  dump(): Promise<string>;
  /** Versions of the migrations recorded as applied (persistent backends). */
  migrations?(): Promise<number[]>;
}

interface Backend {
  name: string;
  /** Data survives close and reopen, and several instances share it. */
  persistent: boolean;
  fresh(): Promise<Target>;
}

const tempDirs: string[] = [];
let database: TestDatabase;
let admin: pg.Pool;

beforeAll(async () => {
  database = await createTestDatabase();
  admin = new pg.Pool({ connectionString: database.url, max: 2 });
});

afterAll(async () => {
  await admin.end();
  await database.drop();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const memory: Backend = {
  name: 'memory',
  persistent: false,
  fresh: () => {
    let stores: CredentialStores | undefined;
    return Promise.resolve({
      open: (clock) => (stores = createMemoryCredentialStores({ pepper: PEPPER, clock })),
      // The memory stores keep exactly what they return, so their listings are the storage.
      dump: async () =>
        JSON.stringify([
          await stores!.apiKeys.list(),
          await stores!.clients.listClients(),
          await stores!.signingKeys.listSigningKeys(),
        ]),
    });
  },
};

const sqlite: Backend = {
  name: 'sqlite',
  persistent: true,
  fresh: () => {
    const dir = mkdtempSync(join(tmpdir(), 'bwk-credentials-'));
    tempDirs.push(dir);
    const path = join(dir, 'credentials.db');
    return Promise.resolve({
      open: (clock) => createSqliteCredentialStores({ path, pepper: PEPPER, clock }),
      // The database file and its write-ahead log, as raw bytes.
      dump: () =>
        Promise.resolve(
          [path, `${path}-wal`]
            .filter((file) => existsSync(file))
            .map((file) => readFileSync(file).toString('latin1'))
            .join('\n'),
        ),
      migrations: () => {
        const db = new Database(path, { readonly: true });
        try {
          // Migrations apply in order, so user_version n means versions 1 to n ran.
          const version = db.pragma('user_version', { simple: true }) as number;
          return Promise.resolve(Array.from({ length: version }, (_, index) => index + 1));
        } finally {
          db.close();
        }
      },
    });
  },
};

const POSTGRES_TABLES = [
  'bwk_api_keys',
  'bwk_clients',
  'bwk_client_secrets',
  'bwk_revoked_tokens',
  'bwk_signing_keys',
  'bwk_settings',
];

const postgres: Backend = {
  name: 'postgres',
  persistent: true,
  fresh: async () => {
    // Each test starts from an empty database, migrations included.
    await admin.query(
      `DROP TABLE IF EXISTS ${[...POSTGRES_TABLES, 'bwk_schema_migrations'].join(', ')} CASCADE`,
    );
    return {
      open: (clock) =>
        createPostgresCredentialStores({
          url: database.url,
          pepper: PEPPER,
          clock,
          maxConnections: 4,
        }),
      dump: async () => {
        const parts: string[] = [];
        for (const table of POSTGRES_TABLES) {
          const { rows } = await admin.query<{ dump: string | null }>(
            `SELECT json_agg(t)::text AS dump FROM ${table} t`,
          );
          parts.push(rows[0]?.dump ?? '');
        }
        return parts.join('\n');
      },
      migrations: async () => {
        const { rows } = await admin.query<{ version: number }>(
          'SELECT version FROM bwk_schema_migrations ORDER BY version',
        );
        return rows.map((row) => row.version);
      },
    };
  },
};

const defaultAuth = compilePolicy(validatePolicy({ auth: { methods: ['apiKey'] } })).defaultAuth;

describe.each([memory, sqlite, postgres])('$name credential stores', (backend) => {
  let clock: ManualClock;
  let target: Target;
  let opened: CredentialStores[];
  let guards: ApiKeyGuard[];

  async function open(): Promise<CredentialStores> {
    const stores = target.open(clock);
    opened.push(stores);
    await stores.ready();
    return stores;
  }

  function guardOn(stores: CredentialStores): ApiKeyGuard {
    const guard = new ApiKeyGuard({
      store: stores.apiKeys,
      pepper: PEPPER,
      clock,
      fallback: defaultAuth,
      lastUsedFlushIntervalMs: 3_600_000,
    });
    guards.push(guard);
    return guard;
  }

  async function verdict(guard: ApiKeyGuard, key: string): Promise<Verdict> {
    const ctx = createContext({
      id: 'req-1',
      correlationId: 'req-1',
      method: 'GET',
      url: '/orders',
      headers: { authorization: `Bearer ${key}` },
      ip: '127.0.0.1',
      remoteAddress: '127.0.0.1',
      receivedAt: 0,
    });
    return guard.check(ctx);
  }

  function reasonOf(result: Verdict): unknown {
    expect(result.action).toBe('reject');
    return (result as Reject).problem.reason;
  }

  beforeEach(async () => {
    clock = new ManualClock(START);
    target = await backend.fresh();
    opened = [];
    guards = [];
  });

  afterEach(async () => {
    for (const guard of guards) await guard.close();
    for (const stores of opened) await stores.close();
  });

  describe('api keys', () => {
    it('create stores only the HMAC', async () => {
      const stores = await open();

      const { key, record } = await stores.apiKeys.create({
        env: 'live',
        name: 'ci',
        owner: 'team-a',
        scopes: ['orders:read'],
      });

      const dump = await target.dump();
      const secretPart = key.slice('bwk_live_'.length + 12, -6);
      expect(dump.includes(record.hash)).toBe(true);
      expect(dump.includes(key)).toBe(false);
      expect(dump.includes(secretPart)).toBe(false);
      expect(record.hash).toBe(new ApiKeyHasher(PEPPER).hash(key));
    });

    it('findById returns the created record', async () => {
      const stores = await open();
      const { record } = await stores.apiKeys.create({
        env: 'test',
        name: 'billing',
        owner: 'team-b',
        scopes: ['a', 'b'],
        plan: 'pro',
        expiresAt: START + MINUTE,
      });

      const found = await stores.apiKeys.findById(record.id);

      expect(found).toStrictEqual(record);
      expect(record).toStrictEqual({
        id: record.id,
        hash: record.hash,
        env: 'test',
        name: 'billing',
        owner: 'team-b',
        scopes: ['a', 'b'],
        plan: 'pro',
        createdAt: START,
        expiresAt: START + MINUTE,
        status: 'active',
      });
    });

    it('optional fields stay absent', async () => {
      const stores = await open();
      const { record } = await stores.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });

      const found = await stores.apiKeys.findById(record.id);

      expect(found).toStrictEqual({
        id: record.id,
        hash: record.hash,
        env: 'live',
        name: 'n',
        owner: 'o',
        scopes: [],
        createdAt: START,
        status: 'active',
      });
    });

    it('unknown id is undefined', async () => {
      const stores = await open();

      expect(await stores.apiKeys.findById('AAAAAAAAAAAA')).toBeUndefined();
    });

    it('returned records are copies', async () => {
      const stores = await open();
      const { record } = await stores.apiKeys.create({
        env: 'live',
        name: 'n',
        owner: 'o',
        scopes: ['x'],
      });
      record.scopes.push('admin');
      const found = await stores.apiKeys.findById(record.id);
      found!.scopes.push('admin');
      found!.status = 'revoked';

      const again = await stores.apiKeys.findById(record.id);

      expect(again?.scopes).toEqual(['x']);
      expect(again?.status).toBe('active');
    });

    it('list filters by owner', async () => {
      const stores = await open();
      const first = await stores.apiKeys.create({ env: 'live', name: '1', owner: 'a' });
      const second = await stores.apiKeys.create({ env: 'live', name: '2', owner: 'b' });
      const third = await stores.apiKeys.create({ env: 'live', name: '3', owner: 'a' });

      const all = await stores.apiKeys.list();
      const ofA = await stores.apiKeys.list({ owner: 'a' });

      expect(all.map((record) => record.id).sort()).toEqual(
        [first.record.id, second.record.id, third.record.id].sort(),
      );
      expect(ofA.map((record) => record.id).sort()).toEqual(
        [first.record.id, third.record.id].sort(),
      );
      expect(await stores.apiKeys.list({ owner: 'nobody' })).toEqual([]);
    });

    it('revoke marks the key revoked', async () => {
      const stores = await open();
      const guard = guardOn(stores);
      const { key, record } = await stores.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });

      expect(await stores.apiKeys.revoke(record.id)).toBe(true);
      expect(await stores.apiKeys.revoke(record.id)).toBe(true);
      expect(await stores.apiKeys.revoke('AAAAAAAAAAAA')).toBe(false);

      expect((await stores.apiKeys.findById(record.id))?.status).toBe('revoked');
      expect(reasonOf(await verdict(guard, key))).toBe('revoked');
    });

    it('rotated key works inside grace', async () => {
      const stores = await open();
      const guard = guardOn(stores);
      const old = await stores.apiKeys.create({
        env: 'live',
        name: 'ci',
        owner: 'team-a',
        scopes: ['x'],
        plan: 'pro',
      });

      const successor = await stores.apiKeys.rotate(old.record.id, 10 * MINUTE);
      clock.advance(10 * MINUTE - 1);

      expect((await verdict(guard, old.key)).action).toBe('continue');
      expect((await verdict(guard, successor.key)).action).toBe('continue');
      expect(successor.record.id).not.toBe(old.record.id);
      expect(successor.record).toMatchObject({
        env: 'live',
        name: 'ci',
        owner: 'team-a',
        scopes: ['x'],
        plan: 'pro',
        status: 'active',
        createdAt: START,
      });
      expect(await stores.apiKeys.findById(successor.record.id)).toStrictEqual(successor.record);
      expect(await stores.apiKeys.findById(old.record.id)).toMatchObject({
        status: 'rotated',
        replacedBy: successor.record.id,
        expiresAt: START + 10 * MINUTE,
      });
    });

    it('rotated key stops after grace', async () => {
      const stores = await open();
      const guard = guardOn(stores);
      const old = await stores.apiKeys.create({ env: 'live', name: 'ci', owner: 'team-a' });

      const successor = await stores.apiKeys.rotate(old.record.id, 10 * MINUTE);
      clock.advance(10 * MINUTE);

      expect(reasonOf(await verdict(guard, old.key))).toBe('rotated');
      expect((await verdict(guard, successor.key)).action).toBe('continue');
    });

    it('rotation keeps an earlier expiry', async () => {
      const stores = await open();
      const expiresAt = START + MINUTE;
      const old = await stores.apiKeys.create({ env: 'live', name: 'n', owner: 'o', expiresAt });

      const successor = await stores.apiKeys.rotate(old.record.id, 10 * MINUTE);

      expect((await stores.apiKeys.findById(old.record.id))?.expiresAt).toBe(expiresAt);
      expect(successor.record.expiresAt).toBe(expiresAt);
    });

    it('rotation with zero grace ends at once', async () => {
      const stores = await open();
      const guard = guardOn(stores);
      const old = await stores.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });

      await stores.apiKeys.rotate(old.record.id, 0);

      expect(reasonOf(await verdict(guard, old.key))).toBe('rotated');
    });

    it.each([
      ['revoked', 'revoked'],
      ['rotated', 'rotated'],
      ['unknown', 'unknown'],
    ])('%s key cannot be rotated', async (_name, state) => {
      const stores = await open();
      const { record } = await stores.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });
      if (state === 'revoked') await stores.apiKeys.revoke(record.id);
      if (state === 'rotated') await stores.apiKeys.rotate(record.id, MINUTE);
      const id = state === 'unknown' ? 'AAAAAAAAAAAA' : record.id;

      const rotation = stores.apiKeys.rotate(id, MINUTE);

      await expect(rotation).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(rotation).rejects.toThrow(`no active API key with id "${id}"`);
    });

    it.each([-1, Number.NaN, Infinity])('grace %s is rejected', async (graceMs) => {
      const stores = await open();
      const { record } = await stores.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });

      const rotation = stores.apiKeys.rotate(record.id, graceMs);

      await expect(rotation).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(rotation).rejects.toThrow(`invalid grace period ${graceMs} ms: use 0 or more`);
      expect((await stores.apiKeys.findById(record.id))?.status).toBe('active');
    });

    it('concurrent rotations issue one successor', async () => {
      const stores = await open();
      const other = backend.persistent ? await open() : stores;
      const { record } = await stores.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });

      const results = await Promise.allSettled(
        [stores, other, stores, other, stores].map((each) =>
          each.apiKeys.rotate(record.id, MINUTE),
        ),
      );

      const succeeded = results.filter((result) => result.status === 'fulfilled');
      const failed = results.filter((result) => result.status === 'rejected');
      expect(succeeded).toHaveLength(1);
      for (const failure of failed) expect(String(failure.reason)).toMatch(/no active API key/);
      const successorId = succeeded[0]!.value.record.id;
      expect((await stores.apiKeys.findById(record.id))?.replacedBy).toBe(successorId);
      expect(await stores.apiKeys.list({ owner: 'o' })).toHaveLength(2);
    });

    it('touchLastUsed only moves forward', async () => {
      const stores = await open();
      const first = await stores.apiKeys.create({ env: 'live', name: '1', owner: 'o' });
      const second = await stores.apiKeys.create({ env: 'live', name: '2', owner: 'o' });

      await stores.apiKeys.touchLastUsed(new Set([first.record.id, 'AAAAAAAAAAAA']), START + 500);
      await stores.apiKeys.touchLastUsed([first.record.id, second.record.id], START + 100);
      await stores.apiKeys.touchLastUsed([], START + 900);

      expect((await stores.apiKeys.findById(first.record.id))?.lastUsedAt).toBe(START + 500);
      expect((await stores.apiKeys.findById(second.record.id))?.lastUsedAt).toBe(START + 100);
    });
  });

  describe('clients', () => {
    const hasher = new ApiKeyHasher(PEPPER);

    it('create stores only the HMAC', async () => {
      const stores = await open();

      const issued = await stores.clients.create({
        name: 'billing',
        owner: 'team-a',
        scopes: ['orders:read'],
        plan: 'pro',
      });

      const dump = await target.dump();
      expect(issued.clientId).toMatch(/^bwc_[0-9A-Za-z]{20}$/);
      expect(issued.clientSecret).toMatch(/^bws_[0-9A-Za-z]{43}$/);
      expect(dump.includes(issued.record.secrets[0]!.hash)).toBe(true);
      expect(dump.includes(issued.clientSecret.slice(4))).toBe(false);
      expect(clientSecretMatches(issued.record, issued.clientSecret, hasher, START)).toBe(true);
    });

    it('findClient returns the created record', async () => {
      const stores = await open();
      const issued = await stores.clients.create({ name: 'n', owner: 'o', scopes: ['a'] });

      const found = await stores.clients.findClient(issued.clientId);

      expect(found).toStrictEqual(issued.record);
      expect(found).toStrictEqual({
        id: issued.clientId,
        name: 'n',
        owner: 'o',
        scopes: ['a'],
        createdAt: START,
        secrets: [
          {
            id: issued.record.secrets[0]!.id,
            hash: issued.record.secrets[0]!.hash,
            createdAt: START,
          },
        ],
      });
      expect(await stores.clients.findClient('bwc_unknown')).toBeUndefined();
    });

    it('returned clients are copies', async () => {
      const stores = await open();
      const issued = await stores.clients.create({ name: 'n', owner: 'o', scopes: ['a'] });
      issued.record.scopes.push('admin');
      issued.record.secrets[0]!.expiresAt = START;

      const found = await stores.clients.findClient(issued.clientId);

      expect(found?.scopes).toEqual(['a']);
      expect(found?.secrets[0]?.expiresAt).toBeUndefined();
    });

    it('listClients filters by owner', async () => {
      const stores = await open();
      const first = await stores.clients.create({ name: '1', owner: 'a' });
      await stores.clients.create({ name: '2', owner: 'b' });
      await stores.clients.rotateSecret(first.clientId, MINUTE);

      const all = await stores.clients.listClients();
      const ofA = await stores.clients.listClients({ owner: 'a' });

      expect(all).toHaveLength(2);
      expect(ofA).toHaveLength(1);
      expect(ofA[0]).toStrictEqual(await stores.clients.findClient(first.clientId));
      expect(ofA[0]?.secrets).toHaveLength(2);
    });

    it('rotated secret works inside overlap', async () => {
      const stores = await open();
      const issued = await stores.clients.create({ name: 'n', owner: 'o' });

      const rotated = await stores.clients.rotateSecret(issued.clientId, 10 * MINUTE);
      const record = (await stores.clients.findClient(issued.clientId))!;

      expect(record).toStrictEqual(rotated.record);
      expect(record.secrets.map((secret) => secret.expiresAt)).toEqual([
        START + 10 * MINUTE,
        undefined,
      ]);
      const inside = START + 10 * MINUTE - 1;
      expect(clientSecretMatches(record, issued.clientSecret, hasher, inside)).toBe(true);
      expect(clientSecretMatches(record, rotated.clientSecret, hasher, inside)).toBe(true);
      expect(clientSecretMatches(record, issued.clientSecret, hasher, inside + 1)).toBe(false);
      expect((await target.dump()).includes(rotated.clientSecret.slice(4))).toBe(false);
    });

    it('rotation drops ended secrets', async () => {
      const stores = await open();
      const issued = await stores.clients.create({ name: 'n', owner: 'o' });

      await stores.clients.rotateSecret(issued.clientId, MINUTE);
      clock.advance(MINUTE);
      const last = await stores.clients.rotateSecret(issued.clientId, 0);

      expect(last.record.secrets).toHaveLength(1);
      expect(last.record.secrets[0]?.expiresAt).toBeUndefined();
      expect(clientSecretMatches(last.record, last.clientSecret, hasher, clock.now())).toBe(true);
    });

    it('concurrent secret rotations keep one current', async () => {
      const stores = await open();
      const other = backend.persistent ? await open() : stores;
      const issued = await stores.clients.create({ name: 'n', owner: 'o' });

      await Promise.all(
        [stores, other, stores, other].map((each) =>
          each.clients.rotateSecret(issued.clientId, MINUTE),
        ),
      );

      const secrets = (await stores.clients.findClient(issued.clientId))!.secrets;
      expect(secrets).toHaveLength(5);
      expect(secrets.filter((secret) => secret.expiresAt === undefined)).toHaveLength(1);
    });

    it('rotateSecret rejects bad input', async () => {
      const stores = await open();
      const issued = await stores.clients.create({ name: 'n', owner: 'o' });

      await expect(stores.clients.rotateSecret('bwc_unknown', MINUTE)).rejects.toThrow(
        'no OAuth client with id "bwc_unknown"',
      );
      await expect(stores.clients.rotateSecret(issued.clientId, -5)).rejects.toThrow(
        'invalid grace period -5 ms: use 0 or more',
      );
      await expect(stores.clients.rotateSecret(issued.clientId, -5)).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    });

    it('deleteClient removes it', async () => {
      const stores = await open();
      const issued = await stores.clients.create({ name: 'n', owner: 'o' });

      expect(await stores.clients.deleteClient(issued.clientId)).toBe(true);
      expect(await stores.clients.deleteClient(issued.clientId)).toBe(false);

      expect(await stores.clients.findClient(issued.clientId)).toBeUndefined();
      expect(await stores.clients.listClients()).toEqual([]);
    });
  });

  describe('revoked tokens', () => {
    it('revoked token is found', async () => {
      const stores = await open();

      await stores.revokedTokens.revokeToken('jti-1', START + MINUTE);

      expect(await stores.revokedTokens.isTokenRevoked('jti-1')).toBe(true);
      expect(await stores.revokedTokens.isTokenRevoked('jti-2')).toBe(false);
    });

    it('purge removes expired entries', async () => {
      const stores = await open();
      await stores.revokedTokens.revokeToken('early', START + MINUTE);
      await stores.revokedTokens.revokeToken('exact', START + 2 * MINUTE);
      await stores.revokedTokens.revokeToken('late', START + 3 * MINUTE);

      expect(await stores.revokedTokens.purgeRevokedTokens(START + 2 * MINUTE)).toBe(2);
      expect(await stores.revokedTokens.purgeRevokedTokens(START + 2 * MINUTE)).toBe(0);

      expect(await stores.revokedTokens.isTokenRevoked('early')).toBe(false);
      expect(await stores.revokedTokens.isTokenRevoked('exact')).toBe(false);
      expect(await stores.revokedTokens.isTokenRevoked('late')).toBe(true);
    });

    it('second revocation keeps the later expiry', async () => {
      const stores = await open();
      await stores.revokedTokens.revokeToken('jti', START + 3 * MINUTE);
      await stores.revokedTokens.revokeToken('jti', START + MINUTE);

      expect(await stores.revokedTokens.purgeRevokedTokens(START + 2 * MINUTE)).toBe(0);
      expect(await stores.revokedTokens.isTokenRevoked('jti')).toBe(true);
    });
  });

  describe('signing keys', () => {
    function signingKey(kid: string, createdAt: number): SigningKeyRecord {
      return {
        kid,
        alg: 'EdDSA',
        publicJwk: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: kid }),
        privateKey: `encrypted-${kid}`,
        createdAt,
      };
    }

    it('list is ordered by createdAt', async () => {
      const stores = await open();
      await stores.signingKeys.addSigningKey(signingKey('newer', START + 2));
      await stores.signingKeys.addSigningKey(signingKey('older', START + 1));
      await stores.signingKeys.addSigningKey(signingKey('newest', START + 3));

      const keys = await stores.signingKeys.listSigningKeys();

      expect(keys.map((key) => key.kid)).toEqual(['older', 'newer', 'newest']);
      expect(keys[0]).toStrictEqual(signingKey('older', START + 1));
    });

    it('duplicate kid is rejected', async () => {
      const stores = await open();
      await stores.signingKeys.addSigningKey(signingKey('k1', START));

      const added = stores.signingKeys.addSigningKey(signingKey('k1', START + 1));

      await expect(added).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(added).rejects.toThrow('signing key "k1" exists');
      expect(await stores.signingKeys.listSigningKeys()).toHaveLength(1);
    });

    it('retire sets retiredAt once', async () => {
      const stores = await open();
      await stores.signingKeys.addSigningKey(signingKey('k1', START));

      await stores.signingKeys.retireSigningKey('k1', START + 10);
      await stores.signingKeys.retireSigningKey('k1', START + 20);
      await stores.signingKeys.retireSigningKey('unknown', START + 20);

      expect((await stores.signingKeys.listSigningKeys())[0]?.retiredAt).toBe(START + 10);
    });

    it('delete removes the key', async () => {
      const stores = await open();
      await stores.signingKeys.addSigningKey(signingKey('k1', START));
      await stores.signingKeys.addSigningKey(signingKey('k2', START));

      await stores.signingKeys.deleteSigningKey('k1');
      await stores.signingKeys.deleteSigningKey('unknown');

      expect((await stores.signingKeys.listSigningKeys()).map((key) => key.kid)).toEqual(['k2']);
    });

    it('listed keys are copies', async () => {
      const stores = await open();
      await stores.signingKeys.addSigningKey(signingKey('k1', START));
      const [listed] = await stores.signingKeys.listSigningKeys();
      listed!.retiredAt = START;

      expect((await stores.signingKeys.listSigningKeys())[0]?.retiredAt).toBeUndefined();
    });
  });

  describe.runIf(backend.persistent)('persistence', () => {
    it('instances see each other', async () => {
      const writer = await open();
      const reader = await open();

      const { record } = await writer.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });
      expect(await reader.apiKeys.findById(record.id)).toStrictEqual(record);
      await reader.apiKeys.revoke(record.id);
      const client = await reader.clients.create({ name: 'n', owner: 'o' });

      expect((await writer.apiKeys.findById(record.id))?.status).toBe('revoked');
      expect(await writer.clients.findClient(client.clientId)).toStrictEqual(client.record);
    });

    it('data survives reopen', async () => {
      const first = await open();
      const { record } = await first.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });
      const client = await first.clients.create({ name: 'n', owner: 'o' });
      await first.revokedTokens.revokeToken('jti', START + MINUTE);
      await first.signingKeys.addSigningKey({
        kid: 'k1',
        alg: 'ES256',
        publicJwk: '{}',
        privateKey: 'encrypted',
        createdAt: START,
      });
      await first.close();

      const second = await open();

      expect(await second.apiKeys.findById(record.id)).toStrictEqual(record);
      expect(await second.clients.findClient(client.clientId)).toStrictEqual(client.record);
      expect(await second.revokedTokens.isTokenRevoked('jti')).toBe(true);
      expect(await second.signingKeys.listSigningKeys()).toHaveLength(1);
    });

    it('ready twice is harmless', async () => {
      const stores = await open();

      await stores.ready();
      await stores.ready();

      expect(await target.migrations!()).toEqual([1, 2]);
      expect(await stores.apiKeys.list()).toEqual([]);
    });

    it('migrations run once on reopen', async () => {
      const first = await open();
      await first.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });
      await first.close();

      const second = await open();

      expect(await target.migrations!()).toEqual([1, 2]);
      expect(await second.apiKeys.list()).toHaveLength(1);
    });

    it('concurrent first opens migrate once', async () => {
      const instances = [target.open(clock), target.open(clock), target.open(clock)];
      opened.push(...instances);

      await Promise.all(instances.map((stores) => stores.ready()));

      expect(await target.migrations!()).toEqual([1, 2]);
    });

    it('call without ready opens the store', async () => {
      const stores = target.open(clock);
      opened.push(stores);

      const { record } = await stores.apiKeys.create({ env: 'live', name: 'n', owner: 'o' });

      expect(await stores.apiKeys.findById(record.id)).toStrictEqual(record);
    });

    it('closed store is unavailable', async () => {
      const stores = await open();
      await stores.close();

      await expect(stores.apiKeys.findById('AAAAAAAAAAAA')).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
    });

    it('fractional time is rejected', async () => {
      const stores = await open();

      const created = stores.apiKeys.create({
        env: 'live',
        name: 'n',
        owner: 'o',
        expiresAt: START + 0.5,
      });

      await expect(created).rejects.toThrow(
        `invalid expiresAt ${START + 0.5}: use epoch milliseconds, a non-negative integer`,
      );
      expect(await stores.apiKeys.list()).toEqual([]);
    });
  });
});
