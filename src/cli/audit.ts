import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';

import type { Command } from 'commander';

import { RecordCipher } from '../audit/encryption.js';
import { auditInstance, auditKeysDir, openAuditStore } from '../audit/open.js';
import { proveRecord, verifyRecordProof } from '../audit/proof.js';
import type { StoredAuditRecord } from '../audit/record.js';
import { openEventBody } from '../audit/seal.js';
import type { AuditStore } from '../audit/store.js';
import { verifyAuditLog, type VerifyReport } from '../audit/verify.js';
import { loadAuditKeys, loadPublicKeys, type AuditKeys } from '../audit/keys.js';
import { loadConfigFile, validateConfig, type BulwarkConfig } from '../core/config.js';
import { eventSeverities } from '../events/schema.js';
import { registerAuditKeyCommands } from './audit-keys.js';
import { collectWords, DEFAULT_CONFIG_FILE, printable } from './credentials.js';
import { UsageError } from './start.js';

/**
 * `bulwark audit verify|tail|export|prove`: reads the tamper-evident audit log of a gateway's
 * configuration (SQLite in the data directory, or PostgreSQL when `storage.postgres` is set).
 */
export function registerAuditCommands(program: Command): Command {
  const audit = program
    .command('audit')
    .description('Verify, follow and export the tamper-evident audit log.');

  withConfig(audit.command('verify'))
    .description(
      'Check every chain of the log: hashes, links, HMACs, signed checkpoints and tombstones. Exit status 1 when damage is found.',
    )
    .option(
      '--public-key <file>',
      'PEM public keys (bulwark audit keys export); without it, the keys folder is used',
    )
    .option(
      '--external <dir>',
      'folder of external checkpoints (default audit.checkpoint.externalDir); detects a cut-off tail',
    )
    .option('--instance <name>', 'verify only this chain')
    .option(
      '--no-hmac',
      'skip HMACs even when the HMAC keys are readable, as an outside auditor would',
    )
    .option(
      '--allow-empty',
      'accept a log without records (by default an empty log fails: all records may have been deleted)',
    )
    .option('--json', 'print the report as JSON')
    .action((options: VerifyOptions) => verifyCommand(options));

  withConfig(audit.command('tail'))
    .description('Print the newest records, decrypted where the encryption keys allow.')
    .option('-n, --lines <count>', 'how many records to print first (default 20)', '20')
    .option('-f, --follow', 'keep printing new records as they are committed')
    .option(
      '--type <types>',
      'only these event types, e.g. auth.failure (repeatable)',
      collectWords,
    )
    .option(
      '--severity <levels>',
      `only these severities: ${eventSeverities.join(', ')} (repeatable)`,
      collectWords,
    )
    .option('--json', 'print one JSON object per line')
    .action((options: TailOptions) => tailCommand(options));

  withConfig(audit.command('export'))
    .description('Write the records of a time range to stdout, streamed page by page.')
    .option('--since <time>', 'start, inclusive: an ISO 8601 time or date')
    .option('--until <time>', 'end, exclusive: an ISO 8601 time or date')
    .option('--format <format>', 'jsonl or csv (default jsonl)', 'jsonl')
    .option('--type <types>', 'only these event types (repeatable)', collectWords)
    .option('--severity <levels>', 'only these severities (repeatable)', collectWords)
    .action((options: ExportOptions) => exportCommand(options));

  withConfig(audit.command('prove <seq>'))
    .description('Print the inclusion proof of one record against its signed checkpoint.')
    .option('--instance <name>', 'the chain (default this host’s, audit.instance)')
    .action((seq: string, options: ProveOptions) => proveCommand(seq, options));

  registerAuditKeyCommands(audit);
  return audit;
}

interface ConfigOption {
  config?: string;
}

interface VerifyOptions extends ConfigOption {
  publicKey?: string;
  external?: string;
  instance?: string;
  hmac: boolean;
  allowEmpty?: boolean;
  json?: boolean;
}

interface TailOptions extends ConfigOption {
  lines: string;
  follow?: boolean;
  type?: string[];
  severity?: string[];
  json?: boolean;
}

interface ExportOptions extends ConfigOption {
  since?: string;
  until?: string;
  format: string;
  type?: string[];
  severity?: string[];
}

interface ProveOptions extends ConfigOption {
  instance?: string;
}

