/**
 * Streaming multipart/form-data parsing with busboy. Each file is written to the storage
 * folder while it arrives and hashed on the way. The read stops the moment a limit is passed:
 * file size, file count, field count or size, or the size of the whole body. Neither the
 * body nor a file is ever held in memory whole.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';

import busboy from 'busboy';

import type { UploadPolicy } from './config.js';
import { uploadRejection, UploadRejectedError, type UploadRejection } from './rejections.js';
import type { UploadStorage } from './storage.js';

/** A file written to storage, not yet checked. */
export interface ReceivedFile {
  id: string;
  path: string;
  field: string;
  /** The client's name, without any folder part. */
  name: string;
  /** The media type the part declared, lower case, without parameters. */
  declaredType: string;
  size: number;
  sha256: string;
}

/** A non-file form field. */
export interface ReceivedField {
  name: string;
  value: string;
}

export interface ParsedUpload {
  files: ReceivedFile[];
  fields: ReceivedField[];
}

/** The body's source: a stream to read, or bytes a body guard already read whole. */
export type UploadSource =
  { kind: 'stream'; stream: Readable; keepOpen: boolean } | { kind: 'buffer'; body: Buffer };

/**
 * Parses a multipart body into stored files and fields under the policy's limits. Rejects
 * with an UploadRejectedError; files written so far are removed on any failure.
 *
 * With `keepOpen`, a one-byte placeholder is put back into the request once the body has
 * been read, before the stream can emit 'end', so that an adapter can later replace it with
 * the body the application receives.
 */
export async function parseMultipart(
  headers: IncomingHttpHeaders,
  source: UploadSource,
  policy: UploadPolicy,
  storage: UploadStorage,
): Promise<ParsedUpload> {
  const declared = Number(headers['content-length']);
  if (declared > policy.maxTotalSize) throw new UploadRejectedError(totalTooLarge(policy));

  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers,
      limits: {
        // busboy reports the limit when a file reaches it, so one more byte allows a file of
        // exactly maxFileSize.
        fileSize: policy.maxFileSize + 1,
        files: policy.maxFiles,
        fields: policy.maxFields,
        fieldSize: policy.maxFieldSize,
        fieldNameSize: 200,
        parts: policy.maxFiles + policy.maxFields,
        headerPairs: 20,
      },
      preservePath: false,
    });
  } catch {
    throw new UploadRejectedError(
      uploadRejection('malformed', 'The request is not multipart/form-data with a boundary.'),
    );
  }
  await storage.prepare();
  return new MultipartRun(parser, source, policy, storage).result;
}

class MultipartRun {
  readonly result: Promise<ParsedUpload>;
  private readonly files: ReceivedFile[] = [];
  private readonly fields: ReceivedField[] = [];
  private readonly written = new Set<string>();
  private readonly outputs: WriteStream[] = [];
  private readonly pendingWrites: Promise<void>[] = [];
  private received = 0;
  private failed: UploadRejection | undefined;
  private resolveResult!: (value: ParsedUpload) => void;
  private rejectResult!: (error: Error) => void;
  private stopSource: (() => void) | undefined;

