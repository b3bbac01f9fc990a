/**
 * workers/conn-thread.ts: a connection thread (worker_threads entry point).
 *
 * Accepts on every enabled listener of its service with `reusePort`, so the kernel spreads new
 * connections over the service's threads. Each connection is admitted by the service host on
 * the main thread (flow windows and rules are counted there, exactly, across threads) before
 * its session actor exists (admission, pool tasks, the login gate and an HTTP service's web
 * sessions are calls to the host on the port-RPC, src/actor/rpc.ts, over `hostPort`); a refused one gets the protocol's own short refusal and is closed.
 * Reports its load (sessions, event-loop utilisation, session actors) to the host, which scales
 * the thread count. While the host says a listener is in stress mode (over 80 % of its
 * maxConnections), its sessions' idle timeout is capped at the service's stressTimeout, and
 * LineSession caps its command deadline the same way (`ctx.stressed()`). `drain` stops accepting and exits when the last session ends; `stop` also
 * asks every session to say goodbye and exits at the deadline. The thread's log records also
 * go, by the service's logLevel/logType/logHost, to the Log service or syslog (a LogSink,
 * net/log-sink.ts, on the root logger; its last records answer `logTail`). Throws nothing: an uncaught
 * error ends the thread, and its service supervisor replaces it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import net from 'node:net';
import dgram from 'node:dgram';
import { compileRules } from '../src/net/rules.ts';
import { secureContextFor, wrapServerSocket } from '../src/net/tls.ts';
import { performance } from 'node:perf_hooks';
import { attachLogSink, createRootLogger } from '../src/log.ts';
import { LogSink } from '../src/net/log-sink.ts';
import { minPinoLevel } from '../src/net/syslog.ts';
import { StoreClient } from '../src/store/client.ts';
import { errorToData, PosternError } from '../src/errors.ts';
import { RpcClient } from '../src/actor/rpc.ts';
import { exposeControl } from '../src/actor/control.ts';
import type { Admitted, ConnThreadControl, ConnThreadData, FromThread, GlobalRules, HostCall, LoginGated, ToThread, UdpCounts } from '../src/service/messages.ts';
import type { DatagramModule, ProtocolModule, SessionContext, SessionEndReason, SessionHandle, SessionTable, WebSession, WorkerModule } from '../src/service/protocol.ts';
import type { Logger } from '../src/log.ts';
import type { ServiceOptions, TcpListenerOptions, UdpListenerOptions } from '../src/config/options.ts';
import { effectiveTimeout, sessionLimits } from '../src/session/limits.ts';
import { connectionCounter, isReportCounter, loginCounter } from '../src/service/report.ts';
import { deepFreeze } from '../src/config/resolve.ts';

const data = workerData as ConnThreadData;
const port = parentPort!;
const log = createRootLogger(data.logLevel, { service: data.serviceName, actor: data.threadId });
let options: ServiceOptions = deepFreeze(data.options); // (a structured clone is not frozen)
let ports: Record<string, number> = data.ports;
let globalRules: GlobalRules = data.globalRules;
const store: StoreClient | null = data.storePort === undefined ? null : new StoreClient(data.storePort);

const post = (m: FromThread): void => port.postMessage(m);
/** Calls to the service host; admission and the login gate wait as long as the host takes. */
const host = new RpcClient<HostCall>(data.hostPort!, { name: `service host ${data.serviceName}`, timeoutMs: Infinity, flat: true });

/** An HTTP service's web sessions, kept on the host (http/session-table.ts): one client for
 * every session of the thread. A call the host does not answer in 10 s rejects ACTOR_TIMEOUT. */
const WEB_SESSION_TIMEOUT_MS = 10_000;
/** `<PREFIX>_Sessions` when it is a Report counter (WEBMAIL_Sessions). */
function webSessionCounter(): string | undefined {
  const c = connectionCounter(data.serviceName)?.replace(/_InboundConnection$/, '_Sessions');
  return c !== undefined && isReportCounter(c) ? c : undefined;
}
const webSessions: SessionTable | undefined = data.webSessions === true
  ? {
      create: async (user, ip) => {
        const w = await host.call<WebSession>({ t: 'webSession', op: 'create', user, ip }, WEB_SESSION_TIMEOUT_MS);
        const c = webSessionCounter();
        if (c !== undefined) count(c, 1, user); // WEBMAIL_Sessions (service/report.ts)
        return w;
      },
      get: (id) => host.call<WebSession | null>({ t: 'webSession', op: 'get', id }, WEB_SESSION_TIMEOUT_MS),
      destroy: async (id) => {
        await host.call({ t: 'webSession', op: 'destroy', id }, WEB_SESSION_TIMEOUT_MS);
      },
    }
  : undefined;

