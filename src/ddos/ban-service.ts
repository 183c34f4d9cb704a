import { BulwarkError } from '../core/errors.js';
import { parseIp } from '../core/ip.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { EventBus } from '../events/bus.js';
import type { SecurityEvent } from '../events/schema.js';
import { MemoryBanStore, type BanEscalation, type BanStore, type BanTrigger } from './ban-store.js';
import { banSubjectOf, BanList, type Ban } from './bans.js';
import type { IpList } from './ip-lists.js';
import type { BansConfig } from './network-config.js';
import { BanSubscription, RedisBanStore } from './redis-ban-store.js';

/** A manual ban of an allowlisted address, which the guards would never enforce. */
export class BanAllowlistedError extends BulwarkError {
  constructor(readonly subject: string) {
    super(
      'BWK_ERR_BAN_ALLOWLISTED',
      `${subject} is on the allowlist (ipLists.allow), so a ban would never apply; remove it from the allowlist first`,
    );
  }
}

const REDIS_READY_TIMEOUT_MS = 2_000;

/** The event outcomes that count as violations; report-only (`would_block`) ones do not. */
const VIOLATION_OUTCOMES = new Set(['blocked', 'detected', 'failure']);

export function escalationOf(config: BansConfig): BanEscalation {
  return { durationsMs: config.durations, resetAfterMs: config.resetAfter };
}

/**
 * Manual ban operations, shared by the admin API and `bulwark bans`: the allowlist check,
 * the default duration, and the in-memory copy of a running instance.
 */
export class BanManager {
  constructor(
    readonly store: BanStore,
    private readonly allowlist: IpList,
    private readonly config: BansConfig,
    private readonly mirror?: BanList,
  ) {}

  /** The length of a manual ban without one given: the longest escalation step. */
  get defaultDurationMs(): number {
    return this.config.durations[this.config.durations.length - 1]!;
  }

  /** Bans a canonical subject (see canonicalSubject); throws BanAllowlistedError. */
  async add(subject: string, durationMs?: number, reason?: string): Promise<Ban> {
    const network = subject.slice(0, subject.lastIndexOf('/'));
    if (this.allowlist.has(network)) throw new BanAllowlistedError(subject);
    const ban = await this.store.add({
      subject,
      durationMs: durationMs ?? this.defaultDurationMs,
      reason: reason ?? 'manual',
    });
    this.mirror?.put(ban);
    return ban;
  }

  /** Lifts a ban; returns it, or undefined when the subject was not banned. */
  async remove(subject: string): Promise<Ban | undefined> {
    const ban = await this.store.remove(subject);
    this.mirror?.remove(subject);
    return ban;
  }

  list(): Promise<Ban[]> {
    return this.store.list();
  }
}

export interface BanServiceOptions {
  config: BansConfig;
  storage: { redis?: string; keyPrefix: string; commandTimeout: number };
  allowlist: IpList;
  bus: EventBus;
  logger?: Logger;
  /** Replaces the store chosen from `storage` (tests). */
  store?: BanStore;
}

/**
 * Automatic bans: counts the violations that `bans.triggers` name on the event bus and bans
 * the client when a trigger fires. Keeps the in-memory list that the ban guard reads, current
 * with the shared store through notices and full reloads every `syncInterval`.
 */
export class BanService {
  readonly list = new BanList();
  readonly manager: BanManager;
  private readonly store: BanStore;
  private readonly ownsStore: boolean;
  private readonly triggers: ReadonlyMap<string, BanTrigger>;
  private readonly logger: Logger;
  private readonly unsubscribe: () => void;
  private readonly subscription: BanSubscription | undefined;
  private readonly timer: NodeJS.Timeout;
  private syncing: Promise<void> | undefined;
  /** Notices received during a full reload, applied after it so that none is lost. */
  private pending: Array<() => void> | undefined;

  constructor(private readonly options: BanServiceOptions) {
    const { config, storage, bus } = options;
    this.logger = options.logger ?? silentLogger;
    this.triggers = new Map(
      config.triggers.map((trigger) => [
        trigger.event,
        { event: trigger.event, count: trigger.count, windowMs: trigger.window },
      ]),
    );
    this.ownsStore = options.store === undefined;
    this.store = options.store ?? createBanStore(config, storage, this.logger);
    this.manager = new BanManager(this.store, options.allowlist, config, this.list);
    if (this.store instanceof RedisBanStore && storage.redis !== undefined) {
      this.subscription = new BanSubscription({
        url: storage.redis,
        channel: this.store.channel,
        onAdd: (ban) => this.whenSynced(() => this.list.put(ban)),
        onRemove: (subject) => this.whenSynced(() => this.list.remove(subject)),
        onSubscribed: () => void this.sync(),
        logger: this.logger,
      });
    }
    this.timer = setInterval(() => void this.sync(), config.syncInterval);
    this.timer.unref();
    this.unsubscribe = bus.subscribe((event) => this.observe(event));
    this.logger.info(
      { store: this.store.kind, triggers: config.triggers.map((trigger) => trigger.event) },
      'automatic bans on',
    );
  }

