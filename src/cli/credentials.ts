import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';

import type { Command } from 'commander';
import { pino } from 'pino';

import { apiKeysDefaults } from '../auth/config-schema.js';
import type { CredentialChange } from '../auth/invalidation.js';
import { readPepper } from '../auth/pepper.js';
import { loadConfigFile, type BulwarkConfig } from '../core/config.js';
import { createLogger, type Logger } from '../core/logger.js';
import { CredentialManager } from '../gateway/credential-admin.js';
import { parseListFilter, type InputIssue, type Parsed } from '../gateway/credential-input.js';
import type { CredentialStores } from '../storage/credentials.js';
import { openCredentialStores, openGatewayCredentials } from '../storage/open-credentials.js';
import { publishCredentialChange } from '../storage/redis-invalidation.js';
import { UsageError } from './start.js';

/**
 * Code shared by `bulwark keys` and `bulwark clients`: finding the configuration, opening the
 * credential store it names, logging each change, and printing tables and JSON.
 */

/** Read when `--config` is not given and the file exists in the working directory. */
export const DEFAULT_CONFIG_FILE = 'bulwark.yaml';
/** The data directory without a configuration file, as the gateway's `dataDir` default. */
const DEFAULT_DATA_DIR = './data';

export interface CommonOptions {
  config?: string;
  json?: boolean;
}

/** Everything a credential command needs while the store is open. */
export interface CommandContext {
  manager: CredentialManager;
  json: boolean;
  /** Logs a change (the CLI has no event bus) and announces it to running gateways. */
  recordChange(
    message: string,
    changes: CredentialChange[],
    fields: Record<string, unknown>,
  ): Promise<void>;
}

/** Adds `--config` and `--json`, which every credential command takes. */
export function withCommonOptions(command: Command): Command {
  return command
    .option(
      '-c, --config <file>',
      `configuration file whose dataDir or storage.postgres names the store (default ./${DEFAULT_CONFIG_FILE} if present, else SQLite in ${DEFAULT_DATA_DIR})`,
    )
    .option('--json', 'print machine-readable JSON instead of text');
}

/** Opens the credential store, runs `run`, and closes the store whatever happens. */
export async function withCredentials(
  options: CommonOptions,
  run: (context: CommandContext) => Promise<void>,
): Promise<void> {
  const config = resolveConfig(options.config);
  const logger = cliLogger(config);
  const stores = openStores(config, logger);
  try {
    await stores.ready();
    await run({
      manager: new CredentialManager(stores, undefined, config?.oauth?.secretRotationGrace),
      json: options.json === true,
      recordChange: (message, changes, fields) =>
        recordChange(config, logger, message, changes, fields),
    });
  } finally {
    await stores.close();
  }
}

function resolveConfig(path: string | undefined): BulwarkConfig | undefined {
  if (path !== undefined) return loadConfigFile(path);
  return existsSync(DEFAULT_CONFIG_FILE) ? loadConfigFile(DEFAULT_CONFIG_FILE) : undefined;
}

/**
 * Logs to stderr, so that stdout holds only the command's output and `--json` output can be
 * piped. The store's own start-up lines are left out unless BULWARK_LOG_LEVEL requests them.
 */
function cliLogger(config: BulwarkConfig | undefined): Logger {
  const level = process.env.BULWARK_LOG_LEVEL ?? config?.logging.level ?? 'info';
  return createLogger({ level }, pino.destination({ dest: 2, sync: true }));
}

function openStores(config: BulwarkConfig | undefined, logger: Logger): CredentialStores {
  const storeLogger = logger.child({}, { level: process.env.BULWARK_LOG_LEVEL ?? 'warn' });
  if (config !== undefined) return openGatewayCredentials(config, storeLogger);
  return openCredentialStores({
    dataDir: DEFAULT_DATA_DIR,
    pepper: readPepper(apiKeysDefaults),
    logger: storeLogger,
  });
}

async function recordChange(
  config: BulwarkConfig | undefined,
  logger: Logger,
  message: string,
  changes: CredentialChange[],
  fields: Record<string, unknown>,
): Promise<void> {
  logger.info({ ...fields, actor: { type: 'user', id: osUser(), via: 'cli' } }, message);
  // Without Redis nothing is sent, and each gateway reads the change from the store once its
  // cache entry expires (one second by default).
  for (const change of changes) {
    await publishCredentialChange(
      config?.storage.redis,
      config?.storage.keyPrefix ?? 'bwk:',
      change,
      logger,
    );
  }
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/**
 * Returns the parsed value, or throws a UsageError that names the flag and the value given.
 * `flags` maps input fields (`expiresIn`) to flags (`--expires`) and the text given.
 */
export function valueOrUsageError<T>(
  parsed: Parsed<T>,
  flags: Record<string, { flag: string; value: unknown }>,
): T {
  if (parsed.ok) return parsed.value;
  throw new UsageError(parsed.issues.map((issue) => describeIssue(issue, flags)).join('; '));
}

function describeIssue(
  issue: InputIssue,
  flags: Record<string, { flag: string; value: unknown }>,
): string {
  // `scopes.2` is the third --scope value.
  const [field = '', index] = issue.field.split('.');
  const given = flags[field];
  if (given === undefined) return `${issue.field} ${issue.message}`;
  if (issue.message === 'is required') return `${given.flag} is required`;
  const value =
    Array.isArray(given.value) && index !== undefined ? given.value[Number(index)] : given.value;
  return `invalid ${given.flag} ${JSON.stringify(value)}: ${issue.message}`;
}

/** Parses the `--owner` filter of a list command, or throws a UsageError naming it. */
export function ownerFilter(owner: string | undefined): { owner?: string } {
  return valueOrUsageError(parseListFilter({ owner }), {
    owner: { flag: '--owner', value: owner },
  });
}

/** Prints a value as indented JSON on stdout. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** Prints rows under a header, each column as wide as its widest cell. */
export function printTable(header: readonly string[], rows: readonly string[][]): void {
  const cells = [header, ...rows].map((row) => row.map(printable));
  const widths = header.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  for (const row of cells) {
    console.log(
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd(),
    );
  }
}

/** Prints one `label: value` line per field, with the values aligned in one column. */
export function printFields(fields: ReadonlyArray<readonly [string, string]>): void {
  const width = Math.max(...fields.map(([label]) => label.length)) + 2;
  for (const [label, value] of fields)
    console.log(`${`${label}:`.padEnd(width)}${printable(value)}`);
}

/** Formats the name and owner of a credential for a message, with control characters replaced. */
export function nameAndOwner(record: { name: string; owner: string }): string {
  return `name "${printable(record.name)}", owner "${printable(record.owner)}"`;
}

/** Formats an ISO time as `2026-01-31 14:05` (UTC), or `-` when absent. */
export function shortTime(iso: string | null): string {
  return iso === null ? '-' : `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

// Stored names come from the admin API and other tools too, so control characters are
// replaced before they reach a terminal.
export function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, '?');
}

/** Collects a repeatable option; each value may hold several space-separated items. */
export function collectWords(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(/\s+/).filter((word) => word !== '')];
}
