import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';

import type { Logger } from '../core/logger.js';
import { problem, type Problem } from '../core/problem.js';
import { sendProblem } from '../core/http-response.js';
import { RequestBodyError } from '../http/body-rejections.js';
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardingInfo } from './headers.js';

export interface UpstreamOptions {
  url: string;
  connections: number;
  connectTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
}

export interface ForwardResult {
  /**
   * `forwarded`, or why the upstream exchange failed; `rejected` when the request body was cut
   * off at its size limit or minimum rate while it streamed.
   */
  outcome: 'forwarded' | 'upstream_error' | 'upstream_timeout' | 'client_aborted' | 'rejected';
  status: number;
  upstreamSeconds?: number;
}

/**
 * Forwards requests to one upstream origin over a pooled undici client. Bodies stream in
 * both directions and are never buffered whole.
 */
export class UpstreamProxy {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    options: UpstreamOptions,
    private readonly logger: Logger,
  ) {
    const url = new URL(options.url);
    this.basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
    this.pool = new Pool(url.origin, {
      connections: options.connections,
      connectTimeout: options.connectTimeout,
      headersTimeout: options.headersTimeout,
      bodyTimeout: options.bodyTimeout,
    });
  }

  /**
   * Sends the request upstream and streams the response to `res`. `done` is called once,
   * when the response has been written in full or the exchange has failed. `body` replaces
   * the request stream: the bytes the guards read whole, sent with their Content-Length, or
   * a stream that meters the body on its way.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    info: ForwardingInfo,
    addedHeaders: Record<string, string>,
    done: (result: ForwardResult) => void,
    body?: Buffer | Readable,
  ): void {
    const exchange = new Exchange(this.logger, req, res, info, addedHeaders, done);
    const headers = upstreamRequestHeaders(req.headers, info);
    // A chunked body read whole goes on with a length; Transfer-Encoding is never forwarded.
    if (Buffer.isBuffer(body)) setContentLength(headers, body.length);
    // dispatch() reports its own errors, synchronous ones included, to the handler.
    this.pool.dispatch(
      {
        path: this.basePath + (info.url ?? req.url ?? '/'),
        method: req.method ?? 'GET',
        headers,
        body: body ?? (hasBody(req) ? req : null),
      },
      exchange,
    );
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/**
 * One request's exchange with the upstream, as an undici dispatch handler that writes the
 * response straight to the client and aborts through the dispatch controller. It saves the
 * async resource, promise, event emitter and listeners that `pool.stream` with an abort
 * signal adds to every request. In bench/gateway.ts (2-core VM, Node 20) that was about 6 µs
 * of the gateway's 45 µs of CPU per request.
 *
 * NOTE: undici documents the dispatch API as less stable than `stream` across its major
 * versions; the handler uses the controller-based methods of undici 7.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private readonly started = performance.now();
  private upstreamSeconds: number | undefined;
  private status = 0;
  private upstreamEnded = false;
  private clientGone = false;
  private settled = false;

  constructor(
    private readonly logger: Logger,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly info: ForwardingInfo,
    private readonly addedHeaders: Record<string, string>,
    private readonly done: (result: ForwardResult) => void,
  ) {
    res.on('close', () => this.onClientClose());
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // The client left while the request waited for a pooled connection.
    if (this.clientGone) controller.abort(new ClientClosedError());
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    // Interim responses (100 Continue, 103 Early Hints) are not relayed.
    if (statusCode < 200) return;
    this.status = statusCode;
    this.upstreamSeconds = (performance.now() - this.started) / 1000;
    this.res.writeHead(
      statusCode,
      clientResponseHeaders(
        headers,
        this.addedHeaders,
        this.info.requestId,
        this.info.responseDefaults,
        this.info.droppedResponseHeaders,
      ),
    );
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // Backpressure: stop reading from the upstream until the client has taken the data.
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    // The result is reported from 'close', once the response has been flushed.
    this.upstreamEnded = true;
    this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.settled) return;
    if (error instanceof RequestBodyError) {
      this.rejectBody(error);
      return;
    }
    if (this.clientGone) {
      this.logger.debug(
        { requestId: this.info.requestId },
        'client closed the connection before the response was sent',
      );
      this.settle({ outcome: 'client_aborted', status: 499 });
      return;
    }
    const timeout = isTimeout(error);
    const status = timeout ? 504 : 502;
    this.logger.warn(
      { err: error, requestId: this.info.requestId, method: this.req.method, status },
      timeout ? 'upstream timed out' : 'upstream request failed',
    );
    this.settle({ outcome: timeout ? 'upstream_timeout' : 'upstream_error', status });
    if (this.res.headersSent) {
      // The status line is gone; cutting the connection is the only honest signal left.
      this.res.destroy();
    } else {
      const headers = {
        ...this.info.responseDefaults,
        ...this.addedHeaders,
        'x-request-id': this.info.requestId,
      };
      sendProblem(this.res, upstreamProblem(timeout), headers, this.info.requestId);
    }
  }

  // 'close' follows 'finish' for a complete response, and comes alone when the client's
  // connection closed first, in which case the upstream request is aborted.
  private onClientClose(): void {
    if (this.settled) return;
    if (this.res.writableFinished) {
      this.settle({
        outcome: 'forwarded',
        status: this.status,
        upstreamSeconds: this.upstreamSeconds,
      });
      return;
    }
    this.clientGone = true;
    // After the upstream response has ended, undici has nothing left to abort or report.
    if (this.upstreamEnded) {
      this.settle({ outcome: 'client_aborted', status: 499 });
      return;
    }
    // Without a controller yet, onRequestStart aborts as soon as undici calls it.
    this.controller?.abort(new ClientClosedError());
  }

  /** Answers a body cut off while it streamed with its own problem (413 or 408). */
  private rejectBody(error: RequestBodyError): void {
    const status = error.reject.status;
    this.settle({ outcome: 'rejected', status });
    if (this.res.headersSent) {
      this.res.destroy();
      return;
    }
    const headers = {
      ...this.info.responseDefaults,
      ...this.addedHeaders,
      // The rest of the body is never read, so the connection cannot carry another request.
      connection: 'close',
      'x-request-id': this.info.requestId,
    };
    sendProblem(this.res, error.reject.problem, headers, this.info.requestId);
  }

  private settle(result: ForwardResult): void {
    this.settled = true;
    this.done(result);
  }
}

class ClientClosedError extends Error {
  constructor() {
    super('client closed the connection');
    this.name = 'ClientClosedError';
  }
}

/** Replaces the Content-Length in a flat list of header names and values. */
function setContentLength(headers: string[], length: number): void {
  for (let index = headers.length - 2; index >= 0; index -= 2) {
    if (headers[index] === 'content-length') headers.splice(index, 2);
  }
  headers.push('content-length', String(length));
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function isTimeout(error: unknown): boolean {
  return (
    error instanceof undiciErrors.ConnectTimeoutError ||
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError
  );
}

function upstreamProblem(timeout: boolean): Problem {
  return timeout
    ? problem('upstream-timeout', 504, 'Gateway Timeout', 'BWK_ERR_UPSTREAM_TIMEOUT', {
        detail: 'The upstream service did not answer in time.',
      })
    : problem('upstream-unavailable', 502, 'Bad Gateway', 'BWK_ERR_UPSTREAM_UNAVAILABLE', {
        detail: 'The upstream service could not be reached or closed the connection.',
      });
}
