/**
 * protocols/report/collector.ts: the Report service's main-thread side: the sampler, the one
 * writer of the sample files, and `report.query`.
 *
 * Why on the main thread: the counters are already summed there (each service host adds up its
 * threads' `SessionContext.count` increments from their load reports, actors/service.ts), and a
 * sample file needs exactly one writer; the Report service's threads (index.ts) only receive
 * other nodes' counter datagrams, which reach here as the report service's own counts
 * (`node/<name>/<counter>`). The server (actors/server.ts) feeds every service's increments to
 * `add()` (dropped while the Report service is not running: the seed samples "while the service
 * runs"), starts the sampler when the Report service starts and stops it (after a last sample)
 * when it stops. Per-account increments (`SessionContext.count(name, by, account)`) are kept
 * only when DomainEnable / DomainObjectEnable are on, at most `maxScopeKeys` distinct domains and
 * accounts per sample, the rest summed under `other`.
 *
 * Every `sampleInterval` (60 s; the clock and the interval are injectable) a sample is appended
 * and fsynced (samples.ts); QUEUE_Size is asked of the store at that moment. With `reportHost`
 * set, the sample's server counters are also sent there as a datagram (datagram.ts). Once per
 * hour, at a change of UTC day, at start and when the options change: finished days are
 * compacted and days older than `reportingInterval` deleted.
 *
 * Exports: `ReportCollector`, `CollectorDeps`. Throws from `sample()` the file system's errors
 * (the timer logs them); `query()` throws CONTROL_BAD_REQUEST (query.ts).
 */
import dgram from 'node:dgram';
import path from 'node:path';
import type { Logger } from '../../log.ts';
import type { ReportOptions } from '../../config/options.ts';
import { REPORT_COUNTERS, isReportCounter, reportCounter, type ReportQueryArgs, type ReportQueryResult, type ReportSampleResult } from '../../service/report.ts';
import { SampleStore, dayOf, type Counts, type Sample } from './samples.ts';
import { Aggregator, queryWindow } from './query.ts';
import { encodeDatagram } from './datagram.ts';

export interface CollectorDeps {
  dataDir: string;
  log: Logger;
  /** This node's name in the datagrams it sends. */
  hostname: () => string;
  /** The queue's length now (the store's `queue.stats`); null: the store did not answer. */
  queueSize: () => Promise<number | null>;
  /** ms since the epoch (tests inject one). */
  now?: () => number;
}

const MAINTENANCE_MS = 3_600_000;
const OTHER = 'other';
/** Report counts of another node, as the report service's threads count them (index.ts). */
export const NODE_EVENT = /^node\/([^/]+)\/([A-Za-z0-9_]+)$/;

export class ReportCollector {
  /** This node's counters and the reporting nodes' (`<dataDir>/report/`). */
  readonly store: SampleStore;
  /** Per domain and per account (`<dataDir>/report/scoped/`): big lines, read only by the
   * queries of a domain or an account. */
  readonly scoped: SampleStore;
  private readonly deps: CollectorDeps;
  private readonly now: () => number;
  private options: ReportOptions;
  private timer: NodeJS.Timeout | null = null;
  private pending: Counts = {};
  private domains = new Map<string, Counts>();
  private accounts = new Map<string, Counts>();
  private nodes = new Map<string, Counts>();
  private lastMaintenance = 0;
  private lastDay = '';
  private sock: dgram.Socket | null = null;
  private sendFailed = false;
  /** The last stop's last sample (a second stop waits for it). */
  private stopping: Promise<void> = Promise.resolve();

