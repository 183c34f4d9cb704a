/**
 * The `waf` part of the configuration schema: the injection guard's policy, globally and per
 * route. A route's scalar settings and each `inspect` field replace the global ones. Its
 * exclusions are added to the global ones, and its sink tags are looked up before them.
 */
import { z } from 'zod';

import { compileFieldGlob, type FieldGlob } from './field-glob.js';
import { isKnownRule, ruleKey } from './rules.js';
import { families, sinks, type Family, type Paranoia, type Sink } from './types.js';

/** RFC 9110 token, the grammar of header names. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;

export const wafDefaults = {
  enabled: false,
  paranoia: 1 as Paranoia,
  // One critical rule (5 points) is enough to block.
  threshold: 5,
  mode: 'block' as 'block' | 'report',
  inspect: {
    query: true,
    body: true,
    path: true,
    params: true,
    // Headers that carry free text a client controls and that applications commonly log or
    // store.
    headers: ['user-agent', 'referer'],
    cookies: true,
  },
  limits: { maxDepth: 64, maxValues: 5000 },
};

const CODE = { bwk: 'BWK_ERR_CONFIG_WAF' };

const fieldGlob = z.string().superRefine((value, ctx) => {
  try {
    compileFieldGlob(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message, params: CODE });
  }
});

// Checked here rather than in a refinement of the whole policy, so the error names the entry.
// NOTE: the detectors publish no list of their rules, so a well-formed id with a number that
// no rule uses passes this check and then never matches.
const ruleName = z.string().superRefine((value, ctx) => {
  if ((families as readonly string[]).includes(value) || isKnownRule(value)) return;
  ctx.addIssue({
    code: 'custom',
    message: `unknown rule "${value.slice(0, 80)}": write a family (${families.join(', ')}) or a rule id such as sqli-001, as listed in the rules of an injection.detected event`,
    params: CODE,
  });
});

const exclusionSchema = z
  .object({
    /** The field, and everything nested under it, that the exclusion applies to. */
    field: fieldGlob,
    /** Rule ids or families skipped on the field. Without it, the field is not inspected. */
    rules: z.array(ruleName).min(1).max(100).optional(),
  })
  .strict();

const inspectSchema = z
  .object({
    query: z.boolean().optional(),
    body: z.boolean().optional(),
    path: z.boolean().optional(),
    params: z.boolean().optional(),
    headers: z
      .array(z.string().regex(HEADER_NAME, 'must be a header name such as user-agent'))
      .max(50)
      .optional(),
    cookies: z.boolean().optional(),
  })
  .strict();

const wafFields = {
  enabled: z.boolean().optional(),
  paranoia: z
    .number()
    .int()
    .min(1)
    .max(4)
    .transform((value) => value as Paranoia)
    .optional(),
  /** The anomaly score at which a request is blocked. */
  threshold: z.number().int().min(1).max(1000).optional(),
  /** `report` publishes detections as `would_block` and lets every request through. */
  mode: z.enum(['block', 'report']).optional(),
  inspect: inspectSchema.optional(),
  exclusions: z.array(exclusionSchema).max(500).optional(),
  /** Field globs tagged with the sink they reach, so only that sink's detectors run, strictly. */
  sinks: z
    .record(fieldGlob, z.enum(sinks, { error: `must be one of ${sinks.join(', ')}` }))
    .optional(),
  /** Bounds of the walk over a request's values. */
  limits: z
    .object({
      maxDepth: z.number().int().min(1).max(1000).optional(),
      maxValues: z.number().int().min(1).max(1_000_000).optional(),
    })
    .strict()
    .optional(),
};

/** The global `waf` key. */
export const wafSchema = z.object(wafFields).strict().default({});

/** A route's `waf`, over the global one. */
export const routeWafSchema = z.object(wafFields).strict().optional();

export type WafInput = z.output<typeof wafSchema>;

export interface WafExclusion {
  readonly field: FieldGlob;
  /** Families and `<family>-<NNN>` rule keys skipped. Undefined skips the field. */
  readonly rules: ReadonlySet<string> | undefined;
}

