import { validateConfig } from '../core/config.js';
import { createLogger } from '../core/logger.js';
import { Gateway } from '../gateway/server.js';
import { createDemoApi, listenDemoApi } from './api.js';

/**
 * `npm start`: the demo shop API on a random loopback port, and the gateway in front of it
 * on 127.0.0.1:8080 (or BULWARK_PORT) with embedded defaults: memory state, events in
 * ./data/events.jsonl.
 */
async function main(): Promise<void> {
  const logger = createLogger();
  const api = createDemoApi();
  const upstream = await listenDemoApi(api);
  logger.info({ upstream }, 'demo API started');

  const port = Number(process.env.BULWARK_PORT ?? 8080);
  const config = validateConfig(
    {
      listen: { host: '127.0.0.1', port },
      upstream,
      rateLimits: [
        { name: 'per-ip', key: 'ip', limit: 300, window: '1m', algorithm: 'sliding-window-log' },
      ],
      routes: [
        {
          match: 'POST /login',
          rateLimits: [{ name: 'login', key: 'ip', limit: 5, window: '15m', blockFor: '15m' }],
        },
        {
          match: 'GET /orders',
          rateLimits: [{ name: 'orders', key: 'ip', limit: 100, window: '1m' }],
        },
        {
          match: 'POST /orders',
          rateLimits: [
            {
              name: 'order-writes',
              key: 'ip',
              limit: 20,
              window: '1m',
              algorithm: 'gcra',
              burst: 5,
            },
          ],
        },
      ],
    },
    'demo configuration',
  );
  const gateway = new Gateway(config, { logger });
  let url: string;
  try {
    url = await gateway.listen();
  } catch (error) {
    logger.fatal(
      { err: error },
      `cannot listen on 127.0.0.1:${port}; set BULWARK_PORT to a free port`,
    );
    api.close();
    process.exitCode = 1;
    return;
  }

  console.log(`
Bulwark demo
  gateway   ${url}   (in front of the demo API)
  demo API  ${upstream}
  health    ${url}/_bulwark/health
  metrics   ${url}/_bulwark/metrics
  events    ./data/events.jsonl

Try it: GET /orders is limited to 100 requests per minute per IP, so the last 50 of these get 429:
  for i in $(seq 150); do curl -s -o /dev/null -w '%{http_code}\\n' ${url}/orders; done | sort | uniq -c
  curl -i ${url}/orders
`);

  const stop = (signal: string): void => {
    logger.info({ signal }, 'stopping demo');
    gateway.stop().then(
      () => api.close(() => process.exit(0)),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

void main();
