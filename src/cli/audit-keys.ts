import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';

import type { Command } from 'commander';
import { pino } from 'pino';

import {
  AUDIT_KEY_KINDS,
  DEFAULT_AUDIT_KEYS_FOLDER,
  exportPublicKeys,
  generateAuditKeys,
  listAuditKeys,
  loadAuditKeys,
  rotateAuditKey,
  type AuditKeyKind,
} from '../audit/keys.js';
import { auditKeysDir } from '../audit/open.js';
import { loadConfigFile } from '../core/config.js';
import { createLogger, type Logger } from '../core/logger.js';
import { DEFAULT_CONFIG_FILE, printTable } from './credentials.js';
import { UsageError } from './start.js';

/** `bulwark audit keys generate|rotate|list|export-public`: the audit log's key files. */

interface KeyOptions {
  config?: string;
  dir?: string;
  json?: boolean;
}

interface ExportOptions extends KeyOptions {
  all?: boolean;
  kid?: string;
  out?: string;
}

/** The data directory without a configuration file, as the gateway's `dataDir` default. */
const DEFAULT_DATA_DIR = './data';

export function registerAuditKeyCommands(audit: Command): void {
  const keys = audit
    .command('keys')
    .description('Generate, rotate, list and export the audit log keys.');

  withKeyOptions(keys.command('generate'))
    .description('Create the keys folder and every missing key (HMAC, signing, encryption).')
    .action((options: KeyOptions) => generate(options));

  withKeyOptions(keys.command('rotate <kind>'))
    .description(
      'Make a new current key of one kind (hmac, signing or encryption); old keys stay for verification and decryption.',
    )
    .action((kind: string, options: KeyOptions) => rotate(kind, options));

  withKeyOptions(keys.command('list'))
    .description('List every key id, which is current, and where it comes from.')
    .option('--json', 'print machine-readable JSON instead of text')
    .action((options: KeyOptions) => list(options));

  withKeyOptions(keys.command('export-public'))
    .description('Print the public signing key as PEM, for verifiers of checkpoints and archives.')
    .option('--all', 'every signing public key, current first, so that old checkpoints verify')
    .option('--kid <kid>', 'only the key with this id')
    .option('--out <file>', 'write to this file instead of standard output')
    .action((options: ExportOptions) => exportPublic(options));
}

function withKeyOptions(command: Command): Command {
  return command
    .option(
      '-c, --config <file>',
      `configuration file whose audit.keysDir or dataDir names the keys folder (default ./${DEFAULT_CONFIG_FILE} if present)`,
    )
    .option(
      '--dir <dir>',
      `keys folder, overriding the configuration (default ${join(DEFAULT_DATA_DIR, DEFAULT_AUDIT_KEYS_FOLDER)})`,
    );
}

function keysDir(options: KeyOptions): string {
  if (options.dir !== undefined) return options.dir;
  const file =
    options.config ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
  if (file === undefined) return join(DEFAULT_DATA_DIR, DEFAULT_AUDIT_KEYS_FOLDER);
  return auditKeysDir(loadConfigFile(file));
}

/** Logs to stderr, so that stdout holds only the command's output. */
function cliLogger(): Logger {
  return createLogger(
    { level: process.env.BULWARK_LOG_LEVEL ?? 'info' },
    pino.destination({ dest: 2, sync: true }),
  );
}

function actor(): Record<string, string> {
  let id = 'unknown';
  try {
    id = userInfo().username;
  } catch {
    // Some containers run under a user id without a name.
  }
  return { type: 'user', id, via: 'cli' };
}

function generate(options: KeyOptions): void {
  const dir = keysDir(options);
  const created = generateAuditKeys(dir);
  const keys = loadAuditKeys({ dir });
  if (created.length > 0)
    cliLogger().info({ dir, created, actor: actor() }, 'audit keys generated');
  for (const kind of AUDIT_KEY_KINDS) {
    const kid = currentKid(keys, kind);
    const state = created.includes(kind) ? 'created' : 'kept';
    console.log(`${kind.padEnd(10)} ${state.padEnd(7)} ${kid ?? '(none)'}`);
  }
  console.log(`keys folder: ${dir}`);
}

function rotate(kind: string, options: KeyOptions): void {
  if (!(AUDIT_KEY_KINDS as readonly string[]).includes(kind))
    throw new UsageError(`unknown key kind "${kind}"; use hmac, signing or encryption`);
  const dir = keysDir(options);
  const rotated = rotateAuditKey(dir, kind as AuditKeyKind);
  cliLogger().info(
    { dir, kind, kid: rotated.kid, previous: rotated.previous, actor: actor() },
    'audit key rotated',
  );
  console.log(`${kind} key rotated: ${rotated.previous} -> ${rotated.kid}`);
  if (kind === 'signing')
    console.log(
      'Give verifiers the new public key: bulwark audit keys export-public --all. Restart gateways to use the new key.',
    );
  else console.log('Restart gateways to use the new key; the old one stays for verification.');
}

function list(options: KeyOptions): void {
  const infos = listAuditKeys(keysDir(options));
  if (options.json === true) {
    console.log(JSON.stringify(infos, null, 2));
    return;
  }
  printTable(
    ['KIND', 'KID', 'CURRENT', 'SOURCE', 'CREATED'],
    infos.map((info) => [
      info.kind,
      info.kid,
      info.current ? 'yes' : '',
      info.source,
      info.created ?? '',
    ]),
  );
}

function exportPublic(options: ExportOptions): void {
  const keys = loadAuditKeys({ dir: keysDir(options) });
  const pem = exportPublicKeys(keys, { all: options.all, kid: options.kid });
  if (options.out === undefined) {
    process.stdout.write(pem);
    return;
  }
  writeFileSync(options.out, pem, { mode: 0o644 });
  console.error(`wrote ${options.out}`);
}

function currentKid(
  keys: ReturnType<typeof loadAuditKeys>,
  kind: AuditKeyKind,
): string | undefined {
  if (kind === 'signing') return keys.signing.kid;
  return keys[kind]?.current.kid;
}
