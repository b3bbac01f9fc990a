/**
 * http/session-table.ts: the web sessions of one HTTP service, kept by its service host on the
 * main thread (actors/service.ts) and shared by all the service's connection threads over the
 * host RPC (`HostCall` `webSession`, workers/conn-thread.ts): a cookie made on one thread works
 * on every other, and a thread that restarts keeps them. Sessions live in memory only: a server
 * restart logs every user out.
 *
 * A session id is 32 random bytes, base64url (the cookie's value); each session has its own
 * CSRF token, 32 random bytes too. `get` refreshes `lastSeen`, and drops (returning null) a
 * session unused for `sessionIdleTimeoutMs` or older than `sessionActivityTimeoutMs`, however
 * busy. Memory is bounded: at most `maxSessions` live; creating one more evicts the session
 * idle the longest. The map is kept in order of last use (a touched session moves to the end),
 * so the first entry is always the one to evict; `sweep` drops the expired ones (the host calls
 * it on its load tick, at most once per `SWEEP_INTERVAL_MS`).
 *
 * Exports: `WebSessionTable`, `WebSessionLimits`, `webSessionLimits(service)`,
 * `DEFAULT_MAX_SESSIONS`, `SESSION_ID_PATTERN`. Throws nothing.
 */
import { randomBytes } from 'node:crypto';
import type { ServiceOptions } from '../config/options.ts';
import type { SessionTable, WebSession } from '../service/protocol.ts';

export const DEFAULT_MAX_SESSIONS = 100_000;
/** Used when the service's options carry no session timeouts (not an HTTP service's). */
const DEFAULT_IDLE_MS = 30 * 60_000;
const DEFAULT_ACTIVITY_MS = 24 * 3_600_000;
const SWEEP_INTERVAL_MS = 10_000;

/** What a well-formed session id (or CSRF token) looks like: 32 bytes of base64url. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface WebSessionLimits {
  readonly sessionIdleTimeoutMs: number;
  readonly sessionActivityTimeoutMs: number;
  readonly maxSessions: number;
}

const positive = (v: unknown, dflt: number): number => (typeof v === 'number' && v > 0 ? v : dflt);

/** The session limits in a service's options (`service.protocol`, the HTTP options); a field a
 * service's options lack takes its default. */
export function webSessionLimits(service: Pick<ServiceOptions, 'protocol'>): WebSessionLimits {
  const p = service.protocol as unknown as Partial<Record<keyof WebSessionLimits, unknown>>;
  return {
    sessionIdleTimeoutMs: positive(p.sessionIdleTimeoutMs, DEFAULT_IDLE_MS),
    sessionActivityTimeoutMs: positive(p.sessionActivityTimeoutMs, DEFAULT_ACTIVITY_MS),
    maxSessions: positive(p.maxSessions, DEFAULT_MAX_SESSIONS),
  };
}

const token = (): string => randomBytes(32).toString('base64url');

export class WebSessionTable implements SessionTable {
  /** id → session, in order of last use (oldest first). */
  private readonly sessions = new Map<string, WebSession>();
  private readonly limits: () => WebSessionLimits;
  private readonly now: () => number;
  private lastSweep = 0;
  /** Sessions dropped: expired (`get` or `sweep`) and evicted (the bound). */
  readonly dropped = { expired: 0, evicted: 0 };

  /** `limits`: read at each call (they change on reload); `now`: the clock (tests). */
  constructor(limits: () => WebSessionLimits, now: () => number = Date.now) {
    this.limits = limits;
    this.now = now;
  }

  get size(): number {
    return this.sessions.size;
  }

  private expired(s: WebSession, now: number, l: WebSessionLimits): boolean {
    return now - s.lastSeen >= l.sessionIdleTimeoutMs || now - s.createdAt >= l.sessionActivityTimeoutMs;
  }

  create(user: string, ip: string): Promise<WebSession> {
    return Promise.resolve(this.createNow(user, ip));
  }

  createNow(user: string, ip: string): WebSession {
    const l = this.limits();
    while (this.sessions.size >= l.maxSessions) {
      const oldest = this.sessions.keys().next();
      if (oldest.done === true) break;
      this.sessions.delete(oldest.value);
      this.dropped.evicted++;
    }
    const now = this.now();
    let id = token();
    while (this.sessions.has(id)) id = token(); // 256 bits: never in practice
    const s: WebSession = Object.freeze({ id, user, csrf: token(), createdAt: now, lastSeen: now, ip });
    this.sessions.set(id, s);
    return s;
  }

  get(id: string): Promise<WebSession | null> {
    return Promise.resolve(this.getNow(id));
  }

  getNow(id: string): WebSession | null {
    const s = this.sessions.get(id);
    if (s === undefined) return null;
    const now = this.now();
    this.sessions.delete(id);
    if (this.expired(s, now, this.limits())) {
      this.dropped.expired++;
      return null;
    }
    const touched: WebSession = Object.freeze({ ...s, lastSeen: Math.max(now, s.lastSeen) });
    this.sessions.set(id, touched); // to the end: the most recently used
    return touched;
  }

  destroy(id: string): Promise<void> {
    this.sessions.delete(id);
    return Promise.resolve();
  }

  /** Drop the expired sessions; at most once per SWEEP_INTERVAL_MS unless `force`. */
  sweep(force = false): number {
    const now = this.now();
    if (!force && now - this.lastSweep < SWEEP_INTERVAL_MS) return 0;
    this.lastSweep = now;
    const l = this.limits();
    let n = 0;
    for (const [id, s] of this.sessions) {
      if (this.expired(s, now, l)) {
        this.sessions.delete(id);
        n++;
      }
    }
    this.dropped.expired += n;
    return n;
  }
}
