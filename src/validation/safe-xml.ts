/**
 * XML parsing for untrusted input, on fast-xml-parser. XML's dangerous features all live in
 * the document type declaration: external entities (XXE, which read files or call URLs) and
 * nested internal entities (the "billion laughs" expansion). So any DOCTYPE is rejected before
 * parsing, and the parser itself never fetches anything and only expands the five predefined
 * entities, up to a bounded count.
 */

import { XMLParser, XMLValidator } from 'fast-xml-parser';

import { BulwarkError, InvalidArgumentError } from '../core/errors.js';

/** Reason an XML document was rejected. */
export type XmlRejection = 'too_large' | 'doctype' | 'malformed' | 'too_deep' | 'entity_limit';

const REASON_TEXT: Record<XmlRejection, string> = {
  too_large: 'the document is larger than the limit',
  doctype: 'the document contains a DOCTYPE or ENTITY declaration, which is not allowed',
  malformed: 'the document is not well-formed XML',
  too_deep: 'elements are nested deeper than the limit',
  entity_limit: 'the document uses more entity references than the limit',
};

/** Thrown for a rejected document. The message never quotes the document. */
export class XmlRejectedError extends BulwarkError {
  readonly reason: XmlRejection;

  constructor(reason: XmlRejection, detail?: string) {
    super('BWK_ERR_XML_REJECTED', `XML rejected: ${REASON_TEXT[reason]}${detail ?? ''}.`);
    this.reason = reason;
  }
}

export interface SafeXmlOptions {
  /** Maximum document size in UTF-8 bytes. Default 1 MiB. */
  maxBytes?: number;
  /** Maximum element nesting; the root element is depth 1. Default 64. */
  maxDepth?: number;
  /** Maximum number of entity references (`&lt;`, `&amp;`...) expanded. Default 10,000. */
  maxEntityExpansions?: number;
}

// `<!DOCTYPE` and `<!ENTITY` in any case, with nothing else allowed before the name. The
// match is on the raw text, so one inside a comment or CDATA section is rejected too: a
// false positive on a rare document is the price of not trusting the parser's DTD reader.
const DTD_MARKUP = /<!\s*(?:doctype|entity)/i;

/**
 * Parses an untrusted XML document into plain objects, in fast-xml-parser's layout:
 * attributes are keys prefixed with `@_`, text beside child elements is in `#text`, repeated
 * elements become arrays. Values stay strings, never numbers.
 *
 * Throws `XmlRejectedError` when the document is too large, has a DOCTYPE or ENTITY
 * declaration, is not well-formed, has more than one root element, nests too deeply or uses
 * too many entity references. Nothing is ever fetched: there is no DTD to name a URL.
 *
 * NOTE: numeric character references such as `&#65;` are kept as written, not decoded.
 */
export function parseXmlSafely(input: string | Uint8Array, options: SafeXmlOptions = {}): unknown {
  const limits = parseOptions(options);
  const text = decode(input, limits.maxBytes);

  if (DTD_MARKUP.test(text)) throw new XmlRejectedError('doctype');
  checkWellFormed(text);
  return parseChecked(text, limits);
}

interface Limits {
  maxBytes: number;
  maxDepth: number;
  maxEntityExpansions: number;
}

function parseOptions(options: SafeXmlOptions): Limits {
  return {
    maxBytes: parseLimit('maxBytes', options.maxBytes ?? 1024 * 1024),
    maxDepth: parseLimit('maxDepth', options.maxDepth ?? 64),
    maxEntityExpansions: parseLimit('maxEntityExpansions', options.maxEntityExpansions ?? 10_000),
  };
}

function decode(input: string | Uint8Array, maxBytes: number): string {
  if (typeof input === 'string') {
    // A UTF-16 code unit is at most 3 UTF-8 bytes, so only long strings need measuring.
    if (input.length * 3 > maxBytes && Buffer.byteLength(input, 'utf8') > maxBytes) {
      throw new XmlRejectedError('too_large');
    }
    return input;
  }
  if (input.byteLength > maxBytes) throw new XmlRejectedError('too_large');
  return new TextDecoder('utf-8', { fatal: false }).decode(input);
}

// fast-xml-parser's parser accepts some broken markup silently, so its validator runs first.
function checkWellFormed(text: string): void {
  const result = XMLValidator.validate(text);
  if (result !== true) {
    throw new XmlRejectedError(
      'malformed',
      ` at line ${result.err.line}, column ${result.err.col}`,
    );
  }
}

function parseChecked(text: string, limits: Limits): unknown {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    parseTagValue: false,
    parseAttributeValue: false,
    htmlEntities: false,
    processEntities: {
      enabled: true,
      maxTotalExpansions: limits.maxEntityExpansions,
      maxExpandedLength: limits.maxBytes,
    },
    // The parser allows one level more than `maxNestedTags`.
    maxNestedTags: limits.maxDepth - 1,
  });

  let document: Record<string, unknown>;
  try {
    document = parser.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw translate(error);
  }

  const roots = Object.keys(document).filter((key) => !key.startsWith('?'));
  // Two root elements of the same name come back as one key holding an array.
  if (roots.length !== 1 || Array.isArray(document[roots[0] ?? '']))
    throw new XmlRejectedError('malformed', ': one root element expected');
  return document;
}

// fast-xml-parser reports its limits with plain Error messages, so they are mapped by text.
function translate(error: unknown): Error {
  const message = error instanceof Error ? error.message : '';
  if (/nested tags/i.test(message)) return new XmlRejectedError('too_deep');
  if (/entity|expan/i.test(message)) return new XmlRejectedError('entity_limit');
  return new XmlRejectedError('malformed');
}

function parseLimit(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}
