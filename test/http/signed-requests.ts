import { randomBytes } from 'node:crypto';

import { signRequest, type SignRequestOptions } from '../../src/http/signing.js';
import { send, type Reply } from '../helpers/http.js';

export type SignedSendOptions = Omit<SignRequestOptions, 'url' | 'method'> & {
  method?: string;
  /** Changes the signed fields before sending, to play a client or attacker that alters them. */
  tamper?: (headers: Record<string, string>) => void;
  /** Body actually sent, when it differs from the body signed. */
  sentBody?: string;
  /** Path actually requested, when it differs from the path signed. */
  sentPath?: string;
};

/** Signs a request for `base + path` and sends it; returns the reply and the headers sent. */
export async function sendSigned(
  base: string,
  path: string,
  options: SignedSendOptions,
): Promise<{ reply: Reply; headers: Record<string, string> }> {
  const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
  const signed = signRequest({ ...options, method, url: new URL(path, base).href });
  const headers: Record<string, string> = { ...options.headers, ...signed };
  options.tamper?.(headers);
  const body = options.sentBody ?? (options.body as string | undefined);
  const reply = await send(base, options.sentPath ?? path, { method, headers, body });
  return { reply, headers };
}

/** Resends exactly the same request, as an attacker who captured it would. */
export function resend(
  base: string,
  path: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Reply> {
  return send(base, path, { method, headers, body });
}

/** Returns an environment variable name of the test's own, so parallel files never share one. */
export function uniqueEnvName(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex').toUpperCase()}`;
}
