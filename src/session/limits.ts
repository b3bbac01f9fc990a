/**
 * src/session/: the session dispatcher every line protocol runs on (line-session.ts), the
 * framers that cut its input (framer.ts: the contract; framer-line.ts, framer-imap.ts,
 * framer-telnet.ts), the writer that bounds its output (writer.ts), the DEFLATE stream an
 * upgrade may layer over the socket (compress.ts), and the bounds it keeps (here).
 *
 * session/limits.ts: the bounds every TCP session keeps against hostile clients (the service's
 * `session` options, config/options.ts SessionOptions, resolved once by the config from
 * TCP_OPTIONS, in bytes and ms), and the data-rate guard the data paths share (SMTP DATA/BDAT in
 * session/line-session.ts, FTP STOR in protocols/ftp/data.ts).
 *
 * - `maxPendingOutputBytes`: unsent output past which a session stops reading and dispatching
 *   until the socket drains (a client that does not read cannot grow the thread's heap).
 * - `commandTimeoutMs`: the deadline for one whole command line, from its first byte.
 * - `minDataRateBytesPerSec` over every `dataRateWindowMs` (OFF: no minimum).
 * - `stressTimeoutMs`: the idle and command deadline while the listener is in stress mode
 *   (over STRESS_PERCENT of its maxConnections; the service host decides, actors/service.ts).
 *
 * `RateGuard` counts the bytes of one transfer and, at the end of each window (judged by one
 * timer per thread and window length, within a quarter window), calls `onSlow`
 * once if fewer than rate × window bytes came in it (a stall shorter than a window is fine
 * when the rest of the window makes up for it). `suspend` tells it the server itself is not
 * reading (backpressure): such a window does not count. `stop()` ends it.
 *
 * Exports: `SessionLimits`, `sessionLimits`, `effectiveTimeout`, `RateGuard`, `STRESS_PERCENT`.
 * Throws nothing.
 */
import type { ServiceOptions, SessionOptions } from '../config/options.ts';

/** A listener with more than this percentage of its maxConnections open is in stress mode. */
export const STRESS_PERCENT = 80;

export type SessionLimits = SessionOptions;

/** The service's session bounds (typed and resolved by the config; nothing parsed here). */
export function sessionLimits(service: Pick<ServiceOptions, 'session'>): SessionLimits {
  return service.session;
}

/** A deadline as it applies now: the stress timeout caps it while the listener is stressed. */
export function effectiveTimeout(ms: number, limits: SessionLimits, stressed: boolean): number {
  return stressed ? Math.min(ms, limits.stressTimeoutMs) : ms;
}

/** The guards of one window length: one shared timer per thread, not one per transfer (a
 * message is a transfer, and a timer per message costs more than the check). */
interface Wheel {
  timer: NodeJS.Timeout | null;
  guards: Set<RateGuard>;
}
const wheels = new Map<number, Wheel>();
/** A guard's window is judged at most a quarter window (at most 1 s) after it ends. */
const TICKS_PER_WINDOW = 4;

function join(windowMs: number, g: RateGuard): void {
  let w = wheels.get(windowMs);
  if (w === undefined) {
    w = { timer: null, guards: new Set() };
    wheels.set(windowMs, w);
  }
  w.guards.add(g);
  if (w.timer !== null) return;
  const wheel = w;
  wheel.timer = setInterval(() => {
    if (wheel.guards.size === 0) {
      // idle: the timer goes until the next transfer of this window length
      clearInterval(wheel.timer!);
      wheel.timer = null;
      return;
    }
    const now = performance.now();
    for (const guard of wheel.guards) guard.tick(now);
  }, Math.min(1000, windowMs / TICKS_PER_WINDOW));
  wheel.timer.unref();
}

export class RateGuard {
  private bytes = 0;
  private skipped = false;
  private windowStart = 0;
  private active = false;
  private readonly need: number;
  private readonly windowMs: number;
  private readonly onSlow: () => void;
  private readonly suspended: () => boolean;

  /** `bytesPerSec` 0 (or a window of 0): a guard that never trips. */
  constructor(bytesPerSec: number, windowMs: number, onSlow: () => void, suspended: () => boolean = () => false) {
    this.need = (bytesPerSec * windowMs) / 1000;
    this.windowMs = windowMs;
    this.onSlow = onSlow;
    this.suspended = suspended;
    if (bytesPerSec <= 0 || !(windowMs > 0) || !Number.isFinite(windowMs)) return;
    this.active = true;
    this.windowStart = performance.now();
    join(windowMs, this);
  }

  /** The shared timer: judge the window if it is over. */
  tick(now: number): void {
    if (now - this.windowStart < this.windowMs) return;
    const slow = !this.skipped && !this.suspended() && this.bytes < this.need;
    this.bytes = 0;
    this.skipped = false;
    this.windowStart = now;
    if (slow) {
      this.stop();
      this.onSlow();
    }
  }

  add(n: number): void {
    this.bytes += n;
  }

  /** The server paused reading in this window (its own backpressure): do not judge it. */
  suspend(): void {
    this.skipped = true;
  }

  stop(): void {
    if (!this.active) return;
    this.active = false;
    wheels.get(this.windowMs)?.guards.delete(this);
  }
}