  /**
   * Reloads every ban from the store into the in-memory list. Concurrent calls share one
   * reload. Failures are logged and the list stays as it is.
   */
  sync(): Promise<void> {
    this.syncing ??= this.reload().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  async close(): Promise<void> {
    this.unsubscribe();
    clearInterval(this.timer);
    this.subscription?.close();
    await this.syncing;
    if (this.ownsStore) await this.store.close();
  }

  private async reload(): Promise<void> {
    if (this.store.kind === 'memory') {
      this.list.replaceAll(await this.store.list(), Date.now());
      return;
    }
    this.pending = [];
    try {
      // The subscriber may connect before the command client, whose commands fail until then.
      if (this.store instanceof RedisBanStore) await this.store.whenReady(REDIS_READY_TIMEOUT_MS);
      const bans = await this.store.list();
      this.list.replaceAll(bans, Date.now());
    } catch (error) {
      this.logger.warn({ err: error }, 'reloading bans from Redis failed; keeping the bans known');
    } finally {
      const pending = this.pending;
      this.pending = undefined;
      for (const apply of pending) apply();
      this.list.sweep(Date.now());
    }
  }

  private whenSynced(apply: () => void): void {
    if (this.pending !== undefined) this.pending.push(apply);
    apply();
  }

  /** Counts a bus event when a trigger names it and it is a violation by a client address. */
  private observe(event: SecurityEvent): void {
    const trigger = this.triggers.get(event.type);
    if (trigger === undefined || !VIOLATION_OUTCOMES.has(event.outcome)) return;
    // A system failure, such as an unreachable key server, is not the client's doing.
    if (event.category === 'system') return;
    const ip = event.actor.ip;
    if (ip === undefined || parseIp(ip) === undefined || this.options.allowlist.has(ip)) return;
    const subject = banSubjectOf(ip, this.options.config.ipv6Prefix);
    if (subject === undefined || this.list.find(ip, Date.now()) !== undefined) return;

    this.store.recordViolation(subject, trigger).then(
      (recorded) => {
        if (recorded !== undefined) this.applied(recorded.ban, recorded.localOnly, event);
      },
      (error: unknown) => this.logger.error({ err: error, subject }, 'counting a violation failed'),
    );
  }

  private applied(ban: Ban, localOnly: boolean, cause: SecurityEvent): void {
    this.list.put(ban, { localOnly });
    const trigger = this.triggers.get(ban.reason);
    const durationMs = ban.expiresAt - ban.createdAt;
    this.logger.warn(
      { subject: ban.subject, reason: ban.reason, level: ban.level, durationMs, localOnly },
      'client banned',
    );
    this.options.bus.publish({
      type: 'ban.applied',
      category: 'violation',
      severity: 'medium',
      outcome: 'blocked',
      component: 'bans',
      correlationId: cause.correlationId,
      actor: { type: cause.actor.type, id: cause.actor.id, ip: cause.actor.ip },
      target: { resourceType: 'ip_ban', resourceId: ban.subject },
      details: {
        subject: ban.subject,
        trigger: ban.reason,
        count: trigger?.count,
        windowMs: trigger?.windowMs,
        level: ban.level,
        durationMs,
        expiresAt: new Date(ban.expiresAt).toISOString(),
        source: 'auto',
        sharedWithInstances: !localOnly && this.store.kind === 'redis',
      },
    });
  }
}

/** Creates the Redis store with `storage.redis`, else the memory store. */
export function createBanStore(
  config: BansConfig,
  storage: { redis?: string; keyPrefix: string; commandTimeout: number },
  logger: Logger,
): BanStore {
  const escalation = escalationOf(config);
  if (storage.redis === undefined) return new MemoryBanStore(escalation);
  return new RedisBanStore({
    redis: storage.redis,
    keyPrefix: storage.keyPrefix,
    escalation,
    // Ban changes are rare and off the request path, so they may wait longer than a
    // rate-limit check.
    commandTimeoutMs: Math.max(storage.commandTimeout, 500),
    logger,
  });
}
