import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

import { BulwarkError, StoreUnavailableError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { EventSink } from '../events/bus.js';
import { EVENT_SCHEMA_VERSION, type EventDraft, type SecurityEvent } from '../events/schema.js';
import { RecordCipher } from './encryption.js';
import type { AuditKeys } from './keys.js';
import { MerkleAccumulator } from './merkle.js';
import { AuditMetrics } from './metrics.js';
import type { AuditRecord } from './record.js';
import { sealEntries, type EncryptionMode, type RecordEntry, type SealOptions } from './seal.js';
import { signBody, type CheckpointBody, type TombstoneBody } from './signed.js';
import { EventSpool } from './spool.js';
import type { AuditStore, ChainHead } from './store.js';

/**
 * The audit log writer: a sink of the event bus that appends every event to its chain.
 *
 * Group commit: appends wait in a queue while one commit is in flight, and the next commit
 * takes all of them (up to `maxBatch`) in one transaction. A promise returned by `append`
 * resolves only after the commit, or after the events were synced to the local spool
 * because the store failed. Events in the spool are replayed, in order, before any new
 * event reaches the store. When the spool is full the events are dropped: counted in
 * `bulwark_audit_dropped_total`, logged, the promise rejects, and an `audit.events_dropped`
 * record with the count is appended once the store is back.
 */

export interface AuditLogOptions {
  store: AuditStore;
  keys: AuditKeys;
  /** Names this writer's chain. */
  instance: string;
  encryption?: { mode: EncryptionMode; fields: readonly string[] };
  maxBatch?: number;
  checkpoint?: { every: number; interval: number; externalDir?: string };
  spool: { file: string; maxBytes: number; retryInterval: number };
  logger?: Logger;
  metrics?: AuditMetrics;
}

export class AuditEventsDroppedError extends BulwarkError {
  constructor(count: number) {
    super(
      'BWK_ERR_AUDIT_DROPPED',
      `${count} audit events were dropped: the audit store is unreachable and the spool is full`,
    );
  }
}

interface Pending {
  entries: RecordEntry[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

const COMPONENT = 'audit';

export class AuditLog implements EventSink {
  readonly name = 'audit';
  readonly instance: string;
  readonly metrics: AuditMetrics;
  private readonly store: AuditStore;
  private readonly keys: AuditKeys;
  private readonly seal: SealOptions;
  private readonly maxBatch: number;
  private readonly checkpointEvery: number;
  private readonly externalDir: string | undefined;
  private readonly spool: EventSpool;
  private readonly retryInterval: number;
  private readonly logger: Logger;
  private readonly queue: Pending[] = [];
  private pumping: Promise<void> | undefined;
  private sinceCheckpoint = 0;
  /**
   * The chain's head after this writer's last append, and the Merkle tree of the records
   * since the last checkpoint, so that a checkpoint needs no read of the store. Undefined when
   * unknown: after a start with records past the last checkpoint, after another writer of
   * the chain appended, or once a tombstone announces a removal. The next checkpoint then
   * scans the store and starts a new list.
   */
  private knownHead: ChainHead | undefined;
  private uncheckpointed: MerkleAccumulator | undefined;
  private checkpointDue = false;
  private droppedSinceReport = 0;
  private lastReplayAttempt = 0;
  private storeDown = false;
  private timers: NodeJS.Timeout[] = [];
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  /** Whether anything was appended, with or without `open`. */
  private used = false;

  constructor(options: AuditLogOptions) {
    this.store = options.store;
    this.keys = options.keys;
    this.instance = options.instance;
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics ?? new AuditMetrics();

    const mode = options.encryption?.mode ?? 'none';
    const cipher =
      this.keys.encryption === undefined ? undefined : new RecordCipher(this.keys.encryption);
    if (mode !== 'none' && cipher === undefined) {
      throw new BulwarkError(
        'BWK_ERR_AUDIT_KEYS',
        `audit encryption mode "${mode}" needs an encryption key; run "bulwark audit keys generate" or set BULWARK_AUDIT_ENCRYPTION_KEY, or set audit.encryption.mode to none`,
      );
    }

    this.seal = {
      instance: this.instance,
      hmacKeys: this.keys.hmac,
      cipher,
      mode,
      fields: options.encryption?.fields ?? [],
    };

    this.maxBatch = options.maxBatch ?? 1000;
    this.checkpointEvery = options.checkpoint?.every ?? 1000;
    this.externalDir = options.checkpoint?.externalDir;
    this.spool = new EventSpool(options.spool.file, options.spool.maxBytes, cipher);
    this.retryInterval = options.spool.retryInterval;

    const interval = options.checkpoint?.interval ?? 60_000;
    this.timers.push(
      setInterval(() => this.requestCheckpoint(), interval).unref(),
      setInterval(() => this.kick(), this.retryInterval).unref(),
    );
  }

  /**
   * Connects the store, replays a spool left by an earlier run and records `audit.started`.
   * Resolves even when the store is down: the writer then spools until it is back.
   */
  async open(details: Record<string, unknown> = {}): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'open';
    try {
      await this.store.ready();
      const head = await this.store.head(this.instance);
      const last = await this.store.lastCheckpoint(this.instance);
      this.sinceCheckpoint = (head?.seq ?? 0) - (last ?? 0);
      this.knownHead = head;
      this.uncheckpointed = this.sinceCheckpoint === 0 ? new MerkleAccumulator() : undefined;
    } catch (error) {
      this.logger.error(
        { err: error, instance: this.instance },
        'audit store unavailable at start; spooling events',
      );
      this.storeDown = true;
    }
    this.logger.info(
      { instance: this.instance, store: this.store.kind, spooledBytes: this.spool.pending },
      'audit log started',
    );
    await this.appendEvents([
      this.systemEvent('audit.started', 'success', { store: this.store.kind, ...details }),
    ]);
  }

  write(events: readonly SecurityEvent[]): Promise<void> {
    return this.appendEvents(events);
  }

  /** Appends events; resolves once they are durable in the store or the spool. */
  appendEvents(events: readonly SecurityEvent[]): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new Error('audit log is closed'));
    if (events.length === 0) return Promise.resolve();
    return this.enqueue(events.map((event) => ({ kind: 'event', event })));
  }

  /** Appends an event built from a draft, as the bus would publish it. */
  record(draft: EventDraft): Promise<SecurityEvent> {
    const { component, details, target, ...rest } = draft;
    const event: SecurityEvent = {
      schemaVersion: EVENT_SCHEMA_VERSION,
      id: newId(),
      time: new Date().toISOString(),
      ...rest,
      target: target ?? {},
      source: { component, instance: this.instance },
      details: details ?? {},
    };
    return this.appendEvents([event]).then(() => event);
  }

  /** Appends a signed tombstone. Rejects rather than spools when the store is down. */
  appendTombstone(body: TombstoneBody): Promise<void> {
    const text = JSON.stringify(body);
    // Retention removes records once the tombstone is in. The next checkpoint must cover
    // what the store still contains, so it scans.
    this.uncheckpointed = undefined;
    return this.enqueue([
      { kind: 'tombstone', time: body.time, type: 'audit.tombstone', body: () => text },
    ]);
  }

  /** Writes a checkpoint now, if records arrived since the last one. */
  async checkpoint(): Promise<void> {
    this.checkpointDue = true;
    await this.enqueue([]);
  }

  /** Resolves when every queued append has been committed or spooled. */
  async flush(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  /** Records `audit.stopped`, writes a final checkpoint and closes the store. */
  async close(): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    for (const timer of this.timers) clearInterval(timer);
    if (this.state === 'new' && !this.used) {
      // Never opened and never written to: there is no start to pair a stop record with.
      this.state = 'closed';
      this.spool.close();
      await this.store.close();
      return;
    }
    this.state = 'closing';
    try {
      await this.appendEvents([this.systemEvent('audit.stopped', 'success', {})]);
      await this.checkpoint();
    } catch (error) {
      this.logger.error({ err: error }, 'audit log could not record its stop');
    }
    await this.flush();
    this.state = 'closed';
    this.spool.close();
    await this.store.close();
    this.logger.info({ instance: this.instance }, 'audit log stopped');
  }

  /** Whether the last commit failed and events are being spooled. */
  get degraded(): boolean {
    return this.storeDown;
  }

  private enqueue(entries: RecordEntry[]): Promise<void> {
    this.used = true;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ entries, resolve, reject });
      this.startPump();
    });
  }

  private kick(): void {
    if (this.spool.pending === 0 && !this.checkpointDue) return;
    this.startPump();
  }

  private startPump(): void {
    if (this.pumping) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      // An append made after the pump's last look at the queue, but before this callback,
      // found `pumping` still set and started nothing.
      if (this.queue.length > 0) this.startPump();
    });
  }

  private requestCheckpoint(): void {
    if (this.sinceCheckpoint === 0) return;
    this.checkpointDue = true;
    this.kick();
  }

  /** Drains the queue as its only consumer, so commits never overlap and order is kept. */
  private async pump(): Promise<void> {
    // Yield once, so appends made in the same tick share the first commit.
    await Promise.resolve();
    for (;;) {
      if (this.spool.pending > 0) await this.replay();
      const batch = this.takeBatch();
      if (batch.length > 0) await this.commitBatch(batch);
      if (this.checkpointDue || this.sinceCheckpoint >= this.checkpointEvery) {
        await this.writeCheckpoint();
      }
      if (this.queue.length === 0) return;
      // One turn of the event loop per batch: producers that await their appends only in
      // microtasks would otherwise keep this loop from ever letting I/O, timers and worker
      // messages run, and appends made by I/O callbacks join the next batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private takeBatch(): Pending[] {
    const batch: Pending[] = [];
    let size = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (batch.length > 0 && size + next.entries.length > this.maxBatch) break;
      batch.push(this.queue.shift()!);
      size += next.entries.length;
    }
    return batch;
  }

  private async commitBatch(pendings: Pending[]): Promise<void> {
    let batch = pendings;
    const entries = batch.flatMap((pending) => pending.entries);
    if (entries.length === 0) {
      for (const pending of batch) pending.resolve();
      return;
    }

    if (this.spool.pending === 0) {
      const committed = await this.tryCommit(entries);
      if (committed) {
        for (const pending of batch) pending.resolve();
        return;
      }
    }

    // The store failed, or older events still wait in the spool and must go first. A
    // tombstone is not spooled: retention removes records only after it is committed.
    const writerRecords = batch.filter((pending) =>
      pending.entries.some((e) => e.kind !== 'event'),
    );
    for (const pending of writerRecords) {
      pending.reject(new StoreUnavailableError('the audit store is unavailable'));
    }
    batch = batch.filter((pending) => !writerRecords.includes(pending));

    const events = batch.flatMap((pending) =>
      pending.entries.flatMap((entry) => (entry.kind === 'event' ? [entry.event] : [])),
    );
    if (this.spool.write(events)) {
      this.metrics.spooled.inc(events.length);
      this.metrics.spoolBytes.set(this.spool.pending);
      for (const pending of batch) pending.resolve();
      return;
    }

    this.droppedSinceReport += events.length;
    this.metrics.dropped.inc(events.length);
    this.logger.error(
      { dropped: events.length, droppedSinceReport: this.droppedSinceReport },
      'audit spool full; events dropped',
    );
    const error = new AuditEventsDroppedError(events.length);
    for (const pending of batch) pending.reject(error);
  }

  /** Commits entries to the store. Returns false (logged and counted) when the store failed. */
  private async tryCommit(entries: RecordEntry[]): Promise<boolean> {
    const started = process.hrtime.bigint();
    try {
      const records = await this.store.append(this.instance, (head) => {
        if (head?.seq !== this.knownHead?.seq) this.uncheckpointed = undefined;
        return sealEntries(this.seal, head, entries);
      });
      this.noteAppended(records);
    } catch (error) {
      this.metrics.storeFailures.inc();
      if (!this.storeDown) {
        this.logger.error(
          { err: error, instance: this.instance },
          'audit store append failed; spooling events until it is back',
        );
      }
      this.storeDown = true;
      this.lastReplayAttempt = Date.now();
      return false;
    }
    this.metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    this.metrics.appended.inc(entries.length);
    this.sinceCheckpoint += entries.length;
    if (this.storeDown) {
      this.storeDown = false;
      this.logger.info({ instance: this.instance }, 'audit store reachable again');
    }
    return true;
  }

  /**
   * Moves spooled events to the store, oldest first. While the store is down, it tries once
   * per retry interval.
   */
  private async replay(): Promise<void> {
    if (this.storeDown && Date.now() - this.lastReplayAttempt < this.retryInterval) return;
    this.lastReplayAttempt = Date.now();
    let replayed = 0;
    while (this.spool.pending > 0) {
      const { events, end } = this.spool.read(this.maxBatch);
      if (events.length === 0) break;
      const committed = await this.tryCommit(events.map((event) => ({ kind: 'event', event })));
      if (!committed) return;
      this.spool.markReplayed(end);
      replayed += events.length;
    }
    this.metrics.spoolBytes.set(this.spool.pending);
    if (replayed > 0) this.logger.info({ replayed }, 'audit spool replayed');
    if (this.droppedSinceReport > 0) {
      const dropped = this.droppedSinceReport;
      const committed = await this.tryCommit([
        {
          kind: 'event',
          event: this.systemEvent('audit.events_dropped', 'failure', { dropped }, 'critical'),
        },
      ]);
      if (committed) this.droppedSinceReport -= dropped;
    }
  }

  /** Keeps the head and the hashes a checkpoint needs, from records this writer appended. */
  private noteAppended(records: readonly AuditRecord[]): void {
    const last = records[records.length - 1];
    if (last === undefined) return;
    if (this.uncheckpointed !== undefined) {
      for (const record of records) this.uncheckpointed.add(record.hash);
    }
    this.knownHead = { seq: last.seq, hash: last.hash };
  }

  private async writeCheckpoint(): Promise<void> {
    this.checkpointDue = false;
    if (this.storeDown || this.spool.pending > 0) return;
    try {
      const range =
        this.uncheckpointed !== undefined && this.knownHead !== undefined
          ? {
              head: this.knownHead,
              tree: this.uncheckpointed,
              fromSeq: this.knownHead.seq - this.uncheckpointed.size + 1,
            }
          : await this.scanUncheckpointed();
      if (range === undefined || range.tree.size === 0) {
        this.sinceCheckpoint = 0;
        return;
      }
      const { head, tree, fromSeq } = range;
      const body = signBody<CheckpointBody>(
        {
          instance: this.instance,
          fromSeq,
          toSeq: head.seq,
          count: tree.size,
          root: tree.root(),
          lastHash: head.hash,
          time: new Date().toISOString(),
          kid: this.keys.signing.kid,
        },
        this.keys.signing.privateKey,
      );
      const text = JSON.stringify(body);
      const [record] = await this.store.append(this.instance, (current) => {
        // Another writer of this chain appended meanwhile, so the next checkpoint covers it.
        if (current?.seq !== head.seq) {
          this.uncheckpointed = undefined;
          return [];
        }
        return sealEntries(this.seal, current, [
          { kind: 'checkpoint', time: body.time, type: 'audit.checkpoint', body: () => text },
        ]);
      });
      if (record === undefined) return;
      this.metrics.appended.inc();
      this.sinceCheckpoint = 0;
      this.knownHead = { seq: record.seq, hash: record.hash };
      this.uncheckpointed = new MerkleAccumulator();
      if (this.externalDir !== undefined) this.writeExternal(record);
    } catch (error) {
      this.logger.error({ err: error, instance: this.instance }, 'audit checkpoint failed');
    }
  }

  /** Reads the hashes of the records after the last checkpoint from the store. */
  private async scanUncheckpointed(): Promise<
    { head: ChainHead; tree: MerkleAccumulator; fromSeq: number } | undefined
  > {
    const head = await this.store.head(this.instance);
    const last = (await this.store.lastCheckpoint(this.instance)) ?? 0;
    if (head === undefined || head.seq === last) return undefined;
    const tree = new MerkleAccumulator();
    let fromSeq: number | undefined;
    for (let next = last + 1; next <= head.seq;) {
      const page = await this.store.scan(this.instance, next, 5000);
      if (page.length === 0) break;
      for (const record of page) {
        if (record.seq > head.seq) break;
        fromSeq ??= record.seq;
        tree.add(record.hash);
      }
      next = page[page.length - 1]!.seq + 1;
    }
    return fromSeq === undefined ? undefined : { head, tree, fromSeq };
  }

  /**
   * Copies a checkpoint to the external folder. The file is created exclusively and never
   * rewritten, so the folder can be append-only (`chattr +a`, a WORM mount) for this writer.
   */
  private writeExternal(record: AuditRecord): void {
    const dir = join(this.externalDir!, chainFolder(record.instance));
    const file = join(dir, `${String(record.seq).padStart(12, '0')}.json`);
    try {
      mkdirSync(dir, { recursive: true });
      const fd = openSync(file, 'wx', 0o644);
      try {
        writeSync(fd, `${JSON.stringify(record)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      this.logger.error({ err: error, file }, 'external audit checkpoint could not be written');
    }
  }

  private systemEvent(
    type: string,
    outcome: SecurityEvent['outcome'],
    details: Record<string, unknown>,
    severity: SecurityEvent['severity'] = 'info',
  ): SecurityEvent {
    return {
      schemaVersion: EVENT_SCHEMA_VERSION,
      id: newId(),
      time: new Date().toISOString(),
      type,
      category: 'system',
      severity,
      outcome,
      actor: { type: 'system' },
      target: {},
      source: { component: COMPONENT, instance: this.instance },
      details,
    };
  }
}

/** Folder name of a chain in the external checkpoint folder: the instance, made path-safe. */
export function chainFolder(instance: string): string {
  return encodeURIComponent(instance);
}
