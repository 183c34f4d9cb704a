import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';

import express from 'express';
import Fastify from 'fastify';

import { bulwarkExpress } from '../../src/adapters/express.js';
import { bulwarkFastify } from '../../src/adapters/fastify.js';
import { withBulwark } from '../../src/adapters/node-http.js';
import type { AdapterOptions } from '../../src/adapters/options.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** One request as the upstream or application received it. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The parsed query as the framework hands it to handlers (adapters only). */
  query?: unknown;
}

/** An upstream that records every request and responds 200 with the test's extra headers. */
export interface RecordingUpstream extends Upstream {
  received: Received[];
}

export async function startRecordingUpstream(
  responseHeaders: Record<string, string> = {},
): Promise<RecordingUpstream> {
  const received: Received[] = [];
  const upstream = await startUpstream((req, res) => {
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', ...responseHeaders });
      res.end(JSON.stringify({ url: req.url }));
    });
  });
  return Object.assign(upstream, { received });
}

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends one request exactly as written, so a test can send paths that HTTP clients would
 * normalise or refuse (`..` segments, backslashes, absolute form). `head` is the request
 * line; Host and `Connection: close` are added.
 */
export function sendRaw(
  url: string,
  head: string,
  headers: Record<string, string> = {},
): Promise<RawReply> {
  const { hostname, port } = new URL(url);
  const lines = [head, `Host: ${hostname}:${port}`, 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(parseReply(Buffer.concat(chunks).toString('latin1'))));
  });
}

function parseReply(text: string): RawReply {
  const headEnd = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...headerLines] = text.slice(0, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(headEnd + 4) };
}

export type AdapterKind = 'express' | 'fastify' | 'node-http';
export const ADAPTERS: readonly AdapterKind[] = ['express', 'fastify', 'node-http'];

/** An application behind an adapter that records what its handler receives. */
export interface AdapterApp {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/**
 * Starts an application with the adapter of `kind` on 127.0.0.1. Its handler records the
 * request and the parsed query, sets `X-Frame-Options: SAMEORIGIN` when the request carries
 * `x-app-frame-options`, and responds 200 with JSON.
 */
export async function startAdapterApp(
  kind: AdapterKind,
  options: AdapterOptions,
): Promise<AdapterApp> {
  const received: Received[] = [];
  const record = (req: IncomingMessage, query: unknown) =>
    received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, query });
  const appHeaders = (req: IncomingMessage): Record<string, string> =>
    req.headers['x-app-frame-options'] ? { 'x-frame-options': 'SAMEORIGIN' } : {};

  if (kind === 'fastify') {
    const app = Fastify();
    await app.register(bulwarkFastify, options);
    app.all('/*', async (request, reply) => {
      record(request.raw, { ...(request.query as object) });
      void reply.headers(appHeaders(request.raw));
      return { url: request.url };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, received, close: () => app.close() };
  }

  let listener: Parameters<typeof createServer>[1];
  let release: () => Promise<void>;
  if (kind === 'express') {
    const bulwark = bulwarkExpress(options);
    const app = express();
    app.use(bulwark);
    app.use((req, res) => {
      record(req, { ...req.query });
      res.set(appHeaders(req)).json({ url: req.url });
    });
    listener = app;
    release = () => bulwark.close();
  } else {
    const bulwark = withBulwark((req, res) => {
      record(req, undefined);
      res.writeHead(200, { 'content-type': 'application/json', ...appHeaders(req) });
      res.end(JSON.stringify({ url: req.url }));
    }, options);
    listener = bulwark;
    release = () => bulwark.close();
  }
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await release();
    },
  };
}
