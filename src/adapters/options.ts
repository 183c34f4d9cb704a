/**
 * Options shared by the Express, Fastify and node:http adapters, validated once when the
 * adapter is created so that a wrong option stops the application at start, not mid-traffic.
 */
import type { ApiKeyStore } from '../auth/api-key-store.js';
import { validatePolicy, type PolicyConfig, type PolicyInput } from '../core/config.js';
import { ConfigError, type ConfigIssue } from '../core/errors.js';
import type { Guard } from '../core/guard.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { EventBus } from '../events/bus.js';
import { JsonLinesSink } from '../events/jsonl-sink.js';
import type { SecurityEvent } from '../events/schema.js';
import type { RateLimitStore } from '../ratelimit/policy.js';
import { Protection } from '../runtime/protection.js';

/** Options of an adapter beyond the policy: logging, events, state and extra guards. */
export interface AdapterHooks {
  /** pino logger for guard failures and adapter errors, silent by default. */
  logger?: Logger;
  /** Bus to publish events on. By default each adapter instance creates its own. */
  bus?: EventBus;
  /** Replaces the rate-limit store chosen from `storage`, e.g. to share one between apps. */
  store?: RateLimitStore;
  /** Receives each event synchronously on the request path, so it should return quickly. */
  onEvent?: (event: SecurityEvent) => void;
  /** File that events are appended to as JSON lines, allowed only without `bus`. */
  eventsFile?: string;
  /**
   * Guards that run before rate limiting, in order. A guard that sets `ctx.principal` (from a
   * session cookie or a token) makes limits keyed on `user`, `apiKey` or `plan` apply.
   * NOTE: an identity that framework middleware stored elsewhere (such as Passport's
   * `req.user`) is not read; a guard has to copy it into `ctx.principal`.
   */
  guards?: readonly Guard[];
  /**
   * Store in which keys are looked up on routes whose `auth.methods` lists `apiKey`, e.g. a
   * MemoryApiKeyStore. The pepper is read from the variable `auth.apiKeys.pepperEnv` names.
   */
  apiKeyStore?: ApiKeyStore;
}

/** Adapter options: the policy part of `bulwark.yaml` (no `listen` or `upstream`) and hooks. */
export type AdapterOptions = PolicyInput & AdapterHooks;

/** The protection an adapter runs, and how to release everything the options created. */
export interface AdapterRuntime {
  readonly protection: Protection;
  readonly logger: Logger;
  close(): Promise<void>;
}

/**
 * Validates adapter options and compiles them into a `Protection`. Throws a ConfigError that
 * lists every invalid option with its path, e.g. `rateLimits.0.window`. `source` names the
 * adapter in the error message.
 */
export function createAdapterRuntime(options: AdapterOptions, source: string): AdapterRuntime {
  if (options === null || typeof options !== 'object') {
    throw new ConfigError(source, [
      issue('', options, 'expected an options object', 'BWK_ERR_CONFIG_TYPE'),
    ]);
  }
  const { logger, bus, store, onEvent, eventsFile, guards, apiKeyStore, ...policyInput } = options;
  const hooks: AdapterHooks = { logger, bus, store, onEvent, eventsFile, guards, apiKeyStore };

  const issues: ConfigIssue[] = [];
  let policy: PolicyConfig | undefined;
  try {
    policy = validatePolicy(policyInput, source);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    issues.push(...error.issues);
  }
  issues.push(...hookIssues(hooks));
  if (policy === undefined || issues.length > 0) throw new ConfigError(source, issues);

  return buildRuntime(policy, hooks);
}

