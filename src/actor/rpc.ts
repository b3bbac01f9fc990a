/**
 * actor/rpc.ts: the one request/reply over a MessagePort (port-RPC), for the hot paths between
 * threads: a StoreClient and the store thread (store/client.ts ↔ store/protocol.ts), a
 * connection thread and its service host (admission, pool tasks, the login gate:
 * workers/conn-thread.ts ↔ actors/conn-thread.ts), and a `RemoteRef` and its served actor
 * (actor/remote.ts). Control-plane calls (admin verbs, reload) use comlink instead
 * (actor/control.ts); bench/actors.ts measures both beside a raw postMessage.
 *
 * Envelopes, plain objects sent by structured clone, one postMessage each:
 *   → `{ t: 'call', id, m }`       a request; exactly one reply (a `flat` client sends
 *                                  `{ ...m, $call: id }` instead: one object less to clone)
 *   → `{ t: 'note', m }`           one-way (no reply): a tell, a subscription's acknowledgement
 *   ← `{ t: 'reply', id, ok: true, v }` | `{ t: 'reply', id, ok: false, e: ErrorData }`
 *   ← `{ t: 'push', m }`           one-way from the serving side: events, an exit
 * Anything else on the port is ignored, so a port may carry other messages beside these.
 * Errors cross as `ErrorData` (errors.ts) and are rebuilt from their code. Ids are per client.
 * A call that gets no reply in its `timeoutMs` rejects ACTOR_TIMEOUT, and its late reply is
 * dropped. Deadlines are kept by one timer per client (armed at the earliest deadline, swept
 * when it fires; ref'd only while a call with a deadline is in flight), not a timer per call. When the port closes (the other thread ended, or either side closed it) every call in
 * flight rejects at once with the client's `closedCode`, and both sides let go of the port.
 * A handler may return `transferring(value, buffers)` to move buffers rather than copy them.
 *
 * Exports: `RpcClient`, `serveRpc`, `RpcServer`, `transferring`, `PortLike`, `RpcRequest`,
 * `RpcReply`. Throws: `RpcClient.notify` → the closed code (closed) | a DataCloneError.
 * Rejects: `RpcClient.call` → ACTOR_TIMEOUT | the closed code | whatever the handler threw.
 */
import { PosternError, errorFromData, errorToData, type ErrorCode, type ErrorData } from '../errors.ts';

export type RpcRequest<M = unknown> = { t: 'call'; id: number; m: M } | { t: 'note'; m: M };
export type RpcReply<P = unknown> =
  | { t: 'reply'; id: number; ok: true; v: unknown }
  | { t: 'reply'; id: number; ok: false; e: ErrorData }
  | { t: 'push'; m: P };

/** What both ends need of a port: a `MessagePort`, `parentPort` or a `Worker` all fit. A port
 * that emits 'close' (a MessagePort) is let go of, and its calls rejected, when it closes. */
