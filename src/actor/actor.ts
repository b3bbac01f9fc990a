/**
 * src/actor/ (the ground layer): the actor runtime: actors, OTP supervisors, remote actors over
 * MessagePorts.
 *
 * actor/actor.ts: an in-thread actor, a bounded mailbox drained one message at a time.
 *
 * Exports: `Actor<M, R>` (implements `Child`), `ActorOptions`, `ActorContext`, `killedError`
 * (the ErrorData of a kill), `attempt` (run a listener, catching), `noop`.
 * Messages are handled strictly in arrival order; an async handler is awaited before the next
 * message. The mailbox never grows past `mailboxSize`: `tell` throws and `ask` rejects with
 * ACTOR_BUSY instead. A handler that throws (or rejects) makes the actor exit with
 * `{ kind: 'error' }`: its asker gets ACTOR_EXITED (the cause attached, the cause's data in
 * `details.error`), every other queued ask gets ACTOR_STOPPED, `terminate` runs, `onExit`
 * listeners run once each. Nothing here throws out of the event loop: no uncaught exception,
 * no unhandled rejection.
 *
 * Throws: `tell` → ACTOR_BUSY | ACTOR_STOPPED. Rejects: `ask` → ACTOR_BUSY | ACTOR_TIMEOUT |
 * ACTOR_STOPPED | ACTOR_EXITED; `Actor.start` → the error `init` threw.
 * Listener and hook exceptions (onExit, onHighWater, onLowWater, terminate) are swallowed.
 */
import { PosternError, errorToData } from '../errors.ts';
import type { ErrorData } from '../errors.ts';
import type { ActorInfo, ActorState, Child, ExitReason } from './types.ts';

export interface ActorContext<M, R = unknown> {
  readonly self: Actor<M, R>;
  /** Stop this actor once the current message is done (default reason: normal). */
  stop(reason?: ExitReason): void;
}

export interface ActorOptions<M, R = unknown> {
  id: string;
  kind?: string;
  /** Most messages the mailbox holds (not counting the one in progress). Default 1000. */
  mailboxSize?: number;
  handler: (msg: M, ctx: ActorContext<M, R>) => R | Promise<R>;
  init?: (ctx: ActorContext<M, R>) => void | Promise<void>;
  terminate?: (reason: ExitReason, ctx: ActorContext<M, R>) => void | Promise<void>;
  /** `onHighWater` fires when the depth reaches `highWater`; `onLowWater` when it is back to
   * floor(highWater / 2). Use them to pause and resume a socket. */
  highWater?: number;
  onHighWater?: () => void;
  onLowWater?: () => void;
  /** Extra fields shown in `info().extra`. */
  extra?: () => Record<string, unknown>;
  // The functions above are called as methods of this object: a class instance whose methods
  // use `this` may be the options (one object per actor instead of a closure per function).
}

interface Entry<M, R> {
  m: M;
  resolve: ((v: R) => void) | undefined; // undefined for tell
  reject: ((e: unknown) => void) | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  done: boolean;
}

const DEFAULT_MAILBOX = 1000;
const DEFAULT_STOP_MS = 5000;
const YIELD_EVERY = 1024; // messages handled before the drain loop yields to I/O

/** The reason a killed actor reports. */
export function killedError(id: string): ErrorData {
  return { code: 'ACTOR_KILLED', message: `actor ${id} killed`, retryable: false };
}

export function noop(): void {}

/** Run `fn`; return what it threw (undefined if nothing). For listeners and hooks. */
export function attempt(fn: () => void): unknown {
  try {
    fn();
  } catch (e) {
    return e ?? new Error('undefined thrown');
  }
  return undefined;
}

function tellEntry<M, R>(m: M): Entry<M, R> {
  return { m, resolve: undefined, reject: undefined, timer: undefined, done: false };
}

/** Answer an ask once (a tell has nobody to answer). */
function settle<M, R>(e: Entry<M, R>, ok: boolean, v: unknown): void {
  if (e.resolve === undefined || e.reject === undefined || e.done) return;
  e.done = true;
  clearTimeout(e.timer);
  if (ok) e.resolve(v as R);
  else e.reject(v);
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as { then?: unknown }).then === 'function';
}

