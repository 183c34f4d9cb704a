import { join, resolve } from 'node:path';

import { validateConfig, type BulwarkConfig } from '../core/config.js';
import { createLogger } from '../core/logger.js';
import { Gateway } from '../gateway/server.js';
import { openCredentialStores } from '../storage/open-credentials.js';
import { createDemoApi, listenDemoApi } from './api.js';
import { demoCredentials, demoSecrets } from './provision.js';
import { writeDemoSchemas } from './schemas.js';

const DATA_DIR = './data';
const DEMO_DIR = join(DATA_DIR, 'demo');

/**
 * `npm start`: the demo shop API on a random loopback port, and the gateway in front of it
 * on 127.0.0.1:8080 (or BULWARK_PORT) with embedded defaults: rate-limit state in memory,
 * credentials in SQLite in ./data, every request in the audit log ./data/audit.db (keys
 * generated in ./data/audit-keys on first start). Orders need an API key or
 * an OAuth access token; the demo creates one of each on its first start.
 */
async function main(): Promise<void> {
  const logger = createLogger();
  const port = Number(process.env.BULWARK_PORT ?? 8080);
  const secrets = demoSecrets(DEMO_DIR);
  process.env.BULWARK_API_KEY_PEPPER = secrets.pepper;
  process.env.BULWARK_ADMIN_TOKEN = secrets.adminToken;

  const api = createDemoApi();
  const upstream = await listenDemoApi(api);
  logger.info({ upstream }, 'demo API started');

  const config = demoConfig(port, upstream);
  const credentials = openCredentialStores({
    dataDir: DATA_DIR,
    pepper: secrets.pepper,
    logger,
  });
  await credentials.ready();
  const demo = await demoCredentials(DEMO_DIR, credentials);

  const gateway = new Gateway(config, { logger, credentials });
  let url: string;
  try {
    url = await gateway.listen();
  } catch (error) {
    logger.fatal(
      { err: error },
      `cannot listen on 127.0.0.1:${port}; set BULWARK_PORT to a free port`,
    );
    api.close();
    await credentials.close();
    process.exitCode = 1;
    return;
  }
  printWelcome(url, upstream, demo.clientId);

  const stop = (signal: string): void => {
    logger.info({ signal }, 'stopping demo');
    gateway
      .stop()
      .then(() => credentials.close())
      .then(
        () => api.close(() => process.exit(0)),
        () => process.exit(1),
      );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

function demoConfig(port: number, upstream: string): BulwarkConfig {
  const anonymous = { methods: ['anonymous'] };
  const schemas = writeDemoSchemas(join(DEMO_DIR, 'schemas'));
  return validateConfig(
    {
      listen: { host: '127.0.0.1', port },
      upstream,
      dataDir: DATA_DIR,
      // Forwarded requests are audited too, so every request leaves a verifiable record.
      audit: { requests: true },
      oauth: { issuer: `http://127.0.0.1:${port}` },
      // Every route needs an API key or an access token unless it says otherwise.
      auth: { methods: ['apiKey', 'oauth'] },
      rateLimits: [
        { name: 'per-ip', key: 'ip', limit: 300, window: '1m', algorithm: 'sliding-window-log' },
      ],
      // Injection detection on every route, at the default paranoia level 1 and threshold 5.
      waf: { enabled: true },
      routes: [
        { match: 'GET /', auth: anonymous },
        {
          match: 'POST /login',
          auth: anonymous,
          validate: { body: schemas.login },
          rateLimits: [{ name: 'login', key: 'ip', limit: 5, window: '15m', blockFor: '15m' }],
        },
        {
          match: 'GET /orders',
          auth: { scopes: { all: ['orders:read'] } },
          rateLimits: [{ name: 'orders', key: 'principal', limit: 100, window: '1m' }],
        },
        {
          match: 'POST /orders',
          auth: { scopes: { all: ['orders:write'] } },
          validate: { body: schemas.order },
          sanitize: { 'body.note': 'basic' },
          // An expression rule over the parsed body, evaluated by Bulwark's own interpreter.
          expressions: {
            deny: [
              {
                when: '$json?.quantity > 100',
                status: 422,
                reason: 'Orders of more than 100 items go through sales.',
              },
            ],
          },
          rateLimits: [
            {
              name: 'order-writes',
              key: 'principal',
              limit: 20,
              window: '1m',
              algorithm: 'gcra',
              burst: 5,
            },
          ],
        },
        {
          // Uploads are checked, stored under ./data/uploads and passed on as a reference.
          // clamd scans them only when BULWARK_CLAMD names it (e.g. tcp://127.0.0.1:3310);
          // while it is unreachable, files wait in ./data/quarantine for a rescan.
          match: 'POST /files',
          auth: { scopes: { all: ['orders:write'] } },
          upload: {
            maxFileSize: '5mb',
            maxFiles: 3,
            maxTotalSize: '16mb',
            types: [
              { extension: 'png', mime: 'image/png' },
              { extension: 'jpg', mime: 'image/jpeg' },
              { extension: 'pdf', mime: 'application/pdf' },
              { extension: 'csv', mime: 'text/csv' },
              { extension: 'svg', mime: 'image/svg+xml' },
              { extension: 'zip', mime: 'application/zip' },
            ],
            ...(process.env.BULWARK_CLAMD
              ? { scan: { clamd: process.env.BULWARK_CLAMD, unavailable: 'quarantine' } }
              : {}),
            storage: {
              dir: resolve(DATA_DIR, 'uploads'),
              quarantineDir: resolve(DATA_DIR, 'quarantine'),
              forward: 'reference',
            },
          },
        },
      ],
    },
    'demo configuration',
  );
}

function printWelcome(url: string, upstream: string, clientId: string): void {
  console.log(`
Bulwark demo
  gateway     ${url}   (in front of the demo API)
  demo API    ${upstream}
  health      ${url}/_bulwark/health
  admin API   ${url}/_bulwark/admin/   (token in ${DEMO_DIR}/admin-token)
  OAuth       ${url}/.well-known/oauth-authorization-server
  credentials ${DATA_DIR}/credentials.db (SQLite); audit log ${DATA_DIR}/audit.db (verify: npx bulwark audit verify)
  uploads     POST /files, stored in ${DATA_DIR}/uploads (docs/uploads.md); up to 3 files, 5 MiB each, 16 MiB in all
  scanning    ${process.env.BULWARK_CLAMD ? `clamd at ${process.env.BULWARK_CLAMD}; while it is unavailable, files wait in ${DATA_DIR}/quarantine` : 'none (set BULWARK_CLAMD to a clamd address)'}

Demo credentials (files for copy and paste; a real deployment never writes them down):
  API key       ${DEMO_DIR}/api-key       scopes orders:read orders:write
  OAuth client  ${clientId}  secret in ${DEMO_DIR}/client.json, scope orders:read

Try it: GET /orders needs a credential with scope orders:read, 100 requests per minute each:
  KEY=$(cat ${DEMO_DIR}/api-key)
  curl -i ${url}/orders                                   # 401
  curl -i ${url}/orders -H "Authorization: Bearer $KEY"   # 200
  for i in $(seq 150); do curl -s -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $KEY" ${url}/orders; done | sort | uniq -c
The README walks through creating, rotating and revoking keys and getting an OAuth token.
`);
}

void main();
