/**
 * actor/supervisor.ts: an OTP-style supervisor of `Child`ren (actors, supervisors, threads).
 *
 * Exports: `Supervisor` (itself a `Child`, so trees nest); re-exports `SupervisorOptions`,
 * `SupervisorLog`, `ChildStatus`. As supervisor.erl: restart types permanent / transient /
 * temporary; one_for_one, one_for_all, rest_for_one (siblings stopped in reverse start order
 * per their `shutdown`, restarted in start order), simple_one_for_one (one template,
 * `startChild(...args)`, ids `${template.id}-${n}`). Over `intensity` restarts in `periodMs`:
 * all children stop and the supervisor exits `{ kind: 'error', error: SUPERVISOR_INTENSITY }`
 * for its parent to see. A retryable start failure backs off (doubling, capped, not counted
 * for intensity); a non-retryable one leaves the child `failed`. Structural work runs one
 * operation at a time (a child's `start` must not await its own supervisor); `kill()` is sync.
 *
 * Throws: constructor → CHILD_EXISTS | INTERNAL (simple_one_for_one needs one spec). Rejects:
 * `startChild` / `restartChild` → CHILD_EXISTS | CHILD_NOT_FOUND | ACTOR_STOPPED | the start
 * error (the child stays, in backoff or failed; simple_one_for_one drops it); `terminateChild`
 * / `deleteChild` → CHILD_NOT_FOUND. `start()` never rejects for a child: see `info()`, log.
 * Every timer and time stamp goes through `opts.clock` (default: performance.now and the global
 * timers), so tests can drive backoff, intensity and shutdown timeouts without waiting.
 */
import { PosternError, errorToData } from '../errors.ts';
import type { ErrorData } from '../errors.ts';
import { attempt, killedError, noop } from './actor.ts';
import type { ActorInfo, ActorState, Child, ChildSpec, ChildStatus, ExitReason, Strategy, SupervisorClock, SupervisorLog, SupervisorOptions } from './types.ts';

export type { ChildStatus, SupervisorClock, SupervisorLog, SupervisorOptions } from './types.ts';

interface Rec {
  id: string;
  spec: ChildSpec<any>;
  args: unknown[];
  child: Child | undefined;
  exited: Promise<void>; // resolves when `child` exits
  state: ActorState;
  gen: number; // bumped at every start attempt and stop: stale exits and retries are ignored
  restarts: number;
  failures: number; // consecutive start failures: the backoff exponent
  lastError: ErrorData | undefined;
  thrown: unknown; // what the last failed start threw
  startedAt: number;
  timer: unknown; // the backoff retry (a handle of the clock)
}

const KILL_GRACE_MS = 1000; // how long to wait for an exit after kill()

const realClock: SupervisorClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout> | undefined),
};

export class Supervisor implements Child {
  readonly id: string;
  readonly kind: string;
  readonly strategy: Strategy;
  private readonly cfg: { intensity: number; periodMs: number; initialMs: number; maxMs: number; resetMs: number };
  private readonly log: SupervisorLog | undefined;
  private readonly clock: SupervisorClock;
  private readonly template: ChildSpec<any> | undefined;
  private readonly recs = new Map<string, Rec>(); // insertion order = start order
  private readonly restartTimes: number[] = [];
  private readonly exitListeners: Array<(reason: ExitReason) => void> = [];
  private readonly done = Promise.withResolvers<void>();
  private chain: Promise<void> = Promise.resolve();
  private pendingOps = 0;
  private seq = 0;
  private st: ActorState = 'starting';
  private started = false;
  private stopping = false;
  private exitReason: ExitReason | undefined = undefined;
  private lastError: ErrorData | undefined = undefined;

