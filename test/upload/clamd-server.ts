import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ClamdClient } from '../../src/upload/clamd.js';
import { parseClamdAddress } from '../../src/upload/config.js';
import { unusedPort } from '../helpers/upstream.js';
import { EICAR } from './fixtures.js';
import { createHash } from 'node:crypto';

/** Where Debian's clamav-daemon package installs clamd. */
const CLAMD_PATHS = ['/usr/sbin/clamd', '/usr/bin/clamd'];

/** A clamd started for one test file, with its own config and signature database. */
export interface ClamdServer {
  /** `tcp://127.0.0.1:PORT` */
  address: string;
  port: number;
  stop(): Promise<void>;
}

export function clamdBinary(): string {
  const found = CLAMD_PATHS.find((path) => existsSync(path));
  if (found === undefined) {
    throw new Error(
      'clamd is not installed: run `bash scripts/setup-test-tools.sh` as root (Debian package clamav-daemon)',
    );
  }
  return found;
}

/**
 * Starts clamd in the foreground on a free loopback port with a database of one MD5
 * signature, the EICAR test file's, named `Eicar-Signature`. Resolves once it answers PING.
 * `port` restarts a clamd on a port a previous one used.
 */
export async function startClamd(
  port?: number,
  options: { streamMaxLength?: string } = {},
): Promise<ClamdServer> {
  const binary = clamdBinary();
  const dir = await mkdtemp(join(tmpdir(), 'bwk-clamd-'));
  const database = join(dir, 'db');
  await mkdir(database);
  const md5 = createHash('md5').update(EICAR).digest('hex');
  await writeFile(join(database, 'test.hdb'), `${md5}:${EICAR.length}:Eicar-Signature\n`);
  const listenPort = port ?? (await unusedPort());
  await writeFile(
    join(dir, 'clamd.conf'),
    [
      'Foreground yes',
      `TCPSocket ${listenPort}`,
      'TCPAddr 127.0.0.1',
      `DatabaseDirectory ${database}`,
      `TemporaryDirectory ${dir}`,
      `PidFile ${join(dir, 'clamd.pid')}`,
      `LogFile ${join(dir, 'clamd.log')}`,
      'SelfCheck 0',
      ...(options.streamMaxLength ? [`StreamMaxLength ${options.streamMaxLength}`] : []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(binary, ['-c', join(dir, 'clamd.conf')], { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const client = new ClamdClient(parseClamdAddress(`tcp://127.0.0.1:${listenPort}`)!, 1000);
  const deadline = Date.now() + 60_000;
  while (!(await client.ping())) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw new Error(
        `clamd did not answer PING on 127.0.0.1:${listenPort}; see its log in a rerun`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  return {
    address: `tcp://127.0.0.1:${listenPort}`,
    port: listenPort,
    stop: async () => {
      if (!exited) {
        const done = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await done;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
