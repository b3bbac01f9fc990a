/**
 * bench/imap.ts: Postern's IMAP service against Dovecot's (Debian `dovecot-imapd`), in the same
 * run, on loopback (`npm run bench:imap`; `-- --only dovecot` or `--only postern` measures one
 * side; `--search-n N` and `--idle-n N` shrink the two big workloads for a quick run).
 *
 * Both serve the same users with the same messages (byte for byte): u001 … u100 @bench.example
 * with 10 messages of 4 KiB (the login runs; their INBOXes also hold the idle sessions), f01 with
 * 1,000 × 4 KiB (the FETCH runs), a01 … a20 empty (the APPEND runs), s01 with SEARCH_N messages
 * of about 1 KiB, every 1,000th holding the word "quasar" (the SEARCH run); password "benchpw".
 * Postern serves them from its store (filled through the store API before it starts), Dovecot
 * from maildirs (test/imap/dovecot.ts: a throwaway instance, unprivileged, plain passwords, the
 * auth cache on, one imap process per session, `mail_fsync = optimized`).
 *
 * The load generator is bench/lib/imap-load.ts, a Node child process on raw sockets (commands
 * awaited one at a time per connection; a FETCH asks for all 1,000 messages in one command; an
 * APPEND sends its literal at once with LITERAL+); its CPU time is printed beside the servers'.
 * Measured, alternating between the servers, each run RUN_S seconds after warm-ups:
 * (a) logins per second: connect, LOGIN, SELECT INBOX, LOGOUT, 10 and 100 clients;
 * (b) FETCH 1:1000 (BODY.PEEK[]) and FETCH 1:1000 (ENVELOPE FLAGS), messages/s, 1 and 10 clients;
 * (c) APPEND (durable: the tagged OK after fsync) of 4 KiB messages, 20 clients, messages/s;
 * (d) SEARCH TEXT "quasar" over SEARCH_N messages: the time of the SELECT, then of the search
 *     twice (Dovecot without a full-text index reads the messages);
 * (e) memory with IDLE_N sessions logged in, INBOX selected, in IDLE, each server restarted
 *     first (Postern on a store of the login users' mailboxes alone), each figure taken once
 *     it has settled (three samples 500 ms apart within 1 %):
 *     Postern's RSS (its process tree), Dovecot's PSS summed over its processes.
 * Server CPU: Postern's utime+stime; Dovecot's utime+stime+cutime+cstime over its processes.
 *
 * Prints the tables, the ratios and the targets of issue 13, then one line of JSON. Exit 0 even
 * when a target is missed (the table says so); 1 on a setup failure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../src/store/store.ts';
import { benchConfig, ensureNofile, procCpuSeconds, startPosternProcess, type PosternProcess } from './lib/server.ts';
import { cleanupOnSignal } from './lib/child.ts';
import { printJsonLine, printTable, type Cell, type Headline } from './lib/table.ts';
import { debVersion } from './lib/proc.ts';
import { openIdleLoad, runLoad, userName, type LoadResult } from './lib/imap-load.ts';
import { startDovecot, type DovecotPeer } from '../test/imap/dovecot.ts';
import { ensureTools } from '../test/tools.ts';
import { descendants, machineJiffies, rssBytes } from './lib/proc.ts';

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ONLY = arg('--only') as 'postern' | 'dovecot' | undefined;
const DOMAIN = 'bench.example';
const PASSWORD = 'benchpw';
const LOGIN_USERS = 100;
const PER_USER = 10;
const FETCH_N = 1000;
const APPEND_CLIENTS = 20;
const MSG_BYTES = 4096;
const SEARCH_N = Number(arg('--search-n') ?? 100_000);
const IDLE_N = Number(arg('--idle-n') ?? 5000);

/** The memory figure once it has settled: sampled every 500 ms until three samples in a row
 * stay within 1 % of each other (at least 2 s, at most 60 s). */
