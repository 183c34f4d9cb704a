/**
 * The date value of expressions: an immutable UTC instant with calendar arithmetic and
 * formatting. Expressions never see a host Date, whose methods mutate it and whose
 * constructor is reachable from its prototype.
 */

export const DATE_UNITS = [
  'millisecond',
  'second',
  'minute',
  'hour',
  'day',
  'week',
  'month',
  'year',
] as const;
export type DateUnit = (typeof DATE_UNITS)[number];

const FIXED_UNIT_MS: Partial<Record<DateUnit, number>> = {
  millisecond: 1,
  second: 1_000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 604_800_000,
};

/** The range of a host Date, ±100,000,000 days from 1970. */
const MAX_EPOCH_MS = 8.64e15;

/** The unit names in lower case, singular and plural, looked up before the general rule. */
const UNIT_NAMES: ReadonlyMap<string, DateUnit> = new Map(
  DATE_UNITS.flatMap((unit) => [
    [unit, unit],
    [`${unit}s`, unit],
  ]),
);

/** Accepts `day`, `days` and the capitalised forms; returns undefined for anything else. */
export function parseDateUnit(name: string): DateUnit | undefined {
  const known = UNIT_NAMES.get(name);
  if (known !== undefined) return known;
  const singular = name.toLowerCase().replace(/s$/, '');
  return (DATE_UNITS as readonly string[]).includes(singular) ? (singular as DateUnit) : undefined;
}

export class ExpressionDate {
  /** Milliseconds since 1970-01-01T00:00:00Z. */
  readonly epochMs: number;

  private constructor(epochMs: number) {
    this.epochMs = epochMs;
    Object.freeze(this);
  }

  /** Returns the date at `epochMs`, or undefined when it is outside the range of a Date. */
  static fromEpoch(epochMs: number): ExpressionDate | undefined {
    if (!Number.isFinite(epochMs) || Math.abs(epochMs) > MAX_EPOCH_MS) return undefined;
    return new ExpressionDate(Math.trunc(epochMs));
  }

