/**
 * Detection quality of the SQL injection and XSS detectors alone, on the payload lists and
 * benign values in test/fixtures/corpora (or the folder given as BENCH_CORPORA):
 *
 *   npx tsx bench/detection-sqli-xss.ts [paranoia, default 1] [--misses] [--excluded]
 *
 * Each line is decoded the way the WAF engine decodes a value (decodeVariants: raw, URL
 * decoded, fully decoded) and a line counts as detected when either detector reports a rule
 * with a score above 0 on any variant. Benign lines are treated as free-text fields.
 * Besides the benign corpora, the prose lines of this repository's Markdown docs and
 * bench/detection/technical-prose.txt are benign inputs.
 *
 * Lines that are not payloads are left out of the rate, by this rule (`exclusionReason`):
 * - blank lines, and comment lines (`#` then whitespace, or `#Site.com:` headings);
 * - cheat-sheet notes: a token, a tab, then an English description, or a heading of words;
 * - two whole files: bare event-handler names, and JavaScript expressions for a script
 *   context with neither markup nor a quote (rule xss-020 flags those from paranoia 2);
 * - plain `<a href="http...">` links, which are the same markup as benign rich text;
 * - a lone encoded `<` (`&#x3c;`, `\u003c`);
 * - syntax probes that only provoke an error: at most three characters (`1'`, `%00`), or no
 *   letter and no digit (`''`, `'-'`). A quote followed by a comment or `=` stays in, because
 *   `'--` and `'='` are login bypasses.
 * The count per reason is printed, and so is how many excluded lines are flagged anyway.
 * MarioXSSVectors.txt contains multi-line vectors, and each `<div id="N">` block counts as one.
 *
 * Variants: each payload is also tried URL-encoded, with random letter case, and for SQL with
 * every space replaced by an empty comment `/**\/`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { decodeVariants } from '../src/validation/waf/decode.js';
import { detectSqli } from '../src/validation/waf/sqli.js';
import type { DetectContext, Paranoia, RuleHit } from '../src/validation/waf/types.js';
import { detectXss } from '../src/validation/waf/xss.js';
import { joinVectors, markupOrSqlExclusion } from './detection/corpus.js';
import { loadTechnicalProse } from './detection/technical-prose.js';

const corpora =
  process.env['BENCH_CORPORA'] ?? join(import.meta.dirname, '../test/fixtures/corpora');
const paranoia = Number(process.argv[2] ?? '1') as Paranoia;
const showMisses = process.argv.includes('--misses');
const showExcluded = process.argv.includes('--excluded');
const context: DetectContext = { paranoia, strict: false };

/**
 * Files left out whole: lists of bare event-handler names, and expressions for a JavaScript
 * code context that carry neither markup nor a quote (paranoia 2 rule xss-020 covers those).
 */
const LEFT_OUT = new Set([
  '0xcela_event_handlers.txt',
  'port_swigger_xss_cheatsheet_event_handlers.txt',
  'BRUTELOGIC-XSS-JS.txt',
]);

/** A file whose vectors span several lines. */
const MULTI_LINE = 'MarioXSSVectors.txt';

function readLines(path: string): string[] {
  return readFileSync(path, 'utf8').split(/\r?\n/);
}

/** Returns why a line is not a payload, or undefined for a payload. */
function exclusionReason(line: string, file: string): string | undefined {
  const trimmed = line.trim();
  if (trimmed === '') return 'blank';
  if (LEFT_OUT.has(file)) return 'name list or script-context file';
  return markupOrSqlExclusion(line, trimmed);
}

/**
 * Lines of a file, or for a file of multi-line vectors its vectors: a line that starts with
 * `<div id="` opens a new vector, and the lines after it belong to that vector.
 */
function readPayloads(path: string, file: string): string[] {
  const lines = readLines(path);
  return file === MULTI_LINE ? joinVectors(lines) : lines;
}

function flagged(
  line: string,
  detector: (input: string, c: DetectContext) => RuleHit[],
): RuleHit[] {
  const hits: RuleHit[] = [];
  for (const variant of decodeVariants(line)) {
    for (const hit of detector(variant, context)) if (hit.score > 0) hits.push(hit);
  }
  return hits;
}

function randomCase(text: string, seed: number): string {
  let state = seed;
  let out = '';
  for (const char of text) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    out += state & 1 ? char.toUpperCase() : char.toLowerCase();
  }
  return out;
}

interface FamilyReport {
  payloads: number;
  detected: number;
  excluded: number;
  excludedFlagged: number;
  reasons: Record<string, number>;
  variants: Record<string, [number, number]>;
  misses: string[];
}

