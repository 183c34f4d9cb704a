import { join } from 'node:path';

import { afterAll, afterEach } from 'vitest';

import { SqliteAuditStore } from '../../src/audit/sqlite-store.js';
import type { AuditStore } from '../../src/audit/store.js';
import { removeTempDirs, tempDir } from './log-helpers.js';
import { auditStoreContract } from './store-contract.js';

afterAll(removeTempDirs);

const opened: AuditStore[] = [];

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

auditStoreContract('sqlite', () => {
  const store = new SqliteAuditStore({ path: join(tempDir(), 'audit.db') });
  opened.push(store);
  return Promise.resolve(store);
});