/** Admin commands (HostCall `admin`), for the services whose row allows them (cli, webadmin).
 * A command the server does not finish in 5 minutes rejects ACTOR_TIMEOUT. */
const ADMIN_TIMEOUT_MS = 300_000;
const admin = data.admin === true
  ? (verb: string, args: Record<string, unknown>): Promise<unknown> => host.call<unknown>({ t: 'admin', verb, args }, ADMIN_TIMEOUT_MS)
  : undefined;


const servers = new Map<string, net.Server>(); // listener key → server
const udpSockets = new Map<string, dgram.Socket>();
let udpCounts: UdpCounts = {};
let eventCounts: Record<string, number> = {}; // SessionContext.count, sent with each load report
/** The counts given an account, event → account → n, sent with each load report; at most
 * MAX_SCOPED accounts per report, the rest under `other`. */
let scopedCounts: Record<string, Record<string, number>> = {};
let scopedKeys = 0;
const MAX_SCOPED = 10_000;

/** SessionContext.count, DatagramContext.count, WorkerContext.count. */
function count(event: string, by = 1, account?: string | readonly string[]): void {
  if (!Number.isFinite(by)) return;
  eventCounts[event] = (eventCounts[event] ?? 0) + by;
  if (account === undefined) return;
  for (const a of typeof account === 'string' ? [account] : account) {
    if (a === '') continue;
    const m = (scopedCounts[event] ??= {});
    let key = a.slice(0, 320).toLowerCase();
    if (m[key] === undefined) {
      if (scopedKeys >= MAX_SCOPED) key = 'other';
      else scopedKeys++;
    }
    m[key] = (m[key] ?? 0) + by;
  }
}

/** The thread's records to the Log service (net/log-sink.ts), by the service's logLevel,
 * logType and logHost; a record the send queue cannot take is counted as `log.dropped`. */
const logSink = new LogSink({
  hostname: () => options.hostname,
  route: () => (options.logging === undefined ? null : { mask: options.logging.levels, target: options.logging.target, type: options.logging.type }),
  queueSize: () => options.logging?.queueSize ?? 1000,
  onDrop: () => {
    eventCounts['log.dropped'] = (eventCounts['log.dropped'] ?? 0) + 1;
  },
});
const applyLogSink = (): void => void attachLogSink(options.logging === undefined ? null : { minLevel: minPinoLevel(options.logging.levels), write: (l) => logSink.write(l) });
applyLogSink();
const sessions = new Map<net.Socket, Conn>(); // admitted connections, by socket
let connSeq = 0;
let draining = false;
let stopping = false;
let protocol: ProtocolModule;
const stressed = new Set<string>(data.stress ?? []); // listener keys in stress mode

/** A session's idle timeout now: capped at stressTimeout while its listener is stressed. */
function idleMsFor(l: TcpListenerOptions): number {
  return effectiveTimeout(l.idleTimeoutMs, sessionLimits(options), stressed.has(l.key));
}

function setStress(key: string, on: boolean): void {
  if (on === stressed.has(key)) return;
  if (on) stressed.add(key);
  else stressed.delete(key);
  const l = listenerOptions(key);
  if (l === undefined || !(l.idleTimeoutMs > 0) || !Number.isFinite(l.idleTimeoutMs)) return;
  const ms = idleMsFor(l);
  // re-arms each open session's idle timer (its handler stays attached)
  for (const s of sessions.values()) if (s.key === key && !s.ended && !s.socket.destroyed) s.socket.setTimeout(ms);
}

function listenerOptions(key: string): TcpListenerOptions | undefined {
  return options.listeners.find((l) => l.key === key);
}

