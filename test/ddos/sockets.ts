import { request } from 'node:http';
import { connect, type Socket } from 'node:net';

/** The outcome of one request sent on a connection of its own. */
export type Attempt = { status: number } | { error: string };

/** Sends GET `path` from `localAddress` on a new connection and reports the status or error. */
export function attempt(url: string, path: string, localAddress: string): Promise<Attempt> {
  return new Promise((resolve) => {
    const req = request(new URL(path, url), { agent: false, localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? 'error' }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? 'error' }));
    req.end();
  });
}

/** A raw TCP connection with everything it receives collected. */
export interface RawConnection {
  socket: Socket;
  received(): string;
  /** Resolves when the server closes or resets the connection. */
  closed: Promise<void>;
}

/** Opens a TCP connection from `localAddress` and resolves once it is established. */
export async function openRaw(url: string, localAddress = '127.0.0.1'): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), localAddress });
  let data = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed };
}

/** Sends GET `path` from `localAddress` and resolves with the status and body. */
export function fetchFrom(
  url: string,
  path: string,
  localAddress: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { agent: false, localAddress }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
