/**
 * A small SQL lexer for the injection detector. It reads a value the way a database would
 * read it once spliced into a query: as-is, or right after an opening quote, so that the
 * first token is the quoted text that the value closes. It covers what the common dialects
 * share (MySQL, PostgreSQL, SQL Server, Oracle, SQLite) and accepts any string: characters
 * that no dialect accepts become `unknown` tokens, which the judge reads as the end of SQL.
 *
 * One pass over the input, no backtracking, and at most `MAX_SQL_TOKENS` tokens, so the cost
 * is linear in the input length.
 */

export type SqlTokenKind =
  | 'string'
  | 'number'
  | 'word'
  | 'identifier'
  | 'variable'
  | 'operator'
  | 'lparen'
  | 'rparen'
  | 'comma'
  | 'semicolon'
  | 'comment'
  | 'unknown';

export interface SqlToken {
  readonly kind: SqlTokenKind;
  /** Lower-cased text for words and operators, or the literal's content for strings. */
  readonly text: string;
  /** For strings: the closing quote was missing, so the query's own quote would close it. */
  readonly open?: boolean;
  /** For comments: `/* ... *\/` inside the input, which SQL reads as whitespace. */
  readonly inline?: boolean;
  /**
   * For comments: `--` directly followed by a letter, as in `--json`. That is how prose
   * writes a command-line flag, and MySQL does not read it as a comment.
   */
  readonly flag?: boolean;
}

export interface SqlTokens {
  readonly tokens: SqlToken[];
  /** The input had more than `maxTokens` tokens, and the rest was not read. */
  readonly truncated: boolean;
  /** Count of MySQL executable comments (`/*!...*\/`), whose content MySQL runs as SQL. */
  readonly executableComments: number;
}

/**
 * Maximum tokens per context. Every token takes at least one character, so a value within
 * the detector's 64 KiB limit never reaches it.
 */
export const MAX_SQL_TOKENS = 64 * 1024;

/** Maximum text kept for one token, because comparisons only need the start of a literal. */
const MAX_TOKEN_TEXT = 64;

const PUNCTUATION: ReadonlyMap<string, SqlTokenKind> = new Map([
  ['(', 'lparen'],
  [')', 'rparen'],
  [',', 'comma'],
  [';', 'semicolon'],
]);

const OPERATORS_3 = new Set(['<=>']);
const OPERATORS_2 = new Set([
  '<=',
  '>=',
  '<>',
  '!=',
  '==',
  '||',
  '&&',
  '<<',
  '>>',
  ':=',
  '::',
  '!<',
  '!>',
]);
const OPERATORS_1 = new Set(['=', '<', '>', '+', '-', '*', '/', '%', '&', '|', '^', '~', '!']);

function isSpace(code: number): boolean {
  // ASCII whitespace, plus the no-break space that SQL Server accepts between tokens.
  return code === 0x20 || (code >= 0x09 && code <= 0x0d) || code === 0xa0;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

function isWordChar(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) ||
    (code >= 0x41 && code <= 0x5a) ||
    isDigit(code) ||
    code === 0x5f ||
    code === 0x24 ||
    // Letters outside ASCII are valid in MySQL, PostgreSQL and SQL Server identifiers, but
    // General Punctuation (dashes, primes, typographic quotes) is not.
    (code > 0x7f && code !== 0xa0 && (code < 0x2000 || code > 0x206f))
  );
}

function isWordStart(code: number): boolean {
  return isWordChar(code) && !isDigit(code) && code !== 0x24;
}

function clip(text: string): string {
  return text.length > MAX_TOKEN_TEXT ? text.slice(0, MAX_TOKEN_TEXT) : text;
}

/**
 * Reads a quoted literal starting after the opening quote at `start - 1`. A doubled quote is
 * an escaped quote, as in standard SQL. Returns the content and the index after the closing
 * quote, or -1 when the literal runs to the end of the input.
 */
function readQuoted(input: string, start: number, quote: string): { text: string; end: number } {
  let index = start;
  let text = '';
  while (index < input.length) {
    const found = input.indexOf(quote, index);
    if (found === -1) break;
    text += input.slice(index, found);
    if (input[found + 1] === quote) {
      text += quote;
      index = found + 2;
      continue;
    }
    return { text: clip(text), end: found + 1 };
  }
  return { text: clip(text + input.slice(index)), end: -1 };
}

/** Index just past a number (decimal, exponent, `0x` hex or `0b` binary) starting at `start`. */
function readNumber(input: string, start: number): number {
  let index = start;
  const next = input.charCodeAt(start + 1);
  if (input[start] === '0' && (next === 0x78 || next === 0x58 || next === 0x62 || next === 0x42)) {
    index = start + 2;
    while (index < input.length && /[0-9a-fA-F]/.test(input[index] ?? '')) index++;
    return index;
  }
  while (index < input.length && isDigit(input.charCodeAt(index))) index++;
  if (input[index] === '.') {
    index++;
    while (index < input.length && isDigit(input.charCodeAt(index))) index++;
  }
  const exponent = input[index];
  if (exponent === 'e' || exponent === 'E') {
    let after = index + 1;
    if (input[after] === '+' || input[after] === '-') after++;
    if (isDigit(input.charCodeAt(after))) {
      index = after;
      while (index < input.length && isDigit(input.charCodeAt(index))) index++;
    }
  }
  return index;
}