/** A FIFO with amortised O(1) shift: an array and a head index, compacted as it drains. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(v: T): void {
    this.items.push(v);
  }
  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const v = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) [this.items.length, this.head] = [0, 0];
    else if (this.head >= 4096 && this.head * 2 >= this.items.length) [this.items, this.head] = [this.items.slice(this.head), 0];
    return v;
  }
  takeAll(): T[] {
    const all = this.items.slice(this.head) as T[];
    [this.items, this.head] = [[], 0];
    return all;
  }
}

const RESOLVED: Promise<void> = Promise.resolve();
const SHUTDOWN: ExitReason = Object.freeze({ kind: 'shutdown' });

/** An actor's `ActorContext` (one object, its method on the prototype). */
class Context<M, R> implements ActorContext<M, R> {
  readonly self: Actor<M, R>;
  constructor(self: Actor<M, R>) {
    this.self = self;
  }
  stop(reason?: ExitReason): void {
    void this.self.stop(reason ?? { kind: 'normal' });
  }
}

export class Actor<M, R = unknown> implements Child {
  readonly id: string;
  readonly kind: string;
  readonly mailboxSize: number;
  /** Resolves once `init` is done; rejects with what `init` threw (the actor then exits). */
  readonly ready: Promise<void>;

  // (an idle session's actor is one of 10,000 per server: what is not needed until the first
  // message, the first listener or the stop is made then: the context, the drain closure, the
  // listeners' array, the exit promise)
  private readonly opts: ActorOptions<M, R>;
  private ctxObj: ActorContext<M, R> | undefined = undefined;
  private readonly queue = new Fifo<Entry<M, R>>();
  private exitListeners: Array<(reason: ExitReason) => void> | undefined = undefined;
  private readonly highWater: number;
  private readonly lowWater: number;
  private st: ActorState = 'starting';
  private initializing = true;
  private draining = false;
  private terminating = false;
  private high = false;
  private current: Entry<M, R> | undefined = undefined;
  private stopReason: ExitReason = SHUTDOWN;
  private exitReason: ExitReason | undefined = undefined;
  private lastError: ErrorData | undefined = undefined;
  private done: PromiseWithResolvers<void> | undefined = undefined;
  private drainFn: (() => void) | undefined = undefined;

  /** Construct and wait for `init`; rejects (and the actor has exited) if `init` throws. */
  static async start<M, R = unknown>(opts: ActorOptions<M, R>): Promise<Actor<M, R>> {
    const a = new Actor<M, R>(opts);
    await a.ready;
    return a;
  }

  constructor(opts: ActorOptions<M, R>) {
    this.opts = opts;
    this.id = opts.id;
    this.kind = opts.kind ?? 'actor';
    this.mailboxSize = Math.max(1, opts.mailboxSize ?? DEFAULT_MAILBOX);
    this.highWater = opts.highWater ?? Infinity;
    this.lowWater = Math.floor(this.highWater / 2);
    if (opts.init === undefined) {
      // nothing to wait for: running at once (as runInit would be, without a promise)
      this.initializing = false;
      this.st = 'running';
      this.ready = RESOLVED;
    } else {
      this.ready = this.runInit();
      this.ready.catch(noop);
    }
  }

  private get ctx(): ActorContext<M, R> {
    return (this.ctxObj ??= new Context(this));
  }

  private get exited(): PromiseWithResolvers<void> {
    return (this.done ??= Promise.withResolvers<void>());
  }

  get state(): ActorState {
    return this.st;
  }

  /** Messages waiting in the mailbox (not counting the one in progress). */
  get depth(): number {
    return this.queue.length;
  }

  /** Why the actor ended, once it has. */
  get exit(): ExitReason | undefined {
    return this.exitReason;
  }

