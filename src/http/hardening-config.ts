import { z } from 'zod';

import { parseOriginPattern, type OriginPattern } from './origin-pattern.js';

/**
 * The configuration of the HTTP policy guards: CORS (`cors`), security response headers
 * (`securityHeaders`), repeated query parameters (`parameters`) and method and path checks
 * (`requestTarget`). The shared schema spreads `hardeningPolicyShape` into the policy and
 * `hardeningRouteShape` into each route; `checkHardening` checks what only the merged global
 * and route settings can show.
 */

type Duration = z.ZodType<number, unknown>;

/** RFC 9110 section 5.6.2 token, the grammar of method and header names. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;

/** The methods of RFC 9110 and RFC 5789 that APIs serve; TRACE and CONNECT are left out. */
export const DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** The methods a browser sends without a preflight (Fetch standard, CORS-safelisted method). */
const SAFELISTED_METHODS = ['GET', 'HEAD', 'POST'];

// Methods are case-sensitive (RFC 9110 section 9.1), so a lower-case name in the file would
// match nothing a client sends. It is rejected rather than silently never matching.
const methodName = z.string().superRefine((value, ctx) => {
  if (!TOKEN.test(value) || value !== value.toUpperCase()) {
    ctx.addIssue({
      code: 'custom',
      message: `invalid method "${value.slice(0, 40)}": methods are case-sensitive tokens, write e.g. ${value.toUpperCase().slice(0, 40)}`,
      params: { bwk: 'BWK_ERR_CONFIG_VALUE' },
    });
  }
});

const headerName = z
  .string()
  .regex(TOKEN, "must be a header name: 1 to 64 letters, digits or !#$%&'*+.^_`|~-");

const headerList = z.array(z.union([z.literal('*'), headerName]));

// Entries are parsed in one transform rather than per element, because an error inside a
// union would otherwise be reported for the whole list instead of the entry's own path.
const originList = z
  .union([z.literal('*'), z.array(z.string()).min(1)])
  .transform((value, ctx): '*' | OriginPattern[] => {
    if (value === '*') return value;
    const patterns: OriginPattern[] = [];
    value.forEach((entry, index) => {
      try {
        patterns.push(parseOriginPattern(entry));
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          path: [index],
          message: (error as Error).message,
          params: { bwk: 'BWK_ERR_CONFIG_CORS' },
        });
      }
    });
    return patterns;
  });

function corsFields(duration: Duration) {
  return {
    /** `*` for any origin (never with credentials), or exact origins and patterns. */
    origins: originList,
    methods: z.array(methodName).min(1),
    allowHeaders: headerList,
    exposeHeaders: headerList,
    credentials: z.boolean(),
    /** How long a browser may cache a preflight response. Browsers cap it (2 h in Chromium). */
    maxAge: duration,
    /** Reject actual requests from other origins with 403, not only leave out CORS headers. */
    rejectDisallowed: z.boolean(),
  };
}

function corsSchema(duration: Duration) {
  const fields = corsFields(duration);
  return z
    .object({
      ...fields,
      methods: fields.methods.default(SAFELISTED_METHODS),
      allowHeaders: fields.allowHeaders.default([]),
      exposeHeaders: fields.exposeHeaders.default([]),
      credentials: fields.credentials.default(false),
      maxAge: fields.maxAge.default(600_000),
      rejectDisallowed: fields.rejectDisallowed.default(false),
    })
    .strict();
}

/** Builds a route's `cors` schema: `false` turns CORS off there, an object replaces the fields it sets. */
function routeCorsSchema(duration: Duration) {
  return z.union([z.literal(false), z.object(corsFields(duration)).partial().strict()]);
}

const referrerPolicies = [
  'no-referrer',
  'no-referrer-when-downgrade',
  'origin',
  'origin-when-cross-origin',
  'same-origin',
  'strict-origin',
  'strict-origin-when-cross-origin',
  'unsafe-url',
] as const;

/** A header value: visible ASCII and spaces, so no line break can reach the response. */
const headerValue = z
  .string()
  .regex(/^[\x20-\x7e]{1,4096}$/, 'must be 1 to 4096 printable ASCII characters');

function hstsSchema(duration: Duration) {
  return z
    .object({
      maxAge: duration.default(365 * 86_400_000),
      includeSubDomains: z.boolean().default(true),
      preload: z.boolean().default(false),
      /**
       * Send the header only on requests that arrived over HTTPS, through a trusted proxy
       * whose `X-Forwarded-Proto` is `https`. RFC 6797 section 7.2 forbids it over HTTP.
       */
      onlyOverHttps: z.boolean().default(true),
    })
    .strict();
}

