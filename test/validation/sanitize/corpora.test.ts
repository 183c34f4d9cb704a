import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { HtmlSanitizer } from '../../../src/validation/sanitize/html.js';

/** The attack and benign corpora kept with the tests, or where BULWARK_CORPORA points. */
const CORPORA = process.env.BULWARK_CORPORA ?? resolve('test', 'fixtures', 'corpora');

function corpusFiles(): string[] {
  const attacks = join(CORPORA, 'attacks');
  const files = readdirSync(attacks, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) =>
      readdirSync(join(attacks, entry.name))
        .filter((name) => name.endsWith('.txt'))
        .map((name) => join(attacks, entry.name, name)),
    );
  const benign = join(CORPORA, 'benign');
  files.push(
    ...readdirSync(benign)
      .filter((name) => name.endsWith('.txt'))
      .map((name) => join(benign, name)),
  );
  return files.sort();
}

// Limits above every corpus line, so that each one is sanitized rather than rejected.
const sanitizer = new HtmlSanitizer({ maxLength: 1024 * 1024, maxDepth: 10_000 });

describe('sanitizer idempotence on the corpora', () => {
  it('corpora are present', () => {
    expect(existsSync(CORPORA), `corpora not found at ${CORPORA}`).toBe(true);
    expect(corpusFiles().length).toBeGreaterThan(50);
  });

  for (const profile of ['text', 'basic', 'rich']) {
    it(`${profile} profile is stable on every line`, () => {
      let lines = 0;
      const unstable: string[] = [];
      for (const file of corpusFiles()) {
        for (const line of readFileSync(file, 'utf8').split('\n')) {
          lines++;
          const once = sanitizer.sanitize(line, profile);
          if (sanitizer.sanitize(once, profile) !== once)
            unstable.push(`${file}: ${JSON.stringify(line).slice(0, 120)}`);
        }
      }
      expect(lines).toBeGreaterThan(30_000);
      expect(unstable).toEqual([]);
    }, 120_000);
  }
});
