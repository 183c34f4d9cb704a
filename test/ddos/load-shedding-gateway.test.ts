import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { AUDIENCE, createSigner, ISSUER, sign } from '../auth/tokens.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import { startHeldUpstream, type HeldUpstream } from './held-upstream.js';
import { waitFor } from './wait.js';

let upstream: HeldUpstream;
let gateway: Gateway;
let token: string;
const events: SecurityEvent[] = [];

beforeAll(async () => {
  const signer = await createSigner('ES256', 'k1');
  token = await sign(signer, { sub: 'alice' }, { expiresIn: 600 });
  upstream = await startHeldUpstream();
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));
  gateway = await startGateway(
    {
      upstream: upstream.url,
      auth: {
        methods: ['jwt', 'anonymous'],
        jwt: {
          issuers: [
            {
              issuer: ISSUER,
              audience: AUDIENCE,
              algorithms: ['ES256'],
              publicKeys: [{ pem: signer.publicPem, alg: 'ES256' }],
            },
          ],
        },
      },
      // A fixed limit of 2 (minimum = maximum), so the test decides when the gateway is full.
      loadShedding: {
        initialLimit: 2,
        minLimit: 2,
        maxLimit: 2,
        queue: { size: 2, timeout: '5s' },
        retryAfter: '2s',
        reportInterval: '200ms',
      },
      routes: [
        { match: 'GET /health', loadShedding: { priority: 'critical' } },
        { match: 'GET /held/short-queue', loadShedding: { priority: 'anonymous' } },
      ],
    },
    { bus },
  );
});

afterAll(async () => {
  upstream.releaseAll();
  await gateway.stop();
  await upstream.close();
});

afterEach(async () => {
  // Releasing lets queued requests in, and the upstream keeps each of them in turn.
  await waitFor(() => {
    upstream.releaseAll();
    return gateway.protection.loadShedder!.stats().inFlight === 0;
  });
  upstream.arrivals.length = 0;
  events.length = 0;
});

function request(path: string, who: string, authenticated = false): Promise<Reply> {
  const headers: Record<string, string> = { 'x-who': who };
  if (authenticated) headers.authorization = `Bearer ${token}`;
  return send(gateway.url, path, { headers });
}

/** Fills both slots with requests the upstream holds. */
async function fill(): Promise<Promise<Reply>[]> {
  const running = [request('/held/1', 'slot-1'), request('/held/2', 'slot-2')];
  await upstream.waitForHeld(2);
  return running;
}

function queued(): number {
  return gateway.protection.loadShedder!.stats().queued;
}

