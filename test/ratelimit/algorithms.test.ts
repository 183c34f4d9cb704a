import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  gcra,
  slidingWindowCounter,
  slidingWindowLog,
  type AlgorithmImpl,
  type AlgorithmState,
  type Evaluation,
  type Params,
} from '../../src/ratelimit/algorithms.js';
import { LogModel, TokenBucketModel, WeightedCounterModel, type ModelVerdict } from './models.js';

/** One key's state driven the way a store drives it: evaluate, then commit when admitted. */
class Subject {
  constructor(
    readonly impl: AlgorithmImpl<AlgorithmState>,
    readonly params: Params,
    public now: number,
    readonly state: AlgorithmState = impl.create(now, params),
  ) {}

  request(cost = 1): Evaluation {
    const evaluation = this.impl.evaluate(this.state, this.now, cost, this.params);
    if (evaluation.allowed) this.commit(cost);
    return evaluation;
  }

  commit(cost: number): void {
    this.impl.commit(this.state, this.now, cost, this.params);
  }

  /** Returns an independent copy of this key's state at the same time. */
  fork(): Subject {
    return new Subject(this.impl, this.params, this.now, structuredClone(this.state));
  }

  advance(ms: number): this {
    this.now += ms;
    return this;
  }

  /** Evaluates a request at `at` against a copy, leaving this state as it was. */
  probe(at: number, cost: number): Evaluation {
    return this.impl.evaluate(structuredClone(this.state), at, cost, this.params);
  }

  /** Counts the unit requests a copy admits at `at` before the first rejection. */
  admittedAt(at: number, max: number): number {
    const copy = structuredClone(this.state);
    let admitted = 0;
    while (admitted <= max && this.impl.evaluate(copy, at, 1, this.params).allowed) {
      this.impl.commit(copy, at, 1, this.params);
      admitted += 1;
    }
    return admitted;
  }
}

interface Algorithm {
  name: string;
  impl: AlgorithmImpl<AlgorithmState>;
  /** The cost that only a full, untouched quota admits. */
  fullCost(params: Params): number;
  model(params: Params, start: number): { request(now: number, cost: number): ModelVerdict };
}

const log: Algorithm = {
  name: 'sliding window log',
  impl: slidingWindowLog as AlgorithmImpl<AlgorithmState>,
  fullCost: (params) => params.limit,
  model: (params) => new LogModel(params.limit, params.windowMs),
};

const counter: Algorithm = {
  name: 'sliding window counter',
  impl: slidingWindowCounter as AlgorithmImpl<AlgorithmState>,
  fullCost: (params) => params.limit,
  model: (params) => new WeightedCounterModel(params.limit, params.windowMs),
};

const tokenBucket: Algorithm = {
  name: 'GCRA',
  impl: gcra as AlgorithmImpl<AlgorithmState>,
  fullCost: (params) => params.burst,
  model: (params, start) =>
    new TokenBucketModel(params.limit, params.windowMs, params.burst, start),
};

const ALL = [log, counter, tokenBucket];

interface Step {
  gap: number;
  cost: number;
}

interface Scenario {
  params: Params;
  start: number;
  steps: Step[];
}

/**
 * Random request sequences. Gaps mix bursts (0), the refill interval, whole windows and
 * longer pauses. The start is either 0 or a wall-clock-sized time, because floating point
 * has less precision left for fractions of a millisecond there.
 */
const scenarios: fc.Arbitrary<Scenario> = fc
  .record({
    limit: fc.integer({ min: 1, max: 20 }),
    windowMs: fc.oneof(
      fc.integer({ min: 1, max: 100 }),
      fc.integer({ min: 100, max: 5_000 }),
      fc.constantFrom(1_000, 60_000, 30 * 86_400_000),
    ),
    start: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2_000_000_000_000 })),
  })
  .chain(({ limit, windowMs, start }) => {
    const interval = Math.max(1, Math.ceil(windowMs / limit));
    const step = fc.record({
      gap: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: interval }),
        fc.constant(windowMs),
        fc.integer({ min: 0, max: 2 * windowMs }),
      ),
      cost: fc.oneof(
        { arbitrary: fc.constant(1), weight: 3 },
        { arbitrary: fc.integer({ min: 1, max: limit + 1 }), weight: 1 },
      ),
    });
    return fc.record({
      params: fc.record({
        limit: fc.constant(limit),
        windowMs: fc.constant(windowMs),
        burst: fc.integer({ min: 1, max: 2 * limit }),
      }),
      start: fc.constant(start),
      steps: fc.array(step, { minLength: 1, maxLength: 60 }),
    });
  });

