import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const TOTAL = 50 * 1024 * 1024;
const CHUNK = 64 * 1024;
const HALF = TOTAL / 2;
// Bounds a wait that a buffering gateway would never satisfy, so the test fails instead of hanging.
const WAIT_BOUND_MS = 10_000;

/** Creates a one-shot signal that one side of the exchange fires and the other awaits. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

async function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([promise, bound]);
  clearTimeout(timer);
}

/**
 * Yields TOTAL random bytes in CHUNK pieces, adding each to `hash`. After HALF bytes it
 * calls `atHalf` and waits for it, so the other end can be inspected mid-stream.
 */
async function* randomBody(
  hash: ReturnType<typeof createHash>,
  atHalf: () => Promise<void>,
): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < TOTAL; sent += CHUNK) {
    if (sent === HALF) await atHalf();
    const chunk = randomBytes(CHUNK);
    hash.update(chunk);
    yield chunk;
  }
}

describe('gateway streaming', () => {
  let upstream: Upstream;
  let gateway: Gateway;

  // State of the exchange in flight, shared between the upstream handler and the test.
  let uploadStarted = signal();
  let upload = { bytes: 0, sha256: '' };
  let downloadStarted = signal();
  let download = { sha256: '', clientBytesAtHalf: -1 };
  let clientBytes = 0;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url === '/upload') {
        const hash = createHash('sha256');
        req.on('data', (chunk: Buffer) => {
          if (upload.bytes === 0) uploadStarted.fire();
          upload.bytes += chunk.length;
          hash.update(chunk);
        });
        req.on('end', () => {
          upload.sha256 = hash.digest('hex');
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(upload));
        });
        return;
      }
      // /download: no content-length, so the body travels chunked.
      const hash = createHash('sha256');
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const body = async function* (): AsyncGenerator<Buffer> {
        yield* randomBody(hash, async () => {
          await waitAtMost(downloadStarted.promise, WAIT_BOUND_MS);
          download.clientBytesAtHalf = clientBytes;
        });
        // Set before the generator returns, so before the response can end.
        download.sha256 = hash.digest('hex');
      };
      pipeline(Readable.from(body()), res).catch(() => res.destroy());
    });
    // The upload is larger than the default body limit of 1 MiB.
    gateway = await startGateway({ upstream: upstream.url, limits: { maxBodySize: '64mb' } });
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  it('request body streams to upstream', async () => {
    uploadStarted = signal();
    upload = { bytes: 0, sha256: '' };
    const sent = createHash('sha256');
    let upstreamBytesAtHalf = -1;

    const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${gateway.url}/upload`,
        {
          method: 'POST',
          agent: false,
          headers: { 'content-type': 'application/octet-stream', 'content-length': TOTAL },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      // Halfway through sending, the upstream must already be receiving: a gateway that
      // buffered the whole body would not have forwarded a byte yet.
      const body = randomBody(sent, async () => {
        await waitAtMost(uploadStarted.promise, WAIT_BOUND_MS);
        upstreamBytesAtHalf = upload.bytes;
      });
      pipeline(Readable.from(body), req).catch(reject);
    });

    const { status, body } = await reply;
    expect(status).toBe(200);
    expect(upstreamBytesAtHalf).toBeGreaterThan(0);
    expect(upstreamBytesAtHalf).toBeLessThan(TOTAL);
    const received = JSON.parse(body) as { bytes: number; sha256: string };
    expect(received.bytes).toBe(TOTAL);
    expect(received.sha256).toBe(sent.digest('hex'));
  });

  it('response body streams to client', async () => {
    downloadStarted = signal();
    download = { sha256: '', clientBytesAtHalf: -1 };
    clientBytes = 0;
    const received = createHash('sha256');

    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${gateway.url}/download`, { agent: false }, (res) => {
        res.on('data', (chunk: Buffer) => {
          clientBytes += chunk.length;
          received.update(chunk);
          downloadStarted.fire();
        });
        res.on('error', reject);
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });

    expect(status).toBe(200);
    // The upstream paused halfway until the client had bytes in hand, which a gateway that
    // buffered the whole response could not provide.
    expect(download.clientBytesAtHalf).toBeGreaterThan(0);
    expect(download.clientBytesAtHalf).toBeLessThan(TOTAL);
    expect(clientBytes).toBe(TOTAL);
    expect(received.digest('hex')).toBe(download.sha256);
  });
});
