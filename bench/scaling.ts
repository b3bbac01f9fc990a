/**
 * bench/scaling.ts: thread scaling (`npm run bench:scaling`): the same POP3 workload served by one
 * connection thread and by two (`minConnThreads = maxConnThreads = 1` vs `= 2`), on loopback.
 *
 *   node bench/scaling.ts [--runs N] [--seconds S] [--clients C] [--pipeline P]
 *                         [--workloads pipelined,retrieval,sessions] [--cpu-prof DIR]
 *
 * The store is filled once through the store API (RETR_USERS accounts × RETR_PER_USER messages
 * of 4 KiB for the retrieval workload, SESS_USERS × SESS_PER_USER for the session workload) and
 * each run starts a server child (bench/lib/server.ts) on it with 1 or 2 connection threads,
 * warms it up (WARM_S seconds, then until each thread's verified-login cache holds every
 * account: warmUp), and
 * drives it with the C load generator bench/pop3-client.c (one thread, epoll: light, so the two
 * cores go to the server; its own CPU is printed). Workloads:
 * (a) pipelined: full sessions (USER, PASS, STAT, LIST, RETR 1 … n, QUIT) on accounts of
 *     RETR_PER_USER messages, whose RETRs dominate, the RETRs sent `--pipeline` (default 32) at
 *     a time in one write (POP3 PIPELINING): messages/s. The lightest load generator (about a
 *     quarter of a core at the 1-thread rate), so this is the headline: the server's scaling
 *     with the least of the 2 cores going to the client;
 * (b) retrieval: the same, one RETR at a time (as bench/pop3.ts): messages/s; the generator
 *     takes about 0.45 of a core, which the 2-thread server then lacks;
 * (c) sessions: full sessions on accounts of SESS_PER_USER messages (login, admission and the
 *     main thread's per-session messages weigh more): sessions/s.
 * The 1-thread and 2-thread servers alternate, `--runs` times each (default 3). Printed per run:
 * throughput, server CPU (utime+stime of the process), CPU per thread group (/proc/PID/task:
 * the main thread, the connection threads, the store thread, libuv and V8 helpers), the load
 * generator's CPU and the share of the 2 cores it took; then per side best and median, the ratio
 * of the medians (2 threads ÷ 1), also per server CPU-second.
 * `--cpu-prof DIR` runs each server with `--cpu-prof` (one .cpuprofile per thread in DIR/1t-rN
 * and DIR/2t-rN).
 *
 * Ends with exactly one line of JSON (`headline`: per workload, the 2-thread throughput with the
 * 1-thread figure as its peer, medians of the runs; target ≥ 1.7 × on the RETR rows). Exit 0 even when the target is missed; 1 on
 * a setup failure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Store } from '../src/store/store.ts';
import { benchConfig, ensureNofile, procCpuSeconds, startPosternProcess, type PosternProcess } from './lib/server.ts';
import { cleanupOnSignal } from './lib/child.ts';
import { printJsonLine, printTable, type Headline } from './lib/table.ts';
import { buildClient, runSessions, type RunResult } from './lib/pop3-client.ts';
import { ensureTools } from '../test/tools.ts';
import { clockTicks, machineJiffies } from './lib/proc.ts';

const RETR_USERS = 20; // r01 … r20
const RETR_PER_USER = 500;
const SESS_USERS = 100; // s001 … s100
const SESS_PER_USER = 10;
const MSG_BYTES = 4096;
const PASSWORD = 'benchpw';
const DOMAIN = 'bench.example';
const WARM_S = 3;
const NOFILE = 65_536;
const RETR_FMT = `r%02d@${DOMAIN}`;
const SESS_FMT = `s%03d@${DOMAIN}`;

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: process.env.BENCH_RUNS ?? '3' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '40' },
    pipeline: { type: 'string', default: '32' },
    workloads: { type: 'string', default: 'pipelined,retrieval,sessions' },
    'cpu-prof': { type: 'string' },
  },
});
const RUNS = Math.max(1, Number(args.runs));
const RUN_S = Math.max(1, Number(args.seconds));
const CLIENTS = Math.max(1, Number(args.clients));
const PIPELINE = Math.min(64, Math.max(1, Number(args.pipeline)));
const PROF_DIR = args['cpu-prof'] === undefined ? null : path.resolve(args['cpu-prof']);

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round2 = (x: number): number => Math.round(x * 100) / 100;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const ratio = (a: number, b: number): number => (b === 0 ? 0 : round2(a / b));

/** One 4 KiB message, CRLF lines. */
function messageBytes(u: number, k: number): Buffer {
  const head = `From: sender@${DOMAIN}\r\nTo: user${u}@${DOMAIN}\r\nSubject: bench ${u}.${k}\r\nMessage-ID: <${u}.${k}@${DOMAIN}>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n`;
  const line = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\r\n';
  let body = '';
  while (head.length + body.length + line.length <= MSG_BYTES - 2) body += line;
  body += 'x'.repeat(MSG_BYTES - 2 - head.length - body.length) + '\r\n';
  return Buffer.from(head + body);
}

