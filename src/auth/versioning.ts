import type { IncomingHttpHeaders } from 'node:http';

import type { RequestContext, RequestVersion } from '../core/context.js';
import { CONTINUE, type Guard, type Reject, type Verdict } from '../core/guard.js';
import { problem } from '../core/problem.js';
import type { VersioningConfig } from '../core/config-schema.js';
import {
  parsePathPrefix,
  VERSION_NAME,
  type VersionSource,
  type VersionStatus,
} from './versioning-config.js';
import { versionFromAccept, type AcceptedVersion } from './versioning-media-type.js';

/**
 * API versioning: reads the version a request names (path prefix, header or media type),
 * resolves it against the configured versions, and rejects unknown, conflicting, missing and
 * retired versions.
 *
 * Resolution runs once per request, before route matching, because the path prefix is
 * removed for matching and the version selects the route's policy. Rejections come later,
 * from `VersionGuard`, so they pass through the pipeline like every other guard's (events,
 * report-only mode).
 */

/** A configured version, compiled at start with the headers its responses carry. */
export interface CompiledVersion<Policy = unknown> extends RequestVersion<Policy> {
  readonly status: VersionStatus;
  /** `Deprecation`, `Sunset` and `Link`, added to every response of this version. */
  readonly headers: Readonly<Record<string, string>>;
  readonly sunset: number | undefined;
  /** The version clients should move to, named in the 410 body of a retired version. */
  readonly successor: string | undefined;
}

/** The reason no version was resolved. `requested` is set only when it looks like a name. */
export type VersionFailure =
  | { reason: 'unknown'; source: VersionSource; requested: string | undefined }
  | { reason: 'conflict'; sources: readonly VersionSource[] }
  | { reason: 'required' };

export type VersionResolution<Policy> =
  | { version: CompiledVersion<Policy>; failure?: undefined; routePath: string }
  | { version?: undefined; failure: VersionFailure; routePath: string };

export interface VersioningOptions<Policy> {
  /** The policy of one version's requests that match no route. */
  policyOf: (name: string) => Policy;
  /**
   * The router's canonical spelling of a path, so that `/V1/x`, `//v1/x` or `/a/../v1/x`
   * name the same version as `/v1/x` wherever the router matches the same route.
   */
  canonicalPath?: (path: string) => string;
}

/** The result of reading one source: a known version, an unknown name, or a conflict. */
type Found<Policy> =
  | { version: CompiledVersion<Policy>; unknown?: undefined }
  | { version?: undefined; unknown: string | undefined }
  | { version?: undefined; unknown?: undefined; conflict: true };

/** Longer values are no version name, and are not looked up. */
const MAX_NAME_LENGTH = 64;
const STARTS_WITH_DIGIT = /^[0-9]/;

export type VersioningSettings = NonNullable<VersioningConfig>;

/** The `versioning` section compiled at start: version lookup, resolution and rejections. */
export class ApiVersioning<Policy = unknown> {
  readonly upstreamHeader: string;
  private readonly settings: VersioningSettings;
  private readonly byName = new Map<string, CompiledVersion<Policy>>();
  private readonly defaultVersion: CompiledVersion<Policy> | undefined;
  private readonly headerName: string;
  private readonly prefix: { before: string; after: string };
  private readonly readsPath: boolean;
  private readonly canonicalPath: (path: string) => string;
  private readonly retiredVerdicts = new Map<string, Reject>();
  /** Source names as problem details write them. */
  private readonly labels: Record<VersionSource, string>;
  /** Names of the versions that are not retired, for problem bodies. */
  readonly supported: readonly string[];

  constructor(settings: VersioningSettings, options: VersioningOptions<Policy>) {
    this.settings = settings;
    this.upstreamHeader = settings.upstreamHeader;
    this.headerName = settings.header.toLowerCase();
    this.prefix = parsePathPrefix(settings.pathPrefix);
    this.readsPath = settings.from.includes('path');
    this.canonicalPath = options.canonicalPath ?? ((path) => path);
    this.labels = {
      path: 'the path',
      header: `the ${settings.header} header`,
      mediaType: 'the Accept header',
    };
    for (const config of settings.versions) {
      const version = compileVersion(config, settings.default, options.policyOf(config.name));
      this.byName.set(config.name.toLowerCase(), version);
    }
    this.defaultVersion =
      settings.default === undefined ? undefined : this.byName.get(settings.default.toLowerCase());
    this.supported = settings.versions
      .filter((version) => version.status !== 'retired')
      .map((version) => version.name);
    for (const version of this.byName.values()) {
      if (version.status === 'retired')
        this.retiredVerdicts.set(version.name, retiredVerdict(version, this.supported));
    }
  }

