/**
 * The upload guard. On routes with an `upload` policy it parses the multipart body as it
 * streams, then checks, scans and stores the files. The body is replaced as the route's
 * `storage.forward` sets: a JSON reference to the stored files, or a multipart body rebuilt
 * from the checked files. The guard runs after authentication and rate limits, so that
 * anonymous floods are rejected before any file is written or scanned. When a later guard
 * (injection detection) rejects the request, the pipeline calls `discard`, which removes the
 * files this request stored, because no forwarded request will reference them.
 * NOTE: the load shedder, and a client that leaves while the guards run, end a request after
 * the pipeline admitted it, and its files then stay in the storage folder.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';

import { headerValue, policyOf, type RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../core/guard.js';
import type { Logger } from '../core/logger.js';
import type { EventBus } from '../events/bus.js';
import type { EventDraft } from '../events/schema.js';
import { announcesBody } from '../http/body-reader.js';
import { formatClamdAddress, type UploadPolicy } from './config.js';
import { UploadInspector, type UploadResult } from './inspect.js';
import type { UploadSource } from './multipart.js';
import { rejectUpload } from './rejections.js';

/** The request stream of each context on an upload route, set by the runtime. */
const sources = new WeakMap<RequestContext, Readable>();

/**
 * Hands the guard the request stream of `ctx`. Guards never see the request object, and only
 * this guard consumes the body stream itself.
 */
export function attachUploadSource(ctx: RequestContext, req: IncomingMessage): void {
  sources.set(ctx, req);
}

/** The result of the upload guard for a request it admitted, for the application to read. */
const results = new WeakMap<
  RequestContext | IncomingMessage,
  Extract<UploadResult, { ok: true }>
>();

/** Returns the stored files of an admitted upload request, by its context or request object. */
export function uploadResultOf(
  key: RequestContext | IncomingMessage,
): Extract<UploadResult, { ok: true }> | undefined {
  return results.get(key);
}

export class UploadGuard implements Guard {
  readonly name = 'upload';
  private readonly inspectors = new Map<UploadPolicy, UploadInspector>();
  /** The inspector that stored each admitted request's files, for `discard`. */
  private readonly storedBy = new WeakMap<RequestContext, UploadInspector>();

  constructor(
    private readonly bus: EventBus,
    private readonly logger: Logger,
  ) {}

  check(ctx: RequestContext): Verdict | Promise<Verdict> {
    const policy = (policyOf(ctx) as { upload?: UploadPolicy } | undefined)?.upload;
    if (policy === undefined) return CONTINUE;
    // A request without a body carries no file, so there is nothing to check or replace.
    if (!announcesBody(ctx.headers)) return CONTINUE;
    return this.inspect(ctx, this.inspectorFor(policy));
  }

  async close(): Promise<void> {
    for (const inspector of this.inspectors.values()) inspector.close();
  }

  /**
   * Removes the files this guard stored for `ctx`, with their records, after a later guard
   * rejected the request, and publishes `upload.discarded` with their ids. Does nothing for a
   * request whose upload this guard did not admit.
   */
  discard(ctx: RequestContext): Promise<void> | undefined {
    const inspector = this.storedBy.get(ctx);
    const result = results.get(ctx);
    if (inspector === undefined || result === undefined) return undefined;
    this.storedBy.delete(ctx);
    results.delete(ctx);
    const req = sources.get(ctx);
    if (req !== undefined) results.delete(req as IncomingMessage);
    return this.removeFiles(ctx, inspector, result);
  }

  private async removeFiles(
    ctx: RequestContext,
    inspector: UploadInspector,
    result: Extract<UploadResult, { ok: true }>,
  ): Promise<void> {
    const storage = inspector.storage;
    // Files forwarded in a rebuilt multipart body have already left the storage folder.
    // Only referenced files, and those waiting in quarantine for a scan, are still on disk.
    const kept = result.files.filter(
      (file) => inspector.policy.storage.forward === 'reference' || file.status === 'pending_scan',
    );
    if (kept.length === 0) return;
    await Promise.all(
      kept.map((file) =>
        file.status === 'pending_scan'
          ? // The rescan may have released the file to the storage folder meanwhile.
            storage.removeQuarantined(file.id).then(() => storage.remove(file.id))
          : storage.remove(file.id),
      ),
    );
    const ids = kept.map((file) => file.id);
    this.logger.info(
      { correlationId: ctx.correlationId, route: ctx.route?.id, fileIds: ids },
      'removed the stored files of an upload that a later guard rejected',
    );
    this.bus.publish({ ...this.eventBase(ctx), type: 'upload.discarded', details: { files: ids } });
  }

