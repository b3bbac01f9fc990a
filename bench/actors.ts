/**
 * bench/actors.ts: how fast the actor runtime moves messages (`npm run bench:actors`).
 *
 * Measures (a) in-thread `tell` throughput and `ask` round-trip latency, (b) the same across a
 * worker thread with `RemoteRef` ↔ `serveActor` (workers/bench-echo.ts), (c) the per-call cost
 * of the three ways to call another thread: a raw postMessage each way (the floor), the
 * port-RPC of the hot paths (src/actor/rpc.ts) and comlink for control-plane calls
 * (src/actor/control.ts), each with no handler work, (d) the store path: a StoreClient call
 * answered by the store thread, (e) a piscina@5 task round trip (workers/pool-echo.ts), each
 * sequential and pipelined. Every loop is bounded by a
 * count and a time budget. Prints an aligned table, then exactly one line of JSON holding
 * every printed figure: `{"bench":"actors",...,"results":[...]}`. Throws only on setup failure.
 */
import type { Headline } from './lib/table.ts';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { Actor } from '../src/actor/actor.ts';
import { RemoteRef } from '../src/actor/remote.ts';
import { RpcClient } from '../src/actor/rpc.ts';
import { controlProxy, releaseControl } from '../src/actor/control.ts';
import { StoreThread } from '../actors/store-thread.ts';
import { StoreClient } from '../src/store/client.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BUDGET_MS = 1500; // per measurement
const TELL_MAX = 5_000_000;
const ASK_MAX = 200_000;
const PIPELINE = 64; // requests in flight for the pipelined rows
const BURST = 999; // tells per burst: one below the default mailbox, leaving room for the barrier ask

interface Row {
  name: string;
  n: number;
  ops_per_s: number;
  p50_us: number | null;
  p99_us: number | null;
}

const rows: Row[] = [];

function pct(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Sequential round trips: latency percentiles and ops/s. */
async function latency(name: string, once: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 2000; i++) await once(i); // warm up
  const lat = new Float64Array(ASK_MAX);
  let n = 0;
  const t0 = performance.now();
  const end = t0 + BUDGET_MS;
  while (n < ASK_MAX) {
    const s = performance.now();
    if (s > end) break;
    await once(n);
    lat[n++] = performance.now() - s;
  }
  const elapsed = performance.now() - t0;
  const sorted = lat.subarray(0, n).sort();
  rows.push({ name, n, ops_per_s: Math.round((n / elapsed) * 1000), p50_us: round(pct(sorted, 0.5) * 1000, 1), p99_us: round(pct(sorted, 0.99) * 1000, 1) });
}

/** `PIPELINE` requests in flight until the count or the budget runs out: ops/s only. */
async function pipelined(name: string, once: (i: number) => Promise<unknown>): Promise<void> {
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  const end = t0 + BUDGET_MS;
  const lane = async (): Promise<void> => {
    while (started < ASK_MAX && performance.now() < end) {
      started++;
      await once(started);
      done++;
    }
  };
  await Promise.all(Array.from({ length: PIPELINE }, lane));
  const elapsed = performance.now() - t0;
  rows.push({ name, n: done, ops_per_s: Math.round((done / elapsed) * 1000), p50_us: null, p99_us: null });
}

/** Tells in bursts of BURST, each followed by a barrier ask so the mailbox never overflows. */
async function tells(name: string, tell: (n: number) => void, barrier: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 20; i++) {
    for (let j = 0; j < BURST; j++) tell(1);
    await barrier();
  }
  let sent = 0;
  const t0 = performance.now();
  const end = t0 + BUDGET_MS;
  while (sent + BURST <= TELL_MAX && performance.now() < end) {
    for (let j = 0; j < BURST; j++) tell(1);
    sent += BURST;
    await barrier();
  }
  const elapsed = performance.now() - t0;
  rows.push({ name, n: sent, ops_per_s: Math.round((sent / elapsed) * 1000), p50_us: null, p99_us: null });
  return sent;
}

async function inThread(): Promise<void> {
  let count = 0;
  const a = new Actor<number, number>({ id: 'bench', handler: (n) => (count++, n) });
  await tells('actor tell, in-thread', (n) => a.tell(n), () => a.ask(0));
  await latency('actor ask, in-thread', (i) => a.ask(i));
  await pipelined(`actor ask, in-thread x${PIPELINE}`, (i) => a.ask(i));
  await a.stop();
  if (count === 0) throw new Error('the actor handled nothing');
}

