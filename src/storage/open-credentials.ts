import { join } from 'node:path';

import { apiKeysDefaults } from '../auth/config-schema.js';
import { readPepper } from '../auth/pepper.js';
import type { Clock } from '../core/clock.js';
import type { BulwarkConfig } from '../core/config.js';
import { readAdminToken } from '../core/config-schema.js';
import { redactUrl, silentLogger, type Logger } from '../core/logger.js';
import { compilePolicy } from '../runtime/policy.js';
import type { CredentialStores } from './credentials.js';
import { createPostgresCredentialStores } from './postgres-credentials.js';
import { createSqliteCredentialStores } from './sqlite-credentials.js';

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

/** The SQLite file of credentials inside the data directory. */
export const CREDENTIALS_FILE = 'credentials.db';

/**
 * Opens the credential backend the configuration names: PostgreSQL when `postgres` is set,
 * else SQLite in `dataDir`. Synchronous so that the gateway can build its guards at once.
 * Nothing is connected yet: `ready()` connects and brings the schema up to date, and the
 * first call does so too when `ready()` was not awaited.
 */
export function openCredentialStores(options: OpenCredentialOptions): CredentialStores {
  const logger = options.logger ?? silentLogger;
  const common = { pepper: options.pepper, clock: options.clock, logger };
  if (options.postgres !== undefined) {
    logger.info(
      { backend: 'postgres', postgres: redactUrl(options.postgres) },
      'opening credential store',
    );
    return createPostgresCredentialStores({ url: options.postgres, ...common });
  }
  const path = join(options.dataDir, CREDENTIALS_FILE);
  logger.info({ backend: 'sqlite', path }, 'opening credential store');
  return createSqliteCredentialStores({ path, ...common });
}

/**
 * Whether the gateway needs credential stores: a route accepts API keys, the admin API is on,
 * or the OAuth server runs (a route that accepts `oauth` requires it).
 */
export function needsCredentials(config: BulwarkConfig): boolean {
  return (
    compilePolicy(config).usesApiKeys ||
    readAdminToken(config.admin) !== undefined ||
    config.oauth !== undefined
  );
}

/** Opens the stores a gateway configuration names, with the pepper from the environment. */
export function openGatewayCredentials(config: BulwarkConfig, logger: Logger): CredentialStores {
  const pepper = readPepper(config.auth.apiKeys ?? apiKeysDefaults);
  return openCredentialStores({
    dataDir: config.dataDir,
    postgres: config.storage.postgres,
    pepper,
    logger,
  });
}
