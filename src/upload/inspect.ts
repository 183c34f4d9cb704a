/**
 * The upload library API: `UploadInspector` parses a multipart request, checks and scans
 * each file, stores what passes and quarantines what does not, and builds the body that
 * goes to the upstream or the application. The guard uses it, and applications can call it
 * from an Express, Fastify or node:http handler directly:
 *
 * ```ts
 * const uploads = createUploadInspector({
 *   types: [{ extension: 'png', mime: 'image/png' }],
 *   scan: { clamd: 'tcp://127.0.0.1:3310' },
 *   storage: { dir: '/var/lib/app/uploads', quarantineDir: '/var/lib/app/quarantine' },
 * });
 * app.post('/files', async (req, res) => {
 *   const result = await uploads.inspect(req);
 *   if (!result.ok) return res.status(result.status).json(result.problem);
 *   res.json(result.files);
 * });
 * ```
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';

import { silentLogger, type Logger } from '../core/logger.js';
import type { Problem } from '../core/problem.js';
import type { EventBus } from '../events/bus.js';
import { ClamdClient, ClamdResponseError, type ScanResult } from './clamd.js';
import { uploadPolicyFrom, type UploadConfigInput, type UploadPolicy } from './config.js';
import { checkFile } from './file-checks.js';
import {
  parseMultipart,
  type ReceivedField,
  type ReceivedFile,
  type UploadSource,
} from './multipart.js';
import { QuarantineRescanner } from './quarantine.js';
import {
  rejectUpload,
  statusOf,
  uploadRejection,
  UploadRejectedError,
  type UploadRejection,
} from './rejections.js';
import { UploadStorage, type StoredFile } from './storage.js';
import { createHash } from 'node:crypto';

/** A stored file as described to the upstream. */
export interface UploadedFile extends StoredFile {
  /**
   * `accepted`, as its record in the storage folder states, or `pending_scan` when it waits in
   * quarantine for clamd.
   */
  status: 'accepted' | 'pending_scan';
}

export type UploadResult =
  | {
      ok: true;
      files: UploadedFile[];
      fields: ReceivedField[];
      /** The body to forward: a JSON reference, or a rebuilt multipart body. */
      body: Buffer;
      /** The Content-Type of `body`. */
      contentType: string;
    }
  | {
      ok: false;
      rejection: UploadRejection;
      status: number;
      problem: Problem;
    };

export interface UploadInspectorOptions {
  logger?: Logger;
  /** Receives the events of the quarantine rescan, which has no request to report them with. */
  bus?: EventBus;
}

export class UploadInspector {
  readonly storage: UploadStorage;
  readonly scanner: ClamdClient | undefined;
  readonly rescanner: QuarantineRescanner | undefined;
  private readonly logger: Logger;

  constructor(
    readonly policy: UploadPolicy,
    options: UploadInspectorOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.storage = new UploadStorage(policy.storage.dir, policy.storage.quarantineDir);
    const scan = policy.scan;
    this.scanner = scan && new ClamdClient(scan.address, scan.timeoutMs);
    this.rescanner =
      scan?.unavailable === 'quarantine'
        ? new QuarantineRescanner(
            this.storage,
            this.scanner!,
            scan.retryIntervalMs,
            this.logger,
            options.bus,
          )
        : undefined;
    // Started at once, so that files a previous process left waiting are scanned too.
    this.rescanner?.start();
  }

  /** Inspects a node:http request (or an Express or Fastify raw request) by streaming it. */
  inspect(req: IncomingMessage): Promise<UploadResult> {
    return this.inspectSource(req.headers, { kind: 'stream', stream: req, keepOpen: false });
  }