  private inspectorFor(policy: UploadPolicy): UploadInspector {
    let inspector = this.inspectors.get(policy);
    if (inspector === undefined) {
      inspector = new UploadInspector(policy, { logger: this.logger, bus: this.bus });
      this.inspectors.set(policy, inspector);
    }
    return inspector;
  }

  private async inspect(ctx: RequestContext, inspector: UploadInspector): Promise<Verdict> {
    const source = sourceOf(ctx);
    if (source === undefined) {
      // NOTE: a context built without the runtime (a custom adapter) has no stream to read.
      this.logger.error(
        { correlationId: ctx.correlationId },
        'upload route without a request stream; the request is rejected',
      );
      return rejectUpload({ reason: 'malformed', detail: 'The upload could not be read.' });
    }
    const result = await inspector.inspectSource(ctx.headers, source);
    if (!result.ok) return rejectUpload(result.rejection);

    // The upstream headers are built from the request's own, so the new media type goes there.
    const headers = ctx.headers as Record<string, string | string[] | undefined>;
    headers['content-type'] = result.contentType;
    if (ctx.body === undefined) ctx.body = result.body;
    ctx.forwardBody = result.body;
    results.set(ctx, result);
    this.storedBy.set(ctx, inspector);
    const req = sources.get(ctx);
    if (req !== undefined) results.set(req as IncomingMessage, result);
    this.publishAccepted(ctx, result);
    return CONTINUE;
  }

  /** Fields shared by the upload events of one request: a successful data access on its route. */
  private eventBase(ctx: RequestContext) {
    return {
      category: 'data_access',
      severity: 'info',
      outcome: 'success',
      component: this.name,
      correlationId: ctx.correlationId,
      actor: actorOf(ctx),
      target: {
        resourceType: 'upload',
        method: ctx.method,
        route: ctx.route?.id,
        path: ctx.path.slice(0, 512),
      },
    } as const;
  }

  private publishAccepted(ctx: RequestContext, result: Extract<UploadResult, { ok: true }>): void {
    this.bus.publish({
      ...this.eventBase(ctx),
      type: 'upload.accepted',
      details: {
        files: result.files.map((file) => ({
          id: file.id,
          field: file.field,
          size: file.size,
          sha256: file.sha256,
          type: file.type,
          status: file.status,
          ...(file.flags ? { flags: file.flags } : {}),
        })),
        fields: result.fields.length,
      },
    });
  }
}

function actorOf(ctx: RequestContext): EventDraft['actor'] {
  const principal = ctx.principal;
  const userAgent = headerValue(ctx.headers, 'user-agent');
  return {
    type: principal ? principal.type : 'anonymous',
    id: principal?.id,
    ip: ctx.ip,
    userAgent: userAgent?.slice(0, 256),
  };
}

/**
 * Returns the body source: bytes a body guard already read whole, or the request stream.
 * An adapter's application reads the body after the guards, so there a placeholder keeps the
 * stream open for the replacement body.
 */
function sourceOf(ctx: RequestContext): UploadSource | undefined {
  if (ctx.body !== undefined) return { kind: 'buffer', body: ctx.body };
  const stream = sources.get(ctx);
  if (stream === undefined) return undefined;
  const keepOpen = ctx.bodyReader !== undefined && !ctx.bodyReader.countsStreamedBytes;
  return { kind: 'stream', stream, keepOpen };
}

/**
 * Creates the guard when any route has an upload policy, and logs once per route how its
 * files are scanned, so an operator sees at start which clamd each route depends on.
 */
export function createUploadGuard(
  policies: Iterable<{ upload?: UploadPolicy; route?: string }>,
  options: { bus: EventBus; logger: Logger },
): UploadGuard | undefined {
  let guard: UploadGuard | undefined;
  const logged = new Set<string>();
  for (const { upload, route } of policies) {
    if (upload === undefined) continue;
    guard ??= new UploadGuard(options.bus, options.logger);
    const scan = upload.scan;
    const line =
      scan === undefined
        ? { route, scan: false }
        : {
            route,
            clamd: formatClamdAddress(scan.address),
            unavailable: scan.unavailable,
            timeoutMs: scan.timeoutMs,
            ...(scan.unavailable === 'quarantine' ? { retryIntervalMs: scan.retryIntervalMs } : {}),
          };
    const key = JSON.stringify(line);
    if (logged.has(key)) continue;
    logged.add(key);
    if (scan === undefined) options.logger.info(line, 'upload route without a malware scan');
    else options.logger.info(line, 'upload route scans files with clamd');
  }
  return guard;
}
