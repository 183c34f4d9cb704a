import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfigFile } from '../../src/core/config.js';
import type { ApiKeyView } from '../../src/gateway/credential-input.js';
import { Gateway } from '../../src/gateway/server.js';
import { send } from '../helpers/http.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { CliWorkspace } from './credential-cli.js';

const DEFAULT_PEPPER_ENV = 'BULWARK_API_KEY_PEPPER';

interface Issued {
  key: string;
  record: ApiKeyView;
}

type CliResult = Awaited<ReturnType<CliWorkspace['run']>>;

let workspace: CliWorkspace;
let config: string;
let savedPepper: string | undefined;

beforeAll(() => {
  workspace = new CliWorkspace();
  config = workspace.writeConfig('sqlite.yaml', { dataDir: join(workspace.dir, 'state') });
  savedPepper = process.env[DEFAULT_PEPPER_ENV];
  process.env[DEFAULT_PEPPER_ENV] = randomBytes(32).toString('base64');
});

/** Creates a key through the CLI in the store that `file` names. */
function create(owner: string, file = config): Promise<Issued> {
  return workspace.json<Issued>(['keys', 'create', '-c', file, '--name', 'ci', '--owner', owner]);
}

afterAll(() => {
  workspace.remove();
  if (savedPepper === undefined) delete process.env[DEFAULT_PEPPER_ENV];
  else process.env[DEFAULT_PEPPER_ENV] = savedPepper;
});

describe('bulwark keys create without a config file', () => {
  let result: CliResult;

  beforeAll(async () => {
    result = await workspace.run(['keys', 'create', '--name', 'ci', '--owner', 'team-log']);
  });

  it('prints the key once with a warning', () => {
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Created API key [0-9A-Za-z]{12} \(name "ci", owner "team-log"/);
    expect(result.stdout).toMatch(/\n {2}bwk_live_[0-9A-Za-z]{46}\n/);
    expect(result.stdout).toContain('it is not shown again');
  });

  it('uses SQLite in ./data', () => {
    expect(existsSync(join(workspace.dir, 'data', 'credentials.db'))).toBe(true);
  });

  it('logs the change without the key', () => {
    const key = /bwk_live_\S+/.exec(result.stdout)?.[0];
    const line = result.stderr.split('\n').find((text) => text.includes('API key created'));
    expect(line).toBeDefined();
    const logged = JSON.parse(line!) as Record<string, unknown>;
    expect(logged).toMatchObject({ event: 'credential.created', owner: 'team-log' });
    expect(logged.actor).toMatchObject({ type: 'user', via: 'cli' });
    expect(result.stderr).not.toContain(key);
  });
});

