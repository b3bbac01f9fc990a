/**
 * actor/types.ts: the contracts shared by actors, supervisors and thread children.
 *
 * Anything a supervisor can supervise is a `Child`: an in-thread `Actor`, another `Supervisor`,
 * or a worker-thread wrapper. A child reports its end exactly once through `onExit`; a failure
 * is an exit reason, never an uncaught exception. Throws nothing.
 */
import type { ErrorData } from '../errors.ts';

export type ActorState = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped' | 'failed';

/** Why a child ended. `normal` and `shutdown` are clean; `error` is abnormal. */
export type ExitReason =
  | { kind: 'normal' }
  | { kind: 'shutdown' }
  | { kind: 'error'; error: ErrorData };

/** What the status endpoint shows for one node of the supervision tree. */
export interface ActorInfo {
  id: string;
  kind: string;
  state: ActorState;
  mailboxDepth: number;
  mailboxCapacity: number;
  restarts: number;
  lastError?: ErrorData;
  extra?: Record<string, unknown>;
  children?: ActorInfo[];
}

/** Anything a supervisor can start, watch and stop. */
export interface Child {
  readonly id: string;
  /** Called once when the child ends, for any reason. Several listeners may be registered. */
  onExit(listener: (reason: ExitReason) => void): void;
  /** Ask the child to stop; resolves when it has. After `timeoutMs` it is killed. */
  stop(reason?: ExitReason, timeoutMs?: number): Promise<void>;
  /** End at once, no cleanup (OTP brutal_kill). */
  kill(): void;
  info(): ActorInfo;
}

export type RestartType = 'permanent' | 'transient' | 'temporary';
export type Strategy = 'one_for_one' | 'one_for_all' | 'rest_for_one' | 'simple_one_for_one';
/** ms to wait for a clean stop, `brutal_kill`, or `infinity`. */
export type Shutdown = number | 'brutal_kill' | 'infinity';

export interface ChildSpec<A extends unknown[] = []> {
  id: string;
  /** Start the child. A throw (or rejection) is a start failure: it backs off, or, when the
   * error is not retryable (e.g. NOT_IMPLEMENTED), leaves the child `failed` with no retry. */
  start: (...args: A) => Child | Promise<Child>;
  restart: RestartType;
  shutdown: Shutdown;
  kind?: 'worker' | 'supervisor';
}

/** The logger a supervisor writes to (a pino logger fits). */
export interface SupervisorLog {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface SupervisorOptions {
  id: string;
  kind?: string; // default 'supervisor'
  strategy: Strategy;
  intensity?: number; // default 3 restarts …
  periodMs?: number; // … per 5000 ms
  backoffInitialMs?: number; // default 2000
  backoffMaxMs?: number; // default 60000
  backoffResetMs?: number; // a child that ran this long has its backoff reset; default 60000
  children?: ChildSpec<any>[]; // for simple_one_for_one: exactly one template spec
  log?: SupervisorLog;
  /** The clock of every supervisor timer and time stamp (backoff, its reset, intensity,
   * shutdown timeouts). Default: `performance.now` and the global timers; tests inject one. */
  clock?: SupervisorClock;
}

/** Time as a supervisor reads it and waits on it. */
export interface SupervisorClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** One row of `Supervisor.whichChildren()`. */
export interface ChildStatus {
  id: string;
  state: ActorState;
  child?: Child;
}
