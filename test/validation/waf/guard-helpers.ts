import type { IncomingHttpHeaders } from 'node:http';

import { createContext, type RequestContext } from '../../../src/core/context.js';
import { validatePolicy, type PolicyInput } from '../../../src/core/config.js';
import { compileWafPolicy, type WafPolicy } from '../../../src/validation/waf/config.js';
import type { Inspector } from '../../../src/validation/waf/guard.js';
import type { RuleHit, Sink } from '../../../src/validation/waf/types.js';

/** Builds a request context with an optional body read whole, as the body guard leaves it. */
export function requestContext(
  url: string,
  options: {
    method?: string;
    headers?: IncomingHttpHeaders;
    body?: string;
    route?: { id: string; params?: Record<string, string>; policy?: unknown };
  } = {},
): RequestContext {
  const ctx = createContext({
    id: 'req-1',
    correlationId: 'corr-1',
    method: options.method ?? 'GET',
    url,
    headers: options.headers ?? {},
    ip: '192.0.2.7',
    remoteAddress: '192.0.2.7',
    receivedAt: 0,
  });
  if (options.body !== undefined) ctx.body = Buffer.from(options.body);
  if (options.route !== undefined)
    ctx.route = {
      id: options.route.id,
      params: options.route.params ?? {},
      policy: options.route.policy,
    };
  return ctx;
}

/** Compiles the global `waf` of a policy, with the guard on unless `enabled` is false. */
export function wafPolicy(waf: NonNullable<PolicyInput['waf']> = {}): WafPolicy {
  return compileWafPolicy(validatePolicy({ waf: { enabled: true, ...waf } }).waf);
}

/**
 * A stand-in for the detection engine with fixed, obvious rules, so that these tests check
 * the walk, scoring and exclusions whatever the real detectors decide.
 */
export class FakeInspector implements Inspector {
  readonly sinks: Array<{ value: string; sink: Sink | undefined }> = [];

  inspectValue(value: string, options: { sink?: Sink }): RuleHit[] {
    this.sinks.push({ value, sink: options.sink });
    const hits: RuleHit[] = [];
    if (value.includes("' OR 1=1"))
      hits.push({ ruleId: 'sqli-901-test', family: 'sqli', score: 5 });
    if (value.includes('<script')) hits.push({ ruleId: 'xss-901-test', family: 'xss', score: 5 });
    if (value.includes('suspicious'))
      hits.push({ ruleId: 'sqli-902-test', family: 'sqli', score: 3 });
    return hits;
  }

  inspectKey(key: string): RuleHit[] {
    if (key === '__proto__')
      return [{ ruleId: 'prototype-901-test', family: 'prototype', score: 5 }];
    if (key.includes("' OR 1=1")) return [{ ruleId: 'sqli-901-test', family: 'sqli', score: 5 }];
    return [];
  }
}
