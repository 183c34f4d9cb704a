import type { KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { SecretKeyRing } from './keys.js';
import { merkleRoot } from './merkle.js';
import { digestsEqual, GENESIS_HASH, recordHash, recordHmac, type AuditRecord } from './record.js';
import { verifyBody, type CheckpointBody, type RemovedRun, type TombstoneBody } from './signed.js';
import type { AuditStore } from './store.js';
import { chainFolder } from './writer.js';

/**
 * Verification of the audit log: every chain, record by record, in seq order.
 *
 * A record is accepted when its hash matches its stored columns, it links to the hash of
 * its predecessor, its seq follows the predecessor's (or the gap is a run a signed
 * tombstone removed by policy) and, when the verifier has the HMAC keys, its HMAC
 * matches. Checkpoints must carry a valid Ed25519 signature and, unless retention removed
 * part of their range, the Merkle root of the records they cover. Checkpoints in an
 * external folder must be present in the log with the same hash: that is what detects a
 * truncated tail or a rollback, which a chain alone cannot.
 *
 * The first bad record of a chain stops that chain and is classified by the damage that
 * explains it; the other chains are still checked.
 */

export type DamageKind = 'modified' | 'deleted' | 'inserted' | 'reordered' | 'truncated' | 'forged';

export interface Damage {
  kind: DamageKind;
  instance: string;
  /** The first bad record, or the first missing seq. */
  seq: number;
  message: string;
}

export interface ChainReport {
  instance: string;
  records: number;
  checkpoints: number;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  /** Runs removed by the retention policy, as their tombstones state them. */
  removedByPolicy: Array<RemovedRun & { archive: string }>;
  /** External checkpoints found for this chain and matched against the log. */
  externalCheckpoints: number;
  /** Records after the last checkpoint: without the HMAC keys nothing signs them yet. */
  unsignedTail: number;
  damage?: Damage;
}

export interface VerifyReport {
  ok: boolean;
  chains: ChainReport[];
  records: number;
  seconds: number;
  /** Whether record HMACs were checked (the verifier held the HMAC keys). */
  hmacChecked: boolean;
  /** No chain has a record: a log whose records were all deleted looks like this. */
  empty: boolean;
}

export interface VerifyOptions {
  store: AuditStore;
  /** Signing public keys by key id. */
  publicKeys: (kid: string) => KeyObject | undefined;
  /** Without them, forgeries are caught only by the checkpoint signatures. */
  hmacKeys?: SecretKeyRing;
  /** A folder of external checkpoints, as the writer's `checkpoint.externalDir`. */
  externalDir?: string;
  /** Chains to verify. All chains when unset. */
  instances?: readonly string[];
  /** Called every `progressEvery` records and at the end of each chain. */
  onProgress?: (progress: { instance: string; records: number; total: number }) => void;
  progressEvery?: number;
  pageSize?: number;
  /**
   * Accepts a log without records. By default an empty log fails: deleting every record
   * leaves nothing for the chain to contradict, so "nothing to check" is not a pass.
   */
  allowEmpty?: boolean;
}

export async function verifyAuditLog(options: VerifyOptions): Promise<VerifyReport> {
  const started = process.hrtime.bigint();
  const instances = options.instances ?? (await options.store.instances());
  const chains: ChainReport[] = [];
  let total = 0;
  for (const instance of instances) {
    const report = await verifyChain(options, instance, total);
    total += report.records;
    chains.push(report);
  }
  const external =
    options.externalDir === undefined ? [] : await externalChains(options.externalDir);
  for (const instance of external) {
    if (instances.includes(instance) || options.instances !== undefined) continue;
    // A chain with external checkpoints but no record left in the log was removed whole.
    const report = emptyReport(instance);
    await checkExternal(options, report, new Map());
    chains.push(report);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const empty = total === 0;
  return {
    ok:
      chains.every((chain) => chain.damage === undefined) &&
      (!empty || options.allowEmpty === true),
    empty,
    chains,
    records: total,
    seconds,
    hmacChecked: options.hmacKeys !== undefined,
  };
}

function emptyReport(instance: string): ChainReport {
  return {
    instance,
    records: 0,
    checkpoints: 0,
    firstSeq: undefined,
    lastSeq: undefined,
    removedByPolicy: [],
    externalCheckpoints: 0,
    unsignedTail: 0,
  };
}

interface ChainState {
  expectedSeq: number;
  prevHash: string;
  /** Hash before `prevHash`, to recognise a record inserted just before. */
  prevPrevHash: string | undefined;
  /** Hashes since the last checkpoint, and whether policy removed any of that range. */
  leaves: string[];
  leavesFrom: number | undefined;
  removedInRange: boolean;
}

async function verifyChain(
  options: VerifyOptions,
  instance: string,
  totalBefore: number,
): Promise<ChainReport> {
  const { store } = options;
  const report = emptyReport(instance);
  const pageSize = options.pageSize ?? 5000;
  const progressEvery = options.progressEvery ?? 50_000;

  const runs = await tombstoneRuns(options, instance, report);
  if (report.damage !== undefined) return report;

  const state: ChainState = {
    expectedSeq: 1,
    prevHash: GENESIS_HASH,
    prevPrevHash: undefined,
    leaves: [],
    leavesFrom: undefined,
    removedInRange: false,
  };
  const hashesBySeq = new Map<number, string>();
  const reader = pageReader(store, instance, pageSize);
  let record = await reader.next();
  while (record !== undefined) {
    const next = await reader.peek();
    if (!skipRemoved(state, record.seq, runs)) {
      report.damage = {
        kind: 'deleted',
        instance,
        seq: state.expectedSeq,
        message:
          record.seq - 1 === state.expectedSeq
            ? `record ${state.expectedSeq} is missing and no tombstone removed it`
            : `records ${state.expectedSeq}..${record.seq - 1} are missing and no tombstone removed them`,
      };
      return report;
    }
    const damage = await checkRecord(options, instance, state, record, next);
    if (damage !== undefined) {
      report.damage = damage;
      return report;
    }
    if (record.kind === 'checkpoint') {
      const problem = checkCheckpoint(options, state, record);
      if (problem !== undefined) {
        report.damage = { ...problem, instance };
        return report;
      }
      report.checkpoints += 1;
      hashesBySeq.set(record.seq, record.hash);
      state.leaves = [];
      state.leavesFrom = undefined;
      state.removedInRange = false;
    } else {
      state.leavesFrom ??= record.seq;
      state.leaves.push(record.hash);
    }
    report.firstSeq ??= record.seq;
    report.lastSeq = record.seq;
    report.records += 1;
    state.prevPrevHash = state.prevHash;
    state.prevHash = record.hash;
    state.expectedSeq = record.seq + 1;
    if (report.records % progressEvery === 0) {
      options.onProgress?.({
        instance,
        records: report.records,
        total: totalBefore + report.records,
      });
    }
    record = await reader.next();
  }
  report.unsignedTail = state.leaves.length;
  options.onProgress?.({ instance, records: report.records, total: totalBefore + report.records });
  if (options.externalDir !== undefined) await checkExternal(options, report, hashesBySeq);
  return report;
}

/** Accounts for records removed by policy before `seq`. Returns false when a gap is unexplained. */
function skipRemoved(state: ChainState, seq: number, runs: Map<number, RemovedRun>): boolean {
  while (seq > state.expectedSeq) {
    const run = runs.get(state.expectedSeq);
    if (run === undefined || run.toSeq >= seq) return false;
    state.prevPrevHash = undefined;
    state.prevHash = run.lastHash;
    state.expectedSeq = run.toSeq + 1;
    state.removedInRange = true;
  }
  return true;
}

async function checkRecord(
  options: VerifyOptions,
  instance: string,
  state: ChainState,
  record: AuditRecord,
  next: AuditRecord | undefined,
): Promise<Damage | undefined> {
  // Hashes are public, so a plain comparison will do. The HMAC is compared in constant time.
  const hashOk = record.instance === instance && recordHash(record) === record.hash;
  const linkOk = record.prevHash === state.prevHash;
  const hmacOk = options.hmacKeys === undefined || hmacMatches(options.hmacKeys, record);
  if (hashOk && linkOk && hmacOk) return undefined;

  const at = (kind: DamageKind, message: string, seq = record.seq): Damage => ({
    kind,
    instance,
    seq,
    message,
  });
  if (!linkOk && state.prevPrevHash !== undefined && record.prevHash === state.prevPrevHash) {
    // Two records link to the same predecessor, so one of them was inserted. This one is the
    // inserted record when the next record links past it or its own HMAC fails.
    // Otherwise the record before it was inserted.
    const nextSkipsThis = next !== undefined && next.prevHash === state.prevHash;
    if (nextSkipsThis || !hmacOk) {
      return at(
        'inserted',
        `record ${record.seq} is not part of the chain: it links to record ${record.seq - 2} as record ${record.seq - 1} does${nextSkipsThis ? `, and record ${next.seq} links to record ${record.seq - 1}` : ', and its HMAC is invalid'}`,
      );
    }
    return at(
      'inserted',
      `record ${record.seq - 1} is not part of the chain: record ${record.seq} links past it`,
      record.seq - 1,
    );
  }
  if (!linkOk && (await appearsLater(options.store, instance, record))) {
    return at(
      'reordered',
      `record ${record.seq} links to a record stored after it: records were swapped or moved`,
    );
  }
  if (next !== undefined && next.prevHash === state.prevHash) {
    return at(
      'inserted',
      `record ${record.seq} is not part of the chain: record ${next.seq} links past it`,
    );
  }
  if (!hashOk) {
    return at('modified', `record ${record.seq} does not match its hash: its content was changed`);
  }
  if (!linkOk) {
    return at(
      'deleted',
      `record ${record.seq} links to a record that is no longer in the log: records before it were removed`,
    );
  }
  if (next !== undefined && next.prevHash === record.hash) {
    return at(
      'forged',
      `record ${record.seq} has a consistent hash chain but an invalid HMAC: the log was rewritten without the key`,
    );
  }
  return at(
    'modified',
    `record ${record.seq} has an invalid HMAC: its content and hash were changed`,
  );
}

function hmacMatches(keys: SecretKeyRing, record: AuditRecord): boolean {
  const key = keys.byId(record.hmacKid);
  if (key === undefined) return false;
  return digestsEqual(recordHmac(key.key, record.instance, record.seq, record.hash), record.hmac);
}

/** Checks whether a record stored after `record` has the hash that `record` links to. */
async function appearsLater(
  store: AuditStore,
  instance: string,
  record: AuditRecord,
): Promise<boolean> {
  for (let from = record.seq + 1; ;) {
    const page = await store.scan(instance, from, 5000);
    if (page.length === 0) return false;
    if (page.some((later) => later.hash === record.prevHash)) return true;
    from = page[page.length - 1]!.seq + 1;
  }
}

function checkCheckpoint(
  options: VerifyOptions,
  state: ChainState,
  record: AuditRecord,
): Omit<Damage, 'instance'> | undefined {
  let body: CheckpointBody;
  try {
    body = JSON.parse(record.body) as CheckpointBody;
  } catch {
    return { kind: 'modified', seq: record.seq, message: `checkpoint ${record.seq} is not JSON` };
  }
  if (!verifyBody(body, options.publicKeys)) {
    return {
      kind: 'forged',
      seq: record.seq,
      message: `checkpoint ${record.seq} has an invalid signature (key ${String(body.kid)})`,
    };
  }
  // Each record before passed its own checks, so a chain that differs from what the
  // checkpoint signed was rebuilt after the fact.
  if (body.toSeq !== record.seq - 1 || body.lastHash !== record.prevHash) {
    return {
      kind: 'forged',
      seq: record.seq,
      message: `checkpoint ${record.seq} signed a different record ${body.toSeq} than the one before it: the chain was rebuilt`,
    };
  }
  if (state.removedInRange) return undefined;
  if (body.fromSeq !== state.leavesFrom || body.count !== state.leaves.length) {
    return {
      kind: 'forged',
      seq: record.seq,
      message: `checkpoint ${record.seq} signed ${body.count} records from ${body.fromSeq}, the log contains ${state.leaves.length} from ${String(state.leavesFrom)}`,
    };
  }
  if (state.leaves.length > 0 && merkleRoot(state.leaves) !== body.root) {
    return {
      kind: 'forged',
      seq: record.seq,
      message: `checkpoint ${record.seq}: the records ${body.fromSeq}..${body.toSeq} do not match the signed Merkle root`,
    };
  }
  return undefined;
}

/** Collects the runs that signed tombstones of the chain removed, keyed by first seq. */
async function tombstoneRuns(
  options: VerifyOptions,
  instance: string,
  report: ChainReport,
): Promise<Map<number, RemovedRun>> {
  const runs = new Map<number, RemovedRun>();
  const tombstones = await options.store.scanKind(instance, 'tombstone');
  for (const record of tombstones) {
    let body: TombstoneBody;
    try {
      body = JSON.parse(record.body) as TombstoneBody;
    } catch {
      body = { kid: '', signature: '' } as TombstoneBody;
    }
    if (!verifyBody(body, options.publicKeys) || body.instance !== instance) {
      report.damage = {
        kind: 'forged',
        instance,
        seq: record.seq,
        message: `tombstone ${record.seq} has an invalid signature: it cannot excuse missing records`,
      };
      return runs;
    }
    for (const run of body.removed) {
      runs.set(run.fromSeq, run);
      report.removedByPolicy.push({ ...run, archive: body.archive });
    }
  }
  return runs;
}

async function externalChains(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isDirectory())
      .map((entry) => decodeURIComponent(entry.name));
  } catch {
    return [];
  }
}

