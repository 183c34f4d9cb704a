import { silentLogger, type Logger } from '../core/logger.js';
import type { ArchiveTarget } from './archive/target.js';
import { writeArchive } from './archive/writer.js';
import type { RetentionConfig } from './config.js';
import type { AuditKeys } from './keys.js';
import type { AuditRecord } from './record.js';
import { signBody, type RemovedRun, type TombstoneBody } from './signed.js';
import type { AuditStore } from './store.js';
import type { AuditLog } from './writer.js';

/**
 * Retention: event records older than their category's retention are archived first, then
 * removed, with a signed tombstone appended to the chain in between. The tombstone names each
 * removed run with the hash of its last record, so the record after a run still verifies,
 * and the verifier reports the runs as removed by policy.
 *
 * Only event records are removed. Checkpoints and tombstones are small and stay, and so does
 * the newest record of the chain, which the next append links to.
 */

const DAY_MS = 24 * 3_600_000;

export interface RetentionOptions {
  store: AuditStore;
  /** The writer of the chain; the tombstone goes through it so that it is chained and HMACed. */
  log: AuditLog;
  keys: AuditKeys;
  target: ArchiveTarget;
  policy: Pick<RetentionConfig, 'default' | 'categories'>;
  now?: Date;
  /** Most records removed in one pass; the next pass continues. */
  maxRecords?: number;
  logger?: Logger;
}

export interface RetentionResult {
  removed: number;
  runs: RemovedRun[];
  archive: string | undefined;
}

/** Archives and removes the expired records of the writer's own chain. */
export async function applyRetention(options: RetentionOptions): Promise<RetentionResult> {
  const { store, log, keys } = options;
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? new Date();
  const maxRecords = options.maxRecords ?? 100_000;
  const cutoffs = cutoffsOf(options.policy, now);
  if (cutoffs.size === 0 && options.policy.default === 'forever') {
    return { removed: 0, runs: [], archive: undefined };
  }
  await log.flush();
  const head = await store.head(log.instance);
  if (head === undefined) return { removed: 0, runs: [], archive: undefined };

  const expired: AuditRecord[] = [];
  const categories: Record<string, number> = {};
  for (let from = 1; expired.length < maxRecords;) {
    const page = await store.scan(log.instance, from, 5000);
    if (page.length === 0) break;
    for (const record of page) {
      if (record.seq >= head.seq || expired.length >= maxRecords) break;
      if (record.kind !== 'event') continue;
      const cutoff = cutoffs.get(record.category) ?? defaultCutoff(options.policy, now);
      if (cutoff === undefined || record.time >= cutoff.time) continue;
      expired.push(record);
      categories[record.category] = cutoff.days;
    }
    from = page[page.length - 1]!.seq + 1;
    if (from > head.seq) break;
  }
  if (expired.length === 0) return { removed: 0, runs: [], archive: undefined };

  const runs = runsOf(expired);
  const first = expired[0]!.seq;
  const last = expired[expired.length - 1]!.seq;
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  const name = `${encodeURIComponent(log.instance).replace(/%/g, '_')}/${stamp}-${first}-${last}`;
  await writeArchive(options.target, name, expired, {
    kid: keys.signing.kid,
    privateKey: keys.signing.privateKey,
  });
  const body = signBody<TombstoneBody>(
    {
      instance: log.instance,
      reason: 'retention',
      categories,
      removed: runs,
      archive: name,
      archiveTarget: options.target.kind,
      time: now.toISOString(),
      kid: keys.signing.kid,
    },
    keys.signing.privateKey,
  );
  await log.appendTombstone(body);
  let removed = 0;
  for (const run of runs) removed += await store.remove(log.instance, run.fromSeq, run.toSeq);
  logger.info(
    { instance: log.instance, removed, runs: runs.length, archive: name },
    'audit records removed by retention',
  );
  return { removed, runs, archive: name };
}

function cutoffsOf(
  policy: RetentionOptions['policy'],
  now: Date,
): Map<string, { time: string; days: number }> {
  const cutoffs = new Map<string, { time: string; days: number }>();
  for (const [category, retention] of Object.entries(policy.categories)) {
    if (retention === undefined) continue;
    if (retention === 'forever') cutoffs.set(category, { time: '', days: Infinity });
    else cutoffs.set(category, cutoff(retention, now));
  }
  return cutoffs;
}

function defaultCutoff(
  policy: RetentionOptions['policy'],
  now: Date,
): { time: string; days: number } | undefined {
  return policy.default === 'forever' ? undefined : cutoff(policy.default, now);
}

function cutoff(ms: number, now: Date): { time: string; days: number } {
  return { time: new Date(now.getTime() - ms).toISOString(), days: Math.round(ms / DAY_MS) };
}

/** Groups records into runs of consecutive seq numbers. */
function runsOf(records: readonly AuditRecord[]): RemovedRun[] {
  const runs: RemovedRun[] = [];
  for (const record of records) {
    const run = runs[runs.length - 1];
    if (run !== undefined && run.toSeq + 1 === record.seq) {
      run.toSeq = record.seq;
      run.count += 1;
      run.lastHash = record.hash;
    } else {
      runs.push({ fromSeq: record.seq, toSeq: record.seq, count: 1, lastHash: record.hash });
    }
  }
  return runs;
}
