/**
 * bench/store.ts: durable appends per second (`node bench/store.ts`, or `npm run bench:store`).
 *
 * For 1, 8 and 64 concurrent writers, each appending 4 KiB messages and waiting for each to be
 * durable: Postern's store (group commit into segment logs), beside the same workload written
 * the way maildir servers write it, measured in the same run in a temp dir: one file per
 * message, written to tmp/, fsync, close, rename into new/, fsync of new/. Writer i delivers to
 * account (maildir) i mod 64 in both. Each cell is bounded by a count and a time budget.
 * Prints an aligned table with the ratio, then exactly one line of JSON with every figure.
 * Throws only on setup failure.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Store } from '../src/store/store.ts';
import type { MailboxApi } from '../src/store/types.ts';

const WRITERS = [1, 8, 64];
const MAX_MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 10_000);
const SIZE = 4096;
const ACCOUNTS = 64;
const BODY = Buffer.from(randomBytes(SIZE * 0.75).toString('base64'));

interface Cell {
  n: number;
  ms: number;
  per_s: number;
}

/** Run `writers` loops calling `once` until MAX_MESSAGES are done or the budget is spent. */
async function drive(writers: number, once: (w: number, i: number) => Promise<unknown>): Promise<Cell> {
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  const end = t0 + BUDGET_MS;
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    while (started < MAX_MESSAGES && performance.now() < end) {
      const i = started++;
      await once(w, i);
      done++;
    }
  }));
  const ms = performance.now() - t0;
  return { n: done, ms: Math.round(ms), per_s: Math.round((done / ms) * 1000) };
}

async function postern(root: string, writers: number): Promise<Cell> {
  const dataDir = fs.mkdtempSync(path.join(root, 'postern-'));
  const store = await new Store({ dataDir, hashPassword: async (p) => `bench$${p}`, compactIntervalMs: 0 }).open();
  await store.directory.addDomain('bench.example');
  const mbs: MailboxApi[] = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    await store.directory.addAccount(`u${a}@bench.example`, { password: 'x' });
    const mb = store.mailbox(`u${a}@bench.example`);
    await mb.status('INBOX'); // open its actor
    mbs.push(mb);
  }
  for (let i = 0; i < 50; i++) await mbs[0]!.append('INBOX', BODY); // warm up
  const cell = await drive(writers, (w) => mbs[w % ACCOUNTS]!.append('INBOX', BODY));
  await store.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return cell;
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
  for (let i = 0; i < 50; i++) await deliver(0); // warm up
  const cell = await drive(writers, (w) => deliver(w));
  fs.rmSync(dir, { recursive: true, force: true });
  return cell;
}

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-bench-store-'));
const rows: Array<{ writers: number; postern: Cell; maildir: Cell; ratio: number }> = [];
try {
  for (const w of WRITERS) {
    const p = await postern(root, w);
    const m = await maildir(root, w);
    rows.push({ writers: w, postern: p, maildir: m, ratio: Math.round((p.per_s / m.per_s) * 100) / 100 });
  }
} finally {
  fs.rmSync(root, { recursive: true, force: true });
}

const head = ['writers', 'postern msg/s', 'maildir msg/s', 'ratio', 'postern n', 'maildir n'];
const body = rows.map((r) => [String(r.writers), String(r.postern.per_s), String(r.maildir.per_s), `${r.ratio.toFixed(2)}x`, String(r.postern.n), String(r.maildir.n)]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(`durable appends of ${SIZE}-byte messages (each acknowledged only once on disk), ≤${MAX_MESSAGES} messages or ${BUDGET_MS} ms per cell, ${os.cpus().length} CPUs`);
console.log(line(head));
for (const b of body) console.log(line(b));
console.log(JSON.stringify({ bench: 'store', messageBytes: SIZE, maxMessages: MAX_MESSAGES, budgetMs: BUDGET_MS, node: process.version, results: rows }));
