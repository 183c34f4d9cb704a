import { z } from 'zod';

import { routeAuthSchema } from './config-schema.js';

/**
 * The `versioning` part of the configuration schema: where a request names its API version,
 * which versions exist, their lifecycle and their policy. The shared schema imports it and
 * passes in its rate-limit and URL schemas, so that this file does not import the shared one.
 */

export const versionSources = ['path', 'header', 'mediaType'] as const;
export const versionStatuses = ['active', 'deprecated', 'retired'] as const;

export type VersionSource = (typeof versionSources)[number];
export type VersionStatus = (typeof versionStatuses)[number];

/**
 * Version names are restricted to URL- and header-safe characters, so they can be written into
 * the upstream header, problem bodies and events without escaping.
 */
export const VERSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const versioningDefaults = {
  from: ['path', 'header'] as VersionSource[],
  onConflict: 'reject' as const,
  pathPrefix: '/v{version}',
  header: 'Api-Version',
  upstreamHeader: 'X-Api-Version',
};

const VERSION_CODE = { bwk: 'BWK_ERR_CONFIG_VERSION' };

// YAML reads `name: 1` as a number. Whole numbers are taken as their digits, but `1.10` would
// arrive as 1.1, so a fractional number must be quoted.
const versionName = z.union([z.string(), z.number()]).transform((value, ctx) => {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return String(value);
    ctx.addIssue({
      code: 'custom',
      message: `quote the version name, e.g. "${value}": YAML reads it as a number, which drops trailing zeros`,
      params: VERSION_CODE,
    });
    return z.NEVER;
  }
  if (!VERSION_NAME.test(value)) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit',
      params: VERSION_CODE,
    });
    return z.NEVER;
  }
  return value;
});

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** An ISO 8601 date (midnight UTC) or date-time with a zone, as milliseconds since the epoch. */
const instant = z.union([z.string(), z.date()]).transform((value, ctx) => {
  let ms = NaN;
  if (value instanceof Date) ms = value.getTime();
  else if (ISO_INSTANT.test(value)) ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO 8601 date such as 2027-01-31 or 2027-01-31T00:00:00Z',
      params: VERSION_CODE,
    });
    return z.NEVER;
  }
  return ms;
});

const headerName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a header name of letters, digits and dashes');

// One path segment: literal characters around a `{version}` placeholder, e.g. `/v{version}`.
const PATH_PREFIX = /^\/([A-Za-z0-9._~-]*)\{version\}([A-Za-z0-9._~-]*)$/;

const pathPrefix = z
  .string()
  .regex(
    PATH_PREFIX,
    'must be one path segment containing {version}, such as /v{version} or /{version}',
  );

/** Splits a valid `pathPrefix` into the lower-case text before and after `{version}`. */
export function parsePathPrefix(prefix: string): { before: string; after: string } {
  const match = PATH_PREFIX.exec(prefix);
  if (match === null) throw new Error(`invalid path prefix ${JSON.stringify(prefix)}`);
  return { before: match[1]!.toLowerCase(), after: match[2]!.toLowerCase() };
}

// The tree name in `application/vnd.<vendor>`, lower-cased because media types are
// case-insensitive.
const vendor = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,63}$/, 'must be a media type vendor name such as acme')
  .transform((value) => value.toLowerCase());

export function versioningSchema<Limit extends z.ZodType>(
  rateLimit: Limit,
  httpUrl: z.ZodType<string, string>,
) {
  const version = z
    .object({
      name: versionName,
      status: z.enum(versionStatuses).default('active'),
      /** The time the version is (or will be) deprecated, sent as `Deprecation` (RFC 9745). */
      deprecatedAt: instant.optional(),
      /** The time the version stops (or stopped) being served, sent as `Sunset` (RFC 8594). */
      sunset: instant.optional(),
      /** Migration notes, sent as `Link` with rel `deprecation` and, with a sunset, `sunset`. */
      link: httpUrl.optional(),
      /** The version that replaces this one, named in the 410 body (`default` if unset). */
      successor: versionName.optional(),
      /** Replaces the fields of the global `auth` policy that it sets. A route's `auth` wins. */
      auth: routeAuthSchema.optional(),
      /** Added to every request of this version, counted per version. */
      rateLimits: z.array(rateLimit).default([]),
    })
    .strict();

  return z
    .object({
      /** Where a version is read. With `onConflict: precedence`, earlier sources win. */
      from: z.array(z.enum(versionSources)).min(1).default(versioningDefaults.from),
      /** `reject` returns 400 when two sources name different versions. */
      onConflict: z.enum(['reject', 'precedence']).default(versioningDefaults.onConflict),
      pathPrefix: pathPrefix.default(versioningDefaults.pathPrefix),
      header: headerName.default(versioningDefaults.header),
      /** The vendor tree of `application/vnd.<vendor>+json; version=1`, for `mediaType`. */
      vendor: vendor.optional(),
      /** The version of requests that name none. Without it such requests get 400. */
      default: versionName.optional(),
      /** Gateway only: the request header that carries the resolved version upstream. */
      upstreamHeader: headerName.default(versioningDefaults.upstreamHeader),
      versions: z.array(version).min(1),
    })
    .strict()
    .optional();
}

