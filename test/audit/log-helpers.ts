import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { generateAuditKeys, loadAuditKeys, type AuditKeys } from '../../src/audit/keys.js';
import type { AuditStore } from '../../src/audit/store.js';
import { AuditLog, type AuditLogOptions } from '../../src/audit/writer.js';
import { newId } from '../../src/core/ids.js';
import { EVENT_SCHEMA_VERSION, type SecurityEvent } from '../../src/events/schema.js';

const created: string[] = [];

/** Creates a fresh temporary folder, removed by `removeTempDirs`. */
export function tempDir(prefix = 'bwk-audit-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/**
 * Removes every folder made by `tempDir`, `newKeys` and `openWriter` so far. Test files
 * call it in `afterAll`, after their stores are closed (an open SQLite file is removed too).
 */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Generates HMAC, signing and encryption keys in a new folder and loads them. */
export function newKeys(dir = tempDir('bwk-audit-keys-')): AuditKeys & { dir: string } {
  generateAuditKeys(dir);
  return Object.assign(loadAuditKeys({ dir, env: {} }), { dir });
}

/** Builds a valid SecurityEvent. `n` makes the path and actor id distinct. */
export function sampleEvent(n: number, overrides: Partial<SecurityEvent> = {}): SecurityEvent {
  return {
    schemaVersion: EVENT_SCHEMA_VERSION,
    id: newId(),
    time: new Date(Date.UTC(2026, 11, 1, 12, 0, 0) + n * 1000).toISOString(),
    type: n % 3 === 0 ? 'auth.failure' : 'ratelimit.exceeded',
    category: n % 3 === 0 ? 'authentication' : 'violation',
    severity: n % 3 === 0 ? 'medium' : 'low',
    outcome: 'blocked',
    actor: { type: 'user', id: `user-${n}`, ip: `192.0.2.${n % 250}`, userAgent: 'test-agent/1.0' },
    target: { method: 'GET', path: `/orders/${n}`, route: '/orders/:id' },
    correlationId: `req-${n}`,
    source: { component: 'test', instance: 'test' },
    details: { attempt: n, reason: 'sample' },
    ...overrides,
  };
}

/** Opens a writer on `store` with test defaults: checkpoints every 10 records, spool in a temp folder. */
export function openWriter(
  store: AuditStore,
  keys: AuditKeys,
  overrides: Partial<AuditLogOptions> = {},
): AuditLog {
  return new AuditLog({
    store,
    keys,
    instance: 'gw-1',
    encryption: { mode: 'fields', fields: ['actor.ip', 'actor.userAgent', 'details'] },
    checkpoint: { every: 10, interval: 3_600_000 },
    spool: { file: join(tempDir(), 'spool.jsonl'), maxBytes: 1024 * 1024, retryInterval: 20 },
    ...overrides,
  });
}
