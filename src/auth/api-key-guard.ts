import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import type { Principal, RequestContext } from '../core/context.js';
import { StoreUnavailableError } from '../core/errors.js';
import { CONTINUE, type Guard, type Reject, type Verdict } from '../core/guard.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { problem } from '../core/problem.js';
import { looksLikeApiKey, parseApiKey, type ApiKeyFormatFailure } from './api-key-format.js';
import {
  ApiKeyHasher,
  LastUsedRecorder,
  type ApiKeyRecord,
  type ApiKeyStore,
} from './api-key-store.js';
import { apiKeysDefaults } from './config-schema.js';
import { BEARER, SCHEME } from './jwt-guard.js';
import { authPolicyOf, type AuthPolicy } from './policy.js';
import {
  authFailureEvent,
  invalidApiKey,
  malformedHeader,
  missingCredentials,
  storeUnavailable,
} from './rejections.js';

/** Reason a presented API key was rejected: a stable code in problem bodies and events. */
export type ApiKeyFailure =
  | 'malformed'
  | 'not_an_api_key'
  | 'bad_checksum'
  | 'unknown_key'
  | 'revoked'
  | 'expired'
  | 'rotated';

export interface ApiKeyGuardOptions {
  store: ApiKeyStore;
  /** The HMAC pepper the store's hashes were made with. */
  pepper: string | Buffer;
  /** Header that carries a key besides `Authorization: Bearer`, `X-API-Key` by default. */
  header?: string;
  /** Interval between writes of last-use times to the store, in milliseconds (10 s by default). */
  lastUsedFlushIntervalMs?: number;
  clock?: Clock;
  /** The auth policy of requests that match no route. */
  fallback: AuthPolicy;
  /** Receives errors of the batched last-use writes, which never fail a request. */
  onStoreError?: (error: unknown) => void;
  /** Logs lookups that failed because the store was unavailable. */
  logger?: Logger;
}

// Signs of guessing or a leaked id rank higher than a typo or a stale key.
const HIGH_SEVERITY: ReadonlySet<ApiKeyFailure> = new Set(['unknown_key']);

const MESSAGES: Record<ApiKeyFailure, string> = {
  malformed: 'API key is not of the form bwk_<env>_<key>',
  not_an_api_key: 'a bearer token was sent, but this route accepts API keys (bwk_...) only',
  bad_checksum: 'API key checksum does not match, so the key was mistyped or truncated',
  unknown_key: 'API key is not recognised',
  revoked: 'API key has been revoked',
  expired: 'API key has expired',
  rotated: 'API key was rotated and its grace period has ended; use its successor',
};

const FORMAT_REASON: Record<ApiKeyFormatFailure, ApiKeyFailure> = {
  bad_prefix: 'malformed',
  bad_length: 'malformed',
  bad_charset: 'malformed',
  bad_checksum: 'bad_checksum',
};

// A fast test before parsing the query: `bwk_`, also with the underscore percent-encoded.
const KEY_IN_QUERY = /bwk(_|%5f)/i;

/**
 * Authenticates API keys on routes whose policy lists `apiKey`, from `Authorization: Bearer`
 * or the configured header. It runs before the JWT guard: a bearer value that starts with
 * `bwk_` is taken as an API key, any other one is left to the JWT guard when the route also
 * accepts `jwt`. As with JWTs, a key that is sent must be valid even where anonymous access
 * is allowed, and a principal set by an earlier guard is kept.
 *
 * A key is checked offline first (prefix, length, characters, checksum), so typos and junk
 * never reach the store. Only failures publish events (`auth.failure`), for the reason given
 * in the JWT guard.
 */
export class ApiKeyGuard implements Guard {
  readonly name = 'auth';
  private readonly store: ApiKeyStore;
  private readonly hasher: ApiKeyHasher;
  private readonly header: string;
  private readonly clock: Clock;
  private readonly fallback: AuthPolicy;
  private readonly lastUsed: LastUsedRecorder;
  private readonly logger: Logger;

  constructor(options: ApiKeyGuardOptions) {
    this.store = options.store;
    this.logger = options.logger ?? silentLogger;
    this.hasher = new ApiKeyHasher(options.pepper);
    this.header = (options.header ?? apiKeysDefaults.header).toLowerCase();
    this.clock = options.clock ?? systemClock;
    this.fallback = options.fallback;
    this.lastUsed = new LastUsedRecorder({
      store: options.store,
      clock: this.clock,
      flushIntervalMs: options.lastUsedFlushIntervalMs ?? apiKeysDefaults.lastUsedFlushInterval,
      onError: options.onStoreError,
    });
  }

