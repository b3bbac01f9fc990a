/**
 * actors/server.ts: the main thread of a running Postern: the root supervisor (one_for_one over the
 * running services, built from the services table), the configuration and its reload, the
 * control socket and the supervision status endpoint, and the signals. The main thread's log
 * records go to the Log service too (a LogSink by each record's service; `log.tail` merges its
 * last records with every thread's), and the Log service starts before the other services.
 * Start order: the store thread, the status endpoint (so /status shows the services coming
 * up), the services, the control socket, then "postern started".
 *
 * Exports: `startServer(opts)` → `Server`. Throws CONFIG_* (a bad config at start, including
 * CONFIG_TLS: certificate and key files are loaded before anything starts, and again at each
 * reload, which a bad file refuses), and the status endpoint's listen error. Once started, a
 * failing service is reported (its listener's error on /status, an error in the log, and no
 * "postern started" while it is down), never thrown.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import module from 'node:module';
import { Supervisor } from '../src/actor/supervisor.ts';
import { PosternError, errorToData } from '../src/errors.ts';
import { loadConfig, loadConfigFile, loadDefault } from '../src/config/load.ts';
import { writeConfig } from '../src/config/write.ts';
import type { ConfigModel } from '../src/config/model.ts';
import { checkTlsFiles } from '../src/net/tls.ts';
import { serviceRow, serviceRows } from '../src/service/table.ts';
import { registerServices, type ServiceRow } from '../src/config/schema.ts';
import { ServiceHost } from './service.ts';
import { workerHeapFlags } from '../src/process-tuning.ts';
import { startStatusServer } from '../src/status/http.ts';
import { startControlServer } from '../src/control/server.ts';
import { runCommand, type MainHandlers } from '../src/admin/commands.ts';
import { attachLogSink, createRootLogger, setLoggerLevel, type Logger } from '../src/log.ts';
import { LogSink, type TailQuery } from '../src/net/log-sink.ts';
import { minPinoLevel, type LogLevelName } from '../src/net/syslog.ts';
import { StoreThread } from './store-thread.ts';
import { learnSystemHostname } from '../src/net/hostname.ts';
import { createDnr } from '../src/net/dnr.ts';
import type { UserMap } from '../src/userdb/index.ts';
import type { ResolvedConfig, ServiceName } from '../src/config/options.ts';
import type { ServiceStatus, StatusDoc } from '../src/status/types.ts';
import type { MailStats } from '../src/status/metrics.ts';
import { ReportCollector } from '../src/protocols/report/collector.ts';
import { optionsOf } from '../src/config/options.ts';

export const VERSION = '0.1.0';

export interface StartOptions {
  /** Config file; else `configText`; else the embedded default. */
  configFile?: string;
  configText?: string;
  dataDir?: string;
  /** Override the status listener (tests pass port 0). */
  statusPort?: number;
  /** Start the node-ipc control socket (default true). */
  controlSocket?: boolean;
  /** Handle SIGHUP/SIGTERM/SIGINT (default false; the CLI turns it on). */
  signals?: boolean;
  /** Test hook: run these protocol modules in these service slots. */
  protocolOverrides?: Record<string, string>;
  /** Test hook: test-only service rows (config/schema.ts `registerServices`), so fixtures do
   * not borrow the slots of services to come. */
  testServices?: readonly ServiceRow[];
  loadIntervalMs?: number;
  backoffInitialMs?: number;
  /** Test hook: the clock (ms) of each TCP service's connection admission, whose interval
   * windows then slide only as it moves. Default performance.now. */
  admissionClock?: () => number;
  /** Test hook: the Report service's clock (ms since the epoch) for its samples and pruning. */
  reportClock?: () => number;
  log?: Logger;
}

export interface Server {
  readonly dataDir: string;
  readonly statusPort: number;
  readonly socketPath: string;
  status(): StatusDoc;
  /** Port bound for a service's listener key (e.g. '127.0.0.1:0' → 40123). */
  port(service: string, listenerIndex?: number): number;
  host(service: string): ServiceHost | undefined;
  reload(configText?: string): Promise<{ changed: string[] }>;
  startService(name: string): Promise<void>;
  stopService(name: string): Promise<void>;
  restartService(name: string): Promise<void>;
  injectFault(service: string, kind: 'crash' | 'oom' | 'hang', index?: number): string;
  /** The store's admin verbs (domain.add, account.add, …), as `postern ctl` sends them. */
  admin(verb: string, args?: Record<string, unknown>): Promise<unknown>;
  stop(): Promise<void>;
  /** Resolves when the server has stopped (by `stop`, a signal or the control socket). */
  readonly stopped: Promise<void>;
}

