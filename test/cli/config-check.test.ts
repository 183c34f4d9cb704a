import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../helpers/cli.js';

/** Each problem in BROKEN_CONFIG as the CLI must report it: code, path and offending value. */
const EXPECTED_PROBLEMS = [
  ['BWK_ERR_CONFIG_VALUE', 'listen.port', '70000'],
  ['BWK_ERR_CONFIG_VALUE', 'upstream', '"ftp://127.0.0.1:21"'],
  ['BWK_ERR_CONFIG_KEY', 'rateLimits.0.key', '"ipp"'],
  ['BWK_ERR_CONFIG_VALUE', 'rateLimits.0.limit', '-1'],
  ['BWK_ERR_CONFIG_DURATION', 'rateLimits.0.window', '"1x"'],
  ['BWK_ERR_CONFIG_CIDR', 'trustProxy.0', '"10.0.0.0/33"'],
  ['BWK_ERR_CONFIG_ROUTE', 'routes.0.match', '"FETCH /login"'],
  ['BWK_ERR_CONFIG_UNKNOWN_KEY', 'routes.0', '"colour"'],
] as const;

const BROKEN_CONFIG = `
listen: { host: 127.0.0.1, port: 70000 }
upstream: ftp://127.0.0.1:21
trustProxy: [10.0.0.0/33]
rateLimits:
  - { name: per-ip, key: ipp, limit: -1, window: 1x }
routes:
  - match: FETCH /login
    colour: blue
`;

/** The JSON pointers of the three ReDoS-prone patterns in `redosConfig`. */
const REDOS_POINTERS = ['/properties/name/pattern', '/properties/city/pattern', '/pattern'];

function redosConfig(redos: 'reject' | 'warn'): string {
  const body = {
    type: 'object',
    properties: {
      name: { type: 'string', pattern: '^(a+)+$' },
      city: { type: 'string', pattern: '^([a-z]+)*$' },
    },
  };
  const tag = { type: 'string', pattern: '^(\\w+\\s?)*$' };
  // JSON is valid YAML, so the inline schemas are written as JSON.
  return [
    'upstream: http://127.0.0.1:9',
    `validation: { redos: ${redos} }`,
    'routes:',
    `  - { match: POST /users, validate: { body: ${JSON.stringify(body)} } }`,
    `  - { match: GET /tags/:tag, validate: { params: ${JSON.stringify(tag)} } }`,
  ].join('\n');
}

describe('bulwark config check', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bulwark-config-check-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('example file is valid', async () => {
    const result = await runCli(['config', 'check', 'examples/bulwark.yaml']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('examples/bulwark.yaml: valid (1 route, 2 rate limits');
  });

  it('broken file lists every problem', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, BROKEN_CONFIG);

    const result = await runCli(['config', 'check', file]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.split('\n');
    for (const [code, path, value] of EXPECTED_PROBLEMS) {
      const line = lines.find((text) => text.includes(` at ${path}:`));
      expect(line, `no line for ${path}`).toBeDefined();
      expect(line).toContain(code);
      expect(line).toContain(value);
    }
  });

  it('every vulnerable pattern is listed', async () => {
    const file = join(dir, 'redos-reject.yaml');
    writeFileSync(file, redosConfig('reject'));

    const result = await runCli(['config', 'check', file]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.split('\n').filter((line) => line.includes('ReDoS'));
    expect(lines).toHaveLength(3);
    for (const pointer of REDOS_POINTERS) {
      expect(lines.some((line) => line.includes(`#${pointer})`))).toBe(true);
    }
  });

  it('warn mode prints each pattern as a warning', async () => {
    const file = join(dir, 'redos-warn.yaml');
    writeFileSync(file, redosConfig('warn'));

    const result = await runCli(['config', 'check', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${file}: valid (2 routes, 0 rate limits`);
    const warnings = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('bulwark: warning:'));
    expect(warnings).toHaveLength(3);
    for (const [index, pointer] of REDOS_POINTERS.entries()) {
      expect(warnings[index]).toContain(`#${pointer}`);
      expect(warnings[index]).toContain('exponential backtracking');
      expect(warnings[index]).toContain('a single request can keep the gateway busy');
    }
  });

  it('YAML syntax error names the line', async () => {
    const file = join(dir, 'syntax.yaml');
    writeFileSync(file, 'listen: { host: 127.0.0.1\nupstream: [\n');

    const result = await runCli(['config', 'check', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('BWK_ERR_CONFIG_YAML');
    expect(result.stderr).toMatch(/line \d+/);
  });

  it('missing file is reported', async () => {
    const file = join(dir, 'absent.yaml');
    const result = await runCli(['config', 'check', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('BWK_ERR_CONFIG_READ');
    expect(result.stderr).toContain('file not found');
  });
});
