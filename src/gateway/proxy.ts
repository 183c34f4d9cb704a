import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { Pool, errors as undiciErrors } from 'undici';

import type { Logger } from '../core/logger.js';
import { problem, type Problem } from '../core/problem.js';
import { sendProblem } from '../core/http-response.js';
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardingInfo } from './headers.js';

export interface UpstreamOptions {
  url: string;
  connections: number;
  connectTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
}

export interface ForwardResult {
  /** `forwarded`, or why the upstream exchange failed. */
  outcome: 'forwarded' | 'upstream_error' | 'upstream_timeout' | 'client_aborted';
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

  async forward(
    req: IncomingMessage,
    res: ServerResponse,
    info: ForwardingInfo,
    addedHeaders: Record<string, string>,
  ): Promise<ForwardResult> {
    // undici accepts an EventEmitter that emits 'abort' as a signal; it costs far less per
    // request than an AbortController.
    const abort = new EventEmitter();
    let clientGone = false;
    const onClose = (): void => {
      if (res.writableFinished) return;
      clientGone = true;
      abort.emit('abort');
    };
    res.once('close', onClose);
    const started = performance.now();

    try {
      let status = 0;
      let upstreamSeconds = 0;
      // stream() hands the body straight to `res`, without the AbortController that a
      // stream.pipeline per request allocates and aborts.
      await this.pool.stream(
        {
          path: this.basePath + (req.url ?? '/'),
          method: req.method as 'GET',
          headers: upstreamRequestHeaders(req.headers, info),
          body: hasBody(req) ? req : null,
          signal: abort,
        },
        ({ statusCode, headers }) => {
          status = statusCode;
          upstreamSeconds = (performance.now() - started) / 1000;
          res.writeHead(statusCode, clientResponseHeaders(headers, addedHeaders));
          return res;
        },
      );
      return { outcome: 'forwarded', status, upstreamSeconds };
    } catch (error) {
      return this.failed(error, req, res, info, addedHeaders, clientGone);
    } finally {
      res.off('close', onClose);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private failed(
    error: unknown,
    req: IncomingMessage,
    res: ServerResponse,
    info: ForwardingInfo,
    addedHeaders: Record<string, string>,
    clientGone: boolean,
  ): ForwardResult {
    if (clientGone) {
      this.logger.debug(
        { requestId: info.requestId },
        'client closed the connection before the response was sent',
      );
      return { outcome: 'client_aborted', status: 499 };
    }
    const timeout = isTimeout(error);
    const status = timeout ? 504 : 502;
    this.logger.warn(
      { err: error, requestId: info.requestId, method: req.method, status },
      timeout ? 'upstream timed out' : 'upstream request failed',
    );
    if (res.headersSent) {
      // The status line is gone; cutting the connection is the only honest signal left.
      res.destroy();
    } else {
      sendProblem(res, upstreamProblem(timeout), { ...addedHeaders }, info.requestId);
    }
    return { outcome: timeout ? 'upstream_timeout' : 'upstream_error', status };
  }
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
