import { readFileSync, statSync } from 'node:fs';

import { z } from 'zod';

import { ConfigError } from '../core/errors.js';
import { KEY_ID_LENGTH } from './api-key-format.js';
import type { ApiKeyRecord } from './api-key-store.js';
import type { ApiKeysConfig } from './config-schema.js';

/**
 * The interim key file: a JSON array of hashed key records (`MemoryApiKeyStore.records()`),
 * read once at start so the gateway can accept keys before a database-backed store exists.
 * NOTE: changes to the file take effect only on restart, and revocations or last-use times
 * recorded in the running gateway are not written back.
 */

const MAX_FILE_BYTES = 16 * 1024 * 1024;
const MIN_PEPPER_BYTES = 32;

const timestamp = z.number().int().nonnegative();

const recordSchema = z
  .object({
    id: z.string().regex(new RegExp(`^[0-9A-Za-z]{${KEY_ID_LENGTH}}$`)),
    hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex HMAC-SHA256'),
    env: z.string().regex(/^[a-z0-9]{1,16}$/),
    name: z.string().max(256),
    owner: z.string().max(256),
    scopes: z.array(z.string().max(128)).max(256),
    plan: z.string().max(64).optional(),
    createdAt: timestamp,
    expiresAt: timestamp.optional(),
    lastUsedAt: timestamp.optional(),
    status: z.enum(['active', 'rotated', 'revoked']),
    replacedBy: z.string().optional(),
  })
  .strict();

/** Reads and validates the key file named in `auth.apiKeys.file`. */
export function readApiKeyFile(path: string): ApiKeyRecord[] {
  let text: string;
  try {
    if (statSync(path).size > MAX_FILE_BYTES)
      throw fileError(path, `the API key file is larger than ${MAX_FILE_BYTES} bytes`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw fileError(path, `cannot read the API key file: ${(error as Error).message}`);
  }

  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw fileError(path, 'the API key file is not valid JSON');
  }
  const parsed = z.array(recordSchema).safeParse(data);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first?.path.join('.') ?? '';
    throw fileError(
      path,
      `the API key file must be a JSON array of key records; at [${where}]: ${first?.message}`,
    );
  }
  return parsed.data;
}

/** Reads the pepper from the environment variable that `auth.apiKeys.pepperEnv` names. */
export function readPepper(config: ApiKeysConfig, env: NodeJS.ProcessEnv = process.env): string {
  const pepper = env[config.pepperEnv];
  if (pepper === undefined || Buffer.byteLength(pepper) < MIN_PEPPER_BYTES) {
    throw new ConfigError('environment', [
      {
        path: 'auth.apiKeys.pepperEnv',
        value: config.pepperEnv,
        message: `environment variable ${config.pepperEnv} must hold the API key pepper, at least ${MIN_PEPPER_BYTES} bytes (e.g. openssl rand -base64 32)`,
        code: 'BWK_ERR_CONFIG_API_KEYS',
      },
    ]);
  }
  return pepper;
}

function fileError(path: string, message: string): ConfigError {
  return new ConfigError('configuration', [
    { path: 'auth.apiKeys.file', value: path, message, code: 'BWK_ERR_CONFIG_API_KEYS' },
  ]);
}