  /** Returns the compiled versions, in configuration order. */
  versions(): CompiledVersion<Policy>[] {
    return [...this.byName.values()];
  }

  /**
   * Resolves the version a request names. `routePath` is the path to match routes with: the
   * path without its version segment when the path names one, else the path as received.
   */
  resolve(headers: IncomingHttpHeaders, path: string): VersionResolution<Policy> {
    let routePath = path;
    let fromPath: Found<Policy> | undefined;
    if (this.readsPath) {
      const segment = this.pathVersion(this.canonicalPath(path));
      if (segment !== undefined) {
        routePath = segment.rest;
        fromPath = segment.found;
      }
    }

    let chosen: { version: CompiledVersion<Policy>; source: VersionSource } | undefined;
    for (const source of this.settings.from) {
      const found = source === 'path' ? fromPath : this.read(source, headers);
      if (found === undefined) continue;
      if ('conflict' in found)
        return { failure: { reason: 'conflict', sources: [source] }, routePath };
      if (found.version === undefined)
        return { failure: { reason: 'unknown', source, requested: found.unknown }, routePath };
      if (chosen === undefined) {
        chosen = { version: found.version, source };
        if (this.settings.onConflict === 'precedence') break;
      } else if (chosen.version !== found.version) {
        return { failure: { reason: 'conflict', sources: [chosen.source, source] }, routePath };
      }
    }

    const version = chosen?.version ?? this.defaultVersion;
    if (version === undefined) return { failure: { reason: 'required' }, routePath };
    return { version, routePath };
  }

  /** Returns the 410 verdict of a retired version, or undefined for any other version. */
  retiredVerdict(version: RequestVersion): Reject | undefined {
    return this.retiredVerdicts.get(version.name);
  }

  /** Builds the rejection for a request whose version could not be resolved. */
  rejection(failure: VersionFailure): Reject {
    if (failure.reason === 'unknown') return unknownVerdict(failure, this.labels, this.supported);
    if (failure.reason === 'conflict') return conflictVerdict(failure, this.labels);
    return requiredVerdict(this.settings, this.supported);
  }

  private read(source: VersionSource, headers: IncomingHttpHeaders): Found<Policy> | undefined {
    if (source === 'header') return this.headerVersion(headers[this.headerName]);
    const accept = headers.accept;
    if (accept === undefined || this.settings.vendor === undefined) return undefined;
    const accepted = versionFromAccept(accept, this.settings.vendor, (name) =>
      this.byName.has(name),
    );
    return accepted === undefined ? undefined : this.negotiate(accepted);
  }

  /**
   * Reads the first non-empty path segment. It counts as a version segment when it fits the
   * prefix around a configured name, or around a name that starts with a digit, which is
   * then an unknown version. Any other segment, such as `videos` under `/v{version}`, is an
   * ordinary path.
   */
  private pathVersion(path: string): { found: Found<Policy>; rest: string } | undefined {
    let start = 0;
    while (path.charCodeAt(start) === 47 /* '/' */) start += 1;
    const slash = path.indexOf('/', start);
    const end = slash === -1 ? path.length : slash;
    const segment = decodeSegment(path.slice(start, end)).toLowerCase();
    const { before, after } = this.prefix;
    if (segment.length <= before.length + after.length) return undefined;
    if (!segment.startsWith(before) || !segment.endsWith(after)) return undefined;

    const name = segment.slice(before.length, segment.length - after.length);
    const version = this.byName.get(name);
    const rest = slash === -1 ? '/' : path.slice(slash);
    if (version !== undefined) return { found: { version }, rest };
    if (!STARTS_WITH_DIGIT.test(name)) return undefined;
    return { found: { unknown: safeName(name) }, rest };
  }

