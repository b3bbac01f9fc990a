/**
 * protocols/report/query.ts: `report.query` over samples (pure): picks a scope's counters from
 * each sample and sums them into buckets of `step` seconds (a counter: the events of the
 * bucket; a gauge: the mean of its samples; null: no sample in the bucket).
 *
 * Scopes: `server` (this node), `cluster` (this node plus every node reporting to it),
 * `domain:<name>`, `account:<user@domain>`, `node:<hostname>`; `domain:other` and
 * `account:other` hold what was over `maxScopeKeys`.
 *
 * Exports: `MAX_POINTS`, `Window`, `queryWindow(args, now)`, `Aggregator` (add each scanned
 * sample, then `result()`), `aggregate(samples, window, counter?)`. `scopes` lists at most
 * 10,000 keys of each kind.
 * Throws CONTROL_BAD_REQUEST (an unknown counter or scope, from ≥ to).
 */
import { PosternError } from '../../errors.ts';
import { REPORT_COUNTERS, reportCounter, type ReportCounter, type ReportQueryArgs, type ReportQueryResult, type ReportSeries } from '../../service/report.ts';
import type { Counts, Sample } from './samples.ts';

/** The most points one series has (the step is raised to keep under it). */
export const MAX_POINTS = 10_000;
const DEFAULT_SPAN_MS = 86_400_000;

export interface Window {
  scope: string;
  from: number;
  to: number;
  stepMs: number;
}

const SCOPE = /^(server|cluster|domain:.{1,255}|account:.{1,320}|node:.{1,255})$/s;

/** The query's window from its arguments (defaults: the last 24 h, 60 s steps). */
export function queryWindow(a: ReportQueryArgs, now: number): Window {
  const scope = a.scope ?? 'server';
  if (!SCOPE.test(scope)) throw new PosternError('CONTROL_BAD_REQUEST', `scope must be server, cluster, domain:NAME, account:ADDRESS or node:NAME (got "${scope.slice(0, 64)}")`, { argument: 'scope' });
  if (a.counter !== undefined && reportCounter(a.counter) === undefined) {
    throw new PosternError('CONTROL_BAD_REQUEST', `unknown counter "${a.counter.slice(0, 64)}"`, { argument: 'counter' });
  }
  const to = a.to ?? now;
  const from = a.from ?? to - DEFAULT_SPAN_MS;
  if (!(from < to)) throw new PosternError('CONTROL_BAD_REQUEST', 'from must be before to', { argument: 'from' });
  let stepMs = Math.max(1, a.step ?? 60) * 1000;
  if ((to - from) / stepMs > MAX_POINTS) stepMs = Math.ceil((to - from) / MAX_POINTS / 1000) * 1000;
  return { scope: scope.replace(/^(domain|account):(.*)$/s, (_m, k: string, v: string) => `${k}:${v.toLowerCase()}`), from, to, stepMs };
}

/** A sample's counters in `scope` (undefined: none there). */
function countsIn(s: Sample, scope: string): Counts | undefined {
  if (scope === 'server') return s.c;
  if (scope === 'cluster') {
    if (s.n === undefined) return s.c;
    const sum: Counts = { ...s.c };
    for (const n of Object.values(s.n)) for (const [k, v] of Object.entries(n)) sum[k] = (sum[k] ?? 0) + v;
    return sum;
  }
  const i = scope.indexOf(':');
  const kind = scope.slice(0, i);
  const key = scope.slice(i + 1);
  const map = kind === 'domain' ? s.d : kind === 'account' ? s.a : s.n;
  return map?.[key];
}

/** The most scope keys listed in a result's `scopes` (per kind). */
const MAX_SCOPES_LISTED = 10_000;

/** Sums samples into a window's buckets as they are scanned (samples.ts `scan`). */
export class Aggregator {
  private readonly w: Window;
  private readonly counters: readonly ReportCounter[];
  private readonly buckets: number;
  private readonly sums: number[][];
  private readonly seen: number[]; // samples per bucket (a gauge's mean)
  private readonly keys = { domains: new Set<string>(), accounts: new Set<string>(), nodes: new Set<string>() };
  private n = 0;

  constructor(w: Window, counter?: string) {
    this.w = w;
    this.counters = counter === undefined ? REPORT_COUNTERS : [reportCounter(counter)!];
    this.buckets = Math.max(1, Math.ceil((w.to - w.from) / w.stepMs));
    this.sums = this.counters.map(() => new Array<number>(this.buckets).fill(0));
    this.seen = new Array<number>(this.buckets).fill(0);
  }

  add(s: Sample): void {
    const w = this.w;
    if (s.t < w.from || s.t >= w.to) return;
    this.n++;
    note(this.keys.domains, s.d);
    note(this.keys.accounts, s.a);
    note(this.keys.nodes, s.n);
    const b = Math.floor((s.t - w.from) / w.stepMs);
    this.seen[b]!++;
    const counts = countsIn(s, w.scope);
    if (counts === undefined) return;
    this.counters.forEach((c, i) => {
      const v = counts[c.name];
      if (typeof v === 'number' && Number.isFinite(v)) this.sums[i]![b]! += v;
    });
  }

  result(): ReportQueryResult {
    const { w, seen } = this;
    const series: ReportSeries[] = this.counters.map((c, i) => ({
      counter: c.name,
      kind: c.kind,
      points: this.sums[i]!.map((v, b): [number, number | null] => [w.from + b * w.stepMs, seen[b] === 0 ? null : c.kind === 'gauge' ? v / seen[b]! : v]),
    }));
    const sorted = (x: Set<string>): string[] => [...x].sort();
    return { scope: w.scope, from: w.from, to: w.to, stepSec: w.stepMs / 1000, samples: this.n, series, scopes: { domains: sorted(this.keys.domains), accounts: sorted(this.keys.accounts), nodes: sorted(this.keys.nodes) } };
  }
}

function note(into: Set<string>, from: Record<string, Counts> | undefined): void {
  if (from === undefined) return;
  for (const k of Object.keys(from)) {
    if (into.size >= MAX_SCOPES_LISTED) return;
    into.add(k);
  }
}

/** The query's result over samples in memory (tests; the collector scans). */
export function aggregate(samples: readonly Sample[], w: Window, counter?: string): ReportQueryResult {
  const a = new Aggregator(w, counter);
  for (const s of samples) a.add(s);
  return a.result();
}
