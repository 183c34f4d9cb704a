import { request, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export interface SendOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
  /** A keep-alive agent to reuse connections. Without it, each request opens its own. */
  agent?: Agent;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * Sends one request with node:http, which (unlike fetch) lets a test set hop-by-hop
 * headers such as Connection, TE and Upgrade, and collects the whole reply.
 */
export function send(url: string, path: string, options: SendOptions = {}): Promise<Reply> {
  // Node's client chunks a body by default except for GET, HEAD, DELETE, OPTIONS, TRACE and
  // CONNECT, where it sends the bytes unframed. A content-length frames them for every method.
  const headers =
    options.body === undefined
      ? options.headers
      : { 'content-length': Buffer.byteLength(options.body), ...options.headers };
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, url),
      { method: options.method ?? 'GET', headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Parses a reply body as JSON, naming the status and body when it is not JSON. */
export function json<T = Record<string, unknown>>(reply: Reply): T {
  try {
    return JSON.parse(reply.text) as T;
  } catch {
    throw new Error(
      `expected a JSON body, got status ${reply.status}: ${reply.text.slice(0, 200)}`,
    );
  }
}
