/**
 * The configuration of schema validation and HTML sanitization: the global `validation`
 * section, and the `validate` and `sanitize` keys of a route. The shared configuration schema
 * spreads `validationPolicyShape` into the policy and `validationRouteShape` into each route.
 */
import { isAbsolute, resolve } from 'node:path';

import { z } from 'zod';

import { BUILTIN_PROFILES } from '../sanitize/profiles.js';

/** A zod schema passed in library options, recognised by zod's internal `_zod` marker. */
export interface ZodLike {
  safeParse(value: unknown): {
    success: boolean;
    data?: unknown;
    error?: { issues: readonly unknown[] };
  };
}

function isZodSchema(value: unknown): value is ZodLike {
  return (
    value !== null &&
    typeof value === 'object' &&
    '_zod' in value &&
    typeof (value as { safeParse?: unknown }).safeParse === 'function'
  );
}

/**
 * The origin of a route's schema: a file, an inline object or a zod schema. A zod schema is kept behind a function, because the
 * validated configuration is frozen deeply and freezing a zod schema would break it.
 */
export type SchemaSource =
  | { kind: 'file'; path: string }
  | { kind: 'json'; schema: Record<string, unknown> }
  | { kind: 'zod'; schema: () => ZodLike };

const schemaSource = z.union([
  z
    .custom<ZodLike>(isZodSchema)
    .transform((schema): SchemaSource => ({ kind: 'zod', schema: () => schema })),
  z
    .string()
    .min(1)
    .transform((path): SchemaSource => ({ kind: 'file', path })),
  z.record(z.string(), z.unknown()).transform((schema): SchemaSource => ({ kind: 'json', schema })),
]);

const unknownFields = z.enum(['reject', 'strip']);
const failureStatus = z.union([z.literal(400), z.literal(422)]);

export const routeValidateSchema = z
  .object({
    body: schemaSource.optional(),
    query: schemaSource.optional(),
    params: schemaSource.optional(),
    headers: schemaSource.optional(),
    /** Replaces the global `validation.unknownFields` on this route. */
    unknownFields: unknownFields.optional(),
    /** Replaces the global `validation.status` on this route. */
    status: failureStatus.optional(),
  })
  .strict();

/** `body.bio`, `body.posts.*.html`: a dotted path into the body, `*` for every element. */
const FIELD_PATH = /^body(\.[^.\s]{1,128}){1,16}$/;

const PROFILE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

export const routeSanitizeSchema = z.record(
  z
    .string()
    .regex(FIELD_PATH, 'must be a dotted path into the body such as body.bio or body.posts.*.html'),
  z.string().regex(PROFILE_NAME, 'must be a profile name such as text, basic or rich'),
);

const TAG = /^[a-z][a-z0-9]{0,15}$/;
const ATTRIBUTE = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * Elements a custom profile may not allow: they run script, load other documents, change
 * how the parser reads what follows, or submit data.
 */
const FORBIDDEN_TAGS = new Set(
  (
    'script style iframe frame frameset object embed applet svg math form input button ' +
    'textarea select option template noscript noembed noframes base link meta title xmp ' +
    'plaintext portal'
  ).split(' '),
);

/**
 * Attributes a custom profile may not allow: event handlers, inline styles, and URLs that
 * the profile's link and image rules do not check.
 */
const FORBIDDEN_ATTRIBUTES = new Set(
  'style srcdoc srcset formaction action background poster data ping xmlns is'.split(' '),
);

const profileTag = z
  .string()
  .regex(TAG, 'must be a lower-case element name such as p')
  .refine((tag) => !FORBIDDEN_TAGS.has(tag), {
    message: 'is not allowed in a sanitization profile, because it can run script or load content',
    params: { bwk: 'BWK_ERR_CONFIG_VALIDATION' },
  });

const profileAttribute = z
  .string()
  .regex(ATTRIBUTE, 'must be a lower-case attribute name such as href')
  .refine((name) => !name.startsWith('on') && !FORBIDDEN_ATTRIBUTES.has(name), {
    message:
      'is not allowed in a sanitization profile: event handlers, style and unchecked URL attributes are never kept',
    params: { bwk: 'BWK_ERR_CONFIG_VALIDATION' },
  });

export const customProfileSchema = z
  .object({
    /** Elements kept. All others are removed and their text kept. */
    tags: z.array(profileTag),
    /** Attributes kept on the allowed elements. */
    attributes: z.array(profileAttribute).default([]),
    /** URL schemes allowed in `href`. Relative URLs are always allowed. */
    linkSchemes: z.array(z.enum(['http', 'https', 'mailto', 'tel'])).default(['http', 'https']),
    /** Allowed `src` values: https URLs, data URLs of raster images, or both. */
    imageSources: z.array(z.enum(['https', 'data-image'])).default(['https']),
  })
  .strict();

