/**
 * zod schemas as request validators, for library use: the same unknown-fields policy and the
 * same issue shape as JSON Schemas. Refinements (`.refine`, `.superRefine`) are the custom
 * validators. Their message is sent to the client as written, so it must not quote the value.
 */
import { z } from 'zod';

import type { CompileSettings, PartValidator } from './compile.js';
import type { ZodLike } from './config.js';
import { zodIssues } from './issues.js';

interface ZodInternals {
  _zod: { def: Record<string, unknown> & { type: string } };
  clone?: (def: Record<string, unknown>) => unknown;
}

/** Wraps a zod schema; `coerce` is ignored because zod schemas coerce with `z.coerce`. */
export function zodValidator(schema: ZodLike, settings: CompileSettings): PartValidator {
  const policed = settings.part === 'body' || settings.part === 'query';
  const closed = policed ? (closeZod(schema) as ZodLike) : schema;
  return {
    validate(value) {
      const result = closed.safeParse(value);
      if (result.success) return { issues: [], stripped: false, value };
      const issues = (result.error?.issues ?? []) as Parameters<typeof zodIssues>[1];
      const unknownOnly = issues.every((issue) => issue.code === 'unrecognized_keys');
      if (!policed || settings.unknownFields === 'reject' || !unknownOnly)
        return { issues: zodIssues(settings.part, issues), stripped: false, value };

      // The schema as written strips unknown keys, which zod objects do by default.
      const stripped = schema.safeParse(value);
      if (stripped.success) return { issues: [], stripped: true, value: stripped.data };
      const rest = (stripped.error?.issues ?? []) as Parameters<typeof zodIssues>[1];
      return { issues: zodIssues(settings.part, rest), stripped: false, value };
    },
  };
}

/**
 * Returns a copy of a zod schema whose objects reject unknown keys, through arrays, optional,
 * nullable, default and pipe wrappers, unions and records. An object that sets its own
 * policy (`.strict()`, `.passthrough()`, `.catchall()`) keeps it. Intersections are left
 * open, because a closed side would reject the keys of the other.
 * NOTE: this reads zod 4's `_zod.def`, which zod documents as internal.
 */
export function closeZod(schema: unknown): unknown {
  const node = schema as ZodInternals;
  const def = node?._zod?.def;
  if (def === undefined || typeof node.clone !== 'function') return schema;

  switch (def.type) {
    case 'object': {
      const shape = def.shape as Record<string, unknown>;
      const closedShape = Object.fromEntries(
        Object.entries(shape).map(([key, inner]) => [key, closeZod(inner)]),
      );
      const catchall = def.catchall ?? z.never();
      return node.clone({ ...def, shape: closedShape, catchall });
    }
    case 'array':
      return node.clone({ ...def, element: closeZod(def.element) });
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return node.clone({ ...def, innerType: closeZod(def.innerType) });
    case 'pipe':
      return node.clone({ ...def, in: closeZod(def.in) });
    case 'union':
      return node.clone({ ...def, options: (def.options as unknown[]).map(closeZod) });
    case 'record':
      return node.clone({ ...def, valueType: closeZod(def.valueType) });
    default:
      return schema;
  }
}
