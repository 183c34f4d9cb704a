/**
 * The `upload` section of a route: limits for multipart bodies, the allowed file types, text,
 * archive and malware checks, and where accepted and rejected files are stored. Validated
 * with zod when the configuration loads, then compiled into an UploadPolicy.
 */
import { isAbsolute, relative, resolve } from 'node:path';

import { z } from 'zod';

import { parseDuration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import { parseSize } from '../http/size.js';

const CODE = { bwk: 'BWK_ERR_CONFIG_UPLOAD' };

function size(min: number) {
  return z.union([z.string(), z.number()]).transform((value, ctx) => {
    let bytes: number;
    try {
      bytes = parseSize(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message, params: CODE });
      return z.NEVER;
    }
    if (bytes < min) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${min} bytes`, params: CODE });
      return z.NEVER;
    }
    return bytes;
  });
}

const timeout = z.string().transform((value, ctx) => {
  try {
    const ms = parseDuration(value);
    if (ms > 0) return ms;
  } catch {
    // Reported below with the allowed form.
  }
  ctx.addIssue({
    code: 'custom',
    message: 'must be a duration longer than 0, such as 500ms or 10s',
    params: CODE,
  });
  return z.NEVER;
});

const absoluteDir = z.string().refine((value) => isAbsolute(value), {
  message: 'must be an absolute folder path outside any folder a web server serves',
  params: CODE,
});

/** `tcp://127.0.0.1:3310`, or the absolute path of clamd's unix socket. */
const clamdAddress = z.string().refine((value) => parseClamdAddress(value) !== undefined, {
  message: 'must be tcp://HOST:PORT (e.g. tcp://127.0.0.1:3310) or an absolute unix socket path',
  params: CODE,
});

const EXTENSION = /^[a-z0-9][a-z0-9.+-]{0,15}$/;
const MIME = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;

const fileTypeSchema = z
  .object({
    extension: z
      .string()
      .transform((value) => value.replace(/^\./, '').toLowerCase())
      .refine((value) => EXTENSION.test(value), {
        message: 'must be a file extension such as png or tar.gz',
        params: CODE,
      }),
    mime: z
      .string()
      .transform((value) => value.toLowerCase())
      .refine((value) => MIME.test(value), {
        message: 'must be a media type such as image/png',
        params: CODE,
      }),
  })
  .strict();

export const uploadSchema = z
  .object({
    /** Largest single file, in bytes or with a unit (`10mb`). */
    maxFileSize: size(1).default(10 * 1024 * 1024),
    maxFiles: z.number().int().min(1).max(1000).default(5),
    maxFields: z.number().int().min(0).max(10_000).default(50),
    /** Largest value of a non-file field. */
    maxFieldSize: size(1).default(64 * 1024),
    /** Largest whole multipart body, boundaries and part headers included. */
    maxTotalSize: size(1).default(20 * 1024 * 1024),
    /** The allowed files: an extension and the media type its bytes must have. */
    types: z.array(fileTypeSchema).min(1),
    svg: z
      .object({
        /** `data:` URLs in href attributes; external URLs are rejected regardless. */
        allowDataUrls: z.boolean().default(false),
      })
      .strict()
      .default({ allowDataUrls: false }),
    csv: z
      .object({
        /**
         * Cells that start with = + - @ tab or CR: `neutralise` prefixes them with a quote,
         * `flag` keeps them and marks the file, `reject` rejects the upload.
         */
        formulas: z.enum(['neutralise', 'flag', 'reject']).default('neutralise'),
      })
      .strict()
      .default({ formulas: 'neutralise' }),
    archives: z
      .object({
        maxEntries: z.number().int().min(1).default(1000),
        maxUncompressedSize: size(1).default(100 * 1024 * 1024),
        /** Largest ratio of uncompressed to compressed size, per entry and for the archive. */
        maxRatio: z.number().min(1).default(100),
      })
      .strict()
      .default({ maxEntries: 1000, maxUncompressedSize: 100 * 1024 * 1024, maxRatio: 100 }),
    scan: z
      .object({
        clamd: clamdAddress,
        timeout: timeout.default(10_000),
        /** `reject` responds with 503. `quarantine` accepts into quarantine and scans later. */
        unavailable: z.enum(['reject', 'quarantine']).default('reject'),
        /** How often quarantined files are scanned again while clamd is unavailable. */
        retryInterval: timeout.default(30_000),
      })
      .strict()
      .optional(),
    storage: z
      .object({
        dir: absoluteDir,
        quarantineDir: absoluteDir,
        /** `reference` sends a JSON description of the stored files; `stream` the files. */
        forward: z.enum(['reference', 'stream']).default('reference'),
      })
      .strict(),
  })
  .strict()
  .superRefine((upload, ctx) => {
    if (upload.maxFileSize > upload.maxTotalSize) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxFileSize'],
        message: 'must not be larger than maxTotalSize',
        params: CODE,
      });
    }
    const { dir, quarantineDir } = upload.storage;
    if (inside(dir, quarantineDir) || inside(quarantineDir, dir)) {
      ctx.addIssue({
        code: 'custom',
        path: ['storage', 'quarantineDir'],
        message: 'must not be inside storage.dir or contain it',
        params: CODE,
      });
    }
    // Files waiting for a scan would reach the upstream unscanned inside the body.
    if (upload.scan?.unavailable === 'quarantine' && upload.storage.forward === 'stream') {
      ctx.addIssue({
        code: 'custom',
        path: ['scan', 'unavailable'],
        message:
          'quarantine needs storage.forward: reference, because a streamed file would reach the upstream before its scan',
        params: CODE,
      });
    }
  });

