import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'vitest';

import { runCli } from '../helpers/cli.js';

/**
 * A working directory for `bulwark keys` and `bulwark clients`, with a pepper in an
 * environment variable of its own that the CLI processes inherit.
 */
export class CliWorkspace {
  readonly dir = mkdtempSync(join(tmpdir(), 'bwk-cli-credentials-'));
  readonly pepperEnv = `BWK_TEST_PEPPER_${randomBytes(6).toString('hex').toUpperCase()}`;
  readonly pepper = randomBytes(32).toString('base64');

  constructor() {
    process.env[this.pepperEnv] = this.pepper;
  }

  /**
   * Writes a configuration file whose store is SQLite in `dataDir` (an absolute path) or
   * the PostgreSQL database `postgres`. Returns its path.
   */
  writeConfig(name: string, store: { dataDir?: string; postgres?: string }, extra = ''): string {
    const lines = [
      'upstream: http://127.0.0.1:9',
      'listen: { host: 127.0.0.1, port: 0 }',
      'events: { sink: none }',
      'logging: { level: silent }',
      `auth: { apiKeys: { pepperEnv: ${this.pepperEnv} } }`,
    ];
    if (store.dataDir !== undefined) lines.push(`dataDir: ${JSON.stringify(store.dataDir)}`);
    if (store.postgres !== undefined) lines.push(`storage: { postgres: ${store.postgres} }`);
    const path = join(this.dir, name);
    writeFileSync(path, `${lines.join('\n')}\n${extra}`);
    return path;
  }

  /** Runs `bulwark <args>` in the workspace. */
  run(args: readonly string[]): ReturnType<typeof runCli> {
    return runCli(args, this.dir);
  }

  /** Runs a command with `--json`, expects success and returns the parsed output. */
  async json<T = Record<string, unknown>>(args: readonly string[]): Promise<T> {
    const result = await this.run([...args, '--json']);
    expect(result.stderr).not.toContain('bulwark:');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as T;
  }

  remove(): void {
    delete process.env[this.pepperEnv];
    rmSync(this.dir, { recursive: true, force: true });
  }
}
