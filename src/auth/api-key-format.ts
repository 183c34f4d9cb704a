import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * The API key format: `bwk_<env>_<random><checksum>`, for example
 * `bwk_live_3hT9...` (55 characters for `live`).
 *
 * - `env` is 1 to 16 lower-case letters or digits (`live`, `test`), so a key names where it
 *   belongs and secret scanners can match the fixed `bwk_` prefix.
 * - `random` is 40 base62 characters (about 238 bits). Its first 12 characters are the key
 *   id: not secret, used to look the key up and shown in logs, events and rate-limit keys.
 *   The 28 characters after them (about 166 bits) stay secret.
 * - `checksum` is the CRC32 of everything before it, in 6 base62 digits, so a typo is found
 *   offline without a store lookup. CRC32 detects every error burst of up to 32 bits, and so
 *   every single-character change.
 */

export const API_KEY_PREFIX = 'bwk_';
export const RANDOM_LENGTH = 40;
export const KEY_ID_LENGTH = 12;
const CHECKSUM_LENGTH = 6;
const ENV = /^[a-z0-9]{1,16}$/;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BASE62_TEXT = /^[0-9A-Za-z]+$/;
/** Maximum length of a valid key: prefix, a 16-character env, `_`, random part and checksum. */
export const MAX_API_KEY_LENGTH = API_KEY_PREFIX.length + 16 + 1 + RANDOM_LENGTH + CHECKSUM_LENGTH;

/** A key that passed the offline checks. `secret` is the whole key text. */
export interface ParsedApiKey {
  ok: true;
  env: string;
  keyId: string;
  secret: string;
}

/** Reason a text is not a well-formed key. Each is found without a store lookup. */
export type ApiKeyFormatFailure = 'bad_prefix' | 'bad_length' | 'bad_charset' | 'bad_checksum';

export interface InvalidApiKey {
  ok: false;
  reason: ApiKeyFormatFailure;
}

/** Generates a new key for `env` (e.g. `live`, `test`). Throws on an invalid env name. */
export function generateApiKey(env: string): ParsedApiKey {
  if (!ENV.test(env))
    throw new TypeError(`invalid API key env "${env}": use 1 to 16 lower-case letters or digits`);
  const body = `${API_KEY_PREFIX}${env}_${randomBase62(RANDOM_LENGTH)}`;
  const secret = body + checksumOf(body);
  return { ok: true, env, keyId: keyIdOf(body, env), secret };
}

/** Checks prefix, env, length, characters and checksum, without any lookup. */
export function parseApiKey(text: string): ParsedApiKey | InvalidApiKey {
  if (text.length > MAX_API_KEY_LENGTH) return invalid('bad_length');
  if (!text.startsWith(API_KEY_PREFIX)) return invalid('bad_prefix');
  const envEnd = text.indexOf('_', API_KEY_PREFIX.length);
  if (envEnd === -1) return invalid('bad_prefix');
  const env = text.slice(API_KEY_PREFIX.length, envEnd);
  if (!ENV.test(env)) return invalid('bad_prefix');

  const tail = text.slice(envEnd + 1);
  if (tail.length !== RANDOM_LENGTH + CHECKSUM_LENGTH) return invalid('bad_length');
  if (!BASE62_TEXT.test(tail)) return invalid('bad_charset');

  const body = text.slice(0, text.length - CHECKSUM_LENGTH);
  if (checksumOf(body) !== text.slice(body.length)) return invalid('bad_checksum');
  return { ok: true, env, keyId: keyIdOf(body, env), secret: text };
}

/** Returns whether a text starts like an API key, to spot keys in query strings. */
export function looksLikeApiKey(text: string): boolean {
  return text.startsWith(API_KEY_PREFIX);
}

function keyIdOf(body: string, env: string): string {
  const start = API_KEY_PREFIX.length + env.length + 1;
  return body.slice(start, start + KEY_ID_LENGTH);
}

/** Returns the 6-character checksum of the key text before it. */
export function checksumOf(body: string): string {
  let value = crc32(body);
  let out = '';
  for (let index = 0; index < CHECKSUM_LENGTH; index++) {
    out = BASE62[value % 62]! + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/**
 * Draws base62 characters from crypto.randomBytes. Bytes of 248 and above are discarded,
 * because 248 is the largest multiple of 62 below 256, so keeping them would make the
 * first eight characters of the alphabet more likely than the others.
 */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length)) {
      if (byte >= 248) continue;
      out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

function invalid(reason: ApiKeyFormatFailure): InvalidApiKey {
  return { ok: false, reason };
}