  constructor(opts: SupervisorOptions) {
    this.id = opts.id;
    this.kind = opts.kind ?? 'supervisor';
    this.strategy = opts.strategy;
    this.log = opts.log;
    this.clock = opts.clock ?? realClock;
    const [initialMs, maxMs, resetMs] = [opts.backoffInitialMs ?? 2000, opts.backoffMaxMs ?? 60_000, opts.backoffResetMs ?? 60_000];
    this.cfg = { intensity: opts.intensity ?? 3, periodMs: opts.periodMs ?? 5000, initialMs, maxMs, resetMs };
    const specs = opts.children ?? [];
    if (this.strategy === 'simple_one_for_one') {
      if (specs.length !== 1) throw new PosternError('INTERNAL', `supervisor ${this.id}: simple_one_for_one needs exactly one child spec`);
      this.template = specs[0];
      return;
    }
    for (const spec of specs) {
      if (this.recs.has(spec.id)) throw this.err('CHILD_EXISTS', `child ${spec.id} already exists`, spec.id);
      this.recs.set(spec.id, newRec(spec.id, spec, []));
    }
  }

  get state(): ActorState {
    return this.st;
  }

  /** Start the children in order (none for simple_one_for_one). Never rejects for a child. */
  start(): Promise<void> {
    if (this.started) return Promise.resolve();
    this.started = true;
    return this.background(async () => {
      for (const rec of [...this.recs.values()]) {
        if (this.stopping) return;
        if (rec.child === undefined && rec.state === 'stopped') await this.startRec(rec, true); // not already added by startChild
      }
      if (!this.stopping) this.st = 'running';
    }, 'start');
  }

  /** Add and start a child (`spec`), or for simple_one_for_one start one with `args`. */
  startChild(spec: ChildSpec<any>): Promise<Child>;
  startChild(...args: unknown[]): Promise<Child>;
  startChild(...args: unknown[]): Promise<Child> {
    return this.enqueue(async () => {
      if (this.stopping) throw this.err('ACTOR_STOPPED', `supervisor ${this.id} is stopping`);
      const t = this.template;
      const spec = t ?? (args[0] as ChildSpec<any>);
      const id = t !== undefined ? `${t.id}-${++this.seq}` : spec.id;
      if (this.recs.has(id)) throw this.err('CHILD_EXISTS', `child ${id} already exists`, id);
      const rec = newRec(id, spec, t !== undefined ? args : []);
      this.recs.set(id, rec);
      const child = await this.startRec(rec, t === undefined);
      if (child !== undefined) return child;
      if (t !== undefined) this.recs.delete(id);
      throw rec.thrown;
    });
  }

  /** Stop a child (honouring its shutdown); its spec stays (simple_one_for_one: removed). */
  terminateChild(id: string): Promise<void> {
    return this.remove(id, this.template !== undefined);
  }

  /** Stop the child if it runs, start it again (backoff reset; not counted for intensity). */
  restartChild(id: string): Promise<Child> {
    return this.enqueue(async () => {
      const rec = this.get(id);
      if (this.stopping) throw this.err('ACTOR_STOPPED', `supervisor ${this.id} is stopping`);
      await this.shutdownRec(rec);
      rec.failures = 0;
      rec.restarts++;
      const child = await this.startRec(rec, this.template === undefined);
      if (child === undefined) throw rec.thrown;
      return child;
    });
  }

  /** Stop the child if it runs and forget its spec. */
  deleteChild(id: string): Promise<void> {
    return this.remove(id, true);
  }

  whichChildren(): ChildStatus[] {
    return [...this.recs.values()].map((r) => (r.child !== undefined ? { id: r.id, state: r.state, child: r.child } : { id: r.id, state: r.state }));
  }

  onExit(listener: (reason: ExitReason) => void): void {
    const reason = this.exitReason;
    if (reason !== undefined) queueMicrotask(() => attempt(() => listener(reason)));
    else this.exitListeners.push(listener);
  }

