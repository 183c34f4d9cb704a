/**
 * Express middleware. It runs the guards before the application's handlers: a rejection is
 * written as problem+json, and an admitted request goes on with the RateLimit headers set.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';

import type { RequestContext } from '../core/context.js';
import { isPromise } from '../core/guard.js';
import type { Decision } from '../core/pipeline.js';
import type { Protection } from '../runtime/protection.js';
import { createAdapterRuntime, type AdapterOptions } from './options.js';
import { applyDecision } from './response.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Express declares res.locals here.
  namespace Express {
    interface Locals {
      /** Bulwark's context for this request: route, principal, client IP and request id. */
      bulwark?: RequestContext;
    }
  }
}

export type BulwarkExpressOptions = AdapterOptions;

/** The middleware, with the protection it runs and a `close()` that releases its stores. */
export interface BulwarkMiddleware extends RequestHandler {
  readonly protection: Protection;
  close(): Promise<void>;
}

/**
 * Creates the middleware and throws a ConfigError at once when an option is invalid. Later
 * middleware finds the request context in `res.locals.bulwark`.
 *
 * ```ts
 * const bulwark = bulwarkExpress({
 *   rateLimits: [{ name: 'per-ip', key: 'ip', limit: 100, window: '1m' }],
 * });
 * app.use(bulwark);
 * ```
 */
export function bulwarkExpress(options: BulwarkExpressOptions = {}): BulwarkMiddleware {
  const runtime = createAdapterRuntime(options, 'bulwarkExpress options');
  const { protection } = runtime;

  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    let ctx: RequestContext;
    let decision: Decision | Promise<Decision>;
    try {
      // Under a mount path Express strips the prefix from req.url, but routes in the policy
      // are full paths, as the gateway matches them.
      ctx = protection.contextFor(req, req.originalUrl);
      res.setHeader('x-request-id', ctx.correlationId);
      res.locals.bulwark = ctx;
      decision = protection.pipeline.run(ctx);
    } catch (error) {
      next(error);
      return;
    }

    if (isPromise(decision)) {
      decision.then(
        (settled) => applyDecision(req, res, ctx, settled, next, protection.loadShedder),
        (error: unknown) => next(error),
      );
    } else {
      applyDecision(req, res, ctx, decision, next, protection.loadShedder);
    }
  };

  return Object.assign(middleware, { protection, close: runtime.close });
}
