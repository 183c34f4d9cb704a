/**
 * The detection engine the injection guard calls for each field: it decodes a value into the
 * forms worth inspecting, runs the detectors on each, looks into JSON nested in a string, and
 * returns each rule that matched once. Object keys go through inspectKey, which checks for
 * prototype pollution and MongoDB operators.
 */
import { detectCommand } from './command.js';
import { decodeVariants } from './decode.js';
import { detectLdap } from './ldap.js';
import { detectNosql, MONGO_OPERATORS } from './nosql.js';
import { detectPrototype, detectPrototypeKey, pathSegments } from './prototype.js';
import { SCORE } from './rule-table.js';
import { detectSqli } from './sqli.js';
import { detectTraversal } from './traversal.js';
import type { DetectContext, Detector, Family, Paranoia, RuleHit, Sink } from './types.js';
import { detectXss } from './xss.js';
import { detectXxe } from './xxe.js';

export interface InspectOptions {
  readonly paranoia: Paranoia;
  /** The sink the field reaches: only that sink's detector runs, with its strict rules. */
  readonly sink?: Sink;
}

export interface KeyOptions extends InspectOptions {
  /** The name of the object member that contains the key, when there is one. */
  readonly parentKey?: string;
}

/** Every detector, in the order its hits are reported. */
const DETECTORS: ReadonlyArray<readonly [Family, Detector]> = [
  ['sqli', detectSqli],
  ['xss', detectXss],
  ['nosql', detectNosql],
  ['command', detectCommand],
  ['ldap', detectLdap],
  ['traversal', detectTraversal],
  ['xxe', detectXxe],
  ['prototype', detectPrototype],
];

const SINK_DETECTORS: Readonly<Record<Sink, Detector>> = {
  sql: detectSqli,
  shell: detectCommand,
  path: detectTraversal,
  ldap: detectLdap,
  html: detectXss,
};

/** Longest string that is parsed as nested JSON; longer ones are inspected as text only. */
const MAX_NESTED_JSON_LENGTH = 64 * 1024;
/** Deepest bracket nesting accepted in nested JSON, and deepest nesting of JSON in JSON. */
const MAX_NESTED_JSON_DEPTH = 16;
/** Maximum number of strings and keys inspected inside one nested JSON document. */
const MAX_NESTED_JSON_VALUES = 1000;

/**
 * Letters, digits, spaces and the punctuation of prose, which no markup or query needs. `+`
 * is left out because UTF-7 spells markup with it (`+ADw-script+AD4-`).
 */