  private headerVersion(value: string | string[] | undefined): Found<Policy> | undefined {
    if (value === undefined) return undefined;
    const text = (Array.isArray(value) ? value.join(',') : value).trim();
    if (text === '') return undefined;
    // Several header lines, or one line listing several versions, must all agree.
    const names = new Set(text.split(',').map((part) => part.trim().toLowerCase()));
    names.delete('');
    if (names.size > 1) return { conflict: true };
    return this.lookup([...names][0] ?? '');
  }

  /**
   * Picks the version of highest quality among those that are known and not retired, as
   * content negotiation does. When none of them is available, a retired one is taken (so the
   * client learns it is gone), else the request names an unknown version.
   */
  private negotiate(accepted: readonly AcceptedVersion[] | 'conflict'): Found<Policy> | undefined {
    if (accepted === 'conflict') return { conflict: true };
    let best: { version: CompiledVersion<Policy>; quality: number } | undefined;
    let tied = false;
    let retired: CompiledVersion<Policy> | undefined;
    for (const candidate of accepted) {
      const version = this.byName.get(candidate.name);
      if (version === undefined) continue;
      if (version.status === 'retired') {
        retired ??= version;
      } else if (best === undefined || candidate.quality > best.quality) {
        best = { version, quality: candidate.quality };
        tied = false;
      } else if (candidate.quality === best.quality && version !== best.version) {
        tied = true;
      }
    }
    if (tied) return { conflict: true };
    if (best !== undefined) return { version: best.version };
    if (retired !== undefined) return { version: retired };
    return accepted.length === 0 ? undefined : { unknown: safeName(accepted[0]!.name) };
  }

  private lookup(name: string): Found<Policy> {
    const version = name.length > MAX_NAME_LENGTH ? undefined : this.byName.get(name);
    return version === undefined ? { unknown: safeName(name) } : { version };
  }
}

function compileVersion<Policy>(
  config: VersioningSettings['versions'][number],
  defaultName: string | undefined,
  policy: Policy,
): CompiledVersion<Policy> {
  const successor = config.successor ?? (config.name === defaultName ? undefined : defaultName);
  return {
    name: config.name,
    status: config.status,
    policy,
    headers: config.status === 'active' ? {} : lifecycleHeaders(config),
    sunset: config.sunset,
    successor,
  };
}

/**
 * Builds the lifecycle headers of a deprecated or retired version:
 * `Deprecation: @<epoch seconds>` (an RFC 9651 Date, as RFC 9745 requires),
 * `Sunset: <IMF-fixdate>` (RFC 8594) and `Link` with relation types `deprecation` (RFC 9745)
 * and `sunset` (RFC 8594).
 */
export function lifecycleHeaders(config: {
  deprecatedAt?: number;
  sunset?: number;
  link?: string;
}): Record<string, string> {
  const headers: Record<string, string> = {};
  if (config.deprecatedAt !== undefined)
    headers['deprecation'] = `@${Math.floor(config.deprecatedAt / 1000)}`;
  if (config.sunset !== undefined) headers['sunset'] = new Date(config.sunset).toUTCString();
  if (config.link !== undefined) {
    // The URL serializer percent-encodes `<`, `>`, `"` and spaces, so the target cannot end
    // the angle brackets early or add parameters.
    const target = new URL(config.link).href;
    const links = [`<${target}>; rel="deprecation"`];
    if (config.sunset !== undefined) links.push(`<${target}>; rel="sunset"`);
    headers['link'] = links.join(', ');
  }
  return headers;
}

/**
 * Rejects requests whose version is unknown, conflicting, missing or retired. It runs before
 * authentication: such a request has nothing to authenticate for, and rejecting it costs no
 * signature check.
 */
export class VersionGuard implements Guard {
  readonly name = 'version';

  constructor(private readonly versioning: ApiVersioning) {}

  check(ctx: RequestContext): Verdict {
    if (ctx.version !== undefined) return this.versioning.retiredVerdict(ctx.version) ?? CONTINUE;
    // Resolution failed when the context was built; repeating it is cheaper than carrying the
    // failure on every context, because failures are rare.
    const resolution = this.versioning.resolve(ctx.headers, ctx.path);
    if (resolution.failure !== undefined) return this.versioning.rejection(resolution.failure);
    ctx.version = resolution.version;
    return this.versioning.retiredVerdict(resolution.version) ?? CONTINUE;
  }
}

