/**
 * bench/imap-search.ts: IMAP SEARCH over 100,000 messages of about 4 KiB (`node
 * bench/imap-search.ts`; BENCH_SEARCH_MESSAGES to change the count): Postern's search engine
 * (src/protocols/imap/search.ts over the store's search index) beside Dovecot 2.3 (maildir, no
 * FTS plugin) answering the same SEARCH commands over IMAP, in the same run, on the same
 * messages.
 *
 * Postern: the messages are appended through the store API (in batches of 1,000 pipelined
 * appends, durable), the index is let catch up, then each SEARCH is timed as the IMAP
 * session runs it (`runSearch` over the folder's scope, in this thread, beside the store),
 * three times (the first is reported as "first", the best of the next two as "warm"). The
 * same again after closing and reopening the store (the index read back from its file).
 * Dovecot (test/imap/dovecot.ts, the peer bench/imap.ts runs): started (imap only, loopback,
 * high port), the messages written as maildir files, one session logs in, SELECT INBOX
 * (Dovecot builds its index then; timed), and the same SEARCH commands are sent three times each, timed from command to tagged OK.
 *
 * BENCH_SEARCH_DOVECOT=0 leaves Dovecot out. Prints the table (ms) and the ratio, then exactly one line of JSON. Throws on setup failure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { Store } from '../src/store/store.ts';
import type { Shard } from '../src/store/shard.ts';
import { searchIndexOf } from '../src/store/search-index.ts';
import { runSearch } from '../src/protocols/imap/search.ts';
import type { SearchKey, SearchScope } from '../src/protocols/imap/types.ts';
import type { MailboxApi } from '../src/store/types.ts';
import { startDovecot } from '../test/imap/dovecot.ts';
import { ensureTools } from '../test/tools.ts';
import { printJsonLine, printTable, type Headline } from './lib/table.ts';
import { debVersion } from './lib/proc.ts';

const N = Number(process.env.BENCH_SEARCH_MESSAGES ?? 100_000);
const ACCOUNT = 'bench@example.org';
const PASSWORD = 'bench-pw';
const NEEDLE_EVERY = 10_000;

// ---- the messages ----

let seed = 0x2545f491;
const rnd = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x1_0000_0000;
};
const SYL = ['ka', 'lo', 'mi', 'ne', 'su', 'ta', 'ri', 'po', 'de', 'gu', 'ba', 'ze', 'vo', 'hi', 'ju', 'fe'];
const WORDS = Array.from({ length: 3000 }, () => Array.from({ length: 2 + Math.floor(rnd() * 3) }, () => SYL[Math.floor(rnd() * SYL.length)]).join(''));

/** Message k, the same bytes every time it is asked for. */
function message(k: number): Buffer {
  seed = (Math.imul(k, 2654435761) ^ 0x5bd1e995) | 1;
  const day = 1 + (k % 28);
  const words: string[] = [];
  let len = 0;
  while (len < 3600) {
    const w = WORDS[Math.floor(rnd() * WORDS.length)]!;
    words.push(w);
    len += w.length + 1;
  }
  if (k % NEEDLE_EVERY === 0) words.splice(words.length >> 1, 0, 'zyzzyva');
  const lines: string[] = [];
  for (let i = 0; i < words.length; i += 12) lines.push(words.slice(i, i + 12).join(' '));
  return Buffer.from(
    `From: Sender ${k % 1000} <sender${k % 1000}@example.com>\r\nTo: ${ACCOUNT}\r\nSubject: report ${k} ${WORDS[k % WORDS.length]}\r\n` +
      `Date: ${['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][k % 7]}, ${day} Mar 2024 10:00:00 +0000\r\nMessage-ID: <m${k}@example.com>\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\n\r\n${lines.join('\r\n')}\r\n`,
  );
}

const SEARCHES: Array<{ name: string; imap: string; key: SearchKey }> = [
  { name: 'TEXT zyzzyva', imap: 'SEARCH TEXT zyzzyva', key: { k: 'text', value: 'zyzzyva' } },
  { name: 'BODY (no match)', imap: 'SEARCH BODY qqqqqq', key: { k: 'body', value: 'qqqqqq' } },
  { name: 'FROM sender42@', imap: 'SEARCH FROM sender42@', key: { k: 'header', field: 'FROM', value: 'sender42@' } },
  { name: 'SINCE 20-Mar-2024', imap: 'SEARCH SINCE 20-Mar-2024', key: { k: 'date', which: 'internal', op: 'since', date: Date.UTC(2024, 2, 20) } },
  { name: 'UNSEEN TEXT zyzzyva', imap: 'SEARCH UNSEEN TEXT zyzzyva', key: { k: 'and', keys: [{ k: 'flag', flag: '\\Seen', set: false }, { k: 'text', value: 'zyzzyva' }] } },
];

