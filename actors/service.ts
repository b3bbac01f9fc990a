/**
 * actors/service.ts: a service host, the supervisor of one service (pop3, smtpIncoming, …).
 *
 * Owns, for its service: the connection threads (a one_for_one supervisor of `ConnThread`s,
 * between minConnThreads and maxConnThreads, grown under load and drained when idle), the
 * admission state (rules and flow windows, counted here on the main thread so the counts are
 * exact across threads), the piscina pool for CPU work, and the figures /status shows.
 * A listener with more than 80 % of its maxConnections open is in stress mode: the host tells
 * every thread when it enters and leaves it (shorter deadlines, session/limits.ts), and /status
 * shows `stress` on the listener.
 * An HTTP service's web sessions live here too (http/session-table.ts), shared by its threads.
 * A thread that dies is restarted by the threads supervisor while the others keep serving;
 * past the restart intensity the host exits abnormally and the root supervisor restarts it.
 *
 * Exports: `ServiceHost`, `startServiceHost`. Throws NOT_IMPLEMENTED (a row with no protocol
 * module), LISTEN_FAILED (retryable: the root backs off), SERVICE_NOT_RUNNING.
 */
import net from 'node:net';
import type { MessagePort } from 'node:worker_threads';
import dgram from 'node:dgram';
import { Piscina } from 'piscina';
import { Supervisor } from '../src/actor/supervisor.ts';
import { Admission, TripLogger } from '../src/net/admission.ts';
import { LoginThrottle, loginThrottleOptions } from '../src/auth/throttle.ts';
import { WebSessionTable, webSessionLimits } from '../src/http/session-table.ts';
import { parseIp } from '../src/net/ipset.ts';
import { errorToData, PosternError, type ErrorData } from '../src/errors.ts';
import { ConnThread, startConnThread } from './conn-thread.ts';
import type { ActorInfo, ActorState, Child, ExitReason } from '../src/actor/types.ts';
import type { AllowRuleOptions, DenyRuleOptions, ServiceOptions } from '../src/config/options.ts';
import type { ServiceRow } from '../src/service/table.ts';
import type { Admitted, FromThread, HostCall, LoginGated } from '../src/service/messages.ts';
import { STRESS_PERCENT } from '../src/session/limits.ts';
import type { Logger, LogLevel } from '../src/log.ts';
import type { ListenerStatus, ServiceStatus } from '../src/status/types.ts';

const POOL_URL = new URL('../workers/pool.ts', import.meta.url).href;

export interface ServiceHostOptions {
  row: ServiceRow;
  options: ServiceOptions;
  globalRules: { allowRules: AllowRuleOptions[]; denyRules: DenyRuleOptions[] };
  log: Logger;
  logLevel: LogLevel;
  shutdownTimeoutMs: number;
  /** How often threads report load and the host rescales (ms). */
  loadIntervalMs?: number;
  restartIntensity?: number;
  restartPeriodMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** The clock (ms) of admission's interval windows (tests); default performance.now. */
  admissionClock?: (() => number) | undefined;
  /** A fresh MessagePort to the store for each connection thread (its StoreClient). */
  storeConnect?: (owner: string) => MessagePort;
  /** Runs an admin command of the registry on the server (HostCall `admin`), for a row with
   * `admin: true`. */
  admin?: (verb: string, args: Record<string, unknown>) => Promise<unknown>;
}

/** Bind UDP port 0 once to learn a free port for a UDP listener written with port 0. */
function freeUdpPort(host: string, family: 4 | 6): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    s.once('error', reject);
    s.bind({ address: host, port: 0 }, () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** Bind port 0 once to learn a free port for a listener written with port 0. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port: 0, exclusive: true }, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The IP as admission counts it (`::ffff:10.1.2.3` is 10.1.2.3). */
function normalIp(ip: string): string {
  return parseIp(ip)?.text ?? ip;
}

