/**
 * bench/cluster.ts (`npm run bench:cluster`): what the cluster's front end costs. One run of
 * the test topology (test/cluster/topology.ts: slapd, a front end on 127.0.0.2 with the
 * proxies and an LDAP Password user map, back ends on 127.0.0.3/.4 that check passwords
 * against the same directory), then the same loads twice, straight to a back end and through
 * the front end:
 *   - POP3 logins/s (connect, greeting, USER, PASS, QUIT) and their p50/p99 latency;
 *   - POP3 RETR messages/s (log in, RETR every message, QUIT);
 *   - IMAP logins/s (connect, greeting, LOGIN, LOGOUT) and their p50/p99;
 *   - IMAP FETCH messages/s (LOGIN, SELECT, FETCH 1:* BODY.PEEK[], LOGOUT);
 *   - WebMail page time p50/p99 (a logged-in session's GET of the Inbox page);
 * with a warm LDAP cache (every user logged in once first). Prints one table: direct, front,
 * front/direct (throughput ratios; added p50 latency for logins). Targets (issue 16): ≥ 0.8 ×
 * direct throughput, ≤ 2 ms added p50 login latency. Every loop is bounded (a fixed count of
 * operations, `--n` scales it); a service the tree has not built is reported as "not built".
 *
 * The loads run interleaved, direct then front, `--rounds` times, and each figure is the median
 * round, so that whatever else the machine does weighs on both alike. Note the three nodes share
 * this machine's cores: a proxied session costs the proxy's work on top of the back end's, on
 * the same CPUs, so the throughput ratio here is a cost ratio, lower than on separate machines.
 *
 * Options: --n N (operations per load per round, default 300), --conc C (parallel clients,
 * default 4), --messages M (messages in each mailbox, default 20), --rounds R (default 3),
 * --on-proxy yes|no (the proxies' authenticateOnProxy, default yes: the password is checked on
 * the proxy AND on the back end; no: on the back end only),
 * --only K1,K2 (run only these loads: pop3Login, pop3Retr, imapLogin, imapFetch, webPage; to
 * profile one phase), --no-json (no JSON line at the end; by default the one JSON line with the headline figures). POSTERN_BENCH_NODE_ARGS (env): extra Node
 * options for every node, e.g. `--cpu-prof --cpu-prof-dir=DIR` (the bench prints the nodes' pids,
 * which name the profiles).
 * Exits 1 when the cluster cannot start (slapd missing, a node failing).
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { startCluster, FRONT_IP, PROXIES, type Cluster } from '../test/cluster/topology.ts';
import { printJsonLine, printTable, type Cell, type Headline } from './lib/table.ts';
import { cleanupOnSignal } from './lib/child.ts';

const { values } = parseArgs({ options: { n: { type: 'string' }, conc: { type: 'string' }, messages: { type: 'string' }, rounds: { type: 'string' }, 'on-proxy': { type: 'string' }, only: { type: 'string' }, json: { type: 'boolean' } }, allowNegative: true });
const N = Number(values.n ?? 300);
const CONC = Number(values.conc ?? 4);
const MESSAGES = Number(values.messages ?? 20);
const ROUNDS = Number(values.rounds ?? 3);
const ON_PROXY = (values['on-proxy'] ?? 'yes') !== 'no';
const ONLY = values.only === undefined ? null : new Set(values.only.split(','));

/** A line/tagged-response client over one socket. */
class Conn {
  private buf = '';
  private waiter: (() => void) | null = null;
  private closed = false;
  readonly s: net.Socket;
  constructor(s: net.Socket) {
    this.s = s;
    s.setEncoding('latin1');
    s.on('data', (d: string) => { this.buf += d; this.waiter?.(); });
    s.on('close', () => { this.closed = true; this.waiter?.(); });
    s.on('error', () => {});
  }
  static open(host: string, port: number): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port }, () => resolve(new Conn(s)));
      s.once('error', reject);
      s.setTimeout(30_000, () => s.destroy(new Error('timeout')));
    });
  }
  /** Read until `done(buf)` is an index (exclusive end of the answer); returns the answer. */
  async until(done: (b: string) => number): Promise<string> {
    for (;;) {
      const i = done(this.buf);
      if (i >= 0) {
        const out = this.buf.slice(0, i);
        this.buf = this.buf.slice(i);
        return out;
      }
      if (this.closed) throw new Error(`connection closed: ${this.buf.slice(0, 200)}`);
      await new Promise<void>((r) => { this.waiter = r; });
      this.waiter = null;
    }
  }
  line(): Promise<string> {
    return this.until((b) => { const i = b.indexOf('\r\n'); return i < 0 ? -1 : i + 2; });
  }
  /** POP3 multi-line answer (after its +OK line), up to the lone dot. */
  dotted(): Promise<string> {
    return this.until((b) => { const i = b.indexOf('\r\n.\r\n'); return i < 0 ? -1 : i + 5; });
  }
  tagged(tag: string): Promise<string> {
    return this.until((b) => {
      const m = new RegExp(`(^|\\r\\n)${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`).exec(b);
      return m === null ? -1 : m.index + m[0].length;
    });
  }
  send(t: string): void {
    this.s.write(t);
  }
  close(): void {
    this.s.destroy();
  }
}