  constructor(
    private readonly parser: busboy.Busboy,
    source: UploadSource,
    private readonly policy: UploadPolicy,
    private readonly storage: UploadStorage,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    parser.on('file', (field, stream, info) => this.onFile(field, stream, info));
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated || info.nameTruncated) {
        this.fail(
          uploadRejection(
            'field_too_large',
            `Field "${safeName(name)}" is longer than ${policy.maxFieldSize} bytes (maxFieldSize).`,
            {
              field: safeName(name),
            },
          ),
        );
        return;
      }
      this.fields.push({ name, value });
    });
    parser.on('filesLimit', () =>
      this.fail(
        uploadRejection(
          'too_many_files',
          `The request has more than ${policy.maxFiles} files (maxFiles).`,
        ),
      ),
    );
    parser.on('fieldsLimit', () =>
      this.fail(
        uploadRejection(
          'too_many_fields',
          `The request has more than ${policy.maxFields} fields (maxFields).`,
        ),
      ),
    );
    parser.on('partsLimit', () =>
      this.fail(
        uploadRejection(
          'too_many_fields',
          'The request has more parts than maxFiles and maxFields allow.',
        ),
      ),
    );
    parser.on('error', () =>
      this.fail(uploadRejection('malformed', 'The multipart body is malformed or ends early.')),
    );
    parser.on('close', () => void this.finish());

    if (source.kind === 'buffer') {
      this.received = source.body.length;
      if (this.received > policy.maxTotalSize) this.fail(totalTooLarge(policy));
      else parser.end(source.body);
    } else {
      this.pump(source.stream, source.keepOpen);
    }
  }

  /**
   * Reads the source with read() rather than piping it, so that the count of bytes can stop
   * the body at maxTotalSize, and so the request has not emitted 'end' when a placeholder
   * must go back into it.
   */
  private pump(stream: Readable, keepOpen: boolean): void {
    const request = stream as Partial<IncomingMessage>;
    // busboy waits for each file stream to take its data, so while the file on disk is
    // behind, the parser's buffer is full and reading stops until it drains. Without this,
    // the whole body would pile up in the parser before any limit could cut it.
    let waiting = false;
    const onDrain = (): void => {
      waiting = false;
      onReadable();
    };
    const onReadable = (): void => {
      if (waiting || this.failed) return;
      let chunk: Buffer | null;
      while ((chunk = stream.read() as Buffer | null) !== null) {
        this.received += chunk.length;
        if (this.received > this.policy.maxTotalSize) {
          this.fail(totalTooLarge(this.policy));
          return;
        }
        if (!this.parser.write(chunk)) {
          if (this.failed) return;
          waiting = true;
          this.parser.once('drain', onDrain);
          return;
        }
        if (this.failed) return;
      }
      if (request.complete === true || stream.readableEnded) done();
    };
    const onEnd = (): void => done();
    const onClose = (): void => {
      if (request.complete === false || request.complete === undefined) {
        if (!stream.readableEnded)
          this.fail(
            uploadRejection('malformed', 'The connection closed before the body was complete.'),
          );
      }
    };
    const cleanup = (): void => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      stream.off('error', onClose);
      this.parser.off('drain', onDrain);
    };
    let ended = false;
    const done = (): void => {
      if (ended) return;
      ended = true;
      cleanup();
      if (keepOpen && !stream.readableEnded) stream.unshift(Buffer.from(' '));
      this.parser.end();
    };
    this.stopSource = () => {
      cleanup();
      // The rest of the body stays unread; the response closes the connection.
      stream.pause();
    };
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('close', onClose);
    stream.on('error', onClose);
  }

  private onFile(field: string, stream: Readable, info: busboy.FileInfo): void {
    // A browser sends a file input left empty as a part with an empty file name. Its bytes
    // are dropped, and so never reach the upstream, which gets only the stored files.
    if (this.failed || !info.filename) {
      stream.resume();
      return;
    }
    const { id, path, stream: out } = this.storage.create();
    this.written.add(id);
    this.outputs.push(out);
    const hash = createHash('sha256');
    let size = 0;
    const file: ReceivedFile = {
      id,
      path,
      field: safeName(field),
      name: baseName(info.filename ?? ''),
      declaredType: mediaTypeOf(info.mimeType),
      size: 0,
      sha256: '',
    };

    // busboy fails the open file stream when the parser is destroyed mid-file; the run has
    // already recorded why it stopped.
    stream.on('error', () => undefined);
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      hash.update(chunk);
    });
    stream.on('limit', () => {
      this.fail(
        uploadRejection(
          'file_too_large',
          `The file in field "${file.field}" is larger than ${this.policy.maxFileSize} bytes (maxFileSize).`,
          {
            field: file.field,
            details: { max: this.policy.maxFileSize },
          },
        ),
      );
    });

    const writeDone = new Promise<void>((resolve) => {
      out.on('close', resolve);
      out.on('error', (error) => {
        this.fail(uploadRejection('malformed', 'The file could not be stored.'), error);
        resolve();
      });
    });
    this.pendingWrites.push(
      writeDone.then(() => {
        file.size = size;
        file.sha256 = hash.digest('hex');
      }),
    );
    stream.pipe(out);
    this.files.push(file);
  }

  private async finish(): Promise<void> {
    await Promise.all(this.pendingWrites);
    if (this.failed) return;
    this.resolveResult({ files: this.files, fields: this.fields });
  }

  private fail(rejection: UploadRejection, cause?: unknown): void {
    if (this.failed) return;
    this.failed = rejection;
    this.stopSource?.();
    this.parser.removeAllListeners('close');
    // busboy emits 'limit' and then still sets `truncated` on its file stream, which a
    // destroy within that callback has cleared, so the parser is destroyed after it returns.
    queueMicrotask(() => {
      this.parser.destroy();
      // A file cut off mid-way never ends its write stream, so it is closed here.
      for (const output of this.outputs) output.destroy();
      void Promise.allSettled(this.pendingWrites).then(async () => {
        await Promise.all([...this.written].map((id) => this.storage.discard(id)));
        this.rejectResult(new UploadRejectedError(rejection, cause));
      });
    });
  }
}

function totalTooLarge(policy: UploadPolicy): UploadRejection {
  return uploadRejection(
    'total_too_large',
    `The request body is larger than ${policy.maxTotalSize} bytes (maxTotalSize).`,
    {
      details: { max: policy.maxTotalSize },
    },
  );
}

const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,64}$/;

/**
 * Returns the part's media type in lower case without parameters. Anything that is not a
 * `type/subtype` token pair becomes application/octet-stream, so that messages and events
 * never repeat arbitrary client text.
 */
function mediaTypeOf(value: string | undefined): string {
  const essence = (value ?? '').split(';')[0]!.trim().toLowerCase();
  return MEDIA_TYPE.test(essence) ? essence : 'application/octet-stream';
}

/** Keeps the last path segment of a client's file name, and only printable characters. */
function baseName(name: string): string {
  const last = name.split(/[\\/]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  return last.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 255);
}

/** Returns a field name fit for a message or log: printable and short. */
function safeName(name: string): string {
  // eslint-disable-next-line no-control-regex
  return name.replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 100);
}
