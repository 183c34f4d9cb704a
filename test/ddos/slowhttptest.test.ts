import { spawn, spawnSync } from 'node:child_process';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';
import { fetchFrom } from './sockets.js';

/**
 * Slow-client attacks played by slowhttptest (Debian package `slowhttptest`, installed by
 * scripts/setup-test-tools.sh) against a gateway on 127.0.0.1. The attacker connects from
 * 127.0.0.1, the legitimate client from 127.0.0.2.
 */
const installed = spawnSync('slowhttptest', ['-h'], { stdio: 'ignore' }).error === undefined;

let upstream: Upstream;
let gateway: Gateway;

beforeAll(async () => {
  if (!installed) {
    throw new Error('slowhttptest is not installed: run scripts/setup-test-tools.sh as root');
  }
  upstream = await startUpstream(okHandler);
  gateway = await startGateway({
    upstream: upstream.url,
    connections: {
      perIp: { maxConcurrent: 20, maxNewPerSecond: 1_000, allow: [] },
      headersTimeout: '1s',
      requestTimeout: '2s',
    },
  });
});

afterAll(async () => {
  await gateway?.stop();
  await upstream?.close();
});

/**
 * Runs slowhttptest with `args` for at most `seconds` (it stops by itself once the server
 * has closed all its connections), while a legitimate client sends a request every 50 ms.
 * Resolves with the legitimate client's statuses.
 */
async function attack(args: string[], seconds: number): Promise<number[]> {
  const child = spawn(
    'slowhttptest',
    [...args, '-l', String(seconds), '-p', '2', '-i', '1', '-x', '10'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killer = setTimeout(() => child.kill('SIGKILL'), (seconds + 10) * 1000);

  const statuses: number[] = [];
  let running = true;
  void exited.then(() => (running = false));
  // Give the attack a head start, so the legitimate requests meet its connections.
  await new Promise((resolve) => setTimeout(resolve, 300));
  while (running) {
    const reply = await fetchFrom(gateway.url, '/orders', '127.0.0.2').catch(() => ({
      status: 0,
    }));
    statuses.push(reply.status);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  clearTimeout(killer);
  return statuses;
}

async function metric(name: string, reason: string): Promise<number> {
  const { text } = await fetchFrom(gateway.url, '/_bulwark/metrics', '127.0.0.2');
  const match = new RegExp(`^${name}\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}

describe('slowhttptest attacks', () => {
  it('slowloris: legitimate requests succeed and slow headers are cut', async () => {
    const statuses = await attack(['-H', '-c', '60', '-r', '60', '-u', `${gateway.url}/orders`], 4);

    expect(statuses.length).toBeGreaterThanOrEqual(5);
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(await metric('bulwark_connections_closed_total', 'headers_timeout')).toBeGreaterThan(0);
    // 60 connections from one address against a limit of 20.
    expect(await metric('bulwark_connections_rejected_total', 'concurrent')).toBeGreaterThan(0);
  });

  it('slow body: legitimate requests succeed and slow bodies are cut', async () => {
    const statuses = await attack(
      ['-B', '-c', '15', '-r', '15', '-s', '100000', '-u', `${gateway.url}/upload`],
      5,
    );

    expect(statuses.length).toBeGreaterThanOrEqual(5);
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(await metric('bulwark_connections_closed_total', 'request_timeout')).toBeGreaterThan(0);
  });
});
