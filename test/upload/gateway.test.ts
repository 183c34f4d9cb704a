import { readdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { withBulwark, type BulwarkListener } from '../../src/adapters/node-http.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import { EventBus } from '../../src/events/bus.js';
import type { Gateway } from '../../src/gateway/server.js';
import { uploadResultOf } from '../../src/upload/guard.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { startClamd, type ClamdServer } from './clamd-server.js';
import { BOUNDARY, EICAR, GIF_JS_POLYGLOT, MULTIPART_TYPE, multipart, PNG } from './fixtures.js';
import { tempFolders, type Folders } from './harness.js';

interface Received {
  contentType: string | undefined;
  body: string;
}

let clamd: ClamdServer;
let folders: Folders;
let upstream: Upstream;
let gateway: Gateway;
let received: Received[];
let events: SecurityEvent[];

function uploadRoute(folders: Folders, address: string) {
  return {
    match: 'POST /files',
    upload: {
      maxFileSize: '1mb',
      maxTotalSize: '64mb',
      types: [
        { extension: 'png', mime: 'image/png' },
        { extension: 'gif', mime: 'image/gif' },
        { extension: 'txt', mime: 'text/plain' },
      ],
      scan: { clamd: address },
      storage: { dir: folders.dir, quarantineDir: folders.quarantineDir },
    },
  };
}

function recordBody(req: IncomingMessage, done: (body: string) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => done(Buffer.concat(chunks).toString('utf8')));
}

beforeAll(async () => {
  clamd = await startClamd();
}, 90_000);

afterAll(async () => {
  await clamd?.stop();
});