function withConfig(command: Command): Command {
  return command.option(
    '-c, --config <file>',
    `configuration file whose dataDir or storage.postgres names the log (default ./${DEFAULT_CONFIG_FILE} if present, else SQLite in ./data)`,
  );
}

function resolveConfig(path: string | undefined): BulwarkConfig {
  if (path !== undefined) return loadConfigFile(path);
  if (existsSync(DEFAULT_CONFIG_FILE)) return loadConfigFile(DEFAULT_CONFIG_FILE);
  // Only the defaults of dataDir, storage and audit matter here. The upstream is a placeholder.
  return validateConfig({ upstream: 'http://127.0.0.1:1' }, 'defaults');
}

/** Loads the keys from the keys folder or environment. Returns undefined when an auditor has none. */
function tryLoadKeys(config: BulwarkConfig): AuditKeys | undefined {
  try {
    return loadAuditKeys({ dir: auditKeysDir(config) });
  } catch {
    return undefined;
  }
}

/** Runs `run` on the configured store, opened read-only: reading never creates a log. */
async function withStore<T>(config: BulwarkConfig, run: (store: AuditStore) => Promise<T>) {
  const store = openAuditStore(config, undefined, { readOnly: true });
  try {
    await store.ready();
    return await run(store);
  } finally {
    await store.close();
  }
}

async function verifyCommand(options: VerifyOptions): Promise<void> {
  const config = resolveConfig(options.config);
  const keys = tryLoadKeys(config);
  const publicKeys =
    options.publicKey !== undefined
      ? loadPublicKeys(readFileSync(options.publicKey, 'utf8'))
      : keys?.signing.publicKeyById;
  if (publicKeys === undefined) {
    throw new UsageError(
      `no public key: pass --public-key FILE, or make the keys folder ${auditKeysDir(config)} readable`,
    );
  }
  const report = await withStore(config, async (store) => {
    const total = await store.count(options.instance);
    const progress = new ProgressBar(total);
    const result = await verifyAuditLog({
      store,
      publicKeys,
      hmacKeys: options.hmac ? keys?.hmac : undefined,
      externalDir: options.external ?? config.audit.checkpoint.externalDir,
      instances: options.instance === undefined ? undefined : [options.instance],
      onProgress: ({ total: done }) => progress.update(done),
      progressEvery: 20_000,
      allowEmpty: options.allowEmpty === true,
    });
    progress.done();
    return result;
  });
  if (options.json === true) console.log(JSON.stringify(report, null, 2));
  else printReport(report);
  if (!report.ok) process.exitCode = 1;
}

/**
 * A progress bar with the verification rate on stderr, drawn only when stderr is a terminal.
 * In a pipe or a log file, the summary line on stdout reports the rate once.
 */
class ProgressBar {
  private readonly started = Date.now();
  private lastLine = 0;
  private readonly enabled = process.stderr.isTTY === true;

  constructor(private readonly total: number) {}

  update(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastLine < 200 && done < this.total) return;
    this.lastLine = now;
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    const rate = Math.round(done / seconds);
    const fraction = this.total > 0 ? Math.min(done / this.total, 1) : 1;
    const width = 30;
    const filled = Math.round(fraction * width);
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    const line = `${bar} ${done.toLocaleString('en-US')}/${this.total.toLocaleString('en-US')} records, ${rate.toLocaleString('en-US')} records/s`;
    process.stderr.write(`\r${line}`);
  }

  done(): void {
    this.lastLine = 0;
    if (this.enabled) process.stderr.write('\n');
  }
}

