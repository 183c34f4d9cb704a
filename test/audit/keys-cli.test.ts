import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadAuditKeys, loadPublicKeys, type AuditKeyInfo } from '../../src/audit/keys.js';
import { runCli } from '../helpers/cli.js';

let root: string;
let dir: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'bwk-audit-keys-cli-'));
  dir = join(root, 'keys');
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('bulwark audit keys', () => {
  it('generate, rotate, list and export-public', async () => {
    const generated = await runCli(['audit', 'keys', 'generate', '--dir', dir], root);
    expect(generated.code, generated.stderr).toBe(0);
    expect(generated.stdout).toMatch(/^hmac\s+created\s+hmac-\d{8}-[0-9a-f]{8}$/m);
    expect(generated.stdout).toMatch(/^signing\s+created\s+ed25519-[0-9a-f]{16}$/m);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const before = loadAuditKeys({ dir, env: {} });

    const rotated = await runCli(['audit', 'keys', 'rotate', 'signing', '--dir', dir], root);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain(`signing key rotated: ${before.signing.kid} -> `);
    expect(rotated.stderr).toContain('audit key rotated');

    const listed = await runCli(['audit', 'keys', 'list', '--json', '--dir', dir], root);
    expect(listed.code, listed.stderr).toBe(0);
    const infos = JSON.parse(listed.stdout) as AuditKeyInfo[];
    expect(infos.filter((info) => info.kind === 'signing').map((info) => info.current)).toEqual([
      true,
      false,
    ]);
    expect(listed.stdout).not.toContain('PRIVATE');

    const out = join(root, 'audit-public.pem');
    const exported = await runCli(
      ['audit', 'keys', 'export-public', '--all', '--out', out, '--dir', dir],
      root,
    );
    expect(exported.code, exported.stderr).toBe(0);
    const lookup = loadPublicKeys(readFileSync(out, 'utf8'));
    expect(lookup(before.signing.kid)).toBeDefined();
    expect(lookup(loadAuditKeys({ dir, env: {} }).signing.kid)).toBeDefined();
    // Four CLI processes, each compiling the sources through tsx on a shared machine.
  }, 120_000);

  it('unknown kind exits with a usage error', async () => {
    const result = await runCli(['audit', 'keys', 'rotate', 'rsa', '--dir', dir], root);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown key kind "rsa"');
  });

  it('rotate without keys names the generate command', async () => {
    const result = await runCli(
      ['audit', 'keys', 'rotate', 'hmac', '--dir', join(root, 'none')],
      root,
    );

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bulwark audit keys generate');
  });
});