  /** Inspects a body from any stream, or bytes already read, with the request's headers. */
  async inspectSource(headers: IncomingHttpHeaders, source: UploadSource): Promise<UploadResult> {
    const contentType = String(headers['content-type'] ?? '').toLowerCase();
    if (!contentType.startsWith('multipart/form-data')) {
      return failed(
        uploadRejection('not_multipart', 'This route accepts multipart/form-data uploads only.'),
      );
    }
    let parsed;
    try {
      parsed = await parseMultipart(headers, source, this.policy, this.storage);
    } catch (error) {
      if (error instanceof UploadRejectedError) return failed(error.rejection);
      throw error;
    }
    return this.checkAll(parsed.files, parsed.fields);
  }

  /** Stops the quarantine rescan loop. */
  close(): void {
    this.rescanner?.stop();
  }

  private async checkAll(received: ReceivedFile[], fields: ReceivedField[]): Promise<UploadResult> {
    const receivedAt = new Date().toISOString();
    const stored: StoredFile[] = [];
    for (const file of received) {
      const checked = await checkFile(file, this.policy);
      if ('reason' in checked) {
        await this.rejectAll(received, file, checked, receivedAt);
        return failed(checked);
      }
      if (checked.rewritten) {
        await this.storage.rewrite(file.id, checked.rewritten);
        file.size = checked.rewritten.length;
        file.sha256 = createHash('sha256').update(checked.rewritten).digest('hex');
      }
      stored.push({
        id: file.id,
        field: file.field,
        name: file.name,
        size: file.size,
        sha256: file.sha256,
        type: checked.type,
        ...(checked.flags.length > 0 ? { flags: checked.flags } : {}),
      });
    }

    const scanned = await this.scanAll(received, stored, receivedAt);
    if (scanned !== undefined && !scanned.ok) return scanned;
    const pending = scanned?.ok === true;
    if (!pending) {
      for (const file of stored) await this.storage.recordAccepted(file, receivedAt);
    }
    const files: UploadedFile[] = stored.map((file) => ({
      ...file,
      status: pending ? 'pending_scan' : 'accepted',
    }));
    return this.forwardable(files, fields);
  }

  /**
   * Scans every file. Resolves undefined when all are clean, `{ ok: true }` when clamd was
   * unavailable and the files went into quarantine, or the rejection.
   */
  private async scanAll(
    received: ReceivedFile[],
    stored: StoredFile[],
    receivedAt: string,
  ): Promise<{ ok: true } | Extract<UploadResult, { ok: false }> | undefined> {
    const scan = this.policy.scan;
    if (scan === undefined || this.scanner === undefined) return undefined;
    for (const [index, file] of stored.entries()) {
      let result: ScanResult;
      try {
        result = await this.scanner.scanFile(this.storage.pathOf(file.id));
      } catch (error) {
        this.logger.warn({ err: error, fileId: file.id }, 'clamd scan failed');
        if (scan.unavailable === 'reject') {
          await Promise.all(received.map((each) => this.storage.discard(each.id)));
          const reason =
            error instanceof ClamdResponseError ? 'scanner_error' : 'scanner_unavailable';
          return failed(
            uploadRejection(reason, 'The malware scanner is unavailable; try again later.', {
              details: { error: (error as { code?: string }).code ?? 'unknown' },
            }),
          );
        }
        for (const each of stored) await this.storage.quarantine(each, 'pending_scan', receivedAt);
        return { ok: true };
      }
      if (!result.clean) {
        const rejection = uploadRejection(
          'malware',
          `The file in field "${file.field}" contains malware.`,
          {
            field: file.field,
            details: { signature: result.signature, sha256: file.sha256 },
          },
        );
        await this.storage.quarantine(file, 'condemned', receivedAt, {
          reason: 'malware',
          signature: result.signature,
        });
        await Promise.all(
          stored.filter((_, other) => other !== index).map((each) => this.storage.discard(each.id)),
        );
        return failed(rejection);
      }
    }
    return undefined;
  }

