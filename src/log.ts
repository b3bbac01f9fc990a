/**
 * log.ts: pino loggers. One root logger per thread; every actor gets a child logger with its
 * `service` and `actor` (and, for sessions, `conn`) fields.
 *
 * Lines are batched per thread: an info or debug line waits up to BATCH_MS (or until BATCH_BYTES
 * wait) to share one write with the lines after it, because a write per line (a system call
 * and a thread-pool round trip) costs more than the line itself, and busy SMTP writes two per
 * message (the transaction's line, the queue's delivery). A warning or worse is written at
 * once, after whatever waits before it; the thread's exit (normal, process.exit, or an uncaught
 * error) writes what waits, synchronously.
 *
 * A root logger may get a second sink (`attachLogSink`: the Log service's sender,
 * net/log-sink.ts): then its level is the lower of stdout's and the sink's, and each line goes
 * to stdout only at stdout's level (so stdout's lines are exactly those without a sink) and to
 * the sink at the sink's. Child loggers keep the level they were made with.
 *
 * Exports: `createRootLogger(level)`, `Logger` (pino's type), `setRootLevel(level)`,
 * `setLoggerLevel(logger, level)`, `attachLogSink(sink, logger?)`, `LineSink`. Throws nothing.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

let root: Logger | null = null;

/** A second destination of a root logger's lines (net/log-sink.ts): `minLevel` is pino's number. */
export interface LineSink {
  minLevel: number;
  write(line: string): void;
}

/** Each root logger's stdout level and second sink (several servers may share a process). */
interface Tee {
  stdoutLevel: number;
  sink: LineSink | null;
}
const tees = new WeakMap<Logger, Tee>();

/** The thread's root logger, writing JSON lines to stdout (fd 1), or to fd 2 when asked. */
export function createRootLogger(level: LogLevel = 'info', fields: Record<string, unknown> = {}): Logger {
  const envLevel = process.env.POSTERN_LOG_LEVEL as LogLevel | undefined;
  const out = batched(pino.destination({ dest: 1, sync: false }));
  const t: Tee = { stdoutLevel: pino.levels.values[envLevel ?? level] ?? Infinity, sink: null };
  const tee = {
    write(line: string): boolean {
      const sink = t.sink;
      if (sink === null) return out.write(line);
      const n = levelOf(line);
      if (n >= t.stdoutLevel) out.write(line);
      if (n >= sink.minLevel) {
        try {
          sink.write(line);
        } catch {
          // the sink loses the line, never the thread
        }
      }
      return true;
    },
    flush: out.flush,
  };
  root = pino({ level: envLevel ?? level, base: { pid: process.pid, ...fields } }, tee);
  tees.set(root, t);
  return root;
}

/** pino's level of a line it wrote (`{"level":30,…`). */
function levelOf(line: string): number {
  let n = 0;
  for (let i = LEVEL_AT; i < line.length; i++) {
    const c = line.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  return n;
}

/** The logger's level: the lower of stdout's and its sink's. */
function applyLevel(logger: Logger, t: Tee): void {
  const min = Math.min(t.stdoutLevel, t.sink?.minLevel ?? Infinity);
  logger.level = Number.isFinite(min) ? (pino.levels.labels[min] ?? 'info') : 'silent';
}

/** Attach (or, null, detach) the second sink of a root logger made by `createRootLogger`
 * (default: the thread's latest); call again when its minLevel changes. False: `logger` was
 * not made here (nothing attached). */
export function attachLogSink(s: LineSink | null, logger: Logger | null = root): boolean {
  const t = logger === null ? undefined : tees.get(logger);
  if (t === undefined || logger === null) return false;
  t.sink = s;
  applyLevel(logger, t);
  return true;
}

const BATCH_MS = 50;
const BATCH_BYTES = 16 * 1024;
const LEVEL_AT = '{"level":'.length; // pino's lines begin with their level

/** Each batch: write what waits (`sync`: synchronously, at exit). */
const batches = new Set<(sync: boolean) => void>();
let hooked = false;

/** Write what waits when the thread's event loop empties, and synchronously at its exit. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const all = (sync: boolean): void => {
    for (const f of batches) {
      try {
        f(sync);
      } catch {
        // stdout is gone: nothing to write to
      }
    }
  };
  process.on('beforeExit', () => all(false));
  process.on('exit', () => all(true));
}

/** `dest` behind a per-thread batch (see the top of the file). */
function batched(dest: ReturnType<typeof pino.destination>): { write(line: string): boolean; flush(cb?: (e?: Error) => void): void } {
  hookExit();
  let pending = '';
  let timer: NodeJS.Timeout | null = null;
  const out = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (pending === '') return;
    const p = pending;
    pending = '';
    dest.write(p);
  };
  batches.add((sync) => {
    out();
    if (sync) dest.flushSync();
  });
  return {
    write(line: string): boolean {
      pending += line;
      // 52: '4', a warning (40) or worse
      if (pending.length >= BATCH_BYTES || line.charCodeAt(LEVEL_AT) >= 52) out();
      else if (timer === null) {
        timer = setTimeout(out, BATCH_MS);
        timer.unref();
      }
      return true;
    },
    flush(cb?: (e?: Error) => void): void {
      out();
      dest.flush(cb);
    },
  };
}

export function rootLogger(): Logger {
  return root ?? createRootLogger('info');
}

export function setRootLevel(level: LogLevel): void {
  if (process.env.POSTERN_LOG_LEVEL !== undefined) return;
  setLoggerLevel(rootLogger(), level);
}

/** The stdout level of a root logger (its sink's lines are unaffected); a logger not made by
 * `createRootLogger` just takes the level. */
export function setLoggerLevel(logger: Logger, level: LogLevel): void {
  const t = tees.get(logger);
  if (t === undefined) {
    logger.level = level;
    return;
  }
  t.stdoutLevel = pino.levels.values[level] ?? Infinity;
  applyLevel(logger, t);
}
