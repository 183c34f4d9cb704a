/**
 * A JSON validator (RFC 8259) that walks the bytes once without building any value, so a body
 * nested a million levels deep or holding a million keys costs one linear pass and a bounded
 * amount of memory. `JSON.parse` would first build the whole structure, and the limits could
 * only be checked afterwards. The body is checked as UTF-8 before it is scanned.
 */
import { isUtf8 } from 'node:buffer';

export interface JsonLimits {
  /** Maximum nesting of objects and arrays; a scalar document has depth 0. */
  maxDepth: number;
  /** Maximum members in one object. */
  maxKeys: number;
  /** Maximum characters in one string, keys included; an escape counts as one. */
  maxStringLength: number;
  /** Whether an object may repeat a member name, which parsers resolve differently. */
  duplicateKeys: 'reject' | 'allow';
}

export type JsonLimitName = 'maxDepth' | 'maxKeys' | 'maxStringLength' | 'duplicateKeys';

/** Why a body is not acceptable JSON: a syntax error or a limit, with the byte offset. */
export type ScanFailure =
  | { kind: 'syntax'; message: string; position: number }
  | { kind: 'limit'; limit: JsonLimitName; max: number; position: number };

const enum Byte {
  Tab = 0x09,
  Newline = 0x0a,
  Return = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Plus = 0x2b,
  Comma = 0x2c,
  Minus = 0x2d,
  Dot = 0x2e,
  Slash = 0x2f,
  Zero = 0x30,
  Nine = 0x39,
  Colon = 0x3a,
  UpperE = 0x45,
  OpenBracket = 0x5b,
  Backslash = 0x5c,
  CloseBracket = 0x5d,
  LowerE = 0x65,
  OpenBrace = 0x7b,
  CloseBrace = 0x7d,
}

/** The token class the scanner expects next. */
const enum Expect {
  Value,
  Key,
  AfterValue,
}

/** One open object or array. */
interface Frame {
  object: boolean;
  keys: number;
  /**
   * Member names seen so far, kept only when duplicate names are rejected: a list while the
   * object is small, because most are and a Set per object costs more than a short scan.
   */
  names: string[] | Set<string> | undefined;
}

/** Objects with at most this many members keep their names in a list. */
const SMALL_OBJECT = 8;

class ScanError extends Error {
  constructor(readonly failure: ScanFailure) {
    super(failure.kind);
  }
}

/** Checks that `body` is one JSON text within `limits`; returns undefined when it is. */
export function scanJson(body: Buffer, limits: JsonLimits): ScanFailure | undefined {
  if (!isUtf8(body)) {
    return { kind: 'syntax', message: 'the body is not valid UTF-8', position: 0 };
  }
  try {
    new JsonScanner(body, limits).scan();
    return undefined;
  } catch (error) {
    if (error instanceof ScanError) return error.failure;
    throw error;
  }
}

class JsonScanner {
  private position = 0;
  private readonly stack: Frame[] = [];

  constructor(
    private readonly body: Buffer,
    private readonly limits: JsonLimits,
  ) {}

  scan(): void {
    let expect = Expect.Value;
    for (;;) {
      this.skipWhitespace();
      if (expect === Expect.Value) {
        expect = this.value();
      } else if (expect === Expect.Key) {
        this.key();
        expect = Expect.Value;
      } else {
        if (this.stack.length === 0) {
          if (this.position < this.body.length) this.syntax('unexpected data after the JSON value');
          return;
        }
        expect = this.afterValue();
      }
    }
  }