function printReport(report: VerifyReport): void {
  const rate = Math.round(report.records / Math.max(report.seconds, 0.001));
  for (const chain of report.chains) {
    const range =
      chain.firstSeq === undefined ? 'no records' : `records ${chain.firstSeq}..${chain.lastSeq}`;
    console.log(
      `chain ${printable(chain.instance)}: ${count(chain.records, 'record')} (${range}), ${count(chain.checkpoints, 'checkpoint')}, ${count(chain.externalCheckpoints, 'external checkpoint')} matched`,
    );
    for (const run of chain.removedByPolicy) {
      console.log(
        `  removed by retention policy: records ${run.fromSeq}..${run.toSeq} (${run.count}), archived as ${run.archive}`,
      );
    }
    if (chain.unsignedTail > 0 && !report.hmacChecked && chain.lastSeq !== undefined) {
      const from = chain.lastSeq - chain.unsignedTail + 1;
      const one = from === chain.lastSeq;
      const tail = one ? `record ${from}` : `records ${from}..${chain.lastSeq}`;
      const signed =
        chain.checkpoints > 0
          ? 'the last signed checkpoint'
          : 'the start: the chain has no signed checkpoint yet';
      console.log(
        `  NOT VERIFIED: ${tail} ${one ? 'comes' : `(${chain.unsignedTail}) come`} after ${signed}. Without the HMAC key nothing proves ${one ? 'it' : 'them'} genuine: anyone who can write the log could have changed or added ${one ? 'it' : 'them'}. The next checkpoint signs ${one ? 'it' : 'them'}; verify with the HMAC key to check ${one ? 'it' : 'them'} now.`,
      );
    }
    if (chain.damage !== undefined) {
      console.log(
        `  DAMAGED: ${chain.damage.kind} at record ${chain.damage.seq}: ${chain.damage.message}`,
      );
    }
  }
  if (report.empty) {
    console.log(
      report.ok
        ? 'the log has no records (accepted with --allow-empty)'
        : 'EMPTY: the log has no records; if the gateway has run, they were deleted (pass --allow-empty to accept an empty log)',
    );
  }
  const hmac = report.hmacChecked ? 'HMACs checked' : 'HMACs not checked (no HMAC key)';
  const damaged = report.chains.filter((chain) => chain.damage !== undefined).length;
  const verdict = report.ok
    ? 'OK'
    : damaged === 0
      ? 'EMPTY'
      : `DAMAGED (${damaged} of ${count(report.chains.length, 'chain')})`;
  console.log(
    `${verdict}: ${count(report.records, 'record')} checked in ${report.seconds.toFixed(2)} s (${rate} records/s), ${hmac}`,
  );
}

function count(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
}

