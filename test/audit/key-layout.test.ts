import { join } from 'node:path';
import { Writable } from 'node:stream';

import { afterAll, describe, expect, it } from 'vitest';

import { AuditService } from '../../src/audit/open.js';
import { validateConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/core/logger.js';
import { removeTempDirs, tempDir } from './log-helpers.js';

afterAll(removeTempDirs);

const WARNING = 'audit keys are stored inside the data folder';

/** Starts and stops an audit service and returns the messages it logged. */
async function startAndStop(audit: Record<string, unknown>, dataDir = tempDir()) {
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        lines.push(JSON.parse(line) as { level: number; msg: string });
      }
      done();
    },
  });
  const config = validateConfig({ upstream: 'http://127.0.0.1:9', dataDir, audit }, 'test');
  const service = new AuditService(config, {
    logger: createLogger({ level: 'info' }, sink),
    env: {},
  });
  await service.start();
  await service.log.appendEvents([]);
  await service.stop();
  return lines.filter((line) => line.msg.startsWith(WARNING));
}

describe('audit key layout warning', () => {
  it('warns once when the keys sit in the data folder without external checkpoints', async () => {
    const warnings = await startAndStop({ instance: 'gw-keys' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.level).toBe(40);
  });

  it('does not warn when an external checkpoint folder is set', async () => {
    const external = tempDir('bwk-audit-external-');
    const warnings = await startAndStop({
      instance: 'gw-keys',
      checkpoint: { externalDir: external },
    });
    expect(warnings).toEqual([]);
  });

  it('does not warn when the keys folder is outside the data folder', async () => {
    const warnings = await startAndStop({
      instance: 'gw-keys',
      keysDir: join(tempDir('bwk-audit-keys-'), 'keys'),
    });
    expect(warnings).toEqual([]);
  });
});
