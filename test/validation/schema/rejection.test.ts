import { describe, expect, it } from 'vitest';

import { safePath, type ValidationIssue } from '../../../src/validation/schema/issues.js';
import { validationFailed } from '../../../src/validation/schema/rejection.js';

const issues: ValidationIssue[] = Array.from({ length: 30 }, (_, index) => ({
  in: 'body',
  path: `/items/${index}/sku`,
  rule: 'pattern',
  message: 'must match pattern "^[A-Z]{3}$"',
}));

describe('validation rejection', () => {
  it('lists at most maxErrors issues', () => {
    const reject = validationFailed(issues, 400, 20);
    expect(reject.problem.errors).toHaveLength(20);
    expect(reject.problem.errorCount).toBe(30);
    expect(reject.problem.detail).toBe('30 fields of the request are invalid.');
  });

  it('event counts every issue', () => {
    const reject = validationFailed(issues, 400, 20);
    expect(reject.event.type).toBe('validation.failed');
    expect(reject.event.category).toBe('violation');
    expect(reject.event.details?.count).toBe(30);
    expect(reject.event.details?.fields).toHaveLength(20);
    expect(reject.event.details?.fields).toContainEqual({
      in: 'body',
      path: '/items/0/sku',
      rule: 'pattern',
    });
  });

  it('422 uses its own title', () => {
    const reject = validationFailed(issues.slice(0, 1), 422, 20);
    expect(reject.status).toBe(422);
    expect(reject.problem.title).toBe('Unprocessable Content');
    expect(reject.problem.errorCount).toBeUndefined();
    expect(reject.problem.detail).toBe('One field of the request is invalid.');
  });
});

describe('issue paths', () => {
  it('pointer specials are escaped', () => {
    expect(safePath(['a/b', 'c~d', 0])).toBe('/a~1b/c~0d/0');
  });

  it('non-ASCII and HTML characters are percent-encoded', () => {
    expect(safePath(['straße', '<x>', "it's", '50%'])).toBe('/stra%C3%9Fe/%3Cx%3E/it%27s/50%25');
  });

  it('long segments and paths are cut', () => {
    expect(safePath(['k'.repeat(100)])).toBe(`/${'k'.repeat(64)}…`);
    const deep = safePath(Array.from({ length: 100 }, () => 'segment'));
    expect(deep.length).toBeLessThanOrEqual(257);
    expect(deep.endsWith('…')).toBe(true);
  });
});
