/**
 * Reading request bodies from node:http under a size limit and a minimum rate: whole, for
 * guards that check the bytes, or metered while they stream on. The gateway and the adapters
 * each supply one reader per request (`ctx.bodyReader`).
 */
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';

import type { BodyLimits, BodyReader } from '../core/context.js';
import { BodyRateMonitor } from './body-rate.js';
import {
  bodyIncomplete,
  bodyTooLarge,
  bodyTooSlow,
  type RequestBodyError,
} from './body-rejections.js';

/**
 * Reads the whole body of `req`. It stops reading as soon as the body passes `maxBytes` (or
 * at once when Content-Length already does), so an oversized body is never read to its end.
 *
 * With `replay`, the bytes are put back into `req` before it ends, so the application behind
 * an adapter reads the same body again through the stream API. Every chunk is read with
 * `read()` rather than `'data'`, because `unshift` is allowed only before `'end'` is emitted.
 */
export function readBody(
  req: IncomingMessage,
  limits: BodyLimits,
  replay: boolean,
): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limits.maxBytes) return Promise.reject(bodyTooLarge(limits));

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const rate = limits.minRate;
    const monitor =
      rate &&
      new BodyRateMonitor(rate, { bytes: () => received, consumerStalled: () => false }, () =>
        fail(bodyTooSlow(rate, received)),
      );

    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = req.read() as Buffer | null) !== null) {
        received += chunk.length;
        if (received > limits.maxBytes) {
          fail(bodyTooLarge(limits));
          return;
        }
        chunks.push(chunk);
      }
      // `complete` is set when the parser has seen the whole message, before 'end', which
      // waits for the buffer to drain. Here it has drained, and 'end' is only scheduled.
      if (req.complete) finish();
    };
    const onClose = (): void => fail(bodyIncomplete(received));

    const cleanup = (): void => {
      monitor?.stop();
      req.off('readable', onReadable);
      req.off('close', onClose);
      req.off('error', onClose);
    };
    const finish = (): void => {
      cleanup();
      const body = Buffer.concat(chunks, received);
      // Synchronously, in the same tick as the last read(), so 'end' finds data again.
      if (replay && received > 0) req.unshift(body);
      resolve(body);
    };
    // The rest of the body stays unread: once the listener is gone the stream fills its
    // buffer and node:http stops reading the socket, which the response then closes.
    const fail = (error: RequestBodyError): void => {
      cleanup();
      reject(error);
    };

    req.on('readable', onReadable);
    req.on('close', onClose);
    req.on('error', onClose);
  });
}

/**
 * Counts a body as it streams to the upstream and destroys itself with a RequestBodyError at
 * `maxBytes` or when the client falls below the minimum rate. `onViolation` is called first,
 * so the owner can report it. The consumer (undici) then receives the error and aborts.
 */
export class BodyMeter extends Transform {
  private received = 0;
  private readonly monitor: BodyRateMonitor | undefined;

  constructor(
    private readonly source: IncomingMessage,
    private readonly limits: BodyLimits,
    private readonly onViolation: (error: RequestBodyError) => void,
  ) {
    super();
    const rate = limits.minRate;
    this.monitor =
      rate &&
      new BodyRateMonitor(
        rate,
        {
          bytes: () => this.received,
          // Paused by backpressure, or data waiting unread: the upstream is behind.
          consumerStalled: () => source.isPaused() || source.readableLength > 0,
        },
        () => this.fail(bodyTooSlow(rate, this.received)),
      );
    // A client that goes away mid-body ends the request without ending this stream.
    source.once('close', () => this.monitor?.stop());
    source.pipe(this);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.limits.maxBytes) {
      this.fail(bodyTooLarge(this.limits));
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.monitor?.stop();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.monitor?.stop();
    this.source.unpipe(this);
    callback(error);
  }

  private fail(error: RequestBodyError): void {
    if (this.destroyed) return;
    this.monitor?.stop();
    // Stop taking bytes from the client: the rest of the body is never read.
    this.source.unpipe(this);
    this.source.pause();
    this.onViolation(error);
    this.destroy(error);
  }
}

/** Tells whether a request's headers announce a body. */
export function announcesBody(headers: IncomingMessage['headers']): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * The gateway's reader: it forwards what it reads itself, and meters streamed bodies with a
 * BodyMeter it creates when the request is forwarded.
 */
export class GatewayBodyReader implements BodyReader {
  readonly countsStreamedBytes = true;
  /** The limits a streamed body is metered under, once the body guard has set them. */
  streamLimits: BodyLimits | undefined;

  constructor(private readonly req: IncomingMessage) {}

  read(limits: BodyLimits): Promise<Buffer> {
    return readBody(this.req, limits, false);
  }

  stream(limits: BodyLimits): void {
    this.streamLimits = limits;
  }
}

/**
 * The adapters' reader. A body read whole is put back for the application. The application
 * reads a streamed body itself, through the stream API, so it cannot be counted on the way.
 * Its rate is measured from the socket's received bytes instead, and a slow client's
 * connection is closed.
 */
export class AdapterBodyReader implements BodyReader {
  readonly countsStreamedBytes = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly onStreamViolation: (error: RequestBodyError) => void,
  ) {}

  read(limits: BodyLimits): Promise<Buffer> {
    return readBody(this.req, limits, true);
  }

  stream(limits: BodyLimits): void {
    const rate = limits.minRate;
    const req = this.req;
    if (rate === undefined || req.complete) return;
    const socket = req.socket;
    const start = socket.bytesRead;
    const monitor = new BodyRateMonitor(
      rate,
      {
        bytes: () => socket.bytesRead - start,
        consumerStalled: () => req.isPaused() || req.readableLength > 0,
      },
      () => {
        this.onStreamViolation(bodyTooSlow(rate, socket.bytesRead - start));
        // The application owns the response, so the connection is the only thing to end.
        socket.destroy();
      },
    );
    const stop = (): void => monitor.stop();
    req.once('end', stop);
    req.once('close', stop);
  }
}
