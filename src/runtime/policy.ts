import type { AuthConfig, RouteAuthConfig } from '../auth/config-schema.js';
import { compileAuthPolicy, requiresScopes, type AuthPolicy } from '../auth/policy.js';
import type { PolicyConfig, RateLimitConfig, RouteConfig } from '../core/config.js';
import {
  compileBodyChecks,
  compileLimits,
  type BodyBuffering,
  type BodyChecks,
  type RequestPolicy,
} from '../http/body-config.js';
import { matchesAny, parseMediaType } from '../http/content-type.js';
import { parametersActOnRepeats } from '../http/parameters.js';
import {
  compileSignaturePolicies,
  signaturesNeedBody,
  type SignaturePolicies,
} from '../http/signature-policy.js';
import { compileKey } from '../ratelimit/keys.js';
import type { CompiledLimit } from '../ratelimit/guard.js';
import {
  compileExpressionRules,
  expressionsReadBody,
  type ExpressionRules,
} from '../expression/config-schema.js';
import { compileWafPolicy, type WafPolicy } from '../validation/waf/config.js';
import { routeReadsBody } from '../validation/schema/config.js';
import { compileUploadPolicy, type UploadPolicy } from '../upload/config.js';

/**
 * Everything a matched route enforces, compiled once at start. The request limits and body
 * checks (`limits`, `body`, `bufferBody`) come from RequestPolicy.
 */
export interface RoutePolicy extends RequestPolicy {
  reportOnly: boolean;
  rateLimits: readonly CompiledLimit[];
  auth: AuthPolicy;
  /** The route's expression rules; undefined without `expressions`. */
  expressions?: ExpressionRules;
  /** Injection detection on the route. */
  waf: WafPolicy;
  /** Multipart upload checks; undefined on routes without an `upload` section. */
  upload?: UploadPolicy;
  /** With versioning, the route's policy per version name, which replaces this one. */
  versions?: ReadonlyMap<string, RoutePolicy>;
}

export function compileLimit(config: RateLimitConfig, ipv6Prefix: number): CompiledLimit {
  return {
    policy: {
      name: config.name,
      algorithm: config.algorithm,
      limit: config.limit,
      windowMs: config.window,
      burst: config.burst,
      blockForMs: config.blockFor,
    },
    key: compileKey(config.key, ipv6Prefix),
    cost: config.cost,
    tiers: config.tiers,
  };
}

/**
 * Returns the limits of a route: the global limits, with a route limit of the same name
 * replacing the global one, then the route's own.
 */
export function mergeLimits(
  global: readonly CompiledLimit[],
  route: readonly CompiledLimit[],
  routeId: string,
): CompiledLimit[] {
  const globalNames = new Set(global.map((limit) => limit.policy.name));
  const routeNames = new Set(route.map((limit) => limit.policy.name));
  // An override counts on its own, per route: sharing the global counter would mix two
  // policies' state in one key.
  const own = route.map((limit) =>
    globalNames.has(limit.policy.name)
      ? { ...limit, counter: `${routeId}|${limit.policy.name}` }
      : limit,
  );
  return [...global.filter((limit) => !routeNames.has(limit.policy.name)), ...own];
}
export interface CompiledPolicy {
  globalLimits: readonly CompiledLimit[];
  /** The auth policy of requests that match no route. */
  defaultAuth: AuthPolicy;
  /**
   * Whether any policy accepts API keys, verifies JWTs or requires scopes; the guards are
   * left out otherwise.
   */
  usesApiKeys: boolean;
  usesJwt: boolean;
  usesScopes: boolean;
  routes: ReadonlyArray<{
    methods: readonly string[];
    path: string;
    id: string;
    policy: RoutePolicy;
  }>;
  /** Per version name, the policy of its requests that match no route; empty without versioning. */
  versions: ReadonlyMap<string, RoutePolicy>;
  /** The request limits and body checks of requests that match no route. */
  requestPolicy: RequestPolicy;
  /** The injection detection of requests that match no route. */
  waf: WafPolicy;
}

/**
 * Compiles the request limits and body checks of a route over the global ones, or the global
 * ones alone without a route.
 */
export function compileRequestPolicy(
  config: PolicyConfig,
  signatures: SignaturePolicies,
  route?: RouteConfig,
): RequestPolicy {
  const body = compileBodyChecks(config.body, route?.body);
  return {
    // An upload route's body limit follows its maxTotalSize unless the route sets its own.
    limits: compileLimits(
      config.limits,
      route?.upload ? { maxBodySize: route.upload.maxTotalSize, ...route.limits } : route?.limits,
    ),
    body,
    bufferBody: bodyBuffering({
      validate: body.validate,
      contentDigest: signaturesNeedBody(signatures, route?.match.text),
      formFields: readsFormFields(config, body, route),
      expressions: expressionsReadBody(route?.expressions),
      waf: compileWafPolicy(config.waf, route?.waf).enabled,
      input: route !== undefined && routeReadsBody(route),
    }),
  };
}

/**
 * Decides which request bodies a route reads whole before its guards run, from the needs of
 * the guards that read `ctx.body`. A guard that needs the bytes adds its condition here.
 */
