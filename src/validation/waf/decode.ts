/**
 * Decoding before matching. Attackers hide a payload behind the encodings that some layer
 * between the client and the sink undoes: URL escapes (often applied twice), HTML entities,
 * JavaScript escapes, overlong UTF-8 and fullwidth forms. The detectors inspect the raw value,
 * the URL-decoded value and the value with every layer undone.
 *
 * Every step is a single linear pass and the number of rounds is fixed. No step makes the
 * string longer than its input, except NFKC, which is applied once and kept only while at
 * most twice as long, so decoding a value costs a small multiple of its length.
 */

/** Rounds of URL decoding in each round of decodeFully. */
const MAX_URL_ROUNDS = 4;
/** Rounds of the whole decoding pipeline, which undoes mixed layers such as URL in HTML. */
const MAX_ROUNDS = 3;

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  tab: '\t',
  newline: '\n',
  colon: ':',
  sol: '/',
  bsol: '\\',
  lpar: '(',
  rpar: ')',
  lsqb: '[',
  rsqb: ']',
  lbrack: '[',
  rbrack: ']',
  lcub: '{',
  rcub: '}',
  lbrace: '{',
  rbrace: '}',
  semi: ';',
  comma: ',',
  period: '.',
  excl: '!',
  quest: '?',
  num: '#',
  percnt: '%',
  equals: '=',
  plus: '+',
  ast: '*',
  midast: '*',
  verbar: '|',
  vert: '|',
  grave: '`',
  dollar: '$',
  commat: '@',
  lowbar: '_',
  hyphen: '-',
  dash: '-',
};

/**
 * Returns the distinct forms of `value` that detectors inspect: the raw value first, then
 * the URL-decoded form and the fully decoded form when they differ from it.
 */
export function decodeVariants(value: string): string[] {
  if (!needsDecoding(value)) return [value];
  const variants = [value];
  const urlDecoded = urlDecodeRepeated(value);
  if (urlDecoded !== value) variants.push(urlDecoded);
  const full = decodeFully(value);
  if (!variants.includes(full)) variants.push(full);
  return variants;
}

/** Checks whether `value` contains a character that starts an encoding decodeFully undoes. */
export function needsDecoding(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    // % & + \ NUL, and anything outside ASCII (fullwidth forms, lookalikes).
    if (code === 37 || code === 38 || code === 43 || code === 92 || code === 0 || code > 127) {
      return true;
    }
  }
  return false;
}

/**
 * Undoes every supported layer until the value stops changing or MAX_ROUNDS is reached:
 * URL escapes (with `+` as a space when the value has escapes), HTML entities, JavaScript escapes, NUL bytes and NFKC
 * compatibility forms.
 */
export function decodeFully(value: string): string {
  // `+` means a space only in form encoding, so only a value with percent escapes gets it.
  const formEncoded = value.includes('%');
  let current = value;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let next = urlDecodeRepeated(current);
    if (formEncoded) next = plusToSpace(next);
    next = decodeHtmlEntities(next);
    next = decodeJsEscapes(next);
    next = removeNul(next);
    if (next === current) break;
    current = next;
  }
  return normalizeCompat(current);
}

/** URL-decodes `value` repeatedly until it is stable, for at most MAX_URL_ROUNDS rounds. */
export function urlDecodeRepeated(value: string): string {
  let current = value;
  for (let round = 0; round < MAX_URL_ROUNDS; round++) {
    if (!current.includes('%')) break;
    const next = urlDecodeOnce(current);
    if (next === current) break;
    current = next;
  }
  return current;
}

/**
 * Decodes `%XX` and `%uXXXX` escapes once. Runs of `%XX` bytes are read as UTF-8 leniently:
 * overlong forms such as `%c0%ae` become the ASCII character they spell, because some servers
 * decode them that way and traversal payloads rely on it. A `%` that starts no escape stays.
 */
export function urlDecodeOnce(value: string): string {
  let out = '';
  const bytes: number[] = [];
  let i = 0;
  while (i < value.length) {
    const ch = value.charCodeAt(i);
    if (ch === 37 /* % */) {
      const byte = hexByte(value, i + 1);
      if (byte !== -1) {
        bytes.push(byte);
        i += 3;
        continue;
      }
      if (value[i + 1] === 'u' || value[i + 1] === 'U') {
        const unit = hexUnit(value, i + 2);
        if (unit !== -1) {
          out += flushBytes(bytes) + String.fromCharCode(unit);
          i += 6;
          continue;
        }
      }
    }
    if (bytes.length > 0) out += flushBytes(bytes);
    out += value[i];
    i++;
  }
  return out + flushBytes(bytes);
}

