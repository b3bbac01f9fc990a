/**
 * net/flow.ts: the four flow limits of one admission scope (a listener, a service, an allow rule).
 *
 * `FlowScope` counts open connections in the scope and per remote IP, and keeps exact sliding
 * windows of admission times ("at most N new connections in any T ms") as rings of the last N
 * times (`SlidingWindow`): admit while fewer than N are stored or the oldest is at least T old.
 * Per-IP records exist only when a peer limit is finite; an IP with no open connection is dropped
 * at once if its window is empty, else queued with its expiry and dropped by `sweep()` (each
 * commit/release sweeps a couple of entries, so memory stays bounded under a flood from many IPs).
 * `check()` only reads; `commit()` records an admission; `attach()` counts an open connection
 * without recording a time (used to rebuild counts after reconfiguration).
 *
 * Exports: `FlowScope`, `SlidingWindow`, `NO_LIMITS`, types `FlowOption`, `Peer`. Used by
 * net/admission.ts only. Throws nothing.
 */
import { UNLIMITED } from '../config/options.ts';
import type { FlowLimits } from '../config/options.ts';

export type FlowOption = 'maxConnections' | 'maxIntervalConnections' | 'peerMaxConnections' | 'peerMaxIntervalConnections';

export const NO_LIMITS: FlowLimits = Object.freeze({
  maxConnections: UNLIMITED, maxIntervalConnections: UNLIMITED, timeIntervalMs: 0,
  peerMaxConnections: UNLIMITED, peerMaxIntervalConnections: UNLIMITED, peerTimeIntervalMs: 0,
});
const SWEEP_PER_TOUCH = 2;

/** The last `cap` admission times of one key, as a ring (grows lazily up to cap). */
export class SlidingWindow {
  readonly cap: number;
  private buf: number[];
  private head = 0; // index of the oldest entry once the ring is full; 0 before

  constructor(cap: number, times: number[] = []) {
    this.cap = cap;
    this.buf = times.length > cap ? times.slice(times.length - cap) : times;
  }
  allows(now: number, intervalMs: number): boolean {
    return this.buf.length < this.cap || this.buf[this.head]! <= now - intervalMs;
  }
  record(now: number): void {
    if (this.buf.length < this.cap) this.buf.push(now);
    else { this.buf[this.head] = now; this.head = (this.head + 1) % this.cap; }
  }
  /** True when no stored admission lies within the last `intervalMs`. */
  idle(now: number, intervalMs: number): boolean {
    return this.buf.length === 0 || this.newest() <= now - intervalMs;
  }
  newest(): number {
    const n = this.buf.length;
    return n === 0 ? -Infinity : this.buf[(this.head + n - 1) % n]!;
  }
  /** Times oldest → newest. */
  times(): number[] {
    const n = this.buf.length;
    return Array.from({ length: n }, (_, i) => this.buf[(this.head + i) % n]!);
  }
}

/** Keep a window's history under a new cap; null for an unlimited cap. */
function resized(w: SlidingWindow | null, cap: number): SlidingWindow | null {
  if (!Number.isFinite(cap)) return null;
  if (w !== null && w.cap === cap) return w;
  return new SlidingWindow(cap, w === null ? [] : w.times());
}

export interface Peer {
  readonly ip: string;
  readonly owner: Map<string, Peer>;
  open: number;
  win: SlidingWindow | null;
  queued: boolean;
  deadline: number;
}

/** The four flow limits of one scope (a listener, the service, or one allow rule). */
export class FlowScope {
  limits: FlowLimits = NO_LIMITS;
  open = 0;
  win: SlidingWindow | null = null;
  peers: Map<string, Peer> | null = null;
  private idleQ: Peer[] = [];
  private idleHead = 0;

  constructor(limits: FlowLimits) { this.setLimits(limits); }

  setLimits(l: FlowLimits): void {
    this.limits = l;
    this.win = resized(this.win, l.maxIntervalConnections);
    if (!Number.isFinite(l.peerMaxConnections) && !Number.isFinite(l.peerMaxIntervalConnections)) {
      this.peers = null;
      this.idleQ = [];
      this.idleHead = 0;
      return;
    }
    this.peers ??= new Map();
    for (const p of this.peers.values()) p.win = resized(p.win, l.peerMaxIntervalConnections);
  }

  check(ip: string, now: number): FlowOption | null {
    const l = this.limits;
    if (this.open >= l.maxConnections) return 'maxConnections';
    if (this.win !== null && !this.win.allows(now, l.timeIntervalMs)) return 'maxIntervalConnections';
    const p = this.peers?.get(ip);
    if (p !== undefined) {
      if (p.open >= l.peerMaxConnections) return 'peerMaxConnections';
      if (p.win !== null && !p.win.allows(now, l.peerTimeIntervalMs)) return 'peerMaxIntervalConnections';
    }
    return null;
  }

  /** Count one open connection from `ip` (without recording an admission time). */
  attach(ip: string): Peer | null {
    this.open++;
    if (this.peers === null) return null;
    let p = this.peers.get(ip);
    if (p === undefined) {
      const cap = this.limits.peerMaxIntervalConnections;
      p = { ip, owner: this.peers, open: 0, win: resized(null, cap), queued: false, deadline: 0 };
      this.peers.set(ip, p);
    }
    p.open++;
    return p;
  }

  commit(ip: string, now: number): Peer | null {
    this.win?.record(now);
    const p = this.attach(ip);
    p?.win?.record(now);
    this.sweep(now, SWEEP_PER_TOUCH);
    return p;
  }

  release(p: Peer | null, now: number): void {
    this.open--;
    if (p !== null && --p.open === 0) this.retire(p, now);
    this.sweep(now, SWEEP_PER_TOUCH);
  }

  /** An IP with no open connection: drop it now if its window is empty, else queue it. */
  retire(p: Peer, now: number): void {
    const t = this.limits.peerTimeIntervalMs;
    if (p.win === null || p.win.idle(now, t)) {
      if (p.owner.get(p.ip) === p) p.owner.delete(p.ip);
    } else if (!p.queued) {
      p.queued = true;
      p.deadline = p.win.newest() + t;
      this.idleQ.push(p);
    }
  }

  sweep(now: number, budget: number): void {
    while (budget-- > 0 && this.idleHead < this.idleQ.length) {
      const p = this.idleQ[this.idleHead]!;
      if (p.deadline > now) break;
      this.idleHead++;
      p.queued = false;
      if (p.open === 0 && this.peers === p.owner) this.retire(p, now);
    }
    if (this.idleHead > 64 && this.idleHead * 2 > this.idleQ.length) {
      this.idleQ = this.idleQ.slice(this.idleHead);
      this.idleHead = 0;
    }
  }

  resetOpen(): void {
    this.open = 0;
    if (this.peers !== null) for (const p of this.peers.values()) p.open = 0;
  }

  retireAllIdle(now: number): void {
    if (this.peers !== null) for (const p of [...this.peers.values()]) if (p.open === 0) this.retire(p, now);
  }
}
