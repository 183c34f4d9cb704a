import { describe, expect, it } from 'vitest';

import {
  generateApiKey,
  KEY_ID_LENGTH,
  MAX_API_KEY_LENGTH,
  parseApiKey,
  RANDOM_LENGTH,
} from '../../src/auth/api-key-format.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

describe('api key format', () => {
  it('generated key has prefix and length', () => {
    const { secret, env, keyId } = generateApiKey('live');

    expect(env).toBe('live');
    expect(secret).toMatch(/^bwk_live_[0-9A-Za-z]{46}$/);
    expect(keyId).toBe(secret.slice('bwk_live_'.length, 'bwk_live_'.length + KEY_ID_LENGTH));
  });

  it('parse returns what generate made', () => {
    const generated = generateApiKey('test');

    expect(parseApiKey(generated.secret)).toEqual(generated);
  });

  it('every generated key parses', () => {
    for (let index = 0; index < 2_000; index++) {
      const { secret } = generateApiKey('live');
      expect(parseApiKey(secret).ok).toBe(true);
    }
  });

  it('random part uses the whole alphabet', () => {
    const counts = new Map<string, number>();
    for (let index = 0; index < 500; index++) {
      const random = generateApiKey('x').secret.slice('bwk_x_'.length, -6);
      for (const char of random) counts.set(char, (counts.get(char) ?? 0) + 1);
    }

    // 20,000 characters, about 323 of each: every character appears, none twice as often.
    expect(counts.size).toBe(62);
    expect(Math.max(...counts.values())).toBeLessThan(2 * Math.min(...counts.values()));
  });

  it('checksum catches every single-character typo', () => {
    const { secret } = generateApiKey('live');
    const start = 'bwk_live_'.length;
    let checked = 0;

    for (let position = start; position < secret.length; position++) {
      for (const char of BASE62) {
        if (char === secret[position]) continue;
        const typo = secret.slice(0, position) + char + secret.slice(position + 1);
        const parsed = parseApiKey(typo);
        expect(parsed).toEqual({ ok: false, reason: 'bad_checksum' });
        checked += 1;
      }
    }

    expect(checked).toBe((RANDOM_LENGTH + 6) * 61);
  });

  it('swapped neighbours fail the checksum', () => {
    const { secret } = generateApiKey('live');
    const start = 'bwk_live_'.length;

    for (let position = start; position < secret.length - 1; position++) {
      if (secret[position] === secret[position + 1]) continue;
      const swapped =
        secret.slice(0, position) +
        secret[position + 1] +
        secret[position] +
        secret.slice(position + 2);
      expect(parseApiKey(swapped).ok).toBe(false);
    }
  });

  it.each([
    ['other prefix', (key: string) => key.replace('bwk_', 'sk_'), 'bad_prefix'],
    ['upper-case env', (key: string) => key.replace('_live_', '_LIVE_'), 'bad_prefix'],
    ['missing env', (key: string) => key.replace('live_', ''), 'bad_prefix'],
    ['truncated', (key: string) => key.slice(0, -1), 'bad_length'],
    ['extra character', (key: string) => `${key}A`, 'bad_length'],
    ['dash inside', (key: string) => `${key.slice(0, 20)}-${key.slice(21)}`, 'bad_charset'],
    ['oversized', (key: string) => key.padEnd(MAX_API_KEY_LENGTH + 1, 'a'), 'bad_length'],
  ])('%s is rejected', (_name, change, reason) => {
    const { secret } = generateApiKey('live');

    expect(parseApiKey(change(secret))).toEqual({ ok: false, reason });
  });

  it('invalid env name throws', () => {
    expect(() => generateApiKey('Live_1')).toThrow(/invalid API key env "Live_1"/);
  });
});
