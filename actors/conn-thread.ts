/**
 * actors/ (the top layer, with workers/): the main thread's side of the threads: the root
 * supervisor (server.ts), the store thread's handle (store-thread.ts), the service host
 * (service.ts) and the connection-thread child (here).
 *
 * actors/conn-thread.ts: one connection thread seen from its service supervisor, as a `Child`.
 *
 * Wraps a worker_threads Worker running workers/conn-thread.ts with `resourceLimits` (its heap
 * cap). `start` resolves once the thread listens on its service's listeners and rejects with
 * its listen error otherwise. An uncaught error or the heap cap ends the thread: that is an
 * abnormal exit (THREAD_EXITED) its supervisor sees and restarts from. `drain` stops accepting
 * and lets the sessions finish (a normal exit); `stop` (or `beginStop`, which does not wait)
 * also asks sessions to say goodbye and terminates the thread at the deadline. The thread's calls
 * (admission, pool tasks, the login gate: `HostCall`) arrive on the port-RPC (src/actor/rpc.ts)
 * of a channel made here, and go to `onCall`; the host's control-plane calls (a reload:
 * `reconfigure`) go to the thread with comlink (src/actor/control.ts) on another.
 *
 * Exports: `ConnThread`, `startConnThread`. Throws LISTEN_FAILED, THREAD_EXITED from start.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { serveRpc } from '../src/actor/rpc.ts';
import { bounded, controlProxy, releaseControl, type Remote } from '../src/actor/control.ts';
import { errorFromData, errorToData, PosternError, type ErrorData } from '../src/errors.ts';
import type { ActorInfo, ActorState, Child, ExitReason } from '../src/actor/types.ts';
import type { ConnThreadControl, ConnThreadData, FromThread, GlobalRules, HostCall, ToThread } from '../src/service/messages.ts';
import type { ServiceOptions } from '../src/config/options.ts';
import type { TailQuery } from '../src/net/log-sink.ts';
import type { LogRecord } from '../src/net/syslog.ts';

const WORKER_URL = new URL('../workers/conn-thread.ts', import.meta.url);

export interface ConnThreadOptions {
  data: ConnThreadData;
  heapBytes: number;
  /** The thread's port to the store (transferred to it). */
  storePort?: MessagePort;
  /** Every message from the thread but the lifecycle ones goes here. */
  onMessage: (thread: ConnThread, m: FromThread) => void;
  /** Each call of the thread (its value, or a rejection, is the reply). */
  onCall: (thread: ConnThread, m: HostCall) => unknown;
}

export class ConnThread implements Child {
  readonly id: string;
  readonly worker: Worker;
  state: ActorState = 'starting';
  sessions = 0;
  elu = 0;
  loadAt = 0;
  actors: ActorInfo[] = [];
  draining = false;
  private stopSent = false;
  private exitListeners: Array<(r: ExitReason) => void> = [];
  private exitReason: ExitReason | null = null;
  private lastError: ErrorData | undefined;
  private exited: Promise<void>;
  private readonly control: Remote<ConnThreadControl>;
  /** Rejects THREAD_EXITED when the thread ends: control calls in flight end with it. */
  private readonly ended = Promise.withResolvers<never>();

