import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ManualClock } from '../../src/core/clock.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import { MemoryStore } from '../../src/ratelimit/memory-store.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';

const MINUTE = 60_000;

function readEvents(file: string): SecurityEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as SecurityEvent);
}

/** Sends `total` requests over `concurrency` keep-alive connections; returns every reply. */
async function burst(url: string, path: string, total: number, concurrency: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const replies: Reply[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next += 1;
      replies.push(await send(url, path, { agent }));
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return replies;
}

describe('gateway rate limiting', () => {
  let upstream: Upstream;
  let dir: string;

  beforeAll(async () => {
    upstream = await startUpstream(okHandler);
    dir = mkdtempSync(join(tmpdir(), 'bulwark-ratelimit-'));
  });

  afterAll(async () => {
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('150 requests admit exactly 100', async () => {
    const gateway = await startGateway({
      upstream: upstream.url,
      routes: [
        {
          match: 'GET /orders',
          rateLimits: [{ name: 'orders', key: 'ip', limit: 100, window: '1m' }],
        },
      ],
    });
    try {
      const replies = await burst(gateway.url, '/orders', 150, 10);
      const rejected = replies.filter((reply) => reply.status === 429);
      expect(replies.filter((reply) => reply.status === 200)).toHaveLength(100);
      expect(rejected).toHaveLength(50);

      for (const reply of rejected) {
        expect(reply.headers['content-type']).toBe('application/problem+json');
        expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(Number(reply.headers['retry-after'])).toBeLessThanOrEqual(60);
        expect(reply.headers['ratelimit-policy']).toBe('"orders";q=100;w=60');
        expect(reply.headers['ratelimit']).toMatch(/^"orders";r=0;t=\d+$/);
        const body = json(reply);
        expect(body.code).toBe('BWK_ERR_RATE_LIMITED');
        expect(body.status).toBe(429);
      }
    } finally {
      await gateway.stop();
    }
  });

  it('login blockFor outlasts the window', async () => {
    const clock = new ManualClock(Date.parse('2025-01-01T00:00:00Z'));
    const events = join(dir, 'login-events.jsonl');
    const gateway = await startGateway(
      {
        upstream: upstream.url,
        events: { sink: 'file', file: events },
        routes: [
          {
            match: 'POST /login',
            rateLimits: [{ name: 'login', key: 'ip', limit: 5, window: '15m', blockFor: '15m' }],
          },
        ],
      },
      { store: new MemoryStore({ clock }) },
    );
    const login = () => send(gateway.url, '/login', { method: 'POST' });
    try {
      for (let i = 0; i < 5; i++) expect((await login()).status).toBe(200);

      clock.advance(10 * MINUTE);
      const first = await login();
      expect(first.status).toBe(429);
      expect(first.headers['retry-after']).toBe('900');

      // At 16 minutes the five logins have left the window, so only the block rejects.
      clock.advance(6 * MINUTE);
      const blocked = await login();
      expect(blocked.status).toBe(429);
      expect(blocked.headers['retry-after']).toBe('540');

      clock.advance(9 * MINUTE + 1_000);
      expect((await login()).status).toBe(200);
    } finally {
      await gateway.stop();
    }

    const exceeded = readEvents(events).filter((event) => event.type === 'ratelimit.exceeded');
    expect(exceeded.map((event) => event.outcome)).toEqual(['blocked', 'blocked']);
    expect(exceeded.map((event) => event.details.blocked)).toEqual([false, true]);
    expect(exceeded[0]!.target.route).toBe('POST /login');
  });

  it('report-only route passes and records would_block', async () => {
    const events = join(dir, 'report-events.jsonl');
    const gateway = await startGateway({
      upstream: upstream.url,
      events: { sink: 'file', file: events },
      routes: [
        {
          match: 'GET /reports',
          reportOnly: true,
          rateLimits: [{ name: 'reports', key: 'ip', limit: 2, window: '1m' }],
        },
      ],
    });
    try {
      for (let i = 0; i < 5; i++) {
        const reply = await send(gateway.url, '/reports');
        expect(reply.status).toBe(200);
        expect(json(reply).ok).toBe(true);
      }
    } finally {
      await gateway.stop();
    }

    const recorded = readEvents(events);
    expect(recorded).toHaveLength(3);
    for (const event of recorded) {
      expect(event.type).toBe('ratelimit.exceeded');
      expect(event.outcome).toBe('would_block');
      expect(event.target.route).toBe('GET /reports');
      expect(event.actor.ip).toBe('127.0.0.1');
    }
  });
});
