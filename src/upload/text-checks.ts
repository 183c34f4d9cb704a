/**
 * Checks for the text formats that magic bytes cannot identify. An SVG or HTML file runs
 * scripts when a browser opens it from the application's origin (stored XSS), and a CSV
 * cell that starts with a formula character runs as a formula when a spreadsheet opens it
 * (CSV injection).
 */
import { parseXmlSafely, XmlRejectedError } from '../validation/safe-xml.js';

/** The reason an SVG document was rejected, or undefined when it passed. */
export type SvgFinding =
  'not_svg' | 'script' | 'event_handler' | 'foreign_object' | 'external_reference' | 'xml';

/** Elements that run script or embed other documents. */
const ACTIVE_ELEMENTS = new Set([
  'script',
  'foreignobject',
  'iframe',
  'embed',
  'object',
  'handler',
  'listener',
]);
/** Attributes that hold a URL. */
const URL_ATTRIBUTES = new Set(['href', 'src', 'action', 'formaction', 'data']);
/** Animation attributes that can set another attribute, such as href, to a URL. */
const ANIMATION_VALUES = new Set(['to', 'from', 'values', 'by']);

/**
 * Checks an SVG document for script, event-handler attributes, foreignObject and references
 * outside the document (any href or url() not starting with `#`, or with `data:` when
 * `allowDataUrls` is false). The document is parsed with the project's safe XML parser, so
 * a DOCTYPE or ENTITY declaration is rejected as well.
 */
export function checkSvg(text: string, allowDataUrls: boolean): SvgFinding | undefined {
  let document: unknown;
  try {
    document = parseXmlSafely(text, { maxBytes: Buffer.byteLength(text), maxDepth: 128 });
  } catch (error) {
    if (error instanceof XmlRejectedError) return 'xml';
    throw error;
  }
  const root = document as Record<string, unknown>;
  const rootName = Object.keys(root).find((key) => !key.startsWith('?') && !key.startsWith('#'));
  if (rootName === undefined || localName(rootName) !== 'svg') return 'not_svg';
  return walk(root, allowDataUrls, 0);
}

function localName(name: string): string {
  const colon = name.lastIndexOf(':');
  return (colon === -1 ? name : name.slice(colon + 1)).toLowerCase();
}

function walk(node: unknown, allowDataUrls: boolean, depth: number): SvgFinding | undefined {
  if (depth > 256) return 'xml';
  if (Array.isArray(node)) {
    for (const item of node) {
      const finding = walk(item, allowDataUrls, depth + 1);
      if (finding) return finding;
    }
    return undefined;
  }
  if (node === null || typeof node !== 'object') return undefined;

  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (key.startsWith('@_')) {
      const finding = checkAttribute(localName(key.slice(2)), String(value), allowDataUrls);
      if (finding) return finding;
      continue;
    }
    if (key === '#text') {
      // Text of a <style> element, and stray text, may carry url() or @import.
      if (hasExternalCss(String(value), allowDataUrls)) return 'external_reference';
      continue;
    }
    const name = localName(key);
    if (name === 'script') return 'script';
    if (name === 'foreignobject') return 'foreign_object';
    if (ACTIVE_ELEMENTS.has(name)) return 'script';
    if (name === 'style' && hasExternalCss(textOf(value), allowDataUrls))
      return 'external_reference';
    const finding = walk(value, allowDataUrls, depth + 1);
    if (finding) return finding;
  }
  return undefined;
}

function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? '';
}

function checkAttribute(name: string, raw: string, allowDataUrls: boolean): SvgFinding | undefined {
  if (name.startsWith('on')) return 'event_handler';
  const value = decodeReferences(raw);
  if (URL_ATTRIBUTES.has(name) && !isLocalReference(value, allowDataUrls))
    return 'external_reference';
  if (ANIMATION_VALUES.has(name) && /javascript:/i.test(compact(value))) return 'script';
  if (name === 'style' && hasExternalCss(value, allowDataUrls)) return 'external_reference';
  // Presentation attributes such as fill="url(http://...)" fetch as well.
  if (/url\s*\(/i.test(value) && hasExternalCss(value, allowDataUrls)) return 'external_reference';
  return undefined;
}

/** Decodes numeric character references, which the XML parser keeps as written. */
function decodeReferences(value: string): string {
  return value.replace(/&#(x[0-9a-f]+|\d+);?/gi, (_match, code: string) => {
    const point = code[0] === 'x' || code[0] === 'X' ? parseInt(code.slice(1), 16) : Number(code);
    return point > 0 && point <= 0x10ffff ? String.fromCodePoint(point) : '';
  });
}

