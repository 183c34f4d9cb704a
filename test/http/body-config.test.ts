import { describe, expect, it } from 'vitest';

import { validateConfig, type ConfigInput } from '../../src/core/config.js';
import { ConfigError, type ConfigIssue } from '../../src/core/errors.js';
import { compileBodyChecks, compileLimits } from '../../src/http/body-config.js';
import { formatSize, parseSize } from '../../src/http/size.js';
import { bodyBuffering, compilePolicy } from '../../src/runtime/policy.js';

const UPSTREAM = 'http://127.0.0.1:3000';

function issuesOf(input: Partial<ConfigInput>): ConfigIssue[] {
  try {
    validateConfig({ upstream: UPSTREAM, ...input });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).issues];
  }
  throw new Error('expected the configuration to be rejected');
}

describe('request limits configuration', () => {
  it('defaults are safe', () => {
    const config = validateConfig({ upstream: UPSTREAM });

    expect(compileLimits(config.limits)).toEqual({
      maxUrlLength: 8192,
      maxHeaderCount: 100,
      maxHeaderSize: 16 * 1024,
      maxBodySize: 1024 * 1024,
      minBodyRate: { bytesPerSecond: 1024, windowMs: 10_000, graceMs: 5_000 },
    });
    expect(compileBodyChecks(config.body)).toMatchObject({
      contentTypes: undefined,
      validate: true,
      json: { maxDepth: 64, maxKeys: 1000, duplicateKeys: 'reject' },
    });
  });

  it('route fields replace global ones', () => {
    const config = validateConfig({
      upstream: UPSTREAM,
      limits: { maxBodySize: '64kb', maxUrlLength: 2048 },
      body: { contentTypes: ['application/json'], json: { maxDepth: 8, maxKeys: 50 } },
      routes: [
        {
          match: 'POST /files',
          limits: { maxBodySize: '10mb', minBodyRate: false },
          body: { json: { maxDepth: 3 } },
        },
      ],
    });
    const route = compilePolicy(config).routes[0]!.policy;

    expect(route.limits).toMatchObject({ maxBodySize: 10 * 1024 * 1024, maxUrlLength: 2048 });
    expect(route.limits.minBodyRate).toBeUndefined();
    expect(route.body.contentTypes?.map((range) => range.text)).toEqual(['application/json']);
    expect(route.body.json).toMatchObject({ maxDepth: 3, maxKeys: 50 });
    expect(route.bufferBody).toBe('parsed');
  });

  it('buffering follows body needs', () => {
    expect(bodyBuffering({ validate: true, contentDigest: false })).toBe('parsed');
    expect(bodyBuffering({ validate: false, contentDigest: false })).toBe('none');
    expect(bodyBuffering({ validate: false, contentDigest: true })).toBe('all');
  });

  it('invalid values named by path', () => {
    const issues = issuesOf({
      limits: {
        maxBodySize: '1 lightyear',
        maxHeaderSize: '10mb',
        minBodyRate: { bytesPerSecond: '1kb', window: '500ms' },
      },
      body: { contentTypes: ['json'] },
    });

    expect(issues.map((issue) => [issue.path, issue.code])).toEqual([
      ['limits.maxHeaderSize', 'BWK_ERR_CONFIG_SIZE'],
      ['limits.maxBodySize', 'BWK_ERR_CONFIG_SIZE'],
      ['limits.minBodyRate.window', 'BWK_ERR_CONFIG_DURATION'],
      ['body.contentTypes.0', 'BWK_ERR_CONFIG_MEDIA_TYPE'],
    ]);
  });

  it('validated body over 64mb rejected', () => {
    const issues = issuesOf({
      routes: [{ match: 'POST /files', limits: { maxBodySize: '1gb' } }],
    });

    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      path: 'routes.0.limits.maxBodySize',
      code: 'BWK_ERR_CONFIG_CONFLICT',
    });
    expect(issues[0]?.message).toContain('body.validate: false');
  });

  it('streamed route may allow large bodies', () => {
    const config = validateConfig({
      upstream: UPSTREAM,
      routes: [{ match: 'POST /files', limits: { maxBodySize: '1gb' }, body: { validate: false } }],
    });

    expect(compilePolicy(config).routes[0]!.policy.limits.maxBodySize).toBe(1024 ** 3);
  });

  it('unknown body key rejected', () => {
    const issues = issuesOf({ body: { json: { maxDeep: 3 } } as never });

    expect(issues[0]).toMatchObject({ code: 'BWK_ERR_CONFIG_UNKNOWN_KEY' });
  });
});

describe('sizes', () => {
  it('parses units as binary', () => {
    expect(parseSize(512)).toBe(512);
    expect(parseSize('512')).toBe(512);
    expect(parseSize('64kb')).toBe(65_536);
    expect(parseSize('16KiB')).toBe(16_384);
    expect(parseSize('1.5 MB')).toBe(1_572_864);
    expect(parseSize('2g')).toBe(2 * 1024 ** 3);
  });

  it('rejects other input', () => {
    for (const input of ['', 'kb', '1 lightyear', '-1', '1e3']) {
      expect(() => parseSize(input), input).toThrow(/invalid size/);
    }
    expect(() => parseSize(-1)).toThrow(/whole number/);
    expect(() => parseSize(1.5)).toThrow(/whole number/);
  });

  it('formats in the largest unit', () => {
    expect(formatSize(1024 * 1024)).toBe('1mb');
    expect(formatSize(1536)).toBe('1536 bytes');
    expect(formatSize(64 * 1024)).toBe('64kb');
  });
});