export function bodyBuffering(needs: {
  /** JSON and form bodies are checked for syntax and structure limits. */
  validate: boolean;
  /** A required signature covers Content-Digest, which is checked against any body. */
  contentDigest: boolean;
  /** Repeated form fields are dropped or rejected, which needs the form's bytes. */
  formFields?: boolean;
  /** Injection detection inspects the values of JSON and form bodies. */
  waf?: boolean;
  /** Expression rules that read `$json` see the parsed JSON or form body. */
  expressions?: boolean;
  /** A body schema or HTML fields to sanitize read the parsed JSON or form body. */
  input?: boolean;
}): BodyBuffering {
  if (needs.contentDigest) return 'all';
  if (needs.validate || needs.waf === true || needs.expressions === true || needs.input === true)
    return 'parsed';
  return needs.formFields === true ? 'form' : 'none';
}

const FORM_MEDIA = parseMediaType('application/x-www-form-urlencoded')!;

/**
 * Tells whether a route's `parameters` policy acts on repeated form fields and the route
 * accepts form bodies at all.
 */
function readsFormFields(config: PolicyConfig, body: BodyChecks, route?: RouteConfig): boolean {
  if (!parametersActOnRepeats(config.parameters, route?.parameters)) return false;
  return body.contentTypes === undefined || matchesAny(FORM_MEDIA, body.contentTypes);
}

export function compilePolicy(config: PolicyConfig): CompiledPolicy {
  const ipv6Prefix = config.rateLimiting.ipv6Prefix;
  const signatures = compileSignaturePolicies(config);
  const globalLimits = config.rateLimits.map((limit) => compileLimit(limit, ipv6Prefix));
  const versions = compileVersions(config, globalLimits, signatures);
  const routes = config.routes.map((route) => {
    const policy: RoutePolicy = {
      reportOnly: route.reportOnly,
      rateLimits: mergeLimits(
        globalLimits,
        route.rateLimits.map((limit) => compileLimit(limit, ipv6Prefix)),
        route.match.text,
      ),
      auth: compileAuthPolicy(config.auth, route.auth),
      waf: compileWafPolicy(config.waf, route.waf, Object.keys(route.sanitize ?? {})),
      expressions: compileExpressionRules(route.expressions, route.match.text),
      upload: route.upload && compileUploadPolicy(route.upload),
      ...compileRequestPolicy(config, signatures, route),
    };
    return {
      methods: route.match.methods,
      path: route.match.path,
      id: route.match.text,
      policy: versions.length === 0 ? policy : withVersions(policy, route.auth, versions),
    };
  });
  const defaultAuth = compileAuthPolicy(config.auth);
  const routePolicies = [
    ...routes.flatMap((route) => [route.policy, ...(route.policy.versions?.values() ?? [])]),
    ...versions.map((version) => version.policy),
  ];
  const policies = [defaultAuth, ...routePolicies.map((policy) => policy.auth)];
  return {
    globalLimits,
    defaultAuth,
    usesApiKeys: policies.some((policy) => policy.apiKey),
    usesJwt: policies.some((policy) => policy.jwt),
    usesScopes: policies.some(requiresScopes),
    routes,
    versions: new Map(versions.map((version) => [version.name, version.policy])),
    requestPolicy: compileRequestPolicy(config, signatures),
    waf: compileWafPolicy(config.waf),
  };
}

/** One version's settings compiled for the route policies built on them. */
interface VersionParts {
  name: string;
  /** The global auth settings with the fields the version's `auth` sets replaced. */
  auth: AuthConfig;
  /** The version's own limits, each counted per version. */
  limits: readonly CompiledLimit[];
  /** The policy of the version's requests that match no route. */
  policy: RoutePolicy;
}

function compileVersions(
  config: PolicyConfig,
  globalLimits: readonly CompiledLimit[],
  signatures: SignaturePolicies,
): VersionParts[] {
  const ipv6Prefix = config.rateLimiting.ipv6Prefix;
  return (config.versioning?.versions ?? []).map((version) => {
    const auth: AuthConfig = {
      ...config.auth,
      methods: version.auth?.methods ?? config.auth.methods,
      scopes: version.auth?.scopes ?? config.auth.scopes,
    };
    const limits = version.rateLimits.map((limit) => ({
      ...compileLimit(limit, ipv6Prefix),
      counter: `version:${version.name}|${limit.name}`,
    }));
    const policy = {
      reportOnly: false,
      rateLimits: [...globalLimits, ...limits],
      auth: compileAuthPolicy(auth),
      waf: compileWafPolicy(config.waf),
      ...compileRequestPolicy(config, signatures),
    };
    return { name: version.name, auth, limits, policy };
  });
}

/**
 * Adds a route's policy per version: the version's auth replaces the global default but the
 * route's own `auth` fields win, and the version's limits are added to the route's.
 */
function withVersions(
  policy: RoutePolicy,
  routeAuth: RouteAuthConfig | undefined,
  versions: readonly VersionParts[],
): RoutePolicy {
  const byVersion = new Map<string, RoutePolicy>();
  for (const version of versions) {
    byVersion.set(version.name, {
      reportOnly: policy.reportOnly,
      limits: policy.limits,
      body: policy.body,
      bufferBody: policy.bufferBody,
      rateLimits: [...policy.rateLimits, ...version.limits],
      auth: compileAuthPolicy(version.auth, routeAuth),
      waf: policy.waf,
      upload: policy.upload,
      expressions: policy.expressions,
    });
  }
  return { ...policy, versions: byVersion };
}