const internalDate = (k: number): number => Date.UTC(2024, 2, 1 + (k % 28), 10);

// ---- Postern ----

async function scopeOf(mb: MailboxApi): Promise<SearchScope> {
  const st = await mb.status('INBOX');
  const metas = await mb.list('INBOX');
  return { mailbox: mb, folder: 'INBOX', uidValidity: st.uidValidity, saved: [], messages: metas.map((m, i) => ({ seq: i + 1, uid: m.uid, modseq: m.modseq, flags: m.flags, internalDate: m.internalDate, size: m.size, recent: false })) };
}

interface Timing {
  first: number;
  warm: number;
  count: number;
}

async function timePostern(mb: MailboxApi): Promise<Record<string, Timing>> {
  const scope = await scopeOf(mb);
  const out: Record<string, Timing> = {};
  for (const s of SEARCHES) {
    const runs: number[] = [];
    let count = 0;
    for (let r = 0; r < 3; r++) {
      const t = performance.now();
      count = (await runSearch(s.key, scope)).length;
      runs.push(performance.now() - t);
    }
    out[s.name] = { first: runs[0]!, warm: Math.min(runs[1]!, runs[2]!), count };
  }
  return out;
}

const silentLog = { info: (): void => {}, warn: (): void => {}, error: (): void => {} };
const openStore = (dataDir: string): Promise<Store> => new Store({ dataDir, log: silentLog, hashPassword: async (p) => p, compactIntervalMs: 0, shards: 1 }).open();
const shardOf = (store: Store): Shard => (store as unknown as { shards: Shard[] }).shards[0]!;

async function postern(dir: string): Promise<{ fillMs: number; indexBytes: number; viewMs: number; live: Record<string, Timing>; reopened: Record<string, Timing>; reopenReadyMs: number; cpuFillS: number }> {
  const dataDir = path.join(dir, 'postern');
  let store = await openStore(dataDir);
  await store.directory.addDomain('example.org');
  await store.directory.addAccount(ACCOUNT, { password: PASSWORD });
  const mb = store.mailbox(ACCOUNT);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, N - i) }, (_, j) => mb.append('INBOX', message(i + j + 1), { internalDate: internalDate(i + j + 1) })));
  }
  const ix = searchIndexOf(shardOf(store));
  while (ix.pending > 0) await new Promise((r) => setTimeout(r, 20));
  const fillMs = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  const indexBytes = ix.stats().fileBytes;
  // the store thread's part of a search: where the folder's records lie
  let viewMs = Infinity;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    await mb.searchIndex!('INBOX');
    viewMs = Math.min(viewMs, performance.now() - t);
  }
  const live = await timePostern(mb);
  await store.close();
  store = await openStore(dataDir);
  const t1 = performance.now();
  await searchIndexOf(shardOf(store)).ready;
  const reopenReadyMs = performance.now() - t1;
  const reopened = await timePostern(store.mailbox(ACCOUNT));
  await store.close();
  return { fillMs, indexBytes, viewMs, live, reopened, reopenReadyMs, cpuFillS: (c.user + c.system) / 1e6 };
}

// ---- Dovecot ----

/** A minimal IMAP client: one command at a time, its tagged reply awaited. */
async function imapSession(port: number): Promise<{ cmd(c: string): Promise<{ ms: number; lines: string[] }>; close(): void }> {
  const sock = net.connect(port, '127.0.0.1');
  let buf = '';
  let waiting: { tag: string; resolve: (l: string[]) => void; lines: string[] } | null = null;
  let greeted: (() => void) | null = null;
  const greeting = new Promise<void>((r) => (greeted = r));
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (greeted !== null) {
        greeted();
        greeted = null;
        continue;
      }
      if (waiting === null) continue;
      waiting.lines.push(line);
      if (line.startsWith(`${waiting.tag} `)) {
        const w = waiting;
        waiting = null;
        w.resolve(w.lines);
      }
    }
  });
  await greeting;
  let n = 0;
  return {
    async cmd(c: string) {
      const tag = `t${++n}`;
      const t = performance.now();
      const lines = await new Promise<string[]>((resolve) => {
        waiting = { tag, resolve, lines: [] };
        sock.write(`${tag} ${c}\r\n`);
      });
      const last = lines[lines.length - 1]!;
      if (!last.startsWith(`${tag} OK`)) throw new Error(`dovecot: ${c}: ${last}`);
      return { ms: performance.now() - t, lines };
    },
    close: () => sock.destroy(),
  };
}