/** Keep the type-stripped, compiled sources on disk so that each thread does not strip and
 * compile them again (about half of a thread's memory at start). Worker threads inherit the
 * cache through NODE_COMPILE_CACHE, which must be set before they start. */
function enableCompileCache(): void {
  process.env.NODE_COMPILE_CACHE ??= path.join(os.tmpdir(), `postern-compile-cache-${process.getuid?.() ?? 'u'}`);
  module.enableCompileCache?.(process.env.NODE_COMPILE_CACHE);
}

export async function startServer(opts: StartOptions = {}): Promise<Server> {
  enableCompileCache();
  workerHeapFlags(); // the main thread's young-generation cap is not the workers' (src/process-tuning.ts)
  await learnSystemHostname(); // the default `hostname`, bounded in time
  if (opts.testServices !== undefined) registerServices(opts.testServices);
  const loaded = opts.configFile !== undefined ? await loadConfigFile(opts.configFile) : opts.configText !== undefined ? loadConfig(opts.configText, 'config') : loadDefault();
  checkTlsFiles(loaded.resolved, opts.configFile ?? (opts.configText !== undefined ? 'config' : '(embedded default)'));
  let config: ResolvedConfig = loaded.resolved;
  /** The running configuration's model (config.get; written by config.save). */
  let model: ConfigModel = loaded.model;
  const log = opts.log ?? createRootLogger(config.logLevel);
  /** The main thread's records (the service hosts', the server's) to the Log service: a
   * record naming a service goes by that service's logging, any other (module SERVER) by the
   * Log service's own. */
  const mainSink = new LogSink({
    hostname: () => config.hostname,
    route: (svc) => {
      const l = (svc !== undefined ? config.serviceOptions[svc as ServiceName]?.logging : undefined) ?? config.serviceOptions.log?.logging;
      return l === undefined ? null : { mask: l.levels, target: l.target, type: l.type };
    },
    queueSize: () => config.serviceOptions.log?.logging?.queueSize ?? 1000,
  });
  const mainLineSink = { minLevel: Infinity, write: (line: string) => mainSink.write(line) };
  const applyMainSink = (): void => {
    mainLineSink.minLevel = Math.min(...Object.values(config.serviceOptions).map((o) => minPinoLevel(o.logging?.levels ?? 0)));
    attachLogSink(mainLineSink, log);
  };
  applyMainSink();
  const dataDir = path.resolve(opts.dataDir ?? config.dataDir ?? process.env.POSTERN_DATA_DIR ?? 'data');
  fs.mkdirSync(path.join(dataDir, 'run'), { recursive: true, mode: 0o700 });
  const socketPath = path.join(dataDir, 'run', 'postern.sock');
  /** Where config.save writes by default, and what a reload without text reads: the file the
   * server started from, else <dataDir>/postern.conf (once saved there). */
  const saveFile = opts.configFile ?? path.join(dataDir, 'postern.conf');
  let configFile = opts.configFile;
  const startedAt = Date.now();
  const hosts = new Map<string, ServiceHost>();
  let stopping = false;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));

  // root (rest_for_one): [store, services]. If the store thread dies, the services (whose
  // threads hold ports to it) are restarted after it; a service failing touches no other.
  const root = new Supervisor({ id: 'root', kind: 'rootSupervisor', strategy: 'rest_for_one', intensity: 10, periodMs: 60_000, backoffInitialMs: opts.backoffInitialMs ?? 2000, log });
  let store: StoreThread | null = null;
  let services!: Supervisor;
  /** Services that should run (the config's set, plus and minus run-time start/stop). */
  const wanted = new Set<ServiceName>();
  const storeThread = (): StoreThread => {
    if (store === null) throw new PosternError('SERVICE_NOT_RUNNING', 'the store is not running');
    return store;
  };
  root.onExit((reason) => {
    if (stopping) return;
    log.fatal({ reason }, 'root supervisor gave up: too many service restarts; stopping');
    void stop(70);
  });

  const specFor = (name: ServiceName) => ({
    id: name,
    restart: 'permanent' as const,
    shutdown: config.shutdownTimeoutMs + 2000,
    kind: 'supervisor' as const,
    start: async () => {
      const host = new ServiceHost({
        row: serviceRow(name, opts.protocolOverrides),
        options: config.serviceOptions[name],
        globalRules: { allowRules: config.allowRules, denyRules: config.denyRules },
        log,
        logLevel: config.logLevel,
        shutdownTimeoutMs: config.shutdownTimeoutMs,
        loadIntervalMs: opts.loadIntervalMs,
        backoffInitialMs: opts.backoffInitialMs,
        admissionClock: opts.admissionClock,
        storeConnect: (owner) => storeThread().connect(owner),
        onCounts: (service, counts, scoped) => report.add(service, counts, scoped),
        admin: (verb, args) => dispatch(verb, args),
        dataDir,
      });
      await host.start();
      hosts.set(name, host);
      if (name === 'report') report.start(optionsOf(config.serviceOptions.report, 'report'));
      host.onExit(() => {
        if (name === 'report') void report.stop();
        if (hosts.get(name) === host) hosts.delete(name);
      });
      return host;
    },
  });

  /** The Report service's sampler and sample files (its main-thread side, report/collector.ts). */
  const report = new ReportCollector({
    dataDir,
    log,
    hostname: () => config.hostname,
    queueSize: async () => ((await storeThread().admin('queue.stats', {})) as MailStats).entries,
    ...(opts.reportClock === undefined ? {} : { now: opts.reportClock }),
  }, optionsOf(config.serviceOptions.report, 'report'));

  for (const name of config.services) wanted.add(name);
  let firstStart = true;
  /** Start the wanted services: the Log service first, so that the others' first records reach it. */
  const startWanted = async (sup: Supervisor): Promise<void> => {
    for (const name of [...wanted].sort((a, b) => Number(b === 'log') - Number(a === 'log'))) await sup.startChild(specFor(name)).catch((e) => log.error({ err: e, service: name }, 'service did not start'));
  };
  await root.start();
  await root.startChild({
    id: 'store',
    restart: 'permanent',
    shutdown: 30_000,
    kind: 'worker',
    start: async () => {
      const t = await StoreThread.start({ dataDir, logLevel: config.logLevel, options: { primaryDomain: config.primaryDomain } });
      store = t;
      t.onExit(() => {
        if (store === t) store = null;
      });
      return t;
    },
  });
  await root.startChild({
    id: 'services',
    restart: 'permanent',
    shutdown: 'infinity',
    kind: 'supervisor',
    start: async () => {
      const sup = new Supervisor({ id: 'services', kind: 'servicesSupervisor', strategy: 'one_for_one', intensity: 10, periodMs: 60_000, backoffInitialMs: opts.backoffInitialMs ?? 2000, log });
      await sup.start();
      services = sup;
      // at the first start the services start once the status endpoint is up (below), so an
      // operator sees them coming up; a restart of this supervisor starts them at once
      if (!firstStart) await startWanted(sup);
      return sup;
    },
  });

  const known = (name: string): ServiceName => serviceRow(name).name as ServiceName;

  const startService = async (name: string): Promise<void> => {
    const n = known(name);
    const row = serviceRow(n, opts.protocolOverrides);
    if (row.protocol === null) throw new PosternError('NOT_IMPLEMENTED', `service ${n} (${row.description}) is not implemented yet`);
    if (services.whichChildren().some((c) => c.id === n)) {
      if (hosts.has(n)) throw new PosternError('SERVICE_RUNNING', `service ${n} is already running`);
      await services.deleteChild(n).catch(() => {});
    }
    wanted.add(n);
    await services.startChild(specFor(n));
    if (!hosts.has(n)) throw new PosternError('LISTEN_FAILED', `service ${n} did not start; see the log and /status`);
  };
  const stopService = async (name: string): Promise<void> => {
    const n = known(name);
    if (!services.whichChildren().some((c) => c.id === n)) throw new PosternError('SERVICE_NOT_RUNNING', `service ${n} is not running`);
    wanted.delete(n);
    await services.terminateChild(n);
    await services.deleteChild(n);
  };
  const restartService = async (name: string): Promise<void> => {
    const n = known(name);
    if (!services.whichChildren().some((c) => c.id === n)) return startService(n);
    await services.terminateChild(n);
    await services.restartChild(n);
  };

  const serviceStatus = (name: ServiceName): ServiceStatus => {
    const h = hosts.get(name);
    if (h !== undefined) return h.status();
    const row = serviceRow(name, opts.protocolOverrides);
    const c = services.whichChildren().find((x) => x.id === name);
    const info = services.info().children?.find((x) => x.id === name);
    const o = config.serviceOptions[name];
    const s: ServiceStatus = {
      name,
      state: c?.state ?? 'stopped',
      implemented: row.protocol !== null,
      connThreads: { min: o.minConnThreads, max: o.maxConnThreads, current: 0 },
      listeners: [
        ...o.listeners.map((l) => ({ key: l.key, transport: 'tcp' as const, enable: l.enable, listening: false, open: 0, accepted: 0, refused: {}, ...listenerError(info?.lastError, l.key) })),
        ...o.udpListeners.map((l) => ({ key: l.key, transport: 'udp' as const, enable: l.enable, listening: false, open: 0, accepted: 0, refused: {} })),
      ],
      rules: [],
      openConnections: 0,
      pool: { threads: 0, queued: 0, completed: 0 },
    };
    if (info?.lastError !== undefined) s.lastError = { code: info.lastError.code, message: info.lastError.message };
    return s;
  };

  /** The listener a service's start failed on, from its error's details (conn-thread.ts). */
  function listenerError(e: { code: string; message: string; details?: Record<string, unknown> } | undefined, key: string): { error?: { code: string; message: string } } {
    return e !== undefined && e.details?.listener === key ? { error: { code: e.code, message: e.message } } : {};
  }

  const status = (): StatusDoc => ({
    server: { version: VERSION, pid: process.pid, uptimeSec: Math.round((Date.now() - startedAt) / 1000), dataDir, node: process.version },
    tree: root.info(),
    services: serviceRows().map((r) => serviceStatus(r.name as ServiceName)),
    statusListener: statusSrv.listenerStatus(),
  });

  const mailStats = async (): Promise<MailStats> => (await storeThread().admin('queue.stats', {})) as MailStats;
  let statusSrv = await startStatusServer({ host: config.statusListener.host, port: opts.statusPort ?? config.statusListener.port, getStatus: status, mailStats, log, limits: config.statusLimits });
  firstStart = false;
  await startWanted(services);

  const reload = async (configText?: string): Promise<{ changed: string[] }> => {
    const next = configText !== undefined ? loadConfig(configText, 'reload') : configFile !== undefined ? await loadConfigFile(configFile) : opts.configText !== undefined ? loadConfig(opts.configText, 'config') : loadDefault();
    checkTlsFiles(next.resolved, configText !== undefined ? 'reload' : configFile ?? 'config');
    const prev = config;
    config = next.resolved;
    model = next.model;
    setLoggerLevel(log, config.logLevel);
    applyMainSink();
    const changed: string[] = [];
    const want = new Set(config.services);
    for (const [name, host] of hosts) {
      if (!want.has(name as ServiceName)) continue;
      if (JSON.stringify(prev.serviceOptions[name as ServiceName]) !== JSON.stringify(config.serviceOptions[name as ServiceName]) || JSON.stringify([prev.allowRules, prev.denyRules]) !== JSON.stringify([config.allowRules, config.denyRules])) {
        await host.reconfigure(config.serviceOptions[name as ServiceName], { allowRules: config.allowRules, denyRules: config.denyRules });
        changed.push(name);
      }
    }
    for (const c of services.whichChildren()) {
      if (!want.has(c.id as ServiceName)) {
        await stopService(c.id).catch((e) => log.error({ err: e, service: c.id }, 'could not stop service on reload'));
        changed.push(c.id);
      }
    }
    for (const name of config.services) {
      if (!services.whichChildren().some((c) => c.id === name)) {
        wanted.add(name);
        await services.startChild(specFor(name)).catch((e) => log.error({ err: e, service: name }, 'service did not start'));
        changed.push(name);
      }
    }
    if (opts.statusPort === undefined && (prev.statusListener.host !== config.statusListener.host || prev.statusListener.port !== config.statusListener.port)) {
      await statusSrv.close();
      statusSrv = await startStatusServer({ host: config.statusListener.host, port: config.statusListener.port, getStatus: status, mailStats, log, limits: config.statusLimits });
      changed.push('statusListener');
    } else if (JSON.stringify(prev.statusLimits) !== JSON.stringify(config.statusLimits)) {
      statusSrv.reconfigure(config.statusLimits);
      changed.push('statusControl');
    }
    report.reconfigure(optionsOf(config.serviceOptions.report, 'report'));
    log.info({ changed }, 'configuration reloaded');
    return { changed };
  };

  const injectFault = (service: string, kind: 'crash' | 'oom' | 'hang', index?: number): string => {
    if (!config.enableFaultInjection) throw new PosternError('CONTROL_BAD_REQUEST', 'fault injection is off (enableFaultInjection = no)');
    const h = hosts.get(known(service));
    if (h === undefined) throw new PosternError('SERVICE_NOT_RUNNING', `service ${service} is not running`);
    return h.injectFault(kind, index);
  };

  let control: { close(): Promise<void> } | null = null;
  const signalHandlers: Array<[NodeJS.Signals, () => void]> = [];

  const stop = async (exitCode?: number): Promise<void> => {
    if (stopping) return stopped;
    stopping = true;
    // every listener of every service closes now, before anything else (the supervisors
    // then stop the services one by one, and wait for them)
    for (const h of hosts.values()) h.beginStop(config.shutdownTimeoutMs);
    log.info({ deadlineMs: config.shutdownTimeoutMs }, 'stopping: no new connections; idle sessions closed, transactions finish up to the deadline');
    await root.stop().catch((e) => log.error({ err: e }, 'root stop failed'));
    await report.stop();
    await control?.close().catch(() => {});
    await statusSrv.close().catch(() => {});
    for (const [sig, h] of signalHandlers) process.off(sig, h);
    log.info('stopped');
    attachLogSink(null, log);
    mainSink.close();
    resolveStopped();
    if (exitCode !== undefined) {
      log.flush?.();
      setTimeout(() => process.exit(exitCode), 50);
    }
  };

  /** The main thread's resolver (`ctl dnr`), rebuilt when a reload changes the `dnr` block. */
  let dnr: { options: string; dnr: ReturnType<typeof createDnr> } | null = null;
  const mainDnr = (): ReturnType<typeof createDnr> => {
    const key = JSON.stringify(config.dnr);
    if (dnr?.options !== key) dnr = { options: key, dnr: createDnr(config.dnr) };
    return dnr.dnr;
  };

  /** The main thread's side of the command registry (admin/commands.ts). */
  /** The main thread's user maps (`ctl userdb lookup`), reopened when a reload changes one. */
  const userMaps = new Map<string, { options: unknown; map: UserMap }>();
  const mainUserMap = async (name: string | null): Promise<UserMap> => {
    const o = name === null ? config.userMaps[0] : config.userMaps.find((m) => m.name === name);
    if (o === undefined) {
      const known = config.userMaps.map((m) => m.name).join(', ') || 'none defined';
      throw new PosternError('CONTROL_BAD_REQUEST', name === null ? 'no user map is defined (Server userMaps)' : `no user map named "${name}" (defined: ${known})`, { map: name });
    }
    const had = userMaps.get(o.name);
    if (had?.options === o) return had.map;
    void had?.map.close();
    const { openUserMap } = await import('../src/userdb/index.ts'); // ldapts only when asked
    const map = openUserMap(o, log);
    userMaps.set(o.name, { options: o, map });
    return map;
  };

  const mainCommands: MainHandlers = {
    status: async () => status(),
    reload: async () => reload(),
    stop: async () => {
      setImmediate(() => void stop(opts.signals === true ? 0 : undefined));
      return { stopping: true };
    },
    'service.start': async (a) => {
      await startService(String(a.name));
      return { service: a.name, state: 'running' };
    },
    'service.stop': async (a) => {
      await stopService(String(a.name));
      return { service: a.name, state: 'stopped' };
    },
    'service.restart': async (a) => {
      await restartService(String(a.name));
      return { service: a.name, state: 'running' };
    },
    'dnr.query': async (a) => mainDnr().query(String(a.type) as 'A', String(a.name)),
    'dnr.flush': async () => {
      mainDnr().flush();
      return { flushed: true };
    },
    'log.tail': async (a) => {
      const q: TailQuery = { lines: Math.min(Number(a.lines ?? 100), 10_000), ...(typeof a.service === 'string' ? { service: a.service } : {}), ...(typeof a.level === 'string' ? { level: a.level as LogLevelName } : {}) };
      const all = [mainSink.tail(q), ...(await Promise.all([...hosts.values()].map((h) => h.logTail(q))))].flat();
      all.sort((x, y) => x.time - y.time);
      return all.slice(-q.lines);
    },
    'report.query': async (a) => report.query(a as import('../src/service/report.ts').ReportQueryArgs),
    'report.sample': async () => {
      if (!report.running) throw new PosternError('SERVICE_NOT_RUNNING', 'service report is not running');
      return report.sample();
    },
    'userdb.lookup': async (a) => {
      const map = await mainUserMap(typeof a.map === 'string' ? a.map : null);
      const address = String(a.address);
      const r = await map.lookup(address);
      if (r === null) return `${address}: not in user map ${map.name}`;
      const host = r.host.includes(':') ? `[${r.host}]` : r.host;
      return `${address}: ${host}${r.port === null ? '' : `:${r.port}`} (user ${r.user}, map ${map.name})`;
    },
    'userdb.flush': async () => ({ flushed: (await import('../src/userdb/index.ts')).flushUserdbCaches() }),
    'config.get': async () => ({ text: writeConfig(model), model, file: saveFile }),
    'config.set': async (a) => reload(String(a.text)),
    'config.save': async (a) => {
      const target = path.resolve(typeof a.path === 'string' ? a.path : saveFile);
      const tmp = `${target}.tmp-${process.pid}`;
      await fs.promises.writeFile(tmp, writeConfig(model), { mode: 0o600 });
      const fh = await fs.promises.open(tmp, 'r');
      await fh.sync().finally(() => fh.close());
      await fs.promises.rename(tmp, target);
      if (target === saveFile) configFile = saveFile;
      log.info({ path: target }, 'configuration saved');
      return { path: target };
    },
    fault: async (a) => ({ thread: injectFault(String(a.name), String(a.kind ?? 'crash') as 'crash', Number(a.index ?? 0)) }),
  };

  /** Every admin command, from the control socket or an admin service's session. */
  function dispatch(verb: string, args: Record<string, unknown>): Promise<unknown> {
    return runCommand(verb, args, { main: mainCommands, store: (v, a) => storeThread().admin(v, a) });
  }

  if (opts.controlSocket ?? true) {
    control = await startControlServer({
      socketPath,
      log,
      dispatch,
    });
  }

  if (opts.signals === true) {
    const onHup = (): void => void reload().catch((e) => log.error({ err: errorToData(e) }, 'reload failed; the running configuration is unchanged'));
    const onTerm = (): void => void stop(0);
    signalHandlers.push(['SIGHUP', onHup], ['SIGTERM', onTerm], ['SIGINT', onTerm]);
    for (const [sig, h] of signalHandlers) process.on(sig, h);
  }

  const down = config.services.filter((n) => serviceRow(n, opts.protocolOverrides).protocol !== null && !hosts.has(n));
  if (down.length === 0) log.info({ statusPort: statusSrv.port, socketPath, dataDir, services: config.services }, 'postern started');
  else log.error({ statusPort: statusSrv.port, socketPath, dataDir, services: config.services, failed: down }, 'postern running, but services failed to start (retrying; see /status)');

  return {
    dataDir,
    get statusPort() {
      return statusSrv.port;
    },
    socketPath,
    status,
    port(service, listenerIndex = 0) {
      const h = hosts.get(service);
      const o = config.serviceOptions[known(service)];
      const l = o.transport === 'udp' ? o.udpListeners[listenerIndex] : o.listeners[listenerIndex];
      if (h === undefined || l === undefined) throw new PosternError('SERVICE_NOT_RUNNING', `service ${service} is not running`);
      return h.boundPorts()[l.key] ?? l.address.port;
    },
    host: (service) => hosts.get(service),
    reload,
    startService,
    stopService,
    restartService,
    injectFault,
    admin: (verb, args = {}) => storeThread().admin(verb, args),
    stop: () => stop(),
    stopped,
  };
}