export class ServiceHost implements Child {
  readonly id: string;
  readonly name: string;
  private opts: ServiceHostOptions;
  private options: ServiceOptions;
  private globalRules: ServiceHostOptions['globalRules'];
  private udpStats = new Map<string, { accepted: number; refused: number }>();
  /** Events the sessions counted (SessionContext.count), summed over the threads. */
  private counters: Record<string, number> = {};
  private log: Logger;
  private state: ActorState = 'starting';
  private ports: Record<string, number> = {};
  private admission: Admission;
  /** Failed logins per remote IP: progressive delay and temporary ban (auth/throttle.ts). */
  private logins: LoginThrottle;
  private trips: TripLogger;
  private pool: Piscina | null = null;
  private threads: Supervisor;
  private threadSeq = 0;
  private scaler: NodeJS.Timeout | null = null;
  private idleSince: number | null = null;
  private scaling = false;
  private exitListeners: Array<(r: ExitReason) => void> = [];
  private exitReason: ExitReason | null = null;
  private lastError: ErrorData | undefined;
  /** Listeners a thread could not (re)open on reconfigure, with why. */
  private listenerErrors = new Map<string, ErrorData>();
  private readonly loadIntervalMs: number;
  private readonly stressed = new Set<string>(); // listener keys in stress mode
  /** Admission tickets each connection thread holds, released all at once when it exits. */
  private held = new Map<ConnThread, Set<number>>();
  /** (the proxies) Back-end connections held per thread (HostCall backendSlot), and in all. */
  private backendSlots = new Map<ConnThread, number>();
  private backendTotal = 0;
  /** An HTTP service's web sessions (its row's transport is 'http'), shared by its threads. */
  private readonly webSessions: WebSessionTable | null;

  constructor(opts: ServiceHostOptions) {
    this.opts = opts;
    this.name = opts.row.name;
    this.id = opts.row.name;
    this.options = opts.options;
    this.globalRules = opts.globalRules;
    this.log = opts.log.child({ service: this.name, actor: this.id });
    this.loadIntervalMs = opts.loadIntervalMs ?? 500;
    this.admission = new Admission(this.name, opts.options, opts.globalRules, opts.admissionClock);
    // the trip warnings name their service themselves: a logger that also bound `service` would
    // write the key twice in one JSON line
    this.logins = new LoginThrottle(loginThrottleOptions(opts.options));
    this.admission.banCheck = (ip) => this.logins.isBanned(ip) ? { option: 'authBanThreshold', value: this.logins.options.banThreshold } : null;
    this.webSessions = opts.row.transport === 'http' ? new WebSessionTable(() => webSessionLimits(this.options)) : null;
    this.trips = new TripLogger(opts.log.child({ actor: this.id }));
    this.threads = new Supervisor({
      id: `${this.name}.threads`,
      kind: 'threadSupervisor',
      strategy: 'one_for_one',
      intensity: opts.restartIntensity ?? 5,
      periodMs: opts.restartPeriodMs ?? 10_000,
      backoffInitialMs: opts.backoffInitialMs ?? 2000,
      backoffMaxMs: opts.backoffMaxMs ?? 60_000,
      log: this.log,
    });
  }

  async start(): Promise<this> {
    const { row, options } = this.opts;
    if (row.protocol === null) {
      throw new PosternError('NOT_IMPLEMENTED', `service ${row.name} (${row.description}) is not implemented yet`);
    }
    await this.resolvePorts(options);
    this.pool = new Piscina({
      filename: POOL_URL,
      minThreads: options.minPoolThreads,
      maxThreads: options.maxPoolThreads,
      idleTimeout: 30_000,
    });
    this.threads.onExit((reason) => {
      if (this.state === 'stopping' || this.state === 'stopped') return;
      this.log.error({ reason }, 'connection threads gave up: restarting the service');
      void this.shutdown(reason);
    });
    await this.threads.start();
    try {
      for (let i = 0; i < options.minConnThreads; i++) await this.addThread();
    } catch (e) {
      await this.shutdown({ kind: 'error', error: errorToData(e) });
      throw e;
    }
    this.state = 'running';
    this.scaler = setInterval(() => this.rescale(), this.loadIntervalMs);
    this.scaler.unref();
    this.log.info({ listeners: this.ports, threads: options.minConnThreads }, 'service started');
    return this;
  }

