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
 * Dovecot: the messages are written as maildir files, Dovecot started (imap only, loopback,
 * high port), one session logs in, SELECT INBOX (Dovecot builds its index then; timed), and
 * the same SEARCH commands are sent three times each, timed from command to tagged OK.
 *
 * BENCH_SEARCH_DOVECOT=0 leaves Dovecot out. Prints the table (ms) and the ratio, then exactly one line of JSON. Throws on setup failure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { Store } from '../src/store/store.ts';
import type { Shard } from '../src/store/shard.ts';
import { searchIndexOf } from '../src/store/search-index.ts';
import { runSearch } from '../src/protocols/imap/search.ts';
import type { SearchKey, SearchScope } from '../src/protocols/imap/types.ts';
import type { MailboxApi } from '../src/store/types.ts';
import { freePort } from './lib/net.ts';
import { printJsonLine, printTable } from './lib/table.ts';

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

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function dovecotConfig(dir: string, port: number): string {
  return `base_dir = ${dir}/dovecot/run
state_dir = ${dir}/dovecot/state
instance_name = postern-search-bench-${port}
log_path = ${dir}/logs/dovecot.log
info_log_path = ${dir}/logs/dovecot-info.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks =
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 100
mail_location = maildir:${dir}/mail/%n/Maildir
mail_uid = vmail
mail_gid = vmail
mail_fsync = optimized
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n ${dir}/dovecot/users
}
userdb {
  driver = passwd-file
  args = username_format=%n ${dir}/dovecot/users
  default_fields = uid=vmail gid=vmail home=${dir}/mail/%n
}
default_vsz_limit = 1G
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
`;
}

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
  try {
    sh('id', ['-u', 'vmail']);
    sh('which', ['dovecot']);
  } catch {
    return { skipped: 'dovecot or the vmail user is missing (Debian dovecot-imapd; see the POP3 bench)' };
  }
  const d = path.join(dir, 'dovecot-peer');
  for (const s of ['dovecot/run', 'dovecot/state', 'logs', 'mail']) fs.mkdirSync(path.join(d, s), { recursive: true });
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(d, 0o755);
  const md = path.join(d, 'mail', 'bench', 'Maildir');
  for (const s of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(md, s), { recursive: true });
  const t0 = performance.now();
  for (let k = 1; k <= N; k++) {
    const body = message(k);
    const file = path.join(md, 'cur', `${Math.floor(internalDate(k) / 1000)}.M${k}P1.bench,S=${body.length}:2,`);
    fs.writeFileSync(file, body);
    const t = internalDate(k) / 1000;
    fs.utimesSync(file, t, t);
  }
  const writeMs = performance.now() - t0;
  fs.writeFileSync(path.join(d, 'dovecot', 'users'), `bench:{PLAIN}${PASSWORD}::::::\n`);
  sh('chown', ['-R', 'vmail:vmail', path.join(d, 'mail')]);
  const port = await freePort();
  const conf = path.join(d, 'dovecot.conf');
  fs.writeFileSync(conf, dovecotConfig(d, port));
  sh('bash', ['-c', 'exec dovecot -c "$0" </dev/null >/dev/null 2>&1', conf]);
  try {
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((r) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          r(true);
        });
        s.on('error', () => r(false));
      });
      if (ok) break;
      if (i > 200) throw new Error('dovecot did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const c = await imapSession(port);
    await c.cmd(`LOGIN bench ${PASSWORD}`);
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
    try {
      sh('doveadm', ['-c', conf, 'stop']);
    } catch {
      /* already gone */
    }
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
  printJsonLine({ bench: 'imap-search', messages: N, postern: p, dovecot: dv });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