/** Decodes buffered bytes as lenient UTF-8 and empties the buffer. */
function flushBytes(bytes: number[]): string {
  if (bytes.length === 0) return '';
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    const length = sequenceLength(lead);
    if (length === 1) {
      out += String.fromCharCode(lead);
      i++;
      continue;
    }
    if (i + length > bytes.length) {
      out += '\ufffd';
      i++;
      continue;
    }
    let code = lead & (0x7f >> length);
    for (let k = 1; k < length; k++) code = (code << 6) | (bytes[i + k]! & 0x3f);
    if (length === 2 && lead <= 0xc1) code = overlongAscii(code, bytes[i + 1]!);
    out += code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd';
    i += length;
  }
  bytes.length = 0;
  return out;
}

/** Returns the length of the UTF-8 sequence that `lead` starts, including 5-byte forms. */
function sequenceLength(lead: number): number {
  if (lead >= 0xf8) return 5;
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  if (lead >= 0xc0) return 2;
  return 1;
}

/**
 * Maps a two-byte overlong sequence to ASCII. Old IIS versions ignored the payload bits of
 * the lead byte, so `%c1%af` meant `/` there although strict decoding gives `o`: when the
 * continuation byte alone spells a path character, that reading wins.
 */
function overlongAscii(code: number, continuation: number): number {
  const low = continuation & 0x7f;
  if (low === 0x2e || low === 0x2f || low === 0x5c) return low;
  return code;
}

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

function hexByte(value: string, at: number): number {
  if (at + 1 >= value.length) return -1;
  const high = hexDigit(value.charCodeAt(at));
  const low = hexDigit(value.charCodeAt(at + 1));
  return high === -1 || low === -1 ? -1 : (high << 4) | low;
}

function hexUnit(value: string, at: number): number {
  if (at + 3 >= value.length) return -1;
  const high = hexByte(value, at);
  const low = hexByte(value, at + 2);
  return high === -1 || low === -1 ? -1 : (high << 8) | low;
}

function plusToSpace(value: string): string {
  return value.includes('+') ? value.replaceAll('+', ' ') : value;
}

// Entities with or without the closing semicolon, as browsers accept both in attributes.
const ENTITY = /&(?:#[xX]([0-9a-fA-F]{1,6})|#([0-9]{1,7})|([a-zA-Z][a-zA-Z0-9]{1,31}));?/g;

/** Decodes numeric entities and the named entities that spell markup or shell syntax. */
export function decodeHtmlEntities(value: string): string {
  if (!value.includes('&')) return value;
  return value.replace(ENTITY, (match, hex?: string, dec?: string, name?: string) => {
    if (hex !== undefined || dec !== undefined) {
      const code = hex !== undefined ? parseInt(hex, 16) : parseInt(dec!, 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
    }
    const named = NAMED_ENTITIES[name!.toLowerCase()];
    if (named === undefined) return match;
    // Without a semicolon, only an exact name counts, so `&amplifier` stays as written.
    return match.endsWith(';') || match.length === name!.length + 1 ? named : match;
  });
}

// `\0` only when no digit follows, as in JavaScript, so an octal `\033` stays as written.
const JS_ESCAPE =
  /\\(?:u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|([nrt]|0(?![0-9])))/g;
const CONTROL_ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', '0': '\0' };

/** Decodes `\uXXXX`, `\u{…}`, `\xXX` and the escapes `\n`, `\r`, `\t` and `\0`. */
export function decodeJsEscapes(value: string): string {
  if (!value.includes('\\')) return value;
  return value.replace(
    JS_ESCAPE,
    (_match, braced?: string, unit?: string, byte?: string, control?: string) => {
      if (control !== undefined) return CONTROL_ESCAPES[control]!;
      const code = parseInt(braced ?? unit ?? byte!, 16);
      return code <= 0x10ffff ? String.fromCodePoint(code) : '';
    },
  );
}

function removeNul(value: string): string {
  return value.includes('\0') ? value.replaceAll('\0', '') : value;
}

/**
 * Applies NFKC, which folds fullwidth and other compatibility forms (`＜`, `ｓｅｌｅｃｔ`) into
 * ASCII. Skipped for pure ASCII, where it changes nothing.
 */
function normalizeCompat(value: string): string {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 127) {
      const normalized = value.normalize('NFKC');
      // A few characters expand to up to 18 (U+FDFA), so a value made of them would multiply
      // the work of every detector. Then only fullwidth ASCII (`＜` U+FF1C) is folded.
      return normalized.length <= 2 * value.length ? normalized : foldFullwidth(value);
    }
  }
  return value;
}

function foldFullwidth(value: string): string {
  return value.replace(/[\uff01-\uff5e]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) - 0xfee0));
}