  /** Parses an ISO 8601 date or date-time; returns undefined when it does not parse. */
  static parse(text: string): ExpressionDate | undefined {
    if (text.length > 64 || !/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text))
      return undefined;
    return ExpressionDate.fromEpoch(Date.parse(text));
  }

  /** Adds `amount` units; months and years keep the day of month where it exists. */
  plus(amount: number, unit: DateUnit): ExpressionDate | undefined {
    const fixed = FIXED_UNIT_MS[unit];
    if (fixed !== undefined) return ExpressionDate.fromEpoch(this.epochMs + amount * fixed);

    const date = new Date(this.epochMs);
    const months = unit === 'year' ? amount * 12 : amount;
    if (!Number.isInteger(months)) return undefined;
    const day = date.getUTCDate();
    date.setUTCDate(1);
    date.setUTCMonth(date.getUTCMonth() + months);
    // Clamp to the last day of the target month: 31 January plus one month is 28 or 29 February.
    const lastDay = new Date(
      Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0),
    ).getUTCDate();
    date.setUTCDate(Math.min(day, lastDay));
    return ExpressionDate.fromEpoch(date.getTime());
  }

  /** Returns the start of the unit that contains this date, e.g. midnight for `day`. */
  startOf(unit: DateUnit): ExpressionDate {
    const date = new Date(this.epochMs);
    switch (unit) {
      case 'year':
        date.setUTCMonth(0, 1);
        date.setUTCHours(0, 0, 0, 0);
        break;
      case 'month':
        date.setUTCDate(1);
        date.setUTCHours(0, 0, 0, 0);
        break;
      case 'week': {
        // ISO weeks start on Monday.
        const weekday = (date.getUTCDay() + 6) % 7;
        date.setUTCDate(date.getUTCDate() - weekday);
        date.setUTCHours(0, 0, 0, 0);
        break;
      }
      case 'day':
        date.setUTCHours(0, 0, 0, 0);
        break;
      case 'hour':
        date.setUTCMinutes(0, 0, 0);
        break;
      case 'minute':
        date.setUTCSeconds(0, 0);
        break;
      case 'second':
        date.setUTCMilliseconds(0);
        break;
      case 'millisecond':
        break;
    }
    return new ExpressionDate(date.getTime());
  }

  /** Returns `this - other` in whole or fractional `unit`s (fixed-length units only for months and years). */
  diff(other: ExpressionDate, unit: DateUnit): number {
    const ms = this.epochMs - other.epochMs;
    const fixed = FIXED_UNIT_MS[unit];
    if (fixed !== undefined) return ms / fixed;
    const a = new Date(this.epochMs);
    const b = new Date(other.epochMs);
    const months =
      (a.getUTCFullYear() - b.getUTCFullYear()) * 12 + (a.getUTCMonth() - b.getUTCMonth());
    return unit === 'year' ? Math.trunc(months / 12) : months;
  }

  /** Returns the calendar field `name` in UTC, or undefined for an unknown name. */
  field(name: string): number | undefined {
    const date = new Date(this.epochMs);
    switch (name) {
      case 'year':
        return date.getUTCFullYear();
      case 'month':
        return date.getUTCMonth() + 1;
      case 'day':
        return date.getUTCDate();
      case 'hour':
        return date.getUTCHours();
      case 'minute':
        return date.getUTCMinutes();
      case 'second':
        return date.getUTCSeconds();
      case 'millisecond':
        return date.getUTCMilliseconds();
      case 'weekday':
        // ISO weekday: Monday is 1, Sunday is 7.
        return ((date.getUTCDay() + 6) % 7) + 1;
      default:
        return undefined;
    }
  }

  /** Formats as `Date.prototype.toISOString` does, e.g. `2026-02-01T10:30:00.000Z`. */
  toISO(): string {
    return formatISO(this.epochMs);
  }

  /**
   * Formats with the tokens `yyyy`, `MM`, `dd`, `HH`, `mm`, `ss` and `SSS`. Any other
   * character is copied, and so is text inside single quotes, without the quotes.
   */
  format(pattern: string): string {
    const date = new Date(this.epochMs);
    const values: Record<string, string> = {
      yyyy: String(date.getUTCFullYear()).padStart(4, '0'),
      MM: pad2(date.getUTCMonth() + 1),
      dd: pad2(date.getUTCDate()),
      HH: pad2(date.getUTCHours()),
      mm: pad2(date.getUTCMinutes()),
      ss: pad2(date.getUTCSeconds()),
      SSS: String(date.getUTCMilliseconds()).padStart(3, '0'),
    };
    return pattern.replace(/'[^']*'|yyyy|MM|dd|HH|mm|ss|SSS/g, (token) =>
      token.startsWith("'") ? token.slice(1, -1) : values[token]!,
    );
  }
}

function pad2(value: number): string {
  return String(value).padStart(2, '0');
}

const MS_PER_DAY = 86_400_000;

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/**
 * Formats epoch milliseconds as ISO 8601 in UTC with arithmetic only, because
 * `new Date(ms).toISOString()` costs several hundred nanoseconds, most of a date
 * expression's evaluation. Years outside 0000-9999 need the six-digit form and take the
 * host's path. The civil-from-days step is Howard Hinnant's algorithm
 * (https://howardhinnant.github.io/date_algorithms.html#civil_from_days).
 */
function formatISO(epochMs: number): string {
  const days = Math.floor(epochMs / MS_PER_DAY);
  const time = epochMs - days * MS_PER_DAY;
  const shifted = days + 719_468;
  const era = Math.floor(shifted / 146_097);
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1_460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear =
    dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9_999) return new Date(epochMs).toISOString();
  const hours = Math.floor(time / 3_600_000);
  const minutes = Math.floor(time / 60_000) % 60;
  const seconds = Math.floor(time / 1_000) % 60;
  const milliseconds = time % 1_000;
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}.${pad(milliseconds, 3)}Z`;
}
