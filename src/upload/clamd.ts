/**
 * A client for clamd, the ClamAV daemon, over its INSTREAM protocol: the command
 * `zINSTREAM\0`, then the data in chunks that each start with their length as a 4-byte
 * big-endian integer, then a zero length. clamd replies with one NUL-terminated line:
 * `stream: OK`, `stream: NAME FOUND`, or a line ending in `ERROR`.
 */
import { createReadStream } from 'node:fs';
import { connect, type Socket } from 'node:net';

import { BulwarkError } from '../core/errors.js';
import { formatClamdAddress, type ClamdAddress } from './config.js';

/** clamd cannot be reached, or it closed the connection without a response. */
export class ClamdUnavailableError extends BulwarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BWK_ERR_CLAMD_UNAVAILABLE', message, options);
  }
}

/** clamd sent no response within the scan timeout. */
export class ClamdTimeoutError extends BulwarkError {
  constructor(timeoutMs: number) {
    super('BWK_ERR_CLAMD_TIMEOUT', `clamd timed out: no response within ${timeoutMs} ms`);
  }
}

/** clamd replied with an error line, e.g. when the stream exceeds its StreamMaxLength. */
export class ClamdResponseError extends BulwarkError {
  constructor(readonly response: string) {
    super('BWK_ERR_CLAMD_RESPONSE', `clamd reported an error: ${response.slice(0, 200)}`);
  }
}

/** The result of a scan. */
export type ScanResult = { clean: true } | { clean: false; signature: string };

/** Chunks stay well under clamd's default StreamMaxLength of 25 MiB. */
const CHUNK_SIZE = 64 * 1024;
/** Maximum length of a clamd reply. Anything longer did not come from clamd. */
const MAX_RESPONSE = 4096;

export class ClamdClient {
  constructor(
    private readonly address: ClamdAddress,
    private readonly timeoutMs: number,
  ) {}

  /** Resolves true when clamd replies `PONG`, false when it cannot be reached or times out. */
  async ping(): Promise<boolean> {
    try {
      const answer = await this.exchange(async (socket) => {
        socket.write('zPING\0');
      });
      return answer === 'PONG';
    } catch {
      return false;
    }
  }

  /** Scans the file at `path`. Throws a Clamd*Error when there is no verdict. */
  async scanFile(path: string): Promise<ScanResult> {
    return this.scan(readChunks(path));
  }

  /** Scans the bytes of `source`, which is consumed. */
  async scan(
    source: AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>,
  ): Promise<ScanResult> {
    const answer = await this.exchange(async (socket) => {
      socket.write('zINSTREAM\0');
      for await (const chunk of source) {
        for (let offset = 0; offset < chunk.length; offset += CHUNK_SIZE) {
          const part = chunk.subarray(offset, offset + CHUNK_SIZE);
          const length = Buffer.allocUnsafe(4);
          length.writeUInt32BE(part.length, 0);
          if (socket.destroyed) return;
          socket.write(length);
          if (!socket.write(part)) await drained(socket);
        }
      }
      socket.write(Buffer.alloc(4));
    });
    return parseScanAnswer(answer);
  }

  /**
   * Opens a connection, runs `send`, and resolves with clamd's reply without its NUL. The
   * timeout covers the whole exchange, sending included.
   */
  private exchange(send: (socket: Socket) => Promise<void>): Promise<string> {
    return new Promise((resolve, reject) => {
      const address = this.address;
      const socket =
        address.kind === 'tcp'
          ? connect({ host: address.host, port: address.port })
          : connect({ path: address.path });
      const chunks: Buffer[] = [];
      let received = 0;
      let settled = false;
      const finish = (error: Error | undefined, answer?: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (error) reject(error);
        else resolve(answer!);
      };
      const timer = setTimeout(() => finish(new ClamdTimeoutError(this.timeoutMs)), this.timeoutMs);

      socket.on('connect', () => {
        send(socket).catch((error: unknown) =>
          finish(new ClamdUnavailableError('sending to clamd failed', { cause: error })),
        );
      });
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        const all = Buffer.concat(chunks, received);
        const end = all.indexOf(0);
        if (end !== -1) finish(undefined, all.subarray(0, end).toString('utf8').trim());
        else if (received > MAX_RESPONSE)
          finish(new ClamdResponseError('response longer than 4096 bytes'));
      });
      socket.on('end', () => {
        // clamd sends the NUL-terminated reply and closes. Without the NUL, take what came.
        if (received > 0)
          finish(undefined, Buffer.concat(chunks, received).toString('utf8').trim());
        else finish(new ClamdUnavailableError('clamd closed the connection without a response'));
      });
      // The system's reason (e.g. ECONNREFUSED) stays in `cause` only, because pino prints the
      // cause's message after this one and repeating it here would show it twice.
      let connected = false;
      socket.once('connect', () => (connected = true));
      socket.on('error', (error) => {
        const unreachable = () =>
          new ClamdUnavailableError(`clamd at ${formatClamdAddress(address)} is unreachable`, {
            cause: error,
          });
        if (received > 0) {
          finish(undefined, Buffer.concat(chunks, received).toString('utf8').trim());
          return;
        }
        // clamd replies to a stream over its size limit and closes while the rest is still
        // being sent. The reset can be reported before the reply is read, so wait briefly.
        if (connected) setTimeout(() => finish(unreachable()), 100).unref();
        else finish(unreachable());
      });
    });
  }
}

/**
 * Yields the file's bytes, opening it only when the scan starts to send. A stream opened at
 * once would go unread when clamd cannot be reached, and an error opening it, such as a file
 * removed meanwhile, would then have no listener.
 */
async function* readChunks(path: string): AsyncGenerator<Buffer> {
  yield* createReadStream(path, { highWaterMark: CHUNK_SIZE }) as AsyncIterable<Buffer>;
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.once('drain', done);
    socket.once('close', done);
  });
}

/** Parses clamd's reply to INSTREAM. */
export function parseScanAnswer(answer: string): ScanResult {
  if (answer === 'stream: OK') return { clean: true };
  const found = /^stream: (.+) FOUND$/.exec(answer);
  if (found) return { clean: false, signature: found[1]!.slice(0, 200) };
  throw new ClamdResponseError(answer);
}
