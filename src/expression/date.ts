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

/** Accepts `day`, `days` and the capitalised forms; returns undefined for anything else. */
export function parseDateUnit(name: string): DateUnit | undefined {
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

  toISO(): string {
    return new Date(this.epochMs).toISOString();
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
