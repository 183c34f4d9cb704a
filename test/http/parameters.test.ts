import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { PolicyInput } from '../../src/core/config.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import {
  ADAPTERS,
  startAdapterApp,
  startRecordingUpstream,
  type AdapterApp,
  type RecordingUpstream,
} from './hardening-harness.js';

/** Twenty distinct parameters, more than are compared pairwise. */
const LONG_QUERY = Array.from({ length: 20 }, (_, index) => `p${index}=${index}`).join('&');

const policy: PolicyInput = {
  parameters: { duplicates: 'reject', rules: { tag: 'array', sort: 'last', page: 'first' } },
  routes: [{ match: 'GET /search', parameters: { duplicates: 'first', rules: { tag: 'reject' } } }],
};

describe('gateway parameter pollution', () => {
  let upstream: RecordingUpstream;
  let gateway: Gateway;
  const events: SecurityEvent[] = [];

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway({ upstream: upstream.url, ...policy }, { bus });
  });

  afterAll(async () => {
    await gateway.stop();
    await upstream.close();
  });

  async function forwarded(path: string): Promise<string | undefined> {
    const before = upstream.received.length;
    const reply = await send(gateway.url, path);
    expect(reply.status, reply.text).toBe(200);
    return upstream.received.length > before ? upstream.received.at(-1)?.url : undefined;
  }

  it.each([
    ['single parameters untouched', '/o?q=a%20b&x=%2F&y', '/o?q=a%20b&x=%2F&y'],
    ['array rule keeps every value', '/o?tag=a&tag=b&x=1', '/o?tag=a&tag=b&x=1'],
    ['last rule keeps the last', '/o?sort=name&x=1&sort=date', '/o?x=1&sort=date'],
    ['first rule keeps the first', '/o?page=1&page=2', '/o?page=1'],
    ['encoded name repeats', '/o?page=1&%70age=2', '/o?page=1'],
    ['empty pairs dropped on rewrite', '/o?page=1&&page=2&', '/o?page=1'],
    ['route default first', '/search?q=a&q=b&x=1', '/search?q=a&x=1'],
    ['long query without repeats', `/o?${LONG_QUERY}`, `/o?${LONG_QUERY}`],
  ])('%s', async (_title, path, expected) => {
    expect(await forwarded(path)).toBe(expected);
  });

  it.each([
    ['plain repeat', '/o?role=user&role=admin', 'role'],
    ['encoded repeat', '/o?role=user&%72ole=admin', 'role'],
    ['plus as space', '/o?a+b=1&a%20b=2', 'a b'],
    ['bracket name', '/o?ids[]=1&ids[]=2', 'ids[]'],
    ['route rule over global', '/search?tag=a&tag=b', 'tag'],
    ['empty name', '/o?=1&=2', ''],
    ['repeat in a long query', `/o?${LONG_QUERY}&p3=again`, 'p3'],
  ])('%s rejected', async (_title, path, name) => {
    const before = upstream.received.length;
    const reply = await send(gateway.url, path);
    const body = json(reply);

    expect(reply.status).toBe(400);
    expect(body.code).toBe('BWK_ERR_PARAMETER_REPEATED');
    expect(upstream.received.length).toBe(before);
    if (/^[\w.[\]-]+$/.test(name)) expect(body.parameter).toBe(name);
    else expect(body.parameter).toBeUndefined();
  });

  it('odd parameter name not echoed', async () => {
    const reply = await send(gateway.url, '/o?%3Cscript%3E=1&%3Cscript%3E=2');
    const body = json(reply);

    expect(reply.status).toBe(400);
    expect(body.parameter).toBeUndefined();
    expect(reply.text).not.toContain('script');
  });

  it('rejection publishes event', async () => {
    events.length = 0;
    await send(gateway.url, '/o?role=user&role=admin');

    expect(events.map((event) => [event.type, event.details])).toEqual([
      ['http.parameter_repeated', { parameter: 'role', count: 2, in: 'query' }],
    ]);
  });
});

describe('parameter pollution report-only', () => {
  it('repeat forwarded unchanged', async () => {
    const upstream = await startRecordingUpstream();
    const events: SecurityEvent[] = [];
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    const gateway = await startGateway(
      { upstream: upstream.url, parameters: { duplicates: 'reject', reportOnly: true } },
      { bus },
    );
    try {
      const reply = await send(gateway.url, '/o?a=1&a=2');

      expect(reply.status).toBe(200);
      expect(upstream.received.at(-1)?.url).toBe('/o?a=1&a=2');
      expect(events.map((event) => event.outcome)).toEqual(['would_block']);
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });
});

describe.each(ADAPTERS)('%s adapter parameter pollution', (kind) => {
  let app: AdapterApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('application sees one value', async () => {
    app = await startAdapterApp(kind, policy);
    const collapsed = await send(app.url, '/o?sort=name&x=1&sort=date&tag=a&tag=b');
    const rejected = await send(app.url, '/o?role=user&role=admin');

    expect(collapsed.status).toBe(200);
    expect(rejected.status).toBe(400);
    expect(app.received).toHaveLength(1);
    expect(app.received[0]?.url).toBe('/o?x=1&sort=date&tag=a&tag=b');
    if (kind !== 'node-http') {
      expect(app.received[0]?.query).toEqual({ x: '1', sort: 'date', tag: ['a', 'b'] });
    }
  });
});

describe('parameter pollution default', () => {
  it('repeats pass through as a list unless a rule names them', async () => {
    const upstream = await startRecordingUpstream();
    const gateway = await startGateway({
      upstream: upstream.url,
      parameters: { rules: { role: 'reject' } },
    });
    try {
      expect((await send(gateway.url, '/o?tag=a&tag=b')).status).toBe(200);
      expect(upstream.received.at(-1)?.url).toBe('/o?tag=a&tag=b');
      expect((await send(gateway.url, '/o?role=user&role=admin')).status).toBe(400);
    } finally {
      await gateway.stop();
      await upstream.close();
    }
  });
});