function securityHeaderFields(duration: Duration) {
  return {
    enabled: z.boolean(),
    /** Replace values the upstream set; by default the upstream's own value is kept. */
    override: z.boolean(),
    strictTransportSecurity: z.union([z.literal(false), hstsSchema(duration)]),
    contentTypeOptions: z.boolean(),
    frameOptions: z.union([z.literal(false), z.enum(['DENY', 'SAMEORIGIN'])]),
    referrerPolicy: z.union([z.literal(false), z.enum(referrerPolicies)]),
    /** The CSP of upstream responses; Bulwark's own responses always get a strict one. */
    contentSecurityPolicy: z.union([z.literal(false), headerValue]),
    /** Further headers by name, e.g. Permissions-Policy or Cross-Origin-Resource-Policy. */
    custom: z.record(headerName, headerValue),
  };
}

export const securityHeadersDefaults = {
  enabled: true,
  override: false,
  strictTransportSecurity: {
    maxAge: 365 * 86_400_000,
    includeSubDomains: true,
    preload: false,
    onlyOverHttps: true,
  },
  contentTypeOptions: true,
  frameOptions: 'DENY',
  referrerPolicy: 'no-referrer',
  contentSecurityPolicy: false,
  custom: {},
} as const;

function securityHeadersSchema(duration: Duration) {
  const fields = securityHeaderFields(duration);
  const d = securityHeadersDefaults;
  return z
    .object({
      enabled: fields.enabled.default(d.enabled),
      override: fields.override.default(d.override),
      strictTransportSecurity: fields.strictTransportSecurity.default(d.strictTransportSecurity),
      contentTypeOptions: fields.contentTypeOptions.default(d.contentTypeOptions),
      frameOptions: fields.frameOptions.default(d.frameOptions),
      referrerPolicy: fields.referrerPolicy.default(d.referrerPolicy),
      contentSecurityPolicy: fields.contentSecurityPolicy.default(d.contentSecurityPolicy),
      custom: fields.custom.default({}),
    })
    .strict()
    .default({ ...d, strictTransportSecurity: { ...d.strictTransportSecurity }, custom: {} });
}

/** Builds a route's `securityHeaders` schema: `false` sends none there, an object replaces the fields it sets. */
function routeSecurityHeadersSchema(duration: Duration) {
  return z.union([z.literal(false), z.object(securityHeaderFields(duration)).partial().strict()]);
}

export const duplicatePolicies = ['first', 'last', 'reject', 'array'] as const;
export type DuplicatePolicy = (typeof duplicatePolicies)[number];

const parameterRules = z.record(z.string().min(1).max(256), z.enum(duplicatePolicies));

const parametersSchema = z
  .object({
    enabled: z.boolean().default(true),
    /**
     * The policy of a query parameter sent more than once, unless `rules` names it. `array`
     * by default, so lists such as `?tag=a&tag=b` keep working until rules name the scalars.
     */
    duplicates: z.enum(duplicatePolicies).default('array'),
    /** Per parameter name, as decoded: `{ tag: array, sort: last }`. */
    rules: parameterRules.default({}),
    reportOnly: z.boolean().default(false),
  })
  .strict()
  .default({ enabled: true, duplicates: 'array', rules: {}, reportOnly: false });

/** A route's `parameters`: `duplicates` replaces the global one, `rules` add to the global ones. */
const routeParametersSchema = z
  .object({ duplicates: z.enum(duplicatePolicies), rules: parameterRules })
  .partial()
  .strict();

export const requestTargetDefaults = {
  enabled: true,
  reportOnly: false,
  methods: DEFAULT_METHODS,
  duplicateSlashes: 'reject',
} as const;

const requestTargetSchema = z
  .object({
    enabled: z.boolean().default(true),
    reportOnly: z.boolean().default(false),
    /** Methods accepted at all; others get 405 before routing. */
    methods: z.array(methodName).min(1).default(DEFAULT_METHODS),
    /** `reject` rejects with 400, `merge` forwards the path with single slashes. */
    duplicateSlashes: z.enum(['reject', 'merge']).default('reject'),
  })
  .strict()
  .default({ ...requestTargetDefaults, methods: [...DEFAULT_METHODS] });

/** Top-level policy keys, for the gateway file and the adapters alike. */
export function hardeningPolicyShape(duration: Duration) {
  return {
    /** Off unless set. */
    cors: corsSchema(duration).optional(),
    securityHeaders: securityHeadersSchema(duration),
    parameters: parametersSchema,
    requestTarget: requestTargetSchema,
  };
}

/** Per-route keys. */
export function hardeningRouteShape(duration: Duration) {
  return {
    cors: routeCorsSchema(duration).optional(),
    securityHeaders: routeSecurityHeadersSchema(duration).optional(),
    parameters: routeParametersSchema.optional(),
  };
}

