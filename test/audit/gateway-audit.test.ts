import { join } from 'node:path';

import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { loadAuditKeys } from '../../src/audit/keys.js';
import { SqliteAuditStore } from '../../src/audit/sqlite-store.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { validateConfig } from '../../src/core/config.js';
import { Gateway } from '../../src/gateway/server.js';
import { send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';
import { removeTempDirs, tempDir } from './log-helpers.js';

afterAll(removeTempDirs);

let upstream: Upstream | undefined;

afterEach(async () => {
  await upstream?.close();
  upstream = undefined;
});

async function runGateway(dataDir: string, requests: number): Promise<void> {
  upstream = await startUpstream(okHandler);
  const gateway = new Gateway(
    validateConfig({
      listen: { host: '127.0.0.1', port: 0 },
      upstream: upstream.url,
      dataDir,
      logging: { level: 'silent' },
      rateLimits: [{ name: 'per-ip', key: 'ip', limit: 2, window: '1m' }],
      audit: { instance: 'gw-test', requests: true },
    }),
  );
  const url = await gateway.listen();
  for (let n = 0; n < requests; n += 1) await send(url, `/items/${n}`);
  await gateway.stop();
}

describe('gateway audit log', () => {
  it('every request leaves a verifiable record', async () => {
    const dataDir = tempDir();
    await runGateway(dataDir, 4);
    const store = new SqliteAuditStore({ path: join(dataDir, 'audit.db') });
    const records = await store.scan('gw-test', 1, 100);
    const types = records.map((r) => r.type);
    expect(types[0]).toBe('audit.started');
    expect(types).toContain('config.loaded');
    expect(types.filter((t) => t === 'http.request')).toHaveLength(2);
    expect(types.filter((t) => t === 'ratelimit.exceeded')).toHaveLength(2);
    expect(types).toContain('audit.stopped');
    expect(types.at(-1)).toBe('audit.checkpoint');
    const keys = loadAuditKeys({ dir: join(dataDir, 'audit-keys'), env: {} });
    const report = await verifyAuditLog({
      store,
      publicKeys: keys.signing.publicKeyById,
      hmacKeys: keys.hmac,
    });
    await store.close();
    expect(report.ok).toBe(true);
  });

  it('restarted gateway continues the same chain', async () => {
    const dataDir = tempDir();
    await runGateway(dataDir, 1);
    await upstream?.close();
    await runGateway(dataDir, 1);
    const store = new SqliteAuditStore({ path: join(dataDir, 'audit.db') });
    expect(await store.instances()).toEqual(['gw-test']);
    const keys = loadAuditKeys({ dir: join(dataDir, 'audit-keys'), env: {} });
    const report = await verifyAuditLog({ store, publicKeys: keys.signing.publicKeyById });
    await store.close();
    expect(report.ok).toBe(true);
    expect(report.chains[0]!.checkpoints).toBe(2);
  });
});
