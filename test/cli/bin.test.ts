import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

// `npx bulwark` in a checkout runs the package's bin file itself, so the build must leave it
// executable. `npm test` builds first.
describe('the built CLI', () => {
  it('runs as a program', () => {
    const output = execFileSync(resolve('dist/cli/main.js'), ['--help'], { encoding: 'utf8' });
    expect(output).toContain('Usage: bulwark');
  });
});
