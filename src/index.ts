// The public API of the `bulwark` package. This file only re-exports.

export {
  bulwarkExpress,
  type BulwarkExpressOptions,
  type BulwarkMiddleware,
} from './adapters/express.js';
export { bulwarkFastify, type BulwarkFastifyOptions } from './adapters/fastify.js';
export {
  withBulwark,
  type BulwarkHandler,
  type BulwarkListener,
  type WithBulwarkOptions,
} from './adapters/node-http.js';
export type { AdapterHooks, AdapterOptions } from './adapters/options.js';

export { RateLimiter, type RateLimiterOptions } from './ratelimit/limiter.js';
export { MemoryStore, type MemoryStoreOptions } from './ratelimit/memory-store.js';
export { RedisStore, type RedisStoreOptions } from './ratelimit/redis-store.js';
export {
  FailoverStore,
  type FailoverState,
  type FailoverStoreOptions,
  type RedisFailureMode,
} from './ratelimit/failover-store.js';
export {
  createRedisClient,
  waitForRedisReady,
  type RedisClient,
  type RedisClientOptions,
} from './storage/redis.js';
export {
  algorithms,
  type Algorithm,
  type LimitCheck,
  type LimitDecision,
  type LimitPolicy,
  type RateLimitStore,
} from './ratelimit/policy.js';

export { EventBus, type EventBusOptions, type EventSink } from './events/bus.js';
export { JsonLinesSink } from './events/jsonl-sink.js';
export {
  AuditEventInvalidError,
  INGEST_EVENT_TYPES,
  recordAuditEvent,
  type IngestEventInput,
  type IngestEventType,
  type IngestIssue,
} from './audit/ingest.js';
export { AuditLog, AuditEventsDroppedError, type AuditLogOptions } from './audit/writer.js';
export { AuditService, openAuditStore } from './audit/open.js';
export type { AuditStore } from './audit/store.js';
export { SqliteAuditStore } from './audit/sqlite-store.js';
export { PostgresAuditStore } from './audit/postgres-store.js';
export {
  verifyAuditLog,
  type ChainReport,
  type Damage,
  type DamageKind,
  type VerifyReport,
} from './audit/verify.js';
export { proveRecord, verifyRecordProof, type RecordProof } from './audit/proof.js';
export { applyRetention } from './audit/retention.js';
export { generateAuditKeys, loadAuditKeys, type AuditKeys } from './audit/keys.js';
export {
  EVENT_SCHEMA_VERSION,
  securityEventSchema,
  type EventCategory,
  type EventDraft,
  type EventOutcome,
  type EventSeverity,
  type SecurityEvent,
} from './events/schema.js';

export {
  configSchema,
  loadConfigFile,
  parseConfigText,
  policySchema,
  validateConfig,
  validatePolicy,
  type BulwarkConfig,
  type ConfigInput,
  type PolicyConfig,
  type PolicyInput,
  type RateLimitConfig,
  type RouteConfig,
} from './core/config.js';
export {
  BulwarkError,
  ConfigError,
  InvalidArgumentError,
  StoreUnavailableError,
  type ConfigIssue,
} from './core/errors.js';

export {
  generateApiKey,
  parseApiKey,
  type ApiKeyFormatFailure,
  type InvalidApiKey,
  type ParsedApiKey,
} from './auth/api-key-format.js';
export {
  ApiKeyHasher,
  LastUsedRecorder,
  MemoryApiKeyStore,
  type ApiKeyRecord,
  type ApiKeyStatus,
  type ApiKeyStore,
  type IssuedApiKey,
  type MemoryApiKeyStoreOptions,
  type NewApiKey,
} from './auth/api-key-store.js';
export { ApiKeyGuard, type ApiKeyFailure, type ApiKeyGuardOptions } from './auth/api-key-guard.js';

export {
  ed25519SigningKey,
  hmacSigningKey,
  signRequest,
  type SignatureHeaders,
  type SignRequestOptions,
} from './http/signing.js';
export type { SigningKey, SecretEncoding } from './http/signature-keys.js';
export {
  contentDigest,
  verifyContentDigest,
  type DigestAlgorithm,
  type DigestCheck,
} from './http/content-digest.js';

export type { MatchedRoute, Principal, RequestContext } from './core/context.js';
export { CONTINUE, type Continue, type Guard, type Reject, type Verdict } from './core/guard.js';
export type { Decision } from './core/pipeline.js';
export type { Problem } from './core/problem.js';
export { Protection, type ProtectionOptions } from './runtime/protection.js';

export { escapeLdapDn, escapeLdapFilterValue } from './validation/ldap.js';
export {
  MAX_USER_PATH_LENGTH,
  PathOutsideRootError,
  resolveInsideRoot,
  resolveRealPathInsideRoot,
  type PathRejection,
} from './validation/safe-path.js';
export {
  MongoQueryRejectedError,
  sanitizeMongoQuery,
  type MongoQueryRejection,
  type SanitizeMongoQueryOptions,
} from './validation/mongo.js';
export {
  parseXmlSafely,
  XmlRejectedError,
  type SafeXmlOptions,
  type XmlRejection,
} from './validation/safe-xml.js';

export {
  scanRequest,
  WafGuard,
  type Finding,
  type Inspector,
  type ScanReport,
  type WafGuardOptions,
} from './validation/waf/guard.js';
export { compileWafPolicy, type WafInput, type WafPolicy } from './validation/waf/config.js';
export { engineInspector } from './validation/waf/setup.js';
export {
  HtmlSanitizer,
  HtmlTooLargeError,
  sanitizeHtml,
  type HtmlSanitizerOptions,
  type SanitizeProfile,
} from './validation/sanitize/html.js';
export type { ValidationIssue, RequestPart } from './validation/schema/issues.js';

export {
  ClamdClient,
  ClamdResponseError,
  ClamdTimeoutError,
  ClamdUnavailableError,
  createUploadInspector,
  inspectUpload,
  UploadInspector,
  uploadPolicyFrom,
  uploadResultOf,
  type ScanResult,
  type UploadConfigInput,
  type UploadedFile,
  type UploadPolicy,
  type UploadRejection,
  type UploadRejectionReason,
  type UploadResult,
} from './upload/index.js';
export {
  evaluate,
  renderTemplate,
  ExpressionEngine,
  ExpressionError,
  ExpressionSyntaxError,
  ExpressionForbiddenError,
  ExpressionAccessError,
  ExpressionRuntimeError,
  ExpressionLimitError,
  type ExpressionEngineOptions,
  type ExpressionLimits,
  type ExpressionResult,
} from './expression/index.js';

export { Gateway, type GatewayOptions } from './gateway/server.js';
