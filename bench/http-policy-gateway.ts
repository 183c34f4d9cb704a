/**
 * The gateways of bench/http-policy.ts. Modes:
 *   policy   realistic settings: method and path checks, CORS with credentials and patterns,
 *            security headers with HSTS behind a trusted proxy, query parameter rules, size
 *            limits, and JSON-only bodies validated
 *   minimal  the same gateway with the guards that can be switched off switched off; the
 *            size limits and the body guard always run, at their defaults
 * Neither has rate limits or authentication, so the difference is the HTTP policy alone.
 * NOTE: the load sends GET requests without a body, so the body checks only read headers.
 */
import { validateConfig, type ConfigInput } from '../src/core/config.js';
import { Gateway } from '../src/gateway/server.js';

const MODES = ['policy', 'minimal'];

/** The request both gateways and the bare proxy are measured with. */
export const POLICY_REQUEST = {
  // `sort` is sent twice, so the parameters guard rewrites every request's query.
  path: '/orders?page=2&sort=name&sort=date&tag=a&tag=b',
  headers: {
    origin: 'https://shop.example.org',
    'x-forwarded-proto': 'https',
    accept: 'application/json',
  },
};

export async function startHttpPolicyGateway(upstream: string, mode: string): Promise<string> {
  if (!MODES.includes(mode)) throw new Error(`unknown mode "${mode}": use ${MODES.join(', ')}`);
  const base: ConfigInput = {
    listen: { host: '127.0.0.1', port: 0 },
    upstream,
    events: { sink: 'none' },
    logging: { level: 'silent' },
    trustProxy: ['127.0.0.1'],
  };
  const settings: Partial<ConfigInput> = mode === 'policy' ? policySettings() : minimalSettings();
  const gateway = new Gateway(validateConfig({ ...base, ...settings }));
  return gateway.listen();
}

function policySettings(): Partial<ConfigInput> {
  return {
    requestTarget: { duplicateSlashes: 'reject' },
    securityHeaders: {
      contentSecurityPolicy: "frame-ancestors 'none'",
      custom: { 'Permissions-Policy': 'geolocation=()' },
    },
    cors: {
      origins: ['https://app.example.com', 'https://*.example.org', 'http://localhost:*'],
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
      allowHeaders: ['Content-Type', 'Authorization'],
      exposeHeaders: ['X-Total-Count'],
      credentials: true,
      maxAge: '1h',
    },
    parameters: { duplicates: 'reject', rules: { tag: 'array' } },
    limits: { maxUrlLength: 4096, maxHeaderCount: 64, maxHeaderSize: '16kb', maxBodySize: '1mb' },
    body: { contentTypes: ['application/json'], validate: true },
    routes: [
      { match: 'GET /orders', parameters: { rules: { sort: 'last' } } },
      { match: 'GET /orders/:id' },
      { match: 'POST /orders', cors: { rejectDisallowed: true } },
      { match: 'GET /public/*', cors: { origins: '*', credentials: false } },
      { match: 'GET /internal/*', cors: false, securityHeaders: false },
    ],
  };
}

function minimalSettings(): Partial<ConfigInput> {
  return {
    requestTarget: { enabled: false },
    securityHeaders: { enabled: false },
    parameters: { enabled: false },
  };
}