  check(ctx: RequestContext): Verdict | Promise<Verdict> {
    const policy = authPolicyOf(ctx, this.fallback);
    if (!policy.apiKey) return CONTINUE;
    if (keyInQuery(ctx.url)) return keyInUrl();
    if (ctx.principal !== undefined) return CONTINUE;

    const presented = this.presentedKey(ctx, policy);
    if (presented === 'malformed_header') return malformedHeader();
    if (presented === undefined)
      return policy.jwt || policy.anonymous ? CONTINUE : apiKeyRequired(this.header, policy);

    const parsed = parseApiKey(presented);
    if (!parsed.ok)
      return invalidKey(looksLikeJwt(presented) ? 'not_an_api_key' : FORMAT_REASON[parsed.reason]);

    // A cached record decides at once, so the request stays on the pipeline's synchronous path.
    const cached = this.store.peek?.(parsed.keyId);
    if (cached !== undefined) return this.decide(ctx, cached.record, parsed.secret);
    return this.store.findById(parsed.keyId).then(
      (record) => this.decide(ctx, record, parsed.secret),
      // Fails closed: without the store no key can be verified. Other errors are bugs and
      // reach the pipeline, which responds with 500.
      (error: unknown) => {
        if (!(error instanceof StoreUnavailableError)) throw error;
        this.logger.error(
          { err: error, requestId: ctx.id, correlationId: ctx.correlationId, keyId: parsed.keyId },
          'API key lookup failed: credential store unavailable',
        );
        return storeUnavailable(
          'API key',
          authFailureEvent('store_unavailable', 'medium', 'apiKey'),
        );
      },
    );
  }

  private decide(ctx: RequestContext, record: ApiKeyRecord | undefined, key: string): Verdict {
    const failure = this.failureOf(record, key);
    if (failure !== undefined) return invalidKey(failure, record?.id);
    ctx.principal = principalOf(record!);
    this.lastUsed.record(record!.id);
    return CONTINUE;
  }

  /** Writes pending last-use times to the store. */
  flushLastUsed(): Promise<void> {
    return this.lastUsed.flush();
  }

  close(): Promise<void> {
    return this.lastUsed.close();
  }

  /**
   * Returns the key text from the configured header, else from `Authorization: Bearer`.
   * Where the route also accepts JWTs, only a bearer value that starts with `bwk_` counts.
   */
  private presentedKey(ctx: RequestContext, policy: AuthPolicy): string | undefined {
    const fromHeader = ctx.headers[this.header];
    if (typeof fromHeader === 'string') return fromHeader.trim();

    const authorization = ctx.headers.authorization;
    if (authorization === undefined) return undefined;
    if (SCHEME.exec(authorization)?.[1]?.toLowerCase() !== 'bearer') return undefined;
    const token = BEARER.exec(authorization)?.[1];
    if (token === undefined) return policy.jwt ? undefined : 'malformed_header';
    if (policy.jwt && !looksLikeApiKey(token)) return undefined;
    return token;
  }

  // The hash is compared before the status is read, so that a client holding only a key id
  // (which appears in logs) cannot learn whether that key is revoked or expired.
  private failureOf(record: ApiKeyRecord | undefined, key: string): ApiKeyFailure | undefined {
    if (record === undefined || !this.hasher.matches(key, record.hash)) return 'unknown_key';
    if (record.status === 'revoked') return 'revoked';
    if (record.expiresAt !== undefined && this.clock.now() >= record.expiresAt)
      return record.status === 'rotated' ? 'rotated' : 'expired';
    return undefined;
  }
}

function principalOf(record: ApiKeyRecord): Principal {
  const principal: Principal = { type: 'api_key', id: record.id, scopes: [...record.scopes] };
  if (record.plan !== undefined) principal.plan = record.plan;
  return principal;
}

/**
 * Finds a query parameter whose value starts with `bwk_`. URLs are written to access logs,
 * proxy logs and browser history, so a key sent there must be treated as leaked.
 */
function keyInQuery(url: string): boolean {
  const start = url.indexOf('?');
  if (start === -1 || !KEY_IN_QUERY.test(url.slice(start))) return false;
  // The request line is bounded by Node's header size limit (16 KiB by default), which
  // bounds this parse too.
  for (const value of new URLSearchParams(url.slice(start + 1)).values()) {
    if (looksLikeApiKey(value.trimStart())) return true;
  }
  return false;
}

function keyInUrl(): Reject {
  return {
    action: 'reject',
    status: 400,
    headers: {},
    problem: problem('api-key-in-url', 400, 'Bad Request', 'BWK_ERR_AUTH_API_KEY_IN_URL', {
      detail:
        'An API key was sent in the query string. URLs end up in server, proxy and browser logs, so send the key in the Authorization header (Bearer) instead, and rotate this key.',
    }),
    event: authFailureEvent('key_in_url', 'medium', 'apiKey'),
  };
}

/** Three base64url parts: a JWT sent where only API keys are accepted. */
function looksLikeJwt(text: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(text);
}

function apiKeyRequired(header: string, policy: AuthPolicy): Reject {
  const alternatives = policy.oauth ? ', or an OAuth access token from this gateway' : '';
  return missingCredentials(
    `This route requires an API key in the Authorization header (Bearer) or the ${header} header${alternatives}.`,
    authFailureEvent('missing_credentials', 'low', 'apiKey'),
  );
}

// Messages are fixed strings without quotes or key text, so they are safe inside the quoted
// error_description.
function invalidKey(reason: ApiKeyFailure, keyId?: string): Reject {
  const severity = HIGH_SEVERITY.has(reason) ? 'medium' : 'low';
  const event = authFailureEvent(reason, severity, 'apiKey');
  if (keyId !== undefined) event.details = { ...event.details, keyId };
  return invalidApiKey(reason, MESSAGES[reason], event);
}