  /** Stop every child (reverse start order, each per its shutdown), then exit with `reason`.
   * Killed if not done within `timeoutMs` (default: wait). */
  stop(reason: ExitReason = { kind: 'shutdown' }, timeoutMs: number = Infinity): Promise<void> {
    if (this.exitReason === undefined && !this.stopping) {
      this.beginStopping();
      void this.background(() => this.shutdownAll().then(() => this.exitWith(reason)), 'stop');
    }
    if (this.exitReason === undefined && Number.isFinite(timeoutMs)) {
      const t = this.clock.setTimeout(() => this.kill(), Math.max(0, timeoutMs));
      void this.done.promise.then(() => this.clock.clearTimeout(t));
    }
    return this.done.promise;
  }

  /** Kill every child at once (reverse order) and exit with ACTOR_KILLED. */
  kill(): void {
    if (this.exitReason !== undefined) return;
    this.beginStopping();
    for (const rec of [...this.recs.values()].reverse()) {
      const child = rec.child;
      rec.gen++;
      rec.child = undefined;
      if (rec.state !== 'failed') rec.state = 'stopped';
      const e = attempt(() => child?.kill());
      if (e !== undefined) this.log?.error({ supervisor: this.id, child: rec.id, err: e }, 'child kill threw');
    }
    this.exitWith({ kind: 'error', error: killedError(this.id) });
  }

  info(): ActorInfo {
    const children = [...this.recs.values()].map((r) => childInfo(r));
    // mailboxDepth: structural operations queued or running
    const i: ActorInfo = { id: this.id, kind: this.kind, state: this.st, mailboxDepth: this.pendingOps, mailboxCapacity: 0, restarts: 0 };
    Object.assign(i, { extra: { strategy: this.strategy }, children });
    if (this.lastError !== undefined) i.lastError = this.lastError;
    return i;
  }

