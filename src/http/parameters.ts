import { unescape } from 'node:querystring';

import type { RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Reject, type Verdict } from '../core/guard.js';
import { problem } from '../core/problem.js';
import type {
  DuplicatePolicy,
  ParametersConfig,
  RouteParametersConfig,
} from './hardening-config.js';

/**
 * HTTP parameter pollution: some frameworks read a parameter sent twice
 * (`?role=user&role=admin`) as the first value, others as the last or as an array. A check
 * made on one value can then be bypassed with the other. Each repeated
 * parameter is handled by its policy: `first` or `last` keeps one occurrence, `array` keeps
 * them all, `reject` responds with 400. The upstream receives the rewritten query, so it sees
 * exactly what the policy kept.
 *
 * Names are compared after percent-decoding and `+` to space, as `node:querystring` and most
 * frameworks decode them, so `a=1&%61=2` repeats `a`. Bracket forms are names of their own:
 * `ids[]` and `ids` are different parameters.
 *
 * The same policy applies to the fields of `application/x-www-form-urlencoded` bodies, in
 * FormParameterGuard.
 */

/** One route's policy, compiled. */
export interface CompiledParameters {
  duplicates: DuplicatePolicy;
  rules: ReadonlyMap<string, DuplicatePolicy>;
}

export interface ParameterGuardOptions {
  global: ParametersConfig;
  /** Route ids (the `match` text) with their own `parameters` section. */
  routes: ReadonlyArray<{ id: string; parameters: RouteParametersConfig | undefined }>;
}

/** A parameter name is echoed in the problem only when it is this plain and short. */
const ECHO_SAFE_NAME = /^[A-Za-z0-9_.[\]-]{1,64}$/;

/** The global policy and each route's merge over it, shared by the query and form guards. */
export class ParameterPolicies {
  private readonly global: CompiledParameters;
  private readonly byRoute = new Map<string, CompiledParameters>();

  constructor(options: ParameterGuardOptions) {
    this.global = {
      duplicates: options.global.duplicates,
      rules: new Map(Object.entries(options.global.rules)),
    };
    for (const route of options.routes) {
      if (route.parameters === undefined) continue;
      this.byRoute.set(route.id, {
        duplicates: route.parameters.duplicates ?? this.global.duplicates,
        rules: new Map([...this.global.rules, ...Object.entries(route.parameters.rules ?? {})]),
      });
    }
  }

  /** Returns the policy of a route id, or the global one for requests that match no route. */
  of(routeId: string | undefined): CompiledParameters {
    return (routeId !== undefined && this.byRoute.get(routeId)) || this.global;
  }
}

/**
 * Tells whether the policy of a route (or the global one, without `route`) drops or rejects
 * any repeat, that is, whether anything is not `array`. Only then are form bodies read whole
 * for it.
 */
export function parametersActOnRepeats(
  global: ParametersConfig,
  route: RouteParametersConfig | undefined,
): boolean {
  if (!global.enabled) return false;
  if ((route?.duplicates ?? global.duplicates) !== 'array') return true;
  const rules = { ...global.rules, ...route?.rules };
  return Object.values(rules).some((rule) => rule !== 'array');
}

/** The outcome of a policy on the names of a list of pairs. */
export type RepeatOutcome =
  { kind: 'reject'; name: string; count: number } | { kind: 'keep'; dropped: ReadonlySet<number> };

/**
 * Applies `policy` to each name that occurs more than once: the first `reject` wins, else
 * the indexes of the pairs that `first` and `last` drop. Undefined names (empty pairs) never
 * repeat.
 */
export function applyPolicy(
  names: ReadonlyArray<string | undefined>,
  policy: CompiledParameters,
): RepeatOutcome {
  const dropped = new Set<number>();
  for (const [name, indexes] of repeatedNames(names)) {
    const rule = policy.rules.get(name) ?? policy.duplicates;
    if (rule === 'reject') return { kind: 'reject', name, count: indexes.length };
    if (rule === 'first') for (const index of indexes.slice(1)) dropped.add(index);
    if (rule === 'last') for (const index of indexes.slice(0, -1)) dropped.add(index);
  }
  return { kind: 'keep', dropped };
}

