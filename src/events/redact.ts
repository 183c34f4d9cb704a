/**
 * Redaction applied to event details before they reach the bus: secrets never appear in an
 * event, and long strings are cut so that attacker input cannot flood a sink.
 */

const SECRET_KEY_PATTERN =
  /pass(word)?|secret|token|api[-_]?key|authorization|cookie|credential|private/i;
const MAX_STRING = 256;
const MAX_DEPTH = 4;

export function redactDetails(value: Record<string, unknown>): Record<string, unknown> {
  return redactObject(value, 0);
}

function redactObject(value: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const inner = SECRET_KEY_PATTERN.test(key) ? '[redacted]' : redactValue(value[key], depth + 1);
    // Defined rather than assigned, because keys may come from request data and assigning
    // `__proto__` would replace the prototype instead of adding a field.
    Object.defineProperty(out, key, {
      value: inner,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') {
    return value.length > MAX_STRING
      ? `${value.slice(0, MAX_STRING)}…[${value.length} chars]`
      : value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Array.isArray(value)) return value.slice(0, 32).map((item) => redactValue(item, depth + 1));
  return redactObject(value as Record<string, unknown>, depth);
}