export interface PortLike {
  postMessage(value: unknown, transfer?: any[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'message' | 'close', listener: (value: unknown) => void): unknown;
  once?(event: 'close', listener: () => void): unknown;
  close?(): void;
}

/** A handler's value with buffers to move, not copy (the handler gives them up). */
export class Transferring {
  readonly value: unknown;
  readonly transfer: ArrayBuffer[];
  constructor(value: unknown, transfer: ArrayBuffer[]) {
    this.value = value;
    this.transfer = transfer;
  }
}

export function transferring(value: unknown, transfer: ArrayBuffer[]): Transferring {
  return new Transferring(value, transfer);
}

interface Pending {
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
  /** performance.now() past which the call fails (Infinity: never), and the timeout it came from. */
  deadline: number;
  timeoutMs: number;
}

export interface RpcClientOptions<P> {
  /** Names the far side in error messages ('store', 'remote actor x'). */
  name: string;
  /** A call's default deadline (ms; Infinity: none). Default 30 s. */
  timeoutMs?: number;
  /** The code calls reject with once the client or its port is closed. Default ACTOR_STOPPED. */
  closedCode?: ErrorCode;
  /** Each push from the serving side, in order with the replies. */
  onPush?: (m: P) => void;
  /** Called once when the port closes under the client (not on `close()`). */
  onPortClose?: () => void;
  /** The messages are plain objects of the caller's own protocol: a call is sent as the
   * message's own fields plus `$call` (its id), one object less to clone than the nested
   * envelope. The server sees the message with that extra field. */
  flat?: boolean;
}

/** The calling side: `call` (request/reply), `notify` (one-way). */
export class RpcClient<M, P = never> {
  readonly name: string;
  private readonly port: PortLike;
  private readonly timeoutMs: number;
  private readonly closedCode: ErrorCode;
  private readonly onPush: ((m: P) => void) | undefined;
  private readonly onPortClose: (() => void) | undefined;
  private readonly flat: boolean;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private closedWhy = '';
  private detached = false;
  /** Calls in flight with a finite deadline; the sweep timer is ref'd only while there are some. */
  private timed = 0;
  private sweepTimer: ReturnType<typeof setTimeout> | undefined;
  private sweepAt = Infinity;
  private readonly sweep = (): void => {
    this.sweepTimer = undefined;
    this.sweepAt = Infinity;
    if (this.timed === 0) return;
    const now = performance.now();
    let next = Infinity;
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(id);
        this.timed--;
        p.reject(new PosternError('ACTOR_TIMEOUT', `${this.name} did not answer in ${p.timeoutMs} ms`, { timeoutMs: p.timeoutMs }));
      } else if (p.deadline < next) next = p.deadline;
    }
    if (next !== Infinity) this.arm(next, now);
  };
  private readonly onMessage = (raw: unknown): void => {
    const r = raw as RpcReply<P> | null;
    if (r === null || typeof r !== 'object') return;
    if (r.t === 'reply') {
      const p = this.pending.get(r.id);
      if (p === undefined) return; // timed out: the late reply is dropped
      this.pending.delete(r.id);
      if (p.deadline !== Infinity && --this.timed === 0) this.sweepTimer?.unref(); // let the loop end; it fires and finds nothing
      if (r.ok) p.resolve(r.v);
      else p.reject(errorFromData(r.e));
    } else if (r.t === 'push') {
      this.onPush?.(r.m);
    }
  };
  private readonly onClose = (): void => {
    this.detach();
    this.fail(`${this.name}: the port closed`);
    this.onPortClose?.();
  };

  constructor(port: PortLike, opts: RpcClientOptions<P>) {
    this.port = port;
    this.name = opts.name;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.closedCode = opts.closedCode ?? 'ACTOR_STOPPED';
    this.onPush = opts.onPush;
    this.onPortClose = opts.onPortClose;
    this.flat = opts.flat ?? false;
    port.on('message', this.onMessage);
    port.once?.('close', this.onClose);
  }

  /** One request; its reply value, or the error it carried. */
  call<R = unknown>(m: M, timeoutMs = this.timeoutMs, transfer?: ArrayBuffer[]): Promise<R> {
    if (this.closed) return Promise.reject(this.closedError());
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      try {
        const req = this.flat ? { ...(m as object), $call: id } : ({ t: 'call', id, m } satisfies RpcRequest<M>);
        if (transfer !== undefined && transfer.length > 0) this.port.postMessage(req, transfer);
        else this.port.postMessage(req);
      } catch (e) {
        reject(e);
        return;
      }
      const p: Pending = { resolve, reject, deadline: Infinity, timeoutMs };
      if (Number.isFinite(timeoutMs)) {
        const now = performance.now();
        p.deadline = now + timeoutMs;
        if (this.timed++ === 0) this.sweepTimer?.ref();
        if (p.deadline < this.sweepAt) this.arm(p.deadline, now);
      }
      this.pending.set(id, p);
    });
  }

  /** One-way: no reply, no id. */
  notify(m: M): void {
    if (this.closed) throw this.closedError();
    this.port.postMessage({ t: 'note', m } satisfies RpcRequest<M>);
  }

  /** Calls in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Refuse further calls and reject those in flight with the closed code; keep listening
   * (pushes still arrive). For a far side that said it ended. */
  fail(message: string): void {
    if (!this.closed) {
      this.closed = true;
      this.closedWhy = message;
    }
    this.timed = 0;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    this.sweepAt = Infinity;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new PosternError(this.closedCode, message));
    }
  }

  /** (Re)arm the one deadline timer to fire at `at` (performance.now() time). */
  private arm(at: number, now: number): void {
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    this.sweepAt = at;
    this.sweepTimer = setTimeout(this.sweep, Math.max(1, Math.ceil(at - now)));
  }

  /** `fail`, stop listening, and close the port if it can be. Idempotent. */
  close(message = `${this.name}: closed`): void {
    this.fail(message);
    if (this.detached) return;
    this.detach();
    this.port.close?.();
  }

  private detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.port.off('message', this.onMessage);
    this.port.off('close', this.onClose);
  }

  private closedError(): PosternError {
    return new PosternError(this.closedCode, this.closedWhy === '' ? `${this.name}: closed` : this.closedWhy);
  }
}