function openListener(l: TcpListenerOptions): Promise<void> {
  const onConn = (socket: net.Socket): void => onConnection(l.key, socket);
  // TLS listeners too accept plain sockets: admission (rules, windows) comes before the
  // handshake, and the handshake runs only for admitted connections.
  if (l.sslEnable) secureContextFor(l); // fail at listen time, not per connection
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, onConn);
  servers.set(l.key, server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: l.address.host, port: ports[l.key] ?? l.address.port, reusePort: true, backlog: 4096 }, () => {
      server.off('error', reject);
      server.on('error', (e) => log.error({ err: e, listener: l.key }, 'listener error'));
      resolve();
    });
  });
}

/** Why listener `key` cannot open, naming it (`details.listener`, which /status shows). */
function listenFailed(key: string, e: unknown): PosternError {
  return new PosternError('LISTEN_FAILED', `${data.serviceName}: listener ${key} cannot listen: ${(e as Error).message}`, { listener: key });
}

/** A UDP listener: rules decide per datagram (no connection fields apply). */
function openUdpListener(l: UdpListenerOptions): Promise<void> {
  const rules = compileRules({ listener: { ...l, key: l.key }, service: options, global: globalRules });
  const sock = dgram.createSocket({ type: l.address.family === 6 ? 'udp6' : 'udp4', reuseAddr: true, reusePort: true });
  udpSockets.set(l.key, sock);
  const mod = protocol as unknown as DatagramModule;
  const ctxLog = log.child({ listener: l.key });
  sock.on('message', (msg, rinfo) => {
    const c = (udpCounts[l.key] ??= { accepted: 0, refused: 0 });
    if (rules.match(rinfo.address).decision === 'deny') {
      c.refused++;
      return;
    }
    c.accepted++;
    try {
      mod.onDatagram(msg, { address: rinfo.address, port: rinfo.port }, {
        service: options,
        listener: l,
        log: ctxLog,
        store,
        reply: (d) => sock.send(d, rinfo.port, rinfo.address),
        ...(data.dataDir === undefined ? {} : { dataDir: data.dataDir }),
        count: (event, by) => count(event, by),
      });
    } catch (e) {
      ctxLog.error({ err: e }, 'datagram handler failed');
    }
  });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ address: l.address.host, port: ports[l.key] ?? l.address.port }, () => {
      sock.off('error', reject);
      sock.on('error', (e) => log.error({ err: e, listener: l.key }, 'UDP listener error'));
      resolve();
    });
  });
}

function closeListener(key: string): void {
  const u = udpSockets.get(key);
  if (u !== undefined) {
    udpSockets.delete(key);
    u.close();
  }
  const s = servers.get(key);
  if (s === undefined) return;
  servers.delete(key);
  s.close();
}

function ignoreError(): void {}

function onConnection(listenerKey: string, socket: net.Socket): void {
  // errors end the socket; 'close' does the accounting (a module function: a closure made here
  // would keep this call's scope, the socket and the key, alive as long as the connection)
  socket.on('error', ignoreError);
  const ip = socket.remoteAddress ?? '';
  if (draining || stopping) {
    refuse(listenerKey, socket, 'shutting_down');
    return;
  }
  const onAdmitted = (m: Admitted): void => {
    if (socket.destroyed) {
      if (m.ok) post({ t: 'release', ticket: m.ticket, listener: listenerKey, reason: 'client_closed' });
      return;
    }
    if (!m.ok || stopping) {
      if (m.ok) post({ t: 'release', ticket: m.ticket, listener: listenerKey, reason: 'shutdown' });
      refuse(listenerKey, socket, m.ok ? 'shutting_down' : m.reason);
      return;
    }
    startSession(listenerKey, socket, m.ticket);
  };
  host.call<Admitted>({ t: 'admit', listener: listenerKey, ip }).then(onAdmitted, () => socket.destroy()); // no host: the thread is ending
}

/**
 * Refuse a connection before its session starts. On a plain listener: the protocol's short
 * refusal, then close. On an implicit-TLS listener the client is already sending its
 * ClientHello and expects a TLS record, so no plaintext may be written: the connection is
 * closed at once, with no bytes (the client sees EOF or a reset, never a garbage record).
 * Not a handshake first: refusals come in floods (deny rules, flow windows, a shutdown), and a
 * handshake costs the server a private-key operation and a few KB per refused connection, paid
 * on the accepting thread, which is what a flood wants; a legitimate client seeing a closed
 * connection retries later as it would after a 421, and /status counts each refusal's reason.
 */
