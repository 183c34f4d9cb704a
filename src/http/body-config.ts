import { z } from 'zod';

import type { BodyRate } from '../core/context.js';
import { parseMediaRange, type MediaRange } from './content-type.js';
import type { FormLimits } from './form-scan.js';
import type { JsonLimits } from './json-scan.js';
import { formatSize, parseSize } from './size.js';

/**
 * The `limits` and `body` parts of the configuration schema: request size limits, the minimum
 * body transfer rate, allowed media types and the checks on JSON and form bodies. Both keys
 * exist globally and per route, where each field set replaces the global one. The shared
 * schema passes in its duration schema, so that this file does not import the shared one.
 */

/**
 * Bodies that are checked are held in memory whole, so a route that validates bodies may
 * allow at most this many bytes. Larger uploads stream with `body.validate: false`.
 */
export const MAX_VALIDATED_BODY = 64 * 1024 * 1024;

export const requestLimitsDefaults = {
  // RFC 9110 section 4.1 recommends accepting request targets of at least 8000 octets.
  maxUrlLength: 8192,
  maxHeaderCount: 100,
  maxHeaderSize: 16 * 1024,
  maxBodySize: 1024 * 1024,
  minBodyRate: { bytesPerSecond: 1024, window: 10_000, grace: 5_000 },
};

export const bodyDefaults = {
  validate: true,
  json: {
    maxDepth: 64,
    maxKeys: 1000,
    maxStringLength: 64 * 1024,
    duplicateKeys: 'reject' as const,
  },
  form: { maxFields: 1000, maxStringLength: 64 * 1024 },
};

const SIZE_CODE = { bwk: 'BWK_ERR_CONFIG_SIZE' };

/** Creates the schema of a byte size: a whole number of bytes, or a string such as `64kb`. */
function sizeSchema(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    let bytes: number;
    try {
      bytes = parseSize(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message, params: SIZE_CODE });
      return z.NEVER;
    }
    if (bytes < min || bytes > max) {
      const range =
        max === Number.MAX_SAFE_INTEGER
          ? `at least ${formatSize(min)}`
          : `between ${formatSize(min)} and ${formatSize(max)}`;
      ctx.addIssue({ code: 'custom', message: `must be ${range}`, params: SIZE_CODE });
      return z.NEVER;
    }
    return bytes;
  });
}

const count = (min: number, max: number) => z.number().int().min(min).max(max);

