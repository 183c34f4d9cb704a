import { describe, expect, it } from 'vitest';

import { validatePolicy } from '../../../src/core/config.js';
import { ConfigError } from '../../../src/core/errors.js';
import { resolveSchemaFiles } from '../../../src/validation/schema/config.js';

function issuesOf(input: unknown) {
  try {
    validatePolicy(input);
  } catch (error) {
    if (error instanceof ConfigError)
      return error.issues.map((issue) => `${issue.code} ${issue.path}`);
    throw error;
  }
  return [];
}

describe('validation configuration', () => {
  it('defaults are reject, 400 and reject on ReDoS', () => {
    const policy = validatePolicy({});
    expect(policy.validation.unknownFields).toBe('reject');
    expect(policy.validation.status).toBe(400);
    expect(policy.validation.redos).toBe('reject');
    expect(policy.validation.sanitize.maxLength).toBe(16 * 1024);
  });

  it('custom profile can be used by a route', () => {
    const input = {
      validation: {
        sanitize: { profiles: { comment: { tags: ['p', 'a'], attributes: ['href'] } } },
      },
      routes: [{ match: 'POST /c', sanitize: { 'body.text': 'comment' } }],
    };
    expect(issuesOf(input)).toEqual([]);
  });

  it('unknown profile names the route field', () => {
    expect(
      issuesOf({ routes: [{ match: 'POST /c', sanitize: { 'body.text': 'fancy' } }] }),
    ).toEqual(['BWK_ERR_CONFIG_VALIDATION routes.0.sanitize.body.text']);
  });

  it('custom profile may not shadow a built-in', () => {
    expect(
      issuesOf({ validation: { sanitize: { profiles: { basic: { tags: ['p'] } } } } }),
    ).toEqual(['BWK_ERR_CONFIG_VALIDATION validation.sanitize.profiles.basic']);
  });

  it('dangerous tags and attributes rejected', () => {
    const input = {
      validation: {
        sanitize: {
          profiles: { loose: { tags: ['p', 'script'], attributes: ['onclick', 'style', 'title'] } },
        },
      },
    };
    expect(issuesOf(input)).toEqual([
      'BWK_ERR_CONFIG_VALIDATION validation.sanitize.profiles.loose.tags.1',
      'BWK_ERR_CONFIG_VALIDATION validation.sanitize.profiles.loose.attributes.0',
      'BWK_ERR_CONFIG_VALIDATION validation.sanitize.profiles.loose.attributes.1',
    ]);
  });

  it('sanitize paths must point into the body', () => {
    expect(
      issuesOf({ routes: [{ match: 'POST /c', sanitize: { 'query.q': 'text' } }] }),
    ).toHaveLength(1);
  });

  it('schema file paths resolve against the config folder', () => {
    const raw = {
      routes: [
        {
          match: 'POST /a',
          validate: { body: 'schemas/a.json', query: '/abs/q.json', headers: { type: 'object' } },
        },
      ],
    };
    expect(resolveSchemaFiles(raw, '/etc/bulwark')).toEqual({
      routes: [
        {
          match: 'POST /a',
          validate: {
            body: '/etc/bulwark/schemas/a.json',
            query: '/abs/q.json',
            headers: { type: 'object' },
          },
        },
      ],
    });
  });
});