export class ParameterGuard implements Guard {
  readonly name = 'parameters';
  readonly reportOnly: boolean;
  private readonly policies: ParameterPolicies;

  constructor(options: ParameterGuardOptions) {
    this.reportOnly = options.global.reportOnly;
    this.policies = new ParameterPolicies(options);
  }

  check(ctx: RequestContext): Verdict {
    const queryStart = ctx.url.indexOf('?');
    // No query, or a query with a single parameter, cannot repeat one.
    if (queryStart === -1 || !ctx.url.includes('&', queryStart)) return CONTINUE;

    const pairs = ctx.url.slice(queryStart + 1).split('&');
    const names = pairs.map((pair) => (pair === '' ? undefined : decodeName(pair)));
    if (!hasRepeat(names)) return CONTINUE;

    const outcome = applyPolicy(names, this.policies.of(ctx.route?.id));
    if (outcome.kind === 'reject') return repeatedParameter('query', outcome.name, outcome.count);
    if (outcome.dropped.size > 0) ctx.forwardUrl = rewriteQuery(ctx, pairs, outcome.dropped);
    return CONTINUE;
  }
}

/** Above this many pairs a Set finds repeats faster than comparing every pair. */
const PAIRWISE_LIMIT = 16;

/**
 * Tells whether a name occurs twice. Empty pairs (`a=1&&b=2`) have no name (undefined),
 * because parsers skip them. Typical queries are short, and comparing their names pairwise
 * allocates nothing.
 */
export function hasRepeat(names: ReadonlyArray<string | undefined>): boolean {
  if (names.length > PAIRWISE_LIMIT) {
    const present = names.filter((name) => name !== undefined);
    return new Set(present).size !== present.length;
  }
  for (let i = 1; i < names.length; i++) {
    const name = names[i];
    if (name === undefined) continue;
    for (let j = 0; j < i; j++) if (names[j] === name) return true;
  }
  return false;
}

/** Returns each name that occurs more than once with the indexes of its pairs. */
function repeatedNames(names: ReadonlyArray<string | undefined>): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  names.forEach((name, index) => {
    if (name === undefined) return;
    const indexes = seen.get(name);
    if (indexes === undefined) seen.set(name, [index]);
    else indexes.push(index);
  });
  for (const [name, indexes] of seen) if (indexes.length === 1) seen.delete(name);
  return seen;
}

// querystring.unescape falls back to a lenient decoder on malformed escapes instead of
// throwing, like the parsers of Express and Fastify.
function decodeName(pair: string): string {
  const equals = pair.indexOf('=');
  const raw = equals === -1 ? pair : pair.slice(0, equals);
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  return unescape(raw.replaceAll('+', ' '));
}

/** Keeps the pairs not dropped, byte for byte, on the path the upstream will receive. */
function rewriteQuery(
  ctx: RequestContext,
  pairs: readonly string[],
  dropped: ReadonlySet<number>,
): string {
  const target = ctx.forwardUrl ?? ctx.url;
  const path = target.slice(0, target.indexOf('?'));
  const kept = pairs.filter((pair, index) => pair !== '' && !dropped.has(index));
  return kept.length === 0 ? path : `${path}?${kept.join('&')}`;
}

/** The part of a request a repeated parameter was found in: the query or a form body. */
export type ParameterSource = 'query' | 'form';

const SOURCE_TEXT: Record<ParameterSource, string> = {
  query: 'query parameter',
  form: 'form field',
};

export function repeatedParameter(source: ParameterSource, name: string, count: number): Reject {
  const echoed = ECHO_SAFE_NAME.test(name) ? name : undefined;
  const what = SOURCE_TEXT[source];
  return {
    action: 'reject',
    status: 400,
    headers: {},
    problem: problem('repeated-parameter', 400, 'Bad Request', 'BWK_ERR_PARAMETER_REPEATED', {
      detail:
        echoed === undefined
          ? `A ${what} is sent more than once; send it once.`
          : `The ${what} "${echoed}" is sent ${count} times; send it once.`,
      parameter: echoed,
      in: source,
    }),
    event: {
      type: 'http.parameter_repeated',
      category: 'violation',
      severity: 'low',
      details: { parameter: echoed, count, in: source },
    },
  };
}
