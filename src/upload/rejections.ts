/**
 * Upload rejection reasons, with the problem body, status and event of each. Details name
 * the file's field, extension and detected type, never its content.
 */
import type { Reject } from '../core/guard.js';
import { problem } from '../core/problem.js';

/** The stable reasons of `upload.rejected`, also the `reason` of the problem body. */
export type UploadRejectionReason =
  | 'not_multipart'
  | 'malformed'
  | 'file_too_large'
  | 'total_too_large'
  | 'too_many_files'
  | 'too_many_fields'
  | 'field_too_large'
  | 'extension_not_allowed'
  | 'type_mismatch'
  | 'binary_text'
  | 'svg_active_content'
  | 'html_active_content'
  | 'csv_formula'
  | 'polyglot'
  | 'archive_too_many_entries'
  | 'archive_too_large'
  | 'archive_ratio'
  | 'archive_path'
  | 'archive_invalid'
  | 'malware'
  | 'scanner_unavailable'
  | 'scanner_error';

interface ReasonShape {
  status: number;
  code: string;
  title: string;
}

const SIZE: ReasonShape = {
  status: 413,
  code: 'BWK_ERR_UPLOAD_TOO_LARGE',
  title: 'Content Too Large',
};
const TYPE: ReasonShape = {
  status: 415,
  code: 'BWK_ERR_UPLOAD_TYPE',
  title: 'Unsupported Media Type',
};
const CONTENT: ReasonShape = {
  status: 422,
  code: 'BWK_ERR_UPLOAD_CONTENT',
  title: 'Unprocessable Content',
};

const SHAPES: Record<UploadRejectionReason, ReasonShape> = {
  not_multipart: TYPE,
  malformed: { status: 400, code: 'BWK_ERR_UPLOAD_MALFORMED', title: 'Bad Request' },
  file_too_large: SIZE,
  total_too_large: SIZE,
  too_many_files: SIZE,
  too_many_fields: SIZE,
  field_too_large: SIZE,
  extension_not_allowed: TYPE,
  type_mismatch: TYPE,
  binary_text: TYPE,
  svg_active_content: CONTENT,
  html_active_content: CONTENT,
  csv_formula: CONTENT,
  polyglot: CONTENT,
  archive_too_many_entries: CONTENT,
  archive_too_large: CONTENT,
  archive_ratio: CONTENT,
  archive_path: CONTENT,
  archive_invalid: CONTENT,
  malware: { status: 422, code: 'BWK_ERR_UPLOAD_MALWARE', title: 'Unprocessable Content' },
  scanner_unavailable: {
    status: 503,
    code: 'BWK_ERR_UPLOAD_SCAN_UNAVAILABLE',
    title: 'Service Unavailable',
  },
  scanner_error: {
    status: 503,
    code: 'BWK_ERR_UPLOAD_SCAN_UNAVAILABLE',
    title: 'Service Unavailable',
  },
};

/** One upload rejection: the reason, a message for the client, and safe details. */
export interface UploadRejection {
  readonly reason: UploadRejectionReason;
  /** Shown to the client; it names the field and the rule, never the file's content. */
  readonly detail: string;
  /** The form field of the file concerned, when one is. */
  readonly field?: string;
  /** Extra event details such as the detected type or the signature name. */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

/** Builds a rejection. */
export function uploadRejection(
  reason: UploadRejectionReason,
  detail: string,
  extra: { field?: string; details?: Record<string, string | number | boolean> } = {},
): UploadRejection {
  return { reason, detail, field: extra.field, details: extra.details };
}

/** Returns the HTTP status of a rejection. */
export function statusOf(rejection: UploadRejection): number {
  return SHAPES[rejection.reason].status;
}

/**
 * Builds the guard verdict of a rejection. It is enforced in report-only mode too, because
 * the guard has read the body and cannot hand the request on as it arrived.
 */
export function rejectUpload(rejection: UploadRejection): Reject {
  const shape = SHAPES[rejection.reason];
  const malware = rejection.reason === 'malware';
  const unavailable = shape.status === 503;
  let severity: 'high' | 'medium' | 'low' = 'low';
  if (malware) severity = 'high';
  else if (unavailable) severity = 'medium';
  return {
    action: 'reject',
    status: shape.status,
    headers: unavailable ? { 'retry-after': '30' } : {},
    problem: problem(
      `upload-${rejection.reason.replaceAll('_', '-')}`,
      shape.status,
      shape.title,
      shape.code,
      {
        detail: rejection.detail,
        reason: rejection.reason,
        ...(rejection.field === undefined ? {} : { field: rejection.field }),
      },
    ),
    event: {
      type: malware ? 'upload.malware' : 'upload.rejected',
      category: unavailable ? 'system' : 'violation',
      severity,
      details: {
        reason: rejection.reason,
        ...(rejection.field === undefined ? {} : { field: rejection.field }),
        ...rejection.details,
      },
    },
    enforced: true,
  };
}

/** An error thrown inside the upload pipeline that carries its rejection. */
export class UploadRejectedError extends Error {
  constructor(
    readonly rejection: UploadRejection,
    cause?: unknown,
  ) {
    super(rejection.detail, { cause });
    this.name = 'UploadRejectedError';
  }
}
