/**
 * The gateways of bench/auth.ts: one rate limit per IP, and per mode one way to authenticate.
 * Each mode creates its own credential and returns the headers that present it.
 *   none             no authentication
 *   apikey           API keys in SQLite, lookups cached (the default)
 *   apikey-uncached  API keys in SQLite, looked up on every request (auth.cache.ttl 0)
 *   jwt              ES256 JWTs, verified tokens remembered (the default)
 *   jwt-uncached     ES256 JWTs, signature checked on every request (auth.jwt.cacheSize 0)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { exportSPKI, generateKeyPair, SignJWT } from 'jose';

import { validateConfig, type ConfigInput } from '../src/core/config.js';
import { Gateway } from '../src/gateway/server.js';
import { openCredentialStores } from '../src/storage/open-credentials.js';

const ISSUER = 'https://issuer.bench';
const AUDIENCE = 'https://api.bench';
const MODES = ['none', 'apikey', 'apikey-uncached', 'jwt', 'jwt-uncached'];

export interface Announced {
  url: string;
  headers: Record<string, string>;
}

export async function startAuthGateway(upstream: string, mode: string): Promise<Announced> {
  if (!MODES.includes(mode)) throw new Error(`unknown mode "${mode}": use ${MODES.join(', ')}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'bwk-bench-'));
  const base: ConfigInput = {
    listen: { host: '127.0.0.1', port: 0 },
    upstream,
    dataDir,
    events: { sink: 'none' },
    logging: { level: 'silent' },
    rateLimits: [
      { name: 'per-ip', key: 'ip', limit: 100_000_000, window: '1m', algorithm: 'gcra' },
    ],
  };
  const setup = mode.startsWith('apikey')
    ? await apiKeyMode(dataDir, mode === 'apikey-uncached')
    : mode.startsWith('jwt')
      ? await jwtMode(mode === 'jwt-uncached')
      : { auth: undefined, headers: {} };

  const gateway = new Gateway(validateConfig({ ...base, auth: setup.auth }));
  return { url: await gateway.listen(), headers: setup.headers };
}

async function apiKeyMode(dataDir: string, uncached: boolean) {
  const pepperEnv = 'BWK_BENCH_PEPPER';
  process.env[pepperEnv] = randomBytes(32).toString('base64');
  const stores = openCredentialStores({ dataDir, pepper: process.env[pepperEnv] });
  await stores.ready();
  const { key } = await stores.apiKeys.create({ env: 'test', name: 'bench', owner: 'bench' });
  await stores.close();
  return {
    auth: {
      methods: ['apiKey'],
      apiKeys: { pepperEnv },
      cache: uncached ? { ttl: '0ms' } : {},
    },
    headers: { authorization: `Bearer ${key}` },
  };
}

async function jwtMode(uncached: boolean) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const token = await new SignJWT({ scope: 'orders:read' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('bench-user')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  return {
    auth: {
      methods: ['jwt'],
      jwt: {
        cacheSize: uncached ? 0 : 10_000,
        issuers: [
          {
            issuer: ISSUER,
            audience: AUDIENCE,
            algorithms: ['ES256'],
            publicKeys: [{ pem: await exportSPKI(publicKey), alg: 'ES256' }],
          },
        ],
      },
    },
    headers: { authorization: `Bearer ${token}` },
  };
}
