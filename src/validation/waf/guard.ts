/**
 * The injection guard (WAF). It walks the strings of a request, passes each one to the
 * detection engine and sums the scores of the rules that matched, each rule counted once per
 * field. A request whose score reaches the route's threshold is rejected with 403, or only
 * reported in `report` mode. Every detection publishes `injection.detected` with the family,
 * field path, score and rule ids, never the matched text.
 *
 * The guard runs in the input stage, after authentication and rate limiting, so a flood is
 * refused before this, the most expensive per-value work, and events name the principal.
 */
import type { RequestContext } from '../../core/context.js';
import { CONTINUE, type Guard, type Reject, type Verdict } from '../../core/guard.js';
import type { Logger } from '../../core/logger.js';
import { problem } from '../../core/problem.js';
import type { EventBus } from '../../events/bus.js';
import type { EventDraft, EventSeverity } from '../../events/schema.js';
import { excludes, type WafExclusion, type WafPolicy } from './config.js';
import type { Family, Paranoia, RuleHit, Sink } from './types.js';
import { walkRequest } from './walk.js';

/** The detection engine as the guard calls it. */
export interface Inspector {
  inspectValue(value: string, options: { paranoia: Paranoia; sink?: Sink }): RuleHit[];
  /** `parentKey` is the name of the object member that contains the key, when there is one. */
  inspectKey(key: string, options: { paranoia: Paranoia; parentKey?: string }): RuleHit[];
}

/** The rules of one family that matched one field. */
export interface Finding {
  readonly family: Family;
  readonly field: string;
  readonly score: number;
  readonly rules: readonly string[];
}

export interface ScanReport {
  /** Sum of the scores of every finding. */
  readonly score: number;
  /** Findings in the order their fields were walked. */
  readonly findings: readonly Finding[];
  /** True when the walk stopped at `limits.maxValues` or `limits.maxDepth`. */
  readonly truncated: boolean;
}

const NO_EXCLUSIONS: readonly WafExclusion[] = [];

/** Findings listed in one event. The score counts them all. */
const MAX_REPORTED_FINDINGS = 20;

/** Walks `ctx` under `policy` and returns what the engine found, after exclusions. */
export function scanRequest(
  ctx: RequestContext,
  policy: WafPolicy,
  inspector: Inspector,
): ScanReport {
  // Per field, the hits by rule id, so a rule matching a field's name and value counts once.
  const byField = new Map<string, Map<string, RuleHit>>();
  const options = { paranoia: policy.paranoia };

  const walk = walkRequest(ctx, policy, (path, text, isKey, parentKey) => {
    const exclusions =
      policy.exclusions.length === 0
        ? NO_EXCLUSIONS
        : policy.exclusions.filter((exclusion) => exclusion.field.matches(path));
    if (exclusions.some((exclusion) => exclusion.rules === undefined)) return;

    let hits: RuleHit[];
    if (isKey) {
      hits = inspector.inspectKey(
        text,
        parentKey === undefined ? options : { ...options, parentKey },
      );
    } else {
      const sink = policy.sinks.find((tag) => tag.field.matches(path))?.sink;
      hits = inspector.inspectValue(text, sink === undefined ? options : { ...options, sink });
    }
    for (const hit of hits) {
      if (exclusions.some((exclusion) => excludes(exclusion, hit.ruleId, hit.family))) continue;
      let rules = byField.get(path);
      if (rules === undefined) byField.set(path, (rules = new Map()));
      if (!rules.has(hit.ruleId)) rules.set(hit.ruleId, hit);
    }
  });

  const findings: Finding[] = [];
  let score = 0;
  for (const [field, rules] of byField) {
    const byFamily = new Map<Family, { score: number; rules: string[] }>();
    for (const hit of rules.values()) {
      let entry = byFamily.get(hit.family);
      if (entry === undefined) byFamily.set(hit.family, (entry = { score: 0, rules: [] }));
      entry.score += hit.score;
      entry.rules.push(hit.ruleId);
      score += hit.score;
    }
    for (const [family, entry] of byFamily) findings.push({ family, field, ...entry });
  }
  return { score, findings, truncated: walk.truncated };
}

export interface WafGuardOptions {
  /** The policy of requests that match no route. */
  fallback: WafPolicy;
  inspector: Inspector;
  /** Receives the events of detections that do not reject: below the threshold or reported. */
  bus: EventBus;
  logger: Logger;
}

/** Minimum time between two log lines about walks cut short. */
const TRUNCATION_LOG_INTERVAL_MS = 60_000;

export class WafGuard implements Guard {
  readonly name = 'waf';
  private readonly fallback: WafPolicy;
  private readonly inspector: Inspector;
  private readonly bus: EventBus;
  private readonly logger: Logger;
  private truncationLoggedAt = -Infinity;
  private truncationsSinceLog = 0;