/** Removes whitespace and control characters, which browsers skip inside a URL scheme. */
function compact(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\u0000-\u0020\u007f-\u00a0]+/g, '');
}

function isLocalReference(value: string, allowDataUrls: boolean): boolean {
  const url = compact(value);
  if (url.startsWith('#')) return true;
  return allowDataUrls && /^data:image\/(png|gif|jpeg|webp);/i.test(url);
}

const CSS_URL = /url\s*\(\s*(['"]?)([^'")]*)\1\s*\)/gi;

function hasExternalCss(css: string, allowDataUrls: boolean): boolean {
  if (/@import/i.test(css) || /expression\s*\(/i.test(css) || /javascript:/i.test(compact(css)))
    return true;
  for (const match of css.matchAll(CSS_URL)) {
    if (!isLocalReference(match[2] ?? '', allowDataUrls)) return true;
  }
  return false;
}

/** The reason an HTML document was rejected. */
export type HtmlFinding = 'script' | 'event_handler' | 'embedded_content' | 'javascript_url';

const HTML_SCRIPT = /<\s*script[\s/>]/i;
const HTML_HANDLER = /<[^>]*[\s/"']on[a-z]+\s*=/i;
const HTML_EMBEDS = /<\s*(iframe|frame|object|embed|applet|base|meta|link|form|svg|math)[\s/>]/i;
const HTML_JS_URL =
  /(href|src|action|formaction|data)\s*=\s*["']?\s*(javascript|vbscript|data)\s*:/i;

/**
 * Checks an HTML document for active content: script elements, event-handler attributes,
 * embedded documents and frames, and script URLs. HTML has no safe subset a browser honours
 * as such, so this rejects rather than cleans.
 * NOTE: the check reads tags with patterns rather than a full HTML tokenizer, so markup that
 * only a browser's error recovery turns into a tag may pass it. Serve uploads as attachments.
 */
export function checkHtml(text: string): HtmlFinding | undefined {
  const decoded = text.replace(/&#(x[0-9a-f]+|\d+);?/gi, (_match, code: string) => {
    const point = code[0] === 'x' || code[0] === 'X' ? parseInt(code.slice(1), 16) : Number(code);
    return point > 0 && point <= 0x10ffff ? String.fromCodePoint(point) : '';
  });
  if (HTML_SCRIPT.test(decoded)) return 'script';
  if (HTML_HANDLER.test(decoded)) return 'event_handler';
  if (HTML_EMBEDS.test(decoded)) return 'embedded_content';
  if (HTML_JS_URL.test(decoded)) return 'javascript_url';
  return undefined;
}

/** Characters that make a spreadsheet read a cell as a formula (OWASP CSV injection). */
const FORMULA_START = new Set(['=', '+', '-', '@', '\t', '\r']);

/** The result of a CSV check: how many cells start like a formula, and the rewritten text. */
export interface CsvCheck {
  formulaCells: number;
  /** The text with each such cell prefixed by a single quote; set only when cells changed. */
  neutralised: string | undefined;
}

/**
 * Finds cells that start with = + - @ tab or CR, reading quoted fields as RFC 4180 does
 * (a quoted cell's first character is the one after the quote). With `neutralise`, each such
 * cell is prefixed with `'`, which spreadsheets show as text; a quoted cell keeps its quotes.
 */
export function checkCsv(text: string, neutralise: boolean): CsvCheck {
  let formulaCells = 0;
  let out = neutralise ? '' : undefined;
  let index = 0;
  let cellStart = true;
  let quoted = false;
  while (index < text.length) {
    const char = text[index]!;
    if (cellStart) {
      cellStart = false;
      if (char === '"') {
        quoted = true;
        const next = text[index + 1];
        if (next !== undefined && FORMULA_START.has(next)) {
          formulaCells += 1;
          if (out !== undefined) out += `"'`;
          index += 1;
          continue;
        }
      } else if (FORMULA_START.has(char) && !(char === '\r' && text[index + 1] === '\n')) {
        formulaCells += 1;
        if (out !== undefined) out += "'";
      }
    } else if (quoted && char === '"') {
      if (text[index + 1] === '"') {
        if (out !== undefined) out += '""';
        index += 2;
        continue;
      }
      quoted = false;
    }
    if (!quoted && (char === ',' || char === '\n')) cellStart = true;
    if (out !== undefined) out += char;
    index += 1;
  }
  return { formulaCells, neutralised: formulaCells > 0 ? out : undefined };
}
