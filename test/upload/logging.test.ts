import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { createLogger } from '../../src/core/logger.js';
import { EventBus } from '../../src/events/bus.js';
import { ClamdClient, ClamdUnavailableError } from '../../src/upload/clamd.js';
import { parseClamdAddress, uploadPolicyFrom } from '../../src/upload/config.js';
import { createUploadGuard } from '../../src/upload/guard.js';
import { unusedPort } from '../helpers/upstream.js';
import { PNG } from './fixtures.js';

const storage = { dir: '/var/lib/bwk-test/files', quarantineDir: '/var/lib/bwk-test/quarantine' };
const types = [{ extension: 'png', mime: 'image/png' }];

/** Creates a logger that collects its JSON lines in `lines`. */
function capturingLogger(): {
  logger: ReturnType<typeof createLogger>;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger({ level: 'info' }, destination), lines };
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe('upload start log', () => {
  it('route scanner address and unavailable policy logged', async () => {
    const { logger, lines } = capturingLogger();
    const scanned = uploadPolicyFrom({
      types,
      storage,
      scan: { clamd: 'tcp://127.0.0.1:3310', unavailable: 'quarantine' },
    });
    const plain = uploadPolicyFrom({ types, storage });
    const guard = createUploadGuard(
      [
        { route: 'POST /files', upload: scanned },
        { route: 'POST /avatars', upload: plain },
        { route: 'GET /files' },
      ],
      { bus: new EventBus(), logger },
    );
    await settle();
    expect(guard).toBeDefined();
    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'upload route scans files with clamd',
        route: 'POST /files',
        clamd: 'tcp://127.0.0.1:3310',
        unavailable: 'quarantine',
        timeoutMs: 10_000,
        retryIntervalMs: 30_000,
      }),
      expect.objectContaining({
        msg: 'upload route without a malware scan',
        route: 'POST /avatars',
        scan: false,
      }),
    ]);
  });

  it('no guard and no log without upload routes', async () => {
    const { logger, lines } = capturingLogger();
    expect(createUploadGuard([{ route: 'GET /files' }], { bus: new EventBus(), logger })).toBe(
      undefined,
    );
    await settle();
    expect(lines).toEqual([]);
  });
});

describe('clamd connection errors', () => {
  it('system reason logged once', async () => {
    const port = await unusedPort();
    const client = new ClamdClient(parseClamdAddress(`tcp://127.0.0.1:${port}`)!, 5000);
    const error = await client.scan([PNG]).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ClamdUnavailableError);
    expect((error as Error).message).toBe(`clamd at tcp://127.0.0.1:${port} is unreachable`);

    const { logger, lines } = capturingLogger();
    logger.warn({ err: error }, 'clamd scan failed');
    await settle();
    const message = (lines[0]!.err as { message: string }).message;
    expect(message).toBe(
      `clamd at tcp://127.0.0.1:${port} is unreachable: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    expect(message.match(/ECONNREFUSED/g)).toHaveLength(1);
  });
});