  /** Reads a value or opens a container; returns what comes next. */
  private value(): Expect {
    const byte = this.body[this.position];
    if (byte === Byte.OpenBrace || byte === Byte.OpenBracket) {
      const object = byte === Byte.OpenBrace;
      if (this.stack.length >= this.limits.maxDepth) this.limit('maxDepth', this.limits.maxDepth);
      this.stack.push({
        object,
        keys: 0,
        names: object && this.limits.duplicateKeys === 'reject' ? [] : undefined,
      });
      this.position += 1;
      this.skipWhitespace();
      if (this.body[this.position] === (object ? Byte.CloseBrace : Byte.CloseBracket)) {
        this.stack.pop();
        this.position += 1;
        return Expect.AfterValue;
      }
      return object ? Expect.Key : Expect.Value;
    }
    if (byte === Byte.Quote) {
      this.string();
    } else if (
      byte === Byte.Minus ||
      (byte !== undefined && byte >= Byte.Zero && byte <= Byte.Nine)
    ) {
      this.number();
    } else if (byte === 0x74) {
      this.literal('true');
    } else if (byte === 0x66) {
      this.literal('false');
    } else if (byte === 0x6e) {
      this.literal('null');
    } else {
      this.syntax(byte === undefined ? 'unexpected end of input' : 'expected a value');
    }
    return Expect.AfterValue;
  }

  /** Reads a member name and the colon after it. */
  private key(): void {
    if (this.body[this.position] !== Byte.Quote) this.syntax('expected a string as member name');
    const frame = this.stack[this.stack.length - 1]!;
    const start = this.position;
    const escaped = this.string();
    frame.keys += 1;
    if (frame.keys > this.limits.maxKeys) this.limit('maxKeys', this.limits.maxKeys, start);
    if (frame.names !== undefined && this.seenBefore(frame, this.nameKey(start, escaped))) {
      this.limit('duplicateKeys', 0, start);
    }
    this.skipWhitespace();
    if (this.body[this.position] !== Byte.Colon) this.syntax('expected ":" after member name');
    this.position += 1;
  }

  /** After a value inside a container: a comma, or the container's end. */
  private afterValue(): Expect {
    const frame = this.stack[this.stack.length - 1]!;
    const byte = this.body[this.position];
    if (byte === Byte.Comma) {
      this.position += 1;
      return frame.object ? Expect.Key : Expect.Value;
    }
    if (byte === (frame.object ? Byte.CloseBrace : Byte.CloseBracket)) {
      this.stack.pop();
      this.position += 1;
      return Expect.AfterValue;
    }
    if (byte === undefined) this.syntax('unexpected end of input');
    return this.syntax(frame.object ? 'expected "," or "}"' : 'expected "," or "]"');
  }

  /** Reads a string; returns whether it contains escapes. */
  private string(): boolean {
    const body = this.body;
    const start = this.position;
    const max = this.limits.maxStringLength;
    let index = start + 1;
    let characters = 0;
    let escaped = false;
    for (;;) {
      const byte = body[index];
      if (byte === undefined) {
        this.position = start;
        this.syntax('unterminated string');
      }
      if (byte === Byte.Quote) break;
      if (byte === Byte.Backslash) {
        escaped = true;
        index = this.escape(index);
      } else if (byte < Byte.Space) {
        this.position = index;
        this.syntax('control character in string');
      } else {
        index += 1;
      }
      // UTF-8 continuation bytes (10xxxxxx) belong to the character before them.
      if ((byte & 0xc0) !== 0x80) characters += 1;
      if (characters > max) this.limit('maxStringLength', max, start);
    }
    this.position = index + 1;
    return escaped;
  }

  /** Checks the escape sequence at `index` (a backslash); returns the index after it. */
  private escape(index: number): number {
    const next = this.body[index + 1];
    // " \ / b f n r t
    if (
      next === 0x22 ||
      next === 0x5c ||
      next === 0x2f ||
      next === 0x62 ||
      next === 0x66 ||
      next === 0x6e ||
      next === 0x72 ||
      next === 0x74
    ) {
      return index + 2;
    }
    if (next === 0x75) {
      for (let offset = 2; offset < 6; offset++) {
        if (!isHexDigit(this.body[index + offset])) {
          this.position = index;
          this.syntax('invalid \\u escape in string');
        }
      }
      return index + 6;
    }
    this.position = index;
    return this.syntax('invalid escape in string');
  }