export const validationDefaults = {
  unknownFields: 'reject' as const,
  status: 400 as const,
  redos: 'reject' as const,
  maxPatternInput: 4096,
  maxErrors: 20,
  sanitize: { maxLength: 16 * 1024, maxDepth: 100, profiles: {} },
};

export const validationSchema = z
  .object({
    /** The policy for object fields that a schema does not declare. */
    unknownFields: unknownFields.default(validationDefaults.unknownFields),
    /** Status of a request that fails validation. */
    status: failureStatus.default(validationDefaults.status),
    /** A pattern that recheck finds vulnerable stops the start (`reject`) or is logged (`warn`). */
    redos: z.enum(['reject', 'warn']).default(validationDefaults.redos),
    /** Strings longer than this (in UTF-16 code units) fail any `pattern` without matching. */
    maxPatternInput: z
      .number()
      .int()
      .min(16)
      .max(1024 * 1024)
      .default(validationDefaults.maxPatternInput),
    /** Maximum number of issues listed in a rejection. The count still covers all of them. */
    maxErrors: z.number().int().min(1).max(1000).default(validationDefaults.maxErrors),
    sanitize: z
      .object({
        /** Maximum length of an HTML field in UTF-16 code units. A longer one is rejected. */
        maxLength: z
          .number()
          .int()
          .min(1)
          .max(16 * 1024 * 1024)
          .default(validationDefaults.sanitize.maxLength),
        /** Maximum element nesting depth, as estimated before parsing. */
        maxDepth: z.number().int().min(1).max(1000).default(validationDefaults.sanitize.maxDepth),
        profiles: z
          .record(z.string().regex(PROFILE_NAME, 'must be a lower-case name'), customProfileSchema)
          .default({}),
      })
      .strict()
      .default(validationDefaults.sanitize),
  })
  .strict()
  .default(validationDefaults);

export function validationPolicyShape() {
  return { validation: validationSchema };
}

export function validationRouteShape() {
  return {
    /** JSON Schemas (or zod schemas in library options) for the parts of the request. */
    validate: routeValidateSchema.optional(),
    /** Body fields that contain HTML, by the sanitization profile applied to each. */
    sanitize: routeSanitizeSchema.optional(),
  };
}

export type ValidationConfig = z.output<typeof validationSchema>;
export type RouteValidateConfig = z.output<typeof routeValidateSchema>;
export type CustomProfileConfig = z.output<typeof customProfileSchema>;

/** Checks that every route names a defined profile and no custom profile shadows a built-in. */
export function checkValidation(
  config: {
    validation: ValidationConfig;
    routes: ReadonlyArray<{ sanitize?: Record<string, string> }>;
  },
  ctx: z.RefinementCtx,
): void {
  const custom = config.validation.sanitize.profiles;
  for (const name of Object.keys(custom)) {
    if (BUILTIN_PROFILES.includes(name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['validation', 'sanitize', 'profiles', name],
        message: `profile "${name}" is built in; give the custom profile another name`,
        params: { bwk: 'BWK_ERR_CONFIG_VALIDATION' },
      });
    }
  }
  config.routes.forEach((route, index) => {
    for (const [field, profile] of Object.entries(route.sanitize ?? {})) {
      if (BUILTIN_PROFILES.includes(profile) || Object.hasOwn(custom, profile)) continue;
      ctx.addIssue({
        code: 'custom',
        path: ['routes', index, 'sanitize', field],
        message: `unknown profile "${profile}": use text, basic, rich or one defined in validation.sanitize.profiles`,
        params: { bwk: 'BWK_ERR_CONFIG_VALIDATION' },
      });
    }
  });
}

/**
 * Makes the schema file paths of a parsed configuration file absolute, relative to the
 * directory of the file, before validation. Other values are left as they are.
 */
export function resolveSchemaFiles(
  raw: Record<string, unknown>,
  baseDir: string,
): Record<string, unknown> {
  if (!Array.isArray(raw.routes)) return raw;
  const routes = raw.routes.map((route: unknown) => {
    if (route === null || typeof route !== 'object') return route;
    const validate = (route as { validate?: unknown }).validate;
    if (validate === null || typeof validate !== 'object') return route;
    const resolved: Record<string, unknown> = { ...validate };
    for (const part of ['body', 'query', 'params', 'headers']) {
      const value = resolved[part];
      if (typeof value === 'string' && value !== '' && !isAbsolute(value))
        resolved[part] = resolve(baseDir, value);
    }
    return { ...route, validate: resolved };
  });
  return { ...raw, routes };
}

/** Checks whether a route reads its body as a whole for a body schema or HTML fields. */
export function routeReadsBody(route: {
  validate?: { body?: unknown };
  sanitize?: Record<string, string>;
}): boolean {
  return route.validate?.body !== undefined || route.sanitize !== undefined;
}
