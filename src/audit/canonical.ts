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

// Built by string concatenation rather than map and join, because every appended record
// passes through here and the intermediate arrays were a large share of its garbage.
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
    let text = '[';
    for (let i = 0; i < value.length; i += 1) {
      const item: unknown = value[i];
      if (i > 0) text += ',';
      text += item === undefined ? 'null' : serialise(item, depth + 1);
    }
    return `${text}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let text = '{';
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    if (text.length > 1) text += ',';
    text += `${JSON.stringify(key)}:${serialise(member, depth + 1)}`;
  }
  return `${text}}`;
}
