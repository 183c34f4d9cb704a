import { loadConfigFile, validateConfig, type BulwarkConfig } from '../core/config.js';
import { createLogger, type Logger } from '../core/logger.js';
import { Gateway } from '../gateway/server.js';

export interface StartOptions {
  config?: string;
  upstream?: string;
  port?: string;
  host?: string;
}

/** Loads the configuration (a file, or flags for a quick start) and runs the gateway until a signal. */
export async function startCommand(options: StartOptions): Promise<void> {
  const config = resolveConfig(options);
  const logger = createLogger({ level: config.logging.level });
  const gateway = new Gateway(config, { logger });
  // Installed before listening: a SIGTERM that follows the "gateway started" line at once
  // must drain, not kill the process with Node's default handler.
  stopOnSignals(gateway, logger);
  try {
    await gateway.listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const { host, port } = config.listen;
    const reason =
      code === 'EADDRINUSE'
        ? `address ${host}:${port} is already in use; choose another with --port or listen.port`
        : (error as Error).message;
    logger.fatal({ err: error }, `cannot listen: ${reason}`);
    // The log goes to stdout; an operator at a terminal also gets the reason on stderr.
    console.error(`bulwark: cannot listen: ${reason}`);
    await gateway.stop();
    process.exitCode = 1;
  }
}

function resolveConfig(options: StartOptions): BulwarkConfig {
  if (options.config) {
    if (!options.port && !options.host && !options.upstream) return loadConfigFile(options.config);
    return loadConfigFile(options.config, (raw) => applyFlags(raw, options));
  }
  if (!options.upstream) {
    throw new UsageError(
      'either --config FILE or --upstream URL is required, e.g. bulwark start --upstream http://127.0.0.1:3000',
    );
  }
  return validateConfig(
    {
      upstream: options.upstream,
      listen: { host: options.host ?? '127.0.0.1', port: parsePort(options.port ?? '8080') },
      rateLimits: [{ name: 'per-ip', key: 'ip', limit: 600, window: '1m' }],
    },
    'command-line flags',
  );
}

/** Applies --host, --port and --upstream over the file's values, before validation. */
function applyFlags(raw: Record<string, unknown>, options: StartOptions): Record<string, unknown> {
  const listen = raw.listen && typeof raw.listen === 'object' ? { ...raw.listen } : {};
  const out: Record<string, unknown> = { ...raw, listen };
  if (options.host) (listen as Record<string, unknown>).host = options.host;
  if (options.port) (listen as Record<string, unknown>).port = parsePort(options.port);
  if (options.upstream) out.upstream = options.upstream;
  return out;
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`invalid port "${text}": expected an integer from 0 to 65535`);
  }
  return port;
}

function stopOnSignals(gateway: Gateway, logger: Logger): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal received; exiting at once');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'signal received');
    gateway.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export class UsageError extends Error {
  readonly code = 'BWK_ERR_USAGE';
}