export interface RpcServerOptions<N> {
  /** Each one-way note, in order with the calls. */
  onNote?: (m: N) => void;
  /** Called once when the port closes under the server (not on `close()`). */
  onPortClose?: () => void;
}

export interface RpcServer<P> {
  /** Send a one-way push; false if it could not be posted (the port is gone). */
  push(m: P, transfer?: ArrayBuffer[]): boolean;
  /** Stop answering and listening (the port is left open for its owner to close). */
  close(): void;
}

/** Answer calls arriving on `port` with `handler` (sync or async; a throw or rejection becomes
 * an error reply, a reply value that cannot be cloned becomes one too). */
export function serveRpc<M, P = never, N = M>(port: PortLike, handler: (m: M) => unknown, opts: RpcServerOptions<N> = {}): RpcServer<P> {
  let open = true;
  const post = (id: number, v: unknown): void => {
    if (!open) return;
    try {
      if (v instanceof Transferring) port.postMessage({ t: 'reply', id, ok: true, v: v.value } satisfies RpcReply, v.transfer);
      else port.postMessage({ t: 'reply', id, ok: true, v } satisfies RpcReply);
    } catch (e) {
      postError(id, e); // an uncloneable value: report it instead
    }
  };
  const postError = (id: number, e: unknown): void => {
    if (!open) return;
    try {
      port.postMessage({ t: 'reply', id, ok: false, e: errorToData(e) } satisfies RpcReply);
    } catch {
      // the port is gone: the caller's port-close or timeout ends its call
    }
  };
  const onMessage = (raw: unknown): void => {
    const req = raw as { t?: unknown; id?: unknown; m?: unknown; $call?: unknown } | null;
    if (req === null || typeof req !== 'object') return;
    const flat = typeof req.$call === 'number';
    if (flat || req.t === 'call') {
      const id = flat ? req.$call : req.id;
      if (typeof id !== 'number') return;
      let r: unknown;
      try {
        r = handler((flat ? req : req.m) as M);
      } catch (e) {
        postError(id, e);
        return;
      }
      if (r instanceof Promise) r.then((v) => post(id, v), (e: unknown) => postError(id, e));
      else post(id, r);
    } else if (req.t === 'note') {
      opts.onNote?.(req.m as N);
    }
  };
  const detach = (): void => {
    if (!open) return;
    open = false;
    port.off('message', onMessage);
    port.off('close', onClose);
  };
  const onClose = (): void => {
    if (!open) return;
    detach();
    opts.onPortClose?.();
  };
  port.on('message', onMessage);
  port.once?.('close', onClose);
  return {
    push(m: P, transfer?: ArrayBuffer[]): boolean {
      if (!open) return false;
      try {
        if (transfer !== undefined && transfer.length > 0) port.postMessage({ t: 'push', m } satisfies RpcReply<P>, transfer);
        else port.postMessage({ t: 'push', m } satisfies RpcReply<P>);
        return true;
      } catch {
        return false;
      }
    },
    close: detach,
  };
}
