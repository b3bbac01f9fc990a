/**
 * auth/throttle.ts: the per-service login-failure tracker (one per service, in its service host
 * on the main thread, beside admission, so it is exact across the service's threads). Every
 * login path of every protocol goes through it: the session asks `gate(ip)` before checking a
 * password (through `SessionContext.loginGate()`), waits the delay it returns, checks, and
 * reports `result(ip, ok)` (through `SessionContext.loginResult()`).
 *
 * - Progressive delay per remote IP: an IP with n failures since its last successful login waits
 *   authFailureDelay × 2^(n−1), at most authFailureMaxDelay, before its check is even started,
 *   successful or not, so a client cannot learn the outcome sooner by hanging up. Once an IP
 *   has failed (n ≥ 1), a check whose outcome is not known yet counts like a failure for the
 *   delay (not for the ban), and its checks are serialised: each starts at least its delay
 *   after the previous one's start, so parallel sessions cannot multiply its guessing rate.
 *   A clean IP (no failure since its last success) is neither delayed nor serialised: its
 *   parallel logins (a client's several connections, users behind one NAT) run at once; an
 *   attacker's first round is at most its open sessions, after which its streak applies.
 * - Temporary ban: authBanThreshold failures from one IP within authFailureWindow ban it for
 *   authBanTime: its login attempts fail without a check (those already waiting for their turn
 *   too: `recheck` after the wait) and admission refuses its new connections (`auth_ban`).
 *   When the ban ends its ban count starts from zero, but not its delay: an IP is clean again
 *   only after a successful login or a quiet authFailureWindow.
 * - Failures are forgotten authFailureWindow after the last one. At most authFailureTrackedIps
 *   addresses are kept (the least recently touched is dropped first, ban or not), and `sweep()`
 *   drops expired records, so memory stays bounded under a flood from many IPs.
 * - A successful login resets the delay (as Dovecot's auth_penalty does: a user who mistyped is
 *   not slowed once in) but not the failures the ban counts, so one valid account cannot be
 *   used to reset the ban threshold for guesses at others.
 *
 * Options (`ServiceOptions.session`, resolved by config/resolve.ts from TCP_OPTIONS):
 * authFailureDelayMs (OFF = no delay), authFailureMaxDelayMs, authFailureWindowMs,
 * authFailureTrackedIps, authBanThreshold (UNLIMITED = no ban), authBanTimeMs.
 *
 * Exports: `LoginThrottle`, `loginThrottleOptions(service)`, types `LoginThrottleOptions`,
 * `LoginGate`, `LoginFigures`. Throws nothing.
 */
import { OFF, UNLIMITED, type Off, type ServiceOptions } from '../config/options.ts';

export interface LoginThrottleOptions {
  /** OFF: no delay. */
  delayMs: number | Off;
  maxDelayMs: number;
  windowMs: number;
  trackedIps: number;
  /** Failures within windowMs that ban an IP; UNLIMITED: never. */
  banThreshold: number;
  banTimeMs: number;
}

export type LoginGate = { banned: true } | { banned: false; waitMs: number; at: number };

/** Totals since start (checked, failed, bans, refused) and now (banned, tracked). */
export interface LoginFigures {
  /** Login checks let through the gate (counted when they may start). */
  checked: number;
  /** Checks that failed (wrong password, unknown account, …). */
  failed: number;
  /** Login attempts refused without a check because the IP was banned. */
  refused: number;
  /** Bans imposed. */
  bans: number;
  /** IPs banned now. */
  banned: number;
  /** IPs tracked now. */
  tracked: number;
}

/** The service's throttle settings (typed, resolved once by the config; renamed only). */
export function loginThrottleOptions(service: Pick<ServiceOptions, 'session'>): LoginThrottleOptions {
  const x = service.session;
  return {
    delayMs: x.authFailureDelayMs,
    maxDelayMs: x.authFailureMaxDelayMs,
    windowMs: x.authFailureWindowMs,
    trackedIps: x.authFailureTrackedIps,
    banThreshold: x.authBanThreshold,
    banTimeMs: x.authBanTimeMs,
  };
}

interface Entry {
  /** Failed checks within the window (the ban counts these). */
  failures: number;
  /** Failed checks since the last success, within the window (the delay grows with these). */
  streak: number;
  /** Checks let through whose outcome is not known yet. */
  pending: number;
  /** Time of the last failure or gate, for the window. */
  last: number;
  /** Start time of the latest check let through (the next starts at least a delay later). */
  lastStart: number;
  /** 0, or the time the ban ends. */
  bannedUntil: number;
  /** When the latest ban began (a check queued before it never runs). */
  bannedAt: number;
}

/** In-flight checks are forgotten once no check of the IP has started for this long (a check
 * takes seconds; a session that hung up, or a thread that died, never reports). */
const PENDING_GRACE_MS = 120_000;

export class LoginThrottle {
  private o: LoginThrottleOptions;
  private readonly now: () => number;
  private readonly ips = new Map<string, Entry>(); // oldest touched first
  private totals = { checked: 0, failed: 0, refused: 0, bans: 0 };

  constructor(o: LoginThrottleOptions, now: () => number = Date.now) {
    this.o = o;
    this.now = now;
  }

  setOptions(o: LoginThrottleOptions): void {
    this.o = o;
    this.evict();
  }

  get options(): LoginThrottleOptions {
    return this.o;
  }

