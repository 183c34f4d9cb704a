/**
 * A small HTML tokenizer for the XSS detector. It finds what a browser would read as markup
 * in a value: start tags with their attributes, end tags, comments, CDATA sections and
 * processing instructions. It follows the tag and attribute states of the WHATWG HTML
 * tokenizer closely enough for detection: attribute names end at whitespace, `/`, `>` or `=`,
 * values may be quoted or not, and `/` separates attributes. It differs on purpose where a `<`
 * comes inside a tag name or where an attribute should start: a new tag starts there, so
 * `<scr<script>ipt>` shows the `<script>` that a filter deleting the inner tag would leave.
 *
 * A tag without its closing `>` is still reported, because the page around the value may
 * supply one. Attribute values have their character references decoded, as a browser does.
 *
 * Every character is read once and the output is bounded, so the cost is linear.
 */

import { decodeHtmlEntities } from './decode.js';

export interface HtmlAttribute {
  /** Lower-cased name. */
  readonly name: string;
  /** Value with character references decoded, or empty for an attribute without a value. */
  readonly value: string;
  readonly hasValue: boolean;
}

export type HtmlToken =
  | {
      readonly kind: 'start';
      readonly name: string;
      readonly attributes: HtmlAttribute[];
      readonly closed: boolean;
    }
  | { readonly kind: 'end'; readonly name: string }
  | { readonly kind: 'comment'; readonly text: string }
  | { readonly kind: 'cdata'; readonly text: string }
  | { readonly kind: 'doctype'; readonly text: string }
  | { readonly kind: 'pi'; readonly text: string };

/**
 * Maximum tokens read from one value. Every token takes at least two characters, so a value
 * within the detector's 64 KiB limit never reaches it.
 */
export const MAX_HTML_TOKENS = 32 * 1024;
/** Maximum length kept of a tag or attribute name. */
const MAX_NAME = 256;
/** Maximum length kept of an attribute value, after decoding. */
export const MAX_ATTRIBUTE_VALUE = 4096;

function isSpace(char: string | undefined): boolean {
  return char === ' ' || char === '\t' || char === '\n' || char === '\f' || char === '\r';
}

function isAsciiLetter(char: string | undefined): boolean {
  return char !== undefined && ((char >= 'a' && char <= 'z') || (char >= 'A' && char <= 'Z'));
}

function clip(text: string): string {
  return text.length > MAX_NAME ? text.slice(0, MAX_NAME) : text;
}

/**
 * Decodes an attribute value and drops what a browser ignores in a URL (tab, newline, and
 * leading control characters and spaces), so padding cannot push a `javascript:` scheme past
 * the kept length.
 */
function attributeValue(raw: string): string {
  const value = decodeHtmlEntities(raw)
    .replace(/[\t\n\r]/g, '')
    // eslint-disable-next-line no-control-regex
    .replace(/^[\u0000-\u0020]+/, '');
  return value.length > MAX_ATTRIBUTE_VALUE ? value.slice(0, MAX_ATTRIBUTE_VALUE) : value;
}

/**
 * Reads attributes from `start` up to the `>` that ends the tag. Returns them with the index
 * after that `>` (or the input length) and whether the `>` was there.
 */
