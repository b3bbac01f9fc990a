/**
 * actor/remote.ts: talk to an actor in another thread over a MessagePort.
 *
 * Exports: `serveActor(actor, port)` (the side that owns the actor), `RemoteRef<M, R>` (the
 * other side), `PortLike`, `ServeHandle`, the envelope types. Envelopes are plain objects sent
 * by structured clone, one postMessage per message:
 *   → `{ t: 'tell', m }` | `{ t: 'ask', id, m }`
 *   ← `{ t: 'reply', id, ok: true, v }` | `{ t: 'reply', id, ok: false, e: ErrorData }` |
 *     `{ t: 'exit', reason }` (the served actor ended; sent once)
 * Errors cross as `ErrorData` and are rebuilt with `errorFromData`, so codes survive the hop.
 * A remote `tell` is fire-and-forget: if the far mailbox is full or stopped the message is
 * dropped there and counted in `ServeHandle.dropped()`.
 *
 * Throws: `RemoteRef.tell` → ACTOR_STOPPED (closed, or the far actor exited) | the
 * DataCloneError of an uncloneable message. Rejects: `RemoteRef.ask` → ACTOR_TIMEOUT |
 * ACTOR_STOPPED | whatever the far actor's ask rejected with (ACTOR_BUSY, ACTOR_EXITED, …).
 */
import { PosternError, errorFromData, errorToData } from '../errors.ts';
import type { ErrorData } from '../errors.ts';
import type { Actor } from './actor.ts';
import type { ExitReason } from './types.ts';

export type Request<M> = { t: 'tell'; m: M } | { t: 'ask'; id: number; m: M };
export type Reply =
  | { t: 'reply'; id: number; ok: true; v: unknown }
  | { t: 'reply'; id: number; ok: false; e: ErrorData }
  | { t: 'exit'; reason: ExitReason };

/** What both ends need of a port: a `MessagePort`, `parentPort` or a `Worker` all fit. */
export interface PortLike {
  postMessage(value: unknown): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
  off(event: 'message', listener: (value: unknown) => void): unknown;
  close?(): void;
}

export interface ServeHandle {
  /** Stop answering (the actor keeps running). */
  close(): void;
  /** Remote tells dropped because the mailbox was full or the actor stopped. */
  dropped(): number;
}

/** Answer requests arriving on `port` with `actor`. */
export function serveActor<M, R>(actor: Actor<M, R>, port: PortLike): ServeHandle {
  let dropped = 0;
  let open = true;
  const post = (reply: Reply): void => {
    if (!open) return;
    try {
      port.postMessage(reply);
    } catch (e) {
      // an uncloneable reply value: report it instead
      if (reply.t !== 'reply') return;
      try {
        port.postMessage({ t: 'reply', id: reply.id, ok: false, e: errorToData(e) } satisfies Reply);
      } catch {
        // the port is gone: the asker times out
      }
    }
  };
  const onMessage = (raw: unknown): void => {
    const req = raw as Request<M>;
    if (req.t === 'tell') {
      if (!actor.tryTell(req.m)) dropped++;
    } else if (req.t === 'ask') {
      const id = req.id;
      actor.ask(req.m, Infinity).then(
        (v) => post({ t: 'reply', id, ok: true, v }),
        (e: unknown) => post({ t: 'reply', id, ok: false, e: errorToData(e) }),
      );
    }
  };
  port.on('message', onMessage);
  actor.onExit((reason) => post({ t: 'exit', reason }));
  return {
    close(): void {
      open = false;
      port.off('message', onMessage);
    },
    dropped: () => dropped,
  };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The far side of `serveActor`: tell and ask an actor living in another thread. */
export class RemoteRef<M, R = unknown> {
  readonly id: string;
  private readonly port: PortLike;
  private readonly pending = new Map<number, Pending>();
  private readonly exitListeners: Array<(reason: ExitReason) => void> = [];
  private nextId = 1;
  private closed = false;
  private detached = false;
  private exitReason: ExitReason | undefined = undefined;
  private readonly onMessage = (raw: unknown): void => {
    const r = raw as Reply;
    if (r.t === 'reply') {
      const p = this.pending.get(r.id);
      if (p === undefined) return; // timed out: the late reply is dropped
      this.pending.delete(r.id);
      if (p.timer !== undefined) clearTimeout(p.timer);
      if (r.ok) p.resolve(r.v);
      else p.reject(errorFromData(r.e));
    } else if (r.t === 'exit') {
      this.exitReason = r.reason;
      this.shut(`remote actor ${this.id} exited`);
      for (const l of this.exitListeners.splice(0)) callSafely(l, r.reason);
    }
  };

  constructor(port: PortLike, id = 'remote') {
    this.id = id;
    this.port = port;
    port.on('message', this.onMessage);
  }

  /** Fire and forget. */
  tell(m: M): void {
    if (this.closed) throw new PosternError('ACTOR_STOPPED', `remote actor ${this.id} is closed`, { actor: this.id });
    this.port.postMessage({ t: 'tell', m } satisfies Request<M>);
  }

  ask(m: M, timeoutMs = 5000): Promise<R> {
    if (this.closed) return Promise.reject(new PosternError('ACTOR_STOPPED', `remote actor ${this.id} is closed`, { actor: this.id }));
    const id = this.nextId++;
    return new Promise<R>((resolve, reject) => {
      const p: Pending = { resolve: resolve as (v: unknown) => void, reject, timer: undefined };
      try {
        this.port.postMessage({ t: 'ask', id, m } satisfies Request<M>);
      } catch (e) {
        reject(e);
        return;
      }
      if (Number.isFinite(timeoutMs)) {
        p.timer = setTimeout(() => {
          if (this.pending.delete(id)) {
            reject(new PosternError('ACTOR_TIMEOUT', `remote actor ${this.id} did not reply in ${timeoutMs} ms`, { actor: this.id, timeoutMs }));
          }
        }, timeoutMs);
      }
      this.pending.set(id, p);
    });
  }

  /** Called once if the far actor exits (after which tell/ask fail with ACTOR_STOPPED). */
  onExit(listener: (reason: ExitReason) => void): void {
    const reason = this.exitReason;
    if (reason === undefined) this.exitListeners.push(listener);
    else queueMicrotask(() => callSafely(listener, reason));
  }

  /** Asks in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Stop listening, reject asks in flight with ACTOR_STOPPED, close the port if it can be. */
  close(): void {
    if (this.detached) return;
    this.detached = true;
    this.shut(`remote actor ${this.id} closed`);
    this.port.off('message', this.onMessage);
    this.port.close?.();
  }

  private shut(message: string): void {
    this.closed = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.timer !== undefined) clearTimeout(p.timer);
      p.reject(new PosternError('ACTOR_STOPPED', message, { actor: this.id }));
    }
  }
}

function callSafely(fn: (reason: ExitReason) => void, reason: ExitReason): void {
  try {
    fn(reason);
  } catch {
    // listeners must not throw
  }
}
