import type { PolicyConfig } from '../core/config.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { MemoryReplayCache, RedisReplayCache, type ReplayCache } from './replay-cache.js';
import { loadVerificationKeys } from './signature-key-loader.js';
import { compileSignaturePolicies } from './signature-policy.js';
import { SignatureGuard } from './signatures.js';

export interface SignatureSetupOptions {
  logger?: Logger;
  /** Environment that `secretEnv` variables are read from; `process.env` by default. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Builds the signature guard of a policy, or returns undefined when no route requires a
 * signature. Keys are read here, at start, so a missing secret stops the start with a
 * ConfigError rather than failing requests later.
 */
export function createSignatureGuard(
  config: PolicyConfig,
  options: SignatureSetupOptions = {},
): SignatureGuard | undefined {
  const policies = compileSignaturePolicies(config);
  if (!policies.anyRequired) return undefined;
  const logger = options.logger ?? silentLogger;
  const keys = loadVerificationKeys(config.signatures.keys, options.env);
  const replay = replayCache(config, logger);
  logger.info(
    { keys: keys.size, nonceStore: replay.kind, maxAgeMs: policies.maxAgeMs },
    'request signatures required',
  );
  return new SignatureGuard({
    policies,
    keys,
    replay,
    reportOnly: config.signatures.reportOnly,
  });
}

function replayCache(config: PolicyConfig, logger: Logger): ReplayCache {
  const { nonces } = config.signatures;
  const { redis, keyPrefix, commandTimeout, onRedisFailure } = config.storage;
  if (nonces.store === 'memory' || redis === undefined)
    return new MemoryReplayCache(nonces.maxEntries);
  return new RedisReplayCache({
    redis,
    keyPrefix,
    commandTimeout,
    onFailure: onRedisFailure,
    maxFallbackEntries: nonces.maxEntries,
    logger,
  });
}