  /** The delay after n failures. */
  delayAfter(n: number): number {
    if (n <= 0 || this.o.delayMs === OFF) return 0;
    return Math.min(this.o.delayMs * 2 ** Math.min(n - 1, 20), this.o.maxDelayMs);
  }

  /** The record of `ip`, with an ended ban, an expired window or stale in-flight checks
   * cleared; undefined if none. */
  private current(ip: string, now: number): Entry | undefined {
    const e = this.ips.get(ip);
    if (e === undefined) return undefined;
    if (e.bannedUntil !== 0 && e.bannedUntil <= now) {
      e.bannedUntil = 0;
      e.failures = 0; // the ban count starts again; the delay (streak) goes on until a success
      e.last = now;
    }
    if (e.bannedUntil === 0 && now - e.last > this.o.windowMs) {
      e.failures = 0;
      e.streak = 0;
    }
    if (e.pending > 0 && now - e.lastStart > PENDING_GRACE_MS) e.pending = 0;
    return e;
  }

  private touch(ip: string, e: Entry): void {
    this.ips.delete(ip);
    this.ips.set(ip, e);
    this.evict();
  }

  private evict(): void {
    while (this.ips.size > this.o.trackedIps) {
      const oldest = this.ips.keys().next().value;
      if (oldest === undefined) break;
      this.ips.delete(oldest);
    }
  }

  private forgetIfClean(ip: string, e: Entry, now: number): void {
    if (e.failures === 0 && e.streak === 0 && e.pending === 0 && e.bannedUntil === 0 && e.lastStart <= now) this.ips.delete(ip);
  }

  /** Before a login check from `ip`: banned, or how long to wait before checking (ms), and the
   * time of this gate (`at`, for `recheck`). A check in flight counts like a failure for the
   * delay (not for the ban) until its `result`. */
  gate(ip: string): LoginGate {
    const now = this.now();
    let e = this.current(ip, now);
    if (e !== undefined && e.bannedUntil > now) {
      this.totals.refused++;
      return { banned: true };
    }
    // a clean IP (no failure since its last success) is neither delayed nor serialised: a mail
    // client's parallel connections, or many users behind one NAT, log in at once
    const streak = e?.streak ?? 0;
    const d = streak === 0 ? 0 : this.delayAfter(streak + (e?.pending ?? 0));
    e ??= { failures: 0, streak: 0, pending: 0, last: now, lastStart: -Infinity, bannedUntil: 0, bannedAt: -Infinity };
    const start = streak === 0 ? now : Math.max(now, e.lastStart) + d;
    e.lastStart = start;
    e.pending++;
    e.last = now;
    this.touch(ip, e);
    if (start === now) this.totals.checked++; // else counted by `recheck` when its turn comes
    return { banned: false, waitMs: start - now, at: now };
  }

  /** After the wait that `gate` (at time `at`) gave: banned since (the check must not run; it
   * is taken back), or go now. */
  recheck(ip: string, at: number): LoginGate {
    const now = this.now();
    const e = this.current(ip, now);
    if (e === undefined || (e.bannedUntil <= now && e.bannedAt < at)) {
      this.totals.checked++;
      return { banned: false, waitMs: 0, at };
    }
    if (at >= e.bannedAt) e.pending = Math.max(0, e.pending - 1); // (the ban voided older ones)
    this.totals.refused++;
    this.forgetIfClean(ip, e, now);
    return { banned: true };
  }

  /** After a check let through by `gate` (`ok` null: it could not be checked, e.g. the store
   * did not answer). Returns the IP's failures in the window and whether this one banned it. */
  result(ip: string, ok: boolean | null): { failures: number; banned: boolean } {
    const now = this.now();
    const e = this.current(ip, now);
    if (e !== undefined && e.bannedUntil === 0) e.pending = Math.max(0, e.pending - 1);
    if (ok !== false) {
      if (e === undefined) return { failures: 0, banned: false };
      if (ok === true) e.streak = 0;
      this.forgetIfClean(ip, e, now);
      return { failures: e.failures, banned: false };
    }
    this.totals.failed++;
    const r = e ?? { failures: 0, streak: 0, pending: 0, last: now, lastStart: now, bannedUntil: 0, bannedAt: -Infinity };
    r.last = now;
    r.failures++;
    r.streak++;
    this.touch(ip, r);
    if (r.bannedUntil === 0 && r.failures >= this.o.banThreshold && this.o.banThreshold !== UNLIMITED) {
      r.bannedUntil = now + this.o.banTimeMs;
      r.bannedAt = now;
      r.lastStart = Math.min(r.lastStart, now); // the queue behind the ban is void
      r.pending = 0;
      this.totals.bans++;
      return { failures: r.failures, banned: true };
    }
    return { failures: r.failures, banned: false };
  }

  /** Whether `ip` is banned now (admission asks this for every new connection). */
  isBanned(ip: string): boolean {
    const e = this.ips.get(ip);
    return e !== undefined && e.bannedUntil > this.now();
  }

  /** Drop records with nothing left to remember (from the oldest touched). Call from a timer. */
  sweep(): void {
    const now = this.now();
    for (const [ip, e] of this.ips) {
      if (now - e.last <= Math.max(this.o.windowMs, this.o.maxDelayMs)) break; // the rest are newer
      if (e.bannedUntil > now || e.lastStart > now) continue;
      this.ips.delete(ip);
    }
  }

  figures(): LoginFigures {
    const now = this.now();
    let banned = 0;
    for (const e of this.ips.values()) if (e.bannedUntil > now) banned++;
    return { ...this.totals, banned, tracked: this.ips.size };
  }
}
