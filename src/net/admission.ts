/**
 * src/net/ (the ground layer): IP sets, allow/deny rules, admission and flow windows (here), TLS,
 * the host name.
 *
 * net/admission.ts: exact connection accounting for one service (all its listeners).
 *
 * The service supervisor (main thread) owns one `Admission` per TCP service. A connection thread
 * asks it to admit each accepted connection (`admit(listenerKey, remoteIp)`) and tells it when
 * the connection ends (`release(ticket)`); `openOn(key)` reads one listener's open count (stress
 * mode). Single-threaded, no sockets, O(1)-ish per call.
 *
 * Order of checks (the first that trips names the refusal): the rule decision (`deny_rule`); a
 * login ban of the remote IP (`auth_ban`, asked of `banCheck`, the service's auth/throttle.ts); the
 * listener's maxConnections, maxIntervalConnections per timeInterval (`listener_window`),
 * peerMaxConnections, peerMaxIntervalConnections per peerTimeInterval (`peer_window`); the same
 * four at service level (`service_window` / `peer_window`); the matched allow rule's four, counted
 * over the rule's whole IP set (`rule_window`) and per remote IP inside it (`peer_window`). Checks
 * only read; a refused connection consumes nothing. Only an admitted one is committed everywhere.
 * Service and global rules are shared by all listeners of the service, so their limits count over
 * all of them; each service has its own Admission, so a global rule's limits count per service.
 * Remote IPs are normalized (`::ffff:10.1.2.3` is 10.1.2.3) before per-IP counting. An address
 * that does not parse is refused as `deny_rule` (option 'remoteAddress'); an unknown or disabled
 * listener key as `listener_window` (option 'enable'): both happen only in races with shutdown or
 * reconfiguration.
 *
 * Interval windows are EXACT sliding windows, "at most N new connections in any T ms", kept as a
 * ring of the last N admission times per key: admit while fewer than N are stored or the oldest
 * is at least T old. Chosen over a token bucket because it enforces the option exactly as the
 * seed words it, with no burst allowance or refill rounding to explain, and memory stays bounded:
 * a ring holds at most min(N, admissions within T) numbers and only exists for a finite N.
 *
 * Per-IP state exists only for scopes with a finite peer limit. It is dropped the moment an IP
 * has no open connection and an empty window; an IP whose window is still busy is queued with its
 * expiry time and dropped by a sweep: each admit/release sweeps a couple of expired entries of the
 * scopes it touches (amortized O(1), so a flood from many IPs cannot grow memory without bound),
 * and `sweep()` drains every expired entry (call it from a timer).
 *
 * (The windows and per-IP records are net/flow.ts's `FlowScope`; this file composes the scopes.)
 *
 * `release(ticket)` undoes exactly what `admit` did (a second release is a no-op), so counts
 * never drift. `reconfigure()` applies new limits and rules to NEW connections; open connections
 * stay counted, re-keyed onto listeners (same key) and rules (same id and IP set, else the same
 * level, listener, kind and IP set) that still exist; interval windows of kept keys are kept.
 *
 * Exports: `Admission`, `TripLogger`, types `RefusalReason`, `CloseReason`, `Refusal`,
 * `AdmitResult`, `AdmissionSnapshot`, `WarnLogger`.
 * Throws: the constructor and `reconfigure` throw PosternError('CONFIG_TYPE') for a bad IP set
 * (reconfigure then changes nothing). `admit`/`release`/`countClose` never throw.
 */
import type { ServiceOptions, TcpListenerOptions } from '../config/options.ts';
import { FlowScope, NO_LIMITS } from './flow.ts';
import type { Peer } from './flow.ts';
import { parseIp } from './ipset.ts';
import { compileLevel, ruleSetOf } from './rules.ts';
import type { CompiledLevel, CompiledRule, RuleLevel, RuleKind, RuleSet, RuleSource } from './rules.ts';

export type RefusalReason = 'deny_rule' | 'auth_ban' | 'listener_window' | 'service_window' | 'peer_window' | 'rule_window';
export type CloseReason = 'error_limit' | 'idle_timeout';

export interface Refusal {
  ok: false;
  reason: RefusalReason;
  /** The option that tripped, by its seed name: maxConnections, maxIntervalConnections,
   * peerMaxConnections or peerMaxIntervalConnections; 'priority' for a deny rule (value: its
   * priority); 'authBanThreshold' for a login ban (value: the threshold); 'enable' or 'remoteAddress' (value 0) for an unknown/disabled listener or an
   * unparseable address. */
  option: string;
  /** The option's configured value (the limit that was reached). */
  value: number;
  /** Which level's limit or rule refused. */
  scope: 'listener' | 'service' | 'rule';
  ruleId?: string;
}
export type AdmitResult = { ok: true; ticket: number } | Refusal;

