import { createServer, type Server } from 'node:net';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  ClamdClient,
  ClamdResponseError,
  ClamdTimeoutError,
  ClamdUnavailableError,
  parseScanAnswer,
} from '../../src/upload/clamd.js';
import { parseClamdAddress } from '../../src/upload/config.js';
import { unusedPort } from '../helpers/upstream.js';
import { startClamd, type ClamdServer } from './clamd-server.js';
import { EICAR, PNG } from './fixtures.js';
import { inspectorFor, inspectParts, reasonOf, tempFolders, type Folders } from './harness.js';

let clamd: ClamdServer;
let folders: Folders;

beforeAll(async () => {
  clamd = await startClamd();
}, 90_000);

afterAll(async () => {
  await clamd?.stop();
});

beforeEach(async () => {
  folders = await tempFolders();
});

afterEach(async () => {
  await folders.cleanup();
});

function client(address: string, timeoutMs = 5000): ClamdClient {
  return new ClamdClient(parseClamdAddress(address)!, timeoutMs);
}

describe('clamd INSTREAM client', () => {
  it('EICAR detected by the real clamd', async () => {
    const result = await client(clamd.address).scan([EICAR]);
    // clamd marks signatures from a database it cannot verify as UNOFFICIAL.
    expect(result).toEqual({ clean: false, signature: 'Eicar-Signature.UNOFFICIAL' });
  });

  it('clean bytes reported OK', async () => {
    expect(await client(clamd.address).scan([PNG])).toEqual({ clean: true });
  });

  it('EICAR split across chunks detected', async () => {
    const result = await client(clamd.address).scan([EICAR.subarray(0, 10), EICAR.subarray(10)]);
    expect(result.clean).toBe(false);
  });

  it('PING answered', async () => {
    expect(await client(clamd.address).ping()).toBe(true);
  });

  it('closed port reported unavailable', async () => {
    const port = await unusedPort();
    await expect(client(`tcp://127.0.0.1:${port}`).scan([PNG])).rejects.toBeInstanceOf(
      ClamdUnavailableError,
    );
  });

  it('missing file with clamd down', async () => {
    const port = await unusedPort();
    const missing = join(folders.dir, 'removed-before-the-scan');
    await expect(client(`tcp://127.0.0.1:${port}`).scanFile(missing)).rejects.toBeInstanceOf(
      ClamdUnavailableError,
    );
    // A file opened before the connection failed would raise ENOENT with no listener, which
    // vitest reports as an unhandled error; a later fs call lets such an open finish first.
    await expect(readdir(join(folders.dir, 'absent'))).rejects.toThrow(/ENOENT/);
  });

  it('silent server reported as timed out', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      await expect(client(`tcp://127.0.0.1:${port}`, 300).scan([PNG])).rejects.toBeInstanceOf(
        ClamdTimeoutError,
      );
    } finally {
      silent.close();
    }
  });

  it('stream over StreamMaxLength reported as error', async () => {
    const small = await startClamd(undefined, { streamMaxLength: '1K' });
    try {
      const scan = client(small.address).scan([Buffer.alloc(64 * 1024, 1)]);
      await expect(scan).rejects.toBeInstanceOf(ClamdResponseError);
    } finally {
      await small.stop();
    }
  }, 90_000);

  it('answers parsed', () => {
    expect(parseScanAnswer('stream: OK')).toEqual({ clean: true });
    expect(parseScanAnswer('stream: Eicar-Signature FOUND')).toEqual({
      clean: false,
      signature: 'Eicar-Signature',
    });
    expect(() => parseScanAnswer('INSTREAM size limit exceeded. ERROR')).toThrow(
      /size limit exceeded/,
    );
  });
});

