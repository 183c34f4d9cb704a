import { z } from 'zod';

/** Version of the SecurityEvent schema; bumped on any incompatible change. */
export const EVENT_SCHEMA_VERSION = 1;

export const eventCategories = [
  'authentication',
  'authorization',
  'data_access',
  'configuration',
  'credential',
  'violation',
  'admin',
  'system',
] as const;

export const eventSeverities = ['info', 'low', 'medium', 'high', 'critical'] as const;

export const eventOutcomes = ['success', 'failure', 'blocked', 'detected', 'would_block'] as const;

export const actorTypes = ['user', 'api_key', 'client', 'anonymous', 'system'] as const;

export const securityEventSchema = z.object({
  schemaVersion: z.literal(EVENT_SCHEMA_VERSION),
  id: z.string().uuid(),
  time: z.string().datetime({ precision: 3 }),
  type: z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/),
  category: z.enum(eventCategories),
  severity: z.enum(eventSeverities),
  outcome: z.enum(eventOutcomes),
  actor: z.object({
    type: z.enum(actorTypes),
    id: z.string().optional(),
    ip: z.string().optional(),
    userAgent: z.string().optional(),
    sessionId: z.string().optional(),
  }),
  target: z
    .object({
      resourceType: z.string().optional(),
      resourceId: z.string().optional(),
      method: z.string().optional(),
      route: z.string().optional(),
      path: z.string().optional(),
    })
    .default({}),
  correlationId: z.string().optional(),
  source: z.object({ component: z.string(), instance: z.string() }),
  details: z.record(z.string(), z.unknown()).default({}),
});

export type SecurityEvent = z.infer<typeof securityEventSchema>;
export type EventCategory = (typeof eventCategories)[number];
export type EventSeverity = (typeof eventSeverities)[number];
export type EventOutcome = (typeof eventOutcomes)[number];

/** Event fields a component supplies. The bus fills in id, time, version and source instance. */
export type EventDraft = Omit<
  SecurityEvent,
  'schemaVersion' | 'id' | 'time' | 'source' | 'target' | 'details'
> & {
  component: string;
  target?: SecurityEvent['target'];
  details?: Record<string, unknown>;
};
