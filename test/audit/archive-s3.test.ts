import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { S3ArchiveTarget } from '../../src/audit/archive/s3.js';
import { ArchiveTargetError } from '../../src/audit/archive/target.js';
import { archiveContract } from './archive-roundtrip.js';
import { startS3, type LocalS3 } from './archive-servers.js';

let server: LocalS3;
let target: S3ArchiveTarget;

// s3rver accepts any credentials that are set; these only satisfy the SDK.
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

beforeAll(async () => {
  server = await startS3();
  target = new S3ArchiveTarget({
    bucket: server.bucket,
    region: 'us-east-1',
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials,
    prefix: 'bulwark/',
  });
});

afterAll(async () => {
  target?.close();
  await server?.stop();
});

describe('S3 archive target (s3rver)', () => {
  archiveContract(() => target, 's3');

  it('missing bucket raises a target error', async () => {
    const other = new S3ArchiveTarget({
      bucket: 'no-such-bucket',
      region: 'us-east-1',
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials,
    });
    try {
      await expect(other.put('x', Buffer.from('x'), 'text/plain')).rejects.toBeInstanceOf(
        ArchiveTargetError,
      );
    } finally {
      other.close();
    }
  });

  it('prefix keeps objects apart', async () => {
    await target.put('prefixed/one', Buffer.from('1'), 'text/plain');
    const bare = new S3ArchiveTarget({
      bucket: server.bucket,
      region: 'us-east-1',
      endpoint: server.endpoint,
      forcePathStyle: true,
      credentials,
    });
    try {
      expect(await bare.list('bulwark/prefixed/')).toEqual(['bulwark/prefixed/one']);
      expect(await target.list('prefixed/')).toEqual(['prefixed/one']);
    } finally {
      bare.close();
    }
  });
});