  private async resolvePorts(o: ServiceOptions): Promise<void> {
    for (const l of o.listeners) {
      if (l.enable && this.ports[l.key] === undefined) this.ports[l.key] = l.address.port === 0 ? await freePort(l.address.host) : l.address.port;
    }
    for (const l of o.udpListeners) {
      if (l.enable && this.ports[l.key] === undefined) this.ports[l.key] = l.address.port === 0 ? await freeUdpPort(l.address.host, l.address.family) : l.address.port;
    }
  }

  /** Ports actually bound, by listener key (port 0 resolved). */
  boundPorts(): Readonly<Record<string, number>> {
    return this.ports;
  }

  private async addThread(): Promise<void> {
    const threadId = `${this.name}.t${++this.threadSeq}`;
    await this.threads.startChild({
      id: threadId,
      restart: 'transient',
      shutdown: this.opts.shutdownTimeoutMs,
      start: () =>
        startConnThread({
          storePort: this.opts.storeConnect?.(threadId),
          data: {
            threadId,
            serviceName: this.name,
            protocol: this.opts.row.protocol!,
            options: this.options,
            ports: this.ports,
            logLevel: this.opts.logLevel,
            loadIntervalMs: this.loadIntervalMs,
            globalRules: this.globalRules,
            stress: [...this.stressed],
            webSessions: this.webSessions !== null,
            admin: this.opts.row.admin && this.opts.admin !== undefined,
          },
          heapBytes: this.options.connThreadHeapBytes,
          onMessage: (t, m) => this.onThreadMessage(t, m),
          onCall: (t, m) => this.onThreadCall(t, m),
        }),
    });
  }

  private liveThreads(): ConnThread[] {
    const out: ConnThread[] = [];
    for (const c of this.threads.whichChildren()) {
      if (c.child instanceof ConnThread && c.state === 'running' && c.child.state === 'running') out.push(c.child);
    }
    return out;
  }

  /** A thread's call (the port-RPC, actors/conn-thread.ts): the value is its reply. */
  private onThreadCall(t: ConnThread, m: HostCall): Admitted | LoginGated | Promise<unknown> {
    switch (m.t) {
      case 'admit': {
        const tickets = this.ticketsOf(t);
        if (tickets === null) return { ok: false, reason: 'shutting_down' }; // the thread has exited
        const r = this.admission.admit(m.listener, m.ip);
        if (r.ok) {
          tickets.add(r.ticket);
          this.checkStress(m.listener);
          return { ok: true, ticket: r.ticket };
        }
        this.trips.trip(this.name, m.listener, r);
        return { ok: false, reason: r.reason };
      }
      case 'loginGate': {
        const ip = normalIp(m.ip);
        const g = m.again !== undefined ? this.logins.recheck(ip, m.again) : this.logins.gate(ip);
        return g.banned ? { banned: true, waitMs: 0, at: 0 } : { banned: false, waitMs: g.waitMs, at: g.at };
      }
      case 'task':
        return this.runTask(m.task, m.payload);
      case 'webSession': {
        const table = this.webSessions;
        if (table === null) return Promise.reject(new PosternError('NOT_IMPLEMENTED', `service ${this.name} keeps no web sessions`));
        if (m.op === 'create') return Promise.resolve(table.createNow(m.user, m.ip));
        if (m.op === 'get') return Promise.resolve(table.getNow(m.id));
        return table.destroy(m.id).then(() => null);
      }
      case 'backendSlot': {
        if (t.state === 'failed' || t.state === 'stopped' || this.backendTotal >= m.limit) return Promise.resolve(false);
        if (!this.backendSlots.has(t)) {
          t.onExit(() => {
            // its sessions, and their back-end connections, are gone with it
            this.backendTotal -= this.backendSlots.get(t) ?? 0;
            this.backendSlots.delete(t);
          });
        }
        this.backendSlots.set(t, (this.backendSlots.get(t) ?? 0) + 1);
        this.backendTotal++;
        return Promise.resolve(true);
      }
      case 'admin': {
        const run = this.opts.row.admin ? this.opts.admin : undefined;
        if (run === undefined) return Promise.reject(new PosternError('CONTROL_FORBIDDEN', `service ${this.name} may not run admin commands`));
        return run(m.verb, m.args);
      }
    }
  }