const PROSE = /^[\p{L}\p{N} .,:_@#!?-]*$/u;
/** Families whose every rule needs a character outside PROSE, so prose skips them. */
const NEEDS_SYNTAX: ReadonlySet<Family> = new Set(['xss', 'nosql', 'ldap', 'xxe']);

const OPERATOR_KEY = new RegExp(`^\\$(?:${MONGO_OPERATORS.join('|')})$`);
// JSON Schema and JSON-LD use these keys in ordinary documents.
const BENIGN_DOLLAR_KEYS = new Set([
  '$schema',
  '$id',
  '$ref',
  '$defs',
  '$comment',
  '$type',
  '$value',
]);

/**
 * Inspects one field value and returns the rules it matched, each once with its highest
 * score. A single word of letters and digits is not inspected, and prose without markup,
 * quotes or operators skips the detectors that need them.
 */
export function inspectValue(value: string, options: InspectOptions): RuleHit[] {
  const found = new Map<string, RuleHit>();
  inspectInto(value, options, found, 0);
  return [...found.values()];
}

/**
 * Inspects an object key or parameter name: prototype pollution and MongoDB operators. With
 * `parentKey`, a `prototype` member directly under a `constructor` member is pollution.
 */
export function inspectKey(key: string, options: KeyOptions): RuleHit[] {
  // Most names are one plain word: no path syntax, no `$`, no prototype name.
  if (/^[\w-]+$/.test(key) && !/__proto__|constructor|prototype/.test(key)) return [];
  const context: DetectContext = { paranoia: options.paranoia, strict: false };
  const hits = detectPrototypeKey(key, context, options.parentKey);
  for (const segment of pathSegments(key)) {
    if (!segment.startsWith('$')) continue;
    if (OPERATOR_KEY.test(segment)) {
      hits.push({ ruleId: 'nosql-011-operator-key-name', family: 'nosql', score: SCORE.critical });
      break;
    }
    if (options.paranoia >= 3 && !BENIGN_DOLLAR_KEYS.has(segment)) {
      hits.push({ ruleId: 'nosql-012-dollar-key-name', family: 'nosql', score: SCORE.warning });
      break;
    }
  }
  return hits;
}

function inspectInto(
  value: string,
  options: InspectOptions,
  found: Map<string, RuleHit>,
  depth: number,
): void {
  if (value.length === 0) return;
  // One word of letters and digits is no attack in any family, nor is any value of letters,
  // digits and spaces in a field tagged with a sink other than SQL.
  const plain = /^[\p{L}\p{N} ]*$/u.test(value);
  if (plain && (options.sink !== undefined ? options.sink !== 'sql' : !value.includes(' '))) return;

  const variants = decodeVariants(value);
  if (options.sink !== undefined) {
    const detector = SINK_DETECTORS[options.sink];
    const context: DetectContext = { paranoia: options.paranoia, strict: true };
    for (const variant of variants) record(found, detector(variant, context));
  } else {
    const context: DetectContext = { paranoia: options.paranoia, strict: false };
    for (const variant of variants) {
      const prose = PROSE.test(variant);
      for (const [family, detector] of DETECTORS) {
        if (prose && NEEDS_SYNTAX.has(family)) continue;
        record(found, detector(variant, context));
      }
    }
  }

  if (depth < MAX_NESTED_JSON_DEPTH) {
    for (const variant of variants) inspectNestedJson(variant, options, found, depth);
  }
}

/** Keeps each rule once, with the highest score any variant gave it. */
function record(found: Map<string, RuleHit>, hits: readonly RuleHit[]): void {
  for (const hit of hits) {
    const previous = found.get(hit.ruleId);
    if (previous === undefined || previous.score < hit.score) found.set(hit.ruleId, hit);
  }
}

/**
 * Parses a string that contains a JSON object or array and inspects its keys and strings, so a
 * payload inside `{"filter": "{\"$ne\": 1}"}` is seen as a key and a value.
 */
function inspectNestedJson(
  text: string,
  options: InspectOptions,
  found: Map<string, RuleHit>,
  depth: number,
): void {
  const trimmed = text.trim();
  const first = trimmed[0];
  const last = trimmed[trimmed.length - 1];
  if (!((first === '{' && last === '}') || (first === '[' && last === ']'))) return;
  if (trimmed.length > MAX_NESTED_JSON_LENGTH || bracketDepth(trimmed) > MAX_NESTED_JSON_DEPTH)
    return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    return; // Not JSON: the text detectors have already seen it.
  }
  let budget = MAX_NESTED_JSON_VALUES;
  const keyOptions = { paranoia: options.paranoia };
  const walk = (node: unknown, parentKey?: string): void => {
    if (budget <= 0) return;
    if (typeof node === 'string') {
      budget--;
      inspectInto(node, options, found, depth + 1);
    } else if (Array.isArray(node)) {
      for (const item of node) walk(item);
    } else if (node !== null && typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) {
        budget--;
        record(found, inspectKey(key, { ...keyOptions, parentKey }));
        walk(item, key);
      }
    }
  };
  walk(parsed);
}

/** Returns the deepest bracket nesting of `text`, ignoring brackets inside strings. */
function bracketDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92 /* \ */) i++;
      else if (ch === 34 /* " */) inString = false;
    } else if (ch === 34) {
      inString = true;
    } else if (ch === 123 || ch === 91) {
      depth++;
      if (depth > max) max = depth;
    } else if (ch === 125 || ch === 93) {
      depth--;
    }
  }
  return max;
}
