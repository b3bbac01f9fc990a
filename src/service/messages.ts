/**
 * src/service/: the services table (table.ts), the protocol-module contract (protocol.ts), and
 * the envelopes between a service host and its threads (here).
 *
 * service/messages.ts: the envelopes between a service host (main thread) and its connection
 * threads. Plain data, structured clone. One-way messages (`ToThread`, `FromThread`) ride the
 * worker's own port; the thread's calls to its host (`HostCall`: admission, pool tasks, the
 * login gate) ride the port-RPC (actor/rpc.ts) on `ConnThreadData.hostPort`; the host's
 * control-plane calls to the thread (`ConnThreadControl`: reload) ride comlink
 * (actor/control.ts) on `ConnThreadData.controlPort`. Throws nothing.
 */
import type { AllowRuleOptions, DenyRuleOptions, ServiceOptions } from '../config/options.ts';
import type { ActorInfo } from '../actor/types.ts';
import type { ErrorData } from '../errors.ts';
import type { RefusalReason, SessionEndReason } from './protocol.ts';
import type { LogLevel } from '../log.ts';

export interface ConnThreadData {
  threadId: string;
  serviceName: string;
  protocol: string; // module URL
  options: ServiceOptions;
  /** listener key → port actually bound (port 0 resolved by the host). */
  ports: Record<string, number>;
  logLevel: LogLevel;
  loadIntervalMs: number;
  globalRules: GlobalRules;
  /** The thread's MessagePort to the store thread, when the server runs one. */
  storePort?: import('node:worker_threads').MessagePort;
  /** Listener keys in stress mode when the thread starts (later changes: `stress` messages). */
  stress?: string[];
  /** The thread's port-RPC to its host (`HostCall`), added by actors/conn-thread.ts. */
  hostPort?: import('node:worker_threads').MessagePort;
  /** Where the thread exposes `ConnThreadControl` with comlink, added by actors/conn-thread.ts. */
  controlPort?: import('node:worker_threads').MessagePort;
  /** The service keeps web sessions on its host (an HTTP service: its row's transport is
   * 'http'): each session's ctx gets `webSessions`, over `HostCall` `webSession`. */
  webSessions?: boolean;
  /** The service may run admin commands (`SessionContext.admin`, HostCall `admin`). */
  admin?: boolean;
}

/** The host's control-plane calls to a connection thread (comlink, actor/control.ts). */
export interface ConnThreadControl {
  /** A reload: apply these options to new connections; resolves once the listeners that
   * changed are reopened (or reported, with `listenerState`, as unable to open). */
  reconfigure(options: ServiceOptions, ports: Record<string, number>, globalRules: GlobalRules): Promise<void>;
}

/** A connection thread's calls to its service host, and (below) their replies. */
export type HostCall =
  /** Admit a new connection (rules and flow windows are counted on the host): `Admitted`. */
  | { t: 'admit'; listener: string; ip: string }
  /** Run a CPU task on the service's piscina pool: the task's value. */
  | { t: 'task'; task: string; payload: unknown }
  /** Before a login check (auth/throttle.ts): `LoginGated`; `again` (the first answer's `at`)
   * after the wait it said: only whether the IP was banned meanwhile. */
  | { t: 'loginGate'; ip: string; again?: number }
  /** The service's web sessions (http/session-table.ts): create → `WebSession`; get →
   * `WebSession | null`; destroy → nothing. */
  | { t: 'webSession'; op: 'create'; user: string; ip: string }
  | { t: 'webSession'; op: 'get' | 'destroy'; id: string }
  /** An admin command of the registry (admin/commands.ts), run by the server as the control
   * socket runs it: the command's result. Only the rows the table lets (`admin: true`: the
   * CLI and WebAdmin services); any other service's call rejects CONTROL_FORBIDDEN. */
  | { t: 'admin'; verb: string; args: Record<string, unknown> }
  /** (the proxies) Take a connection to a back end if fewer than `limit` are held over the
   * service's threads: true (taken; given back with FromThread `backendSlotFree`) or false. */
  | { t: 'backendSlot'; limit: number };

export type Admitted = { ok: true; ticket: number } | { ok: false; reason: RefusalReason };
export interface LoginGated {
  banned: boolean;
  waitMs: number;
  at: number;
}

export interface GlobalRules {
  allowRules: AllowRuleOptions[];
  denyRules: DenyRuleOptions[];
}

/** Datagrams accepted and refused per UDP listener since the last load report. */
export type UdpCounts = Record<string, { accepted: number; refused: number }>;

export type ToThread =
  | { t: 'drain' }
  | { t: 'stop'; deadlineMs: number }
  | { t: 'fault'; kind: 'crash' | 'oom' | 'hang' }
  /** A listener went over (on) or back under 80 % of its maxConnections: stress mode. */
  | { t: 'stress'; listener: string; on: boolean };

export type FromThread =
  | { t: 'listening'; keys: string[] }
  | { t: 'listenFailed'; error: ErrorData }
  /** A listener (re)opened on reconfigure: null, or why it could not. */
  | { t: 'listenerState'; listener: string; error: ErrorData | null }
  | { t: 'release'; ticket: number; listener: string; reason: SessionEndReason }
  | { t: 'load'; sessions: number; elu: number; actors: ActorInfo[]; udp: UdpCounts; counts?: Record<string, number> }
  | { t: 'drained' }
  /** After a login check let through by the gate. */
  | { t: 'loginResult'; ip: string; ok: boolean | null; user: string; listener: string }
  /** A back-end connection taken with HostCall `backendSlot` is closed. */
  | { t: 'backendSlotFree' };