/** Returns the index just past a word. Dots join qualified names such as `master..xp_cmdshell`. */
function readWord(input: string, start: number): number {
  let index = start;
  while (index < input.length) {
    const code = input.charCodeAt(index);
    if (isWordChar(code)) {
      index++;
    } else if (code === 0x2e) {
      // A dot followed by a word character or another dot continues a qualified name.
      const following = input.charCodeAt(index + 1);
      if (following !== 0x2e && !isWordChar(following)) break;
      index++;
    } else {
      break;
    }
  }
  return index;
}

/**
 * Splits `input` into SQL tokens. With `opener` set, the input is read as if that quote
 * came right before it, so the first token is the literal (or quoted identifier) that the
 * input's first matching quote closes.
 */
export function tokenizeSql(
  input: string,
  opener: '' | "'" | '"' | '`' = '',
  maxTokens = MAX_SQL_TOKENS,
): SqlTokens {
  const tokens: SqlToken[] = [];
  let executableComments = 0;
  let inExecutableComment = false;
  let index = 0;

  const push = (token: SqlToken): void => {
    tokens.push(token);
  };

  if (opener !== '') {
    const literal = readQuoted(input, 0, opener);
    push({
      kind: opener === '`' ? 'identifier' : 'string',
      text: literal.text,
      open: literal.end === -1,
    });
    index = literal.end === -1 ? input.length : literal.end;
  }

  const limit = Math.min(maxTokens, MAX_SQL_TOKENS);
  while (index < input.length && tokens.length < limit) {
    const char = input[index] as string;
    const code = input.charCodeAt(index);
    const next = input[index + 1];

    if (isSpace(code)) {
      index++;
      continue;
    }

    if ((char === '-' && next === '-') || char === '#') {
      const end = input.indexOf('\n', index);
      if (char === '#') push({ kind: 'comment', text: '#' });
      else push({ kind: 'comment', text: '--', flag: /[A-Za-z]/.test(input[index + 2] ?? '') });
      index = end === -1 ? input.length : end + 1;
      continue;
    }

    if (char === '/' && next === '*') {
      if (input[index + 2] === '!') {
        // MySQL runs the content of `/*!` (with an optional version number) as SQL.
        executableComments++;
        inExecutableComment = true;
        index += 3;
        while (index < input.length && isDigit(input.charCodeAt(index))) index++;
        continue;
      }
      const end = input.indexOf('*/', index + 2);
      push({ kind: 'comment', text: '/*', inline: end !== -1 });
      index = end === -1 ? input.length : end + 2;
      continue;
    }

    if (char === '*' && next === '/' && inExecutableComment) {
      inExecutableComment = false;
      index += 2;
      continue;
    }

    if (char === "'" || char === '"' || char === '`') {
      const literal = readQuoted(input, index + 1, char);
      push({
        kind: char === '`' ? 'identifier' : 'string',
        text: literal.text,
        open: literal.end === -1,
      });
      index = literal.end === -1 ? input.length : literal.end;
      continue;
    }

    if (isDigit(code) || (char === '.' && isDigit(input.charCodeAt(index + 1)))) {
      const end = readNumber(input, index);
      if (end < input.length && isWordChar(input.charCodeAt(end))) {
        // MySQL accepts identifiers that start with digits, such as `1abc`.
        const wordEnd = readWord(input, index);
        push({ kind: 'word', text: clip(input.slice(index, wordEnd).toLowerCase()) });
        index = wordEnd;
      } else {
        push({ kind: 'number', text: clip(input.slice(index, end).toLowerCase()) });
        index = end;
      }
      continue;
    }

    if (isWordStart(code)) {
      // N'...', X'...', B'...' and E'...' are literals with a prefix letter.
      if (next === "'" && /[nxbeNXBE]/.test(char)) {
        const literal = readQuoted(input, index + 2, "'");
        push({ kind: 'string', text: literal.text, open: literal.end === -1 });
        index = literal.end === -1 ? input.length : literal.end;
        continue;
      }
      const end = readWord(input, index);
      push({ kind: 'word', text: clip(input.slice(index, end).toLowerCase()) });
      index = end;
      continue;
    }

    if (char === '@') {
      let end = index + 1;
      if (input[end] === '@') end++;
      const wordEnd = readWord(input, end);
      push({ kind: 'variable', text: clip(input.slice(index, wordEnd).toLowerCase()) });
      index = wordEnd;
      continue;
    }

    const punctuation = PUNCTUATION.get(char);
    if (punctuation !== undefined) {
      push({ kind: punctuation, text: char });
      index++;
      continue;
    }

    const three = input.slice(index, index + 3);
    const two = input.slice(index, index + 2);
    if (OPERATORS_3.has(three)) {
      push({ kind: 'operator', text: three });
      index += 3;
      continue;
    }
    if (OPERATORS_2.has(two)) {
      push({ kind: 'operator', text: two });
      index += 2;
      continue;
    }
    if (OPERATORS_1.has(char)) {
      push({ kind: 'operator', text: char });
      index++;
      continue;
    }

    push({ kind: 'unknown', text: char });
    index++;
  }

  return { tokens, truncated: index < input.length, executableComments };
}