function refuse(listenerKey: string, socket: net.Socket, reason: Parameters<ProtocolModule['refusal']>[0]): void {
  if (listenerOptions(listenerKey)?.sslEnable === true) {
    socket.destroy();
    return;
  }
  socket.end(protocol.refusal(reason, options));
  socket.destroySoon();
}

/**
 * One admitted connection: the thread's record of it and its session's `SessionContext`, in
 * one object. Idle connections are the common case (10,000 of them per server), so nothing
 * here is made per connection that can be shared: the context's functions are prototype
 * methods (no closures), the socket's 'close' and 'timeout' listeners are module functions
 * that find their `Conn` in `sessions` by socket, and the child logger is made on first use.
 * (An object literal with a getter and spreads was a dictionary-mode object of ~850 bytes.)
 */
class Conn implements SessionContext {
  handle: SessionHandle | null = null;
  endReason: SessionEndReason = 'client_closed';
  ended = false;
  released = false;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly secure: boolean;
  readonly service: ServiceOptions;
  /** The socket the session reads and writes (the TLS socket on an implicit-TLS listener). */
  top: net.Socket;
  private sessionLog: Logger | undefined = undefined;

  readonly socket: net.Socket;
  readonly ticket: number;
  /** The listener's key. */
  readonly key: string;
  readonly connId: string;
  readonly listener: TcpListenerOptions;

  constructor(socket: net.Socket, ticket: number, key: string, connId: string, listener: TcpListenerOptions) {
    this.socket = socket;
    this.ticket = ticket;
    this.key = key;
    this.connId = connId;
    this.listener = listener;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.secure = listener.sslEnable;
    this.service = options;
    this.top = socket;
  }

  get log(): Logger {
    return (this.sessionLog ??= log.child({ conn: this.connId }));
  }

  get store(): StoreClient | null {
    return store;
  }

  stressed(): boolean {
    return stressed.has(this.key);
  }

  loginGate(): Promise<boolean> {
    return loginGate(this.remoteAddress);
  }

  loginResult(ok: boolean | null, user: string): void {
    // the Report service's login counters; per account only a success (a failure's name is anyone's)
    const c = ok === null ? undefined : loginCounter(data.serviceName, ok);
    if (c !== undefined) count(c, 1, ok === true ? user : undefined);
    post({ t: 'loginResult', ip: this.remoteAddress, ok, user: user.slice(0, 256), listener: this.key });
  }

  end(reason: SessionEndReason, current?: net.Socket): void {
    if (!this.ended) {
      this.ended = true; // the first reason given is the one counted
      this.endReason = reason;
    }
    const top = current ?? this.top;
    // (end() on a stream already ended builds an error object: a profile showed it per session)
    if (!top.destroyed && !top.writableEnded) top.end();
    // a peer that never reads its last reply must not hold the connection open
    const socket = this.socket;
    setTimeout(() => socket.destroy(), 5000).unref();
  }

  /** The socket's idle timeout fired. */
  idle(): void {
    try {
      // the protocol writes its farewell and closes; without one, the thread closes
      if (this.handle?.idleTimeout !== undefined) this.handle.idleTimeout();
      else this.end('idle_timeout');
    } catch {
      this.end('idle_timeout');
    }
  }
}
interface Conn {
  runTask: SessionContext['runTask'];
  count: SessionContext['count'];
  backendSlot: NonNullable<SessionContext['backendSlot']>;
  webSessions?: SessionTable;
  admin?: SessionContext['admin'];
}
// shared by every connection, on the prototype; none of them uses `this` (callers may take them
// off the context: `const admin = ctx.admin`)
Conn.prototype.runTask = runTask;
Conn.prototype.count = count;
Conn.prototype.backendSlot = async (limit: number): Promise<(() => void) | null> => {
  if (!(await host.call<boolean>({ t: 'backendSlot', limit }))) return null;
  let given = false;
  return () => {
    if (given) return;
    given = true;
    post({ t: 'backendSlotFree' });
  };
};
if (webSessions !== undefined) Conn.prototype.webSessions = webSessions;
if (admin !== undefined) Conn.prototype.admin = admin;

/** 'close' of an admitted connection's socket (`this`): release its admission once. */
function onConnClose(this: net.Socket): void {
  const c = sessions.get(this);
  if (c === undefined || c.released) return;
  c.released = true;
  sessions.delete(this);
  post({ t: 'release', ticket: c.ticket, listener: c.key, reason: c.endReason });
  maybeExit();
}