async function crossThread(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('../workers/bench-echo.ts', import.meta.url), { workerData: { port: port2 }, transferList: [port2] });
  const ref = new RemoteRef<number, number>(port1, 'bench-echo');
  try {
    await ref.ask(0, 10_000); // the worker is up
    const before = await ref.ask(-1);
    const sent = await tells('remote tell, worker thread', (n) => ref.tell(n), () => ref.ask(-1));
    const after = await ref.ask(-1);
    const arrived = after - before - 1 - Math.ceil(sent / BURST) - 20 * (BURST + 1);
    if (arrived !== sent) throw new Error(`remote tells lost: sent ${sent}, handled ${arrived}`);
    await latency('remote ask, worker thread', () => ref.ask(0));
    await pipelined(`remote ask, worker thread x${PIPELINE}`, () => ref.ask(0));
  } finally {
    ref.close();
    await worker.terminate();
  }
}

/** One raw postMessage each way (the floor any port RPC stands on). */
async function rawPort(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('../workers/bench-echo.ts', import.meta.url), { workerData: { rawPort: port2 }, transferList: [port2] });
  let waiting: ((v: unknown) => void) | null = null;
  port1.on('message', (v) => {
    const w = waiting;
    waiting = null;
    w?.(v);
  });
  const once = (i: number): Promise<unknown> => new Promise((resolve) => {
    waiting = resolve;
    port1.postMessage(i);
  });
  try {
    await latency('raw postMessage round trip, worker thread', once);
  } finally {
    port1.close();
    await worker.terminate();
  }
}

/** The port-RPC (hot paths) and comlink (control plane), on an echo in a worker thread. */
async function rpcAndComlink(): Promise<void> {
  const rpc = new MessageChannel();
  const ctl = new MessageChannel();
  const worker = new Worker(new URL('../workers/bench-echo.ts', import.meta.url), { workerData: { rpcPort: rpc.port2, controlPort: ctl.port2 }, transferList: [rpc.port2, ctl.port2] });
  const client = new RpcClient<number>(rpc.port1, { name: 'bench-echo' });
  const proxy = controlProxy<{ echo(v: number): Promise<number> }>(ctl.port1);
  try {
    await client.call(0, 10_000); // the worker is up
    await latency('port-RPC call, worker thread', (i) => client.call(i));
    await pipelined(`port-RPC call, worker thread x${PIPELINE}`, (i) => client.call(i));
    await latency('comlink call, worker thread', (i) => proxy.echo(i));
    await pipelined(`comlink call, worker thread x${PIPELINE}`, (i) => proxy.echo(i));
  } finally {
    client.close();
    releaseControl(proxy);
    ctl.port1.close();
    await worker.terminate();
  }
}

/** The store path: a StoreClient in this thread, the store in its thread (actors/store-thread.ts). */
async function storePath(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-bench-actors-'));
  const st = await StoreThread.start({ dataDir, logLevel: 'silent' });
  const c = new StoreClient(st.connect('bench'));
  try {
    await st.admin('domain.add', { name: 'bench.example' });
    await st.admin('account.add', { address: 'u@bench.example', password: 'x' });
    const mb = c.mailbox('u@bench.example');
    await mb.append('INBOX', Buffer.from('Subject: bench\r\n\r\n' + 'x'.repeat(2000) + '\r\n'));
    await latency('store call (status), store thread', () => mb.status('INBOX'));
    await pipelined(`store call (status), store thread x${PIPELINE}`, () => mb.status('INBOX'));
    await latency('store call (fetch 2 KB, transferred), store thread', () => mb.fetch('INBOX', 1));
  } finally {
    c.close();
    await st.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function pool(): Promise<void> {
  const p = new Piscina({ filename: new URL('../workers/pool-echo.ts', import.meta.url).href, minThreads: 1, maxThreads: 1 });
  try {
    await latency('piscina run, 1 thread', (i) => p.run(i));
    await pipelined(`piscina run, 1 thread x${PIPELINE}`, (i) => p.run(i));
  } finally {
    await p.destroy();
  }
}

function fmt(v: number | null): string {
  return v === null ? '-' : v.toLocaleString('en-US');
}

function print(): void {
  const head = ['benchmark', 'n', 'ops/s', 'p50 µs', 'p99 µs'];
  const cells = rows.map((r) => [r.name, fmt(r.n), fmt(r.ops_per_s), fmt(r.p50_us), fmt(r.p99_us)]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
  // the port-RPC's and the store call's round trip beside the floor (a raw postMessage each way)
  const p50 = (name: string): number | null => rows.find((r) => r.name === name)?.p50_us ?? null;
  const raw = p50('raw postMessage round trip, worker thread');
  const headline: Headline[] = ['port-RPC call, worker thread', 'comlink call, worker thread', 'store call (status), store thread'].map((name) => ({
    workload: `${name}, p50 round trip`, unit: 'µs', better: 'lower', postern: p50(name), peer: 'raw postMessage round trip', peerValue: raw,
  }));
  console.log(JSON.stringify({ bench: 'actors', headline, node: process.version, budget_ms: BUDGET_MS, pipeline: PIPELINE, results: rows }));
}

await inThread();
await crossThread();
await rawPort();
await rpcAndComlink();
await storePath();
await pool();
print();
