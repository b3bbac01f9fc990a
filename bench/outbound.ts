/**
 * bench/outbound.ts: relaying mail out, Postern against Postfix, in the same run, on loopback
 * (`npm run bench:outbound`).
 *
 * Load: 10,000 messages (BENCH_OUTBOUND_COUNT) of 4 KiB payload each (`smtp-source -l 4096`),
 * one remote recipient (rcpt@sink.test), injected by Postfix's `smtp-source` over 20 persistent
 * sessions (`-d -s 20`; smtp-source does not pipeline) into each server, which relays every
 * message to one Postfix `smtp-sink` on a loopback port (the smart host / relayhost). The sink
 * runs with `-c`: it prints a running counter of messages received, which this bench reads.
 *  - Postern: smtpIncoming (relayNetworks = 127.0.0.0/8) + processing + smtpOutgoing with one
 *    route, `domain = "*"` to the smart host 127.0.0.1:<sink port>; a child process.
 *  - Postfix 3.7: an instance of its own, from config files written by this bench into a temp
 *    directory (`postfix -c DIR start`; its own queue and data directories there, so nothing
 *    in /etc is touched and the default instance, if any, is left alone): smtpd on a loopback
 *    port, `relayhost = [127.0.0.1]:<sink port>`, mynetworks 127.0.0.0/8, TLS off, logging off,
 *    every other setting Postfix's default (connection cache, destination concurrency 20).
 * Measured per run, end to end: from just before smtp-source starts until the sink has counted
 * the run's last message: messages/s; and the server's CPU per message over that time:
 *  - Postern: utime+stime of its one process (all worker threads) from /proc/<pid>/stat;
 *  - Postfix: the sum over the master and every live descendant (smtpd, cleanup, qmgr, smtp,
 *    trivial-rewrite, …) of utime+stime+cutime+cstime from /proc/<pid>/stat, so that a daemon
 *    that exited during the run (max_idle/max_use) still counts through the master's cutime/
 *    cstime (the master reaps its children).
 * Three runs each (BENCH_OUTBOUND_RUNS), alternating, after a warm-up of 200 messages each;
 * prints best and median, the Postern ÷ Postfix ratio (target ≥ 2), then exactly one line of
 * JSON with every figure. Exit 0 even when the target is missed (the table says so); 1 on a
 * setup failure or when a message does not arrive within the timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureNofile, startPosternProcess } from './lib/server.ts';
import { startPostfix } from './lib/postfix.ts';
import { printJsonLine, printTable, type Headline } from './lib/table.ts';
import { debVersion } from './lib/proc.ts';
import { freePort, waitPort } from './lib/net.ts';
import { ensureTools } from '../test/tools.ts';

const COUNT = Number(process.env.BENCH_OUTBOUND_COUNT ?? 10_000);
const RUNS = Number(process.env.BENCH_OUTBOUND_RUNS ?? process.env.BENCH_RUNS ?? 3);
const SESSIONS = Number(process.env.BENCH_OUTBOUND_SESSIONS ?? 20);
/** Which servers to run: "postern,postfix" (default), or one of them. */
const ONLY = (process.env.BENCH_OUTBOUND_ONLY ?? 'postern,postfix').split(',');
const WARMUP = 200;
/** BENCH_OUTBOUND_LOG=1: Postern logs at info, on stderr. */
const LOG = process.env.BENCH_OUTBOUND_LOG === '1';
const PAYLOAD = 4096;
const RCPT = 'rcpt@sink.test';
const FROM = 'bench@origin.test';
const TIMEOUT_MS = 300_000;
/** Connections to the sink at once: Postfix's default destination concurrency (20). */
const DEST_CONNS = Number(process.env.BENCH_OUTBOUND_DEST_CONNS ?? 20);
const CONN_THREADS = Number(process.env.BENCH_OUTBOUND_CONN_THREADS ?? 1);

const r1 = (x: number): number => Math.round(x * 10) / 10;
const r2 = (x: number): number => Math.round(x * 100) / 100;



/** Run smtp-source against a port; resolves when it exits 0. */
function smtpSource(port: number, sessions: number, messages: number): Promise<void> {
  const args = ['-d', '-s', String(sessions), '-m', String(messages), '-l', String(PAYLOAD), '-f', FROM, '-t', RCPT, '-M', 'loadgen.example', `127.0.0.1:${port}`];
  return new Promise((resolve, reject) => {
    const child = spawn('smtp-source', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`smtp-source exited ${code}: ${err.slice(-500)}`));
      else resolve();
    });
  });
}

