/**
 * bench/run-all.ts: every bench in sequence (`npm run bench`).
 *
 *   node bench/run-all.ts [--repeat N] [NAME …]   # all bench/*.ts but this one, or the named ones
 *
 * Runs each bench/*.ts script (alphabetically, not this file, not bench/lib/) as a child process
 * with process.execPath, its stdout and stderr passed through, one at a time, each killed after
 * BENCH_TIMEOUT_MS, the whole list N times over (`--repeat`, default 3, or BENCH_REPEAT), so
 * that runs of one bench are spread over the session rather than back to back; with N > 1 each
 * bench gets BENCH_RUNS=1, so that a bench repeating its own runs (store, ftp, scaling,
 * outbound) runs once each time instead of N × its own count. Every bench ends
 * its output with one line of JSON holding `headline: Headline[]` (bench/lib/table.ts). At the
 * end this prints one summary table: per headline row, Postern's best and median over the runs,
 * the peer's median, the ratio of the medians, the target and whether the medians meet it; then
 * exactly one line of JSON:
 *   {"bench":"all","node":…,"repeat":N,"summary":[…],"results":{"<name>":[<each run's JSON>|null,…]},"failed":[{name,run,code,reason}…]}
 * A bench run that exits non-zero, times out, or whose last line is not JSON is listed in
 * `failed`. Exit code 1 if any failed, else 0.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { printJsonLine, printTable, ratioOf, targetMet, type Headline } from './lib/table.ts';

const BENCH_TIMEOUT_MS = 20 * 60_000;
const DIR = path.dirname(fileURLToPath(import.meta.url));
const SELF = path.basename(fileURLToPath(import.meta.url));

interface Failure {
  name: string;
  run: number;
  code: number | null;
  reason: string;
}

function runOne(file: string): Promise<{ code: number | null; lastLine: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    // repeated here, a bench that repeats its own runs (BENCH_RUNS) runs each once
    const env = REPEAT > 1 ? { ...process.env, BENCH_RUNS: '1' } : process.env;
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'], env });
    let lastLine = '';
    let partial = '';
    let timedOut = false;
    child.stdout!.on('data', (d: Buffer) => {
      process.stdout.write(d);
      partial += d.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim() !== '') lastLine = l;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, BENCH_TIMEOUT_MS);
    const onSignal = (): void => void child.kill('SIGTERM');
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    child.on('close', (code) => {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (partial.trim() !== '') {
        process.stdout.write('\n');
        lastLine = partial;
      }
      resolve({ code, lastLine, timedOut });
    });
    child.on('error', () => {
      clearTimeout(timer);
      resolve({ code: null, lastLine, timedOut });
    });
  });
}

const args = parseArgs({ options: { repeat: { type: 'string' } }, allowPositionals: true });
const REPEAT = Math.max(1, Number(args.values.repeat ?? process.env.BENCH_REPEAT ?? 3) || 1);
const wanted = args.positionals.map((a) => a.replace(/\.ts$/, ''));
const files = fs
  .readdirSync(DIR)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== SELF)
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.ts$/, '')))
  .sort();
const unknown = wanted.filter((w) => !files.includes(`${w}.ts`));
if (unknown.length > 0) {
  console.error(`run-all: no such bench: ${unknown.join(', ')}`);
  process.exit(2);
}

const results: Record<string, unknown[]> = {};
const failed: Failure[] = [];
for (let run = 1; run <= REPEAT; run++) {
  for (const f of files) {
    const name = f.replace(/\.ts$/, '');
    console.log(`== bench/${f} (run ${run} of ${REPEAT}) ==`);
    const t0 = Date.now();
    const r = await runOne(path.join(DIR, f));
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(r.lastLine);
    } catch {
      /* not JSON */
    }
    (results[name] ??= []).push(parsed);
    if (r.timedOut) failed.push({ name, run, code: r.code, reason: `timed out after ${BENCH_TIMEOUT_MS / 1000} s` });
    else if (r.code !== 0) failed.push({ name, run, code: r.code, reason: `exited with code ${r.code}` });
    else if (parsed === null || typeof parsed !== 'object') failed.push({ name, run, code: r.code, reason: 'the last line of its output is not JSON' });
    console.log(`== bench/${f}: ${r.code === 0 && !r.timedOut ? 'done' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s ==\n`);
  }
}

/** One summary row: a headline's figures over every run of its bench. */
interface SummaryRow {
  bench: string;
  workload: string;
  unit: string;
  runs: number;
  posternBest: number | null;
  posternMedian: number | null;
  peer: string | null;
  peerMedian: number | null;
  ratio: number | null;
  target: string | null;
  met: boolean | null;
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const nums = (xs: (number | null | undefined)[]): number[] => xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
const summary: SummaryRow[] = [];
for (const [bench, runs] of Object.entries(results)) {
  const byWorkload = new Map<string, Headline[]>();
  for (const r of runs) {
    const hs = (r as { headline?: unknown } | null)?.headline;
    if (!Array.isArray(hs)) continue;
    for (const h of hs as Headline[]) {
      const list = byWorkload.get(h.workload) ?? [];
      list.push(h);
      byWorkload.set(h.workload, list);
    }
  }
  for (const [workload, hs] of byWorkload) {
    const first = hs[0]!;
    const ps = nums(hs.map((h) => h.postern));
    const peers = nums(hs.map((h) => h.peerValue));
    const best = ps.length === 0 ? null : first.better === 'higher' ? Math.max(...ps) : Math.min(...ps);
    const med: Headline = { ...first, postern: median(ps), peerValue: median(peers) };
    const ratio = ratioOf(med);
    summary.push({
      bench, workload, unit: first.unit, runs: hs.length, posternBest: best, posternMedian: med.postern,
      peer: first.peer ?? null, peerMedian: med.peerValue ?? null, ratio: ratio === null ? null : Math.round(ratio * 100) / 100,
      target: first.target?.text ?? null, met: targetMet(med),
    });
  }
}

console.log(`\nSummary: ${REPEAT} run(s) of each bench; ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
printTable('', ['bench', 'workload', 'unit', 'Postern best', 'Postern median', 'peer', 'peer median', 'ratio', 'target', 'met'],
  summary.map((s) => [s.bench, s.workload, s.unit, s.posternBest, s.posternMedian, s.peer, s.peerMedian, s.ratio === null ? null : `${s.ratio}x`, s.target, s.met]));
const noHeadline = Object.keys(results).filter((b) => !summary.some((s) => s.bench === b));
if (noHeadline.length > 0) console.log(`no headline figures from: ${noHeadline.join(', ')}`);
for (const f of failed) console.log(`FAILED: ${f.name} run ${f.run}: ${f.reason}`);
printJsonLine({ bench: 'all', node: process.version, repeat: REPEAT, summary, results, failed });
process.exit(failed.length > 0 ? 1 : 0);
