import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

import { expect, it } from 'vitest';

import { signingKeyId } from '../../src/audit/keys.js';
import { ArchiveNotFoundError, type ArchiveTarget } from '../../src/audit/archive/target.js';
import {
  ArchiveIntegrityError,
  readArchive,
  readArchiveManifest,
  writeArchive,
  type ArchiveFailure,
} from '../../src/audit/archive/writer.js';

/**
 * The archive contract: the same round-trip and tamper cases against every target, so
 * that folder, S3 and Azure behave alike. `target` is called inside each test, after the
 * suite's `beforeAll` has started its server.
 */

interface Signer {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function newSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { kid: signingKeyId(publicKey), privateKey, publicKey };
}

function lookup(...signers: Signer[]): (kid: string) => KeyObject | undefined {
  return (kid) => signers.find((signer) => signer.kid === kid)?.publicKey;
}

export function records(count: number, start = 1): object[] {
  return Array.from({ length: count }, (_, index) => ({
    seq: start + index,
    time: new Date(Date.UTC(2026, 11, 5, 0, 0, index)).toISOString(),
    type: 'auth.login',
    actor: { type: 'user', id: `user-${index}` },
    // Line breaks inside values must survive the JSON-lines form.
    details: { note: `line one\nline two ${index}` },
  }));
}

async function failureOf(promise: Promise<unknown>): Promise<ArchiveFailure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ArchiveIntegrityError) return error.reason;
    throw error;
  }
  throw new Error('the archive was accepted');
}

export function archiveContract(target: () => ArchiveTarget, prefix: string): void {
  it('archive round trip returns the records', async () => {
    const signer = newSigner();
    const written = records(250);

    const manifest = await writeArchive(target(), `${prefix}/seg-1`, written, signer);
    const read = await readArchive(target(), `${prefix}/seg-1`, lookup(signer));

    expect(read).toEqual(written);
    expect(manifest.count).toBe(250);
    expect(manifest.first).toEqual({ seq: 1, time: '2026-12-05T00:00:00.000Z' });
    expect(manifest.last.seq).toBe(250);
    expect(manifest.kid).toBe(signer.kid);
  });

  it('lists archive objects by prefix', async () => {
    const signer = newSigner();
    await writeArchive(target(), `${prefix}/list/a`, records(1), signer);
    await writeArchive(target(), `${prefix}/list/b`, records(1), signer);

    expect(await target().list(`${prefix}/list/`)).toEqual([
      `${prefix}/list/a.jsonl.gz`,
      `${prefix}/list/a.manifest.json`,
      `${prefix}/list/b.jsonl.gz`,
      `${prefix}/list/b.manifest.json`,
    ]);
    expect(await target().list(`${prefix}/none/`)).toEqual([]);
  });

  it('empty archive round trips', async () => {
    const signer = newSigner();
    const manifest = await writeArchive(target(), `${prefix}/empty`, [], signer);

    expect(manifest.first).toEqual({ seq: null, time: null });
    expect(await readArchive(target(), `${prefix}/empty`, lookup(signer))).toEqual([]);
  });

  it('changed data is a hash mismatch', async () => {
    const signer = newSigner();
    const name = `${prefix}/tamper-data`;
    await writeArchive(target(), name, records(10), signer);
    const lines = gunzipSync(await target().get(`${name}.jsonl.gz`)).toString('utf8');
    const forged = lines.replace('"user-3"', '"user-9"');
    await target().put(`${name}.jsonl.gz`, gzipSync(Buffer.from(forged)), 'application/gzip');

    expect(await failureOf(readArchive(target(), name, lookup(signer)))).toBe('hash_mismatch');
  });

  it('edited manifest is a bad signature', async () => {
    const signer = newSigner();
    const name = `${prefix}/tamper-manifest`;
    await writeArchive(target(), name, records(10), signer);
    const manifest = JSON.parse((await target().get(`${name}.manifest.json`)).toString()) as {
      count: number;
    };
    manifest.count = 9;
    await target().put(
      `${name}.manifest.json`,
      Buffer.from(JSON.stringify(manifest)),
      'application/json',
    );

    expect(await failureOf(readArchive(target(), name, lookup(signer)))).toBe('bad_signature');
  });

  it('manifest re-signed by another key is rejected', async () => {
    const signer = newSigner();
    const forger = newSigner();
    const name = `${prefix}/forged`;
    await writeArchive(target(), name, records(3), forger);

    expect(await failureOf(readArchive(target(), name, lookup(signer)))).toBe('unknown_key');
  });

  it('old archives stay readable after key rotation', async () => {
    const before = newSigner();
    const after = newSigner();
    await writeArchive(target(), `${prefix}/rot-old`, records(5), before);
    await writeArchive(target(), `${prefix}/rot-new`, records(5, 6), after);

    const verifier = lookup(after, before);
    expect(await readArchive(target(), `${prefix}/rot-old`, verifier)).toHaveLength(5);
    expect((await readArchiveManifest(target(), `${prefix}/rot-new`, verifier)).kid).toBe(
      after.kid,
    );
  });

  it('missing archive raises not found', async () => {
    await expect(readArchive(target(), `${prefix}/absent`, lookup())).rejects.toBeInstanceOf(
      ArchiveNotFoundError,
    );
  });
}
