import { readdir } from 'node:fs/promises';

import express from 'express';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { bulwarkExpress } from '../../src/adapters/express.js';
import { bulwarkFastify } from '../../src/adapters/fastify.js';
import type { AdapterOptions } from '../../src/adapters/options.js';
import { startNodeServer, type RunningServer } from '../adapters/contract.js';
import { send } from '../helpers/http.js';
import { ELF, MULTIPART_TYPE, multipart, PNG } from './fixtures.js';
import { tempFolders, type Folders } from './harness.js';

let folders: Folders;
let server: RunningServer | undefined;

beforeEach(async () => {
  folders = await tempFolders();
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await folders.cleanup();
});

function options(): AdapterOptions {
  return {
    waf: { enabled: true },
    routes: [
      {
        match: 'POST /files',
        upload: {
          types: [{ extension: 'png', mime: 'image/png' }],
          storage: { dir: folders.dir, quarantineDir: folders.quarantineDir },
        },
      },
    ],
  };
}

const harnesses: Array<{ name: string; start(): Promise<RunningServer> }> = [
  {
    name: 'Express',
    async start() {
      const bulwark = bulwarkExpress(options());
      const app = express();
      app.use(bulwark);
      app.use(express.json());
      app.post('/files', (req, res) => {
        res.status(201).json({ seen: req.body as unknown });
      });
      return startNodeServer(app, () => bulwark.close());
    },
  },
  {
    name: 'Fastify',
    async start() {
      const app = Fastify();
      await app.register(bulwarkFastify, options());
      app.post('/files', async (request, reply) => reply.code(201).send({ seen: request.body }));
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      return { url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
    },
  },
];

for (const harness of harnesses) {
  describe(`upload guard in ${harness.name}`, () => {
    it('handler receives the parsed reference', async () => {
      server = await harness.start();
      const reply = await send(server.url, '/files', {
        method: 'POST',
        headers: { 'content-type': MULTIPART_TYPE },
        body: multipart([{ name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG }]),
      });
      expect(reply.status).toBe(201);
      const seen = (JSON.parse(reply.text) as { seen: { files: Array<Record<string, unknown>> } })
        .seen;
      expect(seen.files[0]).toMatchObject({
        name: 'me.png',
        type: 'image/png',
        status: 'accepted',
      });
    });

    it('renamed executable rejected before the handler', async () => {
      server = await harness.start();
      const reply = await send(server.url, '/files', {
        method: 'POST',
        headers: { 'content-type': MULTIPART_TYPE },
        body: multipart([{ name: 'avatar', filename: 'me.png', type: 'image/png', data: ELF }]),
      });
      expect(reply.status).toBe(415);
      expect(JSON.parse(reply.text)).toMatchObject({
        code: 'BWK_ERR_UPLOAD_TYPE',
        reason: 'type_mismatch',
      });
    });

    it('injection rejection leaves no stored file', async () => {
      server = await harness.start();
      const reply = await send(server.url, '/files', {
        method: 'POST',
        headers: { 'content-type': MULTIPART_TYPE },
        body: multipart([
          { name: 'title', value: "x' UNION SELECT password FROM users --" },
          { name: 'avatar', filename: 'me.png', type: 'image/png', data: PNG },
        ]),
      });
      expect(reply.status).toBe(403);
      expect(await readdir(folders.dir)).toEqual([]);
      expect(await readdir(folders.quarantineDir)).toEqual([]);
    });
  });
}