  constructor(opts: ConnThreadOptions) {
    this.id = opts.data.threadId;
    const mb = Math.max(16, Math.floor(opts.heapBytes / (1024 * 1024)));
    const host = new MessageChannel();
    const hostRpc = serveRpc<HostCall>(host.port1, (m) => opts.onCall(this, m));
    const ctl = new MessageChannel();
    this.control = controlProxy<ConnThreadControl>(ctl.port1);
    this.ended.promise.catch(() => {});
    const data: ConnThreadData = { ...opts.data, hostPort: host.port2, controlPort: ctl.port2, ...(opts.storePort === undefined ? {} : { storePort: opts.storePort }) };
    this.worker = new Worker(WORKER_URL, {
      name: this.id, // the OS thread's name too (per-thread CPU in /proc/PID/task, profiles)
      workerData: data,
      transferList: opts.storePort === undefined ? [host.port2, ctl.port2] : [host.port2, ctl.port2, opts.storePort],
      // the young generation: 4 MB, not 8 (a thread's new space grows to the cap in an accept burst
      // and stays resident, for 10,000 idle connections as for none); `postern start`'s
      // --max-semi-space-size (src/process-tuning.ts) is the main thread's only
      resourceLimits: { maxOldGenerationSizeMb: mb, maxYoungGenerationSizeMb: Math.min(4, Math.max(2, mb >> 3)) },
      stdout: false,
      stderr: false,
    });
    this.worker.on('message', (m: FromThread) => {
      if (m.t === 'load') {
        this.sessions = m.sessions;
        this.elu = m.elu;
        this.actors = m.actors;
        this.loadAt = Date.now();
      }
      opts.onMessage(this, m);
    });
    this.worker.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      this.lastError = errorToData(new PosternError('THREAD_EXITED', `connection thread ${this.id} failed: ${code !== undefined ? `${code}: ` : ''}${e.message}`));
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        hostRpc.close();
        host.port1.close();
        this.ended.reject(new PosternError('THREAD_EXITED', `connection thread ${this.id} exited`));
        releaseControl(this.control);
        ctl.port1.close();
        const reason: ExitReason =
          this.lastError !== undefined
            ? { kind: 'error', error: this.lastError }
            : code === 0
              ? this.state === 'stopping' ? { kind: 'shutdown' } : { kind: 'normal' }
              : { kind: 'error', error: errorToData(new PosternError('THREAD_EXITED', `connection thread ${this.id} exited with code ${code}`)) };
        this.state = reason.kind === 'error' ? 'failed' : 'stopped';
        this.exitReason = reason;
        resolve();
        for (const l of this.exitListeners.splice(0)) l(reason);
      });
    });
  }

  /** Resolves once the thread listens; rejects (and terminates it) if it cannot. */
  ready(): Promise<this> {
    return new Promise((resolve, reject) => {
      const onMsg = (m: FromThread): void => {
        if (m.t === 'listening') {
          cleanup();
          this.state = 'running';
          resolve(this);
        } else if (m.t === 'listenFailed') {
          cleanup();
          reject(errorFromData(m.error));
        }
      };
      const onExit = (): void => {
        cleanup();
        reject(errorFromData(this.lastError ?? errorToData(new PosternError('THREAD_EXITED', `connection thread ${this.id} exited while starting`))));
      };
      const cleanup = (): void => {
        this.worker.off('message', onMsg);
        this.worker.off('exit', onExit);
      };
      this.worker.on('message', onMsg);
      this.worker.once('exit', onExit);
    });
  }

  send(m: ToThread): void {
    if (this.exitReason === null) this.worker.postMessage(m);
  }

  onExit(listener: (reason: ExitReason) => void): void {
    if (this.exitReason !== null) queueMicrotask(() => listener(this.exitReason!));
    else this.exitListeners.push(listener);
  }

  /** A reload (comlink): resolves once the thread has applied it; bounded by `timeoutMs` and
   * by the thread's life. */
  reconfigure(options: ServiceOptions, ports: Record<string, number>, globalRules: GlobalRules, timeoutMs = 10_000): Promise<void> {
    if (this.exitReason !== null) return Promise.resolve(); // nothing left to reconfigure
    return bounded(this.control.reconfigure(options, ports, globalRules), { timeoutMs, what: `connection thread ${this.id} (reconfigure)`, ended: this.ended.promise });
  }

  /** The thread's last log records (`log.tail`); none when it has ended or does not answer. */
  async logTail(q: TailQuery, timeoutMs = 2000): Promise<LogRecord[]> {
    if (this.exitReason !== null) return [];
    return bounded(this.control.logTail(q), { timeoutMs, what: `connection thread ${this.id} (logTail)`, ended: this.ended.promise }).catch(() => []);
  }

  /** Stop accepting; exit normally once the last session ends. */
  drain(): void {
    this.draining = true;
    this.send({ t: 'drain' });
  }

  /** Close the listeners now and ask every session for its goodbye (the server is stopping);
   * `stop` then only waits. The thread exits by itself, at the latest at the deadline. */
  beginStop(deadlineMs: number): void {
    if (this.exitReason !== null || this.stopSent) return;
    this.stopSent = true;
    this.state = 'stopping';
    this.send({ t: 'stop', deadlineMs });
  }

  async stop(_reason?: ExitReason, timeoutMs = 30_000): Promise<void> {
    if (this.exitReason !== null) return;
    const deadline = Number.isFinite(timeoutMs) ? timeoutMs : 30_000;
    this.beginStop(deadline);
    const timer = setTimeout(() => void this.worker.terminate(), deadline + 1000);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.state = 'stopping';
    void this.worker.terminate();
  }

  info(): ActorInfo {
    const i: ActorInfo = {
      id: this.id,
      kind: 'connThread',
      state: this.state,
      mailboxDepth: 0,
      mailboxCapacity: 0,
      restarts: 0,
      extra: { sessions: this.sessions, elu: Number(this.elu.toFixed(3)), draining: this.draining },
      children: this.actors,
    };
    if (this.lastError !== undefined) i.lastError = this.lastError;
    return i;
  }
}

export async function startConnThread(opts: ConnThreadOptions): Promise<ConnThread> {
  const t = new ConnThread(opts);
  try {
    return await t.ready();
  } catch (e) {
    t.kill();
    throw e;
  }
}
