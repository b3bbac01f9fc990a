/**
 * actors/store-thread.ts: the main thread's handle on a store thread (workers/store-thread.ts): a
 * supervisable `Child` that starts the thread, hands out MessagePorts for service threads'
 * `StoreClient`s (the port-RPC, src/actor/rpc.ts), calls the store's ctl verbs (with comlink,
 * src/actor/control.ts: a control-plane call), and reports the store's part of the supervision
 * tree (the store and its mailbox actors) from the figures the thread posts every second.
 *
 *   const st = await StoreThread.start({ dataDir });
 *   const port = st.connect('pop3.t1');          // transfer it to the service thread
 *   await st.admin('account.add', { address, password });
 *
 * Exports: `StoreThread`, `StoreThreadData`, `StoreThreadIn`, `StoreThreadOut`, `StoreControl`.
 * Rejects: `start` → the thread's open error (STORE_IN_USE, STORE_CORRUPT, …) or THREAD_EXITED;
 * `admin` → the verb's error, ACTOR_TIMEOUT, THREAD_EXITED.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { errorFromData, PosternError, type ErrorData } from '../src/errors.ts';
import { attempt } from '../src/actor/actor.ts';
import { bounded, controlProxy, releaseControl, type Remote } from '../src/actor/control.ts';
import type { ActorInfo, Child, ExitReason } from '../src/actor/types.ts';
import type { StoreOptions } from '../src/store/store.ts';

export interface StoreThreadData {
  dataDir: string;
  options?: Omit<StoreOptions, 'dataDir' | 'fs' | 'log' | 'hashPassword'>;
  logLevel?: string;
  poolThreads?: number;
  infoIntervalMs?: number;
}

/** What the store thread exposes to the main thread with comlink (src/actor/control.ts). */
export interface StoreControl {
  /** A 'store' command of the registry (admin/commands.ts), run by store/admin.ts. */
  admin(verb: string, args: Record<string, unknown>): Promise<unknown>;
}

/** workerData as the thread receives it (its control port added by `StoreThread`). */
export type StoreThreadWorkerData = StoreThreadData & { controlPort: MessagePort };

export type StoreThreadIn =
  | { t: 'connect'; port: MessagePort; owner?: string }
  | { t: 'stop' };

export type StoreThreadOut =
  | { t: 'ready'; info: ActorInfo }
  | { t: 'openFailed'; e: ErrorData }
  | { t: 'info'; info: ActorInfo }
  | { t: 'stopped' };

const ENTRY = new URL('../workers/store-thread.ts', import.meta.url);

export class StoreThread implements Child {
  readonly id: string;
  private readonly worker: Worker;
  private last: ActorInfo;
  private readonly control: Remote<StoreControl>;
  private readonly controlPort: MessagePort;
  /** Rejects THREAD_EXITED when the thread ends: control calls in flight end with it. */
  private readonly ended = Promise.withResolvers<never>();
  private readonly exitListeners: Array<(r: ExitReason) => void> = [];
  private exitReason: ExitReason | undefined;
  private stopping = false;
  private readonly ready = Promise.withResolvers<void>();

  private constructor(data: StoreThreadData, id: string) {
    this.id = id;
    this.last = { id, kind: 'storeThread', state: 'starting', mailboxDepth: 0, mailboxCapacity: 0, restarts: 0 };
    const { port1, port2 } = new MessageChannel();
    this.controlPort = port1;
    this.control = controlProxy<StoreControl>(port1);
    this.ended.promise.catch(() => {});
    // (the young generation capped at 8 MB: uncapped, the store's startup grew it to 32 MB, all of
    // it resident for the server's life; `postern start`'s --max-semi-space-size
    // (src/process-tuning.ts) is the main thread's only)
    this.worker = new Worker(ENTRY, { name: 'store', workerData: { ...data, controlPort: port2 } satisfies StoreThreadWorkerData, transferList: [port2], resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    this.worker.on('message', (m: StoreThreadOut) => this.onMessage(m));
    this.worker.on('error', (e) => this.exit({ kind: 'error', error: { code: 'THREAD_EXITED', message: `store thread failed: ${e.message}`, retryable: true } }));
    this.worker.on('exit', (code) => {
      if (this.stopping && code === 0) this.exit({ kind: 'shutdown' });
      else this.exit({ kind: 'error', error: { code: 'THREAD_EXITED', message: `store thread exited with code ${code}`, retryable: true } });
    });
  }

  static async start(data: StoreThreadData, id = 'store'): Promise<StoreThread> {
    const t = new StoreThread(data, id);
    await t.ready.promise;
    return t;
  }

  private onMessage(m: StoreThreadOut): void {
    switch (m.t) {
      case 'ready':
      case 'info':
        this.last = { ...m.info, id: this.id, kind: 'storeThread', state: this.stopping ? 'stopping' : m.info.state };
        if (m.t === 'ready') this.ready.resolve();
        break;
      case 'openFailed':
        this.ready.reject(errorFromData(m.e));
        break;
      case 'stopped':
        break;
    }
  }

  /** A port for a StoreClient; transfer it to the thread that will use it. */
  connect(owner?: string): MessagePort {
    const { port1, port2 } = new MessageChannel();
    const msg: StoreThreadIn = owner === undefined ? { t: 'connect', port: port2 } : { t: 'connect', port: port2, owner };
    this.worker.postMessage(msg, [port2]);
    return port1;
  }

  /** A 'store' command of the registry, over comlink; bounded by `timeoutMs` and the thread's life. */
  admin(verb: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<unknown> {
    if (this.exitReason !== undefined) return Promise.reject(new PosternError('THREAD_EXITED', 'the store thread has exited'));
    return bounded(this.control.admin(verb, args), { timeoutMs, what: `store (${verb})`, ended: this.ended.promise });
  }

  info(): ActorInfo {
    return this.last;
  }

  onExit(listener: (reason: ExitReason) => void): void {
    const r = this.exitReason;
    if (r === undefined) this.exitListeners.push(listener);
    else queueMicrotask(() => attempt(() => listener(r)));
  }

  /** Close the store cleanly (final checkpoint); terminated if not done within `timeoutMs`. */
  async stop(_reason?: ExitReason, timeoutMs = 30_000): Promise<void> {
    if (this.exitReason !== undefined) return;
    this.stopping = true;
    const done = new Promise<void>((r) => this.onExit(() => r()));
    this.worker.postMessage({ t: 'stop' } satisfies StoreThreadIn);
    const t = setTimeout(() => this.kill(), timeoutMs);
    await done;
    clearTimeout(t);
  }

  kill(): void {
    void this.worker.terminate();
  }

  private exit(reason: ExitReason): void {
    if (this.exitReason !== undefined) return;
    this.exitReason = reason;
    this.last = { ...this.last, state: 'stopped', children: [] };
    if (reason.kind === 'error') this.last.lastError = reason.error;
    this.ready.reject(reason.kind === 'error' ? errorFromData(reason.error) : new PosternError('THREAD_EXITED', 'store thread stopped'));
    this.ready.promise.catch(() => {});
    this.ended.reject(new PosternError('THREAD_EXITED', 'the store thread has exited'));
    releaseControl(this.control);
    this.controlPort.close();
    for (const l of this.exitListeners.splice(0)) attempt(() => l(reason));
  }
}
