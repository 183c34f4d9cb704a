import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { ConfigError } from '../../../src/core/errors.js';
import { compilePart, type CompileSettings } from '../../../src/validation/schema/compile.js';
import type { PatternVerdict } from '../../../src/validation/schema/redos.js';

const warnings: PatternVerdict[] = [];

function settings(overrides: Partial<CompileSettings> = {}): CompileSettings {
  return {
    part: 'body',
    unknownFields: 'reject',
    redos: 'reject',
    maxPatternInput: 64,
    configPath: 'routes.0.validate.body',
    warn: (verdict) => warnings.push(verdict),
    ...overrides,
  };
}

function inline(schema: Record<string, unknown>, overrides: Partial<CompileSettings> = {}) {
  return compilePart({ kind: 'json', schema }, settings(overrides));
}

function rulesOf(schema: Record<string, unknown>, value: unknown, coerce = false) {
  return inline(schema)
    .validate(value, coerce)
    .issues.map((issue) => `${issue.path} ${issue.rule}`);
}

const user = {
  type: 'object',
  required: ['email', 'age'],
  properties: {
    email: { type: 'string', format: 'email' },
    age: { type: 'integer', minimum: 13, maximum: 130 },
    name: { type: 'string', minLength: 1, maxLength: 8 },
    role: { enum: ['reader', 'editor'] },
    code: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{3}$' },
  },
};

describe('schema formats', () => {
  const formats = {
    email: ['ada@example.org', 'ada@@example'],
    uri: ['https://example.org/a?b=c', 'not a uri'],
    uuid: ['0190f5d2-6c5a-7cc0-8d3e-5f1f2a3b4c5d', '0190f5d2-6c5a'],
    'date-time': ['2026-12-05T00:42:11Z', '2026-13-05 25:00'],
    ipv4: ['192.0.2.1', '192.0.2.256'],
    ipv6: ['2001:db8::1', '2001:db8:::1'],
    e164: ['+4915112345678', '0151 1234'],
    slug: ['hello-world', 'Hello World'],
    'country-code': ['DE', 'deu'],
    'safe-text': ['line one\nline two', 'bidi \u202e override'],
  };
  for (const [format, [good, bad]] of Object.entries(formats)) {
    it(`format ${format} accepts and rejects`, () => {
      const validator = inline({ type: 'string', format });
      expect(validator.validate(good, false).issues).toEqual([]);
      expect(validator.validate(bad, false).issues.map((issue) => issue.rule)).toEqual(['format']);
    });
  }
});

describe('schema rules', () => {
  it('valid object passes', () => {
    expect(rulesOf(user, { email: 'a@example.org', age: 40, role: 'reader' })).toEqual([]);
  });

  it('ranges report minimum and maximum', () => {
    expect(rulesOf(user, { email: 'a@example.org', age: 3 })).toEqual(['/age minimum']);
    expect(rulesOf(user, { email: 'a@example.org', age: 300 })).toEqual(['/age maximum']);
  });

  it('lengths report minLength and maxLength', () => {
    expect(rulesOf(user, { email: 'a@example.org', age: 20, name: '' })).toEqual([
      '/name minLength',
    ]);
    expect(rulesOf(user, { email: 'a@example.org', age: 20, name: 'abcdefghi' })).toEqual([
      '/name maxLength',
    ]);
  });

  it('pattern and enum failures name their rule', () => {
    expect(
      rulesOf(user, { email: 'a@example.org', age: 20, code: 'abc-123', role: 'admin' }),
    ).toEqual(['/role enum', '/code pattern']);
  });

  it('missing field is reported at its path', () => {
    const issues = inline(user).validate({ age: 20 }, false).issues;
    expect(issues).toEqual([
      { in: 'body', path: '/email', rule: 'required', message: 'is required' },
    ]);
  });

  it('nested array paths are JSON pointers', () => {
    const order = {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          items: { type: 'object', properties: { email: { type: 'string', format: 'email' } } },
        },
      },
    };
    expect(rulesOf(order, { items: [{ email: 'a@example.org' }, { email: 'nope' }] })).toEqual([
      '/items/1/email format',
    ]);
  });

  it('every failure is listed with allErrors', () => {
    expect(rulesOf(user, { email: 'x', age: 'old', name: '', extra: 1 })).toHaveLength(4);
  });

  it('query strings are coerced to the schema types', () => {
    const query = {
      type: 'object',
      properties: {
        page: { type: 'integer', minimum: 1 },
        tag: { type: 'array', items: { type: 'string' } },
      },
    };
    expect(rulesOf(query, { page: '2', tag: 'a' }, true)).toEqual([]);
    expect(rulesOf(query, { page: '0' }, true)).toEqual(['/page minimum']);
    expect(rulesOf(query, { page: 'two' }, true)).toEqual(['/page type']);
  });

  it('format fails on input over maxPatternInput', () => {
    const validator = inline({ type: 'string', format: 'url' });
    expect(validator.validate(`https://example.org/${'a'.repeat(40)}`, false).issues).toEqual([]);
    expect(
      validator
        .validate(`https://example.org/${'a'.repeat(50)}`, false)
        .issues.map((issue) => issue.rule),
    ).toEqual(['format']);
  });

  it('pattern fails on input over maxPatternInput', () => {
    const validator = inline({ type: 'string', pattern: '^a+$' });
    expect(validator.validate('a'.repeat(64), false).issues).toEqual([]);
    expect(validator.validate('a'.repeat(65), false).issues.map((issue) => issue.rule)).toEqual([
      'pattern',
    ]);
  });
});

