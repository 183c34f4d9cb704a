import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { validatePolicy } from '../../../src/core/config.js';
import { ConfigError } from '../../../src/core/errors.js';
import { createLogger, silentLogger } from '../../../src/core/logger.js';
import { createInputGuards } from '../../../src/validation/schema/setup.js';

/** Three routes with four ReDoS-prone patterns between them, and one safe pattern. */
function policy(redos: 'reject' | 'warn') {
  return validatePolicy({
    validation: { redos },
    routes: [
      {
        match: 'POST /users',
        validate: {
          body: {
            type: 'object',
            properties: {
              name: { type: 'string', pattern: '^(a+)+$' },
              city: { type: 'string', pattern: '^([a-z]+)*$' },
            },
          },
          query: { type: 'object', properties: { q: { type: 'string', pattern: '^[a-z]+$' } } },
        },
      },
      { match: 'GET /health' },
      {
        match: 'POST /tags',
        validate: { body: { type: 'string', pattern: '^(\\w+\\s?)*$' } },
      },
      {
        match: 'POST /notes',
        validate: { body: { type: 'array', items: { type: 'string', pattern: '^(a|a)*b$' } } },
      },
    ],
  });
}

const VULNERABLE = [
  'routes.0.validate.body#/properties/name/pattern',
  'routes.0.validate.body#/properties/city/pattern',
  'routes.2.validate.body#/pattern',
  'routes.3.validate.body#/items/pattern',
];

describe('input guards setup', () => {
  it('reject mode reports every schema at once', () => {
    let caught: unknown;
    try {
      createInputGuards(policy('reject'), silentLogger);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const issues = (caught as ConfigError).issues;
    expect(issues.map((issue) => issue.value)).toEqual(VULNERABLE);
    expect(issues.map((issue) => issue.path)).toEqual([
      'routes.0.validate.body',
      'routes.0.validate.body',
      'routes.2.validate.body',
      'routes.3.validate.body',
    ]);
    for (const issue of issues) expect(issue.code).toBe('BWK_ERR_CONFIG_SCHEMA');
  });

  it('warn mode logs every kept pattern', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = createLogger({ level: 'warn' }, destination);

    const guards = createInputGuards(policy('warn'), logger);

    expect(guards.schema).toBeDefined();
    expect(guards.patternWarnings.map((warning) => `${warning.schema}#${warning.pointer}`)).toEqual(
      VULNERABLE,
    );
    expect(guards.patternWarnings.map((warning) => warning.complexity)).toEqual([
      'exponential',
      'exponential',
      'exponential',
      'exponential',
    ]);
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logged).toHaveLength(4);
    for (const entry of logged) {
      expect(entry.level).toBe(40);
      expect(entry.msg).toContain('a single request can keep the gateway busy');
      expect(entry.msg).toContain('capped at 4096 characters');
      expect(entry.msg).toContain('exponential backtracking');
    }
    expect(logged[0]!.route).toBe('POST /users');
    expect(logged[0]!.pointer).toBe('/properties/name/pattern');
  });
});
