import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import type { Gateway } from '../../src/gateway/server.js';
import { runCli } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { deleteKeys } from '../helpers/redis-keys.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';

const REDIS = 'redis://127.0.0.1:6379';
const PREFIX = `bwk-test-${randomBytes(4).toString('hex')}:`;

const policy = {
  trustProxy: ['127.0.0.1/32'],
  bans: { syncInterval: '1h' },
  ipLists: { allow: ['198.51.100.250'] },
  storage: { redis: REDIS, keyPrefix: PREFIX },
};

let upstream: Upstream;
let redis: Redis;
let dir: string;
let gateway: Gateway;

/** Polls until the gateway responds to `ip` with `status`, for at most five seconds. */
async function until(ip: string, status: number): Promise<number> {
  const deadline = Date.now() + 5_000;
  const get = () => send(gateway.url, '/', { headers: { 'x-forwarded-for': ip } });
  let reply = await get();
  while (reply.status !== status && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    reply = await get();
  }
  return reply.status;
}

beforeAll(async () => {
  redis = new Redis(REDIS);
  upstream = await startUpstream(okHandler);
  dir = mkdtempSync(join(tmpdir(), 'bwk-bans-cli-'));
  gateway = await startGateway({ upstream: upstream.url, ...policy });
  await gateway.protection.network.bans!.sync();
});

afterAll(async () => {
  await gateway?.stop();
  await upstream?.close();
  await deleteKeys(redis, `${PREFIX}*`);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

describe('bulwark bans command', () => {
  it('add, list and remove against Redis', async () => {
    const config = join(dir, 'bulwark.yaml');
    writeFileSync(config, stringify({ upstream: upstream.url, ...policy }));

    const add = await runCli(['bans', 'add', '192.0.2.99', '-c', config, '--reason', 'cli test']);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toContain('Banned 192.0.2.99/32 until');
    expect(await until('192.0.2.99', 403)).toBe(403);

    const list = await runCli(['bans', 'list', '-c', config, '--json']);
    const listed = JSON.parse(list.stdout) as Array<{ subject: string; reason: string }>;
    expect(listed).toContainEqual(
      expect.objectContaining({ subject: '192.0.2.99/32', reason: 'cli test' }),
    );

    const remove = await runCli(['bans', 'remove', '192.0.2.99', '-c', config]);
    expect(remove.code, remove.stderr).toBe(0);
    expect(await until('192.0.2.99', 200)).toBe(200);
  });

  it('memory bans explained without Redis', async () => {
    const config = join(dir, 'memory.yaml');
    writeFileSync(config, stringify({ upstream: upstream.url, bans: {} }));

    const result = await runCli(['bans', 'list', '-c', config]);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bans live only in the memory of the gateway process');
    expect(result.stderr).toContain('/_bulwark/admin/bans');
  });
});
