import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { withBulwark } from '../../src/adapters/node-http.js';
import { CidrList, resolveCdnClientIp } from '../../src/core/ip.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startNodeServer, type RunningServer } from '../adapters/contract.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';

/** One of the published Cloudflare ranges, as an example of edges that are not this host. */
const CLOUDFLARE_RANGE = '173.245.48.0/20';
const CLIENT = '198.51.100.7';

describe('CDN client header resolution', () => {
  const cdn = { header: 'cf-connecting-ip', ranges: new CidrList([CLOUDFLARE_RANGE]) };

  it('header believed only from listed edges', () => {
    expect(resolveCdnClientIp('173.245.48.1', CLIENT, cdn)).toBe(CLIENT);
    expect(resolveCdnClientIp('192.0.2.1', CLIENT, cdn)).toBe('192.0.2.1');
  });

  it('missing, repeated or invalid header ignored', () => {
    expect(resolveCdnClientIp('173.245.48.1', undefined, cdn)).toBe('173.245.48.1');
    expect(resolveCdnClientIp('173.245.48.1', [CLIENT, CLIENT], cdn)).toBe('173.245.48.1');
    expect(resolveCdnClientIp('173.245.48.1', `${CLIENT}, 192.0.2.9`, cdn)).toBe('173.245.48.1');
    expect(resolveCdnClientIp('173.245.48.1', 'unknown', cdn)).toBe('173.245.48.1');
    expect(resolveCdnClientIp('173.245.48.1', '::ffff:198.51.100.7', cdn)).toBe(CLIENT);
  });
});

/** A deny list naming the client shows which address the guards took as the client. */
const denyClient = { ipLists: { deny: [CLIENT] } };

describe('CDN mode through the gateway', () => {
  let upstream: Upstream;
  let gateway: Gateway | undefined;

  beforeAll(async () => {
    upstream = await startUpstream(okHandler);
  });

  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
  });

  afterAll(async () => {
    await upstream.close();
  });

  async function status(headers: Record<string, string>): Promise<number> {
    return (await send(gateway!.url, '/', { headers })).status;
  }

  it('header trusted from a listed peer', async () => {
    gateway = await startGateway({
      upstream: upstream.url,
      cdn: { ranges: ['127.0.0.1/32'] },
      ...denyClient,
    });

    expect(await status({ 'cf-connecting-ip': CLIENT })).toBe(403);
    expect(await status({ 'CF-Connecting-IP': '192.0.2.1' })).toBe(200);
    expect(await status({})).toBe(200);
  });

  it('header ignored from an unlisted peer', async () => {
    gateway = await startGateway({
      upstream: upstream.url,
      cdn: { ranges: [CLOUDFLARE_RANGE] },
      ...denyClient,
    });

    expect(await status({ 'cf-connecting-ip': CLIENT })).toBe(200);
  });

  it('edge behind a trusted proxy', async () => {
    gateway = await startGateway({
      upstream: upstream.url,
      trustProxy: ['127.0.0.1/32'],
      cdn: { ranges: [CLOUDFLARE_RANGE] },
      ...denyClient,
    });

    const viaEdge = { 'x-forwarded-for': '173.245.48.9', 'cf-connecting-ip': CLIENT };
    const viaOther = { 'x-forwarded-for': '192.0.2.1', 'cf-connecting-ip': CLIENT };
    expect(await status(viaEdge)).toBe(403);
    expect(await status(viaOther)).toBe(200);
  });

  it('configured header name used', async () => {
    gateway = await startGateway({
      upstream: upstream.url,
      cdn: { header: 'True-Client-IP', ranges: ['127.0.0.1/32'] },
      ...denyClient,
    });

    expect(await status({ 'true-client-ip': CLIENT })).toBe(403);
    expect(await status({ 'cf-connecting-ip': CLIENT })).toBe(200);
  });
});

describe('CDN mode through node:http adapter', () => {
  let server: RunningServer | undefined;

  afterEach(async () => {
    await server?.close();
  });

  it('header trusted from a listed peer only', async () => {
    const listed = withBulwark((_req, res) => res.end('ok'), {
      cdn: { ranges: ['127.0.0.1/32'] },
      ...denyClient,
    });
    server = await startNodeServer(listed, () => listed.close());
    const reply = await send(server.url, '/', { headers: { 'cf-connecting-ip': CLIENT } });
    expect(reply.status).toBe(403);
    await server.close();

    const unlisted = withBulwark((_req, res) => res.end('ok'), {
      cdn: { ranges: [CLOUDFLARE_RANGE] },
      ...denyClient,
    });
    server = await startNodeServer(unlisted, () => unlisted.close());
    const ignored = await send(server.url, '/', { headers: { 'cf-connecting-ip': CLIENT } });
    expect(ignored.status).toBe(200);
  });
});