  // ---- internals ----

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    this.pendingOps++;
    const p = this.chain.then(op).finally(() => void this.pendingOps--);
    this.chain = p.then(noop, noop);
    return p;
  }

  /** An internal operation: its failure is logged, never an unhandled rejection. */
  private background(op: () => Promise<void>, what: string, child?: string): Promise<void> {
    return this.enqueue(op).catch((e: unknown) => this.log?.error({ supervisor: this.id, child, err: e }, `supervisor ${what} failed`));
  }

  private err(code: 'CHILD_EXISTS' | 'CHILD_NOT_FOUND' | 'ACTOR_STOPPED', message: string, child?: string): PosternError {
    return new PosternError(code, message, child === undefined ? { supervisor: this.id } : { supervisor: this.id, child });
  }

  private remove(id: string, forget: boolean): Promise<void> {
    return this.enqueue(async () => {
      await this.shutdownRec(this.get(id));
      if (forget) this.recs.delete(id);
    });
  }

  private get(id: string): Rec {
    const rec = this.recs.get(id);
    if (rec === undefined) throw this.err('CHILD_NOT_FOUND', `no child ${id}`, id);
    return rec;
  }

  /** Start one child; on failure back off (or mark it failed) and return undefined. */
  private async startRec(rec: Rec, backoff: boolean): Promise<Child | undefined> {
    const gen = ++rec.gen;
    this.clearTimer(rec);
    rec.state = 'starting';
    let child: Child;
    try {
      child = await rec.spec.start(...rec.args);
    } catch (err) {
      rec.thrown = err;
      if (rec.gen === gen && !this.stopping) this.startFailed(rec, gen, err, backoff);
      return undefined;
    }
    if (this.stopping || rec.gen !== gen || this.recs.get(rec.id) !== rec) {
      rec.thrown = this.err('ACTOR_STOPPED', `supervisor ${this.id} is stopping`, rec.id);
      attempt(() => child.kill()); // it started after we stopped wanting it
      return undefined;
    }
    const exited = Promise.withResolvers<void>();
    Object.assign(rec, { child, exited: exited.promise, state: 'running', startedAt: this.clock.now() });
    child.onExit((reason) => (exited.resolve(), this.childExited(rec, gen, reason)));
    this.log?.info({ supervisor: this.id, child: rec.id }, 'child started');
    return child;
  }

  private startFailed(rec: Rec, gen: number, err: unknown, backoff: boolean): void {
    const data = errorToData(err);
    rec.lastError = data;
    if (!data.retryable || !backoff) {
      rec.state = 'failed';
      this.log?.error({ supervisor: this.id, child: rec.id, error: data }, 'child failed to start: not retrying');
      return;
    }
    rec.failures++;
    const delay = Math.min(this.cfg.initialMs * 2 ** (rec.failures - 1), this.cfg.maxMs);
    rec.state = 'backoff';
    rec.timer = this.clock.setTimeout(() => {
      rec.timer = undefined;
      void this.background(async () => {
        if (this.stopping || rec.gen !== gen || rec.state !== 'backoff' || this.recs.get(rec.id) !== rec) return; // superseded
        await this.startRec(rec, true);
      }, 'retry', rec.id);
    }, delay);
    (rec.timer as { unref?: () => void } | undefined)?.unref?.();
    this.log?.warn({ supervisor: this.id, child: rec.id, error: data, delayMs: delay }, 'child failed to start: backing off');
  }

  /** Synchronous part of a child exit: record it, then queue the restart decision. */
  private childExited(rec: Rec, gen: number, reason: ExitReason): void {
    if (rec.gen !== gen || rec.child === undefined || rec.state === 'stopping') return; // stale, or stopped on purpose
    rec.child = undefined;
    rec.state = 'stopped';
    if (reason.kind === 'error') rec.lastError = reason.error;
    if (this.clock.now() - rec.startedAt >= this.cfg.resetMs) rec.failures = 0;
    if (!this.stopping) void this.background(() => this.handleExit(rec, gen, reason), 'restart', rec.id);
  }

  private async handleExit(rec: Rec, gen: number, reason: ExitReason): Promise<void> {
    if (this.stopping || rec.gen !== gen || this.recs.get(rec.id) !== rec) return;
    const type = rec.spec.restart;
    const restart = type === 'permanent' || (type === 'transient' && reason.kind === 'error');
    const logFn = reason.kind === 'error' ? this.log?.warn : this.log?.info;
    logFn?.call(this.log, { supervisor: this.id, child: rec.id, reason, restart }, 'child exited');
    if (!restart) {
      if (this.template !== undefined) this.recs.delete(rec.id);
      return;
    }
    if (!this.restartAllowed()) return this.giveUp(rec, reason);
    let group: Rec[] = [rec];
    if (this.strategy === 'one_for_all' || this.strategy === 'rest_for_one') {
      const all = [...this.recs.values()];
      const from = this.strategy === 'one_for_all' ? 0 : all.indexOf(rec);
      group = all.slice(from).filter((r) => r === rec || r.child !== undefined || r.state === 'backoff');
      for (const r of [...group].reverse()) if (r !== rec) await this.shutdownRec(r);
    }
    for (const r of group) {
      if (this.stopping) return;
      if (r !== rec && r.spec.restart === 'temporary') continue; // temporary siblings stay stopped
      r.restarts++;
      await this.startRec(r, true);
    }
  }

  /** Count a restart; false when that makes more than `intensity` within `periodMs`. */
  private restartAllowed(): boolean {
    const [now, times] = [this.clock.now(), this.restartTimes];
    times.push(now);
    while (times.length > 0 && times[0]! <= now - this.cfg.periodMs) times.shift();
    return times.length <= this.cfg.intensity;
  }

  private async giveUp(rec: Rec, reason: ExitReason): Promise<void> {
    const msg = `supervisor ${this.id}: more than ${this.cfg.intensity} restarts in ${this.cfg.periodMs} ms`;
    const err = new PosternError('SUPERVISOR_INTENSITY', msg, { supervisor: this.id, child: rec.id, reason });
    this.log?.error({ supervisor: this.id, child: rec.id, reason }, 'restart intensity reached: giving up');
    this.beginStopping();
    await this.shutdownAll();
    this.exitWith({ kind: 'error', error: errorToData(err) });
  }

  private beginStopping(): void {
    this.stopping = true;
    this.st = 'stopping';
    for (const rec of this.recs.values()) this.clearTimer(rec);
  }

  /** Reverse start order, one at a time; simple_one_for_one children all at once. */
  private async shutdownAll(): Promise<void> {
    const all = [...this.recs.values()];
    if (this.template !== undefined) await Promise.all(all.map((r) => this.shutdownRec(r)));
    else for (const r of all.reverse()) await this.shutdownRec(r);
  }

  /** Stop one child honouring its spec's shutdown. Never rejects. */
  private async shutdownRec(rec: Rec): Promise<void> {
    this.clearTimer(rec);
    const child = rec.child;
    if (child === undefined) {
      rec.gen++;
      if (rec.state !== 'failed') rec.state = 'stopped';
      return;
    }
    rec.state = 'stopping';
    const sd = rec.spec.shutdown;
    const who = { supervisor: this.id, child: rec.id };
    try {
      if (sd === 'brutal_kill') child.kill();
      else child.stop({ kind: 'shutdown' }, sd === 'infinity' ? Infinity : sd).catch(noop);
      if (typeof sd === 'number' && !(await this.waitFor(rec.exited, sd))) {
        this.log?.warn({ ...who, shutdownMs: sd }, 'child did not stop in time: killing');
        child.kill();
      }
      if (sd === 'infinity') await rec.exited;
      else if (!(await this.waitFor(rec.exited, KILL_GRACE_MS))) this.log?.error(who, 'child did not exit after kill');
    } catch (e) {
      this.log?.error({ ...who, err: e }, 'stopping child threw');
    }
    if (rec.child === child) Object.assign(rec, { child: undefined, state: 'stopped' });
  }

  private clearTimer(rec: Rec): void {
    this.clock.clearTimeout(rec.timer);
    rec.timer = undefined;
  }

  /** Whether `p` settles within `ms` on the supervisor's clock. */
  private waitFor(p: Promise<void>, ms: number): Promise<boolean> {
    let t: unknown;
    const timeout = new Promise<boolean>((resolve) => (t = this.clock.setTimeout(() => resolve(false), ms)));
    return Promise.race([p.then(() => true), timeout]).finally(() => this.clock.clearTimeout(t));
  }

  private exitWith(reason: ExitReason): void {
    if (this.exitReason !== undefined) return;
    this.exitReason = reason;
    this.stopping = true;
    this.st = 'stopped';
    if (reason.kind === 'error') this.lastError = reason.error;
    for (const l of this.exitListeners.splice(0)) attempt(() => l(reason)); // listeners must not throw
    this.done.resolve();
  }
}

/** The status view of one child: its own info, with the supervisor's state and restarts. */
function childInfo(r: Rec): ActorInfo {
  let i: ActorInfo = { id: r.id, kind: r.spec.kind ?? 'worker', state: r.state, mailboxDepth: 0, mailboxCapacity: 0, restarts: 0 };
  if (r.child !== undefined) {
    const own = r.child.info(); // info() must not throw (Child contract)
    i = { ...own, state: r.state === 'running' ? own.state : r.state };
  }
  i.restarts = r.restarts;
  if (i.lastError === undefined && r.lastError !== undefined) i.lastError = r.lastError;
  return i;
}

function newRec(id: string, spec: ChildSpec<any>, args: unknown[]): Rec {
  const base = { child: undefined, exited: Promise.resolve(), state: 'stopped' as const, gen: 0, restarts: 0, failures: 0 };
  return { id, spec, args, ...base, lastError: undefined, thrown: undefined, startedAt: 0, timer: undefined };
}
