import { beforeAll, describe, expect, it } from 'vitest';

import type { JwtIssuerConfig } from '../../src/auth/config-schema.js';
import { JwtVerifier, TokenError } from '../../src/auth/jwt.js';
import type { Principal } from '../../src/core/context.js';
import { AUDIENCE, createSigner, ISSUER, sign, type Signer } from './tokens.js';

/** Counts the signature checks that reach jose. */
class CountingVerifier extends JwtVerifier {
  checks = 0;

  protected override verifySignature(token: string): Promise<Principal> {
    this.checks += 1;
    return super.verifySignature(token);
  }
}

let signer: Signer;
let issuer: JwtIssuerConfig;

beforeAll(async () => {
  signer = await createSigner('ES256', 'k1');
  issuer = {
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['ES256'],
    publicKeys: [{ pem: signer.publicPem, alg: 'ES256' }],
    jwks: { cacheMaxAge: 600_000, cooldown: 30_000, timeout: 5_000 },
    clockTolerance: 0,
    requiredClaims: [],
  };
});

describe('verified token cache', () => {
  it('checks the signature of a repeated token once', async () => {
    const verifier = new CountingVerifier([issuer], 100);
    const token = await sign(signer, { sub: 'alice', scope: 'orders:read' });

    const first = await verifier.verify(token);
    const second = await verifier.verify(token);

    expect(second).toEqual(first);
    expect(second).not.toBe(first);
    expect(verifier.checks).toBe(1);
  });

  it('checks every time when the cache size is 0', async () => {
    const verifier = new CountingVerifier([issuer], 0);
    const token = await sign(signer, { sub: 'alice' });
    await verifier.verify(token);
    await verifier.verify(token);
    expect(verifier.checks).toBe(2);
  });

  it('never remembers a rejected token', async () => {
    const verifier = new CountingVerifier([issuer], 100);
    const token = await sign(signer, { sub: 'alice' }, { aud: 'https://other.test' });
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(TokenError);
    await expect(verifier.verify(token)).rejects.toBeInstanceOf(TokenError);
    expect(verifier.checks).toBe(2);
  });

  it('does not extend a token past its expiry', async () => {
    const verifier = new CountingVerifier([issuer], 100);
    const token = await sign(signer, { sub: 'alice' }, { expiresIn: 1 });
    await verifier.verify(token);

    await new Promise((resolve) => setTimeout(resolve, 1_100));

    await expect(verifier.verify(token)).rejects.toMatchObject({ reason: 'expired' });
    expect(verifier.checks).toBe(2);
  });
});
