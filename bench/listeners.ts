/**
 * bench/listeners.ts: the listener layer under connection load (`npm run bench:listeners`).
 *
 * The server runs as a child process (bench/lib/server.ts) with the line-protocol fixture in the
 * pop3 slot, one listener on 127.0.0.1 with its limits lifted for the run (maxConnections and
 * peerMaxConnections 20000, interval limits 0 = unlimited) and exactly 2 connection threads.
 * Both processes run under a raised open-file limit (65536, or the hard limit if lower). Client
 * connections come from 127.0.0.2 … 127.0.0.9 in turn, so no source address runs out of
 * ephemeral ports.
 *
 * (a) Acceptance: ROUNDS rounds, each opening ACCEPT_N connections as fast as possible with at
 *     most CONCURRENCY not yet greeted; a connection counts when the server's greeting line
 *     arrives. connections/s = greeted / (time from the first connect to the last greeting).
 *     The round's connections are then reset (RST, so no TIME_WAIT piles up in the load
 *     generator) and the server's open count must return to 0 before the next round (not
 *     timed). Target: median round ≥ 5,000 connections/s.
 * (b) Idle memory, on a fresh server: RSS with 0 connections (baseline), then IDLE_N
 *     connections opened the same way and held idle; once /status shows them all open and RSS
 *     has settled, RSS again: per connection = (RSS − baseline) / N. Then all are closed and
 *     /status must drop to 0 open. Targets: RSS with 10,000 idle connections ≤ 150 MB
 *     (150,000,000 bytes), and ≤ 4 KB (4,000 bytes) per connection.
 * Headline rows (`headline` in the JSON line, for `npm run bench`): that RSS (MB), per idle
 * connection (KB), the median acceptance round (connections/s), and the RSS with none (MB, no
 * target). There is no peer in this bench.
 * Server RSS is VmRSS of its process (its threads share it); CPU is utime+stime of the process.
 * The server runs with Node's compile cache, as `postern start` (bin/postern.js) runs it.
 * The load generator's own CPU time is printed beside the server's.
 *
 * Every phase gives up after PHASE_MS; every connection waits at most GREETING_MS for its
 * greeting. Prints aligned tables, then exactly one line of JSON holding every printed figure:
 * `{"bench":"listeners",...}`. Exit code 0 even when a target is missed (the table says so);
 * 1 when the server cannot be started.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { benchConfig, ensureNofile, nofileLimit, selfCpuSeconds, startPosternProcess, type PosternProcess } from './lib/server.ts';
import { printJsonLine, printTable, type Headline } from './lib/table.ts';

const NOFILE = 65_536;
const ACCEPT_N = 10_000;
const ROUNDS = 3;
const IDLE_N = 10_000;
const CONCURRENCY = 200;
const PHASE_MS = 60_000;
const GREETING_MS = 10_000;
const SETTLE_MS = 2_000;
const SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];
const TARGET_ACCEPT_PER_S = 5_000;
const TARGET_IDLE_N = 10_000;
const TARGET_RSS_BYTES = 150_000_000;
const TARGET_PER_CONN_BYTES = 4_000;
const MB = 1_000_000;
const KB = 1_000;

const FIXTURE = new URL('../test/fixtures/line-protocol.ts', import.meta.url).href;
/** The server runs as `postern start` runs it (bin/postern.js): with Node's compile cache, in the
 * same directory, so that no thread strips and compiles the TypeScript again (type stripping
 * costs each thread that does it ~17 MB of RSS). The acceptance phase's server fills it if
 * it is empty. */
const COMPILE_CACHE = process.env.NODE_COMPILE_CACHE ?? path.join(os.tmpdir(), `postern-compile-cache-${process.getuid?.() ?? 'u'}`);
const CONFIG = benchConfig('pop3');

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface OpenResult {
  sockets: net.Socket[];
  greeted: number;
  refused: number;
  failed: number;
  elapsedMs: number;
  timedOut: boolean;
}

