import { readFileSync } from 'node:fs';

import type { Command } from 'commander';

import { parseDuration } from '../core/duration.js';
import { digestAlgorithms, type DigestAlgorithm } from '../http/content-digest.js';
import { readKeyFile } from '../http/signature-key-loader.js';
import { secretEncodings, type SecretEncoding, type SigningKey } from '../http/signature-keys.js';
import { ed25519SigningKey, hmacSigningKey, signRequest } from '../http/signing.js';
import { UsageError } from './start.js';

/** `bulwark sign`: prints the signature fields of one request, or a curl command that sends it. */

interface SignOptions {
  keyId?: string;
  hmacSecretEnv?: string;
  hmacSecretFile?: string;
  ed25519Key?: string;
  secretEncoding: string;
  method?: string;
  url?: string;
  data?: string;
  dataFile?: string;
  header?: string[];
  component?: string[];
  label?: string;
  tag?: string;
  expiresIn?: string;
  digest: string;
  curl?: boolean;
}

const MAX_DATA_FILE_BYTES = 64 * 1024 * 1024;

export function registerSignCommand(program: Command): void {
  program
    .command('sign')
    .description(
      'Sign one request with an HTTP Message Signature (RFC 9421) and print its Content-Digest, Signature-Input and Signature fields. Each run uses a new nonce, so each output is good for one request.',
    )
    .option('--key-id <id>', "the keyid of the key in the gateway's signatures.keys (required)")
    .option('--hmac-secret-env <var>', 'environment variable that holds an hmac-sha256 secret')
    .option('--hmac-secret-file <file>', 'file that holds an hmac-sha256 secret')
    .option('--ed25519-key <file>', 'Ed25519 private key file, PKCS #8 PEM or JWK')
    .option(
      '--secret-encoding <encoding>',
      `how the HMAC secret is written: ${secretEncodings.join(', ')}`,
      'base64',
    )
    .option('-X, --method <method>', 'request method (default GET, or POST with --data)')
    .option('--url <url>', 'absolute URL the request goes to, as the gateway sees it (required)')
    .option('-d, --data <text>', 'request body')
    .option('--data-file <file>', 'file whose bytes are the request body')
    .option(
      '-H, --header <field>',
      'a field such as "Content-Type: application/json"; repeatable',
      collect,
      [],
    )
    .option(
      '--component <name>',
      'a further component to cover, e.g. content-type or @authority; repeatable',
      collect,
      [],
    )
    .option('--label <label>', 'signature label (default sig)')
    .option('--tag <tag>', 'tag parameter, when the gateway requires one')
    .option('--expires-in <duration>', 'adds an expires parameter this long after created, e.g. 5m')
    .option(
      '--digest <algorithm>',
      `Content-Digest algorithm: ${digestAlgorithms.join(', ')}`,
      'sha-256',
    )
    .option('--curl', 'print a curl command that sends the signed request')
    .action((options: SignOptions) => sign(options));
}

function sign(options: SignOptions): void {
  if (options.keyId === undefined) throw new UsageError('--key-id is required');
  if (options.url === undefined)
    throw new UsageError('--url is required, e.g. --url http://127.0.0.1:8080/orders');
  if (options.data !== undefined && options.dataFile !== undefined) {
    throw new UsageError('give either --data or --data-file, not both');
  }
  const body = options.dataFile !== undefined ? readData(options.dataFile) : options.data;
  const method = (options.method ?? (body === undefined ? 'GET' : 'POST')).toUpperCase();
  const headers = parseHeaders(options.header ?? []);

  const signed = signRequest({
    method,
    url: options.url,
    headers,
    body,
    keyId: options.keyId,
    key: signingKey(options),
    components: ['@method', '@target-uri', ...(options.component ?? [])],
    label: options.label,
    tag: options.tag,
    expiresIn: options.expiresIn === undefined ? undefined : expiresInSeconds(options.expiresIn),
    digest: digestAlgorithm(options.digest),
  });

  const fields: Array<[string, string]> = [];
  if (signed['content-digest'] !== undefined)
    fields.push(['Content-Digest', signed['content-digest']]);
  fields.push(['Signature-Input', signed['signature-input']], ['Signature', signed.signature]);
  if (!options.curl) {
    for (const [name, value] of fields) console.log(`${name}: ${value}`);
    return;
  }
  console.log(curlCommand(method, options.url, [...Object.entries(headers), ...fields], options));
}

function signingKey(options: SignOptions): SigningKey {
  const sources = [options.hmacSecretEnv, options.hmacSecretFile, options.ed25519Key].filter(
    (source) => source !== undefined,
  );
  if (sources.length !== 1) {
    throw new UsageError(
      'give exactly one of --hmac-secret-env, --hmac-secret-file and --ed25519-key',
    );
  }
  try {
    if (options.ed25519Key !== undefined) return ed25519SigningKey(readKeyFile(options.ed25519Key));
    const encoding = secretEncoding(options.secretEncoding);
    if (options.hmacSecretFile !== undefined)
      return hmacSigningKey(readKeyFile(options.hmacSecretFile), encoding);
    const secret = process.env[options.hmacSecretEnv!];
    if (secret === undefined || secret === '') {
      throw new Error(`environment variable ${options.hmacSecretEnv} is not set`);
    }
    return hmacSigningKey(secret, encoding);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read the signing key: ${(error as Error).message}`);
  }
}

function secretEncoding(value: string): SecretEncoding {
  if ((secretEncodings as readonly string[]).includes(value)) return value as SecretEncoding;
  throw new UsageError(
    `invalid --secret-encoding "${value}": expected ${secretEncodings.join(', ')}`,
  );
}

function digestAlgorithm(value: string): DigestAlgorithm {
  if ((digestAlgorithms as readonly string[]).includes(value)) return value as DigestAlgorithm;
  throw new UsageError(`invalid --digest "${value}": expected ${digestAlgorithms.join(', ')}`);
}

function expiresInSeconds(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (error) {
    throw new UsageError(`invalid --expires-in: ${(error as Error).message}`);
  }
  if (ms < 1000) throw new UsageError(`invalid --expires-in "${value}": expected at least 1s`);
  return Math.floor(ms / 1000);
}

function parseHeaders(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon === -1 ? '' : line.slice(0, colon).trim();
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
      throw new UsageError(`invalid --header "${line.slice(0, 80)}": expected "Name: value"`);
    }
    headers[name] = line.slice(colon + 1).trim();
  }
  return headers;
}

function readData(path: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (error) {
    throw new UsageError(`cannot read --data-file ${path}: ${(error as Error).message}`);
  }
  if (data.length > MAX_DATA_FILE_BYTES) {
    throw new UsageError(`--data-file ${path} is larger than ${MAX_DATA_FILE_BYTES} bytes`);
  }
  return data;
}

/** Builds a curl command for a POSIX shell; every argument is single-quoted. */
function curlCommand(
  method: string,
  url: string,
  fields: ReadonlyArray<readonly [string, string]>,
  options: SignOptions,
): string {
  const parts = ['curl', '-X', quote(method), quote(url)];
  for (const [name, value] of fields) parts.push('-H', quote(`${name}: ${value}`));
  if (options.dataFile !== undefined) parts.push('--data-binary', quote(`@${options.dataFile}`));
  else if (options.data !== undefined) parts.push('--data-binary', quote(options.data));
  return parts.join(' ');
}

function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
