import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Paths that may carry credentials; pino replaces their values with a marker. */
export const REDACTED_PATHS = [
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
  'headers["x-api-key"]',
  'headers["proxy-authorization"]',
  '*.password',
  '*.secret',
  '*.token',
  '*.apiKey',
  'redisUrl',
];

/** Creates the process logger: JSON lines on stdout, or on a destination given by tests. */
export function createLogger(
  options: LoggerOptions = {},
  destination?: pino.DestinationStream,
): Logger {
  const merged: LoggerOptions = {
    name: 'bulwark',
    level: process.env.BULWARK_LOG_LEVEL ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...options,
  };
  return destination ? pino(merged, destination) : pino(merged);
}

/** A logger that discards everything, for library use without logging. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** Removes the password from a connection URL so that it can be logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
