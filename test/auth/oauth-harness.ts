import { randomBytes } from 'node:crypto';

import { decodeJwt, decodeProtectedHeader } from 'jose';

import type { ConfigInput } from '../../src/core/config.js';
import { ManualClock } from '../../src/core/clock.js';
import { EventBus } from '../../src/events/bus.js';
import type { SecurityEvent } from '../../src/events/schema.js';
import type { Gateway } from '../../src/gateway/server.js';
import type { CredentialStores } from '../../src/storage/credentials.js';
import { createMemoryCredentialStores } from '../../src/storage/memory-credentials.js';
import { startGateway } from '../helpers/gateway.js';
import { json, send, type Reply } from '../helpers/http.js';
import { startEchoUpstream } from './tokens.js';
import type { Upstream } from '../helpers/upstream.js';

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** A gateway with an OAuth server on memory stores and a manual clock set to now. */
export interface OAuthGateway {
  gateway: Gateway;
  upstream: Upstream;
  stores: CredentialStores;
  clock: ManualClock;
  pepper: string;
  events: SecurityEvent[];
  stop(): Promise<void>;
}

export interface OAuthGatewayOptions {
  /** Replaces the credential stores, e.g. to share them between two gateways. */
  stores?: CredentialStores;
  clock?: ManualClock;
  pepper?: string;
}

/**
 * Starts an echo upstream and a gateway whose `oauth` section and routes come from `input`.
 * Each call uses its own pepper variable, so parallel test files never share one.
 */
export async function startOAuthGateway(
  input: Partial<ConfigInput>,
  options: OAuthGatewayOptions = {},
): Promise<OAuthGateway> {
  const pepper = options.pepper ?? randomBytes(32).toString('base64');
  const pepperEnv = `BWK_TEST_PEPPER_${randomBytes(6).toString('hex').toUpperCase()}`;
  process.env[pepperEnv] = pepper;
  const clock = options.clock ?? new ManualClock(Date.now());
  const stores = options.stores ?? createMemoryCredentialStores({ pepper, clock });
  const events: SecurityEvent[] = [];
  const bus = new EventBus();
  bus.subscribe((event) => events.push(event));

  const upstream = await startEchoUpstream();
  const { auth, ...rest } = input;
  const gateway = await startGateway(
    {
      upstream: upstream.url,
      oauth: {},
      ...rest,
      auth: { ...auth, apiKeys: { ...auth?.apiKeys, pepperEnv } },
    },
    { credentials: stores, bus, oauthClock: clock },
  );
  return {
    gateway,
    upstream,
    stores,
    clock,
    pepper,
    events,
    stop: async () => {
      await gateway.stop();
      await upstream.close();
      delete process.env[pepperEnv];
    },
  };
}

/** Encodes one credential part, as RFC 6749 section 2.3.1 requires before base64. */
export function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

export function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(secret)}`).toString('base64')}`;
}

/** Posts a form to an OAuth endpoint. */
export function postForm(
  url: string,
  path: string,
  form: Record<string, string> | string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const body = typeof form === 'string' ? form : new URLSearchParams(form).toString();
  return send(url, path, { method: 'POST', headers: { ...FORM, ...headers }, body });
}

/** Requests a token with client_secret_basic and returns the access token. */
export async function fetchToken(
  url: string,
  clientId: string,
  secret: string,
  scope?: string,
): Promise<string> {
  const form: Record<string, string> = { grant_type: 'client_credentials' };
  if (scope !== undefined) form.scope = scope;
  const reply = await postForm(url, '/oauth/token', form, {
    authorization: basic(clientId, secret),
  });
  if (reply.status !== 200) throw new Error(`token request failed: ${reply.status} ${reply.text}`);
  return json(reply).access_token as string;
}

export function decodeToken(token: string) {
  return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
