/**
 * bench/store.ts: durable appends per second (`node bench/store.ts`, or `npm run bench:store`).
 *
 * For 1, 8 and 64 concurrent writers, each appending 4 KiB messages and waiting for each to be
 * durable: Postern's store (group commit into segment logs, the Store API in this thread, as
 * the store thread runs it), beside the same workload written the way maildir servers write it:
 * one file per message, written to tmp/, fsync, close, rename into new/, fsync of new/. Writer i
 * delivers to account (maildir) i mod 64 in both. Both write under one temp dir (same file
 * system; `BENCH_DIR` to choose it), each cell into a fresh directory removed after it.
 *
 * Each cell runs for BENCH_CELL_MS (default 2000) or BENCH_MESSAGES (default 1,000,000)
 * messages, whichever comes first, after a warm-up; the whole grid runs BENCH_RUNS times
 * (default 3), Postern first in odd runs and maildir first in even ones, and each cell reports
 * the best and the median of its runs; the ratio is of the medians.
 * Prints an aligned table, then exactly one line of JSON with every figure and `headline`
 * (bench/lib/table.ts): the medians at 64 writers (target ≥ 10 × maildir), 8 and 1.
 * Throws only on setup failure.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Store } from '../src/store/store.ts';
import type { MailboxApi } from '../src/store/types.ts';
import { printJsonLine, printTable, type Headline } from './lib/table.ts';

const WRITERS = (process.env.BENCH_WRITERS ?? '1,8,64').split(',').map(Number); // BENCH_WRITERS=64: one column (profiling)
const MAX_MESSAGES = Number(process.env.BENCH_MESSAGES ?? 1_000_000);
const CELL_MS = Number(process.env.BENCH_CELL_MS ?? 2000);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3) || 1);
const ONLY = process.env.BENCH_ONLY; // 'postern' | 'maildir': profile one side
const SIZE = 4096;
const ACCOUNTS = 64;
const BODY = Buffer.from(randomBytes(SIZE * 0.75).toString('base64'));
const PEER = 'maildir files (write+fsync+rename)';

interface Cell {
  n: number;
  ms: number;
  per_s: number;
}

/** Run `writers` loops calling `once` until MAX_MESSAGES are done or CELL_MS is spent. */
async function drive(writers: number, once: (w: number) => Promise<unknown>): Promise<Cell> {
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  const end = t0 + CELL_MS;
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    while (started < MAX_MESSAGES && performance.now() < end) {
      started++;
      await once(w);
      done++;
    }
  }));
  const ms = performance.now() - t0;
  return { n: done, ms: Math.round(ms), per_s: Math.round((done / ms) * 1000) };
}

async function postern(root: string, writers: number): Promise<Cell> {
  const dataDir = fs.mkdtempSync(path.join(root, 'postern-'));
  const store = await new Store({ dataDir, hashPassword: async (p) => `bench$${p}`, compactIntervalMs: 0 }).open();
  try {
    await store.directory.addDomain('bench.example');
    const mbs: MailboxApi[] = [];
    for (let a = 0; a < ACCOUNTS; a++) {
      await store.directory.addAccount(`u${a}@bench.example`, { password: 'x' });
      const mb = store.mailbox(`u${a}@bench.example`);
      await mb.status('INBOX'); // open its actor
      mbs.push(mb);
    }
    for (let i = 0; i < 200; i++) await mbs[i % ACCOUNTS]!.append('INBOX', BODY); // warm up
    return await drive(writers, (w) => mbs[w % ACCOUNTS]!.append('INBOX', BODY));
  } finally {
    await store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function fsyncPath(p: string): Promise<void> {
  const h = await fsp.open(p, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

async function maildir(root: string, writers: number): Promise<Cell> {
  const dir = fs.mkdtempSync(path.join(root, 'maildir-'));
  try {
    for (let a = 0; a < ACCOUNTS; a++) for (const sub of ['tmp', 'new', 'cur']) fs.mkdirSync(path.join(dir, `u${a}`, sub), { recursive: true });
    const host = os.hostname();
    let seq = 0;
    const deliver = async (w: number): Promise<void> => {
      const box = path.join(dir, `u${w % ACCOUNTS}`);
      const name = `${Date.now()}.P${process.pid}Q${seq++}.${host}`;
      const tmp = path.join(box, 'tmp', name);
      const h = await fsp.open(tmp, 'wx');
      try {
        await h.write(BODY);
        await h.sync();
      } finally {
        await h.close();
      }
      await fsp.rename(tmp, path.join(box, 'new', name));
      await fsyncPath(path.join(box, 'new'));
    };
    for (let i = 0; i < 200; i++) await deliver(i); // warm up
    return await drive(writers, (w) => deliver(w));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Write back what earlier cells left dirty (their files are removed), so each cell starts
 * from the same quiet disk rather than paying for its predecessor's writeback. */
function settle(): void {
  execFileSync('sync');
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : Math.round((s[s.length / 2 - 1]! + s[s.length / 2]!) / 2);
};

const root = fs.mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'postern-bench-store-'));
const runs: Array<{ run: number; writers: number; postern: Cell | null; maildir: Cell | null }> = [];
try {
  for (let r = 1; r <= RUNS; r++) {
    for (const w of WRITERS) {
      const row: (typeof runs)[number] = { run: r, writers: w, postern: null, maildir: null };
      const order = r % 2 === 1 ? (['postern', 'maildir'] as const) : (['maildir', 'postern'] as const);
      for (const side of order) {
        if (ONLY !== undefined && ONLY !== side) continue;
        settle();
        row[side] = side === 'postern' ? await postern(root, w) : await maildir(root, w);
      }
      runs.push(row);
    }
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}

const results = WRITERS.map((w) => {
  const of = (side: 'postern' | 'maildir'): number[] => runs.filter((r) => r.writers === w && r[side] !== null).map((r) => r[side]!.per_s);
  const p = of('postern');
  const m = of('maildir');
  const pm = p.length > 0 ? median(p) : null;
  const mm = m.length > 0 ? median(m) : null;
  return {
    writers: w,
    postern: { best: p.length > 0 ? Math.max(...p) : null, median: pm, runs: p },
    maildir: { best: m.length > 0 ? Math.max(...m) : null, median: mm, runs: m },
    ratio: pm !== null && mm !== null && mm > 0 ? Math.round((pm / mm) * 100) / 100 : null,
  };
});

printTable(
  `durable appends of ${SIZE}-byte messages (each acknowledged only once on disk), ${CELL_MS} ms per cell, ${RUNS} runs, ${os.cpus().length} CPUs; msg/s`,
  ['writers', 'postern best', 'postern median', 'maildir best', 'maildir median', 'ratio (medians)'],
  results.map((r) => [r.writers, r.postern.best, r.postern.median, r.maildir.best, r.maildir.median, r.ratio === null ? null : `${r.ratio.toFixed(2)}x`]),
);

const headline: Headline[] = results.map((r) => ({
  workload: `durable 4 KiB appends, ${r.writers} writer${r.writers === 1 ? '' : 's'}`,
  unit: 'msg/s',
  better: 'higher',
  postern: r.postern.median,
  peer: PEER,
  peerValue: r.maildir.median,
  ...(r.writers === 64 ? { target: { text: '≥ 10 × maildir', ratio: { op: '>=', value: 10 } } } : {}),
}));
headline.reverse(); // 64 writers (the target) first
printJsonLine({ bench: 'store', messageBytes: SIZE, cellMs: CELL_MS, maxMessages: MAX_MESSAGES, runs: RUNS, node: process.version, results, headline });
