import { hostname } from 'node:os';
import { join, relative, resolve, isAbsolute } from 'node:path';

import type { Registry } from 'prom-client';

import type { BulwarkConfig } from '../core/config.js';
import { BulwarkError } from '../core/errors.js';
import { redactUrl, silentLogger, type Logger } from '../core/logger.js';
import { AzureBlobArchiveTarget } from './archive/azure.js';
import { FolderArchiveTarget } from './archive/folder.js';
import { S3ArchiveTarget } from './archive/s3.js';
import type { ArchiveTarget } from './archive/target.js';
import type { AuditConfig } from './config.js';
import { DEFAULT_AUDIT_KEYS_FOLDER, loadAuditKeys, type AuditKeys } from './keys.js';
import { AuditMetrics } from './metrics.js';
import { PostgresAuditStore } from './postgres-store.js';
import { applyRetention } from './retention.js';
import { SqliteAuditStore } from './sqlite-store.js';
import type { AuditStore } from './store.js';
import { AuditLog } from './writer.js';

/** The SQLite file of the audit log inside the data directory. */
export const AUDIT_DB_FILE = 'audit.db';

type AuditSettings = Pick<BulwarkConfig, 'dataDir' | 'storage'> & { audit: AuditConfig };

/**
 * Opens the audit store the configuration names: PostgreSQL when set, else SQLite. With
 * `readOnly`, the SQLite file must exist and is never created or written (verification).
 */
export function openAuditStore(
  config: AuditSettings,
  logger: Logger = silentLogger,
  options: { readOnly?: boolean } = {},
): AuditStore {
  const postgres = config.storage.postgres;
  if (postgres !== undefined) {
    logger.info({ backend: 'postgres', postgres: redactUrl(postgres) }, 'opening audit store');
    return new PostgresAuditStore({ url: postgres, logger });
  }
  const path = join(config.dataDir, AUDIT_DB_FILE);
  logger.info({ backend: 'sqlite', path }, 'opening audit store');
  return new SqliteAuditStore({
    path,
    synchronous: config.audit.durability,
    logger,
    readOnly: options.readOnly,
  });
}

export function auditKeysDir(config: AuditSettings): string {
  return config.audit.keysDir ?? join(config.dataDir, DEFAULT_AUDIT_KEYS_FOLDER);
}

function isInside(parent: string, child: string): boolean {
  const path = relative(parent, child);
  return path === '' || (!path.startsWith('..') && !isAbsolute(path));
}

/** Returns the chain name of this process: the configured instance, else the host name. */
export function auditInstance(config: AuditSettings): string {
  return config.audit.instance ?? hostname();
}

/** Builds the archive target of the configuration. */
export function openArchiveTarget(
  config: AuditSettings,
  env: NodeJS.ProcessEnv = process.env,
): ArchiveTarget {
  const archive = config.audit.archive;
  switch (archive.target) {
    case 'folder':
      return new FolderArchiveTarget(archive.dir ?? join(config.dataDir, 'audit-archive'));
    case 's3':
      return new S3ArchiveTarget({
        bucket: archive.bucket,
        region: archive.region,
        endpoint: archive.endpoint,
        forcePathStyle: archive.forcePathStyle,
        prefix: archive.prefix,
      });
    case 'azure': {
      const connectionString = env[archive.connectionStringEnv];
      if (connectionString === undefined || connectionString === '') {
        throw new BulwarkError(
          'BWK_ERR_AUDIT_ARCHIVE_TARGET',
          `audit.archive.target is azure but ${archive.connectionStringEnv} is unset; set it to the storage account connection string`,
        );
      }
      return new AzureBlobArchiveTarget({
        connectionString,
        container: archive.container,
        prefix: archive.prefix,
        createContainer: true,
      });
    }
  }
}

export interface AuditServiceOptions {
  logger?: Logger;
  /** Registers the audit metrics here (the gateway's registry). */
  registry?: Registry;
  env?: NodeJS.ProcessEnv;
  /** Replaces the store the configuration names (tests). */
  store?: AuditStore;
}

/**
 * The audit log of a gateway: keys (generated on first start), store, writer, and the
 * retention timer.
 */
export class AuditService {
  readonly log: AuditLog;
  readonly store: AuditStore;
  readonly keys: AuditKeys;
  private readonly logger: Logger;
  private readonly target: ArchiveTarget;
  private retentionTimer: NodeJS.Timeout | undefined;
  private retentionRun: Promise<unknown> | undefined;

  constructor(
    private readonly config: AuditSettings,
    options: AuditServiceOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.keys = loadAuditKeys({ dir: auditKeysDir(config), env: options.env, generate: true });
    this.store = options.store ?? openAuditStore(config, this.logger);
    this.target = openArchiveTarget(config, options.env);
    const audit = config.audit;
    this.log = new AuditLog({
      store: this.store,
      keys: this.keys,
      instance: auditInstance(config),
      encryption: audit.encryption,
      maxBatch: audit.maxBatch,
      checkpoint: audit.checkpoint,
      spool: {
        file: audit.spool.file ?? join(config.dataDir, 'audit-spool.jsonl'),
        maxBytes: audit.spool.maxBytes,
        retryInterval: audit.spool.retryInterval,
      },
      logger: this.logger,
      metrics: new AuditMetrics(options.registry),
    });
  }

  /** Opens the log (records `audit.started`) and starts the retention timer. */
  async start(details: Record<string, unknown> = {}): Promise<void> {
    this.warnAboutKeyLayout();
    await this.log.open({ keys: this.keys.sources, ...details });
    const retention = this.config.audit.retention;
    const keepsAll =
      retention.default === 'forever' &&
      Object.values(retention.categories).every((value) => value === 'forever');
    if (keepsAll) return;
    this.retentionTimer = setInterval(() => void this.runRetention(), retention.interval);
    this.retentionTimer.unref();
  }

  /** Runs one retention pass. Errors are logged, and the next pass retries. */
  async runRetention(now?: Date): Promise<void> {
    if (this.retentionRun) return;
    this.retentionRun = applyRetention({
      store: this.store,
      log: this.log,
      keys: this.keys,
      target: this.target,
      policy: this.config.audit.retention,
      now,
      logger: this.logger,
    })
      .catch((error: unknown) => this.logger.error({ err: error }, 'audit retention failed'))
      .finally(() => (this.retentionRun = undefined));
    await this.retentionRun;
  }

  /**
   * Warns when the HMAC or signing key is read from a folder inside the data folder and no
   * external checkpoint folder is set: whoever can change files there can rewrite the log,
   * re-sign it and pass verification, so the log then detects only accidents.
   */
  private warnAboutKeyLayout(): void {
    if (this.config.audit.checkpoint.externalDir !== undefined) return;
    const { sources } = this.keys;
    if (sources.hmac !== 'file' && sources.signing !== 'file') return;
    const keysDir = auditKeysDir(this.config);
    if (!isInside(resolve(this.config.dataDir), resolve(keysDir))) return;
    this.logger.warn(
      { keysDir, dataDir: this.config.dataDir },
      'audit keys are stored inside the data folder and audit.checkpoint.externalDir is not set: anyone who can change files in the data folder can rewrite the audit log undetected; see docs/audit.md, "Protecting the keys"',
    );
  }

  async stop(): Promise<void> {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    await this.retentionRun;
    await this.log.close();
  }
}