beforeEach(async () => {
  folders = await tempFolders();
  received = [];
  events = [];
  upstream = await startUpstream((req, res) => {
    recordBody(req, (body) => {
      received.push({ contentType: req.headers['content-type'], body });
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  gateway = await startGateway(
    { upstream: upstream.url, routes: [uploadRoute(folders, clamd.address)] },
    { bus },
  );
});

afterEach(async () => {
  await gateway.stop();
  await upstream.close();
  await folders.cleanup();
});

const post = (parts: Parameters<typeof multipart>[0]) =>
  send(gateway.url, '/files', {
    method: 'POST',
    headers: { 'content-type': MULTIPART_TYPE },
    body: multipart(parts),
  });

describe('upload guard in the gateway', () => {
  it('accepted upload forwarded as a reference', async () => {
    const reply = await post([
      { name: 'title', value: 'me' },
      { name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG },
    ]);
    expect(reply.status).toBe(201);
    expect(received).toHaveLength(1);
    expect(received[0]!.contentType).toBe('application/json');
    const reference = JSON.parse(received[0]!.body) as {
      files: Array<Record<string, unknown>>;
      fields: unknown[];
    };
    expect(reference.fields).toEqual([{ name: 'title', value: 'me' }]);
    expect(reference.files[0]).toMatchObject({
      field: 'avatar',
      name: 'me.png',
      size: PNG.length,
      type: 'image/png',
      status: 'accepted',
    });
    expect(await readdir(folders.dir)).toContain(reference.files[0]!.id);
    expect(events.map((event) => event.type)).toContain('upload.accepted');
  });

  it('EICAR upload rejected before the upstream', async () => {
    const reply = await post([
      { name: 'doc', filename: 'eicar.txt', type: 'text/plain', data: EICAR },
    ]);
    expect(reply.status).toBe(422);
    expect(reply.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(reply.text)).toMatchObject({
      code: 'BWK_ERR_UPLOAD_MALWARE',
      reason: 'malware',
    });
    expect(received).toHaveLength(0);
    const malware = events.find((event) => event.type === 'upload.malware');
    expect(malware?.outcome).toBe('blocked');
    expect(malware?.details.signature).toBe('Eicar-Signature.UNOFFICIAL');
  });

  it('GIF/JavaScript polyglot rejected with its reason', async () => {
    const reply = await post([
      { name: 'image', filename: 'a.gif', type: 'image/gif', data: GIF_JS_POLYGLOT },
    ]);
    expect(reply.status).toBe(422);
    expect(JSON.parse(reply.text)).toMatchObject({
      code: 'BWK_ERR_UPLOAD_CONTENT',
      reason: 'polyglot',
    });
    const rejected = events.find((event) => event.type === 'upload.rejected');
    expect(rejected?.details.reason).toBe('polyglot');
    expect(received).toHaveLength(0);
  });

  it('oversized chunked file cut while streaming', async () => {
    const port = Number(new URL(gateway.url).port);
    const socket = connect(port, '127.0.0.1');
    const response = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n')) resolve(text);
      });
      socket.on('error', () => resolve(text));
      socket.on('close', () => resolve(text));
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const head =
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="avatar"; filename="big.png"\r\n` +
      'Content-Type: image/png\r\n\r\n';
    socket.write(
      `POST /files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${MULTIPART_TYPE}\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    socket.write(`${Buffer.byteLength(head).toString(16)}\r\n${head}\r\n`);
    let sent = 0;
    let answered = false;
    void response.then(() => {
      answered = true;
    });
    const chunk = Buffer.alloc(64 * 1024, 1);
    // Up to 32 MiB, far below maxTotalSize; the 1 MiB file limit must stop it first.
    while (!answered && sent < 32 * 1024 * 1024 && !socket.destroyed) {
      const ok =
        socket.write(`${chunk.length.toString(16)}\r\n`) &&
        socket.write(chunk) &&
        socket.write('\r\n');
      sent += chunk.length;
      if (!ok) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const text = await response;
    socket.destroy();
    expect(text.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
    expect(sent).toBeLessThan(32 * 1024 * 1024);
    expect(received).toHaveLength(0);
    expect(await readdir(folders.dir)).toEqual([]);
    expect(events.find((event) => event.type === 'upload.rejected')?.details.reason).toBe(
      'file_too_large',
    );
  });
});

describe('upload guard in the node:http adapter', () => {
  let server: Server;
  let listener: BulwarkListener;
  let url: string;
  let appReceived: Received[];
  let resultNames: string[][];

  beforeEach(async () => {
    appReceived = [];
    resultNames = [];
    listener = withBulwark(
      (req, res) => {
        recordBody(req, (body) => {
          appReceived.push({ contentType: req.headers['content-type'], body });
          resultNames.push(uploadResultOf(req)?.files.map((file) => file.name) ?? []);
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(body);
        });
      },
      { routes: [uploadRoute(folders, clamd.address)] },
    );
    server = createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await listener.close();
  });

  it('application reads the reference in place of the body', async () => {
    const reply = await send(url, '/files', {
      method: 'POST',
      headers: { 'content-type': MULTIPART_TYPE },
      body: multipart([{ name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG }]),
    });
    expect(reply.status).toBe(201);
    expect(appReceived).toHaveLength(1);
    expect(appReceived[0]!.contentType).toBe('application/json');
    const reference = JSON.parse(appReceived[0]!.body) as { files: Array<Record<string, unknown>> };
    expect(reference.files[0]).toMatchObject({ name: 'me.png', status: 'accepted' });
    expect(resultNames).toEqual([['me.png']]);
  });
});

describe('upload rejected by a later guard', () => {
  // A field value the injection guard rejects, after the upload guard stored the file.
  const injected = () =>
    multipart([
      { name: 'title', value: "x' UNION SELECT password FROM users --" },
      { name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG },
    ]);

  it('gateway removes the stored file', async () => {
    const guarded = await startGuardedGateway();
    try {
      const reply = await postFiles(guarded.url, injected());
      expect(reply.status).toBe(403);
    } finally {
      await guarded.stop();
    }
    expect(received).toHaveLength(0);
    await expectNothingKept(await storedIds());
  });

  it('node:http adapter removes the stored file', async () => {
    const listener = withBulwark(
      (_req, res) => {
        res.writeHead(201);
        res.end();
      },
      { waf: { enabled: true }, routes: [uploadRoute(folders, clamd.address)], bus: eventsBus() },
    );
    const server = createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const reply = await postFiles(`http://127.0.0.1:${port}`, injected());
      expect(reply.status).toBe(403);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await listener.close();
    }
    await expectNothingKept(await storedIds());
  });

  it('file pending scan removed from quarantine', async () => {
    const stopped = await startClamd();
    const port = stopped.port;
    await stopped.stop();
    const base = uploadRoute(folders, clamd.address);
    const scan = {
      clamd: `tcp://127.0.0.1:${port}`,
      unavailable: 'quarantine' as const,
      retryInterval: '1h',
    };
    const route = { ...base, upload: { ...base.upload, scan } };
    const guarded = await startGateway(
      { upstream: upstream.url, waf: { enabled: true }, routes: [route] },
      { bus: eventsBus() },
    );
    try {
      const reply = await postFiles(guarded.url, injected());
      expect(reply.status).toBe(403);
    } finally {
      await guarded.stop();
    }
    const accepted = events.find((event) => event.type === 'upload.accepted');
    expect(accepted?.details.files).toMatchObject([{ status: 'pending_scan' }]);
    await expectNothingKept(await storedIds());
  }, 90_000);

  it('admitted upload keeps its file', async () => {
    const guarded = await startGuardedGateway();
    try {
      const reply = await postFiles(
        guarded.url,
        multipart([{ name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG }]),
      );
      expect(reply.status).toBe(201);
    } finally {
      await guarded.stop();
    }
    expect(events.some((event) => event.type === 'upload.discarded')).toBe(false);
    expect(await readdir(folders.dir)).toHaveLength(2);
  });

  /** Starts a gateway with the WAF on and the default upload route, publishing to `events`. */
  function startGuardedGateway(): ReturnType<typeof startGateway> {
    return startGateway(
      {
        upstream: upstream.url,
        waf: { enabled: true },
        routes: [uploadRoute(folders, clamd.address)],
      },
      { bus: eventsBus() },
    );
  }

  function postFiles(url: string, body: Buffer): ReturnType<typeof send> {
    return send(url, '/files', {
      method: 'POST',
      headers: { 'content-type': MULTIPART_TYPE },
      body,
    });
  }

  function eventsBus(): EventBus {
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    return bus;
  }

  /** The ids of the files upload.accepted reported, which the rejection must have removed. */
  async function storedIds(): Promise<string[]> {
    const accepted = events.find((event) => event.type === 'upload.accepted');
    expect(accepted).toBeDefined();
    return (accepted!.details.files as Array<{ id: string }>).map((file) => file.id);
  }

  async function expectNothingKept(ids: string[]): Promise<void> {
    expect(ids).toHaveLength(1);
    expect(await readdir(folders.dir)).toEqual([]);
    expect(await readdir(folders.quarantineDir)).toEqual([]);
    const discarded = events.find((event) => event.type === 'upload.discarded');
    expect(discarded?.details.files).toEqual(ids);
    expect(events.find((event) => event.type === 'injection.detected')?.outcome).toBe('blocked');
  }
});