export type UploadConfig = z.infer<typeof uploadSchema>;
export type UploadConfigInput = z.input<typeof uploadSchema>;

function inside(parent: string, child: string): boolean {
  const path = relative(resolve(parent), resolve(child));
  return path === '' || (!path.startsWith('..') && !isAbsolute(path));
}

/** The address clamd listens on: a TCP host and port, or a Unix socket path. */
export type ClamdAddress =
  { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** Parses `tcp://host:port`, `unix:/path` or `/path`; returns undefined when invalid. */
export function parseClamdAddress(value: string): ClamdAddress | undefined {
  if (value.startsWith('tcp://')) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return undefined;
    }
    const port = Number(url.port);
    if (!url.hostname || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
    return { kind: 'tcp', host: url.hostname.replace(/^\[|\]$/g, ''), port };
  }
  const path = value.startsWith('unix:') ? value.slice('unix:'.length) : value;
  return isAbsolute(path) ? { kind: 'unix', path } : undefined;
}

/** Writes an address back in the form the configuration takes, for logs and messages. */
export function formatClamdAddress(address: ClamdAddress): string {
  if (address.kind === 'unix') return address.path;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `tcp://${host}:${address.port}`;
}

/** An upload section validated and compiled for the guard. */
export interface UploadPolicy {
  readonly maxFileSize: number;
  readonly maxFiles: number;
  readonly maxFields: number;
  readonly maxFieldSize: number;
  readonly maxTotalSize: number;
  /** Allowed media types per extension (lower case, without the dot). */
  readonly types: ReadonlyMap<string, ReadonlySet<string>>;
  readonly svg: UploadConfig['svg'];
  readonly csv: UploadConfig['csv'];
  readonly archives: UploadConfig['archives'];
  readonly scan:
    | {
        readonly address: ClamdAddress;
        readonly timeoutMs: number;
        readonly unavailable: 'reject' | 'quarantine';
        readonly retryIntervalMs: number;
      }
    | undefined;
  readonly storage: UploadConfig['storage'];
}

/** Compiles a validated upload section. */
export function compileUploadPolicy(config: UploadConfig): UploadPolicy {
  const types = new Map<string, Set<string>>();
  for (const type of config.types) {
    const mimes = types.get(type.extension) ?? new Set<string>();
    mimes.add(type.mime);
    types.set(type.extension, mimes);
  }
  const scan = config.scan;
  return Object.freeze({
    maxFileSize: config.maxFileSize,
    maxFiles: config.maxFiles,
    maxFields: config.maxFields,
    maxFieldSize: config.maxFieldSize,
    maxTotalSize: config.maxTotalSize,
    types,
    svg: config.svg,
    csv: config.csv,
    archives: config.archives,
    scan: scan && {
      address: parseClamdAddress(scan.clamd)!,
      timeoutMs: scan.timeout,
      unavailable: scan.unavailable,
      retryIntervalMs: scan.retryInterval,
    },
    storage: config.storage,
  });
}

/**
 * Validates and compiles upload options given in code (the library API). Throws a
 * ConfigError that names each invalid path.
 */
export function uploadPolicyFrom(
  input: UploadConfigInput,
  source = 'upload options',
): UploadPolicy {
  const result = uploadSchema.safeParse(input);
  if (result.success) return compileUploadPolicy(result.data);
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    value: 'see path',
    message: issue.message,
    code: (issue as { params?: { bwk?: string } }).params?.bwk ?? 'BWK_ERR_CONFIG_UPLOAD',
  }));
  throw new ConfigError(source, issues);
}
