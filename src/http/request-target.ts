import type { RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Reject, type Verdict } from '../core/guard.js';
import { problem } from '../core/problem.js';
import type { RequestTargetConfig } from './hardening-config.js';
import {
  findPathViolation,
  isWellFormedMethod,
  mergeSlashes,
  PATH_VIOLATION_DETAILS,
  type PathViolation,
} from './paths.js';

/**
 * Rejects methods outside the configured list and ambiguous paths (see paths.ts) before any
 * route policy applies. It runs before CORS and authentication: an ambiguous spelling of a
 * protected path is refused here whatever route it happened to match.
 *
 * With `duplicateSlashes: merge`, a path with `//` is forwarded with single slashes, so
 * the upstream serves the same path the router matched: an upstream that parsed `//admin/x`
 * as a URL with host `admin` would otherwise serve `/x`.
 */
export class RequestTargetGuard implements Guard {
  readonly name = 'request-target';
  readonly reportOnly: boolean;
  private readonly methods: ReadonlySet<string>;
  private readonly mergeSlashes: boolean;
  private readonly notAllowed: Reject;
  private readonly malformedMethod: Reject;
  private readonly pathRejections: ReadonlyMap<PathViolation, Reject>;

  constructor(config: RequestTargetConfig) {
    this.reportOnly = config.reportOnly;
    this.methods = new Set(config.methods);
    this.mergeSlashes = config.duplicateSlashes === 'merge';
    this.notAllowed = methodNotAllowed(config.methods);
    this.malformedMethod = malformedMethod();
    this.pathRejections = new Map(
      (Object.keys(PATH_VIOLATION_DETAILS) as PathViolation[]).map((reason) => [
        reason,
        invalidPath(reason),
      ]),
    );
  }

  check(ctx: RequestContext): Verdict {
    if (!this.methods.has(ctx.method)) {
      return isWellFormedMethod(ctx.method) ? this.notAllowed : this.malformedMethod;
    }
    const violation = findPathViolation(ctx.path);
    if (violation === undefined) return CONTINUE;
    if (violation === 'empty_segment' && this.mergeSlashes) {
      ctx.forwardUrl = mergeSlashes(ctx.path) + ctx.url.slice(ctx.path.length);
      return CONTINUE;
    }
    return this.pathRejections.get(violation)!;
  }
}

function invalidPath(reason: PathViolation): Reject {
  return Object.freeze<Reject>({
    action: 'reject',
    status: 400,
    headers: {},
    problem: problem('invalid-path', 400, 'Bad Request', 'BWK_ERR_PATH_INVALID', {
      detail: PATH_VIOLATION_DETAILS[reason],
      reason,
    }),
    event: {
      type: 'http.path_rejected',
      category: 'violation',
      severity: 'medium',
      details: { reason },
    },
  });
}

// RFC 9110 section 15.5.6: a 405 lists the methods the resource supports in Allow.
function methodNotAllowed(methods: readonly string[]): Reject {
  return Object.freeze<Reject>({
    action: 'reject',
    status: 405,
    headers: { allow: methods.join(', ') },
    problem: problem(
      'method-not-allowed',
      405,
      'Method Not Allowed',
      'BWK_ERR_METHOD_NOT_ALLOWED',
      {
        detail: `This API accepts only the methods ${methods.join(', ')}.`,
      },
    ),
    event: {
      type: 'http.method_rejected',
      category: 'violation',
      severity: 'low',
      details: { reason: 'not_allowed' },
    },
  });
}

function malformedMethod(): Reject {
  return Object.freeze<Reject>({
    action: 'reject',
    status: 400,
    headers: {},
    problem: problem('invalid-method', 400, 'Bad Request', 'BWK_ERR_METHOD_INVALID', {
      detail: 'The method is not an upper-case token; methods are case-sensitive.',
    }),
    event: {
      type: 'http.method_rejected',
      category: 'violation',
      severity: 'low',
      details: { reason: 'malformed' },
    },
  });
}