  /** Quarantines the rejected file with its reason and removes the request's other files. */
  private async rejectAll(
    received: ReceivedFile[],
    rejected: ReceivedFile,
    rejection: UploadRejection,
    receivedAt: string,
  ): Promise<void> {
    const record: StoredFile = {
      id: rejected.id,
      field: rejected.field,
      name: rejected.name,
      size: rejected.size,
      sha256: rejected.sha256,
      type: rejected.declaredType,
    };
    await this.storage.quarantine(record, 'rejected', receivedAt, { reason: rejection.reason });
    await Promise.all(
      received.filter((file) => file !== rejected).map((file) => this.storage.discard(file.id)),
    );
  }

  private async forwardable(files: UploadedFile[], fields: ReceivedField[]): Promise<UploadResult> {
    if (this.policy.storage.forward === 'reference') {
      const body = Buffer.from(JSON.stringify({ files, fields }), 'utf8');
      return { ok: true, files, fields, body, contentType: 'application/json' };
    }
    const boundary = `bulwark-${randomBytes(16).toString('hex')}`;
    const parts: Buffer[] = [];
    for (const field of fields) {
      parts.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${quote(field.name)}"\r\n\r\n`,
        ),
      );
      parts.push(Buffer.from(field.value, 'utf8'), Buffer.from('\r\n'));
    }
    for (const file of files) {
      parts.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${quote(file.field)}"; filename="${quote(file.name)}"\r\n` +
            `Content-Type: ${file.type}\r\nX-Upload-Id: ${file.id}\r\nX-Upload-Sha256: ${file.sha256}\r\n\r\n`,
        ),
      );
      parts.push(await this.storage.read(file.id), Buffer.from('\r\n'));
      // The file travels in the body, so no copy stays behind in the storage folder.
      await this.storage.remove(file.id);
    }
    parts.push(Buffer.from(`--${boundary}--\r\n`));
    return {
      ok: true,
      files,
      fields,
      body: Buffer.concat(parts),
      contentType: `multipart/form-data; boundary=${boundary}`,
    };
  }
}

/** Escapes a name for a quoted Content-Disposition parameter, as browsers do (%22, %0D, %0A). */
function quote(value: string): string {
  return value.replaceAll('"', '%22').replaceAll('\r', '%0D').replaceAll('\n', '%0A');
}

function failed(rejection: UploadRejection): Extract<UploadResult, { ok: false }> {
  return {
    ok: false,
    rejection,
    status: statusOf(rejection),
    problem: rejectUpload(rejection).problem,
  };
}

/** Creates an inspector from upload options given in code; throws a ConfigError when invalid. */
export function createUploadInspector(
  options: UploadConfigInput,
  inspectorOptions: UploadInspectorOptions = {},
): UploadInspector {
  return new UploadInspector(uploadPolicyFrom(options), inspectorOptions);
}

/**
 * Inspects one upload request with a policy given in code: parses, checks, scans and stores
 * its files. A convenience over `createUploadInspector(options).inspect(req)` that runs no
 * rescan loop, so with `scan.unavailable: quarantine` use a long-lived inspector instead.
 */
export async function inspectUpload(
  req: IncomingMessage | { headers: IncomingHttpHeaders; body: Buffer | Readable },
  options: UploadConfigInput | UploadPolicy,
  inspectorOptions: UploadInspectorOptions = {},
): Promise<UploadResult> {
  const policy =
    'types' in options && options.types instanceof Map
      ? (options as UploadPolicy)
      : uploadPolicyFrom(options as UploadConfigInput);
  const inspector = new UploadInspector(policy, inspectorOptions);
  inspector.close();
  if ('body' in req && req.body !== undefined && !('socket' in req)) {
    const body = req.body;
    const source: UploadSource = Buffer.isBuffer(body)
      ? { kind: 'buffer', body }
      : { kind: 'stream', stream: body, keepOpen: false };
    return inspector.inspectSource(req.headers, source);
  }
  return inspector.inspect(req as IncomingMessage);
}
