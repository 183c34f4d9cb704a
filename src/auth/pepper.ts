import { ConfigError } from '../core/errors.js';
import type { ApiKeysConfig } from './config-schema.js';

const MIN_PEPPER_BYTES = 32;

/**
 * Reads the HMAC pepper of API key and client secret hashes from the environment variable
 * that `auth.apiKeys.pepperEnv` names. The pepper never comes from the configuration file.
 */
export function readPepper(
  config: Pick<ApiKeysConfig, 'pepperEnv'>,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const pepper = env[config.pepperEnv];
  if (pepper === undefined || Buffer.byteLength(pepper) < MIN_PEPPER_BYTES) {
    throw new ConfigError('environment', [
      {
        path: 'auth.apiKeys.pepperEnv',
        value:
          pepper === undefined
            ? `${config.pepperEnv} (not set)`
            : `${config.pepperEnv} (${Buffer.byteLength(pepper)} bytes)`,
        message: `environment variable ${config.pepperEnv} must hold the pepper that hashes API keys and OAuth client secrets, at least ${MIN_PEPPER_BYTES} bytes (e.g. openssl rand -base64 32); it is needed whenever the gateway keeps credentials: API key routes, the OAuth server or the admin API`,
        code: 'BWK_ERR_CONFIG_API_KEYS',
      },
    ]);
  }
  return pepper;
}
