/**
 * Audit log append throughput and latency against pino writing the same events to a file,
 * and verification speed.
 *
 * Append: 64 producers in one process each append one event at a time and await it (as the
 * event bus and `recordAuditEvent` do), for EVENTS events in total. Bulwark's writer commits
 * what has queued as one SQLite transaction (group commit) and acknowledges after the
 * commit. It runs twice: with `synchronous = FULL`, an fsync of the WAL per commit that
 * survives a power loss, and with `NORMAL`, no fsync per commit, which survives a crash of
 * the process like pino below.
 * Encryption of the default fields is on, as in the default configuration. pino writes each
 * event as one JSON line through `pino.destination({ sync: true })`, one write(2) per event
 * and no fsync, so its "acknowledged" means handed to the kernel. Latency is measured from
 * the call to its resolution (Bulwark) or return (pino); the ratio is ours / pino's.
 *
 * Verification: `verifyAuditLog` with the HMAC keys over a log of VERIFY_RECORDS records,
 * checkpoints every 1,000 records.
 *
 *   npx tsx bench/audit.ts [events, default 20000] [records to verify, default 200000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { pino } from 'pino';

import { generateAuditKeys, loadAuditKeys, type AuditKeys } from '../src/audit/keys.js';
import { SqliteAuditStore } from '../src/audit/sqlite-store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { AuditLog } from '../src/audit/writer.js';
import { newId } from '../src/core/ids.js';
import { EVENT_SCHEMA_VERSION, type SecurityEvent } from '../src/events/schema.js';

const EVENTS = Number(process.argv[2] ?? 20_000);
const VERIFY_RECORDS = Number(process.argv[3] ?? 200_000);
const PRODUCERS = 64;

function event(n: number): SecurityEvent {
  return {
    schemaVersion: EVENT_SCHEMA_VERSION,
    id: newId(),
    time: new Date().toISOString(),
    type: 'ratelimit.exceeded',
    category: 'violation',
    severity: 'low',
    outcome: 'blocked',
    actor: { type: 'api_key', id: `key-${n % 100}`, ip: '192.0.2.10', userAgent: 'bench/1.0' },
    target: { method: 'GET', route: '/orders/:id', path: `/orders/${n}` },
    correlationId: newId(),
    source: { component: 'ratelimit', instance: 'bench' },
    details: { limit: 'per-key', remaining: 0, retryAfter: 12 },
  };
}

interface Result {
  name: string;
  perSecond: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function runProducers(append: (e: SecurityEvent) => Promise<void> | void) {
  const events = Array.from({ length: EVENTS }, (_, n) => event(n));
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: PRODUCERS }, async () => {
      while (next < events.length) {
        const item = events[next++]!;
        const begin = process.hrtime.bigint();
        await append(item);
        latencies.push(Number(process.hrtime.bigint() - begin) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  return {
    perSecond: EVENTS / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

async function bulwark(keys: AuditKeys, dir: string, synchronous: 'full' | 'normal') {
  const store = new SqliteAuditStore({ path: join(dir, `audit-${synchronous}.db`), synchronous });
  const log = new AuditLog({
    store,
    keys,
    instance: 'bench',
    encryption: { mode: 'fields', fields: ['actor.ip', 'actor.userAgent', 'details'] },
    checkpoint: { every: 1000, interval: 60_000 },
    spool: {
      file: join(dir, `spool-${synchronous}.jsonl`),
      maxBytes: 1 << 30,
      retryInterval: 5000,
    },
  });
  const result = await runProducers((item) => log.appendEvents([item]));
  await log.close();
  return result;
}

async function pinoFile(dir: string) {
  const destination = pino.destination({ dest: join(dir, 'pino.log'), sync: true });
  const logger = pino({ base: undefined, timestamp: false }, destination);
  const result = await runProducers((item) => {
    logger.info(item);
  });
  destination.flushSync();
  return result;
}

async function verifySpeed(keys: AuditKeys, dir: string) {
  const path = join(dir, 'verify.db');
  const store = new SqliteAuditStore({ path, synchronous: 'normal' });
  const log = new AuditLog({
    store,
    keys,
    instance: 'bench',
    encryption: { mode: 'fields', fields: ['actor.ip', 'actor.userAgent', 'details'] },
    maxBatch: 5000,
    checkpoint: { every: 1000, interval: 3_600_000 },
    spool: { file: join(dir, 'spool-verify.jsonl'), maxBytes: 1 << 30, retryInterval: 5000 },
  });
  for (let n = 0; n < VERIFY_RECORDS; n += 5000) {
    await log.appendEvents(Array.from({ length: 5000 }, (_, i) => event(n + i)));
  }
  await log.close();
  const reader = new SqliteAuditStore({ path });
  const report = await verifyAuditLog({
    store: reader,
    publicKeys: keys.signing.publicKeyById,
    hmacKeys: keys.hmac,
  });
  await reader.close();
  if (!report.ok) throw new Error('verification of the benchmark log failed');
  return { records: report.records, seconds: report.seconds };
}

const dir = mkdtempSync(join(tmpdir(), 'bwk-bench-audit-'));
try {
  generateAuditKeys(join(dir, 'keys'));
  const keys = loadAuditKeys({ dir: join(dir, 'keys'), env: {} });
  const results: Result[] = [];
  // pino first and last, to see the drift of the machine during the run.
  results.push({ name: 'pino sync file (run 1)', ...(await pinoFile(dir)) });
  results.push({ name: 'bulwark audit, synchronous FULL', ...(await bulwark(keys, dir, 'full')) });
  results.push({
    name: 'bulwark audit, synchronous NORMAL',
    ...(await bulwark(keys, dir, 'normal')),
  });
  results.push({ name: 'pino sync file (run 2)', ...(await pinoFile(dir)) });

  console.log(`${EVENTS} events, ${PRODUCERS} producers awaiting each append`);
  console.log('| writer | events/s | p50 ms | p99 ms |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(
      `| ${r.name} | ${Math.round(r.perSecond).toLocaleString('en-US')} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} |`,
    );
  }
  const pinoBest = Math.max(results[0]!.perSecond, results[3]!.perSecond);
  const pinoP99 = Math.min(results[0]!.p99, results[3]!.p99);
  for (const r of results.slice(1, 3)) {
    console.log(
      `${r.name}: throughput ratio ours / pino ${(r.perSecond / pinoBest).toFixed(2)}, p99 ratio ours / pino ${(r.p99 / pinoP99).toFixed(1)}`,
    );
  }

  const verified = await verifySpeed(keys, dir);
  console.log(
    `verification: ${verified.records.toLocaleString('en-US')} records in ${verified.seconds.toFixed(2)} s, ${Math.round(verified.records / verified.seconds).toLocaleString('en-US')} records/s`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