export function readAttributes(
  input: string,
  start: number,
): { attributes: HtmlAttribute[]; end: number; closed: boolean; restart: boolean } {
  const attributes: HtmlAttribute[] = [];
  let index = start;

  while (index < input.length) {
    const char = input[index];
    if (isSpace(char) || char === '/') {
      index++;
      continue;
    }
    if (char === '>') return { attributes, end: index + 1, closed: true, restart: false };
    // `<b <script>`: a tag opened where an attribute should start. A browser reads an
    // attribute named `<script`, but a filter that drops the `<b ` leaves a script element.
    if (char === '<' && isAsciiLetter(input[index + 1])) {
      return { attributes, end: index, closed: false, restart: true };
    }

    // Attribute name: a leading `=` belongs to the name, as in the HTML tokenizer.
    const nameStart = index;
    index++;
    while (index < input.length) {
      const next = input[index];
      if (isSpace(next) || next === '/' || next === '>' || next === '=') break;
      index++;
    }
    const name = input.slice(nameStart, index).toLowerCase();

    let cursor = index;
    while (isSpace(input[cursor])) cursor++;
    let value = '';
    let hasValue = false;
    if (input[cursor] === '=') {
      hasValue = true;
      cursor++;
      while (isSpace(input[cursor])) cursor++;
      const quote = input[cursor];
      // Old Internet Explorer also quotes attribute values with backticks.
      if (quote === '"' || quote === "'" || quote === '`') {
        const close = input.indexOf(quote, cursor + 1);
        const valueEnd = close === -1 ? input.length : close;
        value = input.slice(cursor + 1, valueEnd);
        index = close === -1 ? input.length : close + 1;
      } else {
        const valueStart = cursor;
        while (cursor < input.length && !isSpace(input[cursor]) && input[cursor] !== '>') cursor++;
        value = input.slice(valueStart, cursor);
        index = cursor;
      }
    }

    attributes.push({ name: clip(name), value: attributeValue(value), hasValue });
  }
  return { attributes, end: input.length, closed: false, restart: false };
}

/**
 * Finds where a comment opened before `start` ends: at `-->` or `--!>`, or right away for the
 * empty comments `<!-->` and `<!--->`. Returns the end of its text and the index after it.
 */
function commentEnd(input: string, start: number): { close: number; end: number } {
  if (input[start] === '>') return { close: start, end: start + 1 };
  if (input.startsWith('->', start)) return { close: start, end: start + 2 };
  const plain = input.indexOf('-->', start);
  const bang = input.indexOf('--!>', start);
  if (bang !== -1 && (plain === -1 || bang < plain)) return { close: bang, end: bang + 4 };
  if (plain !== -1) return { close: plain, end: plain + 3 };
  return { close: input.length, end: input.length };
}

/** Tokenizes the markup in `input`, read as HTML text, from `start`. Text between tags is skipped. */
export function tokenizeHtml(input: string, start = 0): HtmlToken[] {
  const tokens: HtmlToken[] = [];
  let index = input.indexOf('<', start);

  while (index !== -1 && index < input.length && tokens.length < MAX_HTML_TOKENS) {
    const next = input[index + 1];

    if (input.startsWith('<!--', index)) {
      const { close, end } = commentEnd(input, index + 4);
      tokens.push({ kind: 'comment', text: input.slice(index + 4, close) });
      index = input.indexOf('<', end);
      continue;
    }
    if (input.startsWith('<![CDATA[', index)) {
      const close = input.indexOf(']]>', index + 9);
      const end = close === -1 ? input.length : close + 3;
      tokens.push({
        kind: 'cdata',
        text: input.slice(index + 9, close === -1 ? end : close),
      });
      index = input.indexOf('<', end);
      continue;
    }
    if (next === '!' || next === '?') {
      const close = input.indexOf('>', index + 2);
      const end = close === -1 ? input.length : close + 1;
      tokens.push({
        kind: next === '?' ? 'pi' : 'doctype',
        text: input.slice(index + 2, close === -1 ? end : close),
      });
      index = input.indexOf('<', index + 2);
      continue;
    }

    const isEnd = next === '/';
    const nameStart = isEnd ? index + 2 : index + 1;
    if (!isAsciiLetter(input[nameStart])) {
      index = input.indexOf('<', index + 1);
      continue;
    }

    let cursor = nameStart;
    let restart = -1;
    while (cursor < input.length) {
      const char = input[cursor];
      if (isSpace(char) || char === '/' || char === '>') break;
      if (char === '<') {
        restart = cursor;
        break;
      }
      cursor++;
    }
    if (restart !== -1) {
      index = restart;
      continue;
    }
    const name = clip(input.slice(nameStart, cursor).toLowerCase());

    if (isEnd) {
      tokens.push({ kind: 'end', name });
      const close = input.indexOf('>', cursor);
      index = close === -1 ? -1 : input.indexOf('<', close);
      continue;
    }

    const { attributes, end, closed } = readAttributes(input, cursor);
    tokens.push({ kind: 'start', name, attributes, closed });
    index = input.indexOf('<', end);
  }

  return tokens;
}