/** 'timeout' (the listener's idleTimeout) of an admitted connection's socket (`this`). */
function onConnIdle(this: net.Socket): void {
  sessions.get(this)?.idle();
}

function startSession(listenerKey: string, socket: net.Socket, ticket: number): void {
  const l = listenerOptions(listenerKey);
  const connId = `${data.threadId}.c${++connSeq}`;
  if (l === undefined) {
    post({ t: 'release', ticket, listener: listenerKey, reason: 'shutdown' });
    socket.destroy();
    return;
  }
  const c = new Conn(socket, ticket, listenerKey, connId, l);
  sessions.set(socket, c);
  socket.on('close', onConnClose);
  if (l.sslEnable) {
    const t = wrapServerSocket(socket, l);
    t.on('error', () => socket.destroy());
    c.top = t;
  }
  const connCounter = connectionCounter(data.serviceName);
  if (connCounter !== undefined) count(connCounter);
  if (l.idleTimeoutMs > 0 && Number.isFinite(l.idleTimeoutMs)) {
    socket.setTimeout(idleMsFor(l));
    socket.on('timeout', onConnIdle);
  }
  try {
    c.handle = protocol.startSession(c.top, c);
    socket.resume();
  } catch (e) {
    log.error({ err: e, conn: connId }, 'session failed to start');
    c.endReason = 'error';
    socket.destroy();
  }
}

/** A CPU task on the service's pool, through the host; ACTOR_TIMEOUT after `timeoutMs`. */
function runTask(task: string, payload: unknown, timeoutMs = 30_000): Promise<unknown> {
  return host.call({ t: 'task', task, payload }, timeoutMs);
}

/** Ask the host's login throttle (auth/throttle.ts) before a check; wait what it says, then
 * (after a wait) ask again whether the IP was banned meanwhile. Resolves false when banned. */
async function loginGate(ip: string, again?: number): Promise<boolean> {
  const m = await host.call<LoginGated>(again === undefined ? { t: 'loginGate', ip } : { t: 'loginGate', ip, again });
  if (m.banned) return false;
  if (m.waitMs <= 0) return true;
  await new Promise((resolve) => setTimeout(resolve, m.waitMs));
  return loginGate(ip, m.at);
}

let exiting = false;
function maybeExit(): void {
  if ((draining || stopping) && sessions.size === 0 && !exiting) {
    exiting = true;
    const w = worker;
    void (w === null ? Promise.resolve() : w.stop().catch((e) => log.error({ err: e }, 'worker stop failed'))).then(() => {
      post({ t: 'load', sessions: 0, elu: 0, actors: [], udp: udpCounts, counts: eventCounts, scoped: scopedCounts }); // the last counts
      post({ t: 'drained' });
      setImmediate(() => process.exit(0));
    });
  }
}

function beginDrain(): void {
  draining = true;
  for (const key of [...servers.keys(), ...udpSockets.keys()]) closeListener(key);
  maybeExit();
}

/** Close the listeners first (new clients are refused by the kernel from here on), then ask
 * every session for its goodbye: an idle one says it at once, one in the middle of a
 * transaction when that is over; at the deadline every session says it at once and is closed.
 * A second `stop` (the supervisor's, after the server's early one) changes nothing. */
function beginStop(deadlineMs: number): void {
  if (stopping) return;
  stopping = true;
  beginDrain();
  const shutdownAll = (now: boolean): void => {
    for (const s of sessions.values()) {
      s.endReason = 'shutdown';
      try {
        s.handle?.shutdown(now);
      } catch {
        s.socket.destroy();
      }
    }
  };
  shutdownAll(false);
  setTimeout(() => {
    shutdownAll(true);
    setTimeout(() => {
      for (const s of sessions.values()) s.socket.destroy();
      setTimeout(() => process.exit(0), 50);
    }, 200);
  }, deadlineMs).unref();
  maybeExit();
}

function injectFault(kind: 'crash' | 'oom' | 'hang'): void {
  log.warn({ fault: kind }, 'fault injected');
  if (kind === 'crash') {
    setImmediate(() => {
      throw new Error('injected fault: crash');
    });
  } else if (kind === 'oom') {
    const hog: unknown[] = [];
    const grow = (): void => {
      for (let i = 0; i < 2000; i++) hog.push(new Array(1024).fill(i));
      setImmediate(grow);
    };
    grow();
  } else {
    const until = Date.now() + 3_600_000;
    while (Date.now() < until) {
      /* a hung thread: only terminate() ends it */
    }
  }
}