type Labels = Readonly<Record<VersionSource, string>>;

function unknownVerdict(
  failure: Extract<VersionFailure, { reason: 'unknown' }>,
  labels: Labels,
  supported: readonly string[],
): Reject {
  // A version in the path names a resource tree that does not exist, so it gets 404. One in
  // Accept names a representation the API cannot produce, which is 406 (RFC 9110 section
  // 15.5.7). An unknown header value is a bad request.
  const [status, title] =
    failure.source === 'path'
      ? [404, 'Not Found']
      : failure.source === 'mediaType'
        ? [406, 'Not Acceptable']
        : [400, 'Bad Request'];
  return {
    action: 'reject',
    status,
    headers: {},
    problem: problem('version-unknown', status, title, 'BWK_ERR_VERSION_UNKNOWN', {
      detail: `${capitalize(labels[failure.source])} names an API version that does not exist. Supported versions: ${supported.join(', ')}.`,
      supportedVersions: supported,
    }),
    event: invalidEvent('unknown', [failure.source], failure.requested),
  };
}

function conflictVerdict(
  failure: Extract<VersionFailure, { reason: 'conflict' }>,
  labels: Labels,
): Reject {
  const [first, second] = failure.sources.map((source) => labels[source]);
  const detail =
    second === undefined
      ? `${capitalize(first ?? '')} names several API versions; name one.`
      : `${capitalize(first ?? '')} and ${second} name different API versions; name one, or make them agree.`;
  return {
    action: 'reject',
    status: 400,
    headers: {},
    problem: problem('version-conflict', 400, 'Bad Request', 'BWK_ERR_VERSION_CONFLICT', {
      detail,
      sources: failure.sources,
    }),
    event: invalidEvent('conflict', failure.sources, undefined),
  };
}

function requiredVerdict(settings: VersioningSettings, supported: readonly string[]): Reject {
  const ways = settings.from.map((source) =>
    source === 'path'
      ? `a path prefix ${settings.pathPrefix}`
      : source === 'header'
        ? `the ${settings.header} header`
        : `Accept: application/vnd.${settings.vendor}+json; version={version}`,
  );
  return {
    action: 'reject',
    status: 400,
    headers: {},
    problem: problem('version-required', 400, 'Bad Request', 'BWK_ERR_VERSION_REQUIRED', {
      detail: `The request names no API version. Name one with ${ways.join(' or ')}. Supported versions: ${supported.join(', ')}.`,
      supportedVersions: supported,
    }),
    event: invalidEvent('required', [], undefined),
  };
}

function retiredVerdict(version: CompiledVersion, supported: readonly string[]): Reject {
  const since =
    version.sunset === undefined
      ? ''
      : ` on ${new Date(version.sunset).toISOString().slice(0, 10)}`;
  const instead = version.successor === undefined ? '' : `; use version ${version.successor}`;
  return {
    action: 'reject',
    status: 410,
    // Repeated from the response headers, so the 410 carries them even where the context
    // was not built by `Protection.contextFor`.
    headers: { ...version.headers },
    problem: problem('version-retired', 410, 'Gone', 'BWK_ERR_VERSION_RETIRED', {
      detail: `API version ${version.name} was retired${since}${instead}.`,
      version: version.name,
      successor: version.successor ?? null,
      sunset: version.sunset === undefined ? null : new Date(version.sunset).toISOString(),
      supportedVersions: supported,
    }),
    event: {
      type: 'version.retired',
      category: 'authorization',
      severity: 'low',
      details: { version: version.name, successor: version.successor ?? null },
    },
  };
}

function invalidEvent(
  reason: VersionFailure['reason'],
  sources: readonly VersionSource[],
  requested: string | undefined,
): Reject['event'] {
  return {
    type: 'version.invalid',
    category: 'violation',
    severity: 'info',
    details: { reason, sources: [...sources], ...(requested === undefined ? {} : { requested }) },
  };
}

// Percent-encoded characters are decoded because the router decodes them too: `/%761/x`
// must name version 1 if the router matches it as `/v1/x`.
function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Returns a requested name for events only when it is shaped like a version name. */
function safeName(name: string): string | undefined {
  return VERSION_NAME.test(name) ? name : undefined;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
