/** Attack families the injection detectors recognise. */
export const families = [
  'sqli',
  'xss',
  'nosql',
  'command',
  'ldap',
  'traversal',
  'xxe',
  'prototype',
] as const;
export type Family = (typeof families)[number];

/**
 * The sink a field reaches. A field tagged with a sink is checked only by the detectors for
 * that sink, at their strictest.
 */
export const sinks = ['sql', 'shell', 'path', 'ldap', 'html'] as const;
export type Sink = (typeof sinks)[number];

/** Level 1 finds clear attacks with almost no false positives. Each level adds looser rules. */
export type Paranoia = 1 | 2 | 3 | 4;

/** What a detector is told about the value it inspects. */
export interface DetectContext {
  readonly paranoia: Paranoia;
  /** True when the field is tagged with this detector's sink. */
  readonly strict: boolean;
}

/** One rule that matched. `score` is in anomaly points: 5 critical, 4 error, 3 warning, 2 notice. */
export interface RuleHit {
  readonly ruleId: string;
  readonly family: Family;
  readonly score: number;
}

/** A detector inspects one already-decoded string. */
export type Detector = (input: string, context: DetectContext) => RuleHit[];
