/**
 * Loading the attack and benign corpora, and deciding per line which attack lines are not
 * payloads. Public payload lists mix payloads with separators, descriptions and lone
 * characters that are an attack in no context. Counting those as misses would measure the
 * list, not the detectors. Every exclusion has a named reason and the bench prints the counts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { decodeFully } from '../../src/validation/waf/decode.js';

export interface AttackLine {
  readonly family: string;
  readonly file: string;
  readonly payload: string;
}

export interface AttackCorpus {
  readonly lines: AttackLine[];
  /** Lines left out, by family and reason. */
  readonly excluded: Map<string, Map<string, number>>;
  /** Lines whose `{FILE}` placeholder was replaced, by family. */
  readonly substituted: Map<string, number>;
}

export interface BenignFile {
  readonly file: string;
  readonly lines: string[];
  readonly blank: number;
}

/** Replacement for a `{FILE}` placeholder: a harmless name, so only the traversal counts. */
export const PLACEHOLDER_TARGET = 'index.php';

/** Lists of fragments rather than payloads, left out whole with the reason. */
const EXCLUDED_FILES: Readonly<Record<string, string>> = {
  // Attribute names such as `cn` or `mail`, for guessing a schema once a filter is injected.
  'ldap/LDAP_attributes.txt': 'attribute names, not payloads',
  // Charset names such as `convert.iconv.L1.UTF7`, pieces of a php://filter chain.
  'traversal/php-filter-iconv.txt': 'charset names, not payloads',
  // Bare event-handler names such as `onload`, and JavaScript expressions for a script
  // context with neither markup nor a quote (``alert`1` ``). The SQL injection and XSS bench
  // leaves out the same files.
  'xss/0xcela_event_handlers.txt': 'event-handler names or script-context expressions',
  'xss/port_swigger_xss_cheatsheet_event_handlers.txt':
    'event-handler names or script-context expressions',
  'xss/BRUTELOGIC-XSS-JS.txt': 'event-handler names or script-context expressions',
};

/** A file whose vectors span several lines, each starting with `<div id="`. */
const MULTI_LINE_FILE = 'xss/MarioXSSVectors.txt';

/** Returns why an attack line is not a payload, or undefined when it is one. */
export function exclusionReason(family: string, line: string): string | undefined {
  const trimmed = line.trim();
  if (trimmed.length === 0) return 'blank';
  if (family === 'sqli' || family === 'xss') return markupOrSqlExclusion(line, trimmed);
  if (/^#+$/.test(trimmed) || /^#\s+[A-Z]/.test(trimmed)) return 'comment';
  // A syntax note such as `+\t\taddition, concatenate (or space in url)`.
  if (/\t\t\w/.test(line) || /^[A-Z][a-z]+(?: [a-z]+)+$/.test(trimmed)) return 'description';
  const decoded = decodeFully(trimmed).trim();
  if (decoded.length <= 2) return 'fragment of one or two characters';
  // A lone separator or quote such as `&& ` or `'"`: an attack only with a command after it.
  if ((family === 'command' || family === 'ldap') && !/[A-Za-z0-9]/.test(decoded)) {
    return 'operators or quotes without a command or filter';
  }
  // `{{4+4}}` or `{% for %}`: server-side template injection, a family of its own.
  if (family === 'command' && /^\s*\{[{%]|^\{\d\}/.test(trimmed))
    return 'template injection, not a shell command';
  return undefined;
}

/**
 * Returns why a SQL injection or XSS line is not a payload. Both detection benches use it,
 * so they report the same payload counts. It leaves out comments, cheat-sheet notes, syntax probes without letters,
 * lone encoded `<` characters, and plain links, whose markup a benign rich-text link shares.
 */
export function markupOrSqlExclusion(line: string, trimmed: string): string | undefined {
  if (/^#\s/.test(line) || /^#[\w .'/-]+:?$/.test(line)) return 'comment';
  if (/^[^\t]{1,10}\t+\s*[A-Za-z(][\w\s(),-]*$/.test(line)) return 'description';
  if (/^[A-Z][A-Za-z -]*:?$/.test(trimmed) && !/\b(select|union|or|and)\b/i.test(line)) {
    return 'description';
  }
  if (trimmed.length <= 3 && !/[=#]|--|\/\*/.test(line)) return 'syntax probe';
  if (!/[\p{L}\p{N}]/u.test(line) && !/['"`]\s*(?:--|#|\/\*|=)/.test(line)) return 'syntax probe';
  if (decodeFully(line).trim() === '<') return 'encoded < probe';
  if (/^<a href="htt[^"]*">[^<]*<\/a>$/i.test(trimmed)) return 'plain link';
  return undefined;
}

/** Joins the lines of a multi-line vector file into one value per `<div id="…">` vector. */
export function joinVectors(lines: readonly string[]): string[] {
  const vectors: string[] = [];
  for (const line of lines) {
    if (vectors.length === 0 || line.startsWith('<div id="')) vectors.push(line);
    else vectors[vectors.length - 1] += `\n${line}`;
  }
  return vectors;
}

/** Reads the attack lists under `<root>/attacks/<family>/*.txt`. */
export function loadAttacks(root: string): AttackCorpus {
  const lines: AttackLine[] = [];
  const excluded = new Map<string, Map<string, number>>();
  const substituted = new Map<string, number>();
  const exclude = (family: string, reason: string, count = 1): void => {
    const reasons = excluded.get(family) ?? new Map<string, number>();
    reasons.set(reason, (reasons.get(reason) ?? 0) + count);
    excluded.set(family, reasons);
  };

  const attacksDir = join(root, 'attacks');
  for (const family of readdirSync(attacksDir).sort()) {
    const familyDir = join(attacksDir, family);
    if (!statSync(familyDir).isDirectory()) continue;
    for (const file of readdirSync(familyDir).sort()) {
      if (!file.endsWith('.txt')) continue;
      const text = readFileSync(join(familyDir, file), 'utf8');
      let fileLines = text.split(/\r?\n/);
      if (fileLines[fileLines.length - 1] === '') fileLines.pop();
      if (`${family}/${file}` === MULTI_LINE_FILE) fileLines = joinVectors(fileLines);
      const wholeFileReason = EXCLUDED_FILES[`${family}/${file}`];
      if (wholeFileReason !== undefined) {
        exclude(family, wholeFileReason, fileLines.length);
        continue;
      }
      for (const raw of fileLines) {
        const reason = exclusionReason(family, raw);
        if (reason !== undefined) {
          exclude(family, reason);
          continue;
        }
        let payload = raw;
        if (payload.includes('{FILE}')) {
          payload = payload.replaceAll('{FILE}', PLACEHOLDER_TARGET);
          substituted.set(family, (substituted.get(family) ?? 0) + 1);
        }
        lines.push({ family, file, payload });
      }
    }
  }
  return { lines, excluded, substituted };
}

/** Reads every `<root>/benign/*.txt`, skipping and counting blank lines. */
export function loadBenign(root: string): BenignFile[] {
  const dir = join(root, 'benign');
  return readdirSync(dir)
    .filter((file) => file.endsWith('.txt'))
    .sort()
    .map((file) => {
      const all = readFileSync(join(dir, file), 'utf8').split(/\r?\n/);
      if (all[all.length - 1] === '') all.pop();
      const lines = all.filter((line) => line.trim().length > 0);
      return { file, lines, blank: all.length - lines.length };
    });
}
