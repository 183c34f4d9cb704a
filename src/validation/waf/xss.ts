import type { DetectContext, RuleHit } from './types.js';

// Placeholder replaced by the real detector while it is being written.
export function detectXss(_input: string, _context: DetectContext): RuleHit[] {
  return [];
}