describe('schema drafts', () => {
  it('2020-12 schema uses unevaluatedProperties', () => {
    const schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      allOf: [{ properties: { a: { type: 'string' } } }, { properties: { b: { type: 'string' } } }],
      unevaluatedProperties: false,
    };
    expect(rulesOf(schema, { a: 'x', b: 'y' })).toEqual([]);
    expect(rulesOf(schema, { a: 'x', c: 'z' })).toEqual(['/c unknownField']);
  });

  it('2020-12 prefixItems validate tuples', () => {
    const schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'array',
      prefixItems: [{ type: 'string' }, { type: 'integer' }],
      minItems: 2,
      items: false,
    };
    expect(rulesOf(schema, ['a', 1])).toEqual([]);
    expect(rulesOf(schema, ['a', 'b'])).toEqual(['/1 type']);
  });

  it('strict tuple error names the pointer', () => {
    const schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { pair: { type: 'array', prefixItems: [{ type: 'string' }] } },
    };
    let value = '';
    try {
      inline(schema);
    } catch (error) {
      value = (error as ConfigError).issues[0]!.value;
    }
    expect(value).toBe('routes.0.validate.body#/properties/pair');
  });

  it('unknown $schema is a start error', () => {
    expect(() => inline({ $schema: 'https://example.org/my-draft', type: 'object' })).toThrow(
      /unsupported \$schema/,
    );
  });
});

describe('custom formats and keywords', () => {
  it('maxBytes counts UTF-8 bytes', () => {
    const validator = inline({ type: 'string', maxBytes: 4 });
    expect(validator.validate('abcd', false).issues).toEqual([]);
    expect(validator.validate('äää', false).issues.map((issue) => issue.rule)).toEqual([
      'maxBytes',
    ]);
  });

  it('notBlank rejects white space only', () => {
    const validator = inline({ type: 'string', notBlank: true });
    expect(validator.validate(' x ', false).issues).toEqual([]);
    expect(validator.validate(' \t ', false).issues.map((issue) => issue.rule)).toEqual([
      'notBlank',
    ]);
  });
});

describe('unknown fields', () => {
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      address: { type: 'object', properties: { city: { type: 'string' } } },
    },
  };

  it('reject lists each unknown field', () => {
    const result = inline(schema).validate(
      { name: 'a', admin: true, address: { city: 'b', zip: 1 } },
      false,
    );
    expect(result.issues.map((issue) => `${issue.path} ${issue.rule}`)).toEqual([
      '/admin unknownField',
      '/address/zip unknownField',
    ]);
  });

  it('strip removes nested unknown fields', () => {
    const value = { name: 'a', admin: true, address: { city: 'b', zip: 1 } };
    const result = inline(schema, { unknownFields: 'strip' }).validate(value, false);
    expect(result.issues).toEqual([]);
    expect(result.stripped).toBe(true);
    expect(result.value).toEqual({ name: 'a', address: { city: 'b' } });
  });

  it('strip still reports other failures', () => {
    const result = inline(schema, { unknownFields: 'strip' }).validate(
      { name: 1, admin: true },
      false,
    );
    expect(result.issues.map((issue) => issue.rule)).toEqual(['unknownField', 'type']);
  });

  it('explicit additionalProperties wins over the policy', () => {
    const open = { ...schema, additionalProperties: true };
    expect(inline(open).validate({ name: 'a', other: 1 }, false).issues).toEqual([]);
  });

  it('allOf branches stay open', () => {
    const combined = {
      allOf: [
        { type: 'object', properties: { a: { type: 'string' } } },
        { type: 'object', properties: { b: { type: 'string' } } },
      ],
    };
    expect(inline(combined).validate({ a: 'x', b: 'y' }, false).issues).toEqual([]);
  });

  it('headers schema ignores unknown headers', () => {
    const headers = {
      type: 'object',
      properties: { 'x-tenant': { type: 'string', format: 'uuid' } },
    };
    const validator = inline(headers, { part: 'headers' });
    expect(
      validator.validate({ 'x-tenant': '0190f5d2-6c5a-7cc0-8d3e-5f1f2a3b4c5d', host: 'a' }, true)
        .issues,
    ).toEqual([]);
  });
});

