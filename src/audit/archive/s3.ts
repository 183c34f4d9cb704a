import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';

import {
  ArchiveNotFoundError,
  ArchiveTargetError,
  MAX_ARCHIVE_OBJECT_BYTES,
  checkArchiveName,
  checkArchivePrefix,
  type ArchiveTarget,
} from './target.js';

export interface S3ArchiveOptions {
  bucket: string;
  region: string;
  /** An S3-compatible endpoint such as MinIO; AWS when unset. */
  endpoint?: string;
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers need. */
  forcePathStyle?: boolean;
  /** Static credentials; without them the AWS SDK's default provider chain is used. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Prepended to every object name, e.g. `bulwark/audit/`. */
  prefix?: string;
  /** Replaces the client built from the options above (tests, custom middleware). */
  client?: S3Client;
}

/** Archives in an S3 bucket through the AWS SDK v3. */
export class S3ArchiveTarget implements ArchiveTarget {
  readonly kind = 's3';
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3ArchiveOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    const config: S3ClientConfig = {
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: options.credentials,
      // The SDK's default CRC32 trailers use aws-chunked uploads, which several S3-compatible
      // servers reject; Content-MD5 below protects the body in transit instead.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    this.client = options.client ?? new S3Client(config);
  }

  async put(name: string, body: Buffer, contentType: string): Promise<void> {
    const key = this.keyOf(name);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          ContentLength: body.length,
          ContentMD5: createHash('md5').update(body).digest('base64'),
        }),
      );
    } catch (error) {
      throw new ArchiveTargetError(`Cannot write s3://${this.bucket}/${key}.`, { cause: error });
    }
  }

  async get(name: string): Promise<Buffer> {
    const key = this.keyOf(name);
    try {
      const output = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
      );
      if ((output.ContentLength ?? 0) > MAX_ARCHIVE_OBJECT_BYTES)
        throw new ArchiveTargetError(`s3://${this.bucket}/${key} is larger than 1 GiB.`);
      if (output.Body === undefined) return Buffer.alloc(0);
      return Buffer.from(await output.Body.transformToByteArray());
    } catch (error) {
      if (error instanceof ArchiveTargetError) throw error;
      const code = (error as { name?: string }).name;
      if (code === 'NoSuchKey' || code === 'NotFound')
        throw new ArchiveNotFoundError(this.kind, name);
      throw new ArchiveTargetError(`Cannot read s3://${this.bucket}/${key}.`, { cause: error });
    }
  }

  async list(prefix: string): Promise<string[]> {
    checkArchivePrefix(prefix);
    const names: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key !== undefined) names.push(object.Key.slice(this.prefix.length));
        }
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw new ArchiveTargetError(`Cannot list s3://${this.bucket}/${this.prefix}${prefix}.`, {
        cause: error,
      });
    }
    return names.sort();
  }

  /** Releases the client's sockets. */
  close(): void {
    this.client.destroy();
  }

  private keyOf(name: string): string {
    return this.prefix + checkArchiveName(name);
  }
}