  /** Enqueue a message. Throws ACTOR_BUSY when the mailbox is full, ACTOR_STOPPED after stop. */
  tell(msg: M): void {
    if (this.st === 'stopping' || this.st === 'stopped') {
      throw new PosternError('ACTOR_STOPPED', `actor ${this.id} is ${this.st}`, { actor: this.id });
    }
    if (this.queue.length >= this.mailboxSize) {
      throw new PosternError('ACTOR_BUSY', `actor ${this.id} mailbox full`, { actor: this.id, capacity: this.mailboxSize });
    }
    this.enqueue(tellEntry(msg));
  }

  /** Like `tell`, but reports a full or stopped mailbox as `false`. */
  tryTell(msg: M): boolean {
    if (this.st === 'stopping' || this.st === 'stopped' || this.queue.length >= this.mailboxSize) return false;
    this.enqueue(tellEntry(msg));
    return true;
  }

  /** Enqueue and resolve with the handler's return value. `timeoutMs = Infinity` waits forever. */
  ask(msg: M, timeoutMs: number = DEFAULT_STOP_MS): Promise<R> {
    if (this.st === 'stopping' || this.st === 'stopped') {
      return Promise.reject(new PosternError('ACTOR_STOPPED', `actor ${this.id} is ${this.st}`, { actor: this.id }));
    }
    if (this.queue.length >= this.mailboxSize) {
      return Promise.reject(new PosternError('ACTOR_BUSY', `actor ${this.id} mailbox full`, { actor: this.id, capacity: this.mailboxSize }));
    }
    return new Promise<R>((resolve, reject) => {
      const e: Entry<M, R> = { m: msg, resolve, reject, timer: undefined, done: false };
      if (Number.isFinite(timeoutMs)) {
        e.timer = setTimeout(() => {
          if (e.done) return;
          e.done = true;
          reject(new PosternError('ACTOR_TIMEOUT', `actor ${this.id} did not reply in ${timeoutMs} ms`, { actor: this.id, timeoutMs }));
        }, timeoutMs);
      }
      this.enqueue(e);
    });
  }

  onExit(listener: (reason: ExitReason) => void): void {
    const reason = this.exitReason;
    if (reason === undefined) {
      if (this.exitListeners === undefined) this.exitListeners = [listener];
      else this.exitListeners.push(listener);
    }
    else queueMicrotask(() => attempt(() => listener(reason))); // late listeners are told too
  }

  /** Stop accepting, finish the message in progress, drop the queue (asks → ACTOR_STOPPED),
   * run `terminate`, exit with `reason`. Killed if not done within `timeoutMs`. */
  stop(reason: ExitReason = { kind: 'shutdown' }, timeoutMs: number = DEFAULT_STOP_MS): Promise<void> {
    if (this.st === 'stopped') return this.exited.promise;
    if (this.st !== 'stopping') {
      this.st = 'stopping';
      this.stopReason = reason;
      this.rejectQueued();
      if (this.current === undefined && !this.initializing && !this.draining) void this.finishStop();
      // else: the drain loop (or init) calls finishStop when the message in progress is done
    }
    if (Number.isFinite(timeoutMs)) {
      const t = setTimeout(() => this.kill(), Math.max(0, timeoutMs));
      void this.exited.promise.then(() => clearTimeout(t));
    }
    return this.exited.promise;
  }

  /** Exit now: no `terminate`, reason `{ kind: 'error', error: ACTOR_KILLED }`. */
  kill(): void {
    this.exitWith({ kind: 'error', error: killedError(this.id) });
  }

  info(): ActorInfo {
    const { id, kind, st: state, mailboxSize: mailboxCapacity, lastError, opts } = this;
    const i: ActorInfo = { id, kind, state, mailboxDepth: this.queue.length, mailboxCapacity, restarts: 0 };
    if (lastError !== undefined) i.lastError = lastError;
    if (opts.extra !== undefined) attempt(() => (i.extra = opts.extra!())); // info() never throws
    return i;
  }

  // ---- internals ----