/** Connect and resolve with the socket once the first line arrives ('+OK…' greeted, else refused). */
function openOne(port: number, localAddress: string, timeoutMs: number): Promise<{ socket: net.Socket; ok: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let got: Buffer | null = null;
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err !== null) {
        socket.resetAndDestroy();
        reject(err);
      } else resolve({ socket, ok: got !== null && got[0] === 0x2b /* '+' */ });
    };
    const onData = (b: Buffer): void => {
      got = got === null ? b : Buffer.concat([got, b]);
      if (got.includes(10)) done(null);
    };
    const onClose = (): void => done(new Error('closed before the greeting'));
    const timer = setTimeout(() => done(new Error('greeting timeout')), timeoutMs);
    socket.on('error', () => {}); // 'close' follows
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** Open `n` connections, at most `concurrency` waiting for their greeting, until `deadline`. */
async function openMany(port: number, n: number, concurrency: number, deadline: number): Promise<OpenResult> {
  const r: OpenResult = { sockets: [], greeted: 0, refused: 0, failed: 0, elapsedMs: 0, timedOut: false };
  let started = 0;
  const t0 = performance.now();
  let last = t0;
  const lane = async (): Promise<void> => {
    while (started < n) {
      const now = Date.now();
      if (now >= deadline) {
        r.timedOut = true;
        return;
      }
      const i = started++;
      try {
        const { socket, ok } = await openOne(port, SOURCES[i % SOURCES.length]!, Math.min(GREETING_MS, Math.max(1000, deadline - now)));
        r.sockets.push(socket);
        if (ok) r.greeted++;
        else r.refused++;
        last = performance.now();
      } catch {
        r.failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  r.elapsedMs = last - t0;
  return r;
}

/**
 * Close with an RST (SO_LINGER 0): a client-side close with FIN would leave each 4-tuple in
 * TIME_WAIT here for 60 s, and binding a source address with port 0 gets slower (kernel CPU in
 * the load generator) as those pile up over the rounds; the server sees an ordinary reset.
 */
function closeAll(sockets: net.Socket[]): void {
  for (const s of sockets) if (!s.destroyed) s.resetAndDestroy();
  sockets.length = 0;
}

async function openCount(srv: PosternProcess): Promise<number> {
  const doc = await srv.status();
  return doc.services.find((s) => s.name === 'pop3')?.openConnections ?? -1;
}

/** Poll /status until the open count is `want` or the deadline passes; returns the last count. */
async function waitOpen(srv: PosternProcess, want: number, deadline: number): Promise<number> {
  let n = -1;
  for (;;) {
    try {
      n = await openCount(srv);
    } catch {
      /* keep polling */
    }
    if (n === want || Date.now() >= deadline) return n;
    await sleep(200);
  }
}

async function startServer(): Promise<PosternProcess> {
  const srv = await startPosternProcess({ configText: CONFIG, protocolOverrides: { pop3: FIXTURE }, nofile: NOFILE, env: { NODE_COMPILE_CACHE: COMPILE_CACHE } });
  // both connection threads are up when the service reports them
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const doc = await srv.status();
    if ((doc.services.find((s) => s.name === 'pop3')?.connThreads.current ?? 0) >= 2) break;
    await sleep(100);
  }
  return srv;
}

interface AcceptRound {
  round: number;
  connections: number;
  refused: number;
  failed: number;
  seconds: number;
  conns_per_s: number;
  server_cpu_s: number;
  client_cpu_s: number;
  server_cpu_us_per_conn: number | null;
  open_after_close: number;
  timed_out: boolean;
}

async function acceptance(): Promise<{ rounds: AcceptRound[]; nofile: number | null }> {
  const srv = await startServer();
  const rounds: AcceptRound[] = [];
  try {
    const port = srv.port('pop3');
    for (let round = 1; round <= ROUNDS; round++) {
      const deadline = Date.now() + PHASE_MS;
      const c0 = srv.cpuSeconds();
      const s0 = selfCpuSeconds();
      const r = await openMany(port, ACCEPT_N, CONCURRENCY, deadline);
      const serverCpu = srv.cpuSeconds() - c0;
      const clientCpu = selfCpuSeconds() - s0;
      closeAll(r.sockets);
      const after = await waitOpen(srv, 0, deadline);
      const secs = r.elapsedMs / 1000;
      rounds.push({
        round,
        connections: r.greeted,
        refused: r.refused,
        failed: r.failed,
        seconds: round3(secs),
        conns_per_s: secs > 0 ? Math.round(r.greeted / secs) : 0,
        server_cpu_s: round3(serverCpu),
        client_cpu_s: round3(clientCpu),
        server_cpu_us_per_conn: r.greeted > 0 ? Math.round((serverCpu / r.greeted) * 1e6) : null,
        open_after_close: after,
        timed_out: r.timedOut || Date.now() >= deadline,
      });
      await sleep(500);
    }
    return { rounds, nofile: srv.nofile };
  } finally {
    await srv.stop();
  }
}

interface IdleResult {
  target_connections: number;
  greeted: number;
  refused: number;
  failed: number;
  closed_by_server: number;
  open_seconds: number;
  conns_per_s: number;
  status_open: number;
  baseline_rss_bytes: number;
  rss_bytes: number;
  per_conn_bytes: number | null;
  rss_after_close_bytes: number;
  status_open_after_close: number;
  server_cpu_s: number;
  client_cpu_s: number;
  timed_out: boolean;
}

async function idleMemory(n: number): Promise<IdleResult> {
  const srv = await startServer();
  try {
    const port = srv.port('pop3');
    await sleep(SETTLE_MS);
    const baseline = srv.rssBytes();
    const deadline = Date.now() + PHASE_MS;
    const c0 = srv.cpuSeconds();
    const s0 = selfCpuSeconds();
    const r = await openMany(port, n, CONCURRENCY, deadline);
    let closedByServer = 0;
    for (const s of r.sockets) s.once('close', () => closedByServer++);
    const open = await waitOpen(srv, r.greeted, deadline);
    await sleep(SETTLE_MS);
    const rss = srv.rssBytes();
    const serverCpu = srv.cpuSeconds() - c0;
    const clientCpu = selfCpuSeconds() - s0;
    const closedDuringIdle = closedByServer;
    closeAll(r.sockets);
    const closeDeadline = Date.now() + PHASE_MS;
    const after = await waitOpen(srv, 0, closeDeadline);
    await sleep(SETTLE_MS);
    const rssAfter = srv.rssBytes();
    const secs = r.elapsedMs / 1000;
    return {
      target_connections: n,
      greeted: r.greeted,
      refused: r.refused,
      failed: r.failed,
      closed_by_server: closedDuringIdle,
      open_seconds: round3(secs),
      conns_per_s: secs > 0 ? Math.round(r.greeted / secs) : 0,
      status_open: open,
      baseline_rss_bytes: baseline,
      rss_bytes: rss,
      per_conn_bytes: r.greeted > 0 ? Math.round((rss - baseline) / r.greeted) : null,
      rss_after_close_bytes: rssAfter,
      status_open_after_close: after,
      server_cpu_s: round3(serverCpu),
      client_cpu_s: round3(clientCpu),
      timed_out: r.timedOut || Date.now() >= deadline || after !== 0,
    };
  } finally {
    await srv.stop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!;
}

const clientNofile = await ensureNofile(NOFILE);
// the idle phase holds N sockets here: keep some descriptors spare under our own limit
const idleN = clientNofile !== null && clientNofile < IDLE_N + 256 ? Math.max(0, clientNofile - 256) : IDLE_N;

let acc: Awaited<ReturnType<typeof acceptance>>;
let idle: IdleResult;
try {
  acc = await acceptance();
  idle = await idleMemory(idleN);
} catch (e) {
  console.error(`bench:listeners: ${(e as Error).message}`);
  process.exit(1);
}

const rates = acc.rounds.map((r) => r.conns_per_s);
const medianRate = median(rates);
const bestRate = Math.max(0, ...rates);

console.log(`server: ${ACCEPT_N.toLocaleString('en-US')} connections per acceptance round, ${CONCURRENCY} awaiting greeting at most, sources ${SOURCES[0]}…${SOURCES[SOURCES.length - 1]}; open-file limit: client ${clientNofile ?? '?'}, server ${acc.nofile ?? '?'}`);
console.log('');
printTable(
  `(a) acceptance: ${ROUNDS} rounds`,
  ['round', 'connections', 'refused', 'failed', 'seconds', 'conns/s', 'server CPU s', 'client CPU s', 'server CPU µs/conn', 'open after close'],
  acc.rounds.map((r) => [r.round, r.connections, r.refused, r.failed, r.seconds, r.conns_per_s, r.server_cpu_s, r.client_cpu_s, r.server_cpu_us_per_conn, r.open_after_close]),
);
console.log('');
printTable(
  `(b) idle connections: ${idle.target_connections.toLocaleString('en-US')} held open`,
  ['measure', 'value'],
  [
    ['connections greeted', idle.greeted],
    ['refused / failed', `${idle.refused} / ${idle.failed}`],
    ['closed by the server while idle', idle.closed_by_server],
    ['open reported by /status', idle.status_open],
    ['time to open them, s', idle.open_seconds],
    ['  conns/s while filling', idle.conns_per_s],
    ['server RSS, 0 connections (MB)', round1(idle.baseline_rss_bytes / MB)],
    ['server RSS, all open (MB)', round1(idle.rss_bytes / MB)],
    ['per connection (bytes)', idle.per_conn_bytes],
    ['server RSS after closing all (MB)', round1(idle.rss_after_close_bytes / MB)],
    ['open reported after closing all', idle.status_open_after_close],
    ['server CPU s (fill + hold)', idle.server_cpu_s],
    ['client CPU s (fill + hold)', idle.client_cpu_s],
  ],
);
console.log('');

const targets = [
  {
    target: 'acceptance, median round (conns/s)',
    measured: medianRate,
    required: `>= ${TARGET_ACCEPT_PER_S.toLocaleString('en-US')}`,
    met: medianRate >= TARGET_ACCEPT_PER_S && acc.rounds.every((r) => r.failed === 0 && r.refused === 0),
  },
  {
    target: 'idle connections held (per /status)',
    measured: idle.status_open,
    required: `>= ${TARGET_IDLE_N.toLocaleString('en-US')}`,
    met: idle.status_open >= TARGET_IDLE_N && idle.closed_by_server === 0,
  },
  {
    target: 'server RSS with them open (MB)',
    measured: round1(idle.rss_bytes / MB),
    required: `<= ${TARGET_RSS_BYTES / MB}`,
    met: idle.rss_bytes <= TARGET_RSS_BYTES && idle.status_open >= TARGET_IDLE_N,
  },
  {
    target: 'per idle connection (bytes)',
    measured: idle.per_conn_bytes,
    required: `<= ${TARGET_PER_CONN_BYTES.toLocaleString('en-US')}`,
    met: idle.per_conn_bytes !== null && idle.per_conn_bytes <= TARGET_PER_CONN_BYTES && idle.status_open >= TARGET_IDLE_N,
  },
  {
    target: 'open count back to 0 after closing',
    measured: idle.status_open_after_close,
    required: '0',
    met: idle.status_open_after_close === 0 && acc.rounds.every((r) => r.open_after_close === 0),
  },
];
printTable('targets', ['target', 'measured', 'required', { name: 'met', align: 'left' }], targets.map((t) => [t.target, t.measured, t.required, t.met]));

const held = idle.status_open >= TARGET_IDLE_N && idle.closed_by_server === 0;
const headline: Headline[] = [
  {
    workload: `${TARGET_IDLE_N.toLocaleString('en-US')} idle connections, RSS`,
    unit: 'MB',
    better: 'lower',
    postern: held ? round1(idle.rss_bytes / MB) : null,
    target: { text: `≤ ${TARGET_RSS_BYTES / MB} MB`, value: { op: '<=', value: TARGET_RSS_BYTES / MB } },
  },
  {
    workload: 'per idle connection',
    unit: 'KB',
    better: 'lower',
    postern: held && idle.per_conn_bytes !== null ? round3(idle.per_conn_bytes / KB) : null,
    target: { text: `≤ ${TARGET_PER_CONN_BYTES / KB} KB`, value: { op: '<=', value: TARGET_PER_CONN_BYTES / KB } },
  },
  {
    workload: 'accept rate',
    unit: 'conns/s',
    better: 'higher',
    postern: medianRate,
    target: { text: `≥ ${TARGET_ACCEPT_PER_S.toLocaleString('en-US')} conns/s`, value: { op: '>=', value: TARGET_ACCEPT_PER_S } },
  },
  { workload: 'idle server, no connections, RSS', unit: 'MB', better: 'lower', postern: round1(idle.baseline_rss_bytes / MB) },
];

printJsonLine({
  bench: 'listeners',
  node: process.version,
  nofile: { client: clientNofile, server: acc.nofile, self_now: nofileLimit() },
  setup: { accept_n: ACCEPT_N, rounds: ROUNDS, idle_n: idleN, concurrency: CONCURRENCY, sources: SOURCES.length, conn_threads: 2, phase_ms: PHASE_MS },
  accept: { rounds: acc.rounds, median_conns_per_s: medianRate, best_conns_per_s: bestRate },
  idle,
  targets,
  headline,
});
