import { readFileSync } from 'node:fs';
import type { JsonWebKey } from 'node:crypto';

import { ConfigError, type ConfigIssue } from '../core/errors.js';
import { decodeSecret, readEd25519PublicKey, type VerificationKey } from './signature-keys.js';
import type { SignatureKeyConfig } from './signatures-config.js';

/** Largest key or secret file read, far above any PEM or JWK of one Ed25519 key. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * Reads every key of `signatures.keys` at start: HMAC secrets from their environment
 * variable or file, Ed25519 public keys from PEM, JWK or a file. Throws one ConfigError
 * (BWK_ERR_CONFIG_SIGNATURES) that lists every key that could not be read; messages name
 * the variable or file, never the secret.
 */
export function loadVerificationKeys(
  keys: readonly SignatureKeyConfig[],
  env: NodeJS.ProcessEnv = process.env,
): Map<string, VerificationKey> {
  const loaded = new Map<string, VerificationKey>();
  const issues: ConfigIssue[] = [];
  keys.forEach((key, index) => {
    try {
      loaded.set(key.id, loadKey(key, env));
    } catch (error) {
      issues.push(keyIssue(index, key, (error as Error).message));
    }
  });
  if (issues.length > 0) throw new ConfigError('signature keys', issues);
  return loaded;
}

function loadKey(key: SignatureKeyConfig, env: NodeJS.ProcessEnv): VerificationKey {
  if (key.algorithm === 'hmac-sha256') {
    return {
      id: key.id,
      algorithm: key.algorithm,
      secret: decodeSecret(readSecret(key, env), key.encoding),
    };
  }
  let source: string | JsonWebKey;
  if (key.jwk !== undefined) source = key.jwk as JsonWebKey;
  else if (key.publicKeyFile !== undefined) source = readKeyFile(key.publicKeyFile);
  else source = key.publicKey!;
  return { id: key.id, algorithm: key.algorithm, publicKey: readEd25519PublicKey(source) };
}

function readSecret(key: SignatureKeyConfig, env: NodeJS.ProcessEnv): string {
  if (key.secretEnv !== undefined) {
    const value = env[key.secretEnv];
    if (value === undefined || value === '') {
      throw new Error(`environment variable ${key.secretEnv} is not set`);
    }
    return value;
  }
  return readKeyFile(key.secretFile!);
}

/** Reads a key file, bounded in size. Exported for `bulwark sign`, which reads the same files. */
export function readKeyFile(path: string): string {
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(
      `cannot read ${path}: ${code === 'ENOENT' ? 'file not found' : (error as Error).message}`,
    );
  }
  if (text.length > MAX_KEY_FILE_BYTES) {
    throw new Error(`${path} is larger than ${MAX_KEY_FILE_BYTES} bytes`);
  }
  return text.toString('utf8');
}

function keyIssue(index: number, key: SignatureKeyConfig, message: string): ConfigIssue {
  const field =
    key.secretEnv !== undefined
      ? 'secretEnv'
      : key.secretFile !== undefined
        ? 'secretFile'
        : key.publicKeyFile !== undefined
          ? 'publicKeyFile'
          : key.jwk !== undefined
            ? 'jwk'
            : 'publicKey';
  const value = field === 'jwk' || field === 'publicKey' ? `key "${key.id}"` : String(key[field]);
  return {
    path: `signatures.keys.${index}.${field}`,
    value,
    message: `key "${key.id}": ${message}`,
    code: 'BWK_ERR_CONFIG_SIGNATURES',
  };
}