type VersionLike = {
  name: string;
  status: VersionStatus;
  deprecatedAt?: number;
  sunset?: number;
  link?: string;
  successor?: string;
  auth?: { methods?: readonly string[] };
  rateLimits: ReadonlyArray<{ name: string }>;
};

type VersioningLike = {
  from: readonly VersionSource[];
  pathPrefix: string;
  vendor?: string;
  default?: string;
  upstreamHeader: string;
  versions: readonly VersionLike[];
};

type PolicyLike = {
  versioning?: VersioningLike;
  rateLimits: ReadonlyArray<{ name: string }>;
  routes: ReadonlyArray<{
    match: { path: string; text: string };
    rateLimits: ReadonlyArray<{ name: string }>;
  }>;
  auth: { jwt?: unknown; upstreamHeaders: Record<string, string> };
};

type Path = (string | number)[];

/**
 * Checks what the schema cannot see field by field: names that must be unique or must exist,
 * date order, and sources that need settings.
 */
export function checkVersioning(config: PolicyLike, ctx: z.RefinementCtx): void {
  const versioning = config.versioning;
  if (versioning === undefined) return;

  const report = (path: Path, message: string, code = 'BWK_ERR_CONFIG_VERSION'): void =>
    ctx.addIssue({ code: 'custom', path: ['versioning', ...path], message, params: { bwk: code } });

  const byName = checkVersionNames(versioning, report);
  checkSources(versioning, report);
  checkDefault(versioning, byName, report);
  versioning.versions.forEach((version, index) => {
    checkLifecycle(version, ['versions', index], report);
    checkSuccessor(version, byName, ['versions', index], report);
    checkVersionLimits(config, version, ['versions', index], report);
    checkVersionAuth(config, version, ['versions', index, 'auth', 'methods'], report);
  });
  checkUpstreamHeader(config, versioning, report);
  if (versioning.from.includes('path')) checkRoutePaths(config, versioning, byName, ctx);
}

type Report = (path: Path, message: string, code?: string) => void;

/** Returns the versions by lower-case name, because names differing only in case are duplicates. */
function checkVersionNames(versioning: VersioningLike, report: Report): Map<string, VersionLike> {
  const byName = new Map<string, VersionLike>();
  versioning.versions.forEach((version, index) => {
    const key = version.name.toLowerCase();
    if (byName.has(key)) {
      report(
        ['versions', index, 'name'],
        `version "${version.name}" is declared twice (names are compared without case)`,
        'BWK_ERR_CONFIG_DUPLICATE',
      );
      return;
    }
    byName.set(key, version);
  });
  return byName;
}

function checkSources(versioning: VersioningLike, report: Report): void {
  const seen = new Set<string>();
  versioning.from.forEach((source, index) => {
    if (seen.has(source))
      report(['from', index], `source ${source} is listed twice`, 'BWK_ERR_CONFIG_DUPLICATE');
    seen.add(source);
  });
  if (versioning.from.includes('mediaType') && versioning.vendor === undefined)
    report(['vendor'], 'source mediaType needs vendor, the name in application/vnd.<vendor>+json');
}

function checkDefault(
  versioning: VersioningLike,
  byName: Map<string, VersionLike>,
  report: Report,
): void {
  if (versioning.default === undefined) return;
  const version = byName.get(versioning.default.toLowerCase());
  if (version === undefined) {
    report(
      ['default'],
      `default names version "${versioning.default}", which is not in versions (${namesOf(versioning)})`,
    );
  } else if (version.status === 'retired') {
    report(
      ['default'],
      `default version "${version.name}" is retired, so every request without a version would get 410; pick an active one`,
    );
  }
}

function checkLifecycle(version: VersionLike, path: Path, report: Report): void {
  if (version.status === 'active') {
    for (const field of ['deprecatedAt', 'sunset', 'link'] as const) {
      if (version[field] !== undefined)
        report(
          [...path, field],
          `${field} is sent only for deprecated or retired versions; set status: deprecated to announce a deprecation`,
        );
    }
  }
  if (version.status === 'deprecated' && version.deprecatedAt === undefined)
    report(
      [...path, 'deprecatedAt'],
      'a deprecated version needs deprecatedAt, the date sent in the Deprecation header (RFC 9745); it may lie in the future',
    );
  if (
    version.deprecatedAt !== undefined &&
    version.sunset !== undefined &&
    version.sunset < version.deprecatedAt
  )
    report(
      [...path, 'sunset'],
      `sunset ${new Date(version.sunset).toISOString()} is before deprecatedAt ${new Date(version.deprecatedAt).toISOString()}`,
    );
}

