/**
 * A validator for `application/x-www-form-urlencoded` bodies. The WHATWG URL parser accepts
 * any bytes and keeps a stray `%` as it is, so two servers may read one body differently.
 * This check rejects what is ambiguous: a `%` not followed by two hex digits, and names or
 * values that do not decode to UTF-8.
 */
import { isUtf8 } from 'node:buffer';

export interface FormLimits {
  /** Maximum `name=value` pairs. */
  maxFields: number;
  /** Maximum decoded bytes in one name or value. */
  maxStringLength: number;
}

export type FormFailure =
  | { kind: 'syntax'; message: string; position: number }
  | { kind: 'limit'; limit: 'maxFields' | 'maxStringLength'; max: number; position: number };

const AMPERSAND = 0x26;
const EQUALS = 0x3d;
const PERCENT = 0x25;

/**
 * Checks a form body within `limits`; returns undefined when it is valid. `visit`, when given,
 * receives each decoded pair in order.
 */
export function scanForm(
  body: Buffer,
  limits: FormLimits,
  visit?: (name: string, value: string) => void,
): FormFailure | undefined {
  let fields = 0;
  let start = 0;
  while (start < body.length) {
    let end = body.indexOf(AMPERSAND, start);
    if (end === -1) end = body.length;
    // Empty sequences between ampersands are skipped, as the URL standard does.
    if (end > start) {
      fields += 1;
      if (fields > limits.maxFields) {
        return { kind: 'limit', limit: 'maxFields', max: limits.maxFields, position: start };
      }
      const failure = checkField(body, start, end, limits, visit);
      if (failure !== undefined) return failure;
    }
    start = end + 1;
  }
  return undefined;
}

function checkField(
  body: Buffer,
  start: number,
  end: number,
  limits: FormLimits,
  visit: ((name: string, value: string) => void) | undefined,
): FormFailure | undefined {
  let equals = body.indexOf(EQUALS, start);
  if (equals === -1 || equals > end) equals = end;
  const name = decodePart(body, start, equals, limits.maxStringLength);
  if (typeof name !== 'string') return name;
  const value = equals === end ? '' : decodePart(body, equals + 1, end, limits.maxStringLength);
  if (typeof value !== 'string') return value;
  visit?.(name, value);
  return undefined;
}

/** Percent-decodes one name or value, with `+` as a space. */
function decodePart(
  body: Buffer,
  start: number,
  end: number,
  maxLength: number,
): string | FormFailure {
  const decoded = Buffer.allocUnsafe(end - start);
  let length = 0;
  for (let index = start; index < end; index++) {
    const byte = body[index]!;
    if (byte === PERCENT) {
      const high = hexValue(body[index + 1]);
      const low = hexValue(body[index + 2]);
      if (index + 2 >= end || high === -1 || low === -1) {
        return { kind: 'syntax', message: 'invalid percent-encoding', position: index };
      }
      decoded[length] = high * 16 + low;
      index += 2;
    } else {
      decoded[length] = byte === 0x2b ? 0x20 : byte;
    }
    length += 1;
  }
  if (length > maxLength) {
    return { kind: 'limit', limit: 'maxStringLength', max: maxLength, position: start };
  }
  const bytes = decoded.subarray(0, length);
  if (!isUtf8(bytes)) {
    return { kind: 'syntax', message: 'a name or value is not valid UTF-8', position: start };
  }
  return bytes.toString('utf8');
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}