function buildRuntime(policy: PolicyConfig, hooks: AdapterHooks): AdapterRuntime {
  const logger = hooks.logger ?? silentLogger;
  const ownBus = hooks.bus === undefined ? new EventBus({ logger }) : undefined;
  const bus = hooks.bus ?? ownBus!;
  if (hooks.eventsFile !== undefined) bus.addSink(new JsonLinesSink(hooks.eventsFile));
  const unsubscribe = hooks.onEvent ? bus.subscribe(hooks.onEvent) : undefined;

  const protection = new Protection(policy, {
    logger,
    bus,
    store: hooks.store,
    extraGuards: hooks.guards,
    apiKeyStore: hooks.apiKeyStore,
  });
  let closing: Promise<void> | undefined;
  return {
    protection,
    logger,
    close(): Promise<void> {
      closing ??= (async () => {
        unsubscribe?.();
        await protection.close();
        await ownBus?.close();
      })();
      return closing;
    },
  };
}

function hookIssues(hooks: AdapterHooks): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const { logger, bus, store, onEvent, eventsFile, guards, apiKeyStore } = hooks;

  if (logger !== undefined && !hasMethods(logger, ['error', 'warn', 'info', 'debug'])) {
    issues.push(issue('logger', logger, 'expected a pino logger', 'BWK_ERR_CONFIG_TYPE'));
  }
  if (bus !== undefined && !(bus instanceof EventBus)) {
    issues.push(issue('bus', bus, 'expected an EventBus', 'BWK_ERR_CONFIG_TYPE'));
  }
  if (store !== undefined && !hasMethods(store, ['consume', 'reset', 'close'])) {
    issues.push(
      issue('store', store, 'expected a RateLimitStore such as MemoryStore', 'BWK_ERR_CONFIG_TYPE'),
    );
  }
  if (onEvent !== undefined && typeof onEvent !== 'function') {
    issues.push(issue('onEvent', onEvent, 'expected a function', 'BWK_ERR_CONFIG_TYPE'));
  }
  if (eventsFile !== undefined && (typeof eventsFile !== 'string' || eventsFile === '')) {
    issues.push(issue('eventsFile', eventsFile, 'expected a file path', 'BWK_ERR_CONFIG_TYPE'));
  }
  if (eventsFile !== undefined && bus !== undefined) {
    issues.push(
      issue(
        'eventsFile',
        eventsFile,
        'is allowed only without `bus`, because the adapter cannot close a sink on your bus. ' +
          'Add a JsonLinesSink to your bus instead',
        'BWK_ERR_CONFIG_CONFLICT',
      ),
    );
  }
  if (apiKeyStore !== undefined && !hasMethods(apiKeyStore, ['findById', 'touchLastUsed'])) {
    issues.push(
      issue(
        'apiKeyStore',
        apiKeyStore,
        'expected an ApiKeyStore such as MemoryApiKeyStore',
        'BWK_ERR_CONFIG_TYPE',
      ),
    );
  }
  issues.push(...guardIssues(guards));
  return issues;
}

function guardIssues(guards: unknown): ConfigIssue[] {
  if (guards === undefined) return [];
  if (!Array.isArray(guards)) {
    return [issue('guards', guards, 'expected an array of guards', 'BWK_ERR_CONFIG_TYPE')];
  }
  const issues: ConfigIssue[] = [];
  guards.forEach((guard: unknown, index) => {
    const named = hasMethods(guard, ['check']) && typeof guard.name === 'string';
    if (!named) {
      issues.push(
        issue(
          `guards.${index}`,
          guard,
          'expected a guard: an object with a string name and a check(ctx) method',
          'BWK_ERR_CONFIG_TYPE',
        ),
      );
    }
  });
  return issues;
}

function hasMethods(value: unknown, names: readonly string[]): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const record = value as Record<string, unknown>;
  return names.every((name) => typeof record[name] === 'function');
}

function issue(path: string, value: unknown, message: string, code: string): ConfigIssue {
  return { path, value: describeType(value), message, code };
}

// Hooks are live objects (loggers, stores) whose JSON could be huge or circular. Their type
// is enough to see the mistake, and a string value is shown shortened.
function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 80));
  if (typeof value === 'object') return 'an object';
  return typeof value === 'undefined' ? 'nothing' : `a ${typeof value}`;
}