// ---- the sink ----------------------------------------------------------------------------------

interface Sink {
  port: number;
  /** Messages the sink has received so far. */
  count(): number;
  /** Resolves with the time (performance.now()) the sink's count reached n. */
  waitCount(n: number, who: string): Promise<number>;
  stop(): void;
}

async function startSink(): Promise<Sink> {
  const port = await freePort();
  const child: ChildProcess = spawn('smtp-sink', ['-u', 'nobody', '-c', '-m', '1000', `127.0.0.1:${port}`, '1024'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let count = 0;
  let waiters: Array<{ n: number; resolve: (t: number) => void }> = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString('latin1');
    const parts = partial.split('\r');
    partial = parts.pop() ?? '';
    const last = parts[parts.length - 1];
    const m = last === undefined ? null : /mesg=(\d+)/.exec(last);
    if (m === null) return;
    count = Number(m[1]);
    const now = performance.now();
    waiters = waiters.filter((w) => (w.n <= count ? (w.resolve(now), false) : true));
  });
  await waitPort(port);
  return {
    port,
    count: () => count,
    waitCount(n, who) {
      if (count >= n) return Promise.resolve(performance.now());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${who}: the sink received ${count} of ${n} within ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
        waiters.push({ n, resolve: (t) => (clearTimeout(timer), resolve(t)) });
      });
    },
    stop: () => void child.kill('SIGTERM'),
  };
}

// ---- the servers -------------------------------------------------------------------------------

interface Run {
  per_s: number;
  ms: number;
  cpuMsPerMsg: number;
}

interface Relay {
  name: string;
  port: number;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Inject n messages into the server, wait until the sink has them all. */
async function runOnce(s: Relay, sink: Sink, n: number): Promise<Run> {
  const target = sink.count() + n;
  const cpu0 = s.cpuSeconds();
  const t0 = performance.now();
  await smtpSource(s.port, SESSIONS, n);
  const t1 = await sink.waitCount(target, s.name);
  const ms = t1 - t0;
  const cpu = s.cpuSeconds() - cpu0;
  if (sink.count() !== target) throw new Error(`${s.name}: the sink received ${sink.count() - target + n} messages for ${n} sent`);
  return { per_s: r1((n / ms) * 1000), ms: Math.round(ms), cpuMsPerMsg: r2((cpu * 1000) / n) };
}

async function postern(sinkPort: number): Promise<Relay> {
  const flow = 'maxConnections = 0  maxIntervalConnections = 0  peerMaxConnections = 0  peerMaxIntervalConnections = 0';
  const p = await startPosternProcess({
    nofile: 65_536,
    configText: `Server {
      services = (smtpIncoming processing smtpOutgoing)
      primaryDomain = "postern.bench"
      statusListener = 127.0.0.1:0
      logLevel = ${LOG ? 'info' : 'error'}
      smtpIncoming = {
        listeners = ( { address = 127.0.0.1:0 ${flow} } )
        ${flow}
        relayNetworks = ( 127.0.0.0/8 )
        mailAuth = no  # the Postfix peer checks no SPF/DKIM/DMARC either
        minConnThreads = ${CONN_THREADS}
        maxConnThreads = ${CONN_THREADS}
      }
      processing = { minConnThreads = 1 maxConnThreads = 1 }
      smtpOutgoing = {
        minConnThreads = 1
        maxConnThreads = 1
        mtaSts = no
        maxConnectionsPerDomain = ${DEST_CONNS}
        routes = ( { action = smartHost smartHost = { host = "127.0.0.1" port = ${sinkPort} startTls = no } } )
      }
    }`,
    onLine: (line) => void (LOG && process.stderr.write(`postern: ${line}\n`)),
  });
  return { name: 'Postern', port: p.port('smtpIncoming'), cpuSeconds: () => p.cpuSeconds(), stop: async () => void (await p.stop()) };
}

/** A Postfix instance of the bench's own, in a temp directory (postfix -c). */
async function postfix(sinkPort: number): Promise<Relay> {
  const pf = await startPostfix({
    name: 'outbound',
    main: [
      'myhostname = pfbench.local',
      `relayhost = [127.0.0.1]:${sinkPort}`,
      'smtpd_relay_restrictions = permit_mynetworks, reject',
      'smtpd_banner = $myhostname ESMTP pfbench',
    ],
  });
  return { name: 'Postfix', port: pf.port, cpuSeconds: () => pf.cpuSeconds(), stop: () => pf.stop() };
}

// ---- the run -----------------------------------------------------------------------------------

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

await ensureNofile(65_536);
ensureTools(['postfix', 'smtp-source', 'smtp-sink'], { what: 'bench:outbound' });
const sink = await startSink();
const servers: Relay[] = [];
// stopped by a signal (run-all's timeout, ^C): leave no Postfix instance or sink behind
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    void Promise.allSettled(servers.map((s) => s.stop())).finally(() => {
      sink.stop();
      process.exit(1);
    });
  });
}
const runs: Record<string, Run[]> = {};
try {
  if (ONLY.includes('postern')) servers.push(await postern(sink.port));
  if (ONLY.includes('postfix')) servers.push(await postfix(sink.port));
  for (const s of servers) {
    runs[s.name] = [];
    await runOnce(s, sink, WARMUP);
  }
  for (let i = 0; i < RUNS; i++) for (const s of servers) runs[s.name]!.push(await runOnce(s, sink, COUNT));
} finally {
  for (const s of servers) await s.stop();
  sink.stop();
}