async function tailCommand(options: TailOptions): Promise<void> {
  const config = resolveConfig(options.config);
  const lines = Number(options.lines);
  if (!Number.isInteger(lines) || lines < 0 || lines > 100_000) {
    throw new UsageError(
      `invalid --lines "${options.lines}": expected an integer from 0 to 100000`,
    );
  }
  checkSeverities(options.severity);
  const keys = tryLoadKeys(config);
  const cipher = keys?.encryption && new RecordCipher(keys.encryption);
  const filter = { types: options.type, severities: options.severity };
  await withStore(config, async (store) => {
    const newest = lines === 0 ? [] : await store.query({ ...filter, order: 'desc', limit: lines });
    let lastId = newest[0]?.id ?? (await latestId(store));
    for (const record of newest.reverse()) printRecord(record, cipher, options.json === true);
    if (options.follow !== true) return;
    let stopped = false;
    const stop = (): void => {
      stopped = true;
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    while (!stopped) {
      const page = await store.query({ ...filter, afterId: lastId, limit: 1000 });
      for (const record of page) printRecord(record, cipher, options.json === true);
      if (page.length > 0) lastId = page[page.length - 1]!.id;
      else await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });
}

async function latestId(store: AuditStore): Promise<number> {
  const [newest] = await store.query({ order: 'desc', limit: 1 });
  return newest?.id ?? 0;
}

function checkSeverities(severities: readonly string[] | undefined): void {
  const bad = severities?.find((value) => !(eventSeverities as readonly string[]).includes(value));
  if (bad !== undefined) {
    throw new UsageError(
      `invalid --severity "${printable(bad)}": expected ${eventSeverities.join(', ')}`,
    );
  }
}

/** Returns the record with its event decrypted where possible, as tail and export print it. */
function readable(record: StoredAuditRecord, cipher: RecordCipher | undefined) {
  const base = {
    instance: record.instance,
    seq: record.seq,
    kind: record.kind,
    time: record.time,
    type: record.type,
    category: record.category,
    severity: record.severity,
    hash: record.hash,
  };
  if (record.kind !== 'event') return { ...base, body: JSON.parse(record.body) as unknown };
  const { event, unreadable } = openEventBody(record, cipher);
  return unreadable.length > 0 ? { ...base, event, sealed: unreadable } : { ...base, event };
}

function printRecord(record: StoredAuditRecord, cipher: RecordCipher | undefined, json: boolean) {
  const value = readable(record, cipher);
  if (json) {
    console.log(JSON.stringify(value));
    return;
  }
  const event = 'event' in value ? (value.event as Record<string, unknown>) : undefined;
  const actor = event?.actor as Record<string, unknown> | undefined;
  const target = event?.target as Record<string, unknown> | undefined;
  const actorText = actor ? `${String(actor.type)}${actor.id ? `:${String(actor.id)}` : ''}` : '-';
  const targetText = target?.path
    ? `${String(target.method ?? '')} ${String(target.path)}`.trim()
    : '';
  console.log(
    printable(
      `${record.time} ${record.instance}#${record.seq} ${record.severity.padEnd(8)} ${record.type} ${String(event?.outcome ?? record.kind)} ${actorText} ${targetText}`.trimEnd(),
    ),
  );
}

function parseTime(flag: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const time = new Date(text);
  if (Number.isNaN(time.getTime())) {
    throw new UsageError(
      `invalid ${flag} "${printable(text)}": expected an ISO 8601 time such as 2026-12-01 or 2026-12-01T12:00:00Z`,
    );
  }
  return time.toISOString();
}

const CSV_COLUMNS = [
  'instance',
  'seq',
  'time',
  'type',
  'category',
  'severity',
  'outcome',
  'actor_type',
  'actor_id',
  'actor_ip',
  'method',
  'path',
  'correlation_id',
  'details',
  'hash',
];

async function exportCommand(options: ExportOptions): Promise<void> {
  if (options.format !== 'jsonl' && options.format !== 'csv') {
    throw new UsageError(`invalid --format "${printable(options.format)}": expected jsonl or csv`);
  }
  checkSeverities(options.severity);
  const config = resolveConfig(options.config);
  const since = parseTime('--since', options.since);
  const until = parseTime('--until', options.until);
  const keys = tryLoadKeys(config);
  const cipher = keys?.encryption && new RecordCipher(keys.encryption);
  const out = process.stdout;
  const write = async (text: string): Promise<void> => {
    if (!out.write(text)) await once(out, 'drain');
  };
  await withStore(config, async (store) => {
    if (options.format === 'csv') await write(`${CSV_COLUMNS.join(',')}\n`);
    let afterId = 0;
    for (;;) {
      const page = await store.query({
        since,
        until,
        types: options.type,
        severities: options.severity,
        afterId,
        limit: 1000,
      });
      if (page.length === 0) break;
      let chunk = '';
      for (const record of page) {
        const value = readable(record, cipher);
        chunk += options.format === 'csv' ? `${csvRow(value)}\n` : `${JSON.stringify(value)}\n`;
      }
      await write(chunk);
      afterId = page[page.length - 1]!.id;
    }
  });
}

function csvRow(value: ReturnType<typeof readable>): string {
  const event = ('event' in value ? value.event : {}) as Record<string, unknown>;
  const actor = (event.actor ?? {}) as Record<string, unknown>;
  const target = (event.target ?? {}) as Record<string, unknown>;
  // Writer records (checkpoints, tombstones) have a body instead of an event.
  let details: unknown = event.details;
  if (!('event' in value)) details = 'body' in value ? value.body : undefined;
  const cells = [
    value.instance,
    value.seq,
    value.time,
    value.type,
    value.category,
    value.severity,
    event.outcome,
    actor.type,
    actor.id,
    actor.ip,
    target.method,
    target.path,
    event.correlationId,
    details === undefined ? '' : JSON.stringify(details),
    value.hash,
  ];
  return cells.map(csvCell).join(',');
}

/**
 * Quotes a CSV cell (RFC 4180). A cell starting with = + - @ or a tab is prefixed with `'`,
 * so that a spreadsheet opening the export does not run it as a formula: event fields such
 * as paths and user agents come from clients.
 */
function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  let text = typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

async function proveCommand(seqText: string, options: ProveOptions): Promise<void> {
  const seq = Number(seqText);
  if (!Number.isSafeInteger(seq) || seq < 1) {
    throw new UsageError(`invalid seq "${printable(seqText)}": expected a positive integer`);
  }
  const config = resolveConfig(options.config);
  const keys = tryLoadKeys(config);
  const instance = options.instance ?? auditInstance(config);
  const proof = await withStore(config, (store) => proveRecord(store, instance, seq));
  if (proof === undefined) {
    throw new UsageError(
      `no proof for record ${seq} of chain ${printable(instance)}: the record is missing, or no checkpoint covers it yet`,
    );
  }
  console.log(JSON.stringify(proof, null, 2));
  if (keys !== undefined && !verifyRecordProof(proof, keys.signing.publicKeyById)) {
    console.error('bulwark: the proof does not verify against the signing keys');
    process.exitCode = 1;
  }
}
