/**
 * status/types.ts: the document `GET /status` returns and `/metrics` is derived from.
 * Throws nothing.
 */
import type { ActorInfo } from '../actor/types.ts';

export interface ListenerStatus {
  key: string; // 'host:port'
  transport: 'tcp' | 'udp';
  enable: boolean;
  listening: boolean;
  port?: number; // the port actually bound (a listener written with port 0 gets one at start)
  open: number; // connections open now
  accepted: number; // total admitted since start
  /** refusals by reason: deny_rule, listener_window, peer_window, rule_window, error_limit, idle_timeout … */
  refused: Record<string, number>;
  /** TCP: over 80 % of maxConnections open, so idle and command deadlines are shortened. */
  stress?: boolean;
  /** Why it is not listening (it could not open: port taken, TLS files unusable, …). */
  error?: { code: string; message: string };
}

export interface RuleStatus {
  level: 'global' | 'service' | 'listener';
  listener?: string;
  kind: 'allow' | 'deny';
  ipSet: string;
  priority: number;
  open: number;
  matched: number;
  refused: Record<string, number>;
}

export interface ServiceStatus {
  name: string;
  state: string; // running | stopped | failed | backoff | starting | stopping
  implemented: boolean;
  lastError?: { code: string; message: string };
  connThreads: { min: number; max: number; current: number };
  listeners: ListenerStatus[];
  rules: RuleStatus[];
  openConnections: number;
  /** Login checks and failures since start, bans (auth/throttle.ts); TCP services only. */
  logins?: { checked: number; failed: number; refused: number; bans: number; banned: number; tracked: number };
  pool: { threads: number; queued: number; completed: number };
  /** Events the sessions counted since the service started (`refused.<stage>.<reason>` …). */
  counters?: Record<string, number>;
}

export interface StatusDoc {
  server: { version: string; pid: number; uptimeSec: number; dataDir: string; node: string };
  tree: ActorInfo;
  services: ServiceStatus[];
  /** The status endpoint's own connections (its limits: Server `statusControl`). */
  statusListener?: ListenerStatus;
}
