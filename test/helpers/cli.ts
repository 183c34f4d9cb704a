import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root, where examples/ and src/ live. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
// The CLI runs from source through tsx's loader, so the tests need no build and any working
// directory will do.
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running `bulwark` process with its output collected as it arrives. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliExit>;
  private readonly waiters: Array<() => void> = [];

  constructor(args: readonly string[], cwd = ROOT) {
    this.child = spawn(process.execPath, ['--import', TSX_LOADER, CLI, ...args], {
      cwd,
      env: { ...process.env, BULWARK_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      this.child.once('close', (code, signal) => {
        for (const wake of this.waiters.splice(0)) wake();
        resolve({ code, signal });
      }),
    );
  }

  /** Parses the pino log lines written so far. */
  logs(): Array<Record<string, unknown>> {
    return this.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** Resolves with the first log line whose message is `msg`; rejects if the process exits first. */
  async waitForLog(msg: string): Promise<Record<string, unknown>> {
    for (;;) {
      const found = this.logs().find((line) => line.msg === msg);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `bulwark exited before logging "${msg}"\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`,
        );
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Sends SIGKILL if the process is still running; for test clean-up. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Runs `bulwark` to completion and returns its exit status and output. */
export async function runCli(
  args: readonly string[],
  cwd = ROOT,
): Promise<CliExit & { stdout: string; stderr: string }> {
  const cli = new CliProcess(args, cwd);
  const exit = await cli.exited;
  return { ...exit, stdout: cli.stdout, stderr: cli.stderr };
}
