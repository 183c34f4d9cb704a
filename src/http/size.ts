/**
 * Byte sizes in configuration: `512`, `64kb`, `1mb`, `16KiB`. Units are binary (1 kb is
 * 1024 bytes), as in nginx and Fastify, and a bare number is a count of bytes.
 */
import { InvalidArgumentError } from '../core/errors.js';

const UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  k: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  m: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  g: 1024 ** 3,
};

const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/;

/** Parses a size such as `64kb` or `1.5mb` into whole bytes; throws InvalidArgumentError. */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input) || input < 0) {
      throw new InvalidArgumentError(`invalid size ${input}: expected a whole number of bytes`);
    }
    return input;
  }
  const match = SIZE_PATTERN.exec(input.trim().toLowerCase());
  const unit = match?.[2] ?? 'b';
  const factor = UNIT_BYTES[unit];
  if (match === null || factor === undefined) {
    throw new InvalidArgumentError(
      `invalid size "${input.slice(0, 40)}": expected a number of bytes or a number and a unit (b, kb, mb, gb), e.g. 64kb`,
    );
  }
  const bytes = Math.floor(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) {
    throw new InvalidArgumentError(`invalid size "${input.slice(0, 40)}": too large`);
  }
  return bytes;
}

/** Formats bytes in the largest binary unit that divides them, e.g. 1048576 → `1mb`. */
export function formatSize(bytes: number): string {
  for (const unit of ['gb', 'mb', 'kb'] as const) {
    const size = UNIT_BYTES[unit]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes} bytes`;
}