  constructor(deps: CollectorDeps, options: ReportOptions) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.options = options;
    const gauges = new Set(REPORT_COUNTERS.filter((c) => c.kind === 'gauge').map((c) => c.name));
    this.store = new SampleStore(path.join(deps.dataDir, 'report'), gauges);
    this.scoped = new SampleStore(path.join(deps.dataDir, 'report', 'scoped'), gauges);
  }

  get running(): boolean {
    return this.timer !== null;
  }

  /** The Report service started: sample every sampleInterval from now. */
  start(options: ReportOptions): void {
    this.options = options;
    this.pending = {};
    this.domains.clear();
    this.accounts.clear();
    this.nodes.clear();
    this.arm();
    void this.maintain();
  }

  /** New options (a reload): re-arm the timer; a lowered reportingInterval deletes at once. */
  reconfigure(options: ReportOptions): void {
    const prev = this.options;
    this.options = options;
    if (this.timer !== null && prev.sampleIntervalMs !== options.sampleIntervalMs) this.arm();
    if (prev.reportHost?.host !== options.reportHost?.host || prev.reportHost?.port !== options.reportHost?.port) this.closeSocket();
    if (options.reportingIntervalMs < prev.reportingIntervalMs) void this.maintain();
  }

  /** The Report service stopped: a last sample, then no more. */
  stop(): Promise<void> {
    if (this.timer === null) return this.stopping;
    clearInterval(this.timer);
    this.timer = null;
    this.stopping = (async () => {
      await this.write().catch((e: unknown) => this.deps.log.error({ err: e }, 'report: the last sample could not be written'));
      this.closeSocket();
      await this.store.close();
      await this.scoped.close();
    })();
    return this.stopping;
  }

  private arm(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = setInterval(() => {
      this.write().catch((e: unknown) => this.deps.log.error({ err: e }, 'report: sample not written'));
    }, this.options.sampleIntervalMs);
    this.timer.unref();
  }

  /** A service's counted increments (from its host's load reports). */
  add(service: string, counts: Readonly<Record<string, number>>, scoped?: Readonly<Record<string, Readonly<Record<string, number>>>>): void {
    if (this.timer === null) return;
    for (const [k, n] of Object.entries(counts)) {
      if (isReportCounter(k)) this.pending[k] = (this.pending[k] ?? 0) + n;
      else if (service === 'report') {
        const m = NODE_EVENT.exec(k);
        if (m !== null && isReportCounter(m[2]!)) {
          const node = this.nodes.get(m[1]!) ?? {};
          node[m[2]!] = reportCounter(m[2]!)!.kind === 'gauge' ? n : (node[m[2]!] ?? 0) + n;
          this.nodes.set(m[1]!, node);
        }
      }
    }
    if (scoped === undefined) return;
    const { domainEnable, domainObjectEnable } = this.options;
    if (!domainEnable && !domainObjectEnable) return;
    for (const [event, byAccount] of Object.entries(scoped)) {
      if (!isReportCounter(event)) continue;
      for (const [account, n] of Object.entries(byAccount)) {
        const a = account.toLowerCase();
        if (domainObjectEnable) this.bump(this.accounts, a, event, n);
        if (domainEnable) {
          const at = a.lastIndexOf('@');
          this.bump(this.domains, at < 0 || a === OTHER ? OTHER : a.slice(at + 1), event, n);
        }
      }
    }
  }

  /** Count into `key`, or into `other` past maxScopeKeys distinct keys. */
  private bump(map: Map<string, Counts>, key: string, event: string, n: number): void {
    let counts = map.get(key);
    if (counts === undefined) {
      if (map.size >= this.options.maxScopeKeys) key = OTHER;
      counts = map.get(key) ?? {};
      map.set(key, counts);
    }
    counts[event] = (counts[event] ?? 0) + n;
  }

  /** Take a sample now (`report.sample`; the timer). */
  async sample(): Promise<ReportSampleResult> {
    const s = await this.write();
    return { t: s.t, counters: s.c };
  }

  private async write(): Promise<Sample> {
    const c = this.pending;
    const { domains, accounts, nodes } = this;
    this.pending = {};
    this.domains = new Map();
    this.accounts = new Map();
    this.nodes = new Map();
    const queue = await this.deps.queueSize().catch(() => null);
    const t = this.now();
    const s: Sample = { t, c };
    if (queue !== null) c['QUEUE_Size'] = queue;
    if (nodes.size > 0) s.n = Object.fromEntries(nodes);
    await this.store.append(s);
    if (domains.size > 0 || accounts.size > 0) {
      const sc: Sample = { t, c: {} };
      if (domains.size > 0) sc.d = Object.fromEntries(domains);
      if (accounts.size > 0) sc.a = Object.fromEntries(accounts);
      await this.scoped.append(sc);
    }
    this.send(s);
    if (t - this.lastMaintenance >= MAINTENANCE_MS || dayOf(t) !== this.lastDay) await this.maintain();
    return s;
  }

  /** Compact finished days and delete the expired ones. */
  private async maintain(): Promise<void> {
    const t = this.now();
    this.lastMaintenance = t;
    this.lastDay = dayOf(t);
    try {
      const cutoff = t - this.options.reportingIntervalMs;
      await this.store.compact(this.lastDay);
      await this.scoped.compact(this.lastDay);
      const gone = await this.store.prune(cutoff);
      await this.scoped.prune(cutoff);
      if (gone.length > 0) this.deps.log.warn({ deleted: gone, reportingIntervalWeeks: this.options.reportingIntervalMs / 604_800_000 }, 'report: days of samples older than reportingInterval deleted');
    } catch (e) {
      this.deps.log.error({ err: e }, 'report: compaction or pruning failed');
    }
  }

  private send(s: Sample): void {
    const to = this.options.reportHost;
    if (to === null) return;
    this.sock ??= dgram.createSocket(to.family === 6 ? 'udp6' : 'udp4');
    this.sock.unref();
    this.sock.send(encodeDatagram(this.deps.hostname(), s.t, s.c), to.port, to.host, (err) => {
      if (err === null || err === undefined) {
        this.sendFailed = false;
        return;
      }
      if (!this.sendFailed) this.deps.log.warn({ err, reportHost: `${to.host}:${to.port}` }, 'report: a sample could not be sent to reportHost');
      this.sendFailed = true;
    });
  }

  private closeSocket(): void {
    this.sock?.close();
    this.sock = null;
  }

  /** `report.query`: the series of the window (samples older than reportingInterval are gone). */
  async query(args: ReportQueryArgs): Promise<ReportQueryResult> {
    const now = this.now();
    const w = queryWindow(args, now);
    const cutoff = now - this.options.reportingIntervalMs;
    const agg = new Aggregator(w, args.counter);
    const i = w.scope.indexOf(':');
    const kind = i < 0 ? w.scope : w.scope.slice(0, i);
    // a domain's or an account's lines name it: the others are skipped unparsed
    if (kind === 'domain' || kind === 'account') await this.scoped.scan(Math.max(w.from, cutoff), w.to, (s) => agg.add(s), JSON.stringify(w.scope.slice(i + 1)));
    else await this.store.scan(Math.max(w.from, cutoff), w.to, (s) => agg.add(s));
    return agg.result();
  }
}