describe('upload scanning', () => {
  it('EICAR upload rejected as malware and condemned', async () => {
    const inspector = inspectorFor(folders, {
      types: [{ extension: 'txt', mime: 'text/plain' }],
      scan: { clamd: clamd.address },
    });
    const result = await inspectParts(inspector, [
      { name: 'doc', filename: 'eicar.txt', type: 'text/plain', data: EICAR },
    ]);
    expect(reasonOf(result)).toBe('malware');
    expect(result.ok ? undefined : result.status).toBe(422);
    expect(result.ok ? undefined : result.rejection.details?.signature).toBe(
      'Eicar-Signature.UNOFFICIAL',
    );
    expect(await readdir(folders.dir)).toEqual([]);
    const record = (await readdir(folders.quarantineDir)).find((name) => name.endsWith('.json'))!;
    const stored = JSON.parse(
      await readFile(join(folders.quarantineDir, record), 'utf8'),
    ) as Record<string, unknown>;
    expect(stored).toMatchObject({
      status: 'condemned',
      reason: 'malware',
      signature: 'Eicar-Signature.UNOFFICIAL',
    });
  });

  it('clean upload scanned and stored', async () => {
    const inspector = inspectorFor(folders, { scan: { clamd: clamd.address } });
    const result = await inspectParts(inspector, [
      { name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG },
    ]);
    expect(result.ok).toBe(true);
    expect(result.ok ? result.files[0]!.status : undefined).toBe('accepted');
    // The response and the record on disk name the state with the same word.
    const id = result.ok ? result.files[0]!.id : '';
    const record = JSON.parse(await readFile(join(folders.dir, `${id}.json`), 'utf8')) as {
      status: string;
    };
    expect(record.status).toBe('accepted');
  });

  it('scanner down rejected with 503 under reject', async () => {
    const port = await unusedPort();
    const inspector = inspectorFor(folders, {
      scan: { clamd: `tcp://127.0.0.1:${port}`, unavailable: 'reject' },
    });
    const result = await inspectParts(inspector, [
      { name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG },
    ]);
    expect(reasonOf(result)).toBe('scanner_unavailable');
    expect(result.ok ? undefined : result.status).toBe(503);
    expect(await readdir(folders.dir)).toEqual([]);
  });
});

describe('quarantine when clamd is down', () => {
  it('files wait in quarantine, then release or condemn', async () => {
    const second = await startClamd();
    const port = second.port;
    await second.stop();
    const inspector = inspectorFor(folders, {
      types: [{ extension: 'txt', mime: 'text/plain' }],
      scan: { clamd: `tcp://127.0.0.1:${port}`, unavailable: 'quarantine', retryInterval: '1h' },
    });
    try {
      const clean = await inspectParts(inspector, [
        {
          name: 'doc',
          filename: 'notes.txt',
          type: 'text/plain',
          data: Buffer.from('meeting notes'),
        },
      ]);
      const infected = await inspectParts(inspector, [
        { name: 'doc', filename: 'eicar.txt', type: 'text/plain', data: EICAR },
      ]);
      expect(clean.ok ? clean.files[0]!.status : clean.rejection.reason).toBe('pending_scan');
      expect(infected.ok ? infected.files[0]!.status : infected.rejection.reason).toBe(
        'pending_scan',
      );
      expect(await readdir(folders.dir)).toEqual([]);

      // Still down: both wait.
      expect(await inspector.rescanner!.rescan()).toEqual({
        released: 0,
        condemned: 0,
        waiting: 2,
      });

      const restarted = await startClamd(port);
      try {
        expect(await inspector.rescanner!.rescan()).toEqual({
          released: 1,
          condemned: 1,
          waiting: 0,
        });
      } finally {
        await restarted.stop();
      }
      const cleanId = clean.ok ? clean.files[0]!.id : '';
      const infectedId = infected.ok ? infected.files[0]!.id : '';
      expect(await readdir(folders.dir)).toEqual(
        expect.arrayContaining([cleanId, `${cleanId}.json`]),
      );
      const record = JSON.parse(
        await readFile(join(folders.quarantineDir, `${infectedId}.json`), 'utf8'),
      ) as Record<string, unknown>;
      // A file condemned on rescan reads like one condemned when it arrived.
      expect(record).toMatchObject({
        status: 'condemned',
        reason: 'malware',
        signature: 'Eicar-Signature.UNOFFICIAL',
      });
    } finally {
      inspector.close();
    }
  }, 120_000);
});