  private number(): void {
    const body = this.body;
    let index = this.position;
    if (body[index] === Byte.Minus) index += 1;
    if (body[index] === Byte.Zero) {
      index += 1;
    } else if (isDigit(body[index])) {
      while (isDigit(body[index])) index += 1;
    } else {
      this.position = index;
      this.syntax('invalid number');
    }
    if (body[index] === Byte.Dot) {
      index += 1;
      if (!isDigit(body[index])) this.syntaxAt(index, 'invalid number');
      while (isDigit(body[index])) index += 1;
    }
    if (body[index] === Byte.LowerE || body[index] === Byte.UpperE) {
      index += 1;
      if (body[index] === Byte.Plus || body[index] === Byte.Minus) index += 1;
      if (!isDigit(body[index])) this.syntaxAt(index, 'invalid number');
      while (isDigit(body[index])) index += 1;
    }
    this.position = index;
  }

  private literal(word: string): void {
    for (let offset = 0; offset < word.length; offset++) {
      if (this.body[this.position + offset] !== word.charCodeAt(offset)) {
        this.syntaxAt(this.position + offset, `invalid literal, expected ${word}`);
      }
    }
    this.position += word.length;
  }

  /** Records a member name in its object; returns whether the object had it already. */
  private seenBefore(frame: Frame, name: string): boolean {
    const names = frame.names!;
    if (names instanceof Set) {
      if (names.has(name)) return true;
      names.add(name);
      return false;
    }
    if (names.includes(name)) return true;
    names.push(name);
    if (names.length > SMALL_OBJECT) frame.names = new Set(names);
    return false;
  }

  /**
   * Returns a member name as a key for comparison: its UTF-8 bytes read as latin1, one
   * character a byte, which is cheaper than decoding UTF-8. An escaped name is decoded and
   * encoded again first, so that `"é"` and `"\u00e9"` give the same key.
   */
  private nameKey(start: number, escaped: boolean): string {
    const end = this.position - 1;
    // Short names are built in JavaScript, which beats a call into the buffer's native code.
    if (!escaped && end - start <= 17) {
      let key = '';
      for (let index = start + 1; index < end; index++)
        key += String.fromCharCode(this.body[index]!);
      return key;
    }
    if (!escaped) return this.body.toString('latin1', start + 1, end);
    const decoded = JSON.parse(this.body.toString('utf8', start, this.position)) as string;
    return Buffer.from(decoded, 'utf8').toString('latin1');
  }

  private skipWhitespace(): void {
    const body = this.body;
    let index = this.position;
    for (;;) {
      const byte = body[index];
      if (byte !== Byte.Space && byte !== Byte.Newline && byte !== Byte.Return && byte !== Byte.Tab)
        break;
      index += 1;
    }
    this.position = index;
  }

  private syntax(message: string): never {
    throw new ScanError({ kind: 'syntax', message, position: this.position });
  }

  private syntaxAt(position: number, message: string): never {
    this.position = position;
    return this.syntax(message);
  }

  private limit(limit: JsonLimitName, max: number, position = this.position): never {
    throw new ScanError({ kind: 'limit', limit, max, position });
  }
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= Byte.Zero && byte <= Byte.Nine;
}

function isHexDigit(byte: number | undefined): boolean {
  if (byte === undefined) return false;
  return (
    (byte >= Byte.Zero && byte <= Byte.Nine) ||
    (byte >= 0x41 && byte <= 0x46) ||
    (byte >= 0x61 && byte <= 0x66)
  );
}

/** Returns the 1-based line and column of a byte offset, for error messages. */
export function lineAndColumn(body: Buffer, position: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(position, body.length);
  for (let index = 0; index < end; index++) {
    if (body[index] === Byte.Newline) {
      line += 1;
      lineStart = index + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}