/** The injection guard's policy on one route, compiled. */
export interface WafPolicy {
  readonly enabled: boolean;
  readonly paranoia: Paranoia;
  readonly threshold: number;
  readonly mode: 'block' | 'report';
  readonly inspect: {
    readonly query: boolean;
    readonly body: boolean;
    readonly path: boolean;
    readonly params: boolean;
    /** Lower-case header names. */
    readonly headers: readonly string[];
    readonly cookies: boolean;
  };
  readonly exclusions: readonly WafExclusion[];
  /** Tagged fields in lookup order: route tags first, then global ones. */
  readonly sinks: ReadonlyArray<{ readonly field: FieldGlob; readonly sink: Sink }>;
  readonly limits: { readonly maxDepth: number; readonly maxValues: number };
}

/**
 * Compiles a route's `waf` over the global one, or the global one over the defaults.
 * `htmlFields` are the route's fields that the sanitize guard rewrites: markup in them is
 * expected and neutralised there, so the XSS rules skip them.
 */
export function compileWafPolicy(
  global: WafInput,
  route?: WafInput,
  htmlFields: readonly string[] = [],
): WafPolicy {
  const own = route ?? {};
  const sanitized = htmlFields.flatMap(wildcardForms).map((field) => ({ field, rules: ['xss'] }));
  const inspect = { ...wafDefaults.inspect, ...defined(global.inspect), ...defined(own.inspect) };
  const limits = { ...wafDefaults.limits, ...defined(global.limits), ...defined(own.limits) };
  return {
    enabled: own.enabled ?? global.enabled ?? wafDefaults.enabled,
    paranoia: own.paranoia ?? global.paranoia ?? wafDefaults.paranoia,
    threshold: own.threshold ?? global.threshold ?? wafDefaults.threshold,
    mode: own.mode ?? global.mode ?? wafDefaults.mode,
    inspect: { ...inspect, headers: inspect.headers.map((name) => name.toLowerCase()) },
    exclusions: [...(global.exclusions ?? []), ...(own.exclusions ?? []), ...sanitized].map(
      (exclusion) => ({
        field: compileFieldGlob(exclusion.field),
        rules: exclusion.rules && new Set(exclusion.rules.map(ruleKey)),
      }),
    ),
    sinks: [...Object.entries(own.sinks ?? {}), ...Object.entries(global.sinks ?? {})].map(
      ([field, sink]) => ({ field: compileFieldGlob(field), sink }),
    ),
    limits,
  };
}

/**
 * Expands a sanitize path into every glob spelling of its wildcards. A sanitize path writes
 * `.*` for any member or element, but a glob distinguishes `.*` (member) from `[*]`
 * (element). Paths with more than four wildcards are returned unchanged.
 */
function wildcardForms(field: string): string[] {
  const parts = field.split('.*');
  if (parts.length === 1 || parts.length > 5) return [field];
  let forms = [parts[0]!];
  for (const part of parts.slice(1)) {
    forms = forms.flatMap((head) => [`${head}.*${part}`, `${head}[*]${part}`]);
  }
  return forms;
}

/** Checks whether an exclusion skips rule `ruleId` of `family` on the fields it selects. */
export function excludes(exclusion: WafExclusion, ruleId: string, family: Family): boolean {
  const rules = exclusion.rules;
  return rules === undefined || rules.has(family) || rules.has(ruleKey(ruleId));
}

/** Checks whether any route, or requests outside every route, have the guard on. */
export function wafEnabledAnywhere(config: {
  waf: WafInput;
  routes: ReadonlyArray<{ waf?: WafInput }>;
}): boolean {
  const global = config.waf.enabled ?? wafDefaults.enabled;
  return global || config.routes.some((route) => route.waf?.enabled === true);
}

function defined<T extends object>(value: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (value === undefined) return out;
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] !== undefined) out[key] = value[key];
  }
  return out;
}