export interface AdmissionSnapshot {
  service: {
    name: string; open: number; accepted: number; refused: Record<RefusalReason, number>;
    closed: Record<CloseReason, number>; trackedPeers: number;
  };
  listeners: Array<{
    key: string; enable: boolean; open: number; accepted: number;
    refused: Record<RefusalReason, number>; closed: Record<CloseReason, number>;
  }>;
  rules: Array<{
    id: string; level: RuleLevel; listener?: string; kind: RuleKind; ipSet: string; priority: number;
    enable: boolean; open: number; matched: number;
    /** Refusals this rule caused: deny_rule (deny rules), rule_window and peer_window (allow rules). */
    refused: Record<RefusalReason, number>;
  }>;
}

const defaultNow = (): number => performance.now();

const zeroRefused = (): Record<RefusalReason, number> =>
  ({ deny_rule: 0, auth_ban: 0, listener_window: 0, service_window: 0, peer_window: 0, rule_window: 0 });
const zeroClosed = (): Record<CloseReason, number> => ({ error_limit: 0, idle_timeout: 0 });

interface ListenerState {
  readonly key: string;
  readonly scope: FlowScope;
  enable: boolean;
  rules: RuleSet;
  live: boolean;
  accepted: number;
  refused: Record<RefusalReason, number>;
  closed: Record<CloseReason, number>;
}

interface RuleState {
  rule: CompiledRule;
  readonly scope: FlowScope;
  live: boolean;
  matched: number;
  refused: Record<RefusalReason, number>;
}

interface Ticket {
  readonly ip: string;
  listener: ListenerState | null;
  lPeer: Peer | null;
  sPeer: Peer | null;
  rule: RuleState | null;
  rPeer: Peer | null;
}

const contentKey = (r: CompiledRule): string => `${r.level}|${r.listener ?? ''}|${r.kind}|${r.set.key}`;

export class Admission {
  readonly serviceName: string;
  private readonly now: () => number;
  private readonly service = new FlowScope(NO_LIMITS);
  private listeners = new Map<string, ListenerState>();
  private rules = new Map<string, RuleState>();
  private readonly tickets = new Map<number, Ticket>();
  private nextTicket = 0;
  private accepted = 0;
  private readonly refused = zeroRefused();
  private readonly closed = zeroClosed();
  /** Whether a (normalized) remote IP is banned from logging in, with the option that banned it
   * (its value is named in the refusal); null: not banned. */
  banCheck: ((ip: string) => { option: string; value: number } | null) | null = null;

  constructor(serviceName: string, options: ServiceOptions, globalRules: RuleSource, now: () => number = defaultNow) {
    this.serviceName = serviceName;
    this.now = now;
    this.reconfigure(options, globalRules);
  }

  admit(listenerKey: string, remoteIp: string): AdmitResult {
    const now = this.now();
    const l = this.listeners.get(listenerKey);
    if (l === undefined || !l.enable) return this.refuse(l ?? null, 'listener_window', 'listener', 'enable', 0);
    const addr = parseIp(remoteIp);
    if (addr === null) return this.refuse(l, 'deny_rule', 'listener', 'remoteAddress', 0);
    const m = l.rules.match(addr);
    const rs = m.rule === null ? null : (this.rules.get(m.rule.id) ?? null);
    if (rs !== null) rs.matched++;
    if (m.decision === 'deny' && m.rule !== null) {
      if (rs !== null) rs.refused.deny_rule++;
      return this.refuse(l, 'deny_rule', 'rule', 'priority', m.rule.priority, m.rule.id);
    }
    const ip = addr.text;
    const ban = this.banCheck?.(ip) ?? null;
    if (ban !== null) return this.refuse(l, 'auth_ban', 'service', ban.option, ban.value);
    let f = l.scope.check(ip, now);
    if (f !== null) return this.refuse(l, f.startsWith('peer') ? 'peer_window' : 'listener_window', 'listener', f, l.scope.limits[f]);
    f = this.service.check(ip, now);
    if (f !== null) return this.refuse(l, f.startsWith('peer') ? 'peer_window' : 'service_window', 'service', f, this.service.limits[f]);
    if (rs !== null) {
      f = rs.scope.check(ip, now);
      if (f !== null) {
        const reason = f.startsWith('peer') ? 'peer_window' : 'rule_window';
        rs.refused[reason]++;
        return this.refuse(l, reason, 'rule', f, rs.scope.limits[f], rs.rule.id);
      }
    }
    const ticket = ++this.nextTicket;
    this.tickets.set(ticket, {
      ip, listener: l, lPeer: l.scope.commit(ip, now), sPeer: this.service.commit(ip, now),
      rule: rs, rPeer: rs === null ? null : rs.scope.commit(ip, now),
    });
    l.accepted++;
    this.accepted++;
    return { ok: true, ticket };
  }

