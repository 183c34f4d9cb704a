import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseApiKey } from '../auth/api-key-format.js';
import type { CredentialStores } from '../storage/credentials.js';

/**
 * Secrets and credentials of the demo, kept in `<dataDir>/demo/` so that a restart keeps them
 * and the README's commands can read them with `cat`. A real deployment sets the pepper and
 * the admin token in its environment and never writes a key or secret to a file.
 */

export interface DemoSecrets {
  pepper: string;
  adminToken: string;
}

export interface DemoCredentials {
  apiKey: string;
  clientId: string;
  clientSecret: string;
}

/** Reads the demo's pepper and admin token from the environment, else from (or into) files. */
export function demoSecrets(dir: string): DemoSecrets {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return {
    pepper: process.env.BULWARK_API_KEY_PEPPER ?? remembered(join(dir, 'pepper')),
    adminToken: process.env.BULWARK_ADMIN_TOKEN ?? remembered(join(dir, 'admin-token')),
  };
}

function remembered(path: string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const value = randomBytes(32).toString('base64url');
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return value;
}

/**
 * Returns the demo API key and OAuth client, creating them when the files are missing or the
 * store no longer accepts them (revoked, rotated or deleted in an earlier session).
 */
export async function demoCredentials(
  dir: string,
  stores: CredentialStores,
): Promise<DemoCredentials> {
  const keyFile = join(dir, 'api-key');
  const clientFile = join(dir, 'client.json');

  let apiKey = existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : '';
  if (!(await keyIsActive(stores, apiKey))) {
    ({ key: apiKey } = await stores.apiKeys.create({
      env: 'test',
      name: 'demo key',
      owner: 'demo',
      scopes: ['orders:read', 'orders:write'],
    }));
    writeFileSync(keyFile, `${apiKey}\n`, { mode: 0o600 });
  }

  let client = existsSync(clientFile)
    ? (JSON.parse(readFileSync(clientFile, 'utf8')) as { clientId: string; clientSecret: string })
    : undefined;
  if (client === undefined || (await stores.clients.findClient(client.clientId)) === undefined) {
    const issued = await stores.clients.create({
      name: 'demo reporting service',
      owner: 'demo',
      scopes: ['orders:read'],
    });
    client = { clientId: issued.clientId, clientSecret: issued.clientSecret };
    writeFileSync(clientFile, `${JSON.stringify(client)}\n`, { mode: 0o600 });
  }
  return { apiKey, ...client };
}

async function keyIsActive(stores: CredentialStores, key: string): Promise<boolean> {
  const parsed = parseApiKey(key);
  if (!parsed.ok) return false;
  const record = await stores.apiKeys.findById(parsed.keyId);
  return record?.status === 'active';
}