type CorsSettings = z.output<ReturnType<typeof corsSchema>>;
type RouteCorsSettings = z.output<ReturnType<typeof routeCorsSchema>>;
export type CorsConfig = CorsSettings;
export type SecurityHeadersConfig = z.output<ReturnType<typeof securityHeadersSchema>>;
export type RouteSecurityHeadersConfig = z.output<ReturnType<typeof routeSecurityHeadersSchema>>;
export type ParametersConfig = z.output<typeof parametersSchema>;
export type RouteParametersConfig = z.output<typeof routeParametersSchema>;
export type RequestTargetConfig = z.output<typeof requestTargetSchema>;

/** Merges a route's `cors` over the global one; undefined means CORS is off on the route. */
export function effectiveCors(
  global: CorsSettings | undefined,
  route: RouteCorsSettings | undefined,
): Partial<CorsSettings> | undefined {
  if (route === false) return undefined;
  if (route === undefined) return global;
  return { ...global, ...route };
}

interface HardeningLike {
  cors?: CorsSettings;
  securityHeaders: SecurityHeadersConfig;
  requestTarget: RequestTargetConfig;
  routes: ReadonlyArray<{ cors?: RouteCorsSettings; securityHeaders?: RouteSecurityHeadersConfig }>;
}

/**
 * Rejects CORS settings that would expose credentialed responses to any site, and route
 * settings that leave CORS incomplete, checking the global settings and every route's merge.
 */
export function checkHardening(config: HardeningLike, ctx: z.RefinementCtx): void {
  if (config.cors !== undefined) checkCors(config.cors, ['cors'], ctx);
  config.routes.forEach((route, index) => {
    const path = ['routes', index, 'cors'];
    if (route.cors === undefined || route.cors === false) return;
    const merged = effectiveCors(config.cors, route.cors);
    if (merged?.origins === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [...path, 'origins'],
        message: 'CORS on this route needs origins, because the global cors section is not set',
        params: { bwk: 'BWK_ERR_CONFIG_CORS' },
      });
      return;
    }
    checkCors(merged, path, ctx);
  });
  checkPreflightMethod(config, ctx);
  checkHsts(config.securityHeaders.strictTransportSecurity, ['securityHeaders'], ctx);
  config.routes.forEach((route, index) => {
    if (route.securityHeaders === undefined || route.securityHeaders === false) return;
    const hsts = route.securityHeaders.strictTransportSecurity;
    if (hsts !== undefined) checkHsts(hsts, ['routes', index, 'securityHeaders'], ctx);
  });
}

function checkCors(
  cors: Partial<CorsSettings>,
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  const issue = (key: string, message: string) =>
    ctx.addIssue({
      code: 'custom',
      path: [...path, key],
      message,
      params: { bwk: 'BWK_ERR_CONFIG_CORS' },
    });
  if (cors.maxAge !== undefined && cors.maxAge < 1000) {
    issue('maxAge', 'must be at least 1s; browsers count it in whole seconds');
  }
  if (cors.credentials !== true) return;
  // Browsers refuse `*` with credentials, and reflecting every origin instead would let any
  // site read the responses with the user's cookies.
  if (cors.origins === '*') {
    issue(
      'origins',
      'origins "*" cannot be combined with credentials: true, because any site could then read responses sent with the user\'s cookies; list the origins',
    );
  }
  for (const key of ['allowHeaders', 'exposeHeaders'] as const) {
    if (cors[key]?.includes('*')) {
      issue(key, '"*" means a literal header name when credentials are allowed; list the headers');
    }
  }
}

// Preflights are OPTIONS requests, and the method check runs before CORS.
function checkPreflightMethod(config: HardeningLike, ctx: z.RefinementCtx): void {
  const { requestTarget } = config;
  if (!requestTarget.enabled || requestTarget.methods.includes('OPTIONS')) return;
  const corsUsed =
    config.cors !== undefined ||
    config.routes.some((route) => route.cors !== undefined && route.cors !== false);
  if (!corsUsed) return;
  ctx.addIssue({
    code: 'custom',
    path: ['requestTarget', 'methods'],
    message: 'CORS preflights are OPTIONS requests, so OPTIONS must be listed while CORS is on',
    params: { bwk: 'BWK_ERR_CONFIG_CORS' },
  });
}

function checkHsts(
  hsts: SecurityHeadersConfig['strictTransportSecurity'],
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  if (hsts === false || !hsts.preload) return;
  // The preload list (hstspreload.org) requires both.
  if (!hsts.includeSubDomains || hsts.maxAge < 365 * 86_400_000) {
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'strictTransportSecurity', 'preload'],
      message: 'preload requires includeSubDomains: true and a maxAge of at least 365d',
      params: { bwk: 'BWK_ERR_CONFIG_HSTS' },
    });
  }
}