describe('load shedding in the gateway', () => {
  it('sheds with 503 problem and Retry-After when the queue is full', async () => {
    const running = await fill();
    const waiting = [request('/held/3', 'queued-1'), request('/held/4', 'queued-2')];
    await waitFor(() => queued() === 2);

    const shed = await request('/held/5', 'shed');

    expect(shed.status).toBe(503);
    expect(shed.headers['retry-after']).toBe('2');
    expect(shed.headers['content-type']).toBe('application/problem+json');
    expect(json(shed).code).toBe('BWK_ERR_OVERLOADED');
    expect(upstream.arrivals).not.toContain('shed');

    upstream.releaseAll();
    await upstream.waitForHeld(2);
    upstream.releaseAll();
    const replies = await Promise.all([...running, ...waiting]);
    expect(replies.map((reply) => reply.status)).toEqual([200, 200, 200, 200]);
  });

  it('admits authenticated requests before anonymous ones', async () => {
    const running = await fill();
    const anonymous = request('/held/a', 'anonymous');
    await waitFor(() => queued() === 1);
    const authenticated = request('/held/u', 'authenticated', true);
    await waitFor(() => queued() === 2);

    upstream.releaseOne();
    await waitFor(() => upstream.arrivals.length === 3);
    expect(upstream.arrivals[2]).toBe('authenticated');

    upstream.releaseAll();
    await waitFor(() => upstream.arrivals.length === 4);
    expect(upstream.arrivals[3]).toBe('anonymous');
    upstream.releaseAll();
    await Promise.all([...running, anonymous, authenticated]);
  });

  it('lets an authenticated request displace a waiting anonymous one', async () => {
    const running = await fill();
    const anonymous = [request('/held/a1', 'anonymous-1'), request('/held/a2', 'anonymous-2')];
    await waitFor(() => queued() === 2);

    const authenticated = request('/held/u', 'authenticated', true);
    const displaced = await anonymous[1]!;

    expect(displaced.status).toBe(503);
    expect(json(displaced).code).toBe('BWK_ERR_OVERLOADED');
    expect(queued()).toBe(2);
    upstream.releaseAll();
    await upstream.waitForHeld(2);
    upstream.releaseAll();
    await Promise.all([...running, anonymous[0], authenticated]);
    expect(upstream.arrivals).not.toContain('anonymous-2');
  });

  it('sheds an anonymous request when the queue is full of authenticated ones', async () => {
    const running = await fill();
    const waiting = [request('/held/u1', 'user-1', true), request('/held/u2', 'user-2', true)];
    await waitFor(() => queued() === 2);

    const anonymous = await request('/held/a', 'anonymous');

    expect(anonymous.status).toBe(503);
    upstream.releaseAll();
    await upstream.waitForHeld(2);
    upstream.releaseAll();
    await Promise.all([...running, ...waiting]);
  });

  it('serves a critical route while every slot is taken', async () => {
    const running = await fill();
    const waiting = [request('/held/3', 'q1'), request('/held/4', 'q2')];
    await waitFor(() => queued() === 2);

    const health = await request('/health', 'health-check');

    expect(health.status).toBe(200);
    upstream.releaseAll();
    await upstream.waitForHeld(2);
    upstream.releaseAll();
    await Promise.all([...running, ...waiting]);
  });

  it('frees the queue slot of a client that disconnects', async () => {
    const running = await fill();
    const controller = new AbortController();
    const leaving = fetch(`${gateway.url}/held/leaving`, { signal: controller.signal }).catch(
      () => undefined,
    );
    await waitFor(() => queued() === 1);

    controller.abort();
    await leaving;

    await waitFor(() => queued() === 0);
    upstream.releaseAll();
    await Promise.all(running);
    expect(upstream.arrivals).not.toContain('leaving');
  });

  it('reports sheds as one event per interval', async () => {
    // Sheds of earlier tests are reported at the end of their interval.
    await new Promise((resolve) => setTimeout(resolve, 300));
    events.length = 0;
    const running = await fill();
    const waiting = [request('/held/3', 'q1'), request('/held/4', 'q2')];
    await waitFor(() => queued() === 2);

    const shed = await Promise.all([1, 2, 3].map((n) => request(`/held/x${n}`, `shed-${n}`)));
    expect(shed.map((reply) => reply.status)).toEqual([503, 503, 503]);
    await waitFor(() => events.some((event) => event.type === 'ddos.shed'));

    const reports = events.filter((event) => event.type === 'ddos.shed');
    expect(reports).toHaveLength(1);
    expect(reports[0]!.outcome).toBe('blocked');
    expect(reports[0]!.details.shed).toBe(3);
    expect(reports[0]!.details.priorities).toMatchObject({ anonymous: 3 });
    upstream.releaseAll();
    await upstream.waitForHeld(2);
    upstream.releaseAll();
    await Promise.all([...running, ...waiting]);
  });

  it('exposes limit, queue and shed counts as metrics', async () => {
    const running = await fill();
    const waiting = [request('/held/3', 'q1'), request('/held/4', 'q2')];
    await waitFor(() => queued() === 2);
    await request('/held/5', 'shed');

    const metrics = await send(gateway.url, '/_bulwark/metrics');

    expect(metrics.text).toMatch(/^bulwark_load_shedding_limit 2$/m);
    expect(metrics.text).toMatch(/^bulwark_load_shedding_queue_length 2$/m);
    expect(metrics.text).toMatch(/^bulwark_load_shedding_in_flight 2$/m);
    expect(metrics.text).toMatch(
      /^bulwark_load_shedding_shed_total\{priority="anonymous",reason="queue_full"\} [1-9]\d*$/m,
    );
    upstream.releaseAll();
    await upstream.waitForHeld(2);
    upstream.releaseAll();
    await Promise.all([...running, ...waiting]);
  });
});
