import { clientAuthMethods } from './client-auth.js';
import type { OAuthConfig } from './config-schema.js';
import type { OAuthResponse } from './http.js';
import type { SigningKeyRing } from './signing-keys.js';

// Verifiers that cache the JWKS this long still see a new key quickly: jose and most other
// libraries fetch the set again when a token names an unknown `kid`.
const JWKS_MAX_AGE_SECONDS = 300;
const METADATA_MAX_AGE_SECONDS = 3600;

/** Builds the JWKS response: public keys only, cacheable for a few minutes. */
export function jwksResponse(keys: SigningKeyRing): OAuthResponse {
  return {
    status: 200,
    headers: {
      'cache-control': `public, max-age=${JWKS_MAX_AGE_SECONDS}`,
      'content-type': 'application/jwk-set+json',
    },
    body: keys.jwks(),
  };
}

/**
 * Authorization server metadata (RFC 8414 section 2). Endpoint URLs are the issuer's origin
 * with the configured paths, because the gateway serves them at its root.
 */
export function metadataResponse(
  issuer: string,
  config: OAuthConfig,
  scopes: readonly string[],
): OAuthResponse {
  const url = (path: string): string => new URL(path, issuer).href;
  const authMethods = [...clientAuthMethods];
  const body = {
    issuer,
    token_endpoint: url(config.paths.token),
    jwks_uri: url(config.paths.jwks),
    scopes_supported: [...scopes],
    // Required by RFC 8414, and empty because this server has no authorization endpoint.
    response_types_supported: [],
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: authMethods,
    introspection_endpoint: url(config.paths.introspection),
    introspection_endpoint_auth_methods_supported: authMethods,
    revocation_endpoint: url(config.paths.revocation),
    revocation_endpoint_auth_methods_supported: authMethods,
  };
  return {
    status: 200,
    headers: { 'cache-control': `public, max-age=${METADATA_MAX_AGE_SECONDS}` },
    body,
  };
}
