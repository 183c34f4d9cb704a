import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { uploadPolicyFrom, type UploadConfigInput } from '../../src/upload/config.js';
import { UploadInspector, type UploadResult } from '../../src/upload/inspect.js';
import { MULTIPART_TYPE, multipart, type Part } from './fixtures.js';

/** A temporary storage and quarantine folder pair, removed by `cleanup`. */
export interface Folders {
  root: string;
  dir: string;
  quarantineDir: string;
  cleanup(): Promise<void>;
}

export async function tempFolders(): Promise<Folders> {
  const root = await mkdtemp(join(tmpdir(), 'bwk-upload-'));
  return {
    root,
    dir: join(root, 'files'),
    quarantineDir: join(root, 'quarantine'),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

export const IMAGE_AND_DOCUMENT_TYPES: UploadConfigInput['types'] = [
  { extension: 'png', mime: 'image/png' },
  { extension: 'gif', mime: 'image/gif' },
  { extension: 'jpg', mime: 'image/jpeg' },
  { extension: 'pdf', mime: 'application/pdf' },
  { extension: 'svg', mime: 'image/svg+xml' },
  { extension: 'csv', mime: 'text/csv' },
  { extension: 'html', mime: 'text/html' },
  { extension: 'zip', mime: 'application/zip' },
];

/** Creates an inspector over `folders` with the types above, overridable by `options`. */
export function inspectorFor(
  folders: Folders,
  options: Partial<UploadConfigInput> = {},
): UploadInspector {
  return new UploadInspector(
    uploadPolicyFrom({
      types: IMAGE_AND_DOCUMENT_TYPES,
      storage: { dir: folders.dir, quarantineDir: folders.quarantineDir },
      ...options,
    }),
  );
}

/** Inspects a multipart body built from `parts`, read whole. */
export function inspectParts(
  inspector: UploadInspector,
  parts: readonly Part[],
): Promise<UploadResult> {
  return inspector.inspectSource(
    { 'content-type': MULTIPART_TYPE },
    { kind: 'buffer', body: multipart(parts) },
  );
}

/** Returns the rejection reason of a result, or `accepted`. */
export function reasonOf(result: UploadResult): string {
  return result.ok ? 'accepted' : result.rejection.reason;
}
