import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';

import type { BulwarkConfig } from '../core/config.js';
import { readAdminToken } from '../core/config-schema.js';
import type { RequestContext } from '../core/context.js';
import { sendAnswer, sendProblem } from '../core/http-response.js';
import { CidrList, parseIp } from '../core/ip.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { isPromise } from '../core/guard.js';
import type { Decision } from '../core/pipeline.js';
import { admitRequest, rejectionFor } from '../ddos/admission.js';
import { ConnectionDefence, connectionServerOptions } from '../ddos/connection-defence.js';
import type { Shed } from '../ddos/load-shedding.js';
import { registerDdosMetrics } from '../ddos/metrics.js';
import { AuditService } from '../audit/open.js';
import { EventBus } from '../events/bus.js';
import { JsonLinesSink } from '../events/jsonl-sink.js';
import { BodyMeter, GatewayBodyReader } from '../http/body-reader.js';
import { headerOverflowResponse } from '../http/limits.js';
import type { RateLimitStore } from '../ratelimit/policy.js';
import { FailoverStore } from '../ratelimit/failover-store.js';
import { Protection } from '../runtime/protection.js';
import { auditIngestFor, readIngestToken } from '../audit/ingest-routes.js';
import type { ApiKeyStore } from '../auth/api-key-store.js';
import { credentialCacheDefaults } from '../auth/config-schema.js';
import { CachingApiKeyStore } from '../auth/credential-cache.js';
import type { CredentialChange, CredentialListener } from '../auth/invalidation.js';
import type { Clock } from '../core/clock.js';
import { createOAuthServer, endpointLimits } from '../auth/oauth/setup.js';
import type { OAuthServer } from '../auth/oauth/oauth-server.js';
import type { CredentialStores } from '../storage/credentials.js';
import { needsCredentials, openGatewayCredentials } from '../storage/open-credentials.js';
import { RedisCredentialChannel } from '../storage/redis-invalidation.js';
import { handleAdmin } from './admin.js';
import { adminApiFor } from './admin-api.js';
import { upstreamIdentity, type UpstreamIdentity } from './headers.js';
import { GatewayMetrics } from './metrics.js';
import { UpstreamProxy, type ForwardResult, type UpstreamOptions } from './proxy.js';

const STORE_READY_TIMEOUT_MS = 5_000;

export interface GatewayOptions {
  logger?: Logger;
  /** Replaces the configured rate-limit store (tests). */
  store?: RateLimitStore;
  /** Replaces the configured event bus and its sink (tests). */
  bus?: EventBus;
  /**
   * Replaces the credential stores opened from `dataDir` or `storage.postgres`. The gateway
   * closes stores it opened itself, not these.
   */
  credentials?: CredentialStores;
  /** Time source of the OAuth server: token times, key rotation, secret overlap (tests). */
  oauthClock?: Clock;
}

/**
 * The number of responses in progress on a connection, more than one when requests are
 * pipelined. It is kept on the socket itself because a WeakSet update per request cost more.
 */
const RESPONSES_IN_PROGRESS = Symbol('bulwark.responsesInProgress');
type TrackedSocket = Duplex & { [RESPONSES_IN_PROGRESS]?: number };

/**
 * The reverse proxy: reads a request, runs the guards, then forwards it upstream or writes
 * the rejection. One instance owns one listening socket.
 */
export class Gateway {
  readonly metrics = new GatewayMetrics();
  readonly bus: EventBus;
  readonly protection: Protection;
  /** API keys, OAuth clients and signing keys; absent when the policy uses none of them. */
  readonly credentials: CredentialStores | undefined;
  /** The OAuth 2.0 client-credentials server; absent without an `oauth` section. */
  readonly oauth: OAuthServer | undefined;
  /** The tamper-evident audit log; absent unless `events.sink` is `audit` (the default). */
  readonly audit: AuditService | undefined;
  private readonly ownsCredentials: boolean;
  private readonly apiKeyCache: CachingApiKeyStore | undefined;
  private readonly credentialChannel: RedisCredentialChannel | undefined;
  private readonly credentialListeners: CredentialListener[] = [];
  private readonly server: Server;
  private readonly connectionDefence: ConnectionDefence;
  private readonly proxy: UpstreamProxy;
  private readonly logger: Logger;
  private readonly adminAllow: CidrList;
  private readonly identity: UpstreamIdentity;
  private readonly sockets = new Set<Socket>();
  private inFlight = 0;
  private draining: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private readonly startedAt = Date.now();