async function reconfigure(next: ServiceOptions, nextPorts: Record<string, number>, nextRules: GlobalRules): Promise<void> {
  const before = new Map(options.listeners.map((l) => [l.key, l]));
  options = deepFreeze(next);
  applyLogSink();
  ports = nextPorts;
  globalRules = nextRules;
  if (draining || stopping) return;
  // UDP listeners are cheap to reopen: rules are compiled into each socket's handler
  for (const key of [...udpSockets.keys()]) closeListener(key);
  for (const l of next.udpListeners) {
    if (!l.enable) continue;
    try {
      await openUdpListener(l);
    } catch (e) {
      log.error({ err: e, listener: l.key }, 'UDP listener failed to open on reload');
    }
  }
  const wanted = new Set(next.listeners.filter((l) => l.enable).map((l) => l.key));
  for (const key of [...servers.keys()]) {
    const prev = before.get(key);
    const now = next.listeners.find((l) => l.key === key);
    const changedTls = prev !== undefined && now !== undefined && (prev.sslEnable !== now.sslEnable || JSON.stringify(prev.ssl) !== JSON.stringify(now.ssl));
    if (!wanted.has(key) || changedTls) closeListener(key);
  }
  for (const l of next.listeners) {
    if (l.enable && !servers.has(l.key)) {
      try {
        await openListener(l);
        post({ t: 'listenerState', listener: l.key, error: null });
      } catch (e) {
        servers.delete(l.key);
        log.error({ err: e, listener: l.key }, 'listener failed to open on reload');
        post({ t: 'listenerState', listener: l.key, error: errorToData(listenFailed(l.key, e)) });
      }
    }
  }
}

port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'drain':
      beginDrain();
      break;
    case 'stop':
      beginStop(m.deadlineMs);
      break;
    case 'fault':
      injectFault(m.kind);
      break;
    case 'stress':
      setStress(m.listener, m.on);
      break;
  }
});

/** The host's control-plane calls (comlink, src/actor/control.ts): a reload. */
const control: ConnThreadControl = { reconfigure, logTail: async (q) => logSink.tail(q) };
if (data.controlPort !== undefined) exposeControl(control, data.controlPort);

let elu = performance.eventLoopUtilization();
setInterval(() => {
  const now = performance.eventLoopUtilization();
  const delta = performance.eventLoopUtilization(now, elu);
  elu = now;
  const actors = [];
  for (const s of sessions.values()) {
    if (actors.length >= 50) break;
    if (s.handle !== null) actors.push(s.handle.info());
  }
  if (worker?.info !== undefined) actors.push(...worker.info().slice(0, 50));
  post({ t: 'load', sessions: sessions.size, elu: delta.utilization, actors, udp: udpCounts, counts: eventCounts, scoped: scopedCounts });
  udpCounts = {};
  eventCounts = {};
  scopedCounts = {};
  scopedKeys = 0;
}, data.loadIntervalMs).unref();

let worker: { stop(): Promise<void>; info?(): import('../src/actor/types.ts').ActorInfo[] } | null = null;

async function main(): Promise<void> {
  protocol = (await import(data.protocol)) as ProtocolModule;
  if (options.transport === 'none') {
    try {
      worker = await (protocol as unknown as WorkerModule).startWorker({ threadId: data.threadId, service: options, log, store, runTask, count });
    } catch (e) {
      post({ t: 'listenFailed', error: errorToData(e) });
      setImmediate(() => process.exit(1));
      return;
    }
    post({ t: 'listening', keys: [] });
    return;
  }
  const opens = [
    ...options.listeners.filter((l) => l.enable).map((l) => [l.key, () => openListener(l)] as const),
    ...options.udpListeners.filter((l) => l.enable).map((l) => [l.key, () => openUdpListener(l)] as const),
  ];
  for (const [key, open] of opens) {
    try {
      await open();
    } catch (e) {
      post({ t: 'listenFailed', error: errorToData(listenFailed(key, e)) });
      setImmediate(() => process.exit(1));
      return;
    }
  }
  post({ t: 'listening', keys: [...servers.keys(), ...udpSockets.keys()] });
}

void main();
