import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

import { startUpstream, type Upstream } from '../helpers/upstream.js';

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'https://api.test';

/** A key pair of one algorithm, with its public half as JWK and as PEM. */
export interface Signer {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

export async function createSigner(alg: string, kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

export interface TokenOptions {
  iss?: string;
  aud?: string | string[];
  /** Seconds from now; negative for the past. */
  expiresIn?: number;
  notBefore?: number;
  kid?: string;
}

/** Signs a token for ISSUER and AUDIENCE, valid for five minutes unless the options set other times. */
export async function sign(
  signer: Signer,
  claims: JWTPayload,
  options: TokenOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: signer.alg, kid: options.kid ?? signer.kid, typ: 'at+jwt' })
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 300));
  if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
  return jwt.sign(signer.privateKey);
}

export function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** An upstream that responds with the request headers it received, as JSON. */
export function startEchoUpstream(): Promise<Upstream> {
  return startUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.headers));
    });
  });
}

/** A JWKS endpoint on 127.0.0.1 whose key set and availability the test controls. */
export class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  up = true;
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.fetches += 1;
      if (!this.up) {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
      res.end(JSON.stringify({ keys: this.keys }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }
}
