import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

const CODE = /BWK_ERR_[A-Z_]+[A-Z]/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('error codes', () => {
  it('every code in the source is documented', () => {
    const used = new Set(
      sourceFiles('src').flatMap((file) => readFileSync(file, 'utf8').match(CODE) ?? []),
    );
    const documented = new Set(readFileSync('docs/errors.md', 'utf8').match(CODE) ?? []);

    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((code) => !documented.has(code)).sort()).toEqual([]);
  });

  it('every documented code exists in the source', () => {
    const used = new Set(
      sourceFiles('src').flatMap((file) => readFileSync(file, 'utf8').match(CODE) ?? []),
    );
    const documented = readFileSync('docs/errors.md', 'utf8').match(CODE) ?? [];

    expect(documented.filter((code) => !used.has(code)).sort()).toEqual([]);
  });
});