/** Replays a scenario, calling `check` with the subject before the commit of each step. */
function replay(
  algorithm: Algorithm,
  { params, start, steps }: Scenario,
  check: (subject: Subject, evaluation: Evaluation, step: Step) => void,
): void {
  const subject = new Subject(algorithm.impl, params, start);
  for (const step of steps) {
    subject.advance(step.gap);
    const evaluation = algorithm.impl.evaluate(subject.state, subject.now, step.cost, params);
    check(subject, evaluation, step);
    if (evaluation.allowed) subject.commit(step.cost);
  }
}

describe('reference models', () => {
  it.each(ALL)('$name matches its model', (algorithm) => {
    fc.assert(
      fc.property(scenarios, (scenario) => {
        const model = algorithm.model(scenario.params, scenario.start);
        replay(algorithm, scenario, (subject, evaluation, step) => {
          const expected = model.request(subject.now, step.cost);
          expect(evaluation.allowed).toBe(expected.allowed);
          expect(evaluation.remaining).toBe(expected.remaining);
        });
      }),
    );
  });

  it('counter admits at most limit per fixed window', () => {
    fc.assert(
      fc.property(scenarios, (scenario) => {
        const { limit, windowMs } = scenario.params;
        const admitted: { time: number; cost: number }[] = [];
        replay(counter, scenario, (subject, evaluation, step) => {
          if (evaluation.allowed) admitted.push({ time: subject.now, cost: step.cost });
        });

        const perWindow = new Map<number, number>();
        for (const { time, cost } of admitted) {
          const index = Math.floor(time / windowMs);
          perWindow.set(index, (perWindow.get(index) ?? 0) + cost);
        }
        for (const count of perWindow.values()) expect(count).toBeLessThanOrEqual(limit);

        // Any sliding window overlaps two fixed windows, so it can hold at most twice the limit.
        for (const { time } of admitted) {
          let inWindow = 0;
          for (const other of admitted) {
            if (other.time > time - windowMs && other.time <= time) inWindow += other.cost;
          }
          expect(inWindow).toBeLessThanOrEqual(2 * limit);
        }
      }),
    );
  });
});