async function settled(sample: () => number): Promise<number> {
  const start = Date.now();
  const last: number[] = [];
  for (;;) {
    await sleep(500);
    last.push(sample());
    if (last.length > 3) last.shift();
    const steady = last.length === 3 && Math.max(...last) - Math.min(...last) <= 0.01 * Math.max(...last);
    if ((steady && Date.now() - start >= 2000) || Date.now() - start > 60_000) return last[last.length - 1]!;
  }
}
const RUN_S = 5;
const WARM_S = 3;
const NOFILE = 65_536;
const MB = 1_000_000;
const U_FMT = `u%03d@${DOMAIN}`;
const A_FMT = `a%02d@${DOMAIN}`;
const FETCH_USER = `f01@${DOMAIN}`;
const SEARCH_USER = `s01@${DOMAIN}`;

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round2 = (x: number): number => Math.round(x * 100) / 100;
const ratio = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : round2(a / b));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A 4 KiB message, CRLF lines, the same bytes for both servers. */
function message4k(who: string, k: number): Buffer {
  const head = `From: sender@${DOMAIN}\r\nTo: ${who}\r\nSubject: bench ${k}\r\nMessage-ID: <${k}.${who}>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n`;
  const line = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\r\n';
  let body = '';
  while (head.length + body.length + line.length <= MSG_BYTES - 2) body += line;
  body += 'x'.repeat(MSG_BYTES - 2 - head.length - body.length) + '\r\n';
  const b = Buffer.from(head + body);
  if (b.length !== MSG_BYTES) throw new Error(`message is ${b.length} bytes`);
  return b;
}

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa'];
/** A search-corpus message of about 1 KiB; every 1,000th holds "quasar". */
function searchMessage(k: number): Buffer {
  const words: string[] = [];
  let x = k * 2654435761;
  for (let i = 0; i < 140; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    words.push(WORDS[x % WORDS.length]!);
  }
  if (k % 1000 === 7) words[70] = 'quasar';
  const lines: string[] = [];
  for (let i = 0; i < words.length; i += 12) lines.push(words.slice(i, i + 12).join(' '));
  return Buffer.from(`From: writer${k % 97}@${DOMAIN}\r\nTo: ${SEARCH_USER}\r\nSubject: corpus ${k} ${words[3]}\r\nMessage-ID: <s${k}@${DOMAIN}>\r\nDate: Tue, 2 Jan 2024 00:00:00 +0000\r\n\r\n${lines.join('\r\n')}\r\n`);
}

interface Mailboxes { user: string; count: number; make: (k: number) => Buffer }
function mailboxes(): Mailboxes[] {
  const out: Mailboxes[] = [];
  for (let i = 1; i <= LOGIN_USERS; i++) {
    const user = userName(U_FMT, i);
    out.push({ user, count: PER_USER, make: (k) => message4k(user, k) });
  }
  out.push({ user: FETCH_USER, count: FETCH_N, make: (k) => message4k(FETCH_USER, k) });
  for (let i = 1; i <= APPEND_CLIENTS; i++) out.push({ user: userName(A_FMT, i), count: 0, make: () => Buffer.alloc(0) });
  out.push({ user: SEARCH_USER, count: SEARCH_N, make: searchMessage });
  return out;
}

// ---- Postern ----

async function fillPostern(dataDir: string, boxes: Mailboxes[]): Promise<void> {
  const store = await new Store({ dataDir, compactIntervalMs: 0 }).open();
  try {
    await store.directory.addDomain(DOMAIN, { primary: true });
    for (const b of boxes) await store.directory.addAccount(b.user, { password: PASSWORD });
    for (const b of boxes) {
      const mb = store.mailbox(b.user) as unknown as {
        append(folder: string, body: Uint8Array): Promise<unknown>;
        appendMany?: (folder: string, messages: Array<{ body: Uint8Array }>) => Promise<unknown>;
      };
      const BATCH = 500;
      for (let k = 1; k <= b.count; k += BATCH) {
        const batch = Array.from({ length: Math.min(BATCH, b.count - k + 1) }, (_, j) => ({ body: b.make(k + j) }));
        if (typeof mb.appendMany === 'function') await mb.appendMany('INBOX', batch);
        else for (const m of batch) await mb.append('INBOX', m.body);
      }
    }
  } finally {
    await store.close();
  }
}

const POSTERN_CONFIG = benchConfig('imap', { domain: DOMAIN });

function startPostern(dataDir: string): Promise<PosternProcess> {
  return startPosternProcess({ configText: POSTERN_CONFIG, dataDir, nofile: NOFILE, startTimeoutMs: 120_000 });
}

// ---- the servers, side by side ----

