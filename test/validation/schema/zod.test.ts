import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { compilePart, type CompileSettings } from '../../../src/validation/schema/compile.js';

function zodPart(schema: z.ZodType, overrides: Partial<CompileSettings> = {}) {
  return compilePart(
    { kind: 'zod', schema: () => schema },
    {
      part: 'body',
      unknownFields: 'reject',
      redos: 'reject',
      maxPatternInput: 4096,
      configPath: 'routes.0.validate.body',
      warn: () => {},
      ...overrides,
    },
  );
}

const signup = z.object({
  email: z.email(),
  password: z.string().min(12),
  age: z.number().int().min(13).optional(),
  profile: z.object({ handle: z.string().regex(/^[a-z0-9_]{3,16}$/) }).optional(),
  tags: z
    .array(z.object({ name: z.string() }))
    .max(3)
    .optional(),
});

describe('zod schemas', () => {
  it('valid body passes', () => {
    const result = zodPart(signup).validate(
      { email: 'a@example.org', password: 'x'.repeat(12) },
      false,
    );
    expect(result.issues).toEqual([]);
  });

  it('issues use JSON Schema rule names', () => {
    const result = zodPart(signup).validate(
      { email: 'nope', password: 'short', age: 2, profile: { handle: 'A!' } },
      false,
    );
    expect(result.issues.map((issue) => `${issue.path} ${issue.rule}`)).toEqual([
      '/email format',
      '/password minLength',
      '/age minimum',
      '/profile/handle pattern',
    ]);
  });

  it('refinement is a custom rule with its message', () => {
    const range = z
      .object({ from: z.number(), to: z.number() })
      .refine((value) => value.from <= value.to, {
        message: 'from must not be after to',
        path: ['to'],
      });
    const issues = zodPart(range).validate({ from: 5, to: 1 }, false).issues;
    expect(issues).toEqual([
      { in: 'body', path: '/to', rule: 'custom', message: 'from must not be after to' },
    ]);
  });

  it('reject lists unknown keys at every depth', () => {
    const result = zodPart(signup).validate(
      {
        email: 'a@example.org',
        password: 'x'.repeat(12),
        admin: true,
        tags: [{ name: 'a', colour: 'red' }],
      },
      false,
    );
    expect(result.issues.map((issue) => `${issue.path} ${issue.rule}`).sort()).toEqual([
      '/admin unknownField',
      '/tags/0/colour unknownField',
    ]);
  });

  it('strip returns the parsed value without unknown keys', () => {
    const result = zodPart(signup, { unknownFields: 'strip' }).validate(
      { email: 'a@example.org', password: 'x'.repeat(12), admin: true },
      false,
    );
    expect(result.issues).toEqual([]);
    expect(result.stripped).toBe(true);
    expect(result.value).toEqual({ email: 'a@example.org', password: 'x'.repeat(12) });
  });

  it('passthrough object keeps its own policy', () => {
    const open = z.object({ a: z.string() }).passthrough();
    expect(zodPart(open).validate({ a: 'x', b: 1 }, false).issues).toEqual([]);
  });
});
