import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Gateway } from '../../src/gateway/server.js';
import { contentDigest } from '../../src/http/content-digest.js';
import { runCli } from '../helpers/cli.js';
import { startGateway } from '../helpers/gateway.js';
import { send } from '../helpers/http.js';
import { okHandler, startUpstream, type Upstream } from '../helpers/upstream.js';
import { uniqueEnvName } from '../http/signed-requests.js';

const SECRET_ENV = uniqueEnvName('BWK_TEST_SIGN');
const SECRET = randomBytes(32).toString('base64');
const pair = generateKeyPairSync('ed25519');

let dir: string;
let keyFile: string;
let upstream: Upstream;
let gateway: Gateway;

beforeAll(async () => {
  // runCli passes this process's environment to the child.
  process.env[SECRET_ENV] = SECRET;
  dir = mkdtempSync(join(tmpdir(), 'bwk-sign-'));
  keyFile = join(dir, 'partner.key');
  writeFileSync(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  upstream = await startUpstream(okHandler);
  gateway = await startGateway({
    upstream: upstream.url,
    signatures: {
      required: true,
      keys: [
        { id: 'k1', algorithm: 'hmac-sha256', secretEnv: SECRET_ENV },
        {
          id: 'partner',
          algorithm: 'ed25519',
          publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        },
      ],
    },
  });
});

afterAll(async () => {
  await gateway.stop();
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
  delete process.env[SECRET_ENV];
});

/** Parses `Name: value` lines into a header object. */
function headersOf(stdout: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of stdout.trim().split('\n')) {
    const colon = line.indexOf(': ');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 2);
  }
  return headers;
}

describe('bulwark sign', () => {
  it('prints fields that the gateway accepts', async () => {
    const url = `${gateway.url}/orders?page=1`;
    const result = await runCli([
      'sign',
      '--key-id',
      'k1',
      '--hmac-secret-env',
      SECRET_ENV,
      '--url',
      url,
    ]);
    expect(result.code).toBe(0);
    const headers = headersOf(result.stdout);
    expect(Object.keys(headers)).toEqual(['signature-input', 'signature']);

    const reply = await send(gateway.url, '/orders?page=1', { headers });
    expect(reply.status).toBe(200);
  });

  it('signs with an Ed25519 key file', async () => {
    const url = `${gateway.url}/feed`;
    const result = await runCli([
      'sign',
      '--key-id',
      'partner',
      '--ed25519-key',
      keyFile,
      '--url',
      url,
      '-X',
      'DELETE',
    ]);
    expect(result.code).toBe(0);
    const reply = await send(gateway.url, '/feed', {
      method: 'DELETE',
      headers: headersOf(result.stdout),
    });
    expect(reply.status).toBe(200);
  });

  it('adds Content-Digest for a body and prints a curl command', async () => {
    const body = `{"item":"it's"}`;
    const result = await runCli([
      'sign',
      '--key-id',
      'k1',
      '--hmac-secret-env',
      SECRET_ENV,
      '--url',
      'http://127.0.0.1:8080/orders',
      '--data',
      body,
      '-H',
      'Content-Type: application/json',
      '--component',
      'content-type',
      '--curl',
    ]);
    expect(result.code).toBe(0);
    const command = result.stdout.trim();
    expect(command).toMatch(/^curl -X 'POST' 'http:\/\/127\.0\.0\.1:8080\/orders' /);
    expect(command).toContain(`-H 'Content-Type: application/json'`);
    expect(command).toContain(`-H 'Content-Digest: ${contentDigest(Buffer.from(body))}'`);
    expect(command).toContain('"@method" "@target-uri" "content-type" "content-digest"');
    // The single quote inside the body is closed, escaped and reopened for the shell.
    expect(command).toContain(`--data-binary '{"item":"it'\\''s"}'`);
  });

  it('rejects missing or conflicting key options', async () => {
    const [none, unset] = await Promise.all([
      runCli(['sign', '--key-id', 'k1', '--url', 'http://127.0.0.1/']),
      runCli([
        'sign',
        '--key-id',
        'k1',
        '--hmac-secret-env',
        'BWK_TEST_SIGN_UNSET',
        '--url',
        'http://127.0.0.1/',
      ]),
    ]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(
      'give exactly one of --hmac-secret-env, --hmac-secret-file and --ed25519-key',
    );
    expect(unset.code).toBe(2);
    expect(unset.stderr).toContain('environment variable BWK_TEST_SIGN_UNSET is not set');
  });
});