describe('schema errors at start', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bwk-schema-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function startError(
    source: Parameters<typeof compilePart>[0],
    overrides: Partial<CompileSettings> = {},
  ) {
    try {
      compilePart(source, settings(overrides));
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).issues[0]!;
    }
    throw new Error('compilePart did not throw');
  }

  it('missing file names the file', () => {
    const issue = startError({ kind: 'file', path: join(dir, 'missing.json') });
    expect(issue.code).toBe('BWK_ERR_CONFIG_SCHEMA');
    expect(issue.path).toBe('routes.0.validate.body');
    expect(issue.value).toContain('missing.json');
    expect(issue.message).toContain('file not found');
  });

  it('invalid JSON file is rejected', () => {
    writeFileSync(join(dir, 'broken.json'), '{ "type": ');
    const issue = startError({ kind: 'file', path: join(dir, 'broken.json') });
    expect(issue.message).toContain('not valid JSON');
  });

  it('invalid keyword value names the pointer', () => {
    writeFileSync(
      join(dir, 'bad-type.json'),
      JSON.stringify({ type: 'object', properties: { a: { type: 'strin' } } }),
    );
    const issue = startError({ kind: 'file', path: join(dir, 'bad-type.json') });
    expect(issue.value).toBe(`${join(dir, 'bad-type.json')}#/properties/a/type`);
  });

  it('unknown keyword names the pointer', () => {
    const issue = startError({
      kind: 'json',
      schema: { type: 'object', properties: { a: { type: 'string', colour: 'red' } } },
    });
    expect(issue.value).toBe('routes.0.validate.body#/properties/a/colour');
    expect(issue.message).toContain('unknown keyword');
  });

  it('vulnerable pattern is rejected with its path', () => {
    const issue = startError({
      kind: 'json',
      schema: { type: 'object', properties: { name: { type: 'string', pattern: '^(a+)+$' } } },
    });
    expect(issue.value).toBe('routes.0.validate.body#/properties/name/pattern');
    expect(issue.message).toContain('ReDoS');
  });

  it('vulnerable patternProperties key is rejected', () => {
    const issue = startError({
      kind: 'json',
      schema: { type: 'object', patternProperties: { '^(\\w+\\s?)*$': { type: 'string' } } },
    });
    expect(issue.value).toBe('routes.0.validate.body#/patternProperties/^(\\w+\\s?)*$');
  });

  it('warn mode keeps a vulnerable pattern', () => {
    warnings.length = 0;
    const validator = inline({ type: 'string', pattern: '^(a|a)*b$' }, { redos: 'warn' });
    expect(warnings.map((verdict) => verdict.status)).toEqual(['vulnerable']);
    expect(validator.validate('aab', false).issues).toEqual([]);
    // The bounded engine rejects the long input that would backtrack.
    expect(
      validator.validate(`${'a'.repeat(5000)}c`, false).issues.map((issue) => issue.rule),
    ).toEqual(['pattern']);
  });

  it('every vulnerable pattern is reported', () => {
    let caught: unknown;
    try {
      inline({
        type: 'object',
        properties: {
          name: { type: 'string', pattern: '^(a+)+$' },
          city: { type: 'string', pattern: '^([a-z]+)*$' },
          tags: { type: 'array', items: { type: 'string', pattern: '^(\\w+\\s?)*$' } },
          code: { type: 'string', pattern: '^[A-Z]{3}$' },
        },
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const issues = (caught as ConfigError).issues;
    expect(issues.map((issue) => issue.value)).toEqual([
      'routes.0.validate.body#/properties/name/pattern',
      'routes.0.validate.body#/properties/city/pattern',
      'routes.0.validate.body#/properties/tags/items/pattern',
    ]);
    for (const issue of issues) expect(issue.message).toContain('ReDoS');
  });

  it('every meta-schema error is reported', () => {
    let caught: unknown;
    try {
      inline({
        type: 'object',
        properties: { a: { type: 'strin' }, b: { minLength: -1 } },
        required: 'a',
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const values = (caught as ConfigError).issues.map((issue) => issue.value).sort();
    // One issue per pointer, although `type` fails two branches of the meta-schema.
    expect(values).toEqual([
      'routes.0.validate.body#/properties/a/type',
      'routes.0.validate.body#/properties/b/minLength',
      'routes.0.validate.body#/required',
    ]);
  });

  it('invalid pattern and meta-schema error together', () => {
    let caught: unknown;
    try {
      inline({
        type: 'object',
        properties: { a: { type: 'strin' }, b: { type: 'string', pattern: '([a-z' } },
      });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const values = (caught as ConfigError).issues.map((issue) => issue.value);
    expect(values).toContain('routes.0.validate.body#/properties/b/pattern');
    expect(values).toContain('routes.0.validate.body#/properties/a/type');
  });

  it('invalid regular expression is rejected', () => {
    const issue = startError({ kind: 'json', schema: { type: 'string', pattern: '([a-z' } });
    expect(issue.value).toBe('routes.0.validate.body#/pattern');
  });

  it('safe pattern passes the check', () => {
    warnings.length = 0;
    inline({ type: 'string', pattern: '^[a-z0-9._%+-]+@[a-z0-9.-]+$' });
    expect(warnings).toEqual([]);
  });
});