interface Side {
  name: 'Postern' | 'Dovecot';
  port(): number;
  cpu(): number;
  memory(): number;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

interface Run { rate: number; serverCpuS: number; clientCpuS: number; busyCores: number; errors: number; firstError?: string }

async function measure(side: Side, job: Parameters<typeof runLoad>[0], count: (r: LoadResult) => number): Promise<Run> {
  const c0 = side.cpu();
  const m0 = machineJiffies();
  const t0 = Date.now();
  const r = await runLoad(job);
  const c1 = side.cpu();
  const m1 = machineJiffies();
  const elapsed = r.elapsed_s ?? (Date.now() - t0) / 1000;
  return {
    rate: round1(count(r) / elapsed),
    serverCpuS: round2(c1 - c0),
    clientCpuS: r.cpu_s,
    busyCores: round2((m1.busy - m0.busy) / 100 / ((Date.now() - t0) / 1000)),
    errors: r.errors,
    ...(r.firstError !== undefined ? { firstError: r.firstError } : {}),
  };
}

async function main(): Promise<void> {
  await ensureNofile(NOFILE);
  const loadStart = os.loadavg()[0]!;
  if (ONLY !== 'postern') ensureTools(['dovecot', 'doveadm', 'dovecot-imap'], { what: 'bench:imap' });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-bench-imap-'));
  fs.chmodSync(work, 0o755);
  const boxes = mailboxes();
  const users = boxes.map((b) => ({ user: b.user, password: PASSWORD }));
  const sides: Side[] = [];
  let postern: PosternProcess | null = null;
  let dovecot: DovecotPeer | null = null;
  const cleanup = async (): Promise<void> => {
    await postern?.stop().catch(() => {});
    await dovecot?.stop().catch(() => {});
    fs.rmSync(work, { recursive: true, force: true });
  };
  cleanupOnSignal(cleanup);
  try {
    const total = boxes.reduce((a, b) => a + b.count, 0);
    if (ONLY !== 'dovecot') {
      const t0 = Date.now();
      console.log(`filling Postern's store: ${boxes.length} accounts, ${total} messages …`);
      const dir = path.join(work, 'postern');
      await fillPostern(dir, boxes);
      // the memory run's store: only the login users' mailboxes (the sessions in IDLE use them)
      const memDir = path.join(work, 'postern-memory');
      await fillPostern(memDir, boxes.slice(0, LOGIN_USERS));
      console.log(`  ${round1((Date.now() - t0) / 1000)} s`);
      postern = await startPostern(dir);
      sides.push({
        name: 'Postern',
        port: () => postern!.port('imap'),
        cpu: () => procCpuSeconds(postern!.pid),
        memory: () => rssBytes(descendants(postern!.pid)),
        // (only the memory run restarts: on a store of the login users alone, so that the
        // baseline is not the in-memory index of the 100,000-message search mailbox, whose
        // garbage swamped the per-session figure; Dovecot keeps no such index in memory)
        restart: async () => {
          await postern!.stop();
          postern = await startPostern(memDir);
        },
        stop: async () => void (await postern?.stop()),
      });
    }
    if (ONLY !== 'postern') {
      const t0 = Date.now();
      console.log(`filling Dovecot's maildirs: ${boxes.length} accounts, ${total} messages …`);
      dovecot = await startDovecot({ users, capacity: true, nofile: NOFILE, parentDir: work });
      for (const b of boxes) for (let k = 1; k <= b.count; k++) dovecot.deliver(b.user, b.make(k));
      console.log(`  ${round1((Date.now() - t0) / 1000)} s`);
      sides.push({
        name: 'Dovecot',
        port: () => dovecot!.port,
        cpu: () => dovecot!.cpuSeconds(),
        memory: () => dovecot!.pssBytes(),
        // fresh processes on the same maildirs (its login processes keep memory after clients leave)
        restart: () => dovecot!.restart(),
        stop: async () => void (await dovecot?.stop()),
      });
    }

    console.log(`warming up (${WARM_S} s of logins at 100 clients then 10, a FETCH of the big mailbox) …`);
    for (const s of sides) {
      // every user logged in on every connection thread: the verified-login caches are full
      await runLoad({ kind: 'logins', port: s.port(), clients: 100, seconds: WARM_S, userFmt: U_FMT, users: LOGIN_USERS, password: PASSWORD });
      await runLoad({ kind: 'logins', port: s.port(), clients: 10, seconds: WARM_S, userFmt: U_FMT, users: LOGIN_USERS, password: PASSWORD });
      await runLoad({ kind: 'fetch', port: s.port(), clients: 1, seconds: 1, user: FETCH_USER, password: PASSWORD, items: 'FLAGS', count: FETCH_N });
    }

    const logins: Record<string, Record<number, Run>> = {};
    for (const n of [10, 100]) {
      for (const s of sides) {
        const r = await measure(s, { kind: 'logins', port: s.port(), clients: n, seconds: RUN_S, userFmt: U_FMT, users: LOGIN_USERS, password: PASSWORD }, (x) => x.sessions ?? 0);
        (logins[s.name] ??= {})[n] = r;
        console.log(`  logins, ${n} clients: ${s.name} ${r.rate}/s (errors ${r.errors}${r.firstError !== undefined ? `: ${r.firstError}` : ''})`);
      }
    }
    const fetches: Record<string, Record<string, Run>> = {};
    for (const [label, items] of [['BODY[]', 'BODY.PEEK[]'], ['ENVELOPE FLAGS', 'ENVELOPE FLAGS']] as const) {
      for (const n of [1, 10]) {
        for (const s of sides) {
          const r = await measure(s, { kind: 'fetch', port: s.port(), clients: n, seconds: RUN_S, user: FETCH_USER, password: PASSWORD, items, count: FETCH_N }, (x) => x.messages ?? 0);
          (fetches[s.name] ??= {})[`${label}/${n}`] = r;
          console.log(`  FETCH ${label}, ${n} clients: ${s.name} ${r.rate} msgs/s (errors ${r.errors}${r.firstError !== undefined ? `: ${r.firstError}` : ''})`);
        }
      }
    }
    const appends: Record<string, Run> = {};
    for (const s of sides) {
      const r = await measure(s, { kind: 'append', port: s.port(), clients: APPEND_CLIENTS, seconds: RUN_S, userFmt: A_FMT, users: APPEND_CLIENTS, password: PASSWORD, size: MSG_BYTES }, (x) => x.messages ?? 0);
      appends[s.name] = r;
      console.log(`  APPEND, ${APPEND_CLIENTS} clients: ${s.name} ${r.rate} msgs/s (errors ${r.errors}${r.firstError !== undefined ? `: ${r.firstError}` : ''})`);
    }
    const searches: Record<string, LoadResult & { serverCpuS: number }> = {};
    for (const s of sides) {
      const c0 = s.cpu();
      const r = await runLoad({ kind: 'search', port: s.port(), user: SEARCH_USER, password: PASSWORD, query: 'SEARCH TEXT quasar' });
      searches[s.name] = { ...r, serverCpuS: round2(s.cpu() - c0) };
      console.log(`  SEARCH TEXT over ${SEARCH_N}: ${s.name} SELECT ${r.selectMs} ms, search ${r.firstMs} ms then ${r.secondMs} ms, ${r.hits} hits`);
    }

    console.log(`memory: restarting, then ${IDLE_N} sessions in IDLE on each …`);
    const memory: Record<string, { base: number; with: number; ready: number; errors: number; cpu: number; firstError?: string }> = {};
    for (const s of sides) {
      await s.restart();
      // after a restart Postern reads its search index back in the background: measure once
      // the memory has settled, not at a fixed time, or the baseline is still moving
      const base = await settled(() => s.memory());
      const idle = await openIdleLoad({ kind: 'idle', port: s.port(), n: IDLE_N, userFmt: U_FMT, users: LOGIN_USERS, password: PASSWORD, parallel: 50 });
      const withSessions = await settled(() => s.memory());
      await idle.close();
      memory[s.name] = { base, with: withSessions, ready: idle.ready, errors: idle.errors, cpu: idle.cpu_s, ...(idle.firstError !== undefined ? { firstError: idle.firstError } : {}) };
      console.log(`  ${s.name}: ${idle.ready} sessions, ${round1((withSessions - base) / Math.max(1, idle.ready) / 1024)} KiB each`);
    }

    // ---- tables ----
    const P = (m: Record<string, unknown>): unknown => m.Postern;
    const D = (m: Record<string, unknown>): unknown => m.Dovecot;
    const runRow = (label: string, p: Run | undefined, d: Run | undefined): Cell[] => [
      label, p?.rate ?? null, d?.rate ?? null, ratio(p?.rate ?? null, d?.rate ?? null), p?.serverCpuS ?? null, d?.serverCpuS ?? null,
      `${p?.clientCpuS ?? '-'} / ${d?.clientCpuS ?? '-'}`, `${p?.busyCores ?? '-'} / ${d?.busyCores ?? '-'}`, `${p?.errors ?? '-'} / ${d?.errors ?? '-'}`,
    ];
    const cols = ['workload', 'Postern /s', 'Dovecot /s', 'ratio', 'Postern CPU s', 'Dovecot CPU s', 'load generator CPU s (P/D)', 'machine busy cores (P/D)', 'errors (P/D)'];
    const rows: Cell[][] = [];
    for (const n of [10, 100]) rows.push(runRow(`logins (LOGIN+SELECT+LOGOUT), ${n} clients`, logins.Postern?.[n], logins.Dovecot?.[n]));
    for (const k of ['BODY[]/1', 'BODY[]/10', 'ENVELOPE FLAGS/1', 'ENVELOPE FLAGS/10']) {
      const [label, n] = k.split('/');
      rows.push(runRow(`FETCH 1:1000 ${label} msgs, ${n} client${n === '1' ? '' : 's'}`, fetches.Postern?.[k], fetches.Dovecot?.[k]));
    }
    rows.push(runRow(`APPEND 4 KiB durable msgs, ${APPEND_CLIENTS} clients`, appends.Postern, appends.Dovecot));
    printTable(`IMAP throughput (each run ${RUN_S} s; CPU seconds over the run)`, cols, rows);
    console.log('');
    const sp = P(searches) as (LoadResult & { serverCpuS: number }) | undefined;
    const sd = D(searches) as (LoadResult & { serverCpuS: number }) | undefined;
    printTable(`SEARCH TEXT over ${SEARCH_N} messages (ms)`, ['', 'Postern', 'Dovecot', 'ratio'], [
      ['SELECT INBOX (first)', sp?.selectMs ?? null, sd?.selectMs ?? null, ratio(sp?.selectMs ?? null, sd?.selectMs ?? null)],
      ['SEARCH TEXT, first', sp?.firstMs ?? null, sd?.firstMs ?? null, ratio(sp?.firstMs ?? null, sd?.firstMs ?? null)],
      ['SEARCH TEXT, second', sp?.secondMs ?? null, sd?.secondMs ?? null, ratio(sp?.secondMs ?? null, sd?.secondMs ?? null)],
      ['hits (expected)', sp?.hits ?? null, sd?.hits ?? null, Math.floor((SEARCH_N + 992) / 1000)],
      ['server CPU s', sp?.serverCpuS ?? null, sd?.serverCpuS ?? null, null],
      ['load generator CPU s', sp?.cpu_s ?? null, sd?.cpu_s ?? null, null],
    ]);
    console.log('');
    const mp = memory.Postern;
    const md = memory.Dovecot;
    const perKiB = (m: typeof mp): number | null => (m === undefined || m.ready === 0 ? null : round1((m.with - m.base) / m.ready / 1024));
    printTable(`memory with ${IDLE_N} sessions in IDLE (Postern: RSS of its process; Dovecot: PSS summed over its processes)`, ['', 'Postern', 'Dovecot', 'ratio'], [
      ['sessions open', mp?.ready ?? null, md?.ready ?? null, null],
      ['sessions that failed', mp?.errors ?? null, md?.errors ?? null, null],
      ['baseline, MB', mp === undefined ? null : round1(mp.base / MB), md === undefined ? null : round1(md.base / MB), ratio(mp?.base ?? null, md?.base ?? null)],
      ['with the sessions, MB', mp === undefined ? null : round1(mp.with / MB), md === undefined ? null : round1(md.with / MB), ratio(mp?.with ?? null, md?.with ?? null)],
      ['per session, KiB', perKiB(mp), perKiB(md), ratio(perKiB(mp), perKiB(md))],
      ['load generator CPU s (opening)', mp?.cpu ?? null, md?.cpu ?? null, null],
    ]);
    for (const [name, m] of Object.entries(memory)) if (m.firstError !== undefined) console.log(`  ${name} idle: first error: ${m.firstError}`);
    const ok = (x: number | null, bound: number, higher = true): boolean | null => (x === null ? null : higher ? x >= bound : x <= bound);
    const targets: Array<[string, boolean | null]> = [
      ['logins ≥ 3 × Dovecot, 10 clients', ok(ratio(logins.Postern?.[10]?.rate ?? null, logins.Dovecot?.[10]?.rate ?? null), 3)],
      ['logins ≥ 3 × Dovecot, 100 clients', ok(ratio(logins.Postern?.[100]?.rate ?? null, logins.Dovecot?.[100]?.rate ?? null), 3)],
      ['FETCH BODY[] ≥ 1.5 × Dovecot (10 clients)', ok(ratio(fetches.Postern?.['BODY[]/10']?.rate ?? null, fetches.Dovecot?.['BODY[]/10']?.rate ?? null), 1.5)],
      ['FETCH ENVELOPE FLAGS ≥ 1.5 × Dovecot (10 clients)', ok(ratio(fetches.Postern?.['ENVELOPE FLAGS/10']?.rate ?? null, fetches.Dovecot?.['ENVELOPE FLAGS/10']?.rate ?? null), 1.5)],
      ['APPEND ≥ 3 × Dovecot', ok(ratio(appends.Postern?.rate ?? null, appends.Dovecot?.rate ?? null), 3)],
      ['memory per IDLE session ≤ 0.1 × Dovecot', ok(ratio(perKiB(mp), perKiB(md)), 0.1, false)],
      ['SEARCH TEXT ≤ 1 s', sp?.firstMs === undefined ? null : sp.firstMs <= 1000],
      ['SEARCH TEXT ≤ Dovecot', sp?.firstMs === undefined || sd?.firstMs === undefined ? null : sp.firstMs <= sd.firstMs],
    ];
    console.log('');
    printTable('targets (issue 13)', ['target', 'met'], targets);
    const loadEnd = os.loadavg()[0]!;
    console.log(`machine load average (1 min): ${round2(loadStart)} at the start, ${round2(loadEnd)} at the end (${os.cpus().length} cores; other work on the machine shows here)`);
    const peer = `Dovecot ${debVersion('dovecot-core') ?? ''}`.trim();
    const h = (workload: string, unit: string, p: Run | undefined, d: Run | undefined, want: number): Headline => ({
      workload, unit, better: 'higher', postern: p?.rate ?? null, peer, peerValue: d?.rate ?? null, target: { text: `≥ ${want} × Dovecot`, ratio: { op: '>=', value: want } },
    });
    const headline: Headline[] = [
      h('IMAP logins, 10 clients', 'logins/s', logins.Postern?.[10], logins.Dovecot?.[10], 3),
      h('IMAP logins, 100 clients', 'logins/s', logins.Postern?.[100], logins.Dovecot?.[100], 3),
      h('IMAP FETCH BODY[], 10 clients', 'msgs/s', fetches.Postern?.['BODY[]/10'], fetches.Dovecot?.['BODY[]/10'], 1.5),
      h('IMAP FETCH ENVELOPE FLAGS, 10 clients', 'msgs/s', fetches.Postern?.['ENVELOPE FLAGS/10'], fetches.Dovecot?.['ENVELOPE FLAGS/10'], 1.5),
      h(`IMAP APPEND 4 KiB durable, ${APPEND_CLIENTS} clients`, 'msgs/s', appends.Postern, appends.Dovecot, 3),
      { workload: `IMAP SEARCH TEXT over ${SEARCH_N} messages`, unit: 'ms', better: 'lower', postern: sp?.firstMs ?? null, peer, peerValue: sd?.firstMs ?? null, target: { text: '≤ 1 s and ≤ Dovecot', value: { op: '<=', value: 1000 }, ratio: { op: '<=', value: 1 } } },
      { workload: `IMAP, ${IDLE_N} sessions in IDLE, per session`, unit: 'KiB', better: 'lower', postern: perKiB(mp), peer: `${peer} (PSS)`, peerValue: perKiB(md), target: { text: '≤ 0.1 × Dovecot', ratio: { op: '<=', value: 0.1 } } },
    ];
    printJsonLine({ bench: 'imap', headline, loadAverageStart: round2(loadStart), loadAverageEnd: round2(loadEnd), runSeconds: RUN_S, searchN: SEARCH_N, idleN: IDLE_N, logins, fetches, appends, searches, memory, targets: Object.fromEntries(targets) });
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