function runFamily(
  family: 'sqli' | 'xss',
  detector: (input: string, c: DetectContext) => RuleHit[],
): FamilyReport {
  const folder = join(corpora, 'attacks', family);
  const report: FamilyReport = {
    payloads: 0,
    detected: 0,
    excluded: 0,
    excludedFlagged: 0,
    reasons: {},
    variants: {},
    misses: [],
  };
  const variantKinds: Record<string, (line: string, index: number) => string> = {
    'url-encoded': (line) => encodeURIComponent(line),
    'double-encoded': (line) => encodeURIComponent(encodeURIComponent(line)),
    'mixed-case': (line, index) => randomCase(line, index + 1),
  };
  if (family === 'sqli') variantKinds['comment-inserted'] = (line) => line.replace(/ /g, '/**/');

  for (const file of readdirSync(folder).sort()) {
    if (!file.endsWith('.txt')) continue;
    readPayloads(join(folder, file), file).forEach((line, index) => {
      const hit = flagged(line, detector).length > 0;
      const reason = exclusionReason(line, file);
      if (reason !== undefined) {
        if (reason !== 'blank') {
          report.excluded++;
          report.reasons[reason] = (report.reasons[reason] ?? 0) + 1;
          if (hit) report.excludedFlagged++;
          if (showExcluded) console.log(`excluded (${reason}) ${file}: ${line}`);
        }
        return;
      }
      report.payloads++;
      if (hit) report.detected++;
      else report.misses.push(`${file}: ${line}`);
      for (const [kind, make] of Object.entries(variantKinds)) {
        const counts = (report.variants[kind] ??= [0, 0]);
        counts[1]++;
        if (flagged(make(line, index), detector).length > 0) counts[0]++;
      }
    });
  }
  return report;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? 'n/a' : `${((100 * part) / whole).toFixed(1)}%`;
}

const started = performance.now();
for (const [family, detector] of [
  ['sqli', detectSqli],
  ['xss', detectXss],
] as const) {
  const report = runFamily(family, detector);
  console.log(
    `${family} paranoia ${paranoia}: ${report.detected}/${report.payloads} detected (${percent(report.detected, report.payloads)}); ` +
      `${report.excluded} lines excluded, ${report.excludedFlagged} of them flagged anyway`,
  );
  console.log(`  excluded: ${JSON.stringify(report.reasons)}`);
  for (const [kind, [hit, total]] of Object.entries(report.variants)) {
    console.log(`  ${kind}: ${hit}/${total} (${percent(hit, total)})`);
  }
  if (showMisses) for (const miss of report.misses) console.log(`  miss ${miss}`);
}

const benignSets: { file: string; lines: string[]; quiet: boolean }[] = [
  ...['api-values.txt', 'naughty-strings-benign.txt'].map((file) => ({
    file,
    lines: readLines(join(corpora, 'benign', file)).filter((line) => line !== ''),
    quiet: false,
  })),
  // Technical prose: its lines are listed with --misses only, as they are many.
  ...loadTechnicalProse(join(import.meta.dirname, '..')).map((set) => ({ ...set, quiet: true })),
];
for (const { file, lines, quiet } of benignSets) {
  let falsePositives = 0;
  for (const line of lines) {
    const hits = [...flagged(line, detectSqli), ...flagged(line, detectXss)];
    if (hits.length === 0) continue;
    falsePositives++;
    if (quiet && !showMisses) continue;
    console.log(
      `  false positive ${file}: ${JSON.stringify(line)} ${hits.map((hit) => hit.ruleId).join(',')}`,
    );
  }
  console.log(
    `benign ${file}: ${falsePositives}/${lines.length} flagged (${percent(falsePositives, lines.length)})`,
  );
}
console.log(`elapsed ${(performance.now() - started).toFixed(0)} ms`);

// Speed: every string of a 2 KB JSON body of ordinary values through both detectors,
// against JSON.parse of the same body (the peer the speed budget names).
const body = JSON.stringify({
  name: "Conan O'Brien",
  email: 'conan.obrien@example.com',
  address: { street: '221B Baker St.', city: 'London', zip: 'NW1 6XE' },
  comment: 'Great service, the order arrived on time and well packed. '.repeat(28),
  tags: ['priority', 'gift', 'repeat-customer'],
  note: 'Please ring the bell twice -- thanks!',
});
const strings: string[] = [];
const collect = (node: unknown): void => {
  if (typeof node === 'string') strings.push(node);
  else if (node !== null && typeof node === 'object') Object.values(node).forEach(collect);
};
collect(JSON.parse(body));
const rounds = 5000;
const time = (work: () => void): number => {
  for (let i = 0; i < 500; i++) work();
  const begin = performance.now();
  for (let i = 0; i < rounds; i++) work();
  return ((performance.now() - begin) / rounds) * 1000;
};
const parseMicros = time(() => JSON.parse(body));
const detectMicros = time(() => {
  for (const value of strings) {
    detectSqli(value, context);
    detectXss(value, context);
  }
});
console.log(
  `speed on a ${body.length}-byte body: JSON.parse ${parseMicros.toFixed(1)} µs, ` +
    `sqli+xss ${detectMicros.toFixed(1)} µs, ratio ${(detectMicros / parseMicros).toFixed(1)}`,
);
