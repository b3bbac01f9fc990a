/**
 * service/protocol.ts: the contract between a connection thread and a protocol module.
 *
 * A protocol module (SMTP, POP3, … or a test fixture) is loaded once per connection thread.
 * The thread owns the socket's admission, idle timeout and accounting; the module owns what
 * is said on the socket. Storage and protocol code never import each other.
 *
 * Exports: `ProtocolModule`, `SessionContext`, `SessionEndReason`, `RefusalReason`.
 * Throws nothing.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../log.ts';
import type { ServiceOptions, TcpListenerOptions, UdpListenerOptions } from '../config/options.ts';
import type { ActorInfo } from '../actor/types.ts';
import type { StoreClient } from '../store/client.ts';
import type { RefusalReason as AdmissionRefusal } from '../net/admission.ts';

/** `auth_ban`: the remote IP is banned for too many failed logins (auth/throttle.ts). */
/** Admission's refusals, and the thread's own while it stops. */
export type RefusalReason = AdmissionRefusal | 'shutting_down';

/** Why a session ended; `error_limit` and `idle_timeout` are counted per listener. */
export type SessionEndReason = 'normal' | 'client_closed' | 'error_limit' | 'idle_timeout' | 'error' | 'shutdown';

/** What a session is given by its connection thread. Call its functions as methods of the
 * context (`ctx.end(…)`, `ctx.loginGate()`): the thread's context is one object per connection
 * with its functions on the prototype (workers/conn-thread.ts `Conn`), so a function taken off
 * it (`const { end } = ctx`) loses the connection it belongs to. */
export interface SessionContext {
  readonly connId: string;
  readonly service: ServiceOptions;
  readonly listener: TcpListenerOptions;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The connection arrived on an implicit-TLS listener (already encrypted). */
  readonly secure: boolean;
  readonly log: Logger;
  /** The store (domains, accounts, mailboxes), over this thread's port to the store thread;
   * null when the server runs without one (some tests). */
  readonly store: StoreClient | null;
  /** Run a CPU task on the service's piscina pool (through the service host). */
  runTask(task: string, payload: unknown, timeoutMs?: number): Promise<unknown>;
  /** The listener is in stress mode (over 80 % of its maxConnections): deadlines shorten to
   * the service's stressTimeout. Absent: never. */
  stressed?(): boolean;
  /** Count one event of the service (e.g. `refused.rcpt.relay_denied`), or `by` of them (bytes):
   * summed across the service's threads by its host, shown on /status and /metrics. With
   * `account` (user@domain, or several: each is counted `by`, the service once), the Report
   * service may also count it per domain and per account (service/report.ts). */
  count(event: string, by?: number, account?: string | readonly string[]): void;
  /**
   * Before every login check (password, SASL response, admin login): waits out the remote IP's
   * failure delay, kept per service across threads (auth/throttle.ts), and resolves true; or
   * resolves false at once when the IP is banned: the login then fails without a check.
   */
  loginGate(): Promise<boolean>;
  /** After a check let through by `loginGate` (exactly once): its outcome (null: it could not
   * be checked, e.g. the store did not answer) and the login name. A failure is logged as a
   * warning with the IP and counted per service. */
  loginResult(ok: boolean | null, user: string): void;
  /** Tell the thread the session is over (it closes the socket if still open). */
  end(reason: SessionEndReason, current?: Socket): void;
  /** The service's web sessions, kept on its host and shared by all its threads (HTTP
   * services: src/http/sessions.ts). Absent for other transports. */
  readonly webSessions?: SessionTable;
  /** Run an admin command of the registry (admin/commands.ts, e.g. 'domain.add',
   * 'config.get') on the server, as the control socket does: its result, or its error
   * (PosternError codes). Present only for the services whose row has `admin: true` (cli,
   * webadmin). The caller has authenticated the admin first. */
  admin?(verb: string, args: Record<string, unknown>): Promise<unknown>;
  /** (the proxies) Take one connection to a back end, counted over all the service's threads on
   * its host (connectionData maxConnections): a function that gives it back (once), or null
   * when `limit` are held already. Absent: the caller counts in its own thread. */
  backendSlot?(limit: number): Promise<(() => void) | null>;
}

/** A web session (kept on the service host, shared by all the service's threads). */
export interface WebSession {
  readonly id: string; // the cookie's value: 32 random bytes, base64url
  readonly user: string; // the account's address
  readonly csrf: string; // the token every state-changing request carries (`_csrf` field or `x-csrf-token` header)
  readonly createdAt: number;
  readonly lastSeen: number;
  readonly ip: string;
}

/** Sessions of one service, on its host (sessions.ts; the thread side rides the host RPC).
 * Bounded: at most `maxSessions` live (the oldest idle one goes first). */
export interface SessionTable {
  create(user: string, ip: string): Promise<WebSession>;
  /** The session, its lastSeen now; null when unknown, idle past sessionIdleTimeout or older
   * than sessionActivityTimeout (then it is gone). */
  get(id: string): Promise<WebSession | null>;
  destroy(id: string): Promise<void>;
}

export interface SessionHandle {
  info(): ActorInfo;
  /** The server is stopping: say the protocol's goodbye and close, at once if the session is
   * idle, else once the transaction in hand (SMTP DATA/BDAT, POP3 RETR, an FTP transfer) is
   * over. `now`: the shutdown deadline has passed; say it at once whatever is in hand. */
  shutdown(now?: boolean): void;
  /** The listener's idleTimeout passed: write the protocol's farewell and end the session. */
  idleTimeout?(): void;
}

export interface ProtocolModule {
  /** The protocol's own short refusal for a connection refused before its session starts;
   * `service`: the thread's current options (the server's `hostname` …). */
  refusal(reason: RefusalReason, service?: ServiceOptions): string;
  /** Start a session on an admitted socket. */
  startSession(socket: Socket, ctx: SessionContext): SessionHandle;
}

export interface DatagramContext {
  readonly service: ServiceOptions;
  readonly listener: UdpListenerOptions;
  readonly log: Logger;
  readonly store: StoreClient | null;
  /** Send a datagram back to the sender. */
  reply(data: Buffer | string): void;
  /** The server's data directory (the Log service's files live under <dataDir>/log/). */
  readonly dataDir?: string;
  /** Count events of the service (e.g. `log.garbage`), as SessionContext.count (shown on /status; absent: not counted). */
  count?(event: string, by?: number): void;
}

/** A UDP service module (log, report): one call per admitted datagram. */
export interface DatagramModule {
  onDatagram(data: Buffer, from: { address: string; port: number }, ctx: DatagramContext): void;
}

export interface WorkerContext {
  readonly threadId: string;
  readonly service: ServiceOptions;
  readonly log: Logger;
  readonly store: StoreClient | null;
  runTask(task: string, payload: unknown, timeoutMs?: number): Promise<unknown>;
  /** Count events of the service, as SessionContext.count (absent: not counted). */
  count?(event: string, by?: number, account?: string | readonly string[]): void;
}

/** A service without listeners (processing, smtpOutgoing, rpop): its threads run a worker
 * loop. `stop` is called when the thread drains or stops; resolve once work in hand is safe. */
export interface WorkerModule {
  startWorker(ctx: WorkerContext): { stop(): Promise<void>; info?(): ActorInfo[] } | Promise<{ stop(): Promise<void>; info?(): ActorInfo[] }>;
}