/**
 * Matches every external checkpoint of the chain against the log. A checkpoint beyond the
 * last record means the tail was cut off. A checkpoint whose hash differs means the log was
 * rolled back or rewritten.
 */
async function checkExternal(
  options: VerifyOptions,
  report: ChainReport,
  hashesBySeq: Map<number, string>,
): Promise<void> {
  if (report.damage !== undefined) return;
  const dir = join(options.externalDir!, chainFolder(report.instance));
  let files: string[];
  try {
    files = (await readdir(dir)).filter((name) => /^\d{12}\.json$/.test(name)).sort();
  } catch {
    return;
  }
  let signedBeyond: number | undefined;
  for (const file of files) {
    let record: AuditRecord;
    let body: CheckpointBody;
    try {
      record = JSON.parse(await readFile(join(dir, file), 'utf8')) as AuditRecord;
      body = JSON.parse(record.body) as CheckpointBody;
    } catch {
      continue;
    }
    // An external file that does not verify is not evidence of anything, so it is skipped.
    if (!verifyBody(body, options.publicKeys) || !digestsEqual(recordHash(record), record.hash)) {
      continue;
    }
    report.externalCheckpoints += 1;
    if (report.lastSeq === undefined || record.seq > report.lastSeq) {
      // Files are in seq order, so every later file is beyond the end too. The newest one
      // marks the end of the missing range.
      signedBeyond = Math.max(signedBeyond ?? 0, record.seq);
      continue;
    }
    const stored = hashesBySeq.get(record.seq);
    if (stored !== record.hash) {
      report.damage = {
        kind: 'modified',
        instance: report.instance,
        seq: record.seq,
        message: `record ${record.seq} differs from the external checkpoint: the log was rolled back or rewritten`,
      };
      return;
    }
  }
  if (signedBeyond !== undefined) {
    report.damage = {
      kind: 'truncated',
      instance: report.instance,
      seq: (report.lastSeq ?? 0) + 1,
      message: truncationMessage(report.lastSeq ?? 0, signedBeyond),
    };
  }
}