  private onThreadMessage(t: ConnThread, m: FromThread): void {
    switch (m.t) {
      case 'release':
        this.held.get(t)?.delete(m.ticket);
        this.admission.release(m.ticket);
        if (m.reason === 'error_limit' || m.reason === 'idle_timeout') this.admission.countClose(m.listener, m.reason);
        this.checkStress(m.listener);
        break;
      case 'loginResult': {
        const ip = normalIp(m.ip);
        const r = this.logins.result(ip, m.ok);
        if (m.ok !== false) break;
        // one line per failed login, each key once (the logger carries `service`): fail2ban-friendly
        this.log.warn({ ip, user: m.user, listener: m.listener, failures: r.failures }, 'login failed');
        if (r.banned) {
          const o = this.logins.options;
          this.log.warn({ ip, failures: r.failures, banSeconds: o.banTimeMs / 1000 },
            `login ban: ${r.failures} failed logins within authFailureWindow (authBanThreshold = ${o.banThreshold}); refusing the IP for authBanTime`);
        }
        break;
      }
      case 'load':
        for (const [k, n] of Object.entries(m.counts ?? {})) this.counters[k] = (this.counters[k] ?? 0) + n;
        for (const [key, c] of Object.entries(m.udp)) {
          const u = this.udpStats.get(key) ?? { accepted: 0, refused: 0 };
          u.accepted += c.accepted;
          u.refused += c.refused;
          this.udpStats.set(key, u);
        }
        break;
      case 'listenerState':
        if (m.error === null) this.listenerErrors.delete(m.listener);
        else if (!this.listenerErrors.has(m.listener)) {
          this.listenerErrors.set(m.listener, m.error);
          this.log.error({ listener: m.listener, err: m.error }, 'listener cannot open: not listening');
        }
        break;
      case 'backendSlotFree': {
        const n = this.backendSlots.get(t) ?? 0;
        if (n > 0) {
          this.backendSlots.set(t, n - 1);
          this.backendTotal--;
        }
        break;
      }
      case 'drained': {
        const id = t.id;
        setImmediate(() => void this.threads.deleteChild(id).catch(() => {}));
        break;
      }
      default:
        break;
    }
  }

  /** Stress mode: a listener over STRESS_PERCENT of its maxConnections; threads are told. */
  private checkStress(key: string): void {
    const max = this.options.listeners.find((l) => l.key === key)?.flow.maxConnections ?? Infinity;
    const open = this.admission.openOn(key);
    const on = max > 0 && Number.isFinite(max) && open * 100 > max * STRESS_PERCENT;
    if (on === this.stressed.has(key)) return;
    if (on) this.stressed.add(key);
    else this.stressed.delete(key);
    if (on) this.log.warn({ listener: key, open, maxConnections: max }, 'listener in stress mode: deadlines shortened');
    else this.log.info({ listener: key, open, maxConnections: max }, 'listener out of stress mode');
    for (const c of this.threads.whichChildren()) if (c.child instanceof ConnThread) c.child.send({ t: 'stress', listener: key, on });
  }

  /** The tickets `t` holds (watching its exit on first use); null once it has exited. */
  private ticketsOf(t: ConnThread): Set<number> | null {
    if (t.state === 'failed' || t.state === 'stopped') return null;
    let set = this.held.get(t);
    if (set === undefined) {
      const mine = new Set<number>();
      set = mine;
      this.held.set(t, mine);
      t.onExit(() => {
        // crash, heap cap, drain, stop or terminate: its sessions are gone with it
        this.held.delete(t);
        let n = 0;
        for (const ticket of mine) if (this.admission.release(ticket)) n++;
        mine.clear();
        if (n > 0) this.log.info({ thread: t.id, released: n }, 'released the admissions of an exited connection thread');
      });
    }
    return set;
  }