const mediaRange = z.string().transform((value, ctx) => {
  const range = parseMediaRange(value);
  if (range === undefined) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be a media type such as application/json, a range such as text/* or */*, or a suffix range such as application/*+json',
      params: { bwk: 'BWK_ERR_CONFIG_MEDIA_TYPE' },
    });
    return z.NEVER;
  }
  return range;
});

type Duration = z.ZodType<number, unknown>;

function minBodyRateSchema(duration: Duration) {
  const window = duration.refine((ms) => ms >= 1000 && ms <= 300_000, {
    message: 'must be between 1s and 5m',
    params: { bwk: 'BWK_ERR_CONFIG_DURATION' },
  });
  const grace = duration.refine((ms) => ms <= 300_000, {
    message: 'must be at most 5m',
    params: { bwk: 'BWK_ERR_CONFIG_DURATION' },
  });
  const rate = z
    .object({
      bytesPerSecond: sizeSchema(1),
      window: window.default(requestLimitsDefaults.minBodyRate.window),
      grace: grace.default(requestLimitsDefaults.minBodyRate.grace),
    })
    .strict();
  // `false` switches the check off.
  return z.union([z.literal(false), rate]);
}

/** Creates the fields of `limits`, each optional. Missing ones get the defaults when compiled. */
function limitsFields(duration: Duration) {
  return {
    maxUrlLength: count(64, 1024 * 1024).optional(),
    maxHeaderCount: count(4, 10_000).optional(),
    maxHeaderSize: sizeSchema(1024, 1024 * 1024).optional(),
    maxBodySize: sizeSchema(0).optional(),
    minBodyRate: minBodyRateSchema(duration).optional(),
  };
}

const jsonLimitsSchema = z
  .object({
    maxDepth: count(1, 1000).optional(),
    maxKeys: count(1, 1_000_000).optional(),
    maxStringLength: count(1, MAX_VALIDATED_BODY).optional(),
    duplicateKeys: z.enum(['reject', 'allow']).optional(),
  })
  .strict();

const formLimitsSchema = z
  .object({
    maxFields: count(1, 1_000_000).optional(),
    maxStringLength: count(1, MAX_VALIDATED_BODY).optional(),
  })
  .strict();

const bodyFields = {
  /** Media ranges a request body may have; any type when absent. */
  contentTypes: z.array(mediaRange).min(1).optional(),
  /** Whether JSON and form bodies must parse, which reads them whole before forwarding. */
  validate: z.boolean().optional(),
  json: jsonLimitsSchema.optional(),
  form: formLimitsSchema.optional(),
};

/** Creates the schema of the global `limits` key. */
export function limitsSchema(duration: Duration) {
  return z.object(limitsFields(duration)).strict().default({});
}

/** The global `body` key. */
export const bodySchema = z.object(bodyFields).strict().default({});

/** Creates the schema of a route's `limits`, whose fields replace the global ones. */
export function routeLimitsSchema(duration: Duration) {
  return z.object(limitsFields(duration)).strict().optional();
}

/** A route's `body`, whose fields replace the global ones (`json` and `form` field by field). */
export const routeBodySchema = z.object(bodyFields).strict().optional();

export type LimitsInput = z.output<ReturnType<typeof limitsSchema>>;
export type BodyInput = z.output<typeof bodySchema>;

/** Size limits of one request, compiled. */
export interface RequestLimits {
  maxUrlLength: number;
  maxHeaderCount: number;
  /** Bytes of all header lines together, names, values and line endings included. */
  maxHeaderSize: number;
  maxBodySize: number;
  minBodyRate: BodyRate | undefined;
}

/** The body guard's checks on one route, compiled. */
export interface BodyChecks {
  contentTypes: readonly MediaRange[] | undefined;
  validate: boolean;
  json: JsonLimits;
  form: FormLimits;
}

/** Compiles a route's `limits` over the global ones (or the global ones over the defaults). */
export function compileLimits(global: LimitsInput, route?: LimitsInput): RequestLimits {
  const merged = { ...definedOnly(global), ...definedOnly(route ?? {}) };
  const rate = merged.minBodyRate ?? requestLimitsDefaults.minBodyRate;
  return {
    maxUrlLength: merged.maxUrlLength ?? requestLimitsDefaults.maxUrlLength,
    maxHeaderCount: merged.maxHeaderCount ?? requestLimitsDefaults.maxHeaderCount,
    maxHeaderSize: merged.maxHeaderSize ?? requestLimitsDefaults.maxHeaderSize,
    maxBodySize: merged.maxBodySize ?? requestLimitsDefaults.maxBodySize,
    minBodyRate:
      rate === false
        ? undefined
        : { bytesPerSecond: rate.bytesPerSecond, windowMs: rate.window, graceMs: rate.grace },
  };
}

/** Compiles a route's `body` over the global one (or the global one over the defaults). */
export function compileBodyChecks(global: BodyInput, route?: BodyInput): BodyChecks {
  const own = route ?? {};
  return {
    contentTypes: own.contentTypes ?? global.contentTypes,
    validate: own.validate ?? global.validate ?? bodyDefaults.validate,
    json: {
      ...bodyDefaults.json,
      ...definedOnly(global.json ?? {}),
      ...definedOnly(own.json ?? {}),
    },
    form: {
      ...bodyDefaults.form,
      ...definedOnly(global.form ?? {}),
      ...definedOnly(own.form ?? {}),
    },
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] !== undefined) out[key] = value[key];
  }
  return out;
}

type PolicyWithBodies = {
  limits: LimitsInput;
  body: BodyInput;
  routes: ReadonlyArray<{ limits?: LimitsInput; body?: BodyInput }>;
};

/**
 * Rejects policies that would hold too much in memory: a body that is validated is read
 * whole first, so its size limit may not exceed MAX_VALIDATED_BODY.
 */
export function checkBodyLimits(config: PolicyWithBodies, ctx: z.RefinementCtx): void {
  const check = (limits: RequestLimits, body: BodyChecks, path: (string | number)[]): void => {
    if (!body.validate || limits.maxBodySize <= MAX_VALIDATED_BODY) return;
    ctx.addIssue({
      code: 'custom',
      path,
      message: `validated JSON and form bodies are held in memory, so maxBodySize may be at most ${formatSize(MAX_VALIDATED_BODY)} here; set body.validate: false for this route to stream large bodies`,
      params: { bwk: 'BWK_ERR_CONFIG_CONFLICT' },
    });
  };
  check(compileLimits(config.limits), compileBodyChecks(config.body), ['limits', 'maxBodySize']);
  config.routes.forEach((route, index) => {
    check(compileLimits(config.limits, route.limits), compileBodyChecks(config.body, route.body), [
      'routes',
      index,
      'limits',
      'maxBodySize',
    ]);
  });
}

/**
 * The request bodies that are read whole before the guards run, so that guards can check
 * their bytes in `ctx.body`. `none` streams every body. `parsed` reads the JSON and form
 * bodies that `body.validate` checks. `form` reads form bodies only, for the repeated-field
 * policy. `all` reads every body, as a Content-Digest check needs.
 */
export type BodyBuffering = 'none' | 'form' | 'parsed' | 'all';

/** The request limits and body checks of one route, or of requests that match none. */
export interface RequestPolicy {
  limits: RequestLimits;
  body: BodyChecks;
  bufferBody: BodyBuffering;
}
