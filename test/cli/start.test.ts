import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CliProcess, runCli } from '../helpers/cli.js';
import { send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';

describe('bulwark start', () => {
  let dir: string;
  let upstream: Upstream;
  let occupier: Server;
  let busyPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bulwark-start-'));
    upstream = await startUpstream(okHandler);
    occupier = createServer();
    await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
    busyPort = (occupier.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => occupier.close(() => resolve()));
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('neither flag exits 2 with usage', async () => {
    const result = await runCli(['start'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('either --config FILE or --upstream URL is required');
    expect(result.stderr).toContain('bulwark start --upstream');
  });

  it('invalid port flag exits 2', async () => {
    const result = await runCli(['start', '--upstream', upstream.url, '--port', '99999'], dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('invalid port "99999"');
  });

  it('a start error exits even after Redis connections opened', async () => {
    const file = join(dir, 'bad-feed.yaml');
    writeFileSync(
      file,
      [
        `upstream: ${upstream.url}`,
        'listen: { host: 127.0.0.1, port: 0 }',
        'events: { sink: none }',
        `storage: { redis: "redis://127.0.0.1:6379", keyPrefix: "bwk-test-start-${process.pid}:" }`,
        'bans: {}',
        'admin: { tokenEnv: BWK_TEST_START_ADMIN }',
        'auth: { apiKeys: { pepperEnv: BWK_TEST_START_PEPPER } }',
        `ipLists: { deny: [{ file: ${join(dir, 'missing-feed.txt')} }] }`,
      ].join('\n'),
    );
    // The admin API opens the credential stores and their Redis channel before the feed fails.
    process.env.BWK_TEST_START_ADMIN = 'a'.repeat(40);
    process.env.BWK_TEST_START_PEPPER = 'p'.repeat(40);

    const result = await runCli(['start', '--config', file], dir).finally(() => {
      delete process.env.BWK_TEST_START_ADMIN;
      delete process.env.BWK_TEST_START_PEPPER;
    });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('BWK_ERR_CONFIG_IP_LIST');
  });

  it('port in use exits 1 with reason', async () => {
    const result = await runCli(
      ['start', '--upstream', upstream.url, '--port', String(busyPort), '--host', '127.0.0.1'],
      dir,
    );
    expect(result.code).toBe(1);
    const fatal = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .find((line) => line.level === 60);
    expect(fatal?.msg).toBe(
      `cannot listen: address 127.0.0.1:${busyPort} is already in use; choose another with --port or listen.port`,
    );
  });

  it('upstream flag serves with default policy', async () => {
    // Port 0 lets the kernel choose; the log line carries the URL.
    const cli = new CliProcess(['start', '--upstream', upstream.url, '--port', '0'], dir);
    try {
      const started = await cli.waitForLog('gateway started');
      const reply = await send(String(started.url), '/orders');
      expect(reply.status).toBe(200);
      expect(reply.headers['ratelimit-policy']).toBe('"per-ip";q=600;w=60');
    } finally {
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    }
  });

  it('config flag overridden by port flag', async () => {
    const file = join(dir, 'bulwark.yaml');
    writeFileSync(
      file,
      `listen: { host: 127.0.0.1, port: ${busyPort} }\nupstream: ${upstream.url}\nevents: { sink: none }\n`,
    );
    const cli = new CliProcess(['start', '--config', file, '--port', '0'], dir);
    try {
      const started = await cli.waitForLog('gateway started');
      expect(new URL(String(started.url)).port).not.toBe(String(busyPort));
      expect((await send(String(started.url), '/')).status).toBe(200);
    } finally {
      cli.child.kill('SIGTERM');
      expect((await cli.exited).code).toBe(0);
    }
  });
});
