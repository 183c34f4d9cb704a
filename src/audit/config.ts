import { z } from 'zod';

import { eventCategories } from '../events/schema.js';

/**
 * The `audit` section of `bulwark.yaml`. Durations arrive already parsed to milliseconds by
 * the schema factories that `core/config-schema.ts` passes in, like the other sections.
 */

/** Fields encrypted by default in `fields` mode: who made a request, and event specifics. */
export const DEFAULT_SEALED_FIELDS = ['actor.ip', 'actor.userAgent', 'actor.sessionId', 'details'];

const SEALABLE_FIELD =
  /^(actor\.(id|ip|userAgent|sessionId)|target\.(resourceId|path|route)|details(\.[A-Za-z0-9_-]+)?|correlationId)$/;

type DurationSchema = z.ZodType<number, unknown>;

const folderName = z.string().min(1);

/** Retention of one category: a duration of at least 7 days, or `forever`. */
function retentionValue(duration: DurationSchema) {
  return z.union([
    z.literal('forever'),
    duration.refine((ms) => ms >= 7 * 24 * 3_600_000, {
      message: 'must be at least 7d, or forever',
      params: { bwk: 'BWK_ERR_CONFIG_AUDIT' },
    }),
  ]);
}

const envName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]{0,127}$/, 'must be an environment variable name');

const archiveSchema = z.discriminatedUnion('target', [
  z
    .object({
      target: z.literal('folder'),
      /** Default `<dataDir>/audit-archive`. */
      dir: folderName.optional(),
    })
    .strict(),
  z
    .object({
      target: z.literal('s3'),
      bucket: z.string().min(3),
      region: z.string().default('us-east-1'),
      endpoint: z.string().url().optional(),
      forcePathStyle: z.boolean().default(false),
      prefix: z.string().default(''),
    })
    .strict(),
  z
    .object({
      target: z.literal('azure'),
      container: z.string().min(3),
      /** Environment variable holding the storage account connection string. */
      connectionStringEnv: envName.default('BULWARK_AUDIT_AZURE_CONNECTION_STRING'),
      prefix: z.string().default(''),
    })
    .strict(),
]);

export function auditSchema(duration: DurationSchema, positiveDuration: DurationSchema) {
  const retention = retentionValue(duration);
  return z
    .object({
      /** Name of this writer's chain. It must differ between gateways sharing one database. */
      instance: z
        .string()
        .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1 to 128 letters, digits, . _ : or -')
        .optional(),
      /** Key files folder (default `<dataDir>/audit-keys`), created with new keys on first start. */
      keysDir: folderName.optional(),
      /**
       * Also records one `http.request` event per request forwarded upstream, so that every
       * request leaves an audit record, not only those a guard rejected.
       */
      requests: z.boolean().default(false),
      /** `full` syncs every commit of the SQLite log to disk. `normal` survives a process crash only. */
      durability: z.enum(['full', 'normal']).default('full'),
      encryption: z
        .object({
          mode: z.enum(['none', 'fields', 'record']).default('fields'),
          fields: z
            .array(
              z
                .string()
                .regex(
                  SEALABLE_FIELD,
                  'must be actor.id|ip|userAgent|sessionId, target.resourceId|path|route, correlationId, details or details.NAME',
                ),
            )
            .default(DEFAULT_SEALED_FIELDS),
        })
        .strict()
        .default({ mode: 'fields', fields: DEFAULT_SEALED_FIELDS }),
      /** Largest number of events committed in one transaction. */
      maxBatch: z.number().int().min(1).max(10_000).default(1000),
      checkpoint: z
        .object({
          /** A checkpoint after this many records. */
          every: z.number().int().min(1).max(1_000_000).default(1000),
          /** Or after this long, when at least one record arrived since the last one. */
          interval: positiveDuration.default(60_000),
          /** A folder the writer may add files to but not change, e.g. an append-only mount. */
          externalDir: folderName.optional(),
        })
        .strict()
        .default({ every: 1000, interval: 60_000 }),
      spool: z
        .object({
          /** Default `<dataDir>/audit-spool.jsonl`. */
          file: folderName.optional(),
          /** Max spool size in bytes while the store is down. Later events are dropped and counted. */
          maxBytes: z
            .number()
            .int()
            .min(1024)
            .default(256 * 1024 * 1024),
          /** How often to retry the store while events wait in the spool. */
          retryInterval: positiveDuration.default(5_000),
        })
        .strict()
        .default({ maxBytes: 256 * 1024 * 1024, retryInterval: 5_000 }),
      retention: z
        .object({
          /** Applies to categories without an entry of their own. */
          default: retention.default('forever'),
          categories: z.partialRecord(z.enum(eventCategories), retention).default({}),
          /** How often expired records are archived and removed. */
          interval: positiveDuration.default(3_600_000),
        })
        .strict()
        .default({ default: 'forever', categories: {}, interval: 3_600_000 }),
      archive: archiveSchema.default({ target: 'folder' }),
    })
    .strict()
    .default({
      requests: false,
      durability: 'full',
      encryption: { mode: 'fields', fields: DEFAULT_SEALED_FIELDS },
      maxBatch: 1000,
      checkpoint: { every: 1000, interval: 60_000 },
      spool: { maxBytes: 256 * 1024 * 1024, retryInterval: 5_000 },
      retention: { default: 'forever', categories: {}, interval: 3_600_000 },
      archive: { target: 'folder' },
    });
}

export type AuditConfig = z.output<ReturnType<typeof auditSchema>>;
export type ArchiveConfig = z.output<typeof archiveSchema>;
export type RetentionConfig = AuditConfig['retention'];
