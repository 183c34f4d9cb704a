import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { CliProcess } from '../helpers/cli.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** Resolves 'refused' when nothing accepts connections on the port, else 'accepted'. */
function tryConnect(port: number): Promise<'refused' | 'accepted'> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve('refused');
      else reject(error);
    });
  });
}

/**
 * Returns 'refused' once the port refuses connections. The gateway logs that it is stopping
 * just before it closes its listener, so a few attempts may still land in between.
 */
async function refusedAfterClose(port: number): Promise<'refused' | 'accepted'> {
  let outcome: 'refused' | 'accepted' = 'accepted';
  for (let attempt = 0; attempt < 100 && outcome === 'accepted'; attempt++) {
    outcome = await tryConnect(port);
  }
  return outcome;
}

interface SlowReply {
  status: number;
  body: string;
}

describe('bulwark start shutdown', () => {
  let upstream: Upstream;
  let dir: string;
  let configFile: string;
  let cli: CliProcess | undefined;
  // Set when the upstream receives a slow request; calling `release` lets it respond.
  let arrived: Promise<void>;
  let markArrived: () => void;
  let release: () => void;
  let released: Promise<void>;

  function resetSlowRequest(): void {
    arrived = new Promise((resolve) => (markArrived = resolve));
    released = new Promise((resolve) => (release = resolve));
  }

  beforeAll(async () => {
    resetSlowRequest();
    upstream = await startUpstream((req, res) => {
      req.resume();
      markArrived();
      void released.then(() => res.end('slow done'));
    });
    dir = mkdtempSync(join(tmpdir(), 'bulwark-shutdown-'));
    configFile = join(dir, 'bulwark.yaml');
    writeFileSync(
      configFile,
      [
        'listen: { host: 127.0.0.1, port: 0 }',
        `upstream: ${upstream.url}`,
        'events: { sink: none }',
        'shutdownTimeout: 20s',
        'rateLimits:',
        '  - { name: per-ip, key: ip, limit: 100, window: 1m }',
      ].join('\n'),
    );
  });

  afterEach(async () => {
    release();
    cli?.kill();
    await cli?.exited;
    cli = undefined;
    resetSlowRequest();
  });

  afterAll(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startCli(): Promise<{ url: string; port: number }> {
    cli = new CliProcess(['start', '--config', configFile], dir);
    const started = await cli.waitForLog('gateway started');
    const url = String(started.url);
    return { url, port: Number(new URL(url).port) };
  }

  function slowRequest(url: string, agent: Agent | false): Promise<SlowReply> {
    return new Promise((resolve, reject) => {
      const req = request(`${url}/slow`, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  it.each([
    ['one-shot connection', () => false as const],
    ['keep-alive connection', () => new Agent({ keepAlive: true })],
  ])('SIGTERM drains in-flight request: %s', async (_case, makeAgent) => {
    const { url, port } = await startCli();
    const agent = makeAgent();
    const reply = slowRequest(url, agent);
    await arrived;

    cli!.child.kill('SIGTERM');
    await cli!.waitForLog('gateway stopping: draining in-flight requests');
    expect(await refusedAfterClose(port)).toBe('refused');

    release();
    const { status, body } = await reply;
    expect(status).toBe(200);
    expect(body).toBe('slow done');

    const exit = await cli!.exited;
    if (agent) agent.destroy();
    expect(exit.code).toBe(0);
    expect(cli!.logs().map((line) => line.msg)).toContain('gateway stopped');
    expect(
      cli!.logs().some((line) => line.msg === 'drain timed out; closing remaining connections'),
    ).toBe(false);
  });

  it('SIGTERM when idle exits cleanly', async () => {
    await startCli();
    cli!.child.kill('SIGTERM');
    const exit = await cli!.exited;
    expect(exit.code).toBe(0);
    expect(cli!.logs().map((line) => line.msg)).toContain('gateway stopped');
  });
});
