import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateApiKey } from '../../src/auth/api-key-format.js';
import { ApiKeyGuard } from '../../src/auth/api-key-guard.js';
import { validatePolicy } from '../../src/core/config.js';
import { createContext } from '../../src/core/context.js';
import type { Reject } from '../../src/core/guard.js';
import { createLogger, type Logger } from '../../src/core/logger.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import { compilePolicy } from '../../src/runtime/policy.js';
import type { CredentialStores } from '../../src/storage/credentials.js';
import { createPostgresCredentialStores } from '../../src/storage/postgres-credentials.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send } from '../helpers/http.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { unusedPort, type Upstream } from '../helpers/upstream.js';
import { startEchoUpstream } from './tokens.js';

// A variable of this file's own, so that parallel test files never share a pepper.
const PEPPER_ENV = `BWK_TEST_PEPPER_${randomBytes(6).toString('hex').toUpperCase()}`;
const PEPPER = randomBytes(32).toString('base64');

function capturingLogger(): { lines: Record<string, unknown>[]; logger: Logger } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { lines, logger };
}

function expectStoreUnavailable(status: number, headers: Record<string, unknown>, body: unknown) {
  expect(status).toBe(503);
  expect(headers['retry-after']).toBe('5');
  expect(body).toMatchObject({
    status: 503,
    code: 'BWK_ERR_AUTH_STORE_UNAVAILABLE',
    type: 'urn:bulwark:problem:auth-store-unavailable',
  });
}

describe('gateway with postgres credentials', () => {
  let database: TestDatabase;
  let cli: CredentialStores;
  let upstream: Upstream;
  let gateway: Gateway;
  const events: SecurityEvent[] = [];
  const { lines, logger } = capturingLogger();

  beforeAll(async () => {
    process.env[PEPPER_ENV] = PEPPER;
    database = await createTestDatabase();
    // A second store instance on the same database, as the CLI or another gateway would be.
    cli = createPostgresCredentialStores({ url: database.url, pepper: PEPPER });
    upstream = await startEchoUpstream();
    const bus = new EventBus();
    bus.subscribe((event) => events.push(event));
    gateway = await startGateway(
      {
        upstream: upstream.url,
        storage: { postgres: database.url },
        auth: { methods: ['apiKey'], apiKeys: { pepperEnv: PEPPER_ENV } },
      },
      { bus, logger },
    );
  });

  afterAll(async () => {
    await gateway.stop();
    await cli.close();
    await upstream.close();
    await database.drop();
    delete process.env[PEPPER_ENV];
  });

  it('key created elsewhere is accepted', async () => {
    const { key, record } = await cli.apiKeys.create({ env: 'test', name: 'n', owner: 'o' });

    const reply = await send(gateway.url, '/orders', { headers: { 'x-api-key': key } });

    expect(reply.status).toBe(200);
    expect(json(reply)['x-auth-subject']).toBe(record.id);
    expect(
      lines.some((line) => line.msg === 'opening credential store' && line.backend === 'postgres'),
    ).toBe(true);
  });

  it('key revoked elsewhere is rejected', async () => {
    const { key, record } = await cli.apiKeys.create({ env: 'test', name: 'n', owner: 'o' });
    await cli.apiKeys.revoke(record.id);

    const reply = await send(gateway.url, '/orders', { headers: { 'x-api-key': key } });

    expect(reply.status).toBe(401);
    expect(json(reply).reason).toBe('revoked');
  });

  // Runs last: it drops the database.
  it('store outage answers 503', async () => {
    const { key } = await cli.apiKeys.create({ env: 'test', name: 'n', owner: 'o' });
    await database.drop();
    const before = events.length;

    const reply = await send(gateway.url, '/orders', { headers: { 'x-api-key': key } });

    expectStoreUnavailable(reply.status, reply.headers, json(reply));
    expect(reply.headers['content-type']).toBe('application/problem+json');
    const event = events.slice(before).find((item) => item.type === 'auth.failure');
    expect(event?.details.reason).toBe('store_unavailable');
    expect(JSON.stringify(events.slice(before))).not.toContain(key.slice(9));
    const logged = lines.find(
      (line) => line.msg === 'API key lookup failed: credential store unavailable',
    );
    expect(logged?.correlationId).toBe(reply.headers['x-request-id']);
    expect(logged?.requestId).toBeDefined();
    expect(JSON.stringify(logged)).not.toContain(key.slice(9));
  });
});

describe('api key guard with an unreachable store', () => {
  it('lookup failure is a 503', async () => {
    const port = await unusedPort();
    const store = createPostgresCredentialStores({
      url: `postgres://postgres@127.0.0.1:${port}/bulwark`,
      pepper: PEPPER,
    });
    const { lines, logger } = capturingLogger();
    const guard = new ApiKeyGuard({
      store: store.apiKeys,
      pepper: PEPPER,
      logger,
      fallback: compilePolicy(validatePolicy({ auth: { methods: ['apiKey'] } })).defaultAuth,
    });
    // Well-formed, so the lookup is the first check that can fail.
    const key = generateApiKey('test').secret;

    try {
      const verdict = (await guard.check(
        createContext({
          id: 'req-503',
          correlationId: 'corr-503',
          method: 'GET',
          url: '/orders',
          headers: { authorization: `Bearer ${key}` },
          ip: '127.0.0.1',
          remoteAddress: '127.0.0.1',
          receivedAt: 0,
        }),
      )) as Reject;

      expect(verdict.action).toBe('reject');
      expectStoreUnavailable(verdict.status, verdict.headers, verdict.problem);
      expect(verdict.event).toMatchObject({
        type: 'auth.failure',
        category: 'authentication',
        details: { reason: 'store_unavailable', method: 'apiKey' },
      });
      expect(lines[0]).toMatchObject({
        level: 50,
        requestId: 'req-503',
        correlationId: 'corr-503',
        err: { type: 'StoreUnavailableError' },
      });
    } finally {
      await guard.close();
      await store.close();
    }
  });
});
