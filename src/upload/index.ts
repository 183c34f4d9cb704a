/** The public upload API. */
export {
  ClamdClient,
  ClamdResponseError,
  ClamdTimeoutError,
  ClamdUnavailableError,
  parseScanAnswer,
} from './clamd.js';
export type { ScanResult } from './clamd.js';
export {
  compileUploadPolicy,
  parseClamdAddress,
  uploadPolicyFrom,
  uploadSchema,
} from './config.js';
export type { ClamdAddress, UploadConfig, UploadConfigInput, UploadPolicy } from './config.js';
export { attachUploadSource, createUploadGuard, UploadGuard, uploadResultOf } from './guard.js';
export { createUploadInspector, inspectUpload, UploadInspector } from './inspect.js';
export type { UploadedFile, UploadInspectorOptions, UploadResult } from './inspect.js';
export type { UploadRejection, UploadRejectionReason } from './rejections.js';
export { checkCsv, checkHtml, checkSvg } from './text-checks.js';
export type { StoredFile, StoredRecord } from './storage.js';
