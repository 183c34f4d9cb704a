/**
 * Canonical JSON: object keys sorted by UTF-16 code unit, no whitespace, `undefined` members
 * left out. Two processes that hold equal values produce equal bytes, which the record hash
 * and every signature depend on. The shape follows the JSON Canonicalization Scheme
 * (RFC 8785) for the values the audit log stores: strings, safe integers, booleans, null,
 * arrays and plain objects.
 */
export function canonicalJson(value: unknown): string {
  return serialise(value, 0);
}

const MAX_DEPTH = 64;

function serialise(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new TypeError(`canonical JSON: nesting deeper than ${MAX_DEPTH}`);
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON: non-finite number');
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonical JSON: unsupported ${typeof value}`);
  }
  if (Array.isArray(value)) {
    return `[${value.map((item: unknown) => (item === undefined ? 'null' : serialise(item, depth + 1))).join(',')}]`;
  }
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${serialise(member, depth + 1)}`);
  }
  return `{${parts.join(',')}}`;
}
