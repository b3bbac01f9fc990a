/**
 * actor/remote.ts: talk to an actor in another thread over a MessagePort, on the port-RPC
 * (actor/rpc.ts): an ask is a call, a tell is a note, the served actor's exit is a push.
 *
 * Exports: `serveActor(actor, port)` (the side that owns the actor), `RemoteRef<M, R>` (the
 * other side), `PortLike`, `ServeHandle`. Errors cross as `ErrorData` and are rebuilt with
 * their code. A remote `tell` is fire-and-forget: if the far mailbox is full or stopped the
 * message is dropped there and counted in `ServeHandle.dropped()`. When the port closes (the
 * far thread ended), asks in flight reject ACTOR_STOPPED at once.
 *
 * Throws: `RemoteRef.tell` → ACTOR_STOPPED (closed, or the far actor exited) | the
 * DataCloneError of an uncloneable message. Rejects: `RemoteRef.ask` → ACTOR_TIMEOUT |
 * ACTOR_STOPPED | whatever the far actor's ask rejected with (ACTOR_BUSY, ACTOR_EXITED, …).
 */
import { RpcClient, serveRpc, type PortLike } from './rpc.ts';
import type { Actor } from './actor.ts';
import type { ExitReason } from './types.ts';

export type { PortLike } from './rpc.ts';

export interface ServeHandle {
  /** Stop answering (the actor keeps running). */
  close(): void;
  /** Remote tells dropped because the mailbox was full or the actor stopped. */
  dropped(): number;
}

/** Answer requests arriving on `port` with `actor`. */
export function serveActor<M, R>(actor: Actor<M, R>, port: PortLike): ServeHandle {
  let dropped = 0;
  const server = serveRpc<M, ExitReason>(port, (m) => actor.ask(m, Infinity), {
    onNote: (m) => {
      if (!actor.tryTell(m)) dropped++;
    },
  });
  actor.onExit((reason) => server.push(reason));
  return { close: () => server.close(), dropped: () => dropped };
}

/** The far side of `serveActor`: tell and ask an actor living in another thread. */
export class RemoteRef<M, R = unknown> {
  readonly id: string;
  private readonly rpc: RpcClient<M, ExitReason>;
  private readonly exitListeners: Array<(reason: ExitReason) => void> = [];
  private exitReason: ExitReason | undefined = undefined;

  constructor(port: PortLike, id = 'remote') {
    this.id = id;
    this.rpc = new RpcClient<M, ExitReason>(port, {
      name: `remote actor ${id}`,
      timeoutMs: 5000,
      closedCode: 'ACTOR_STOPPED',
      onPush: (reason) => {
        if (this.exitReason !== undefined) return;
        this.exitReason = reason;
        this.rpc.fail(`remote actor ${this.id} exited`);
        for (const l of this.exitListeners.splice(0)) callSafely(l, reason);
      },
    });
  }

  /** Fire and forget. */
  tell(m: M): void {
    this.rpc.notify(m);
  }

  ask(m: M, timeoutMs = 5000): Promise<R> {
    return this.rpc.call<R>(m, timeoutMs);
  }

  /** Called once if the far actor exits (after which tell/ask fail with ACTOR_STOPPED). */
  onExit(listener: (reason: ExitReason) => void): void {
    const reason = this.exitReason;
    if (reason === undefined) this.exitListeners.push(listener);
    else queueMicrotask(() => callSafely(listener, reason));
  }

  /** Asks in flight. */
  get inFlight(): number {
    return this.rpc.inFlight;
  }

  /** Stop listening, reject asks in flight with ACTOR_STOPPED, close the port if it can be. */
  close(): void {
    this.rpc.close(`remote actor ${this.id} closed`);
  }
}

function callSafely(fn: (reason: ExitReason) => void, reason: ExitReason): void {
  try {
    fn(reason);
  } catch {
    // listeners must not throw
  }
}
