import { connect, type Socket } from 'node:net';

/** What a client that keeps sending a body saw before the server cut it off. */
export interface CutResult {
  /** Status of the response, if one arrived before the connection closed. */
  status: number | undefined;
  /** The raw response, head and body, as far as it arrived. */
  response: string;
  /** Body bytes the client handed to the socket before it failed or closed. */
  bodyBytesWritten: number;
  /** Whether the client wrote the whole body without the server stopping it. */
  completed: boolean;
}

export interface RawRequest {
  method?: string;
  path: string;
  headers: Record<string, string | number>;
  /** Body bytes to try to send in total. */
  total: number;
  chunked: boolean;
  /** Bytes per write. */
  chunkSize?: number;
  /** Gives up waiting for the server after this long (a bound, not an expectation). */
  boundMs?: number;
}

/**
 * Sends a request head, then writes the body as fast as the socket takes it, without stopping
 * when a response arrives, until the server closes the connection or the whole body is
 * written. The count shows how much of a body the server let in before cutting it off.
 */
export function sendUntilCut(url: string, request: RawRequest): Promise<CutResult> {
  const { hostname, port } = new URL(url);
  const chunkSize = request.chunkSize ?? 64 * 1024;
  const payload = Buffer.alloc(chunkSize, 0x61);
  return new Promise((resolve) => {
    const socket: Socket = connect(Number(port), hostname);
    let response = '';
    let bodyBytesWritten = 0;
    let finished = false;
    let completed = false;
    const bound = setTimeout(() => socket.destroy(), request.boundMs ?? 10_000);

    const done = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(bound);
      const match = /^HTTP\/1\.1 (\d{3})/.exec(response);
      resolve({
        status: match ? Number(match[1]) : undefined,
        response,
        bodyBytesWritten,
        completed,
      });
    };
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => (response += text));
    socket.on('error', () => socket.destroy());
    socket.on('close', done);

    const write = (): void => {
      while (!socket.destroyed && bodyBytesWritten < request.total) {
        const size = Math.min(chunkSize, request.total - bodyBytesWritten);
        const bytes = size === chunkSize ? payload : payload.subarray(0, size);
        const frame = request.chunked
          ? Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), bytes, Buffer.from('\r\n')])
          : bytes;
        bodyBytesWritten += size;
        if (!socket.write(frame)) {
          socket.once('drain', write);
          return;
        }
      }
      if (socket.destroyed) return;
      completed = true;
      if (request.chunked) socket.write('0\r\n\r\n');
    };

    socket.on('connect', () => {
      const lines = [`${request.method ?? 'POST'} ${request.path} HTTP/1.1`, `host: ${hostname}`];
      for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
      if (request.chunked) lines.push('transfer-encoding: chunked');
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      write();
    });
  });
}

/**
 * Sends a body a few bytes at a time with a pause between writes, as a slow-body attack
 * does. Resolves with the response, or with no status when the server only closed the
 * connection.
 */
export function sendSlowly(
  url: string,
  request: {
    path: string;
    headers: Record<string, string | number>;
    piece: string;
    everyMs: number;
    boundMs: number;
  },
): Promise<{ status: number | undefined; response: string; closed: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let response = '';
    let timer: NodeJS.Timeout | undefined;
    const bound = setTimeout(() => socket.destroy(), request.boundMs);
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => (response += text));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(bound);
      const match = /^HTTP\/1\.1 (\d{3})/.exec(response);
      resolve({ status: match ? Number(match[1]) : undefined, response, closed: true });
    });
    socket.on('connect', () => {
      const lines = [`POST ${request.path} HTTP/1.1`, `host: ${hostname}`];
      for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      timer = setInterval(() => {
        if (!socket.destroyed) socket.write(request.piece);
      }, request.everyMs);
    });
  });
}
