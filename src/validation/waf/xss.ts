/**
 * Cross-site scripting detector. The value is tokenized as HTML (html-tokenizer.ts) in each
 * place a page could put it: as text between tags, inside a double-quoted, single-quoted or
 * unquoted attribute value, inside a JavaScript string, and as a whole URL attribute. Rules
 * ask whether the markup it produces can run script: a script-capable element, an event
 * handler attribute, a `javascript:` URL where a URL is loaded, `srcdoc`, CSS expressions,
 * meta refresh, `<base href>`. A `<script>` tag counts at paranoia 1 when it loads a file, is
 * closed, or is followed by code. Prose that only names the tag counts from paranoia 2.
 * Formatting markup such as `<b>` or `<a href="https://...">` passes at paranoia 1. It is
 * reported from paranoia 2 on, and any markup in a field tagged as reaching HTML.
 */

import { SCORE } from './rule-table.js';
import {
  readAttributes,
  tokenizeHtml,
  type HtmlAttribute,
  type HtmlToken,
} from './html-tokenizer.js';
import type { DetectContext, RuleHit } from './types.js';

/** Maximum length inspected. A longer value is read up to it, with a note rule of score 0. */
export const MAX_HTML_INPUT = 64 * 1024;

/** Elements that run script or load a document or plugin of their own. */
const SCRIPT_ELEMENTS = new Set(['script']);
const EMBEDDING_ELEMENTS = new Set([
  'iframe',
  'frame',
  'frameset',
  'object',
  'embed',
  'applet',
  'portal',
  // Netscape layers load a document of their own.
  'layer',
  'ilayer',
]);
/** Attributes whose value the browser loads or navigates to as a URL. */
const URL_ATTRIBUTES = new Set([
  'href',
  'src',
  'action',
  'formaction',
  'xlink:href',
  'data',
  'code',
  'codebase',
  'background',
  'poster',
  'lowsrc',
  'dynsrc',
  'cite',
  'longdesc',
  'usemap',
  'manifest',
  'ping',
  'srcset',
  'icon',
  'profile',
  // XML Events: the document that handles an event.
  'handler',
  // SVG animation attributes set another attribute, such as an href, to this value.
  'values',
  'to',
  'from',
  'by',
]);
/** Formatting elements that rich-text editors produce and that cannot run script by themselves. */
const FORMATTING_ELEMENTS = new Set([
  'a', 'abbr', 'b', 'blockquote', 'br', 'caption', 'code', 'del', 'div', 'em', 'figcaption',
  'figure', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'ins', 'kbd', 'li', 'mark',
  'ol', 'p', 'pre', 'q', 's', 'small', 'span', 'strong', 'sub', 'sup', 'table', 'tbody', 'td',
  'tfoot', 'th', 'thead', 'tr', 'u', 'ul',
]); // prettier-ignore

/** `on` followed by letters is how every event-handler attribute is spelled. */
const EVENT_HANDLER = /^(?:[a-z]+:)?on[a-z]{3,}$/;

