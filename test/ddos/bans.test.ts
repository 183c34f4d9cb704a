import { describe, expect, it } from 'vitest';

import { MemoryBanStore, type BanTrigger } from '../../src/ddos/ban-store.js';
import { BanList, banSubjectOf, canonicalSubject, type Ban } from '../../src/ddos/bans.js';
import { EventSampler } from '../../src/ddos/event-sampler.js';

const MINUTE = 60_000;
const trigger: BanTrigger = { event: 'ratelimit.exceeded', count: 3, windowMs: MINUTE };

function storeAt(clock: { now: number }) {
  return new MemoryBanStore(
    { durationsMs: [MINUTE, 10 * MINUTE, 60 * MINUTE], resetAfterMs: 30 * MINUTE },
    () => clock.now,
  );
}

function ban(subject: string, expiresAt: number, createdAt = 0): Ban {
  return { subject, reason: 'manual', source: 'manual', level: 0, createdAt, expiresAt };
}

describe('ban subjects', () => {
  it('IPv4 address is its own subject', () => {
    expect(banSubjectOf('198.51.100.7', 64)).toBe('198.51.100.7/32');
    expect(banSubjectOf('::ffff:198.51.100.7', 64)).toBe('198.51.100.7/32');
  });

  it('IPv6 address banned by prefix', () => {
    expect(banSubjectOf('2001:db8:1:2:3:4:5:6', 64)).toBe('2001:db8:1:2::/64');
    expect(banSubjectOf('2001:db8:1:2:3:4:5:6', 48)).toBe('2001:db8:1::/48');
    expect(banSubjectOf('not an address', 64)).toBeUndefined();
  });

  it('manual subjects canonical', () => {
    expect(canonicalSubject('192.0.2.77/24')).toBe('192.0.2.0/24');
    expect(canonicalSubject(' 2001:DB8::1 ')).toBe('2001:db8::1/128');
    expect(() => canonicalSubject('192.0.2.0/33')).toThrow(/prefix/);
  });
});

describe('memory ban store', () => {
  it('trigger fires at count within window', async () => {
    const clock = { now: 1_000_000 };
    const store = storeAt(clock);

    expect(await store.recordViolation('s/32', trigger)).toBeUndefined();
    clock.now += 1_000;
    expect(await store.recordViolation('s/32', trigger)).toBeUndefined();
    clock.now += 1_000;
    const recorded = await store.recordViolation('s/32', trigger);

    expect(recorded?.ban).toEqual({
      subject: 's/32',
      reason: 'ratelimit.exceeded',
      source: 'auto',
      level: 1,
      createdAt: clock.now,
      expiresAt: clock.now + MINUTE,
    });
  });

  it('violations spread beyond window never ban', async () => {
    const clock = { now: 1_000_000 };
    const store = storeAt(clock);

    for (let i = 0; i < 10; i++) {
      expect(await store.recordViolation('s/32', trigger)).toBeUndefined();
      clock.now += 30_001;
    }
  });

  it('repeat bans escalate and level resets after quiet period', async () => {
    const clock = { now: 1_000_000 };
    const store = storeAt(clock);
    const banOnce = async () => {
      await store.recordViolation('s/32', trigger);
      await store.recordViolation('s/32', trigger);
      return (await store.recordViolation('s/32', trigger))?.ban;
    };

    const first = await banOnce();
    expect(first?.level).toBe(1);
    // Violations of a banned subject are not counted.
    expect(await banOnce()).toBeUndefined();

    clock.now = first!.expiresAt;
    const second = await banOnce();
    expect(second?.level).toBe(2);
    expect(second!.expiresAt - second!.createdAt).toBe(10 * MINUTE);

    clock.now = second!.expiresAt;
    const third = await banOnce();
    clock.now = third!.expiresAt;
    const fourth = await banOnce();
    expect(third!.expiresAt - third!.createdAt).toBe(60 * MINUTE);
    // Past the last step, bans keep the longest duration.
    expect(fourth?.level).toBe(4);
    expect(fourth!.expiresAt - fourth!.createdAt).toBe(60 * MINUTE);

    clock.now = fourth!.expiresAt + 30 * MINUTE;
    const afterQuiet = await banOnce();
    expect(afterQuiet?.level).toBe(1);
  });

  it('manual ban listed and removed', async () => {
    const clock = { now: 1_000_000 };
    const store = storeAt(clock);

    await store.add({ subject: '192.0.2.0/24', durationMs: MINUTE, reason: 'abuse' });
    expect((await store.list()).map((entry) => entry.subject)).toEqual(['192.0.2.0/24']);
    expect((await store.remove('192.0.2.0/24'))?.reason).toBe('abuse');
    expect(await store.remove('192.0.2.0/24')).toBeUndefined();

    await store.add({ subject: '192.0.2.0/24', durationMs: MINUTE, reason: 'abuse' });
    clock.now += MINUTE;
    expect(await store.list()).toEqual([]);
  });
});

describe('ban list', () => {
  it('matches by every banned prefix', () => {
    const list = new BanList();
    list.put(ban('2001:db8:1:2::/64', 5_000));
    list.put(ban('192.0.2.0/24', 5_000));
    list.put(ban('198.51.100.7/32', 5_000));

    expect(list.find('2001:db8:1:2::99', 1_000)?.subject).toBe('2001:db8:1:2::/64');
    expect(list.find('2001:db8:1:3::1', 1_000)).toBeUndefined();
    expect(list.find('192.0.2.200', 1_000)?.subject).toBe('192.0.2.0/24');
    expect(list.find('198.51.100.7', 1_000)?.subject).toBe('198.51.100.7/32');
    expect(list.find('198.51.100.8', 1_000)).toBeUndefined();
  });

  it('expired bans ignored and longest ban decides', () => {
    const list = new BanList();
    list.put(ban('192.0.2.0/24', 9_000));
    list.put(ban('192.0.2.1/32', 2_000));

    expect(list.find('192.0.2.1', 1_000)?.expiresAt).toBe(9_000);
    expect(list.find('192.0.2.1', 9_000)).toBeUndefined();
    list.sweep(9_000);
    expect(list.size).toBe(0);
  });

  it('full reload keeps local-only bans', () => {
    const list = new BanList();
    list.put(ban('192.0.2.1/32', 9_000), { localOnly: true });
    list.put(ban('192.0.2.2/32', 9_000));

    list.replaceAll([ban('192.0.2.3/32', 9_000)], 1_000);

    expect(list.find('192.0.2.1', 1_000)).toBeDefined();
    expect(list.find('192.0.2.2', 1_000)).toBeUndefined();
    expect(list.find('192.0.2.3', 1_000)).toBeDefined();
  });

  it('removal takes effect for cached lookups', () => {
    const list = new BanList();
    list.put(ban('192.0.2.1/32', 9_000));
    expect(list.find('192.0.2.1', 1_000)).toBeDefined();

    list.remove('192.0.2.1/32');
    expect(list.find('192.0.2.1', 1_000)).toBeUndefined();
  });
});

describe('event sampler', () => {
  it('reports first then one per interval with count', () => {
    const clock = { now: 0 };
    const sampler = new EventSampler(10_000, () => clock.now);

    expect(sampler.sample('a')).toBe(0);
    expect(sampler.sample('a')).toBeUndefined();
    expect(sampler.sample('a')).toBeUndefined();
    expect(sampler.sample('b')).toBe(0);
    clock.now = 10_000;
    expect(sampler.sample('a')).toBe(2);
    sampler.forget('a');
    expect(sampler.sample('a')).toBe(0);
  });
});
