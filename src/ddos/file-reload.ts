import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

import { BulwarkError, ConfigError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';

/** A data file that could not be read or parsed: too large, missing or with invalid content. */
export class DataFileError extends BulwarkError {
  constructor(
    code: string,
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/**
 * Turns a DataFileError found at start into a ConfigError at the configuration path that
 * names the file, so that it stops the start like any other configuration problem.
 */
export function configErrorOf(error: unknown, path: string, file: string): unknown {
  if (!(error instanceof DataFileError)) return error;
  return new ConfigError(file, [
    { path, value: JSON.stringify(file), message: error.message, code: error.code },
  ]);
}

export interface ReloadingFileOptions<T> {
  path: string;
  /** Description of the content for messages, e.g. `IP list` or `country database`. */
  kind: string;
  /** Error code of load failures, e.g. BWK_ERR_CONFIG_IP_LIST. */
  code: string;
  maxBytes: number;
  /** How often the file's size and modification time are checked. */
  intervalMs: number;
  /** Turns the bytes into the value; throws an Error whose message names the problem. */
  parse: (bytes: Buffer) => T;
  /** Called after each successful reload with the new value. */
  onReload?: (value: T) => void;
  logger?: Logger;
}

/**
 * A file read at start and read again whenever it changes, without a restart. Changes are
 * found by polling the file's size, modification time and inode, which also catches a file
 * replaced by a rename, where fs.watch would keep watching the old inode. The new content
 * replaces the old in one assignment, so a reader sees the old or the new value, never a mix.
 * A file that becomes unreadable, too large or invalid keeps the old value and logs an error.
 */
export class ReloadingFile<T> {
  private value: T;
  private signature: string;
  private readonly timer: NodeJS.Timeout;
  private checking = false;
  private readonly logger: Logger;

  /** Reads the file at once; throws a DataFileError when it cannot be loaded. */
  constructor(private readonly options: ReloadingFileOptions<T>) {
    this.logger = options.logger ?? silentLogger;
    const stats = this.statNow();
    this.value = this.load(this.readNow(stats));
    this.signature = signatureOf(stats);
    this.timer = setInterval(() => void this.check(), options.intervalMs);
    this.timer.unref();
  }

  get current(): T {
    return this.value;
  }

  /** Checks the file now; resolves once any change has been applied or rejected. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await this.reloadIfChanged();
    } finally {
      this.checking = false;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async reloadIfChanged(): Promise<void> {
    const { path, kind } = this.options;
    let stats: Stats;
    try {
      stats = await stat(path);
    } catch (error) {
      this.failed(`missing:${(error as NodeJS.ErrnoException).code}`, error);
      return;
    }
    const signature = signatureOf(stats);
    if (signature === this.signature) return;

    // The signature is taken before reading: a write that lands during the read changes the
    // modification time again, so the next check reads the file once more.
    try {
      this.checkSize(stats.size);
      const value = this.load(await readFile(path));
      this.value = value;
      this.signature = signature;
      this.logger.info({ file: path, kind }, `${kind} reloaded`);
      this.options.onReload?.(value);
    } catch (error) {
      this.failed(signature, error);
    }
  }

  /** Logs a failed reload once per state of the file, and keeps the old value. */
  private failed(signature: string, error: unknown): void {
    if (signature === this.signature) return;
    this.signature = signature;
    this.logger.error(
      { err: error, file: this.options.path, kind: this.options.kind },
      `${this.options.kind} reload failed; the previous content stays in use`,
    );
  }

  private statNow(): Stats {
    try {
      return statSync(this.options.path);
    } catch (error) {
      throw this.error(`cannot read ${this.options.path}: ${(error as Error).message}`, error);
    }
  }

  private readNow(stats: Stats): Buffer {
    this.checkSize(stats.size);
    try {
      return readFileSync(this.options.path);
    } catch (error) {
      throw this.error(`cannot read ${this.options.path}: ${(error as Error).message}`, error);
    }
  }

  private checkSize(size: number): void {
    if (size > this.options.maxBytes) {
      throw this.error(
        `${this.options.path} is ${size} bytes, more than the limit of ${this.options.maxBytes}; raise maxFileBytes if the file is meant to be this large`,
      );
    }
  }

  private load(bytes: Buffer): T {
    // The size may have changed between stat and read.
    this.checkSize(bytes.length);
    try {
      return this.options.parse(bytes);
    } catch (error) {
      if (error instanceof DataFileError) throw error;
      throw this.error(`${this.options.path}: ${(error as Error).message}`, error);
    }
  }

  private error(message: string, cause?: unknown): DataFileError {
    return new DataFileError(this.options.code, this.options.path, message, { cause });
  }
}

function signatureOf(stats: Stats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}