  private async runInit(): Promise<void> {
    try {
      if (this.opts.init !== undefined) await this.opts.init(this.ctx);
    } catch (err) {
      this.initializing = false;
      if (this.st !== 'stopped') {
        const reason: ExitReason = { kind: 'error', error: errorToData(err) };
        this.exitWith(reason); // as in OTP, terminate does not run when init failed
      }
      throw err;
    }
    this.initializing = false;
    if (this.st === 'starting') {
      this.st = 'running';
      if (this.queue.length > 0) this.schedule();
    } else if (this.st === 'stopping') {
      void this.finishStop();
    }
  }

  private enqueue(e: Entry<M, R>): void {
    this.queue.push(e);
    if (!this.high && this.queue.length >= this.highWater) {
      this.high = true;
      if (this.opts.onHighWater !== undefined) attempt(() => this.opts.onHighWater!());
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.draining || this.st !== 'running') return;
    this.draining = true;
    queueMicrotask((this.drainFn ??= (): void => void this.drain()));
  }

  /** The one loop that runs handlers. Never rejects. */
  private async drain(): Promise<void> {
    let n = 0;
    try {
      while (this.st === 'running') {
        const e = this.queue.shift();
        if (e === undefined) break;
        if (this.high && this.queue.length <= this.lowWater) {
          this.high = false;
          if (this.opts.onLowWater !== undefined) attempt(() => this.opts.onLowWater!());
        }
        this.current = e;
        let r: R;
        try {
          const out = this.opts.handler(e.m, this.ctx);
          r = isThenable(out) ? await out : out;
        } catch (err) {
          if (this.current === e) {
            this.current = undefined;
            await this.fail(err, e);
          }
          return;
        }
        if (this.current !== e) return; // killed while the handler ran
        this.current = undefined;
        settle(e, true, r);
        if (++n >= YIELD_EVERY) {
          n = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
    } catch {
      // unreachable: everything above is guarded; kept so drain() can never reject
    } finally {
      this.draining = false;
    }
    if (this.st === 'stopping') void this.finishStop();
    else if (this.st === 'running' && this.queue.length > 0) this.schedule();
  }

  private async fail(err: unknown, e: Entry<M, R>): Promise<void> {
    const data = errorToData(err);
    const reason: ExitReason = { kind: 'error', error: data };
    settle(e, false, new PosternError('ACTOR_EXITED', `actor ${this.id} failed: ${data.message}`, { actor: this.id, error: data }, { cause: err }));
    if (this.st === 'stopped' || this.terminating) return;
    this.st = 'stopping';
    this.terminating = true;
    this.rejectQueued();
    await this.runTerminate(reason);
    this.exitWith(reason);
  }

  private async finishStop(): Promise<void> {
    if (this.terminating || this.st === 'stopped') return;
    this.terminating = true;
    const reason = this.stopReason;
    await this.runTerminate(reason);
    this.exitWith(reason);
  }

  private async runTerminate(reason: ExitReason): Promise<void> {
    if (this.opts.terminate === undefined) return;
    try {
      await this.opts.terminate(reason, this.ctx);
    } catch {
      // a failing terminate does not change the exit reason
    }
  }

  private rejectQueued(): void {
    const all = this.queue.takeAll();
    for (const e of all) this.rejectStopped(e);
    this.high = false;
  }

  private rejectStopped(e: Entry<M, R>): void {
    if (e.reject !== undefined && !e.done) settle(e, false, new PosternError('ACTOR_STOPPED', `actor ${this.id} stopped`, { actor: this.id }));
  }

  private exitWith(reason: ExitReason): void {
    if (this.exitReason !== undefined) return;
    this.exitReason = reason;
    this.st = 'stopped';
    if (reason.kind === 'error') this.lastError = reason.error;
    if (this.current !== undefined) {
      this.rejectStopped(this.current);
      this.current = undefined;
    }
    this.rejectQueued();
    const listeners = this.exitListeners ?? [];
    this.exitListeners = undefined;
    for (const l of listeners) attempt(() => l(reason)); // a throwing listener must not break the actor
    this.exited.resolve();
  }
}
