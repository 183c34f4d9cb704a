import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AzureBlobArchiveTarget } from '../../src/audit/archive/azure.js';
import { ArchiveTargetError } from '../../src/audit/archive/target.js';
import { archiveContract } from './archive-roundtrip.js';
import { startAzurite, type LocalAzurite } from './archive-servers.js';

let server: LocalAzurite;
let target: AzureBlobArchiveTarget;

beforeAll(async () => {
  server = await startAzurite();
  target = new AzureBlobArchiveTarget({
    connectionString: server.connectionString,
    container: 'audit-archive',
    prefix: 'bulwark/',
    createContainer: true,
  });
});

afterAll(async () => {
  await server?.stop();
});

describe('Azure Blob archive target (Azurite)', () => {
  archiveContract(() => target, 'azure');

  it('missing container without createContainer raises a target error', async () => {
    const other = new AzureBlobArchiveTarget({
      connectionString: server.connectionString,
      container: 'no-such-container',
    });

    await expect(other.put('x', Buffer.from('x'), 'text/plain')).rejects.toBeInstanceOf(
      ArchiveTargetError,
    );
    expect(await other.list('')).toEqual([]);
  });

  it('invalid connection string does not echo it', () => {
    let message = '';
    try {
      new AzureBlobArchiveTarget({
        connectionString: 'AccountKey=c2VjcmV0;nonsense',
        container: 'c',
      });
    } catch (error) {
      expect(error).toBeInstanceOf(ArchiveTargetError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/invalid/);
    expect(message).not.toContain('c2VjcmV0');
  });
});
