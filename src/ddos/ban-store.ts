import type { Ban } from './bans.js';

/** When a trigger fires: `count` violations of `event` within `windowMs`. */
export interface BanTrigger {
  event: string;
  count: number;
  windowMs: number;
}

/** How long bans last: by escalation level, and when escalation starts over. */
export interface BanEscalation {
  /** Ban lengths in milliseconds for levels 1, 2, ...; later levels use the last one. */
  durationsMs: readonly number[];
  /** Quiet time after the end of a ban after which the level starts over at 1. */
  resetAfterMs: number;
}

/** A ban made by a violation, and whether it holds on this instance only. */
export interface RecordedBan {
  ban: Ban;
  /** True when the shared store was unreachable and the ban was made locally instead. */
  localOnly: boolean;
}

export interface ManualBan {
  subject: string;
  durationMs: number;
  reason: string;
}

/**
 * Storage of bans and of the violation counts behind them. The memory store serves one process;
 * the Redis store shares bans between instances. Both count violations in a sliding window
 * (the last `count` timestamps per address and trigger), so a trigger fires exactly when
 * `count` violations fall within `windowMs`.
 */
export interface BanStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Counts one violation and returns the new ban when it completes a trigger. Violations of
   * an address that is banned already are not counted.
   */
  recordViolation(subject: string, trigger: BanTrigger): Promise<RecordedBan | undefined>;
  add(ban: ManualBan): Promise<Ban>;
  /** Lifts a ban and resets its escalation; returns the ban, or undefined when none existed. */
  remove(subject: string): Promise<Ban | undefined>;
  /** Returns the bans in force, soonest expiry first. */
  list(): Promise<Ban[]>;
  close(): Promise<void>;
}

/** Most addresses with violation counts or escalation levels kept in memory. */
const MAX_TRACKED = 100_000;

interface Level {
  level: number;
  /** When the level lapses: the end of the last ban plus the reset time. */
  expiresAt: number;
}

/**
 * Bans of one process. Violation windows, escalation levels and bans are bounded maps, so a
 * flood from millions of addresses cannot exhaust memory. When one is full its oldest entry
 * goes: a lost count or level only delays or shortens a ban, and a lost ban is the oldest.
 */
export class MemoryBanStore implements BanStore {
  readonly kind = 'memory';
  private readonly hits = new Map<string, number[]>();
  private readonly levels = new Map<string, Level>();
  private readonly bans = new Map<string, Ban>();

  constructor(
    private readonly escalation: BanEscalation,
    private readonly now: () => number = Date.now,
  ) {}

  recordViolation(subject: string, trigger: BanTrigger): Promise<RecordedBan | undefined> {
    const ban = this.countViolation(subject, trigger);
    return Promise.resolve(ban && { ban, localOnly: false });
  }

  /** Counts a violation as recordViolation does, synchronously. */
  countViolation(subject: string, trigger: BanTrigger): Ban | undefined {
    const now = this.now();
    const current = this.bans.get(subject);
    if (current !== undefined && current.expiresAt > now) return undefined;

    const key = `${trigger.event}|${subject}`;
    const times = this.hits.get(key) ?? [];
    times.push(now);
    if (times.length > trigger.count) times.shift();
    bounded(this.hits, key, times);
    if (times.length < trigger.count || now - times[0]! >= trigger.windowMs) return undefined;
    this.hits.delete(key);

    const previous = this.levels.get(subject);
    const level = previous !== undefined && previous.expiresAt > now ? previous.level + 1 : 1;
    const durations = this.escalation.durationsMs;
    const duration = durations[Math.min(level, durations.length) - 1]!;
    const ban: Ban = {
      subject,
      reason: trigger.event,
      source: 'auto',
      level,
      createdAt: now,
      expiresAt: now + duration,
    };
    bounded(this.levels, subject, {
      level,
      expiresAt: ban.expiresAt + this.escalation.resetAfterMs,
    });
    bounded(this.bans, subject, ban);
    return ban;
  }

  add(input: ManualBan): Promise<Ban> {
    const now = this.now();
    const ban: Ban = {
      subject: input.subject,
      reason: input.reason,
      source: 'manual',
      level: 0,
      createdAt: now,
      expiresAt: now + input.durationMs,
    };
    bounded(this.bans, input.subject, ban);
    return Promise.resolve(ban);
  }

  remove(subject: string): Promise<Ban | undefined> {
    const ban = this.bans.get(subject);
    this.bans.delete(subject);
    this.levels.delete(subject);
    const active = ban !== undefined && ban.expiresAt > this.now() ? ban : undefined;
    return Promise.resolve(active);
  }

  list(): Promise<Ban[]> {
    const now = this.now();
    for (const [subject, ban] of this.bans) if (ban.expiresAt <= now) this.bans.delete(subject);
    return Promise.resolve([...this.bans.values()].sort((a, b) => a.expiresAt - b.expiresAt));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Sets a key, first dropping the oldest entry when the map is full. */
function bounded<V>(map: Map<string, V>, key: string, value: V): void {
  if (!map.has(key) && map.size >= MAX_TRACKED) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
  map.set(key, value);
}