  constructor(
    readonly config: BulwarkConfig,
    options: GatewayOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.bus = options.bus ?? createBus(config, this.logger);
    this.metrics.watch(this.bus);
    this.audit =
      options.bus === undefined && config.events.sink === 'audit'
        ? new AuditService(config, { logger: this.logger, registry: this.metrics.registry })
        : undefined;
    if (this.audit) this.bus.addSink(this.audit.log);
    this.ownsCredentials = options.credentials === undefined && needsCredentials(config);
    this.credentials =
      options.credentials ??
      (this.ownsCredentials ? openGatewayCredentials(config, this.logger) : undefined);
    this.apiKeyCache = this.credentials && cacheApiKeys(config, this.credentials.apiKeys);
    this.credentialChannel = this.credentials && this.openCredentialChannel();
    this.oauth = createOAuthServer(config, {
      credentials: this.credentials,
      bus: this.bus,
      logger: this.logger,
      clock: options.oauthClock,
      notify: (change) => this.notifyCredentialChange(change),
    });
    this.protection = new Protection(config, {
      logger: this.logger,
      bus: this.bus,
      store: options.store,
      observer: this.metrics,
      apiKeyStore: this.apiKeyCache,
      oauthTokens: this.oauth?.tokens,
      bodyReader: (req) => new GatewayBodyReader(req),
    });
    const store = this.protection.store;
    const oauth = this.oauth;
    if (oauth !== undefined) {
      oauth.checkBefore(endpointLimits(config, store, this.bus, this.logger));
      this.onCredentialChange((change) => oauth.applyCredentialChange(change));
    }
    if (store instanceof FailoverStore) {
      store.onStateChange((state) => this.metrics.storeDegraded.set(state === 'degraded' ? 1 : 0));
    }
    this.proxy = new UpstreamProxy(upstreamOptions(config), this.logger);
    this.adminAllow = new CidrList(config.admin.allow);
    this.identity = upstreamIdentity(
      config.auth.upstreamHeaders,
      config.auth.apiKeys ? [config.auth.apiKeys.header] : [],
      config.versioning?.upstreamHeader,
    );
    const limits = this.protection.serverLimits;
    this.server = createServer(
      { ...connectionServerOptions(config.connections), maxHeaderSize: limits.maxHeaderSize },
      (req, res) => this.handle(req, res),
    );
    this.server.maxHeadersCount = limits.maxHeadersCount;
    this.connectionDefence = new ConnectionDefence(config.connections, {
      bus: this.bus,
      logger: this.logger,
      trustProxy: config.trustProxy,
    });
    this.connectionDefence.install(this.server);
    registerDdosMetrics(this.metrics.registry, {
      connections: this.connectionDefence,
      loadShedder: this.protection.loadShedder,
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      this.logger.debug({ err: error }, 'malformed request from client');
      // A status line written while a response is still streaming on this connection would
      // land inside that response's body, so such a connection is cut instead.
      if (!socket.writable || (socket as TrackedSocket)[RESPONSES_IN_PROGRESS]) {
        socket.destroy();
        return;
      }
      socket.end(
        error.code === 'HPE_HEADER_OVERFLOW'
          ? headerOverflowResponse()
          : `HTTP/1.1 ${clientErrorStatus(error.code)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
    });
  }

  /** Starts listening; resolves with the URL clients should use. */
  async listen(): Promise<string> {
    const { host, port } = this.config.listen;
    // Recorded only with the audit log on, so that a bus supplied by a caller sees just the
    // events of its requests.
    if (this.audit) {
      await this.audit.start({ listen: `${host}:${port}` });
      this.bus.publish({
        type: 'config.loaded',
        category: 'configuration',
        severity: 'info',
        outcome: 'success',
        actor: { type: 'system' },
        component: 'gateway',
        details: { routes: this.config.routes.length, eventsSink: this.config.events.sink },
      });
    }
    await this.credentials?.ready();
    await this.oauth?.start();
    // Shared limits hold only once Redis responds, so wait for it (bounded) before accepting.
    if (!(await this.protection.ready(STORE_READY_TIMEOUT_MS))) {
      this.logger.warn(
        { timeoutMs: STORE_READY_TIMEOUT_MS, onRedisFailure: this.config.storage.onRedisFailure },
        'Redis not ready; starting with the configured failure mode until it connects',
      );
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const url = this.url;
    this.oauth?.useListenUrl(url);
    this.logger.info(
      { url, upstream: upstreamOptions(this.config).url, store: this.protection.store.kind },
      'gateway started',
    );
    return url;
  }

  /**
   * Evicts a changed credential from this instance's caches and tells other instances.
   * The admin API calls it after every change it makes.
   */
  notifyCredentialChange(change: CredentialChange): Promise<void> {
    if (this.credentialChannel !== undefined) return this.credentialChannel.notify(change);
    this.applyCredentialChange(change);
    return Promise.resolve();
  }

  /** Registers a component that caches credentials, such as the OAuth token verifier. */
  onCredentialChange(listener: CredentialListener): void {
    this.credentialListeners.push(listener);
  }

  private applyCredentialChange(change: CredentialChange): void {
    if (change.kind === 'apiKey') this.apiKeyCache?.evict(change.id);
    for (const listener of this.credentialListeners) listener(change);
  }

  private openCredentialChannel(): RedisCredentialChannel | undefined {
    const { redis, keyPrefix } = this.config.storage;
    if (redis === undefined) return undefined;
    return new RedisCredentialChannel({
      url: redis,
      keyPrefix,
      logger: this.logger,
      onChange: (change) => this.applyCredentialChange(change),
      onSubscribed: (live) => {
        // Notices sent while unsubscribed are lost, so nothing cached before is trusted, and
        // entries stay short-lived until the subscription is back.
        this.apiKeyCache?.clear();
        const ttl = this.config.auth.cache.ttl;
        this.apiKeyCache?.setTtl(
          ttl ??
            (live ? credentialCacheDefaults.ttlWithRedis : credentialCacheDefaults.ttlWithoutRedis),
        );
      },
    });
  }

  get url(): string {
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  /**
   * Stops accepting connections, lets in-flight requests finish (up to `shutdownTimeout`),
   * then closes the upstream pool, the guards' stores and the event sinks.
   */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.logger.info({ inFlight: this.inFlight }, 'gateway stopping: draining in-flight requests');
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();

    if (this.inFlight > 0) {
      const drained = new Promise<void>((resolve) => (this.draining = resolve));
      const timer = setTimeout(() => {
        this.logger.warn(
          { inFlight: this.inFlight },
          'drain timed out; closing remaining connections',
        );
        this.server.closeAllConnections();
        this.draining?.();
      }, this.config.shutdownTimeout);
      await drained;
      clearTimeout(timer);
    }
    this.server.closeIdleConnections();
    await closed;
    this.connectionDefence.close();
    await this.proxy.close();
    await this.protection.close();
    await this.credentialChannel?.close();
    this.oauth?.close();
    if (this.ownsCredentials) await this.credentials?.close();
    await this.bus.close();
    await this.audit?.stop();
    this.logger.info('gateway stopped');
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.inFlight += 1;
    // During shutdown, tell keep-alive clients to reconnect elsewhere.
    if (this.stopping) res.setHeader('connection', 'close');
    const socket: TrackedSocket = req.socket;
    socket[RESPONSES_IN_PROGRESS] = (socket[RESPONSES_IN_PROGRESS] ?? 0) + 1;
    res.on('close', () => {
      socket[RESPONSES_IN_PROGRESS]! -= 1;
      this.requestDone();
    });

    let ctx: RequestContext;
    try {
      ctx = this.protection.contextFor(req);
    } catch (error) {
      this.logger.error({ err: error }, 'failed to read request');
      res.writeHead(400).end();
      return;
    }

    if (this.isAdminPath(ctx.path)) {
      res.setHeader('x-request-id', ctx.correlationId);
      this.setGeneratedHeaders(res, ctx);
      handleAdmin(req, res, ctx.path, ctx.ip, ctx.correlationId, this.adminDeps());
      return;
    }
    // The OAuth endpoints authenticate clients themselves, so route auth does not apply.
    if (this.oauth?.serves(ctx.path)) {
      this.setGeneratedHeaders(res, ctx);
      this.oauth.handle(req, res, ctx);
      return;
    }

    const decision = this.protection.pipeline.run(ctx);
    if (isPromise(decision)) {
      decision.then(
        (settled) => this.act(req, res, ctx, settled),
        (error: unknown) => this.internalError(res, ctx, error),
      );
    } else {
      this.act(req, res, ctx, decision);
    }
  }

  // The request id goes into the headers passed to writeHead rather than through
  // res.setHeader, because one header set beforehand makes writeHead pass every other
  // header through setHeader as well.
  private act(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    decision: Decision,
  ): void {
    const route = ctx.route?.id ?? 'unmatched';
    if (decision.action === 'reject') {
      this.metrics.countRequest(route, 'rejected');
      // A rejected body is never read; closing the connection stops the client sending it.
      if (hasRequestBody(req)) res.setHeader('connection', 'close');
      const headers = { ...decision.headers, 'x-request-id': ctx.correlationId };
      sendProblem(res, decision.body, headers, ctx.correlationId);
      return;
    }
    if (decision.action === 'respond') {
      this.metrics.countRequest(route, 'answered');
      if (hasRequestBody(req)) res.setHeader('connection', 'close');
      sendAnswer(res, decision.status, { ...decision.headers, 'x-request-id': ctx.correlationId });
      return;
    }
    // The client left while asynchronous guards ran, so the upstream is not asked at all.
    if (res.destroyed) {
      this.metrics.countRequest(route, 'client_aborted');
      return;
    }
    const shedder = this.protection.loadShedder;
    if (shedder === undefined) {
      this.forward(req, res, ctx, decision.headers);
      return;
    }
    admitRequest(
      shedder,
      ctx,
      res,
      () => this.forward(req, res, ctx, decision.headers),
      (shed) => this.shed(req, res, ctx, shed),
    );
  }

  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    headers: Record<string, string>,
  ): void {
    const route = ctx.route?.id ?? 'unmatched';
    const info = {
      peer: ctx.remoteAddress,
      peerTrusted: this.isTrusted(ctx),
      proto: 'http' as const,
      requestId: ctx.correlationId,
      identity: this.identity,
      principal: ctx.principal,
      version: ctx.version?.name,
      url: ctx.forwardUrl,
      responseDefaults: ctx.responseDefaults,
      droppedResponseHeaders: ctx.droppedResponseHeaders,
      bodyRewritten: ctx.forwardBody !== undefined,
    };
    const done = (result: ForwardResult): void => {
      this.metrics.countRequest(route, result.outcome);
      if (this.audit !== undefined && this.config.audit.requests)
        recordRequest(this.bus, ctx, result);
      if (result.upstreamSeconds !== undefined)
        this.metrics.upstreamTimed(route, result.upstreamSeconds);
    };
    this.proxy.forward(req, res, info, headers, done, this.requestBody(req, ctx));
  }

  /**
   * Returns what goes upstream in place of the request stream: the body the guards read
   * whole (or rewrote), or a meter that cuts a streamed body at its size limit or minimum rate.
   */
  private requestBody(req: IncomingMessage, ctx: RequestContext): Buffer | BodyMeter | undefined {
    if (ctx.body !== undefined) return ctx.forwardBody ?? ctx.body;
    const reader = ctx.bodyReader;
    const limits = reader instanceof GatewayBodyReader ? reader.streamLimits : undefined;
    if (limits === undefined) return undefined;
    return new BodyMeter(req, limits, (error) => this.protection.reportBodyViolation(ctx, error));
  }

  /** Writes the load shedder's 503; the body is not read, as for any rejection. */
  private shed(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, shed: Shed): void {
    this.metrics.countRequest(ctx.route?.id ?? 'unmatched', 'shed');
    if (hasRequestBody(req)) res.setHeader('connection', 'close');
    const rejection = rejectionFor(ctx, shed);
    const all = { ...rejection.headers, 'x-request-id': ctx.correlationId };
    sendProblem(res, rejection.body, all, ctx.correlationId);
  }

  /** Sets the security headers of a response the gateway writes itself (admin, OAuth). */
  private setGeneratedHeaders(res: ServerResponse, ctx: RequestContext): void {
    const headers = this.protection.securityHeaders.generatedHeaders(ctx);
    for (const name in headers) res.setHeader(name, headers[name]!);
  }

  private isAdminPath(path: string): boolean {
    const prefix = this.config.admin.prefix;
    return (
      path.startsWith(prefix) && (path.length === prefix.length || path[prefix.length] === '/')
    );
  }

  private isTrusted(ctx: RequestContext): boolean {
    if (this.protection.trustProxy.isEmpty) return false;
    const peer = parseIp(ctx.remoteAddress);
    return peer !== undefined && this.protection.trustProxy.contains(peer);
  }

  private internalError(res: ServerResponse, ctx: RequestContext, error: unknown): void {
    this.logger.error(
      { err: error, requestId: ctx.id, correlationId: ctx.correlationId },
      'request handling failed',
    );
    this.metrics.countRequest(ctx.route?.id ?? 'unmatched', 'error');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendProblem(
      res,
      {
        type: 'urn:bulwark:problem:internal',
        title: 'Internal Server Error',
        status: 500,
        code: 'BWK_ERR_INTERNAL',
      },
      { 'x-request-id': ctx.correlationId },
      ctx.correlationId,
    );
  }

  private requestDone(): void {
    this.inFlight -= 1;
    if (this.inFlight === 0 && this.draining) this.draining();
  }

  private adminDeps() {
    return {
      prefix: this.config.admin.prefix,
      allow: this.adminAllow,
      metrics: this.metrics,
      health: () => ({
        // Still 200: the gateway serves, but shared limits are decided by the failure mode.
        status:
          this.protection.store.kind === 'redis' || !this.config.storage.redis ? 'ok' : 'degraded',
        uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
        inFlight: this.inFlight,
        rateLimitStore: this.protection.store.kind,
        loadShedding: this.protection.loadShedder?.stats(),
        events: this.bus.stats(),
      }),
      api: adminApiFor(this, () => ({
        prefix: this.config.admin.prefix,
        allow: this.adminAllow,
        tokenEnv: this.config.admin.tokenEnv,
        token: readAdminToken(this.config.admin),
        credentials: this.credentials,
        bans: this.protection.network.bans?.manager,
        bus: this.bus,
        logger: this.logger,
        notify: (change) => this.notifyCredentialChange(change),
        clientSecretGraceMs: this.config.oauth?.secretRotationGrace,
      })),
      auditIngest: auditIngestFor(this, () => ({
        prefix: this.config.admin.prefix,
        allow: this.adminAllow,
        token: readIngestToken(),
        bus: this.bus,
        logger: this.logger,
      })),
    };
  }
}

/**
 * Wraps the API key store in a cache. Until the Redis channel confirms its subscription,
 * entries live as briefly as they do without Redis.
 */
function cacheApiKeys(config: BulwarkConfig, store: ApiKeyStore): CachingApiKeyStore {
  return new CachingApiKeyStore(store, {
    ttlMs: config.auth.cache.ttl ?? credentialCacheDefaults.ttlWithoutRedis,
    maxEntries: config.auth.cache.maxEntries,
  });
}

function createBus(config: BulwarkConfig, logger: Logger): EventBus {
  const bus = new EventBus({ logger });
  if (config.events.sink === 'stdout') bus.addSink(new JsonLinesSink('stdout'));
  if (config.events.sink === 'file')
    bus.addSink(new JsonLinesSink(config.events.file ?? join(config.dataDir, 'events.jsonl')));
  return bus;
}

/** Publishes the `http.request` event of a forwarded request (`audit.requests`). */
function recordRequest(bus: EventBus, ctx: RequestContext, result: ForwardResult): void {
  const principal = ctx.principal;
  bus.publish({
    type: 'http.request',
    category: 'data_access',
    severity: 'info',
    outcome: result.outcome === 'forwarded' && result.status < 400 ? 'success' : 'failure',
    actor: principal
      ? { type: principal.type, id: principal.id, ip: ctx.ip }
      : { type: 'anonymous', ip: ctx.ip },
    target: { method: ctx.method, route: ctx.route?.id, path: ctx.path },
    correlationId: ctx.correlationId,
    component: 'gateway',
    details: { status: result.status, result: result.outcome },
  });
}

function upstreamOptions(config: BulwarkConfig): UpstreamOptions {
  const upstream = config.upstream;
  if (typeof upstream === 'string') {
    return {
      url: upstream,
      connections: 128,
      connectTimeout: 5_000,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    };
  }
  return upstream;
}

/** 431 for oversized headers (RFC 6585), 408 for a request that timed out, else 400. */
function clientErrorStatus(code: string | undefined): string {
  if (code === 'HPE_HEADER_OVERFLOW') return '431 Request Header Fields Too Large';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return '408 Request Timeout';
  return '400 Bad Request';
}

function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
