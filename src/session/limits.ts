/**
 * src/session/: the session dispatcher every line protocol runs on (line-session.ts) and the
 * bounds it keeps (here).
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
 * `RateGuard` counts the bytes of one transfer and, at the end of each window, calls `onSlow`
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

export class RateGuard {
  private bytes = 0;
  private skipped = false;
  private timer: NodeJS.Timeout | null;
  private readonly need: number;

  /** `bytesPerSec` 0 (or a window of 0): a guard that never trips. */
  constructor(bytesPerSec: number, windowMs: number, onSlow: () => void, suspended: () => boolean = () => false) {
    this.need = (bytesPerSec * windowMs) / 1000;
    if (bytesPerSec <= 0 || !(windowMs > 0) || !Number.isFinite(windowMs)) {
      this.timer = null;
      return;
    }
    this.timer = setInterval(() => {
      const slow = !this.skipped && !suspended() && this.bytes < this.need;
      this.bytes = 0;
      this.skipped = false;
      if (slow) {
        this.stop();
        onSlow();
      }
    }, windowMs);
    this.timer.unref();
  }

  add(n: number): void {
    this.bytes += n;
  }

  /** The server paused reading in this window (its own backpressure): do not judge it. */
  suspend(): void {
    this.skipped = true;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