  /** Run a CPU task on this service's pool. */
  async runTask(task: string, payload: unknown): Promise<unknown> {
    if (this.pool === null) throw new PosternError('SERVICE_NOT_RUNNING', `service ${this.name} is not running`);
    const v = (await this.pool.run({ task, payload })) as { __error?: ErrorData } | unknown;
    if (v !== null && typeof v === 'object' && '__error' in v && v.__error !== undefined) {
      const { errorFromData } = await import('../src/errors.ts');
      throw errorFromData(v.__error as ErrorData);
    }
    return v;
  }

  private rescale(): void {
    this.admission.sweep();
    this.logins.sweep();
    this.webSessions?.sweep();
    if (this.state !== 'running' || this.scaling) return;
    const live = this.liveThreads().filter((t) => !t.draining);
    // a thread being restarted by the threads supervisor still counts toward min/max
    const n = this.threads.whichChildren().filter((c) => !(c.child instanceof ConnThread && c.child.draining)).length;
    if (live.length === 0) return;
    const { minConnThreads: min, maxConnThreads: max, threadSessions } = this.options;
    const sessions = live.reduce((a, t) => a + t.sessions, 0);
    const elu = live.reduce((a, t) => a + t.elu, 0) / live.length;
    if (n < min || (n < max && (sessions > n * threadSessions || elu > 0.75))) {
      this.idleSince = null;
      this.scaling = true;
      this.log.info({ threads: n + 1, sessions, elu }, 'adding a connection thread');
      void this.addThread()
        .catch((e) => this.log.error({ err: e }, 'could not add a connection thread'))
        .finally(() => (this.scaling = false));
      return;
    }
    const quiet = sessions <= ((n - 1) * threadSessions) / 2 && elu < 0.25;
    if (n > min && quiet) {
      const now = Date.now();
      this.idleSince ??= now;
      if (now - this.idleSince >= this.options.threadIdleTimeoutMs) {
        this.idleSince = null;
        const victim = live.reduce((a, b) => (b.sessions < a.sessions ? b : a));
        this.log.info({ thread: victim.id, threads: n - 1 }, 'draining an idle connection thread');
        victim.drain();
      }
    } else this.idleSince = null;
  }

  /** Apply changed options to new connections; open connections keep going. */
  async reconfigure(next: ServiceOptions, globalRules: ServiceHostOptions['globalRules']): Promise<void> {
    await this.resolvePorts(next);
    this.options = next;
    this.globalRules = globalRules;
    this.admission.reconfigure(next, globalRules);
    this.logins.setOptions(loginThrottleOptions(next));
    // each thread applies it (comlink, actors/conn-thread.ts); the reload returns once they have
    await Promise.all(this.liveThreads().map((t) => t.reconfigure(next, this.ports, globalRules).catch((e: unknown) => this.log.error({ err: e, thread: t.id }, 'thread did not apply the reload'))));
    for (const key of new Set([...this.stressed, ...next.listeners.map((l) => l.key)])) this.checkStress(key);
    this.log.info('service reconfigured');
  }

  /** Fault injection (only when the server's config enables it). */
  injectFault(kind: 'crash' | 'oom' | 'hang', index = 0): string {
    const live = this.liveThreads();
    const t = live[index % Math.max(1, live.length)];
    if (t === undefined) throw new PosternError('SERVICE_NOT_RUNNING', `service ${this.name} has no running thread`);
    t.send({ t: 'fault', kind });
    return t.id;
  }

  onExit(listener: (reason: ExitReason) => void): void {
    if (this.exitReason !== null) queueMicrotask(() => listener(this.exitReason!));
    else this.exitListeners.push(listener);
  }