const ok = (line: string, what: string): void => {
  if (!line.startsWith('+OK') && !/^\S+ OK/.test(line.split('\r\n').filter((l) => l !== '').pop() ?? '')) throw new Error(`${what}: ${line.slice(0, 200)}`);
};

async function pop3Login(host: string, port: number, user: string, pass: string, retr: boolean): Promise<number> {
  const c = await Conn.open(host, port);
  try {
    ok(await c.line(), 'greeting');
    c.send(`USER ${user}\r\n`);
    ok(await c.line(), 'USER');
    c.send(`PASS ${pass}\r\n`);
    ok(await c.line(), 'PASS');
    let n = 0;
    if (retr) {
      c.send('STAT\r\n');
      const st = await c.line();
      const count = Number(st.split(' ')[1]);
      for (let i = 1; i <= count; i++) {
        c.send(`RETR ${i}\r\n`);
        ok(await c.line(), 'RETR');
        await c.dotted();
        n++;
      }
    }
    c.send('QUIT\r\n');
    await c.line();
    return n;
  } finally {
    c.close();
  }
}

async function imapLogin(host: string, port: number, user: string, pass: string, fetch: boolean): Promise<number> {
  const c = await Conn.open(host, port);
  try {
    await c.line();
    c.send(`a LOGIN "${user}" "${pass}"\r\n`);
    ok(await c.tagged('a'), 'LOGIN');
    let n = 0;
    if (fetch) {
      c.send('b SELECT INBOX\r\n');
      const sel = await c.tagged('b');
      ok(sel, 'SELECT');
      n = Number(/\* (\d+) EXISTS/.exec(sel)?.[1] ?? 0);
      c.send('c FETCH 1:* BODY.PEEK[]\r\n');
      ok(await c.tagged('c'), 'FETCH');
    }
    c.send('z LOGOUT\r\n');
    await c.tagged('z').catch(() => '');
    return n;
  } finally {
    c.close();
  }
}

/** A logged-in WebMail session (cookie) and the Inbox page's path. */
async function webLogin(base: string, user: string, pass: string): Promise<{ cookie: string; page: string }> {
  const res = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ username: user, password: pass }).toString() });
  await res.arrayBuffer();
  const cookie = (res.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ');
  const loc = res.headers.get('location');
  if (res.status !== 303 || loc === null || cookie === '') throw new Error(`webmail login ${user}: ${res.status}`);
  return { cookie, page: loc.startsWith('http') ? new URL(loc).pathname + new URL(loc).search : loc };
}