describe('bulwark keys', () => {
  it('create --json returns key and record', async () => {
    const issued = await workspace.json<Issued>([
      'keys',
      'create',
      '-c',
      config,
      '--name',
      'billing',
      '--owner',
      'team-json',
      '--env',
      'test',
      '--scope',
      'orders:read orders:write',
      '--scope',
      'refunds:write',
      '--plan',
      'pro',
      '--expires',
      '90d',
    ]);

    expect(issued.key).toMatch(/^bwk_test_/);
    expect(issued.record).toMatchObject({
      name: 'billing',
      owner: 'team-json',
      env: 'test',
      scopes: ['orders:read', 'orders:write', 'refunds:write'],
      plan: 'pro',
      status: 'active',
    });
    expect(issued.record).not.toHaveProperty('hash');
    expect(Date.parse(issued.record.expiresAt!)).toBeGreaterThan(Date.now() + 89 * 86_400_000);
  });

  it('list prints a table and filters by owner', async () => {
    const issued = await create('team-table');

    const list = ['keys', 'list', '-c', config, '--owner', 'team-table'];
    const table = await workspace.run(list);
    const listed = await workspace.json<ApiKeyView[]>(list);

    expect(table.code).toBe(0);
    const [header, row, extra] = table.stdout.trimEnd().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual([
      'ID',
      'NAME',
      'OWNER',
      'ENV',
      'SCOPES',
      'PLAN',
      'STATUS',
      'CREATED',
      'EXPIRES',
      'LAST USED',
    ]);
    expect(row).toMatch(
      new RegExp(`^${issued.record.id}\\s+ci\\s+team-table\\s+live\\s+-\\s+-\\s+active\\s`),
    );
    expect(extra).toBeUndefined();
    expect(table.stdout).not.toContain(issued.key);
    expect(listed.map((key) => key.id)).toEqual([issued.record.id]);
  });

  it('rotate issues a successor with grace', async () => {
    const issued = await create('team-rotate');
    const before = Date.now();

    const rotated = await workspace.json<Issued & { previous: ApiKeyView }>([
      'keys',
      'rotate',
      issued.record.id,
      '-c',
      config,
      '--grace',
      '2h',
    ]);

    expect(rotated.key).not.toBe(issued.key);
    expect(rotated.previous).toMatchObject({ status: 'rotated', replacedBy: rotated.record.id });
    const graceEnd = Date.parse(rotated.previous.expiresAt!);
    expect(graceEnd).toBeGreaterThanOrEqual(before + 7_200_000);
    expect(graceEnd).toBeLessThanOrEqual(Date.now() + 7_200_000);
  });

  it('revoke marks the key revoked', async () => {
    const issued = await create('team-revoke');

    const result = await workspace.run(['keys', 'revoke', issued.record.id, '-c', config]);
    const shown = await workspace.run(['keys', 'show', issued.record.id, '-c', config]);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Revoked API key ${issued.record.id}`);
    expect(shown.stdout).toContain(`id:          ${issued.record.id}\n`);
    expect(shown.stdout).toContain('owner:       team-revoke\n');
    expect(shown.stdout).toContain('status:      revoked\n');
    expect(shown.stdout).not.toContain(issued.key);
  });

  it('unknown id exits 2', async () => {
    const result = await workspace.run(['keys', 'revoke', 'AAAAAAAAAAAA', '-c', config]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bulwark: no API key with id "AAAAAAAAAAAA"');
  });

  it('missing name exits 2', async () => {
    const result = await workspace.run(['keys', 'create', '-c', config, '--owner', 'a']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bulwark: --name is required');
    expect(result.stdout).toBe('');
  });

  it('invalid values exit 2 naming each', async () => {
    const flags = [
      '--name',
      'a',
      '--owner',
      'a',
      '--env',
      'Live',
      '--scope',
      'a"b',
      '--expires',
      '10x',
    ];

    const result = await workspace.run(['keys', 'create', '-c', config, ...flags]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid --env "Live"');
    expect(result.stderr).toContain('invalid --scope "a\\"b"');
    expect(result.stderr).toContain('invalid --expires "10x"');
    expect(result.stdout).toBe('');
  });

  it('both expiry flags exit 2', async () => {
    const flags = ['--expires', '1d', '--expires-at', '2999-01-01T00:00:00Z'];

    const result = await workspace.run([
      'keys',
      'create',
      '-c',
      config,
      '--name',
      'a',
      '--owner',
      'a',
      ...flags,
    ]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('set either expiresIn or expiresAt');
  });

  it('too long grace exits 2', async () => {
    const result = await workspace.run([
      'keys',
      'rotate',
      'AAAAAAAAAAAA',
      '-c',
      config,
      '--grace',
      '100d',
    ]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid --grace "100d": must be from 0s to 90d');
  });
});

describe('bulwark keys without a pepper', () => {
  it('exits 2 naming the variable', async () => {
    const path = workspace.writeConfig('no-pepper.yaml', { dataDir: join(workspace.dir, 'x') });
    delete process.env[workspace.pepperEnv];
    try {
      const result = await workspace.run(['keys', 'list', '-c', path]);

      expect(result.code).toBe(2);
      expect(result.stderr).toContain(workspace.pepperEnv);
    } finally {
      process.env[workspace.pepperEnv] = workspace.pepper;
    }
  });
});

describe('bulwark keys with a running gateway', () => {
  let upstream: Upstream;
  let gateway: Gateway;
  let gatewayConfig: string;

  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => res.end('upstream'));
    gatewayConfig = workspace.writeConfig(
      'gateway.yaml',
      { dataDir: join(workspace.dir, 'shared') },
      `routes:\n  - { match: GET /orders, auth: { methods: [apiKey] } }\n`,
    );
    const loaded = loadConfigFile(gatewayConfig);
    gateway = new Gateway({ ...loaded, upstream: upstream.url });
    await gateway.listen();
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  function callGateway(key: string) {
    return send(gateway.url, '/orders', { headers: { authorization: `Bearer ${key}` } });
  }

  it('gateway accepts a key the CLI created', async () => {
    const issued = await create('team-gw', gatewayConfig);

    const reply = await callGateway(issued.key);

    expect(reply.status).toBe(200);
    expect(reply.text).toBe('upstream');
  });

  it('gateway rejects a key the CLI revoked', async () => {
    const issued = await create('team-gw', gatewayConfig);
    expect((await callGateway(issued.key)).status).toBe(200);

    await workspace.json(['keys', 'revoke', issued.record.id, '-c', gatewayConfig]);

    // Without Redis the gateway reads the change from the store when its cache entry expires.
    expect(await eventualStatus(() => callGateway(issued.key), 401)).toBe(401);
  });
});

describe('bulwark keys on PostgreSQL', () => {
  let database: TestDatabase;
  let postgresConfig: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    postgresConfig = workspace.writeConfig('postgres.yaml', { postgres: database.url });
  });

  afterAll(async () => {
    await database.drop();
  });

  it('create and list use the database', async () => {
    const issued = await create('team-pg', postgresConfig);

    const keys = await workspace.json<ApiKeyView[]>(['keys', 'list', '-c', postgresConfig]);

    expect(keys.map((key) => key.id)).toEqual([issued.record.id]);
  });
});

/** Repeats `call` until it returns `expected` or five seconds pass; returns the last status. */
async function eventualStatus(
  call: () => Promise<{ status: number }>,
  expected: number,
): Promise<number> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const { status } = await call();
    if (status === expected || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