async function dovecot(dir: string): Promise<{ writeMs: number; selectMs: number; times: Record<string, Timing> } | { skipped: string }> {
  ensureTools(['dovecot', 'doveadm', 'dovecot-imap'], { what: 'bench:imap-search' });
  fs.chmodSync(dir, 0o755);
  const peer = await startDovecot({ users: [{ user: ACCOUNT, password: PASSWORD }], parentDir: dir });
  try {
    const md = peer.maildir(ACCOUNT);
    const owner = fs.statSync(md);
    const t0 = performance.now();
    for (let k = 1; k <= N; k++) {
      const body = message(k);
      const file = path.join(md, 'cur', `${Math.floor(internalDate(k) / 1000)}.M${k}P1.bench,S=${body.length}:2,`);
      fs.writeFileSync(file, body);
      if (process.getuid?.() !== owner.uid) fs.chownSync(file, owner.uid, owner.gid);
      const t = internalDate(k) / 1000;
      fs.utimesSync(file, t, t);
    }
    const writeMs = performance.now() - t0;
    const c = await imapSession(peer.port);
    await c.cmd(`LOGIN ${ACCOUNT} ${PASSWORD}`);
    const sel = await c.cmd('SELECT INBOX');
    const times: Record<string, Timing> = {};
    for (const s of SEARCHES) {
      const runs: number[] = [];
      let count = 0;
      for (let r = 0; r < 3; r++) {
        const res = await c.cmd(s.imap);
        runs.push(res.ms);
        count = (res.lines.find((l) => l.startsWith('* SEARCH')) ?? '* SEARCH').split(' ').length - 2;
      }
      times[s.name] = { first: runs[0]!, warm: Math.min(runs[1]!, runs[2]!), count };
    }
    await c.cmd('LOGOUT').catch(() => undefined);
    c.close();
    return { writeMs, selectMs: sel.ms, times };
  } finally {
    await peer.stop();
  }
}

// ---- run ----

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-search-bench-'));
try {
  console.log(`${N} messages of about 4 KiB; Postern first, then Dovecot`);
  const p = await postern(dir);
  console.log(`postern: filled in ${Math.round(p.fillMs)} ms (${p.cpuFillS.toFixed(1)} s CPU), index ${(p.indexBytes / 2 ** 20).toFixed(0)} MiB; the store thread's view of the folder ${p.viewMs.toFixed(1)} ms; after reopening, index ready in ${Math.round(p.reopenReadyMs)} ms`);
  fs.rmSync(path.join(dir, 'postern'), { recursive: true, force: true });
  const dv = process.env.BENCH_SEARCH_DOVECOT === '0' ? { skipped: 'BENCH_SEARCH_DOVECOT=0' } : await dovecot(dir);
  if ('skipped' in dv) console.log(`dovecot: skipped: ${dv.skipped}`);
  else console.log(`dovecot: maildir written in ${Math.round(dv.writeMs)} ms; first SELECT (index build) ${Math.round(dv.selectMs)} ms`);
  const f = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(1));
  const rows = SEARCHES.map((s) => {
    const a = p.live[s.name]!;
    const b = p.reopened[s.name]!;
    const c = 'skipped' in dv ? undefined : dv.times[s.name];
    return [s.name, a.count, f(a.first), f(a.warm), f(b.first), c?.count ?? '-', f(c?.first), f(c?.warm), c === undefined ? '-' : `${(a.warm / c.warm).toFixed(3)}`];
  });
  printTable(`SEARCH over ${N} messages (ms)`, ['search', 'postern n', 'postern first', 'postern warm', 'postern after reopen', 'dovecot n', 'dovecot first', 'dovecot warm', 'postern ÷ dovecot (warm)'], rows);
  const peer = `Dovecot ${debVersion('dovecot-core') ?? ''} (no FTS)`.replace('  ', ' ');
  const headline: Headline[] = SEARCHES.map((s): Headline => ({
    workload: `IMAP SEARCH ${s.name} over ${N} messages (warm)`, unit: 'ms', better: 'lower',
    postern: Math.round(p.live[s.name]!.warm * 10) / 10, peer, peerValue: 'skipped' in dv ? null : Math.round((dv.times[s.name]?.warm ?? NaN) * 10) / 10,
  }));
  printJsonLine({ bench: 'imap-search', headline, messages: N, postern: p, dovecot: dv });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
