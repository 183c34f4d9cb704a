import { InvalidArgumentError } from './errors.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;

/**
 * Parses a duration such as `500ms`, `1s`, `15m`, `2h`, `30d` or `1w` into milliseconds.
 * A bare number is taken as milliseconds.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) {
      throw new InvalidArgumentError(
        `invalid duration ${input}: expected a non-negative number of milliseconds`,
      );
    }
    return input;
  }
  const match = DURATION_PATTERN.exec(input.trim());
  if (!match) {
    throw new InvalidArgumentError(
      `invalid duration "${input.slice(0, 40)}": expected a number and a unit (ms, s, m, h, d, w), e.g. 15m`,
    );
  }
  return Math.round(Number(match[1]) * UNIT_MS[match[2] as string]!);
}

/** Formats milliseconds as the shortest exact unit, e.g. 900000 → `15m`. */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