function checkSuccessor(
  version: VersionLike,
  byName: Map<string, VersionLike>,
  path: Path,
  report: Report,
): void {
  if (version.successor === undefined) return;
  const successor = byName.get(version.successor.toLowerCase());
  if (successor === undefined) {
    report([...path, 'successor'], `successor "${version.successor}" is not in versions`);
  } else if (successor === version || successor.status === 'retired') {
    report(
      [...path, 'successor'],
      `successor "${successor.name}" must be another version that is not retired`,
    );
  }
}

// The same checks as for `auth.methods` and `routes[].auth.methods`.
function checkVersionAuth(
  config: PolicyLike,
  version: VersionLike,
  path: Path,
  report: Report,
): void {
  const methods = version.auth?.methods ?? [];
  if (methods.includes('jwt') && config.auth.jwt === undefined)
    report(path, 'method jwt needs auth.jwt.issuers', 'BWK_ERR_CONFIG_AUTH');
  // The `oauth` section exists only in the gateway file, so it is not part of PolicyLike.
  const oauth = (config as { oauth?: unknown }).oauth;
  if (methods.includes('oauth') && oauth === undefined)
    report(path, 'method oauth needs the gateway oauth section', 'BWK_ERR_CONFIG_OAUTH');
}

// A version limit gets its own counter per version. Sharing a name with a global or route
// limit would make two different limits report the same name in headers and problem bodies.
function checkVersionLimits(
  config: PolicyLike,
  version: VersionLike,
  path: Path,
  report: Report,
): void {
  const otherNames = new Set(config.rateLimits.map((limit) => limit.name));
  for (const route of config.routes)
    for (const limit of route.rateLimits) otherNames.add(limit.name);
  const own = new Set<string>();
  version.rateLimits.forEach((limit, index) => {
    const limitPath = [...path, 'rateLimits', index, 'name'];
    if (own.has(limit.name)) {
      report(
        limitPath,
        `rate limit "${limit.name}" is declared twice in this version`,
        'BWK_ERR_CONFIG_DUPLICATE',
      );
    } else if (otherNames.has(limit.name)) {
      report(
        limitPath,
        `rate limit "${limit.name}" is also a global or route limit; give the version limit its own name`,
        'BWK_ERR_CONFIG_DUPLICATE',
      );
    }
    own.add(limit.name);
  });
}

// The upstream trusts this header as the gateway's word, like the identity headers, so it
// must not be one of them.
function checkUpstreamHeader(config: PolicyLike, versioning: VersioningLike, report: Report): void {
  const name = versioning.upstreamHeader.toLowerCase();
  const identity = Object.values(config.auth.upstreamHeaders).map((header) => header.toLowerCase());
  const reserved = ['host', 'authorization', 'x-request-id', 'x-forwarded-for'];
  if (identity.includes(name) || reserved.includes(name))
    report(
      ['upstreamHeader'],
      `${versioning.upstreamHeader} is already set by the gateway; choose another header such as X-Api-Version`,
      'BWK_ERR_CONFIG_CONFLICT',
    );
}

// Routes are matched after the version prefix is removed, so a route written with the
// prefix would never match, and its policy would silently not apply.
function checkRoutePaths(
  config: PolicyLike,
  versioning: VersioningLike,
  byName: Map<string, VersionLike>,
  ctx: z.RefinementCtx,
): void {
  // Refinements run even after the prefix failed its own check, which reported it already.
  if (!PATH_PREFIX.test(versioning.pathPrefix)) return;
  const { before, after } = parsePathPrefix(versioning.pathPrefix);
  config.routes.forEach((route, index) => {
    const segment = route.match.path.split('/')[1]?.toLowerCase() ?? '';
    const inner = segment.slice(before.length, segment.length - after.length);
    const prefixed =
      segment.length > before.length + after.length &&
      segment.startsWith(before) &&
      segment.endsWith(after) &&
      byName.has(inner);
    if (!prefixed) return;
    const rest = route.match.path.slice(segment.length + 1) || '/';
    ctx.addIssue({
      code: 'custom',
      path: ['routes', index, 'match'],
      message: `routes are matched without the version prefix, so write the path as ${rest} (one route covers every version)`,
      params: VERSION_CODE,
    });
  });
}

function namesOf(versioning: VersioningLike): string {
  return versioning.versions.map((version) => version.name).join(', ');
}
