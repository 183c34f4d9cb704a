/**
 * The gateway's connection-level defence: per-IP connection throttling, and the deadlines that
 * disconnect slow and idle clients. Node's http server enforces the deadlines
 * (`headersTimeout`, `requestTimeout`, `keepAliveTimeout`, `maxRequestsPerSocket`); this
 * module configures them, counts each disconnection and reports them per client and interval.
 */
import type { IncomingMessage, Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';

import type { Logger } from '../core/logger.js';
import type { EventBus } from '../events/bus.js';
import type { ConnectionsConfig } from './config-schema.js';
import {
  ConnectionThrottle,
  type ClientIdentity,
  type ConnectionRejectReason,
} from './connections.js';
import { ClientTallies, type IntervalReport } from './interval-report.js';

/** Reason the gateway ended a connection it had accepted. */
export type ConnectionCloseReason =
  'headers_timeout' | 'request_timeout' | 'idle_timeout' | 'max_requests';

export interface ConnectionDefenceOptions {
  bus: EventBus;
  logger: Logger;
  /** Proxies in front of the gateway: their connections carry many clients, so none is throttled. */
  trustProxy?: readonly string[];
}

/** Totals since start, for metrics. */
export interface ConnectionCounts {
  open: number;
  rejected: Record<ConnectionRejectReason, number>;
  closed: Record<ConnectionCloseReason, number>;
}

const CLIENT = Symbol('bulwark.connectionClient');
const LAST_REQUEST = Symbol('bulwark.lastRequest');
const REQUEST_COUNT = Symbol('bulwark.requestCount');

type TrackedSocket = Socket & {
  [CLIENT]?: ClientIdentity;
  [LAST_REQUEST]?: IncomingMessage;
  [REQUEST_COUNT]?: number;
};

const SWEEP_INTERVAL_MS = 1_000;

/**
 * Returns Node http server options for the deadlines. Node checks the header and request
 * deadlines on a timer, every 30 s by default, so the timer runs at a quarter of the header
 * deadline (between 100 ms and 1 s) to cut a slow client close to its deadline.
 */
export function connectionServerOptions(config: ConnectionsConfig): ServerOptions {
  return {
    headersTimeout: config.headersTimeout,
    requestTimeout: config.requestTimeout,
    keepAliveTimeout: config.keepAliveTimeout,
    connectionsCheckingInterval: Math.min(1_000, Math.max(100, config.headersTimeout / 4)),
  };
}

export class ConnectionDefence {
  /** Undefined when both per-IP limits are 0. */
  readonly throttle: ConnectionThrottle | undefined;
  private readonly counts: ConnectionCounts = {
    open: 0,
    rejected: { concurrent: 0, rate: 0 },
    closed: { headers_timeout: 0, request_timeout: 0, idle_timeout: 0, max_requests: 0 },
  };
  /** Closes counted since the last report, for the log line. */
  private closedSinceReport: Record<ConnectionCloseReason, number> = emptyCloses();
  private readonly rejections = new ClientTallies();
  private readonly slowClients = new ClientTallies();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly config: ConnectionsConfig,
    private readonly options: ConnectionDefenceOptions,
  ) {
    const { perIp } = config;
    this.throttle =
      perIp.maxConcurrent > 0 || perIp.maxNewPerSecond > 0
        ? new ConnectionThrottle({
            ...perIp,
            allow: [...perIp.allow, ...(options.trustProxy ?? [])],
          })
        : undefined;
  }

  /** Totals since start: open connections, rejections and closes by reason. */
  get totals(): Readonly<ConnectionCounts> {
    return this.counts;
  }

  /**
   * Hooks into a server created with `connectionServerOptions`. The throttle runs before
   * Node's own connection listener, so a rejected connection is reset before any parsing.
   */
  install(server: Server): void {
    server.maxRequestsPerSocket = this.config.maxRequestsPerConnection;
    server.prependListener('connection', (socket: Socket) => this.onConnection(socket));
    server.on('request', (req: IncomingMessage) => this.onRequest(req));
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
      this.onClientError(error, socket),
    );
    this.timers.push(setInterval(() => this.report(), this.config.reportInterval).unref());
    if (this.throttle !== undefined) {
      const throttle = this.throttle;
      this.timers.push(setInterval(() => throttle.sweep(), SWEEP_INTERVAL_MS).unref());
    }
  }

  /** Stops the timers and reports what the last interval counted. */
  close(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    this.report();
  }

  private onConnection(socket: TrackedSocket): void {
    const throttle = this.throttle;
    if (throttle !== undefined) {
      const verdict = throttle.admit(socket.remoteAddress);
      if (!verdict.admitted) {
        this.counts.rejected[verdict.reason] += 1;
        this.rejections.count(verdict.client.key, socket.remoteAddress ?? '', verdict.reason);
        // A reset frees the socket at once, without the FIN exchange and TIME_WAIT of a close.
        socket.resetAndDestroy();
        return;
      }
      socket[CLIENT] = verdict.client;
    }

    this.counts.open += 1;
    socket.once('close', () => {
      this.counts.open -= 1;
      if (socket[CLIENT] !== undefined) throttle?.release(socket[CLIENT]);
    });
    // Node destroys a socket whose keep-alive idle time ran out; this listener only counts it.
    // NOTE: the gateway sets no other socket timeout, so every timeout here is an idle one.
    socket.on('timeout', () => this.countClose('idle_timeout'));
  }

  private onRequest(req: IncomingMessage): void {
    const socket = req.socket as TrackedSocket;
    socket[LAST_REQUEST] = req;
    const max = this.config.maxRequestsPerConnection;
    if (max === 0) return;
    const count = (socket[REQUEST_COUNT] ?? 0) + 1;
    socket[REQUEST_COUNT] = count;
    // Node sends `Connection: close` with this response. A client that sends more requests on
    // the connection anyway gets 503 responses from Node.
    if (count === max) this.countClose('max_requests');
  }

  /**
   * Counts a client cut off by the header or request deadline. Node reports both as
   * ERR_HTTP_REQUEST_TIMEOUT; a request whose headers arrived but whose body has not is the
   * request deadline, anything else the header deadline. The gateway's own clientError
   * listener writes the 408.
   */
  private onClientError(error: NodeJS.ErrnoException, socket: TrackedSocket): void {
    if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT') return;
    const last = socket[LAST_REQUEST];
    const reason = last !== undefined && !last.complete ? 'request_timeout' : 'headers_timeout';
    this.countClose(reason);
    const client = socket[CLIENT] ?? this.throttle?.identify(socket.remoteAddress);
    const address = socket.remoteAddress ?? '';
    this.slowClients.count(client?.key ?? address, address, reason);
  }

  private countClose(reason: ConnectionCloseReason): void {
    this.counts.closed[reason] += 1;
    this.closedSinceReport[reason] += 1;
  }

  private report(): void {
    if (!this.rejections.isEmpty) this.reportRejections(this.rejections.take());
    if (!this.slowClients.isEmpty) this.reportSlowClients(this.slowClients.take());

    const closed = this.closedSinceReport;
    if (Object.values(closed).some((count) => count > 0)) {
      this.options.logger.info(
        { ...closed, intervalMs: this.config.reportInterval },
        'connections closed by deadline or request limit',
      );
      this.closedSinceReport = emptyCloses();
    }
  }

  private reportRejections(report: IntervalReport): void {
    const { perIp, reportInterval } = this.config;
    for (const client of report.clients) {
      this.options.bus.publish({
        type: 'ddos.connection_rejected',
        category: 'violation',
        severity: 'medium',
        outcome: 'blocked',
        component: 'connections',
        actor: { type: 'anonymous', ip: client.address },
        details: {
          client: client.key,
          rejected: client.total,
          reasons: client.counts,
          maxConcurrent: perIp.maxConcurrent,
          maxNewPerSecond: perIp.maxNewPerSecond,
          intervalMs: reportInterval,
        },
      });
    }
    this.options.logger.warn(
      {
        clients: report.clients.length + report.omittedClients,
        rejected: report.clients.reduce((sum, client) => sum + client.total, 0),
        omittedClients: report.omittedClients,
        omittedRejections: report.omittedEvents,
        intervalMs: reportInterval,
      },
      'connections rejected by per-IP limits',
    );
  }

  private reportSlowClients(report: IntervalReport): void {
    for (const client of report.clients) {
      this.options.bus.publish({
        type: 'ddos.slow_client',
        category: 'violation',
        severity: 'low',
        outcome: 'blocked',
        component: 'connections',
        actor: { type: 'anonymous', ip: client.address },
        details: {
          client: client.key,
          disconnected: client.total,
          reasons: client.counts,
          headersTimeoutMs: this.config.headersTimeout,
          requestTimeoutMs: this.config.requestTimeout,
          intervalMs: this.config.reportInterval,
        },
      });
    }
    this.options.logger.warn(
      {
        clients: report.clients.length + report.omittedClients,
        omittedClients: report.omittedClients,
        intervalMs: this.config.reportInterval,
      },
      'slow clients disconnected',
    );
  }
}

function emptyCloses(): Record<ConnectionCloseReason, number> {
  return { headers_timeout: 0, request_timeout: 0, idle_timeout: 0, max_requests: 0 };
}
