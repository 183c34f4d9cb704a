import { readPepper } from '../auth/api-key-file.js';
import { apiKeysDefaults } from '../auth/config-schema.js';
import type { Clock } from '../core/clock.js';
import type { BulwarkConfig } from '../core/config.js';
import type { Logger } from '../core/logger.js';
import { compilePolicy } from '../runtime/policy.js';
import type { CredentialStores } from './credentials.js';
import { createMemoryCredentialStores } from './memory-credentials.js';

export interface OpenCredentialOptions {
  /** Directory of the SQLite file `credentials.db`, created when missing. */
  dataDir: string;
  /** PostgreSQL URL; when set, PostgreSQL is used instead of SQLite. */
  postgres?: string;
  /** The server pepper for key and secret hashes. */
  pepper: string | Buffer;
  logger?: Logger;
  clock?: Clock;
}

/**
 * Opens the credential backend the configuration names. Synchronous so that the gateway can
 * build its guards at once; `ready()` resolves when the schema is in place.
 * NOTE: placeholder that keeps credentials in memory until the SQLite and PostgreSQL stores land.
 */
export function openCredentialStores(options: OpenCredentialOptions): CredentialStores {
  return createMemoryCredentialStores({ pepper: options.pepper, clock: options.clock });
}

/** Whether the gateway needs credential stores: some route accepts API keys. */
export function needsCredentials(config: BulwarkConfig): boolean {
  return compilePolicy(config).usesApiKeys;
}

/** Opens the stores a gateway configuration names, with the pepper from the environment. */
export function openGatewayCredentials(config: BulwarkConfig, logger: Logger): CredentialStores {
  const pepper = readPepper(config.auth.apiKeys ?? { ...apiKeysDefaults, file: undefined });
  return openCredentialStores({
    dataDir: config.dataDir,
    postgres: config.storage.postgres,
    pepper,
    logger,
  });
}
