/**
 * The rejection of a request that failed validation: a problem+json body listing each
 * invalid field by part, path and rule, and a `validation.failed` event with the same
 * fields. Neither carries a value from the request.
 */
import type { Reject } from '../../core/guard.js';
import { problem } from '../../core/problem.js';
import type { ValidationIssue } from './issues.js';

/** Builds the rejection for `issues`, listing at most `maxErrors` of them. */
export function validationFailed(
  issues: readonly ValidationIssue[],
  status: 400 | 422,
  maxErrors: number,
): Reject {
  const listed = issues.slice(0, maxErrors);
  const fields = listed.map((issue) => ({ in: issue.in, path: issue.path, rule: issue.rule }));
  return {
    action: 'reject',
    status,
    headers: {},
    problem: problem(
      'validation-failed',
      status,
      status === 422 ? 'Unprocessable Content' : 'Bad Request',
      'BWK_ERR_VALIDATION_FAILED',
      {
        detail:
          issues.length === 1
            ? 'One field of the request is invalid.'
            : `${issues.length} fields of the request are invalid.`,
        errors: listed,
        ...(issues.length > listed.length ? { errorCount: issues.length } : {}),
      },
    ),
    event: {
      type: 'validation.failed',
      category: 'violation',
      severity: 'low',
      details: { fields, count: issues.length },
    },
  };
}
