import type { RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../core/guard.js';
import { problem } from '../core/problem.js';
import { authPolicyOf, requiresScopes, type AuthPolicy } from './policy.js';
import { credentialsRequired } from './rejections.js';

/**
 * Checks the scopes a route requires against the principal's. It runs after rate limiting,
 * so a client that floods a route it lacks scopes for still spends its quota.
 */
export class ScopeGuard implements Guard {
  readonly name = 'authz';
  private readonly fallback: AuthPolicy;

  constructor(fallback: AuthPolicy) {
    this.fallback = fallback;
  }

  check(ctx: RequestContext): Verdict {
    const policy = authPolicyOf(ctx, this.fallback);
    if (!requiresScopes(policy)) return CONTINUE;
    const principal = ctx.principal;
    if (principal === undefined) return credentialsRequired();

    const granted = principal.scopes ?? [];
    const missing = policy.allScopes.filter((scope) => !granted.includes(scope));
    const anyMet =
      policy.anyScopes.length === 0 || policy.anyScopes.some((scope) => granted.includes(scope));
    if (missing.length === 0 && anyMet) return CONTINUE;
    return insufficientScope(policy, missing, anyMet);
  }
}

// Scope tokens are validated in the configuration schema (no space, quote or backslash), so
// they can be written into the quoted `scope` attribute as they are.
function insufficientScope(policy: AuthPolicy, missing: string[], anyMet: boolean): Verdict {
  const needed = [...policy.allScopes, ...policy.anyScopes].join(' ');
  const parts = [];
  if (missing.length > 0) parts.push(`all of: ${missing.join(' ')}`);
  if (!anyMet) parts.push(`one of: ${policy.anyScopes.join(' ')}`);
  return {
    action: 'reject',
    status: 403,
    headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${needed}"` },
    problem: problem('insufficient-scope', 403, 'Forbidden', 'BWK_ERR_AUTH_INSUFFICIENT_SCOPE', {
      detail: `The credential lacks scopes this route requires (${parts.join('; ')}).`,
      missingScopes: missing,
      anyOfScopes: anyMet ? [] : [...policy.anyScopes],
    }),
    event: {
      type: 'authz.denied',
      category: 'authorization',
      severity: 'low',
      details: { missingScopes: missing, anyOfScopes: anyMet ? [] : [...policy.anyScopes] },
    },
  };
}
