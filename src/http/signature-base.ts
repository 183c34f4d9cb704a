/**
 * The signature base of RFC 9421 section 2.5: one line per covered component,
 * `"<identifier>": <value>`, then the `"@signature-params"` line. Signer and verifier build
 * it from the same function, so the two can only disagree about the message, never about
 * the format.
 */
import { serializeItem } from 'structured-headers';

import type { ComponentIdentifier } from './signature-fields.js';

/** One request as the client addressed it, from which a signature base is built. */
export interface SignedRequest {
  method: string;
  /** `http` or `https`. */
  scheme: string;
  /** Host and port as the client addressed them; see `normalizeAuthority`. */
  authority: string;
  /** The request target as sent: the path and query (origin form), or an absolute URI. */
  target: string;
  /** Returns a header field's value with several lines joined by `, `, or undefined. */
  field(name: string): string | undefined;
}

/** Derived components (RFC 9421 section 2.2) that this implementation can sign and verify. */
export const derivedComponents = [
  '@method',
  '@target-uri',
  '@authority',
  '@scheme',
  '@request-target',
  '@path',
  '@query',
] as const;

const DERIVED: ReadonlySet<string> = new Set(derivedComponents);

const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: ':80', https: ':443' };

// RFC 9110 token characters, lower case only: RFC 9421 section 2.1 requires lower-case
// field names in component identifiers.
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

export type BaseResult =
  | { ok: true; base: string }
  | { ok: false; reason: 'missing_component' | 'unsupported_component'; detail: string };

/**
 * Builds the signature base of `request` for the covered `components`, ending with the
 * `@signature-params` line whose value is `serializedParameters`.
 *
 * Component parameters (`;sf`, `;key`, `;bs`, `;req`, `;name` for `@query-param`) are not
 * supported: a signature that uses them fails as `unsupported_component` rather than being
 * checked against a base that differs from the signer's.
 */
export function signatureBase(
  request: SignedRequest,
  components: readonly ComponentIdentifier[],
  serializedParameters: string,
): BaseResult {
  const lines: string[] = [];
  for (const component of components) {
    const identifier = serializeItem([component.name, component.parameters]);
    if (component.parameters.size > 0) {
      return unsupported(
        `component ${shown(component.name)} has parameters, which are not supported`,
      );
    }
    const value = componentValue(request, component.name);
    if (value === 'unsupported') {
      return unsupported(`component ${shown(component.name)} is not supported`);
    }
    if (value === undefined) {
      return {
        ok: false,
        reason: 'missing_component',
        detail: `the covered field ${shown(component.name)} is not in the request`,
      };
    }
    lines.push(`${identifier}: ${value}`);
  }
  lines.push(`"@signature-params": ${serializedParameters}`);
  return { ok: true, base: lines.join('\n') };
}

/** Tells whether a component name can be covered: a supported derived one or a field name. */
export function isSupportedComponent(name: string): boolean {
  return name.startsWith('@') ? DERIVED.has(name) : FIELD_NAME.test(name);
}

/**
 * Returns `host[:port]` as RFC 9421 section 2.2.3 wants it: lower case, without the
 * scheme's default port.
 */
export function normalizeAuthority(host: string, scheme: string): string {
  const authority = host.trim().toLowerCase();
  const defaultPort = DEFAULT_PORTS[scheme];
  if (defaultPort === undefined || !authority.endsWith(defaultPort)) return authority;
  return authority.slice(0, -defaultPort.length);
}

function componentValue(request: SignedRequest, name: string): string | undefined | 'unsupported' {
  if (!name.startsWith('@')) {
    if (!FIELD_NAME.test(name)) return 'unsupported';
    return request.field(name);
  }
  switch (name) {
    case '@method':
      return request.method;
    case '@target-uri':
      return targetUri(request);
    case '@authority':
      return request.authority;
    case '@scheme':
      return request.scheme.toLowerCase();
    case '@request-target':
      return request.target;
    case '@path':
      return pathAndQuery(request)[0];
    case '@query':
      return `?${pathAndQuery(request)[1]}`;
    default:
      return 'unsupported';
  }
}

function targetUri(request: SignedRequest): string {
  if (!request.target.startsWith('/')) {
    // An absolute-form target is already the whole URI; `*` (OPTIONS) has no path.
    return request.target === '*' ? `${request.scheme}://${request.authority}` : request.target;
  }
  return `${request.scheme}://${request.authority}${request.target}`;
}

/** Splits the target into its path (`/` when empty) and its query without the `?`. */
function pathAndQuery(request: SignedRequest): [string, string] {
  let target = request.target;
  if (!target.startsWith('/')) {
    try {
      const url = new URL(target);
      target = url.pathname + url.search;
    } catch {
      target = '/';
    }
  }
  const queryStart = target.indexOf('?');
  const path = queryStart === -1 ? target : target.slice(0, queryStart);
  const query = queryStart === -1 ? '' : target.slice(queryStart + 1);
  return [path === '' ? '/' : path, query];
}

function unsupported(detail: string): BaseResult {
  return { ok: false, reason: 'unsupported_component', detail };
}

/**
 * Returns a component name for a problem detail: quoted when it is a short token, else a
 * placeholder, so that a detail never repeats arbitrary client text.
 */
function shown(name: string): string {
  return /^@?[!#$%&'*+\-.^_`|~0-9a-z]{1,64}$/.test(name) ? `"${name}"` : 'a component';
}
