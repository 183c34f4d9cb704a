import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ApiKeyHasher } from '../../src/auth/api-key-store.js';
import { clientSecretMatches } from '../../src/auth/client-store.js';
import type { ClientView } from '../../src/gateway/credential-input.js';
import type { CredentialStores } from '../../src/storage/credentials.js';
import { openCredentialStores } from '../../src/storage/open-credentials.js';
import { CliWorkspace } from './credential-cli.js';

interface IssuedClient {
  client_id: string;
  client_secret: string;
  record: ClientView;
}

let workspace: CliWorkspace;
let config: string;
let dataDir: string;
/** The store the CLI writes, opened here to check secrets against their hashes. */
let stores: CredentialStores;

beforeAll(async () => {
  workspace = new CliWorkspace();
  dataDir = join(workspace.dir, 'state');
  config = workspace.writeConfig('bulwark.yaml', { dataDir });
  stores = openCredentialStores({ dataDir, pepper: workspace.pepper });
  await stores.ready();
});

afterAll(async () => {
  await stores.close();
  workspace.remove();
});

function create(owner: string): Promise<IssuedClient> {
  return workspace.json<IssuedClient>([
    'clients',
    'create',
    '-c',
    config,
    '--name',
    'billing',
    '--owner',
    owner,
    '--scope',
    'orders:read',
  ]);
}

function rotateSecret(id: string, grace: string): Promise<IssuedClient> {
  return workspace.json<IssuedClient>([
    'clients',
    'rotate-secret',
    id,
    '-c',
    config,
    '--grace',
    grace,
  ]);
}

async function secretWorks(id: string, secret: string): Promise<boolean> {
  const record = await stores.clients.findClient(id);
  if (record === undefined) return false;
  return clientSecretMatches(record, secret, new ApiKeyHasher(workspace.pepper), Date.now());
}

describe('bulwark clients', () => {
  it('create prints the secret once with a warning', async () => {
    // ./bulwark.yaml in the working directory is read without --config.
    const result = await workspace.run([
      'clients',
      'create',
      '--name',
      'billing',
      '--owner',
      'team-text',
      '--scope',
      'orders:read orders:write',
      '--plan',
      'pro',
    ]);

    expect(result.code).toBe(0);
    const id = /client_id: +(bwc_\w+)/.exec(result.stdout)?.[1];
    const secret = /client_secret: +(bws_\w+)/.exec(result.stdout)?.[1];
    expect(result.stdout).toContain('it is not shown again');
    expect(await secretWorks(id!, secret!)).toBe(true);
    expect(result.stderr).not.toContain(secret);
    const record = await stores.clients.findClient(id!);
    expect(record).toMatchObject({
      owner: 'team-text',
      scopes: ['orders:read', 'orders:write'],
      plan: 'pro',
    });
  });

  it('list prints a table and filters by owner', async () => {
    const issued = await create('team-list');

    const list = ['clients', 'list', '-c', config, '--owner', 'team-list'];
    const table = await workspace.run(list);
    const listed = await workspace.json<ClientView[]>(list);

    expect(table.code).toBe(0);
    const [header, row, extra] = table.stdout.trimEnd().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual([
      'CLIENT ID',
      'NAME',
      'OWNER',
      'SCOPES',
      'PLAN',
      'CREATED',
      'SECRETS',
    ]);
    expect(row).toMatch(
      new RegExp(`^${issued.client_id}\\s+billing\\s+team-list\\s+orders:read\\s`),
    );
    expect(extra).toBeUndefined();
    expect(listed.map((client) => client.id)).toEqual([issued.client_id]);
    expect(JSON.stringify(listed)).not.toContain('hash');
  });

  it('rotate-secret keeps the old secret in grace', async () => {
    const issued = await create('team-rotate');

    const rotated = await rotateSecret(issued.client_id, '1h');
    const shown = await workspace.run(['clients', 'show', issued.client_id, '-c', config]);

    expect(rotated.client_secret).not.toBe(issued.client_secret);
    expect(await secretWorks(issued.client_id, rotated.client_secret)).toBe(true);
    expect(await secretWorks(issued.client_id, issued.client_secret)).toBe(true);
    expect(shown.stdout.match(/^secret: /gm)).toHaveLength(2);
    expect(shown.stdout).toContain('current');
  });

  it('rotate-secret with zero grace ends the old secret', async () => {
    const issued = await create('team-zero');

    await rotateSecret(issued.client_id, '0s');

    expect(await secretWorks(issued.client_id, issued.client_secret)).toBe(false);
  });

  it('delete removes the client', async () => {
    const issued = await create('team-delete');

    const result = await workspace.run(['clients', 'delete', issued.client_id, '-c', config]);
    const again = await workspace.run(['clients', 'delete', issued.client_id, '-c', config]);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Deleted OAuth client ${issued.client_id}`);
    expect(await stores.clients.findClient(issued.client_id)).toBeUndefined();
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`no OAuth client with id "${issued.client_id}"`);
  });

  it('invalid values exit 2 naming each', async () => {
    const result = await workspace.run([
      'clients',
      'create',
      '-c',
      config,
      '--name',
      'a',
      '--owner',
      'a',
      '--scope',
      'x\\y',
      '--plan',
      'pro plan',
    ]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid --scope "x\\\\y"');
    expect(result.stderr).toContain('invalid --plan "pro plan"');
    expect(result.stdout).toBe('');
  });

  it('bad grace exits 2', async () => {
    const result = await workspace.run([
      'clients',
      'rotate-secret',
      'bwc_AAAAAAAAAAAAAAAAAAAA',
      '-c',
      config,
      '--grace',
      'soon',
    ]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid --grace "soon"');
  });
});
