import type { Clock } from '../../core/clock.js';
import type { BulwarkConfig, PolicyConfig } from '../../core/config.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { Pipeline } from '../../core/pipeline.js';
import type { EventBus } from '../../events/bus.js';
import { RateLimitGuard } from '../../ratelimit/guard.js';
import type { RateLimitStore } from '../../ratelimit/policy.js';
import { compileLimit } from '../../runtime/policy.js';
import type { CredentialStores } from '../../storage/credentials.js';
import { apiKeysDefaults } from '../config-schema.js';
import type { CredentialChange } from '../invalidation.js';
import { readPepper } from '../pepper.js';
import { OAuthServer, type EndpointPrecheck } from './oauth-server.js';

/** Dependencies the gateway passes to the OAuth server. */
export interface OAuthSetup {
  credentials: CredentialStores | undefined;
  bus: EventBus;
  logger: Logger;
  clock?: Clock;
  /** Announces a revoked token or a new signing key to other instances. */
  notify?: (change: CredentialChange) => Promise<void>;
}

/**
 * Builds the OAuth server of a gateway configuration, or returns undefined without an
 * `oauth` section. The pepper is read from the variable `auth.apiKeys.pepperEnv` names, the
 * same one the credential stores hash with.
 */
export function createOAuthServer(
  config: BulwarkConfig,
  setup: OAuthSetup,
): OAuthServer | undefined {
  if (config.oauth === undefined) return undefined;
  if (setup.credentials === undefined)
    throw new InvalidArgumentError('the OAuth server needs credential stores, and none are open');
  const pepper = readPepper(config.auth.apiKeys ?? apiKeysDefaults);
  return new OAuthServer({
    config: config.oauth,
    credentials: setup.credentials,
    pepper,
    bus: setup.bus,
    policyScopes: policyScopes(config),
    logger: setup.logger,
    clock: setup.clock,
    notify: setup.notify,
  });
}

/** Returns the scopes that the default and route policies require, sorted and unique. */
export function policyScopes(config: PolicyConfig): string[] {
  const scopes = new Set<string>();
  const add = (
    policy: { scopes?: { all: readonly string[]; any: readonly string[] } } | undefined,
  ): void => {
    for (const scope of policy?.scopes?.all ?? []) scopes.add(scope);
    for (const scope of policy?.scopes?.any ?? []) scopes.add(scope);
  };
  add(config.auth);
  for (const route of config.routes) add(route.auth);
  return [...scopes].sort();
}

/**
 * Builds the check of the global rate limits (`rateLimits`) for the OAuth endpoints, which
 * skip the guard pipeline. Limits keyed on a principal do not apply there, because these
 * requests have none. The limits count on the same counters as every other request.
 * Returns undefined when there are no global limits.
 */
export function endpointLimits(
  config: PolicyConfig,
  store: RateLimitStore,
  bus: EventBus,
  logger: Logger,
): EndpointPrecheck | undefined {
  if (config.rateLimits.length === 0) return undefined;
  const ipv6Prefix = config.rateLimiting.ipv6Prefix;
  const guard = new RateLimitGuard({
    store,
    limits: config.rateLimits.map((limit) => compileLimit(limit, ipv6Prefix)),
    limitsFor: () => undefined,
    headers: config.rateLimiting.headers,
    reportOnly: config.rateLimiting.reportOnly,
  });
  // This pipeline is never closed, because closing its guard would close the shared store,
  // which the gateway's main pipeline owns.
  const pipeline = new Pipeline({ guards: [guard], bus, logger });
  return (ctx) => pipeline.run(ctx);
}
