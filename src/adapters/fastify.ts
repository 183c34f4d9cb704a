/**
 * Fastify plugin. An `onRequest` hook runs the guards before body parsing, matching routes
 * with Bulwark's own table so that a policy means the same here as in the gateway.
 */
import { parse } from 'node:querystring';

import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  RegisterOptions,
} from 'fastify';
import fastifyPlugin from 'fastify-plugin';

import type { RequestContext } from '../core/context.js';
import { isPromise } from '../core/guard.js';
import type { Decision } from '../core/pipeline.js';
import { GENERATED_RESPONSE_HEADERS } from '../core/http-response.js';
import { PROBLEM_CONTENT_TYPE, serializeProblem } from '../core/problem.js';
import { admitRequest, rejectionFor } from '../ddos/admission.js';
import type { LoadShedder } from '../ddos/load-shedding.js';
import type { Protection } from '../runtime/protection.js';
import { createAdapterRuntime, type AdapterOptions } from './options.js';
import { hasRequestBody, replayForwardBody } from './response.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Bulwark's context for this request: route, principal, client IP and request id. */
    bulwark: RequestContext | null;
  }
}

export type BulwarkFastifyOptions = AdapterOptions;

// Fastify passes its own register options (prefix, logLevel, logSerializers) along with the
// plugin's. They are not policy and would fail its strict validation.
const REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers'] as const;

const plugin: FastifyPluginAsync<BulwarkFastifyOptions> = async (fastify, options) => {
  const policyOptions: BulwarkFastifyOptions & RegisterOptions = { ...options };
  for (const key of REGISTER_KEYS) delete policyOptions[key];
  const runtime = createAdapterRuntime(policyOptions, 'bulwarkFastify options');

  fastify.decorateRequest('bulwark', null);
  fastify.addHook('onRequest', (request, reply, done) =>
    check(runtime.protection, request, reply, done),
  );
  fastify.addHook('onClose', () => runtime.close());
};

/**
 * The plugin, to register on the root instance. Invalid options make `register`, `ready` or
 * `listen` reject with a ConfigError. Handlers find the context in `request.bulwark`.
 *
 * ```ts
 * await app.register(bulwarkFastify, {
 *   rateLimits: [{ name: 'per-ip', key: 'ip', limit: 100, window: '1m' }],
 * });
 * ```
 */
export const bulwarkFastify = fastifyPlugin(plugin, { fastify: '5.x', name: 'bulwark' });

function check(
  protection: Protection,
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  let ctx: RequestContext;
  let decision: Decision | Promise<Decision>;
  try {
    ctx = protection.contextFor(request.raw);
    request.bulwark = ctx;
    reply.header('x-request-id', ctx.correlationId);
    decision = protection.pipeline.run(ctx);
  } catch (error) {
    done(error as Error);
    return;
  }

  if (isPromise(decision)) {
    decision.then(
      (settled) => act(request, reply, ctx, settled, done, protection.loadShedder),
      (error: unknown) => done(error as Error),
    );
  } else {
    act(request, reply, ctx, decision, done, protection.loadShedder);
  }
}

// A callback hook that sends a reply must not call done(): Fastify then skips the handler.
function act(
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: RequestContext,
  decision: Decision,
  done: HookHandlerDoneFunction,
  shedder?: LoadShedder,
): void {
  if (decision.action === 'continue') {
    // Headers set here are defaults in effect: a handler's reply.header() replaces them.
    if (ctx.responseDefaults !== undefined) reply.headers(ctx.responseDefaults);
    reply.headers(decision.headers);
    if (ctx.forwardUrl !== undefined) useForwardUrl(request, ctx.forwardUrl);
    if (ctx.forwardBody !== undefined) replayForwardBody(request.raw, ctx.forwardBody);
    if (shedder === undefined) done();
    else
      admitRequest(
        shedder,
        ctx,
        reply.raw,
        () => done(),
        (shed) => act(request, reply, ctx, rejectionFor(ctx, shed), done),
      );
    return;
  }
  if (hasRequestBody(request.headers)) reply.header('connection', 'close');
  if (decision.action === 'respond') {
    void reply
      .code(decision.status)
      .headers(decision.headers)
      .headers(GENERATED_RESPONSE_HEADERS)
      .send();
    return;
  }
  void reply
    .code(decision.status)
    .headers(decision.headers)
    .headers(GENERATED_RESPONSE_HEADERS)
    .header('cache-control', 'no-store')
    .type(PROBLEM_CONTENT_TYPE)
    // A Buffer keeps the content type as given; Fastify appends a charset to JSON strings.
    .send(Buffer.from(serializeProblem(decision.body, ctx.correlationId)));
}

/**
 * Hands the handler the target a guard rewrote. Fastify parsed the query before this hook,
 * so each parameter it read as an array (sent more than once) gets the value that remains.
 * NOTE: Fastify has routed the request already, so merged slashes do not change its route.
 * With a custom `querystringParser` that does not return arrays for repeats, the handler
 * keeps the values that parser chose.
 */
function useForwardUrl(request: FastifyRequest, target: string): void {
  request.raw.url = target;
  const query = request.query as Record<string, unknown> | null;
  if (query === null || typeof query !== 'object') return;
  const queryStart = target.indexOf('?');
  const remaining = parse(queryStart === -1 ? '' : target.slice(queryStart + 1));
  for (const name of Object.keys(query)) {
    if (Array.isArray(query[name])) query[name] = remaining[name];
  }
}