  constructor(options: WafGuardOptions) {
    this.fallback = options.fallback;
    this.inspector = options.inspector;
    this.bus = options.bus;
    this.logger = options.logger;
  }

  check(ctx: RequestContext): Verdict {
    const policy = wafPolicyOf(ctx) ?? this.fallback;
    if (!policy.enabled) return CONTINUE;

    const report = scanRequest(ctx, policy, this.inspector);
    if (report.truncated) this.logTruncation(ctx, policy);
    if (report.findings.length === 0) return CONTINUE;

    const event = detectionEvent(ctx, report, policy);
    if (report.score < policy.threshold) {
      this.bus.publish(publishedEvent(ctx, event, 'detected', 'low'));
      return CONTINUE;
    }
    if (policy.mode === 'report') {
      this.bus.publish(publishedEvent(ctx, event, 'would_block', 'high'));
      return CONTINUE;
    }
    return {
      action: 'reject',
      status: 403,
      headers: {},
      // The body names no field, rule or value: the event, found by the request id in
      // `instance`, has the details, and a client probing the rules learns nothing here.
      problem: problem(
        'injection-detected',
        403,
        'Request blocked by injection detection',
        'BWK_ERR_INJECTION_DETECTED',
        {
          detail:
            'A value in the request matched injection detection rules. If it is legitimate, quote the request id to the API operator.',
        },
      ),
      event: { ...event, severity: 'high' },
    };
  }

  // NOTE: the strings past the limit are not inspected, so an attack placed after thousands
  // of harmless values passes. The log line lets an operator raise `waf.limits`.
  private logTruncation(ctx: RequestContext, policy: WafPolicy): void {
    this.truncationsSinceLog++;
    const now = Date.now();
    if (now - this.truncationLoggedAt < TRUNCATION_LOG_INTERVAL_MS) return;
    this.logger.warn(
      {
        requestId: ctx.id,
        route: ctx.route?.id,
        maxValues: policy.limits.maxValues,
        maxDepth: policy.limits.maxDepth,
        requests: this.truncationsSinceLog,
      },
      'injection detection skipped values past waf.limits',
    );
    this.truncationLoggedAt = now;
    this.truncationsSinceLog = 0;
  }
}

/** Returns the WAF policy of the request's route, if it matched one. */
function wafPolicyOf(ctx: RequestContext): WafPolicy | undefined {
  return (ctx.route?.policy as { waf?: WafPolicy } | undefined)?.waf;
}

/** A rejection's event that names its own actor, so the matched text can be kept out of it. */
type DetectionEvent = Reject['event'] & Pick<EventDraft, 'actor'>;

function detectionEvent(
  ctx: RequestContext,
  report: ScanReport,
  policy: WafPolicy,
): DetectionEvent {
  const top = report.findings.reduce((best, finding) =>
    finding.score > best.score ? finding : best,
  );
  const rules = [...new Set(report.findings.flatMap((finding) => finding.rules))];
  return {
    type: 'injection.detected',
    category: 'violation',
    severity: 'high',
    ...actorAndTarget(ctx, report.findings),
    details: {
      family: top.family,
      field: top.field,
      score: report.score,
      rules,
      threshold: policy.threshold,
      paranoia: policy.paranoia,
      findings: report.findings.slice(0, MAX_REPORTED_FINDINGS),
      ...(report.findings.length > MAX_REPORTED_FINDINGS && {
        omittedFindings: report.findings.length - MAX_REPORTED_FINDINGS,
      }),
      ...(report.truncated && { truncated: true }),
    },
  };
}

/**
 * Returns the actor and target of a detection's event. Events name the request's path and
 * user agent, so where a finding lies in either, the event names the route pattern (or
 * nothing) instead, because the matched text must not reach the event.
 */
function actorAndTarget(
  ctx: RequestContext,
  findings: readonly Finding[],
): Pick<EventDraft, 'actor' | 'target'> {
  const inPath = findings.some(
    (finding) => finding.field === 'path' || finding.field.startsWith('params'),
  );
  const inUserAgent = findings.some((finding) => finding.field === 'headers.user-agent');
  const principal = ctx.principal;
  const userAgent = ctx.headers['user-agent'];
  return {
    actor: {
      type: principal ? principal.type : 'anonymous',
      id: principal?.id,
      ip: ctx.ip,
      userAgent:
        !inUserAgent && typeof userAgent === 'string' ? userAgent.slice(0, 256) : undefined,
    },
    target: {
      method: ctx.method,
      route: ctx.route?.id,
      path: inPath ? ctx.route?.id : ctx.path.slice(0, 512),
    },
  };
}

/** Completes an event the guard publishes itself rather than through a rejection. */
function publishedEvent(
  ctx: RequestContext,
  event: DetectionEvent,
  outcome: 'detected' | 'would_block',
  severity: EventSeverity,
): EventDraft {
  return { ...event, severity, outcome, component: 'waf', correlationId: ctx.correlationId };
}
