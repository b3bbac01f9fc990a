/**
 * log.ts: pino loggers. One root logger per thread; every actor gets a child logger with its
 * `service` and `actor` (and, for sessions, `conn`) fields.
 *
 * Exports: `createRootLogger(level)`, `Logger` (pino's type), `setRootLevel(level)`.
 * Throws nothing.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

let root: Logger | null = null;

/** The thread's root logger, writing JSON lines to stdout (fd 1), or to fd 2 when asked. */
export function createRootLogger(level: LogLevel = 'info', fields: Record<string, unknown> = {}): Logger {
  const envLevel = process.env.POSTERN_LOG_LEVEL as LogLevel | undefined;
  root = pino(
    { level: envLevel ?? level, base: { pid: process.pid, ...fields } },
    pino.destination({ dest: 1, sync: false }),
  );
  return root;
}

export function rootLogger(): Logger {
  return root ?? createRootLogger('info');
}

export function setRootLevel(level: LogLevel): void {
  if (process.env.POSTERN_LOG_LEVEL !== undefined) return;
  rootLogger().level = level;
}
