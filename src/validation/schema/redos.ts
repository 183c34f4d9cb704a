/**
 * The start-up check of the regular expressions in a JSON Schema for catastrophic
 * backtracking (ReDoS), with recheck's pure JavaScript build, so the check works offline.
 * recheck's default synchronous backend would start a worker thread and its native agent
 * process, both of which stay alive as long as the gateway. The pure build blocks the start
 * for 1 to 250 ms per pattern (measured on the development machine), and up to
 * `CHECK_TIMEOUT_MS` for a pattern it finds hard, which is acceptable once at start.
 *
 * This check is one of two barriers: the bounded regular-expression engine in ajv.ts also
 * refuses to run a pattern on long strings, so a pattern that slips through still only
 * backtracks over a short input.
 */
import { createRequire } from 'node:module';

import type { Diagnostics } from 'recheck';

const require = createRequire(import.meta.url);

type CheckSync = (source: string, flags: string, params?: Record<string, unknown>) => Diagnostics;

let checkSync: CheckSync | undefined;

/** Loads recheck on first use, because its bundle is about 3 MB of JavaScript. */
function recheck(): CheckSync {
  checkSync ??= (require('recheck') as { checkSync: CheckSync }).checkSync;
  return checkSync;
}

/** A pattern in a schema and where it sits. */
export interface SchemaPattern {
  /** JSON pointer of the keyword, e.g. `/properties/email/pattern`. */
  pointer: string;
  source: string;
}

/** The verdict on one pattern. */
export interface PatternVerdict extends SchemaPattern {
  status: 'safe' | 'vulnerable' | 'unknown' | 'invalid';
  /** `exponential` or `polynomial` for a vulnerable pattern. */
  complexity?: string;
  /** An input that shows the backtracking, shortened. Only for vulnerable patterns. */
  attack?: string;
}

const verdicts = new Map<string, Omit<PatternVerdict, 'pointer' | 'source'>>();

/** Time recheck may spend on one pattern before its verdict is `unknown`. */
const CHECK_TIMEOUT_MS = 5_000;

/** Checks one pattern, with `u` as Ajv compiles it. Verdicts are cached per process. */
export function checkPattern(pattern: SchemaPattern): PatternVerdict {
  let verdict = verdicts.get(pattern.source);
  if (verdict === undefined) {
    verdict = judge(pattern.source);
    verdicts.set(pattern.source, verdict);
  }
  return { ...pattern, ...verdict };
}

function judge(source: string): Omit<PatternVerdict, 'pointer' | 'source'> {
  try {
    new RegExp(source, 'u');
  } catch {
    return { status: 'invalid' };
  }
  const result = withPureBackend(() => recheck()(source, 'u', { timeout: CHECK_TIMEOUT_MS }));
  if (result.status === 'vulnerable') {
    return {
      status: 'vulnerable',
      complexity: result.complexity.type,
      attack: result.attack.pattern.slice(0, 80),
    };
  }
  return { status: result.status === 'safe' ? 'safe' : 'unknown' };
}

/** Runs `check` with recheck's synchronous backend set to `pure`, restoring the setting after. */
function withPureBackend<T>(check: () => T): T {
  const previous = process.env.RECHECK_SYNC_BACKEND;
  process.env.RECHECK_SYNC_BACKEND = 'pure';
  try {
    return check();
  } finally {
    if (previous === undefined) delete process.env.RECHECK_SYNC_BACKEND;
    else process.env.RECHECK_SYNC_BACKEND = previous;
  }
}

/**
 * Lists every `pattern` value and `patternProperties` key of a schema, with its JSON pointer.
 * Schema keywords whose values are data (`const`, `enum`, `default`, `examples`) are not
 * searched, so an enum value named `pattern` is not taken for a keyword.
 */
export function schemaPatterns(schema: unknown, pointer = ''): SchemaPattern[] {
  if (Array.isArray(schema)) {
    return schema.flatMap((item, index) => schemaPatterns(item, `${pointer}/${index}`));
  }
  if (schema === null || typeof schema !== 'object') return [];

  const found: SchemaPattern[] = [];
  for (const [key, value] of Object.entries(schema)) {
    const at = `${pointer}/${escapePointer(key)}`;
    if (DATA_KEYWORDS.has(key)) continue;
    if (key === 'pattern' && typeof value === 'string') {
      found.push({ pointer: at, source: value });
    } else if (key === 'patternProperties' && value !== null && typeof value === 'object') {
      for (const [source, inner] of Object.entries(value)) {
        const keyAt = `${at}/${escapePointer(source)}`;
        found.push({ pointer: keyAt, source }, ...schemaPatterns(inner, keyAt));
      }
    } else if (key === 'properties' || key === '$defs' || key === 'definitions') {
      // The keys of these objects are names, so a property called `pattern` is searched
      // as a schema, not taken for the keyword.
      for (const [name, inner] of Object.entries(value ?? {})) {
        found.push(...schemaPatterns(inner, `${at}/${escapePointer(name)}`));
      }
    } else {
      found.push(...schemaPatterns(value, at));
    }
  }
  return found;
}

const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples', 'description', 'title']);

/** Escapes a key for a JSON pointer (RFC 6901). */
export function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
