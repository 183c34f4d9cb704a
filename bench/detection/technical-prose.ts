/**
 * Technical prose as benign input. It is every line of this repository's README.md and
 * docs/*.md outside fenced code blocks, read at run time, and the lines of
 * bench/detection/technical-prose.txt. Those are written in the manner of support tickets and
 * developer forums: flags in code spans, SQL and handler names in a sentence, spreadsheet
 * formulas. Each line is one free-text value.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { BenignFile } from './corpus.js';

/** Returns the non-blank lines of a Markdown text outside ``` and ~~~ fences. */
export function proseLines(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split(/\r?\n/)) {
    const opener = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (opener !== undefined) {
      if (fence === undefined) fence = opener[0];
      else if (opener[0] === fence) fence = undefined;
      continue;
    }
    if (fence === undefined && line.trim().length > 0) lines.push(line.trim());
  }
  return lines;
}

/** Loads the two technical-prose inputs from the repository at `repoRoot`. */
export function loadTechnicalProse(repoRoot: string): BenignFile[] {
  const docs = [
    join(repoRoot, 'README.md'),
    ...readdirSync(join(repoRoot, 'docs'))
      .filter((file) => file.endsWith('.md'))
      .sort()
      .map((file) => join(repoRoot, 'docs', file)),
  ];
  const docLines = docs.flatMap((file) => proseLines(readFileSync(file, 'utf8')));
  const written = readFileSync(join(repoRoot, 'bench/detection/technical-prose.txt'), 'utf8')
    .split(/\r?\n/)
    .filter((line) => line.trim().length > 0);
  return [
    { file: 'README.md + docs/*.md (prose)', lines: docLines, blank: 0 },
    { file: 'technical-prose.txt', lines: written, blank: 0 },
  ];
}