/**
 * Builds the message of a cut-off tail. An external checkpoint at `checkpointSeq` proves that
 * the chain once contained every record up to and including it.
 */
function truncationMessage(lastSeq: number, checkpointSeq: number): string {
  const from = lastSeq + 1;
  const missing =
    from === checkpointSeq
      ? `record ${from} is missing`
      : `records ${from}–${checkpointSeq} are missing`;
  const ends =
    lastSeq === 0 ? 'the log has no records of this chain' : `the log ends at record ${lastSeq}`;
  return `${missing}: an external checkpoint signed the chain up to record ${checkpointSeq}, ${ends}; the tail was removed`;
}

/** Reads a chain page by page with one record of lookahead. */
function pageReader(store: AuditStore, instance: string, pageSize: number) {
  let page: AuditRecord[] = [];
  let index = 0;
  let nextSeq = 1;
  let done = false;
  const fill = async (): Promise<void> => {
    if (index < page.length || done) return;
    page = await store.scan(instance, nextSeq, pageSize);
    index = 0;
    if (page.length === 0) done = true;
    else nextSeq = page[page.length - 1]!.seq + 1;
  };
  return {
    async next(): Promise<AuditRecord | undefined> {
      await fill();
      return done ? undefined : page[index++];
    },
    async peek(): Promise<AuditRecord | undefined> {
      await fill();
      return done ? undefined : page[index];
    },
  };
}