async function fillStore(dataDir: string): Promise<void> {
  const store = await new Store({ dataDir, compactIntervalMs: 0 }).open();
  const fill = async (name: string, u: number, n: number): Promise<void> => {
    await store.directory.addAccount(name, { password: PASSWORD });
    const mb = store.mailbox(name);
    for (let k = 1; k <= n; k++) await mb.append('INBOX', messageBytes(u, k));
  };
  try {
    await store.directory.addDomain(DOMAIN, { primary: true });
    await Promise.all(Array.from({ length: RETR_USERS }, (_, i) => fill(`r${String(i + 1).padStart(2, '0')}@${DOMAIN}`, i + 1, RETR_PER_USER)));
    await Promise.all(Array.from({ length: SESS_USERS }, (_, i) => fill(`s${String(i + 1).padStart(3, '0')}@${DOMAIN}`, 1000 + i, SESS_PER_USER)));
  } finally {
    await store.close();
  }
}

/** The server's CPU seconds per thread group, from /proc/PID/task/<tid>/stat (comm names). */
function threadCpu(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of dirs) {
    try {
      const st = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      const group = Number(tid) === pid ? 'main' : groupOf(comm);
      out[group] = (out[group] ?? 0) + (Number(f[11]) + Number(f[12])) / clockTicks();
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Thread names (comm): workers carry their `name` (the connection threads `pop3.t1` …, the
 * `store`); piscina's pool threads are Node's default `WorkerThread`; `libuv-worker` is libuv's
 * thread pool (fs, async crypto), `V8Worker` V8's helpers (GC, compiling). */
function groupOf(comm: string): string {
  if (/^libuv-worker/.test(comm)) return 'libuv pool';
  if (comm === 'WorkerThread') return 'piscina pool';
  if (/^V8Worker|^DelayedTaskSche|^SignalInspector/.test(comm)) return 'V8/node helpers';
  return comm;
}

/** Warm up until the verified-login caches hold every account: each thread checks each
 * account's password once (scrypt on the pool, ~50 ms of CPU each), and a check still running
 * would be counted in a measured run. Runs short session runs until one costs the libuv pool
 * (where scrypt runs) under 50 ms, at most 20 of them. */
async function warmUp(bin: string, server: PosternProcess): Promise<void> {
  const port = server.port('pop3');
  await runSessions(bin, port, CLIENTS, WARM_S, RETR_FMT, RETR_USERS, PASSWORD);
  for (let i = 0; i < 20; i++) {
    const before = threadCpu(server.pid)['libuv pool'] ?? 0;
    await runSessions(bin, port, CLIENTS, 1, SESS_FMT, SESS_USERS, PASSWORD);
    await runSessions(bin, port, CLIENTS, 1, RETR_FMT, RETR_USERS, PASSWORD);
    if ((threadCpu(server.pid)['libuv pool'] ?? 0) - before < 0.05) return;
  }
  console.log('  (the login caches did not settle in 20 warm-up runs)');
}

type Workload = 'retrieval' | 'pipelined' | 'sessions';
const WORKLOADS = args.workloads.split(',').filter((w): w is Workload => w === 'pipelined' || w === 'retrieval' || w === 'sessions');
const UNIT: Record<Workload, string> = { retrieval: 'msgs/s', pipelined: 'msgs/s', sessions: 'sessions/s' };
const WHAT: Record<Workload, string> = { retrieval: 'RETR one at a time', pipelined: `RETR (pipelined ${PIPELINE} at a time)`, sessions: 'full sessions (login, STAT, LIST, RETR ×10)' };

interface Sample {
  threads: 1 | 2;
  run: number;
  workload: Workload;
  perS: number; // messages/s (retrieval) or sessions/s (sessions)
  messagesPerS: number;
  sessionsPerS: number;
  errors: number;
  serverCpuS: number;
  perServerCpuS: number; // throughput per server CPU-second
  clientCpuS: number;
  clientCores: number; // share of the 2 cores the load generator took (0 … 2)
  machineBusyCores: number;
  /** Cores the hypervisor took from this machine during the run (/proc/stat steal). */
  stealCores: number;
  elapsedS: number;
  byThread: Record<string, number>;
}

async function measure(bin: string, server: PosternProcess, threads: 1 | 2, run: number, workload: Sample['workload']): Promise<Sample> {
  const port = server.port('pop3');
  const c0 = procCpuSeconds(server.pid);
  const t0 = threadCpu(server.pid);
  const m0 = jiffies();
  const w0 = Date.now();
  const r: RunResult = workload === 'sessions'
    ? await runSessions(bin, port, CLIENTS, RUN_S, SESS_FMT, SESS_USERS, PASSWORD)
    : await runSessions(bin, port, CLIENTS, RUN_S, RETR_FMT, RETR_USERS, PASSWORD, workload === 'pipelined' ? PIPELINE : 1);
  const wall = (Date.now() - w0) / 1000;
  const serverCpuS = procCpuSeconds(server.pid) - c0;
  const t1 = threadCpu(server.pid);
  const m1 = jiffies();
  const byThread: Record<string, number> = {};
  for (const [k, v] of Object.entries(t1)) byThread[k] = round2(v - (t0[k] ?? 0));
  const messagesPerS = r.messages / r.elapsed_s;
  const sessionsPerS = r.sessions / r.elapsed_s;
  const perS = workload === 'sessions' ? sessionsPerS : messagesPerS;
  return {
    threads, run, workload,
    perS: round1(perS), messagesPerS: round1(messagesPerS), sessionsPerS: round1(sessionsPerS), errors: r.errors,
    serverCpuS: round2(serverCpuS), perServerCpuS: round1((perS * r.elapsed_s) / Math.max(serverCpuS, 0.01)),
    clientCpuS: round2(r.cpu_s), clientCores: round2(r.cpu_s / r.elapsed_s),
    machineBusyCores: round2((m1.busy - m0.busy) / clockTicks() / wall),
    stealCores: round2((m1.steal - m0.steal) / clockTicks() / wall),
    elapsedS: round2(r.elapsed_s), byThread,
  };
}

/** The machine's busy and steal jiffies (/proc/stat). */
function jiffies(): { busy: number; steal: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { busy: machineJiffies().busy, steal: f[7] ?? 0 };
}

function configFor(threads: 1 | 2): string {
  return benchConfig('pop3', { domain: DOMAIN, threads });
}

async function main(): Promise<void> {
  await ensureNofile(NOFILE);
  ensureTools(['cc'], { what: 'bench:scaling' });
  const loadStart = os.loadavg()[0]!;
  const bin = buildClient();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-bench-scaling-'));
  const dataDir = path.join(work, 'data');
  let server: PosternProcess | null = null;
  const cleanup = async (): Promise<void> => {
    await server?.stop().catch(() => {});
    server = null;
    fs.rmSync(work, { recursive: true, force: true });
  };
  cleanupOnSignal(cleanup);
  const samples: Sample[] = [];
  try {
    console.log(`filling the store: ${RETR_USERS} × ${RETR_PER_USER} and ${SESS_USERS} × ${SESS_PER_USER} messages of ${MSG_BYTES} bytes …`);
    await fillStore(dataDir);
    console.log(`${CLIENTS} clients, ${RUN_S} s per row, ${RUNS} run(s) per side, 1 and 2 threads alternating`);
    for (let run = 1; run <= RUNS; run++) {
      for (const threads of [1, 2] as const) {
        const env: Record<string, string> = {};
        if (PROF_DIR !== null) {
          const dir = path.join(PROF_DIR, `${threads}t-r${run}`);
          fs.mkdirSync(dir, { recursive: true });
          env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${dir}`.trim();
        }
        server = await startPosternProcess({ configText: configFor(threads), dataDir, nofile: NOFILE, startTimeoutMs: 60_000, env });
        await warmUp(bin, server);
        for (const workload of WORKLOADS) {
          const s = await measure(bin, server, threads, run, workload);
          samples.push(s);
          const unit = UNIT[workload];
          const groups = Object.entries(s.byThread).filter(([, v]) => v >= 0.05).map(([k, v]) => `${k} ${v}`).join(', ');
          console.log(`  run ${run}, ${threads} thread(s), ${workload}: ${s.perS} ${unit}; server CPU ${s.serverCpuS} s (${groups}); client ${s.clientCpuS} s; machine busy ${s.machineBusyCores} cores, steal ${s.stealCores}; errors ${s.errors}`);
        }
        await server.stop();
        server = null;
      }
    }

    const rows: Array<[string, ...(string | number)[]]> = [];
    const summary: Record<string, unknown> = {};
    const headline: Headline[] = [];
    for (const workload of WORKLOADS) {
      const side = (t: 1 | 2): Sample[] => samples.filter((s) => s.workload === workload && s.threads === t);
      const one = side(1);
      const two = side(2);
      const stat = (xs: Sample[]) => ({
        best: Math.max(...xs.map((s) => s.perS)),
        median: round1(median(xs.map((s) => s.perS))),
        perCpuMedian: round1(median(xs.map((s) => s.perServerCpuS))),
        serverCpuMedian: round2(median(xs.map((s) => s.serverCpuS))),
        clientCoresMedian: round2(median(xs.map((s) => s.clientCores))),
        machineBusyMedian: round2(median(xs.map((s) => s.machineBusyCores))),
        stealMedian: round2(median(xs.map((s) => s.stealCores))),
      });
      const a = stat(one);
      const b = stat(two);
      const unit = UNIT[workload];
      rows.push([`${WHAT[workload]} (${unit})`, a.best, a.median, b.best, b.median, ratio(b.median, a.median), a.perCpuMedian, b.perCpuMedian, ratio(b.perCpuMedian, a.perCpuMedian),
        `${a.serverCpuMedian} / ${b.serverCpuMedian}`, `${a.clientCoresMedian} / ${b.clientCoresMedian}`, `${a.machineBusyMedian} / ${b.machineBusyMedian}`, `${a.stealMedian} / ${b.stealMedian}`]);
      summary[workload] = { unit, oneThread: a, twoThreads: b, ratioMedians: ratio(b.median, a.median), ratioPerCpu: ratio(b.perCpuMedian, a.perCpuMedian) };
      headline.push({
        workload: `thread scaling, POP3 ${WHAT[workload]}, 2 vs 1 connection threads`,
        unit,
        better: 'higher',
        postern: b.median,
        peer: 'same, 1 thread',
        peerValue: a.median,
        ...(workload !== 'sessions' ? { target: { text: '≥ 1.7 ×', ratio: { op: '>=' as const, value: 1.7 } } } : {}),
      });
    }
    console.log('');
    printTable(`thread scaling: POP3, ${CLIENTS} clients, ${RUN_S} s per run, ${RUNS} run(s) per side (RETR: ${RETR_USERS} × ${RETR_PER_USER} × 4 KiB, pipelined ${PIPELINE} at a time or not; sessions: ${SESS_USERS} × ${SESS_PER_USER})`, [
      'workload', '1 thread best', '1 thread median', '2 threads best', '2 threads median', 'ratio (medians)',
      'per server CPU-s, 1', 'per server CPU-s, 2', 'ratio per CPU', 'server CPU s (1/2)', 'load generator, cores (1/2)', 'machine busy cores (1/2)', 'steal, cores (1/2)',
    ], rows);
    console.log('');
    const groups = [...new Set(samples.flatMap((s) => Object.keys(s.byThread)))].sort();
    printTable('server CPU seconds per thread (median of the runs)', ['workload', 'threads', ...groups], WORKLOADS.flatMap((w) => ([1, 2] as const).map((t) => {
      const xs = samples.filter((s) => s.workload === w && s.threads === t);
      return [w, t, ...groups.map((g) => round2(median(xs.map((s) => s.byThread[g] ?? 0))))];
    })));
    const loadEnd = os.loadavg()[0]!;
    console.log(`(the load generator is one thread: its cores figure is what it took of the machine's 2; what is left is what the server could use)`);
    console.log(`machine load average (1 min): ${round2(loadStart)} at the start, ${round2(loadEnd)} at the end (2 cores; other work on the machine shows here)`);
    printJsonLine({ bench: 'scaling', loadAverageStart: round2(loadStart), loadAverageEnd: round2(loadEnd), clients: CLIENTS, pipeline: PIPELINE, runSeconds: RUN_S, runs: RUNS, summary, samples, headline });
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
