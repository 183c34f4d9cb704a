/**
 * Wrapper for a plain `http.createServer` handler: the guards run first, and the handler is
 * called only for admitted requests, with the RateLimit headers already set.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { RequestContext } from '../core/context.js';
import { isPromise } from '../core/guard.js';
import { sendProblem } from '../core/http-response.js';
import { newId } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import type { Decision } from '../core/pipeline.js';
import type { Protection } from '../runtime/protection.js';
import { createAdapterRuntime, type AdapterOptions } from './options.js';
import { applyDecision, INTERNAL_PROBLEM } from './response.js';

export type WithBulwarkOptions = AdapterOptions;

/** An application handler. `ctx` carries the route, principal, client IP and request id. */
export type BulwarkHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
) => void;

/** A request listener for `http.createServer`, with a `close()` that releases its stores. */
export interface BulwarkListener {
  (req: IncomingMessage, res: ServerResponse): void;
  readonly protection: Protection;
  close(): Promise<void>;
}

/**
 * Wraps `handler` so that every request passes the guards first. Throws a ConfigError at
 * once when an option is invalid.
 *
 * ```ts
 * const listener = withBulwark((req, res) => res.end('ok'), {
 *   rateLimits: [{ name: 'per-ip', key: 'ip', limit: 100, window: '1m' }],
 * });
 * http.createServer(listener).listen(3000);
 * ```
 */
export function withBulwark(
  handler: BulwarkHandler,
  options: WithBulwarkOptions = {},
): BulwarkListener {
  if (typeof handler !== 'function') {
    throw new TypeError(`withBulwark expects a request handler function, got ${typeof handler}`);
  }
  const runtime = createAdapterRuntime(options, 'withBulwark options');
  const { protection, logger } = runtime;
  const shedder = protection.loadShedder;

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    let ctx: RequestContext | undefined;
    let decision: Decision | Promise<Decision>;
    try {
      ctx = protection.contextFor(req);
      res.setHeader('x-request-id', ctx.correlationId);
      decision = protection.pipeline.run(ctx);
    } catch (error) {
      internalError(res, logger, ctx?.correlationId ?? newId(), error);
      return;
    }

    const context = ctx;
    if (isPromise(decision)) {
      decision.then(
        (settled) =>
          applyDecision(req, res, context, settled, () => handler(req, res, context), shedder),
        (error: unknown) => internalError(res, logger, context.correlationId, error),
      );
    } else {
      applyDecision(req, res, context, decision, () => handler(req, res, context), shedder);
    }
  };

  return Object.assign(listener, { protection, close: runtime.close });
}

// Guard failures arrive as 500 decisions. This path is reached only when the pipeline itself
// throws, which is a bug, so the client gets a 500 problem and the process keeps running.
function internalError(
  res: ServerResponse,
  logger: Logger,
  correlationId: string,
  error: unknown,
): void {
  logger.error({ err: error, correlationId }, 'bulwark failed to check request');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendProblem(res, INTERNAL_PROBLEM, {}, correlationId);
}