async function webPage(base: string, s: { cookie: string; page: string }): Promise<void> {
  const res = await fetch(`${base}${s.page}`, { headers: { cookie: s.cookie } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`webmail page: ${res.status}`);
}

interface Load {
  opsPerSec: number;
  itemsPerSec: number;
  p50: number;
  p99: number;
  errors: number;
  firstError?: string;
}

/** `n` operations over `conc` parallel workers; each returns a count of items (messages). */
async function load(n: number, conc: number, op: (i: number) => Promise<number>): Promise<Load> {
  const lat: number[] = [];
  let items = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < n) {
      const i = next++;
      const s = performance.now();
      try {
        items += await op(i);
        lat.push(performance.now() - s);
      } catch (e) {
        errors++;
        firstError ??= e instanceof Error ? e.message : String(e);
      }
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat.length === 0 ? NaN : lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  return { opsPerSec: lat.length / secs, itemsPerSec: items / secs, p50: q(0.5), p99: q(0.99), errors, ...(firstError !== undefined ? { firstError } : {}) };
}

async function main(): Promise<number> {
  if (PROXIES.length < 3) process.stdout.write(`note: built proxies: ${PROXIES.join(', ') || 'none'}; the others are reported as not built\n`);
  let c: Cluster;
  try {
    // the back ends see every proxied session coming from the front end: lift the per-peer
    // connection rate limits (1200 a minute by default) that a bench from one address trips
    c = await startCluster({ mapType: 'ldap', logLevel: 'error', rwTimeout: 10, authenticateOnProxy: ON_PROXY, listener: 'peerMaxIntervalConnections = 0 maxIntervalConnections = 0 peerMaxConnections = 0' });
  } catch (e) {
    process.stderr.write(`bench:cluster: the cluster did not start: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  cleanupOnSignal(() => c.stop());
  try {
    // the mail: MESSAGES messages in each user's mailbox, sent straight to its back end
    const users = c.users.filter((u) => u.backend === c.back[0].ip);
    const body = `Subject: bench\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(1).concat('y'.repeat(2000), '\r\n');
    for (const u of users) {
      const s = await Conn.open(c.back[0].ip, c.backPorts.smtp);
      await s.line();
      s.send('EHLO bench\r\n');
      await s.until((b) => { const m = /(^|\r\n)250 [^\r\n]*\r\n/.exec(b); return m === null ? -1 : m.index + m[0].length; });
      for (let i = 0; i < MESSAGES; i++) {
        s.send(`MAIL FROM:<bench@outside.test>\r\nRCPT TO:<${u.mail}>\r\nDATA\r\n`);
        await s.line(); await s.line(); await s.line();
        s.send(`${body}.\r\n`);
        await s.line();
      }
      s.send('QUIT\r\n');
      s.close();
    }
    const targets = [
      { name: 'direct', host: c.back[0].ip, ports: c.backPorts, built: { pop3: true, imap: true, web: true } },
      { name: 'front', host: FRONT_IP, ports: c.frontPorts, built: { pop3: PROXIES.includes('pop3Proxy'), imap: PROXIES.includes('imapProxy'), web: PROXIES.includes('webmailProxy') } },
    ];
    const user = (i: number) => users[i % users.length]!;
    // warm: every user once through each path (LDAP cache, login caches, connections)
    for (const t of targets) {
      for (const u of users) {
        if (t.built.pop3) await pop3Login(t.host, t.ports.pop3, u.mail, u.password, false);
        if (t.built.imap) await imapLogin(t.host, t.ports.imap, u.mail, u.password, false);
      }
    }
    // the loads, interleaved (direct, then front, ROUNDS times) so that the machine's other work
    // weighs on both alike; each figure is the median round
    const sessions: Record<string, Array<{ cookie: string; page: string }>> = {};
    for (const t of targets) {
      if (!t.built.web) continue;
      const base = `http://${t.host}:${t.ports.http}`;
      sessions[t.name] = await Promise.all(Array.from({ length: CONC }, (_, i) => webLogin(base, user(i).mail, user(i).password)));
      await webPage(base, sessions[t.name]![0]!);
    }
    const kinds: Record<string, (t: typeof targets[number]) => Promise<Load> | null> = {
      pop3Login: (t) => t.built.pop3 ? load(N, CONC, (i) => pop3Login(t.host, t.ports.pop3, user(i).mail, user(i).password, false).then(() => 0)) : null,
      pop3Retr: (t) => t.built.pop3 ? load(Math.max(4, Math.floor(N / 10)), CONC, (i) => pop3Login(t.host, t.ports.pop3, user(i).mail, user(i).password, true)) : null,
      imapLogin: (t) => t.built.imap ? load(N, CONC, (i) => imapLogin(t.host, t.ports.imap, user(i).mail, user(i).password, false).then(() => 0)) : null,
      imapFetch: (t) => t.built.imap ? load(Math.max(4, Math.floor(N / 10)), CONC, (i) => imapLogin(t.host, t.ports.imap, user(i).mail, user(i).password, true)) : null,
      webPage: (t) => {
        if (!t.built.web) return null;
        const base = `http://${t.host}:${t.ports.http}`;
        const ss = sessions[t.name]!;
        return load(N, CONC, (i) => webPage(base, ss[i % ss.length]!).then(() => 0));
      },
    };
    const results: Record<string, Record<string, Load | null>> = { direct: {}, front: {} };
    const median = (xs: Load[]): Load => {
      const m = (f: (l: Load) => number): number => { const v = xs.map(f).sort((a, b) => a - b); return v[Math.floor(v.length / 2)]!; };
      return { opsPerSec: m((l) => l.opsPerSec), itemsPerSec: m((l) => l.itemsPerSec), p50: m((l) => l.p50), p99: m((l) => l.p99), errors: xs.reduce((a, l) => a + l.errors, 0), ...(xs.find((l) => l.firstError !== undefined) ?? {}).firstError !== undefined ? { firstError: xs.find((l) => l.firstError !== undefined)!.firstError! } : {} };
    };
    if (process.env['POSTERN_BENCH_NODE_ARGS'] !== undefined) process.stdout.write(`node pids: ${[c.front, ...c.back].map((x) => `${x.name}=${x.pid}`).join(' ')}\n`);
    for (const [kind, run] of Object.entries(kinds)) {
      if (ONLY !== null && !ONLY.has(kind)) continue;
      const rounds: Record<string, Load[]> = { direct: [], front: [] };
      for (let r = 0; r < ROUNDS; r++) {
        for (const t of targets) {
          const t0 = process.hrtime.bigint() / 1000n;
          const l = await run(t);
          // the window on the monotonic clock (µs, as the profiles' timestamps)
          if (process.env['POSTERN_BENCH_NODE_ARGS'] !== undefined) process.stdout.write(`window ${kind} ${t.name} ${t0} ${process.hrtime.bigint() / 1000n}\n`);
          if (l !== null) rounds[t.name]!.push(l);
        }
      }
      for (const t of targets) results[t.name]![kind] = rounds[t.name]!.length > 0 ? median(rounds[t.name]!) : null;
    }
    const d = results['direct']!;
    const f = results['front']!;
    const fmt = (x: number | undefined): Cell => (x === undefined || Number.isNaN(x) ? 'not built' : Math.round(x * 10) / 10);
    const ratio = (a: number | undefined, b: number | undefined): Cell => (a === undefined || b === undefined ? '-' : `${(b / a).toFixed(2)}×`);
    const rows: Cell[][] = [
      ['POP3 logins/s', fmt(d['pop3Login']?.opsPerSec), fmt(f['pop3Login']?.opsPerSec), ratio(d['pop3Login']?.opsPerSec, f['pop3Login']?.opsPerSec)],
      ['POP3 login p50 ms', fmt(d['pop3Login']?.p50), fmt(f['pop3Login']?.p50), f['pop3Login'] ? `+${(f['pop3Login'].p50 - d['pop3Login']!.p50).toFixed(2)} ms` : '-'],
      ['POP3 login p99 ms', fmt(d['pop3Login']?.p99), fmt(f['pop3Login']?.p99), '-'],
      ['POP3 RETR messages/s', fmt(d['pop3Retr']?.itemsPerSec), fmt(f['pop3Retr']?.itemsPerSec), ratio(d['pop3Retr']?.itemsPerSec, f['pop3Retr']?.itemsPerSec)],
      ['IMAP logins/s', fmt(d['imapLogin']?.opsPerSec), fmt(f['imapLogin']?.opsPerSec), ratio(d['imapLogin']?.opsPerSec, f['imapLogin']?.opsPerSec)],
      ['IMAP login p50 ms', fmt(d['imapLogin']?.p50), fmt(f['imapLogin']?.p50), f['imapLogin'] ? `+${(f['imapLogin'].p50 - d['imapLogin']!.p50).toFixed(2)} ms` : '-'],
      ['IMAP login p99 ms', fmt(d['imapLogin']?.p99), fmt(f['imapLogin']?.p99), '-'],
      ['IMAP FETCH messages/s', fmt(d['imapFetch']?.itemsPerSec), fmt(f['imapFetch']?.itemsPerSec), ratio(d['imapFetch']?.itemsPerSec, f['imapFetch']?.itemsPerSec)],
      ['WebMail page p50 ms', fmt(d['webPage']?.p50), fmt(f['webPage']?.p50), f['webPage'] ? `+${(f['webPage'].p50 - d['webPage']!.p50).toFixed(2)} ms` : '-'],
      ['WebMail page p99 ms', fmt(d['webPage']?.p99), fmt(f['webPage']?.p99), '-'],
    ];
    const errors = Object.entries(results).flatMap(([t, r]) => Object.entries(r).filter(([, l]) => (l?.errors ?? 0) > 0).map(([k, l]) => `${t} ${k}: ${l!.errors} (${l!.firstError ?? ''})`));
    printTable(`cluster: front end (127.0.0.2) vs straight to a back end (127.0.0.3); n=${N} × ${ROUNDS} rounds (median), ${CONC} clients, ${MESSAGES} messages per mailbox, authenticateOnProxy ${ON_PROXY ? 'yes' : 'no'}, warm LDAP cache`, ['load', { name: 'direct', align: 'right' }, { name: 'front', align: 'right' }, { name: 'front/direct', align: 'right' }], rows);
    if (errors.length > 0) process.stdout.write(`errors: ${errors.join(', ')}\n`);
    // the proxies' cost: through the front end ÷ straight to a back end (issue 16's targets)
    const thr = (workload: string, k: string, key: 'opsPerSec' | 'itemsPerSec', unit: string): Headline => ({
      workload, unit, better: 'higher', postern: f[k]?.[key] ?? null, peer: 'straight to a back end', peerValue: d[k]?.[key] ?? null, target: { text: '≥ 0.8 × direct', ratio: { op: '>=', value: 0.8 } },
    });
    const headline: Headline[] = [
      thr('cluster: POP3 logins through the front end', 'pop3Login', 'opsPerSec', 'logins/s'),
      thr('cluster: POP3 RETR through the front end', 'pop3Retr', 'itemsPerSec', 'msgs/s'),
      thr('cluster: IMAP logins through the front end', 'imapLogin', 'opsPerSec', 'logins/s'),
      thr('cluster: IMAP FETCH through the front end', 'imapFetch', 'itemsPerSec', 'msgs/s'),
      { workload: 'cluster: WebMail page p50 through the front end', unit: 'ms', better: 'lower', postern: f['webPage']?.p50 ?? null, peer: 'straight to a back end', peerValue: d['webPage']?.p50 ?? null },
    ];
    if (values.json !== false) printJsonLine({ bench: 'cluster', headline, n: N, conc: CONC, messages: MESSAGES, results });
    return 0;
  } finally {
    await c.stop();
  }
}

process.exitCode = await main();