const summary = Object.fromEntries(Object.entries(runs).map(([name, rs]) => [name, {
  runs: rs,
  best: { per_s: Math.max(...rs.map((r) => r.per_s)), cpuMsPerMsg: Math.min(...rs.map((r) => r.cpuMsPerMsg)) },
  median: { per_s: r1(median(rs.map((r) => r.per_s))), cpuMsPerMsg: r2(median(rs.map((r) => r.cpuMsPerMsg))) },
}]));
console.log(`\nOutbound relay: ${COUNT} × ${PAYLOAD}-byte payload, 1 recipient, injected by smtp-source over ${SESSIONS} persistent sessions, relayed to one smtp-sink (smart host / relayhost) on loopback; ${os.cpus().length} CPUs, node ${process.version}`);
console.log('messages/s from the first injected message to the last one the sink counted; server CPU (user+sys) per message over that time\n');
printTable('', ['server', ...rsHeader(), 'best msg/s', 'median msg/s', 'best CPU ms/msg', 'median CPU ms/msg'],
  Object.entries(summary).map(([name, s]) => [name, ...s.runs.map((r) => `${r.per_s} (${r.cpuMsPerMsg} ms)`), s.best.per_s, s.median.per_s, s.best.cpuMsPerMsg, s.median.cpuMsPerMsg]));
const pn = summary.Postern;
const px = summary.Postfix;
const ratio = pn !== undefined && px !== undefined ? { best: r2(pn.best.per_s / px.best.per_s), median: r2(pn.median.per_s / px.median.per_s), cpuMedian: r2(px.median.cpuMsPerMsg / pn.median.cpuMsPerMsg) } : null;
if (ratio !== null) console.log(`\nPostern ÷ Postfix messages/s: best ${ratio.best}x, median ${ratio.median}x (target ≥ 2: ${ratio.median >= 2 ? 'met' : 'MISSED'}); Postfix CPU ÷ Postern CPU per message (median): ${ratio.cpuMedian}x`);
const pfx = `Postfix ${debVersion('postfix') ?? ''}`.trim();
const headline: Headline[] = [
  { workload: `SMTP relay out, 4 KiB, ${SESSIONS} sessions in`, unit: 'msg/s', better: 'higher', postern: pn?.median.per_s ?? null, peer: pfx, peerValue: px?.median.per_s ?? null, target: { text: '≥ 2 × Postfix', ratio: { op: '>=', value: 2 } } },
  { workload: `SMTP relay out, CPU per message`, unit: 'ms', better: 'lower', postern: pn?.median.cpuMsPerMsg ?? null, peer: pfx, peerValue: px?.median.cpuMsPerMsg ?? null },
];
printJsonLine({ bench: 'outbound', headline, messages: COUNT, payloadBytes: PAYLOAD, sessions: SESSIONS, cpus: os.cpus().length, node: process.version, summary, ratio });

function rsHeader(): string[] {
  return Array.from({ length: RUNS }, (_, i) => `run ${i + 1} msg/s (CPU)`);
}