  /** Undo one admission. Returns false (and does nothing) for an unknown or released ticket. */
  release(ticket: number): boolean {
    const t = this.tickets.get(ticket);
    if (t === undefined) return false;
    this.tickets.delete(ticket);
    const now = this.now();
    t.listener?.scope.release(t.lPeer, now);
    this.service.release(t.sPeer, now);
    t.rule?.scope.release(t.rPeer, now);
    return true;
  }

  /** Count a session closed by error control or idle timeout (reported by its thread). */
  countClose(listenerKey: string, reason: CloseReason): void {
    this.closed[reason]++;
    const l = this.listeners.get(listenerKey);
    if (l !== undefined) l.closed[reason]++;
  }

  /** Drop every per-IP record whose window has expired. Cheap; call it from a timer. */
  sweep(): void {
    const now = this.now();
    for (const s of this.scopes()) s.sweep(now, Infinity);
  }

  get openConnections(): number { return this.tickets.size; }

  /** Connections open now on one listener (0 for an unknown key). */
  openOn(listenerKey: string): number { return this.listeners.get(listenerKey)?.scope.open ?? 0; }

  reconfigure(options: ServiceOptions, globalRules: RuleSource): void {
    // Compile everything first: a bad IP set throws before anything changes.
    const serviceLevel = compileLevel('service', options);
    const globalLevel = compileLevel('global', globalRules);
    const listenerLevels = new Map<string, CompiledLevel>();
    for (const lo of options.listeners) listenerLevels.set(lo.key, compileLevel('listener', lo, lo.key));
    const now = this.now();

    this.rules = this.rekeyRules([...listenerLevels.values(), serviceLevel, globalLevel]);
    this.listeners = this.rekeyListeners(options.listeners, (lo) =>
      ruleSetOf([listenerLevels.get(lo.key)!, serviceLevel, globalLevel]));
    this.service.setLimits(options.flow);

    // Rebuild every open count from the open tickets: exact by construction.
    const scopes = this.scopes();
    for (const s of scopes) s.resetOpen();
    for (const t of this.tickets.values()) {
      if (t.listener !== null && !t.listener.live) t.listener = null;
      if (t.rule !== null && !t.rule.live) t.rule = null;
      t.lPeer = t.listener === null ? null : t.listener.scope.attach(t.ip);
      t.sPeer = this.service.attach(t.ip);
      t.rPeer = t.rule === null ? null : t.rule.scope.attach(t.ip);
    }
    for (const s of scopes) s.retireAllIdle(now);
  }

  private rekeyRules(levels: CompiledLevel[]): Map<string, RuleState> {
    const old = this.rules;
    const out = new Map<string, RuleState>();
    const used = new Set<RuleState>();
    const all = levels.flatMap((lv) => lv.rules);
    const pending: CompiledRule[] = [];
    for (const r of all) { // same id, same IP set
      const s = old.get(r.id);
      if (s !== undefined && s.rule.set.key === r.set.key) { used.add(s); out.set(r.id, this.reuseRule(s, r)); }
      else pending.push(r);
    }
    const byContent = new Map<string, RuleState[]>();
    for (const s of old.values()) {
      if (used.has(s)) continue;
      const k = contentKey(s.rule);
      byContent.set(k, [...(byContent.get(k) ?? []), s]);
    }
    for (const r of pending) { // same level, listener, kind and IP set: the rule was moved
      const s = byContent.get(contentKey(r))?.shift();
      if (s !== undefined) { used.add(s); out.set(r.id, this.reuseRule(s, r)); }
      else out.set(r.id, { rule: r, scope: new FlowScope(r.flow ?? NO_LIMITS), live: true, matched: 0, refused: zeroRefused() });
    }
    for (const s of old.values()) if (!used.has(s)) s.live = false;
    return out;
  }

