/**
 * Detection quality of the injection detectors on public corpora:
 *
 *   npx tsx bench/detection.ts [--misses FAMILY] [--level N]
 *
 * The corpora folder is BULWARK_CORPORA, by default `test/fixtures/corpora` from the repository
 * root. It contains `attacks/<family>/*.txt` and `benign/*.txt`, one value per line. Each line is
 * passed to inspectValue as a free-text field with no sink. A value counts as detected (or,
 * for a benign line, as a false positive) when the scores of the rules it matched add up to
 * the blocking threshold, BENCH_THRESHOLD, by default 5 as in the guard's default policy.
 * Besides the benign corpora, the lines of this repository's Markdown docs outside code blocks
 * and bench/detection/technical-prose.txt are benign inputs (technical prose, as support
 * tickets and developer forums hold).
 *
 * It prints the lines excluded from each family and why, the detection rate per family and
 * paranoia level, the rate on URL-encoded, double-encoded, mixed-case and comment-inserted
 * variants, and the false-positive rate per benign file. `--misses sqli` lists the payloads
 * of a family missed at paranoia 1 (or at `--level N`); `--misses benign` lists the benign
 * lines that were blocked.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { inspectValue } from '../src/validation/waf/engine.js';
import type { Paranoia, RuleHit } from '../src/validation/waf/types.js';
import {
  loadAttacks,
  loadBenign,
  PLACEHOLDER_TARGET,
  type AttackLine,
} from './detection/corpus.js';
import { variants } from './detection/variants.js';
import { loadTechnicalProse } from './detection/technical-prose.js';

const LEVELS: readonly Paranoia[] = [1, 2, 3, 4];
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const corporaDir = resolve(repoRoot, process.env.BULWARK_CORPORA ?? 'test/fixtures/corpora');
const threshold = Number(process.env.BENCH_THRESHOLD ?? 5);

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

function blocked(hits: readonly RuleHit[]): boolean {
  let total = 0;
  for (const hit of hits) total += hit.score;
  return total >= threshold;
}

function percent(part: number, whole: number): string {
  return whole === 0 ? '–' : `${((100 * part) / whole).toFixed(1)} %`;
}

function printTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((cell, i) =>
    Math.max(cell.length, ...rows.map((row) => row[i]!.length)),
  );
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(header));
  console.log(
    `| ${widths.map((width, i) => (i === 0 ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`)).join(' | ')} |`,
  );
  for (const row of rows) console.log(line(row));
  console.log();
}

function main(): void {
  if (!existsSync(resolve(corporaDir, 'attacks')) || !existsSync(resolve(corporaDir, 'benign'))) {
    console.error(
      `Corpora not found at ${corporaDir}: expected attacks/ and benign/ folders there. ` +
        'Set BULWARK_CORPORA to the corpora folder (absolute, or relative to the repository root).',
    );
    process.exit(2);
  }
  const corpus = loadAttacks(corporaDir);
  const benign = [...loadBenign(corporaDir), ...loadTechnicalProse(repoRoot)];
  const byFamily = new Map<string, AttackLine[]>();
  for (const line of corpus.lines) {
    const list = byFamily.get(line.family) ?? [];
    list.push(line);
    byFamily.set(line.family, list);
  }
  const families = [...byFamily.keys()];

  console.log(
    `Corpora: ${corporaDir}; blocking threshold ${threshold}; every value a free-text field.\n`,
  );
  console.log('Excluded attack lines:');
  for (const [family, reasons] of corpus.excluded) {
    const parts = [...reasons].map(([reason, count]) => `${count} ${reason}`);
    console.log(`  ${family}: ${parts.join('; ')}`);
  }
  for (const [family, count] of corpus.substituted) {
    console.log(`  ${family}: ${count} lines had {FILE} replaced by ${PLACEHOLDER_TARGET}`);
  }
  console.log();

  const misses = option('--misses');
  const missLevel = Number(option('--level') ?? 1) as Paranoia;

  console.log(
    'Detection rate per family and paranoia level ("own" = by the family\'s own rules, at level 1):',
  );
  const rows: string[][] = [];
  for (const family of families) {
    const lines = byFamily.get(family)!;
    const row = [family, String(lines.length)];
    for (const paranoia of LEVELS) {
      let detected = 0;
      for (const line of lines) {
        const hits = inspectValue(line.payload, { paranoia });
        if (blocked(hits)) detected++;
        else if (misses === family && paranoia === missLevel)
          console.log(`  missed (${line.file}): ${line.payload}`);
      }
      row.push(percent(detected, lines.length));
    }
    let own = 0;
    for (const line of lines) {
      const hits = inspectValue(line.payload, { paranoia: 1 }).filter(
        (hit) => hit.family === family,
      );
      if (blocked(hits)) own++;
    }
    row.push(percent(own, lines.length));
    rows.push(row);
  }
  printTable(
    ['family', 'payloads', 'paranoia 1', 'paranoia 2', 'paranoia 3', 'paranoia 4', 'own, 1'],
    rows,
  );

  console.log(
    'Detection rate on evasion variants, paranoia 1. Comment insertion (each run of spaces ' +
      'replaced by /**/) applies to sqli only. Mixed case keeps the meaning only for sqli, xss ' +
      'and ldap, whose keywords ignore case; elsewhere it shows whether a detector ignores case:',
  );
  const variantRows: string[][] = [];
  for (const family of families) {
    const lines = byFamily.get(family)!;
    const row = [family];
    for (const variant of variants) {
      if (variant.families !== 'all' && !variant.families.includes(family)) {
        row.push('–');
        continue;
      }
      let detected = 0;
      for (const line of lines) {
        if (blocked(inspectValue(variant.apply(line.payload), { paranoia: 1 }))) detected++;
      }
      row.push(percent(detected, lines.length));
    }
    variantRows.push(row);
  }
  printTable(['family', ...variants.map((variant) => variant.name)], variantRows);

  console.log(
    'False-positive rate per benign file: lines blocked, and after the slash lines with any ' +
      'rule hit, even one below the threshold:',
  );
  const benignRows: string[][] = [];
  for (const file of benign) {
    const row = [file.file, String(file.lines.length)];
    for (const paranoia of LEVELS) {
      let flagged = 0;
      let anyHit = 0;
      for (const line of file.lines) {
        const hits = inspectValue(line, { paranoia });
        if (hits.length > 0) anyHit++;
        if (!blocked(hits)) continue;
        flagged++;
        if (misses === 'benign' && paranoia === missLevel) {
          console.log(
            `  blocked (${file.file}): ${line}  [${hits.map((hit) => hit.ruleId).join(', ')}]`,
          );
        }
      }
      row.push(`${flagged} (${percent(flagged, file.lines.length)}) / ${anyHit}`);
    }
    benignRows.push(row);
  }
  printTable(['file', 'lines', 'paranoia 1', 'paranoia 2', 'paranoia 3', 'paranoia 4'], benignRows);
  const blank = benign.reduce((sum, file) => sum + file.blank, 0);
  if (blank > 0) console.log(`(${blank} blank benign lines skipped.)`);
}

main();