  private async shutdown(reason: ExitReason): Promise<void> {
    if (this.state === 'stopped' || this.exitReason !== null) return;
    this.state = 'stopping';
    if (this.scaler !== null) clearInterval(this.scaler);
    await this.threads.stop().catch(() => {});
    await this.pool?.close({ force: true }).catch(() => {});
    this.pool = null;
    this.state = reason.kind === 'error' ? 'failed' : 'stopped';
    if (reason.kind === 'error') this.lastError = reason.error;
    this.exitReason = reason;
    for (const l of this.exitListeners.splice(0)) l(reason);
  }

  async stop(reason: ExitReason = { kind: 'shutdown' }): Promise<void> {
    await this.shutdown(reason);
  }

  /** The server is stopping: every thread closes its listeners now (not one after another as
   * the supervisor stops them) and its sessions say goodbye as their transactions end. */
  beginStop(deadlineMs: number): void {
    if (this.state === 'stopped' || this.exitReason !== null) return;
    this.state = 'stopping';
    if (this.scaler !== null) clearInterval(this.scaler);
    for (const c of this.threads.whichChildren()) if (c.child instanceof ConnThread) c.child.beginStop(deadlineMs);
  }

  kill(): void {
    for (const c of this.threads.whichChildren()) c.child?.kill();
    void this.shutdown({ kind: 'shutdown' });
  }

  info(): ActorInfo {
    const t = this.threads.info();
    const i: ActorInfo = {
      id: this.id,
      kind: 'service',
      state: this.state,
      mailboxDepth: 0,
      mailboxCapacity: 0,
      restarts: 0,
      children: [
        t,
        {
          id: `${this.name}.pool`,
          kind: 'pool',
          state: this.pool === null ? 'stopped' : 'running',
          mailboxDepth: this.pool?.queueSize ?? 0,
          mailboxCapacity: 0,
          restarts: 0,
          extra: { threads: this.pool?.threads.length ?? 0, completed: this.pool?.completed ?? 0 },
        },
      ],
    };
    if (this.lastError !== undefined) i.lastError = this.lastError;
    return i;
  }

  status(): ServiceStatus {
    const snap = this.admission.snapshot();
    const live = this.liveThreads();
    return {
      name: this.name,
      state: this.state,
      implemented: true,
      connThreads: { min: this.options.minConnThreads, max: this.options.maxConnThreads, current: live.length },
      listeners: [
        ...snap.listeners.map((l): ListenerStatus => ({
        key: l.key,
        transport: 'tcp' as const,
        enable: this.options.listeners.find((x) => x.key === l.key)?.enable ?? false,
        listening: live.length > 0 && this.ports[l.key] !== undefined && !this.listenerErrors.has(l.key),
        port: this.ports[l.key],
        ...(this.listenerErrors.has(l.key) ? { error: { code: this.listenerErrors.get(l.key)!.code, message: this.listenerErrors.get(l.key)!.message } } : {}),
        open: l.open,
        accepted: l.accepted,
        // sessions closed by error control and idle timeouts are counted beside the refusals
        refused: { ...l.refused, ...l.closed } as Record<string, number>,
        stress: this.stressed.has(l.key),
      })),
      ].concat(
        this.options.udpListeners.map((l): ListenerStatus => {
          const u = this.udpStats.get(l.key) ?? { accepted: 0, refused: 0 };
          return { key: l.key, transport: 'udp' as const, enable: l.enable, listening: live.length > 0 && this.ports[l.key] !== undefined, port: this.ports[l.key], open: 0, accepted: u.accepted, refused: { deny_rule: u.refused } };
        }),
      ),
      rules: snap.rules,
      openConnections: snap.listeners.reduce((a, l) => a + l.open, 0),
      ...(this.options.transport === 'tcp' ? { logins: this.logins.figures() } : {}),
      pool: { threads: this.pool?.threads.length ?? 0, queued: this.pool?.queueSize ?? 0, completed: this.pool?.completed ?? 0 },
      counters: { ...this.counters },
    };
  }
}

export async function startServiceHost(opts: ServiceHostOptions): Promise<ServiceHost> {
  return new ServiceHost(opts).start();
}