describe.each(ALL)('$name decisions', (algorithm) => {
  it('retryAfter is the exact wait', () => {
    fc.assert(
      fc.property(scenarios, (scenario) => {
        replay(algorithm, scenario, (subject, evaluation, step) => {
          if (evaluation.allowed || !Number.isFinite(evaluation.retryAfterMs)) return;
          const retryAt = subject.now + evaluation.retryAfterMs;
          expect(subject.probe(retryAt, step.cost).allowed).toBe(true);
          expect(subject.probe(retryAt - 1, step.cost).allowed).toBe(false);
        });
      }),
    );
  });

  it('remaining counts further admissions', () => {
    fc.assert(
      fc.property(scenarios, (scenario) => {
        replay(algorithm, scenario, (subject, evaluation, step) => {
          if (!evaluation.allowed) return;
          const after = subject.fork();
          after.commit(step.cost);
          expect(after.admittedAt(after.now, evaluation.remaining + 1)).toBe(evaluation.remaining);
        });
      }),
    );
  });

  it('reset is when quota is full', () => {
    fc.assert(
      fc.property(scenarios, (scenario) => {
        const fullCost = algorithm.fullCost(scenario.params);
        replay(algorithm, scenario, (subject, evaluation, step) => {
          const after = subject.fork();
          if (evaluation.allowed) after.commit(step.cost);

          const resetAt = subject.now + evaluation.resetMs;
          expect(after.probe(resetAt, fullCost).allowed).toBe(true);
          if (evaluation.resetMs > 0)
            expect(after.probe(resetAt - 1, fullCost).allowed).toBe(false);
        });
      }),
    );
  });

  it('cost above capacity never admitted', () => {
    fc.assert(
      fc.property(scenarios, fc.integer({ min: 1, max: 5 }), (scenario, excess) => {
        const cost = algorithm.fullCost(scenario.params) + excess;
        replay(algorithm, scenario, (subject) => {
          const evaluation = subject.probe(subject.now, cost);
          expect(evaluation.allowed).toBe(false);
          expect(evaluation.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
        });
      }),
    );
  });

  it('rejection leaves state unchanged', () => {
    const params = { limit: 5, windowMs: 1_000, burst: 5 };
    const subject = new Subject(algorithm.impl, params, 10_000);
    expect(subject.request(3).allowed).toBe(true);

    const before = subject.admittedAt(subject.now, 10);
    const rejected = subject.request(4);

    expect(rejected.allowed).toBe(false);
    expect(rejected.remaining).toBe(2);
    expect(subject.admittedAt(subject.now, 10)).toBe(before);
    expect(before).toBe(2);
  });

  it('one-second window refills', () => {
    const params = { limit: 3, windowMs: 1_000, burst: 3 };
    const subject = new Subject(algorithm.impl, params, 5_000);
    for (let i = 0; i < 3; i++) expect(subject.request().allowed).toBe(true);
    expect(subject.request().allowed).toBe(false);

    subject.advance(999);
    expect(subject.admittedAt(subject.now, 3)).toBeLessThan(3);
    subject.advance(1_001);
    expect(subject.admittedAt(subject.now, 3)).toBe(3);
  });
});

describe('sliding window log', () => {
  const params = { limit: 2, windowMs: 1_000, burst: 2 };

  it('entry leaves window at t + window', () => {
    const subject = new Subject(log.impl, params, 10_000);
    subject.request();
    subject.advance(300).request();

    subject.now = 10_999;
    expect(subject.request().allowed).toBe(false);
    subject.now = 11_000;
    expect(subject.request()).toEqual({
      allowed: true,
      remaining: 0,
      resetMs: 1_000,
      retryAfterMs: 0,
    });
  });

  it('retryAfter waits for enough cost', () => {
    const subject = new Subject(log.impl, { limit: 5, windowMs: 1_000, burst: 5 }, 0);
    subject.request(1);
    subject.advance(100).request(1);
    subject.advance(100).request(3);

    const rejected = subject.advance(100).request(2);

    // Two units must leave: the entries at 0 and 100 together, so the wait ends at 1100.
    expect(rejected.retryAfterMs).toBe(800);
    expect(rejected.remaining).toBe(0);
    expect(rejected.resetMs).toBe(900);
  });

  it('reset counts the admitted request', () => {
    const subject = new Subject(log.impl, { limit: 5, windowMs: 1_000, burst: 5 }, 0);
    subject.request();

    const second = subject.advance(400).request();

    expect(second.remaining).toBe(3);
    expect(second.resetMs).toBe(1_000);
  });
});

describe('sliding window counter', () => {
  const params = { limit: 10, windowMs: 1_000, burst: 10 };

  it('weights previous window by overlap', () => {
    const subject = new Subject(counter.impl, params, 0);
    expect(subject.request(10).allowed).toBe(true);

    // Half of the previous window still overlaps the sliding window: estimate 5.
    subject.now = 1_500;
    expect(subject.admittedAt(subject.now, 10)).toBe(5);
    const evaluation = subject.request(5);
    expect(evaluation.allowed).toBe(true);
    expect(evaluation.remaining).toBe(0);
  });

  it('gap of two windows forgets counts', () => {
    const subject = new Subject(counter.impl, params, 0);
    subject.request(10);

    subject.now = 2_000;

    expect(subject.admittedAt(subject.now, 10)).toBe(10);
  });

  it('reset counts the admitted request', () => {
    const subject = new Subject(counter.impl, params, 200);

    const evaluation = subject.request();

    // The request counts in the window [0, 1000) and fades out through [1000, 2000).
    expect(evaluation.resetMs).toBe(1_800);
  });

  it('retryAfter inside the window as previous fades', () => {
    const subject = new Subject(counter.impl, params, 0);
    subject.request(8);
    subject.now = 1_000;
    subject.request(2);

    const rejected = subject.request(1);

    // Estimate 8 * (1 - e / 1000) + 2 + 1 <= 10 once e >= 125.
    expect(rejected.allowed).toBe(false);
    expect(rejected.retryAfterMs).toBe(125);
  });
});

describe('GCRA', () => {
  it('never exceeds the configured rate', () => {
    fc.assert(
      fc.property(scenarios, (scenario) => {
        const { limit, windowMs, burst } = scenario.params;
        const admitted: { time: number; cost: number }[] = [];
        replay(tokenBucket, scenario, (subject, evaluation, step) => {
          if (evaluation.allowed) admitted.push({ time: subject.now, cost: step.cost });
        });

        // Between any two admitted requests: at most a full burst plus the exact refill.
        for (let first = 0; first < admitted.length; first++) {
          let cost = 0;
          for (let last = first; last < admitted.length; last++) {
            cost += admitted[last]!.cost;
            const elapsed = admitted[last]!.time - admitted[first]!.time;
            expect((cost - burst) * windowMs).toBeLessThanOrEqual(elapsed * limit);
          }
        }
      }),
    );
  });

  it('full burst at wall-clock time', () => {
    // 1000 / 6 ms is not a binary fraction: summed onto a wall-clock time it used to round
    // up, and the sixth request of the burst was rejected.
    const subject = new Subject(
      tokenBucket.impl,
      { limit: 6, windowMs: 1_000, burst: 6 },
      1_760_000_000_000,
    );

    expect(subject.admittedAt(subject.now, 10)).toBe(6);
  });

  it('remaining exact over 30 days', () => {
    // The 30-day interval rounds up by a fraction of a millisecond, so one window after a
    // full burst the bucket contains just under 11 tokens: 10 whole ones.
    const subject = new Subject(
      tokenBucket.impl,
      { limit: 11, windowMs: 30 * 86_400_000, burst: 11 },
      0,
    );
    subject.request(11);

    const evaluation = subject.advance(30 * 86_400_000).request();

    expect(evaluation.remaining).toBe(9);
    expect(subject.admittedAt(subject.now, 20)).toBe(9);
  });

  it('steady stream at the rate admitted', () => {
    // One request per emission interval on a bucket of one: each request finds it full.
    const subject = new Subject(tokenBucket.impl, { limit: 13, windowMs: 1_000, burst: 1 }, 0);
    let rejected = 0;
    for (let i = 0; i < 1_000; i++) {
      if (!subject.advance(1_000).request().allowed) rejected += 1;
    }

    expect(rejected).toBe(0);
  });

  it('burst then steady rate', () => {
    const subject = new Subject(tokenBucket.impl, { limit: 10, windowMs: 1_000, burst: 4 }, 0);
    for (let i = 0; i < 4; i++) expect(subject.request().allowed).toBe(true);

    const rejected = subject.request();
    expect(rejected.allowed).toBe(false);
    expect(rejected.retryAfterMs).toBe(100);

    subject.advance(100);
    expect(subject.request().allowed).toBe(true);
    expect(subject.request().allowed).toBe(false);
  });

  it('cost above burst never admitted', () => {
    const subject = new Subject(tokenBucket.impl, { limit: 10, windowMs: 1_000, burst: 4 }, 0);

    const evaluation = subject.request(5);

    expect(evaluation.allowed).toBe(false);
    expect(evaluation.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
  });

  it('burst above limit admits at once', () => {
    const subject = new Subject(tokenBucket.impl, { limit: 2, windowMs: 1_000, burst: 6 }, 0);

    expect(subject.admittedAt(subject.now, 10)).toBe(6);
  });
});