/** A value that reads as script code rather than a word: a call, a template call, an assignment. */
const CODE_LIKE =
  /[\w$\])]\s*[(`]|[=.]\s*[\w$]+\s*[(`]|\)\s*\/\/|[\w$\]]\s*\.\s*[\w$]+\s*=|\b(?:document|window|location|top|self|parent)\s*[.[]/;

/** URL schemes that run script, or render markup from the URL itself. */
const SCRIPT_SCHEME = /^(?:javascript|vbscript|livescript|mocha):/;
const MARKUP_DATA_URL =
  /^data:(?:text\/html|text\/xml|application\/xhtml|image\/svg\+xml|text\/javascript|application\/(?:x-)?javascript)/;

/**
 * CSS that runs script in some browser (IE expressions and behaviors, Mozilla bindings, script
 * URLs) or imports a stylesheet that may.
 */
const CSS_SCRIPT =
  /expression\s*\(|behavior\s*:|-moz-binding|url\s*\(\s*['"]?\s*(?:javascript|vbscript|data:text\/html)|@import/;

/** An AngularJS expression that reaches the Function constructor. */
const TEMPLATE_ESCAPE =
  /\{\{[^{}]{0,256}?(?:constructor\s*\.\s*constructor|\$eval\s*\(|\$on\s*\.\s*constructor|\$event\s*\.\s*view)/;

/**
 * A value that closes a JavaScript string and calls something, as in `';alert(1)//` or
 * `'-alert(1)-'`: a quote, an operator that ends the expression, a call, then a comment or
 * another operator that joins the rest of the page's string. A tagged template call takes no
 * spaces, because `` `-wal` and `-shm` `` in Markdown reads as one too.
 */
const JS_STRING_BREAKOUT =
  /['"`]\s*(?:[;,+\-*/%|&^)}]|\?\?)\s*(?:[\w$]+(?:\s*\.\s*[\w$]+)*|\[[^\]]{0,64}\]\.[\w$]+)\s*(?:\((?:[^()]|\([^()]{0,64}\)){0,128}\)|`[^`\s]{0,64}`)\s*(?:\/\/|<\/|[-+*/%|&^;,)}])/y;

/** `;`, a call and a line comment: a value that ends a script statement and starts its own. */
const SCRIPT_STATEMENT = /[;}]\s*[\w$]+(?:\s*\.\s*[\w$]+)*\s*\([^)]{0,64}\)\s*[;{]*\s*\/\//;

/** A script URL inside a larger value, as in `getURL("javascript:alert(1)")`. */
const EMBEDDED_SCRIPT_URL = /(?:java|vb)script:[^\s][^\s]{0,64}?[\w$\])]\s*[(`]/i;

/** `<` and `>` in UTF-7, which a page served as UTF-7 reads as markup. */
const UTF7_MARKUP = /\+ADw-[\w!/?]|\+ADw-\+AC8-/;

/** A JavaScript call of a global that shows or runs something, for script contexts. */
const SCRIPT_CALL =
  /(?:^|[^\w$.])(?:alert|confirm|prompt|eval|Function|setTimeout|setInterval|fetch|import|atob)\s*(?:\(|`)|(?:document|window|top|self|parent|location|navigator)\s*(?:\.|\[)/;

/**
 * SCRIPT_CALL ignoring case, for a handler added without a quote: HTML ignores the case of
 * the attribute name, and a payload list's mixed-case variant should not slip past.
 */
const SCRIPT_CALL_ANY_CASE = new RegExp(SCRIPT_CALL.source, 'i');

interface Finder {
  add(ruleId: string, score: number): void;
}

/** Removes what the URL parser and the entity decoder drop before reading a scheme. */
function normalizeUrl(value: string): string {
  // The URL parser strips leading control characters and spaces, and removes tab and newline anywhere.
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u0020]+/g, '').toLowerCase();
}

/** Removes `/* ... *\/` comments in one pass. An unclosed comment runs to the end. */
function stripCssComments(value: string): string {
  let result = '';
  let position = 0;
  while (position < value.length) {
    const open = value.indexOf('/*', position);
    if (open === -1) return result + value.slice(position);
    result += value.slice(position, open);
    const close = value.indexOf('*/', open + 2);
    if (close === -1) return result;
    position = close + 2;
  }
  return result;
}

/** Removes CSS comments and escapes, which split words such as `expr/**\/ession`. */
function normalizeCss(value: string): string {
  return (
    stripCssComments(value)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000e-\u001f]/g, '')
      .replace(/\\([0-9a-fA-F]{1,6})\s?/g, (_, hex: string) =>
        String.fromCodePoint(Math.min(parseInt(hex, 16), 0x10ffff) || 0xfffd),
      )
      .replace(/\\/g, '')
      .toLowerCase()
  );
}

function attribute(attributes: readonly HtmlAttribute[], name: string): HtmlAttribute | undefined {
  return attributes.find((item) => item.name === name);
}

/** Quotes looked at for a string breakout, because a payload closes the string early. */
const MAX_BREAKOUT_QUOTES = 64;

/**
 * Checks whether a quote that closes the page's string is followed by a call
 * (JS_STRING_BREAKOUT).
 * Only the first, third, fifth... quote of a kind closes it: the second opens a new string.
 * So `'Total' + SUM(A1) + 'x'` and Markdown code spans (`` `7d`, or `forever`) ``) stay text.
 */
function closesScriptString(text: string): boolean {
  const seen = { "'": 0, '"': 0, '`': 0 };
  let looked = 0;
  for (let at = 0; at < text.length && looked < MAX_BREAKOUT_QUOTES; at++) {
    const char = text[at] as string;
    if (char !== "'" && char !== '"' && char !== '`') continue;
    looked++;
    seen[char]++;
    if (seen[char] % 2 === 0) continue;
    JS_STRING_BREAKOUT.lastIndex = at;
    if (JS_STRING_BREAKOUT.test(text)) return true;
  }
  return false;
}

/** Judges the attributes of a tag, or those a value added to the tag around it. */
function judgeAttributes(
  attributes: readonly HtmlAttribute[],
  inTag: boolean,
  level: number,
  finder: Finder,
  bare = false,
): void {
  for (const item of attributes) {
    const handler = EVENT_HANDLER.test(item.name);
    if (handler && item.hasValue && item.value.trim() !== '') {
      // Inside a tag the value opened, any handler runs. A handler added to the page's own
      // tag must look like code, so that "online=true" in prose stays prose. Without a quote
      // to close, "Set onclick=doIt() on the button" is how prose names a handler, so there
      // the code must reach a script global at paranoia 1, and any call counts from 2 on.
      if (
        inTag ||
        (CODE_LIKE.test(item.value) && (!bare || SCRIPT_CALL_ANY_CASE.test(item.value)))
      ) {
        finder.add('xss-002-event-handler', SCORE.critical);
      } else if (CODE_LIKE.test(item.value) && level >= 2) {
        finder.add('xss-025-bare-event-handler', SCORE.critical);
      } else if (level >= 2) finder.add('xss-022-event-attribute', SCORE.warning);
    } else if (level >= 2 && /^on/.test(item.name) && item.hasValue) {
      // `on...=` with any name, such as `onload!#$%=`, which some parsers read as a handler.
      finder.add('xss-022-event-attribute', SCORE.warning);
    }

    if (URL_ATTRIBUTES.has(item.name) || item.name.endsWith(':href')) {
      const url = normalizeUrl(item.value);
      if (SCRIPT_SCHEME.test(url)) finder.add('xss-003-script-url', SCORE.critical);
      else if (MARKUP_DATA_URL.test(url)) finder.add('xss-004-markup-data-url', SCORE.critical);
    }
    if (item.name === 'srcdoc' && item.hasValue) finder.add('xss-005-srcdoc', SCORE.critical);
    // `&{...}` is a JavaScript entity, which Netscape 4 evaluated in any attribute value.
    if (/&\{[^}]*\}/.test(item.value)) finder.add('xss-016-script-entity', SCORE.critical);
    if (item.name === 'style' && CSS_SCRIPT.test(normalizeCss(item.value))) {
      finder.add('xss-006-css-script', SCORE.critical);
    }
  }
}

function judgeTag(
  token: HtmlToken,
  level: number,
  finder: Finder,
  depth: number,
  scriptCanRun = true,
): void {
  if (token.kind === 'pi') {
    // `<?import ... implementation=...>` loads an HTML component in old Internet Explorer.
    if (/^(?:import|xml-stylesheet)\b/i.test(token.text))
      finder.add('xss-009-processing-instruction', SCORE.critical);
    else if (level >= 2) finder.add('xss-021-markup', SCORE.warning);
    return;
  }
  if (token.kind === 'comment' || token.kind === 'cdata' || token.kind === 'doctype') {
    if (level >= 2) finder.add('xss-021-markup', SCORE.warning);
    // Internet Explorer runs the content of a conditional comment (`<!--[if IE]>`), and
    // content hidden in other comments runs when a filter or template reads them differently.
    if (depth === 0) judgeMarkup(token.text, level, finder, depth + 1, scriptCanRun);
    // A DTD can give every element a default event-handler attribute.
    if (token.kind === 'doctype' && /\bon[a-z]{3,}\s+cdata\b/i.test(token.text)) {
      finder.add('xss-002-event-handler', SCORE.critical);
    }
    return;
  }
  if (token.kind === 'end') {
    if (level >= 3) finder.add('xss-030-any-tag', SCORE.notice);
    return;
  }

  const { name, attributes } = token;
  // `script+src` or `script\x20type`: a name that only becomes `script` once a layer undoes it.
  const base = /^[a-z][a-z0-9]*/.exec(name)?.[0] ?? name;

  if (SCRIPT_ELEMENTS.has(name) || (SCRIPT_ELEMENTS.has(base) && name !== base)) {
    // A `<script>` that is only opened, with prose after it ("Put the <script> tag at the end
    // of <body>"), runs nothing unless the page supplies the rest, so it counts from paranoia 2.
    const loads = attributes.some(
      (item) => item.hasValue && (URL_ATTRIBUTES.has(item.name) || item.name.endsWith(':href')),
    );
    if (loads || name !== base || scriptCanRun)
      finder.add('xss-001-script-element', SCORE.critical);
    else if (level >= 2) finder.add('xss-026-script-tag-named', SCORE.critical);
  }
  if (EMBEDDING_ELEMENTS.has(name) || (EMBEDDING_ELEMENTS.has(base) && name !== base)) {
    finder.add('xss-007-embedding-element', SCORE.critical);
  }
  if (name === 'base' && attribute(attributes, 'href') !== undefined) {
    finder.add('xss-008-base-href', SCORE.critical);
  }
  if (name === 'meta') {
    // A meta element can redirect, set cookies, load a stylesheet or switch the charset to
    // UTF-7, in which `+ADw-` is `<`.
    const equiv = attribute(attributes, 'http-equiv')?.value.toLowerCase().trim() ?? '';
    const content = normalizeUrl(attribute(attributes, 'content')?.value ?? '');
    const redirects =
      equiv === 'refresh' && (/url=/.test(content) || /(?:java|vb)script:|data:/.test(content));
    const charset = attribute(attributes, 'charset')?.value.toLowerCase() ?? '';
    const utf7 =
      /utf-?7|imap4/.test(charset) || (equiv === 'content-type' && /utf-?7|imap4/.test(content));
    if (redirects || equiv === 'set-cookie' || equiv === 'link' || utf7) {
      finder.add('xss-010-meta-http-equiv', SCORE.critical);
    }
  }
  if (
    (name === 'set' || name === 'animate') &&
    /^(?:on|innerhtml|outerhtml|href|xlink:href)/.test(
      attribute(attributes, 'attributename')?.value.toLowerCase().trim() ?? '',
    )
  ) {
    // SVG animation that writes an event handler, a link or markup into another element.
    finder.add('xss-019-animated-attribute', SCORE.critical);
  }
  if (
    (name === 'handler' || name === 'listener') &&
    attributes.some((item: HtmlAttribute) => /(?:^|:)event$/.test(item.name))
  ) {
    // XML Events elements bind script to an event in SVG documents.
    finder.add('xss-019-animated-attribute', SCORE.critical);
  }
  if (
    attribute(attributes, 'dataformatas')?.value.toLowerCase() === 'html' ||
    (name === 'xml' && attribute(attributes, 'src') !== undefined)
  ) {
    // Internet Explorer data binding renders a bound data island as markup.
    finder.add('xss-007-embedding-element', SCORE.critical);
  }
  if (name === 'link' && attribute(attributes, 'href') !== undefined) {
    // An imported document or stylesheet from another origin runs or styles the page.
    const rel = attribute(attributes, 'rel')?.value.toLowerCase() ?? '';
    if (/import|stylesheet|preload|modulepreload/.test(rel))
      finder.add('xss-011-link-import', SCORE.critical);
  }
  if (name === 'style') {
    const type = attribute(attributes, 'type')?.value.toLowerCase() ?? '';
    if (type.includes('javascript')) finder.add('xss-006-css-script', SCORE.critical);
    if (level >= 2) finder.add('xss-023-style-element', SCORE.error);
  }
  if (name === 'xss' || name === 'xml' || name.includes(':')) {
    // Namespaced elements (`<xss:xss>`) bind behaviors in old Internet Explorer.
    if (level >= 2) finder.add('xss-024-namespaced-element', SCORE.warning);
  }

  judgeAttributes(attributes, true, level, finder);

  if (level >= 2 && !FORMATTING_ELEMENTS.has(name)) finder.add('xss-021-markup', SCORE.warning);
  if (level >= 3) finder.add('xss-030-any-tag', SCORE.notice);

  // A tag inside an attribute value runs if a filter or a raw-text element ends the value early.
  if (depth === 0) {
    for (const item of attributes) {
      if (/<[a-z!?/]/i.test(item.value)) {
        judgeMarkup(item.value, level, finder, depth + 1, scriptCanRun);
      }
    }
  }
}

/** Maximum `<script` openings whose content is read, which bounds the work on a long value. */
const MAX_SCRIPT_OPENINGS = 16;
/** Maximum length of the content after a `<script>` tag that is read for code. */
const MAX_SCRIPT_CONTENT = 1024;
/**
 * Code at the start of a script, such as a call with no space before `(` (`alert(1)`, not
 * "the end (see below)"), an assignment, an arrow, `MsgBox+1` (VBScript) or a `\u` escape.
 * NOTE: prose that names the tag and then a call ("add <script> and call init()") still counts.
 */
const SCRIPT_CONTENT_CODE =
  /[\w$\])]\(|[\w$\]]\s*=[^=]|=>|[\w$\])]\+[\w$(]|;\s*[\w$]+\s*[(=.[]|\\u[0-9a-f{]/i;

/**
 * Checks whether `text` contains `</script`, which closes the page's script or the value's
 * own, or whether the text after a `<script>` tag reads as code.
 */
function scriptRuns(text: string): boolean {
  const lower = text.toLowerCase();
  if (lower.includes('</script')) return true;
  let at = lower.indexOf('<script');
  for (let seen = 0; at !== -1 && seen < MAX_SCRIPT_OPENINGS; seen++) {
    const open = lower.indexOf('>', at);
    if (open === -1) return false;
    const content = text.slice(open + 1, open + 1 + MAX_SCRIPT_CONTENT);
    if (SCRIPT_CALL_ANY_CASE.test(content) || SCRIPT_CONTENT_CODE.test(content)) return true;
    at = lower.indexOf('<script', at + 7);
  }
  return false;
}

/**
 * Judges the markup in `text`. `outerCanRun` carries the script evidence of the whole value
 * into a comment or attribute value, because a payload can split `<script` and `</script>`
 * across two comments.
 */
function judgeMarkup(
  text: string,
  level: number,
  finder: Finder,
  depth: number,
  outerCanRun = false,
): void {
  const tokens = tokenizeHtml(text);
  const canRun = outerCanRun || scriptRuns(text);
  for (const token of tokens) judgeTag(token, level, finder, depth, canRun);
  // CSS in a `<style>` element: the tokenizer skips text, so look at what follows the tag.
  if (tokens.some((token) => token.kind === 'start' && token.name === 'style')) {
    const css = normalizeCss(text.slice(text.toLowerCase().indexOf('<style')));
    if (CSS_SCRIPT.test(css)) finder.add('xss-006-css-script', SCORE.critical);
  }
}

/** Detects cross-site scripting in one decoded value. */
export function detectXss(input: string, context: DetectContext): RuleHit[] {
  const found = new Map<string, number>();
  const finder: Finder = {
    add(ruleId, score) {
      if ((found.get(ruleId) ?? -1) < score) found.set(ruleId, score);
    },
  };

  let text = input;
  if (text.length > MAX_HTML_INPUT) {
    text = text.slice(0, MAX_HTML_INPUT);
    finder.add('xss-099-inspected-prefix', 0);
  }
  const level = context.strict ? 4 : context.paranoia;

  // As text between tags.
  if (text.includes('<')) judgeMarkup(text, level, finder, 0);

  // Inside an attribute value: what follows the closing quote (or the first space, for an
  // unquoted value) is read as more attributes of the page's tag. Every attribute rule needs
  // a value, so a text without `=` cannot add one.
  if (text.includes('=')) {
    // Backtick-quoted values (old Internet Explorer only) are left out: Markdown wraps code in
    // backticks, and `onclick=f()` there is prose about code.
    for (const quote of ['"', "'", ' '] as const) {
      const close = quote === ' ' ? text.search(/[\s>]/) : text.indexOf(quote);
      if (close === -1) continue;
      const { attributes } = readAttributes(text, close + 1);
      judgeAttributes(attributes, false, level, finder, quote === ' ');
    }
    // In a tag's attribute list, as in `<div ${value}>`.
    judgeAttributes(readAttributes(text, 0).attributes, false, level, finder, true);
  }

  // As a whole URL, for a value placed in an href or src.
  // The scheme and the code after it are near the start, so a longer tail changes nothing.
  const url = normalizeUrl(text.slice(0, 1024));
  if (
    SCRIPT_SCHEME.test(url) &&
    /^\S/.test(text.slice(text.indexOf(':') + 1)) &&
    /[(`=]|\/\//.test(url)
  ) {
    finder.add('xss-012-script-url-value', SCORE.critical);
  } else if (MARKUP_DATA_URL.test(url) && /^data:[^,]*,/.test(url)) {
    finder.add('xss-013-markup-data-url-value', SCORE.critical);
  }

  if (closesScriptString(text) || SCRIPT_STATEMENT.test(text)) {
    finder.add('xss-014-script-breakout', SCORE.critical);
  }
  if (EMBEDDED_SCRIPT_URL.test(text)) finder.add('xss-017-embedded-script-url', SCORE.critical);
  if (text.includes('+ADw-') && UTF7_MARKUP.test(text))
    finder.add('xss-018-utf7-markup', SCORE.critical);
  if (text.includes('{{') && TEMPLATE_ESCAPE.test(text))
    finder.add('xss-015-template-expression', SCORE.critical);

  if (level >= 2 && SCRIPT_CALL.test(text)) finder.add('xss-020-script-call', SCORE.error);
  if (context.strict && /<[a-zA-Z!?/]|&#?\w+;?|javascript:/i.test(text)) {
    finder.add('xss-050-sink-markup', SCORE.critical);
  }

  return [...found].map(([ruleId, score]) => ({ ruleId, family: 'xss', score }));
}