  private reuseRule(s: RuleState, r: CompiledRule): RuleState {
    s.rule = r;
    s.scope.setLimits(r.flow ?? NO_LIMITS);
    return s;
  }

  private rekeyListeners(list: TcpListenerOptions[], rulesOf: (lo: TcpListenerOptions) => RuleSet): Map<string, ListenerState> {
    const out = new Map<string, ListenerState>();
    for (const lo of list) {
      if (out.has(lo.key)) continue; // seed: with duplicates only the first counts
      let s = this.listeners.get(lo.key);
      if (s === undefined) {
        s = { key: lo.key, scope: new FlowScope(lo.flow), enable: lo.enable, rules: rulesOf(lo), live: true,
          accepted: 0, refused: zeroRefused(), closed: zeroClosed() };
      } else {
        s.scope.setLimits(lo.flow);
        s.enable = lo.enable;
        s.rules = rulesOf(lo);
      }
      out.set(lo.key, s);
    }
    for (const s of this.listeners.values()) if (out.get(s.key) !== s) s.live = false;
    return out;
  }

  private scopes(): FlowScope[] {
    return [this.service, ...[...this.listeners.values()].map((l) => l.scope), ...[...this.rules.values()].map((r) => r.scope)];
  }

  private refuse(
    l: ListenerState | null, reason: RefusalReason, scope: Refusal['scope'], option: string, value: number, ruleId?: string,
  ): Refusal {
    this.refused[reason]++;
    if (l !== null) l.refused[reason]++;
    const r: Refusal = { ok: false, reason, option, value, scope };
    if (ruleId !== undefined) r.ruleId = ruleId;
    return r;
  }

  snapshot(): AdmissionSnapshot {
    let trackedPeers = 0;
    for (const s of this.scopes()) trackedPeers += s.peers?.size ?? 0;
    return {
      service: { name: this.serviceName, open: this.service.open, accepted: this.accepted,
        refused: { ...this.refused }, closed: { ...this.closed }, trackedPeers },
      listeners: [...this.listeners.values()].map((l) => ({ key: l.key, enable: l.enable, open: l.scope.open,
        accepted: l.accepted, refused: { ...l.refused }, closed: { ...l.closed } })),
      rules: [...this.rules.values()].map(({ rule: r, scope, matched, refused }) => ({
        id: r.id, level: r.level, ...(r.listener !== undefined ? { listener: r.listener } : {}), kind: r.kind,
        ipSet: r.ipSet, priority: r.priority, enable: r.enable, open: scope.open, matched, refused: { ...refused } })),
    };
  }
}

export interface WarnLogger { warn(obj: Record<string, unknown>, msg: string): void }

/** "A limit that trips says so, once per interval": one warning per service + listener + limit
 * (scope, option, rule) per `intervalMs`; the next warning reports how many were suppressed. */
export class TripLogger {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  private readonly logger: WarnLogger;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(logger: WarnLogger, intervalMs = 60_000, now: () => number = defaultNow) {
    this.logger = logger;
    this.intervalMs = intervalMs;
    this.now = now;
  }

  /** Note one refusal; returns true when it was logged. */
  trip(service: string, listener: string, r: Refusal): boolean {
    const key = `${service}|${listener}|${r.scope}|${r.option}|${r.ruleId ?? ''}`;
    const now = this.now();
    const prev = this.last.get(key);
    if (prev !== undefined && now - prev.at < this.intervalMs) { prev.suppressed++; return false; }
    const suppressed = prev?.suppressed ?? 0;
    this.last.set(key, { at: now, suppressed: 0 });
    const what = r.reason === 'deny_rule'
      ? (r.ruleId !== undefined ? `deny rule ${r.ruleId} refuses connections` : `${r.option} is not usable`)
      : r.reason === 'auth_ban'
        ? `refusing connections from an IP banned for failed logins (${r.option} = ${r.value})`
        : `${r.scope} limit ${r.option} = ${r.value} reached${r.reason === 'peer_window' ? ' for a remote IP' : ''}`
        + `${r.ruleId !== undefined ? ` in rule ${r.ruleId}` : ''}, refusing new connections`;
    this.logger.warn({ service, listener, reason: r.reason, scope: r.scope, option: r.option, value: r.value,
      ...(r.ruleId !== undefined ? { rule: r.ruleId } : {}), suppressed },
    `${service} listener ${listener}: ${what}`);
    return true;
  }
}
