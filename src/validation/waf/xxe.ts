/**
 * XML entity attacks: a document type declaration that defines entities (external ones read
 * files or URLs, parameter entities pull in a remote DTD, nested ones expand exponentially)
 * and XInclude, which includes a file without any DTD. A JSON API never needs a DTD in a
 * string value, so the declaration itself is suspicious at paranoia 2.
 */
import { patternRule, runRules, SCORE, type Rule } from './rule-table.js';
import type { DetectContext, RuleHit } from './types.js';

const rules: readonly Rule[] = [
  // `<!DOCTYPE x [ <!ENTITY …`: an internal subset that declares entities.
  patternRule(
    'xxe-001-doctype-entity',
    1,
    SCORE.critical,
    /<!DOCTYPE[^>[]{0,256}\[[\s\S]{0,4096}?<!ENTITY/i,
  ),
  // `<!ENTITY name SYSTEM "file:///etc/passwd">`: an external entity.
  patternRule(
    'xxe-002-external-entity',
    1,
    SCORE.critical,
    /<!ENTITY\s+(?:%\s*)?[\w.:-]+\s+(?:SYSTEM|PUBLIC)\b/i,
  ),
  // `<!ENTITY % name …`: a parameter entity, the vehicle of out-of-band exfiltration.
  patternRule('xxe-003-parameter-entity', 1, SCORE.critical, /<!ENTITY\s+%\s*[\w.:-]+/i),
  // `<!DOCTYPE root SYSTEM "http://…">`: an external DTD.
  patternRule(
    'xxe-004-external-dtd',
    1,
    SCORE.critical,
    /<!DOCTYPE\s+[\w.:-]+\s+(?:SYSTEM|PUBLIC)\b/i,
  ),
  // `<xi:include href=…>` or the XInclude namespace.
  patternRule(
    'xxe-005-xinclude',
    1,
    SCORE.critical,
    /<\w+:include\b[^>]{0,512}\bhref\s*=|http:\/\/www\.w3\.org\/2001\/XInclude/i,
  ),
  // Any document type declaration or entity declaration.
  patternRule('xxe-006-doctype', 2, SCORE.error, /<!(?:DOCTYPE|ENTITY)\b/i),
  // XSLT that reads files or calls PHP functions when a server transforms it.
  patternRule(
    'xxe-007-xslt-call',
    1,
    SCORE.critical,
    /<xsl:[\w-]+[^>]{0,512}\b(?:document|php:function|unparsed-text)\s*\(/i,
  ),
  // `<![CDATA[<]]>script<![CDATA[>]]>`: markup split by CDATA sections so no tag is visible.
  patternRule('xxe-010-cdata-split', 1, SCORE.critical, /<!\[CDATA\[\s*[<>]\s*\]\]>/i),
  // `<?xml …?>` inside a value, a whole document where a string was expected.
  patternRule('xxe-008-xml-declaration', 3, SCORE.notice, /<\?xml\s/i),
  // A reference to a parameter entity (`%name;`) in markup.
  patternRule('xxe-009-entity-reference', 4, SCORE.notice, /%[A-Za-z_][\w.-]*;/),
];

/** Detects DTDs, entity declarations and XInclude in a value. */
export function detectXxe(input: string, context: DetectContext): RuleHit[] {
  if (!input.includes('<') && !input.includes('%')) return [];
  return runRules('xxe', rules, input, context);
}
