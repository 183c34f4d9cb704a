import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';

import {
  ArchiveNotFoundError,
  ArchiveTargetError,
  MAX_ARCHIVE_OBJECT_BYTES,
  checkArchiveName,
  checkArchivePrefix,
  type ArchiveTarget,
} from './target.js';

export interface AzureArchiveOptions {
  /** A storage account connection string; keep it in an environment variable. */
  connectionString: string;
  container: string;
  /** Prepended to every blob name, e.g. `bulwark/audit/`. */
  prefix?: string;
  /** Creates the container on first use when it does not exist. */
  createContainer?: boolean;
}

/** Archives as block blobs in an Azure Blob Storage container through the Azure SDK. */
export class AzureBlobArchiveTarget implements ArchiveTarget {
  readonly kind = 'azure';
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private ready: Promise<void> | undefined;

  constructor(private readonly options: AzureArchiveOptions) {
    this.prefix = options.prefix ?? '';
    try {
      this.container = BlobServiceClient.fromConnectionString(
        options.connectionString,
      ).getContainerClient(options.container);
    } catch (error) {
      // The SDK's message may quote the connection string, account key included.
      throw new ArchiveTargetError('The Azure Blob connection string is invalid.', {
        cause: new Error((error as Error).name),
      });
    }
  }

  async put(name: string, body: Buffer, contentType: string): Promise<void> {
    const blob = this.blobName(name);
    try {
      await this.ensureContainer();
      await this.container.getBlockBlobClient(blob).uploadData(body, {
        blobHTTPHeaders: { blobContentType: contentType },
      });
    } catch (error) {
      throw new ArchiveTargetError(`Cannot write the blob ${this.options.container}/${blob}.`, {
        cause: error,
      });
    }
  }

  async get(name: string): Promise<Buffer> {
    const blob = this.blobName(name);
    try {
      const client = this.container.getBlockBlobClient(blob);
      const properties = await client.getProperties();
      if ((properties.contentLength ?? 0) > MAX_ARCHIVE_OBJECT_BYTES)
        throw new ArchiveTargetError(
          `The blob ${this.options.container}/${blob} is larger than 1 GiB.`,
        );
      return await client.downloadToBuffer();
    } catch (error) {
      if (error instanceof ArchiveTargetError) throw error;
      if ((error as { statusCode?: number }).statusCode === 404)
        throw new ArchiveNotFoundError(this.kind, name);
      throw new ArchiveTargetError(`Cannot read the blob ${this.options.container}/${blob}.`, {
        cause: error,
      });
    }
  }

  async list(prefix: string): Promise<string[]> {
    checkArchivePrefix(prefix);
    const names: string[] = [];
    try {
      for await (const blob of this.container.listBlobsFlat({ prefix: this.prefix + prefix })) {
        names.push(blob.name.slice(this.prefix.length));
      }
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return [];
      throw new ArchiveTargetError(`Cannot list the container ${this.options.container}.`, {
        cause: error,
      });
    }
    return names.sort();
  }

  private ensureContainer(): Promise<void> {
    if (this.options.createContainer !== true) return Promise.resolve();
    this.ready ??= this.container.createIfNotExists().then(
      () => undefined,
      (error: unknown) => {
        this.ready = undefined;
        throw error;
      },
    );
    return this.ready;
  }

  private blobName(name: string): string {
    return this.prefix + checkArchiveName(name);
  }
}
