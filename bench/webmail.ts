/**
 * bench/webmail.ts: Postern's WebMail against Roundcube reading from Dovecot, in the same run,
 * on loopback (`npm run bench:webmail`; `-- --only postern` or `--only peer` measures one side,
 * `--seconds N` sets the length of each run, `--clients N` the parallel clients of the loaded
 * runs, `--php-workers N` Roundcube's PHP worker processes, `--peer imap` measures against
 * Dovecot's IMAP instead of Roundcube; for a quick look, `--ops list,open` runs only those and
 * `--users N` makes N accounts, not 20).
 *
 * Both serve the same users with the same messages (byte for byte): w01 … w20 @bench.example,
 * password "benchpw", each with 1,000 messages in INBOX (about 4 KiB of text each, every 10th
 * with a 2 KiB PDF attachment; Date: headers one minute apart, in delivery order). Postern
 * serves them from its store (filled through the store API before it starts) with the `webmail`
 * service on 127.0.0.1 and two connection threads (bench/lib/server.ts's benchConfig).
 * The peer is Debian's Roundcube 1.6 (`roundcube-core`, `roundcube-sqlite3`, installed with apt
 * if missing) with its SQLite backend, on PHP's built-in server (`php -S`, OPcache on,
 * PHP_CLI_SERVER_WORKERS worker processes, default 2 per core: on 2 cores 4 workers gave it
 * more requests/s and a far shorter p99 than 10, 20 or 40), reading over IMAP from a
 * throwaway Dovecot holding the same messages in maildirs (test/imap/dovecot.ts). Roundcube's
 * configuration: bench/webmail/config.inc.php and bench/webmail/php.ini, copied into a temp dir
 * of its own; ROUNDCUBE_CONFIG_DIR (read by Roundcube's iniset.php) points Roundcube there and
 * PHP_INI_SCAN_DIR adds the ini file to PHP's own, so nothing under /etc is read as
 * configuration or changed (bench/webmail/roundcube.ts).
 * When Roundcube cannot be installed, does not start, or cannot serve one flow, the bench says
 * what failed and measures against Dovecot's IMAP instead, through imapflow, for the same three
 * operations: login = connect + LOGIN (+ LOGOUT when alone), list = SELECT INBOX + FETCH of the
 * newest 50's ENVELOPE FLAGS RFC822.SIZE BODYSTRUCTURE, open = UID FETCH BODY[].
 *
 * The clients are Node's fetch (undici), each a "browser": a cookie jar, a desktop User-Agent,
 * Origin and Sec-Fetch-Site on its requests, redirects not followed by fetch but by the client
 * as the next step; it fills the login form with the form's own hidden fields (Roundcube's
 * `_token`, Postern's CSRF field if its form has one). The three operations, as a browser does
 * them (static files — CSS, scripts, icons — are left out on both sides, a browser caches them):
 *   login  GET the login page, POST the form; the redirect (Postern 303, Roundcube 302) ends it.
 *          Postern: GET /, POST /login. Roundcube: GET /?_task=login, POST /?_task=login.
 *   list   the inbox's first page, 50 of 1,000 rows: Postern GET /mail?f=INBOX (one page with the
 *          folder tree and the list); Roundcube GET /?_task=mail (the page), then at once, as
 *          its script does on load, the `list` and `getunread` requests (X-Roundcube-Request);
 *          the page time is until all three have answered. 50 rows must come back.
 *   open   one message of the 50 listed (chosen at random): Postern GET /mail/message?f=INBOX&uid=N,
 *          Roundcube GET /?_task=mail&_action=show&_uid=N (both mark it \Seen).
 *   flow   a new browser: login, then the list the redirect leads to, then one message opened.
 * Each is run alone in a loop by 1 client (the latency baseline) and by --clients (default 20)
 * clients, RUN_S seconds each, after a warm-up of flows (which also makes Roundcube's user
 * rows), the sides alternating. list and open runs log each client in first (not timed).
 * No client logs out (a browser tab closed), as the flow in the issue does not.
 *
 * Reported per run: operations/s, HTTP requests/s, p50 and p99 of the operation's time (ms) and
 * the p99 of its single HTTP requests, server CPU per HTTP request and per operation (Postern:
 * utime+stime of its process, /proc/<pid>/stat; Roundcube: its PHP processes plus Dovecot's,
 * which serves it, both shown), the load generator's CPU (this process) and errors. Prints a main
 * table (rates, ratio, p50/p99, CPU per request) and one of details, the targets of issue 14
 * (each operation and the flow ≥ 5 × Roundcube's rate; p99 of a page, i.e. of an HTTP request
 * of the login, list and open runs, < 50 ms at 20 clients), then one
 * line of JSON. Exit 0 even when a target is missed (the table says so); 1 on a setup failure.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store } from '../src/store/store.ts';
import { benchConfig, procCpuSeconds, selfCpuSeconds, startPosternProcess, type PosternProcess } from './lib/server.ts';
import { cleanupOnSignal } from './lib/child.ts';
import { printJsonLine, printTable, type Cell, type Headline } from './lib/table.ts';
import { machineJiffies } from './lib/proc.ts';
import { dovecotInstalled, startDovecot, type DovecotPeer } from '../test/imap/dovecot.ts';
import { roundcubeInstalled, startRoundcube, type RoundcubePeer } from './webmail/roundcube.ts';
import { ImapFlow } from 'imapflow';

const argv = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ONLY = arg('--only') as 'postern' | 'peer' | undefined;
const PEER = (arg('--peer') ?? 'roundcube') as 'roundcube' | 'imap';
const RUN_S = Number(arg('--seconds') ?? 5);
const CLIENTS = Number(arg('--clients') ?? 20);
const PHP_WORKERS = Number(arg('--php-workers') ?? 2 * os.cpus().length);
const WARM_S = 3;
const DOMAIN = 'bench.example';
const PASSWORD = 'benchpw';
const USERS = Number(arg('--users') ?? 20);
const MESSAGES = 1000;
const PAGE = 50;
const REQUEST_TIMEOUT_MS = 15_000;
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

const ALL_OPS = ['login', 'list', 'open', 'flow'] as const;
type Op = (typeof ALL_OPS)[number];
const OPS: readonly Op[] = arg('--ops')?.split(',').filter((o): o is Op => (ALL_OPS as readonly string[]).includes(o)) ?? ALL_OPS;

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round2 = (x: number): number => Math.round(x * 100) / 100;
const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a == null || b == null || b === 0 ? null : round2(a / b));
const userName = (i: number): string => `w${String((i % USERS) + 1).padStart(2, '0')}@${DOMAIN}`;

// ---- the mail ----

const BASE_DATE = Date.UTC(2024, 0, 1);
const TEXT_LINE = 'The quarterly figures are attached as agreed; please check the totals before Friday.\r\n';

/** Message k (1-based) of `user`'s INBOX: the same bytes for both servers. */
function message(user: string, k: number): Buffer {
  const n = k % 97;
  const date = new Date(BASE_DATE + k * 60_000).toUTCString().replace('GMT', '+0000');
  const head = [
    `From: Sender ${n} <sender${n}@example.net>`,
    `To: ${user}`,
    `Subject: Report ${k}: quarterly figures`,
    `Date: ${date}`,
    `Message-ID: <${k}.${user}>`,
    'MIME-Version: 1.0',
  ];
  const text = `Hello,\r\n\r\nmessage ${k}.\r\n${TEXT_LINE.repeat(45)}`;
  if (k % 10 !== 0) return Buffer.from(`${head.join('\r\n')}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}`);
  const pdf = Buffer.alloc(2048, `%PDF-1.4 report ${k} `).toString('base64').replace(/.{76}/g, '$&\r\n');
  const b = `b${k}`;
  return Buffer.from(
    `${head.join('\r\n')}\r\nContent-Type: multipart/mixed; boundary="${b}"\r\n\r\n` +
      `--${b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n` +
      `--${b}\r\nContent-Type: application/pdf; name="report-${k}.pdf"\r\nContent-Disposition: attachment; filename="report-${k}.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${pdf}\r\n` +
      `--${b}--\r\n`,
  );
}

async function fillPostern(dataDir: string): Promise<void> {
  const store = await new Store({ dataDir, compactIntervalMs: 0 }).open();
  try {
    await store.directory.addDomain(DOMAIN, { primary: true });
    for (let i = 0; i < USERS; i++) await store.directory.addAccount(userName(i), { password: PASSWORD });
    for (let i = 0; i < USERS; i++) {
      const user = userName(i);
      const mb = store.mailbox(user);
      for (let k = 1; k <= MESSAGES; k += 500) {
        const batch = Array.from({ length: Math.min(500, MESSAGES - k + 1) }, (_, j) => ({ body: message(user, k + j), opts: { internalDate: BASE_DATE + (k + j) * 60_000 } }));
        await mb.appendMany('INBOX', batch);
      }
    }
  } finally {
    await store.close();
  }
}

// ---- a browser ----

let httpRequests = 0;
/** Each HTTP request's time (ms), while a run is timed (null: not recording). */
let requestTimes: number[] | null = null;

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos|#39);/gi, (_m, e: string) => {
    const l = e.toLowerCase();
    if (l.startsWith('#x')) return String.fromCodePoint(parseInt(l.slice(2), 16));
    if (l.startsWith('#')) return String.fromCodePoint(Number(l.slice(1)));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[l] ?? '';
  });
}

function attrs(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/g)) out[m[1]!.toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  return out;
}

/** The form whose id is `id`: its action and its hidden fields (what a browser submits unseen). */
function form(html: string, id: string): { action: string | null; fields: Record<string, string> } {
  for (const m of html.matchAll(/<form\b[^>]*>/gi)) {
    const a = attrs(m[0]);
    if (a.id !== id) continue;
    const end = html.indexOf('</form>', m.index);
    const body = html.slice(m.index, end < 0 ? undefined : end);
    const fields: Record<string, string> = {};
    for (const t of body.matchAll(/<input\b[^>]*>/gi)) {
      const i = attrs(t[0]);
      if ((i.type ?? '').toLowerCase() === 'hidden' && i.name !== undefined) fields[i.name] = i.value ?? '';
    }
    return { action: a.action ?? null, fields };
  }
  throw new Error(`no form#${id} on the page`);
}

interface Page {
  status: number;
  location: string | null;
  text: string;
}

class Browser {
  private readonly jar = new Map<string, string>();
  private visited = false;
  /** Where the last redirect pointed (the next page a browser would load). */
  next: string | null = null;
  readonly origin: string;
  constructor(origin: string) {
    this.origin = origin;
  }

  async go(method: 'GET' | 'POST', url: string, o: { form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Page> {
    const headers: Record<string, string> = {
      'user-agent': UA,
      accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      'accept-language': 'en-US,en;q=0.9',
      'sec-fetch-site': this.visited ? 'same-origin' : 'none',
      ...o.headers,
    };
    if (this.jar.size > 0) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (method === 'POST') {
      headers.origin = this.origin;
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(o.form ?? {}).toString();
    }
    this.visited = true;
    const t0 = performance.now();
    const r = await fetch(this.origin + url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    httpRequests++;
    for (const c of r.headers.getSetCookie()) {
      const [pair, ...rest] = c.split(';');
      const eq = pair!.indexOf('=');
      if (eq <= 0) continue;
      const name = pair!.slice(0, eq).trim();
      const gone = rest.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a)) || rest.some((a) => /^\s*expires\s*=/i.test(a) && Date.parse(a.split('=')[1]!) < Date.now());
      if (gone) this.jar.delete(name);
      else this.jar.set(name, pair!.slice(eq + 1).trim());
    }
    const text = await r.text();
    requestTimes?.push(performance.now() - t0);
    let location = r.headers.get('location');
    if (location !== null && location.startsWith(this.origin)) location = location.slice(this.origin.length);
    return { status: r.status, location, text };
  }
}

const snippet = (t: string): string => t.replace(/\s+/g, ' ').slice(0, 200);

// ---- the sides ----

/** One side: how its client does each operation. C is its client (a Browser, or an IMAP
 * connection for the fallback peer). */
interface Side<C = unknown> {
  name: string;
  client(): C;
  login(c: C, user: string): Promise<void>;
  /** The UIDs the list shows (exactly PAGE, else it throws). */
  list(c: C): Promise<number[]>;
  open(c: C, uid: number): Promise<void>;
  /** The client is done (IMAP: LOGOUT; a browser just goes away). */
  close(c: C): Promise<void>;
  /** Server CPU seconds so far, by part (Postern: the one process; Roundcube: PHP, Dovecot). */
  cpu(): Record<string, number>;
}

const posternSide = (origin: string, cpu: () => number): Side<Browser> => ({
  name: 'Postern',
  client: () => new Browser(origin),
  async login(b, user) {
    const p = await b.go('GET', '/');
    if (p.status !== 200) throw new Error(`GET /: HTTP ${p.status}: ${snippet(p.text)}`);
    const f = form(p.text, 'login');
    const r = await b.go('POST', f.action ?? '/login', { form: { ...f.fields, username: user, password: PASSWORD } });
    if (r.status !== 303 || r.location === null || !r.location.startsWith('/mail')) throw new Error(`POST /login: HTTP ${r.status} → ${r.location}: ${snippet(r.text)}`);
    b.next = r.location;
  },
  async list(b) {
    const url = b.next ?? '/mail?f=INBOX';
    b.next = null;
    const p = await b.go('GET', url);
    if (p.status !== 200) throw new Error(`GET ${url}: HTTP ${p.status}: ${snippet(p.text)}`);
    const uids: number[] = [];
    for (const m of p.text.matchAll(/<tr\b[^>]*>/gi)) {
      const a = attrs(m[0]);
      if (a['data-uid'] !== undefined && /\bmsg\b/.test(a.class ?? '')) uids.push(Number(a['data-uid']));
    }
    if (uids.length !== PAGE) throw new Error(`GET ${url}: ${uids.length} rows, not ${PAGE}`);
    return uids;
  },
  async open(b, uid) {
    const url = `/mail/message?f=INBOX&uid=${uid}`;
    const p = await b.go('GET', url);
    if (p.status !== 200 || !p.text.includes(`Report ${uid}:`)) throw new Error(`GET ${url}: HTTP ${p.status}: ${snippet(p.text)}`);
  },
  close: async () => {},
  cpu: () => ({ postern: cpu() }),
});

const roundcubeSide = (origin: string, cpu: () => Record<string, number>): Side<Browser> => ({
  name: 'Roundcube',
  client: () => new Browser(origin),
  async login(b, user) {
    const p = await b.go('GET', '/?_task=login');
    if (p.status !== 200) throw new Error(`GET /?_task=login: HTTP ${p.status}: ${snippet(p.text)}`);
    const f = form(p.text, 'login-form');
    const r = await b.go('POST', f.action ?? '/?_task=login', { form: { ...f.fields, _timezone: 'UTC', _user: user, _pass: PASSWORD } });
    if (r.status !== 302 || r.location === null || !r.location.includes('_task=mail')) throw new Error(`POST /?_task=login: HTTP ${r.status} → ${r.location}: ${snippet(r.text)}`);
    b.next = r.location;
  },
  async list(b) {
    const url = b.next ?? '/?_task=mail&_mbox=INBOX';
    b.next = null;
    const p = await b.go('GET', url);
    const token = /"request_token":"([^"]+)"/.exec(p.text)?.[1];
    if (p.status !== 200 || token === undefined) throw new Error(`GET ${url}: HTTP ${p.status}: ${snippet(p.text)}`);
    const ajax = { 'x-roundcube-request': token, 'x-requested-with': 'XMLHttpRequest', accept: 'application/json, text/javascript, */*; q=0.01' };
    const [list, unread] = await Promise.all([
      b.go('GET', '/?_task=mail&_action=list&_layout=widescreen&_mbox=INBOX&_page=&_remote=1&_unlock=loading1', { headers: ajax }),
      b.go('GET', '/?_task=mail&_action=getunread&_page=1&_remote=1&_unlock=0', { headers: ajax }),
    ]);
    if (unread.status !== 200 || !unread.text.includes('set_unread_count')) throw new Error(`getunread: HTTP ${unread.status}: ${snippet(unread.text)}`);
    if (list.status !== 200) throw new Error(`list: HTTP ${list.status}: ${snippet(list.text)}`);
    const exec = (JSON.parse(list.text) as { exec?: string }).exec ?? '';
    const uids = [...exec.matchAll(/add_message_row\((\d+)/g)].map((m) => Number(m[1]));
    if (uids.length !== PAGE) throw new Error(`list: ${uids.length} rows, not ${PAGE}: ${snippet(list.text)}`);
    return uids;
  },
  async open(b, uid) {
    const url = `/?_task=mail&_mbox=INBOX&_uid=${uid}&_action=show`;
    const p = await b.go('GET', url);
    if (p.status !== 200 || !p.text.includes(`Report ${uid}:`)) throw new Error(`GET ${url}: HTTP ${p.status}: ${snippet(p.text)}`);
  },
  close: async () => {},
  cpu,
});

/** The fallback peer: Dovecot's IMAP through imapflow (a real client, not ours): login is
 * connect + LOGIN (+ LOGOUT when alone), list is SELECT INBOX + FETCH of the newest 50's
 * ENVELOPE FLAGS RFC822.SIZE BODYSTRUCTURE, open is UID FETCH BODY[] (sets \Seen). */
interface ImapClient {
  c: ImapFlow | null;
}
const imapSide = (port: number, cpu: () => number): Side<ImapClient> => ({
  name: 'Dovecot IMAP',
  client: () => ({ c: null }),
  async login(x, user) {
    const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass: PASSWORD }, logger: false, disableAutoIdle: true, connectionTimeout: REQUEST_TIMEOUT_MS, socketTimeout: REQUEST_TIMEOUT_MS });
    c.on('error', () => {});
    await c.connect();
    x.c = c;
  },
  async list(x) {
    const c = x.c!;
    const mb = await c.mailboxOpen('INBOX');
    const uids: number[] = [];
    for await (const m of c.fetch(`${Math.max(1, mb.exists - PAGE + 1)}:${mb.exists}`, { uid: true, envelope: true, flags: true, size: true, bodyStructure: true })) uids.push(m.uid);
    if (uids.length !== PAGE) throw new Error(`FETCH: ${uids.length} messages, not ${PAGE}`);
    return uids;
  },
  async open(x, uid) {
    const m = await x.c!.fetchOne(String(uid), { source: true }, { uid: true });
    if (m === false || !(m.source?.toString('latin1').includes(`Report ${uid}:`) ?? false)) throw new Error(`UID FETCH ${uid} BODY[]: not the message`);
  },
  async close(x) {
    await x.c?.logout().catch(() => {});
    x.c = null;
  },
  cpu: () => ({ dovecot: cpu() }),
});

// ---- runs ----

interface Run {
  ops: number;
  rate: number; // operations per second
  httpRate: number | null; // HTTP requests per second (null: not HTTP)
  p50: number | null;
  p99: number | null;
  /** p99 of the single HTTP requests (ms; null: not HTTP). */
  requestP99: number | null;
  serverCpuS: Record<string, number>;
  cpuMsPerOp: number | null;
  cpuMsPerRequest: number | null;
  loadGenCpuS: number;
  busyCores: number;
  errors: number;
  firstError?: string;
}

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

async function run<C>(side: Side<C>, op: Op, clients: number, seconds: number): Promise<Run> {
  // untimed setup: the list and open runs need a logged-in client, open also the listed UIDs
  // (a client whose setup fails counts one error and sits the run out)
  let errors = 0;
  let firstError: string | undefined;
  const fail = (e: unknown): void => {
    errors++;
    firstError ??= (e as Error).message;
  };
  const browsers = (
    await Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        const b = side.client();
        try {
          const uids = op === 'list' || op === 'open' ? (await side.login(b, userName(i)), await side.list(b)) : [];
          return { b, uids, user: userName(i) };
        } catch (e) {
          fail(e);
          await side.close(b);
          return null;
        }
      }),
    )
  ).filter((c) => c !== null);
  const lat: number[] = [];
  const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, x) => a + x, 0);
  const c0 = side.cpu();
  const h0 = httpRequests;
  const s0 = selfCpuSeconds();
  const m0 = machineJiffies();
  const times: number[] = [];
  requestTimes = times;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    browsers.map(async (c) => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          if (op === 'list') await side.list(c.b);
          else if (op === 'open') await side.open(c.b, pick(c.uids));
          else {
            // login and flow: a new client each time, closed (IMAP: LOGOUT) as part of the operation
            const b = side.client();
            try {
              await side.login(b, c.user);
              if (op === 'flow') await side.open(b, pick(await side.list(b)));
            } finally {
              await side.close(b);
            }
          }
          lat.push(performance.now() - s);
        } catch (e) {
          fail(e);
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  requestTimes = null;
  const c1 = side.cpu();
  await Promise.all(browsers.map((c) => side.close(c.b)));
  const m1 = machineJiffies();
  const requests = httpRequests - h0;
  const serverCpuS = Object.fromEntries(Object.keys(c1).map((k) => [k, round2(c1[k]! - (c0[k] ?? 0))]));
  lat.sort((a, b) => a - b);
  times.sort((a, b) => a - b);
  return {
    ops: lat.length,
    rate: round1(lat.length / elapsed),
    httpRate: requests > 0 ? round1(requests / elapsed) : null,
    p50: lat.length > 0 ? round2(quantile(lat, 0.5)!) : null,
    p99: lat.length > 0 ? round2(quantile(lat, 0.99)!) : null,
    requestP99: times.length > 0 ? round2(quantile(times, 0.99)!) : null,
    serverCpuS,
    cpuMsPerOp: lat.length > 0 ? round2(((sum(c1) - sum(c0)) * 1000) / lat.length) : null,
    cpuMsPerRequest: requests > 0 ? round2(((sum(c1) - sum(c0)) * 1000) / requests) : null,
    loadGenCpuS: round2(selfCpuSeconds() - s0),
    busyCores: round2((m1.busy - m0.busy) / 100 / elapsed),
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}

/** Install the peer's packages with apt when missing (under the shared apt lock). */
function ensureRoundcube(): string | null {
  if (roundcubeInstalled() === null) return null;
  console.log('installing roundcube-core roundcube-sqlite3 php-cli with apt …');
  const apt = (args: string): void =>
    void spawnSync('bash', ['-c', `flock /tmp/postern-apt.lock apt-get ${args}`], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 600_000 });
  apt('install -y --no-install-recommends roundcube-core roundcube-sqlite3 php-cli');
  if (roundcubeInstalled() !== null) {
    apt('update');
    apt('install -y --no-install-recommends roundcube-core roundcube-sqlite3 php-cli');
  }
  return roundcubeInstalled();
}

async function main(): Promise<void> {
  const loadStart = os.loadavg()[0]!;
  if (ONLY !== 'postern' && !dovecotInstalled()) throw new Error('dovecot-imapd is not installed (apt-get install dovecot-imapd)');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-bench-webmail-'));
  fs.chmodSync(work, 0o755);
  let server: PosternProcess | null = null;
  let dovecot: DovecotPeer | null = null;
  let rc: RoundcubePeer | null = null;
  const cleanup = async (): Promise<void> => {
    await server?.stop().catch(() => {});
    await rc?.stop().catch(() => {});
    await dovecot?.stop().catch(() => {});
    fs.rmSync(work, { recursive: true, force: true });
  };
  cleanupOnSignal(cleanup);
  try {
    const sides: Side<unknown>[] = [];
    let peer: Side<unknown> | null = null;
    /** Why the peer is Dovecot's IMAP and not Roundcube (null: Roundcube, or asked for). */
    let fallback: string | null = null;
    if (ONLY !== 'peer') {
      const t0 = Date.now();
      console.log(`filling Postern's store: ${USERS} accounts × ${MESSAGES} messages …`);
      const dir = path.join(work, 'postern');
      await fillPostern(dir);
      console.log(`  ${round1((Date.now() - t0) / 1000)} s`);
      server = await startPosternProcess({ configText: benchConfig('webmail', { domain: DOMAIN }), dataDir: dir, startTimeoutMs: 60_000 });
      const pid = server.pid;
      sides.push(posternSide(`http://127.0.0.1:${server.port('webmail')}`, () => procCpuSeconds(pid)) as Side<unknown>);
    }
    if (ONLY !== 'postern') {
      const t0 = Date.now();
      console.log(`filling Dovecot's maildirs: ${USERS} accounts × ${MESSAGES} messages …`);
      const users = Array.from({ length: USERS }, (_, i) => ({ user: userName(i), password: PASSWORD }));
      const dc = await startDovecot({ users, capacity: true, parentDir: work });
      dovecot = dc;
      for (let i = 0; i < USERS; i++) for (let k = 1; k <= MESSAGES; k++) dc.deliver(userName(i), message(userName(i), k));
      console.log(`  ${round1((Date.now() - t0) / 1000)} s`);
      if (PEER === 'roundcube') {
        fallback = ensureRoundcube();
        if (fallback === null) {
          try {
            const r = await startRoundcube({ imap: `127.0.0.1:${dc.port}`, workers: PHP_WORKERS, parentDir: work });
            rc = r;
            peer = roundcubeSide(r.origin, () => ({ php: r.cpuSeconds(), dovecot: dc.cpuSeconds() })) as Side<unknown>;
            // a Roundcube that starts but cannot serve the flow is no peer either
            const w = await run(peer, 'flow', 1, 1);
            if (w.ops === 0) throw new Error(`no flow completed: ${w.firstError ?? '?'}`);
          } catch (e) {
            const log = rc?.errorLog(3) ?? '';
            fallback = `Roundcube did not work: ${(e as Error).message}${log !== '' ? ` (its errors log: ${log})` : ''}`;
            peer = null;
            await rc?.stop();
            rc = null;
          }
        }
        if (fallback !== null) console.log(`Roundcube cannot run here (${fallback}); measuring against Dovecot's IMAP instead`);
      }
      peer ??= imapSide(dc.port, () => dc.cpuSeconds()) as Side<unknown>;
      sides.push(peer);
    }
    const PEER_NAME = peer?.name ?? (PEER === 'roundcube' ? 'Roundcube' : 'Dovecot IMAP');

    console.log(`warming up (${WARM_S} s of flows at ${CLIENTS} clients on each side) …`);
    for (const s of sides) {
      const w = await run(s, 'flow', CLIENTS, WARM_S);
      if (w.ops === 0) throw new Error(`${s.name}: no flow completed in the warm-up: ${w.firstError ?? '?'}`);
    }

    const results: Record<string, Record<string, Run>> = {};
    for (const n of [1, CLIENTS]) {
      for (const op of OPS) {
        for (const s of sides) {
          const r = await run(s, op, n, RUN_S);
          (results[s.name] ??= {})[`${op}/${n}`] = r;
          console.log(`  ${op}, ${n} client${n === 1 ? '' : 's'}: ${s.name} ${r.rate}/s, p50 ${r.p50} ms, p99 ${r.p99} ms (errors ${r.errors}${r.firstError !== undefined ? `: ${r.firstError}` : ''})`);
        }
      }
    }

    const label: Record<Op, string> = {
      login: 'login',
      list: `list INBOX (${PAGE} of ${MESSAGES})`,
      open: 'open one message',
      flow: 'flow: login, list, open',
    };
    const cpuCell = (r: Run | undefined): string => (r === undefined ? '-' : Object.entries(r.serverCpuS).map(([k, v]) => `${k} ${v}`).join(' + '));
    const pair = (p: unknown, r: unknown): string => `${p ?? '-'} / ${r ?? '-'}`;
    const rows: Cell[][] = [];
    const details: Cell[][] = [];
    for (const n of [1, CLIENTS]) {
      for (const op of OPS) {
        const p = results.Postern?.[`${op}/${n}`];
        const r = results[PEER_NAME]?.[`${op}/${n}`];
        rows.push([label[op], n, p?.rate ?? null, r?.rate ?? null, ratio(p?.rate, r?.rate), p?.p50 ?? null, r?.p50 ?? null, p?.p99 ?? null, r?.p99 ?? null, p?.cpuMsPerRequest ?? null, r?.cpuMsPerRequest ?? null]);
        details.push([
          label[op], n,
          pair(p?.httpRate, r?.httpRate),
          pair(p?.requestP99, r?.requestP99),
          pair(p?.cpuMsPerOp, r?.cpuMsPerOp),
          pair(cpuCell(p), cpuCell(r)),
          pair(p?.loadGenCpuS, r?.loadGenCpuS),
          pair(p?.busyCores, r?.busyCores),
          pair(p?.errors, r?.errors),
        ]);
      }
    }
    const peerDesc =
      peer === null ? `${PEER_NAME} (not run)` : rc !== null ? `Roundcube 1.6 on PHP ${phpVersion()} (php -S, ${PHP_WORKERS} workers, SQLite) + Dovecot` : "Dovecot's IMAP (imapflow)";
    const R = PEER_NAME;
    console.log('');
    printTable(
      `WebMail: Postern vs ${peerDesc}; operations/s, times in ms, each run ${RUN_S} s`,
      ['operation', 'clients', 'Postern /s', `${R} /s`, 'ratio', 'Postern p50', `${R} p50`, 'Postern p99', `${R} p99`, 'Postern CPU ms/req', `${R} CPU ms/req`],
      rows,
    );
    console.log('');
    printTable(
      `the same runs (P = Postern, R = ${R}): HTTP requests/s and the p99 of a single request (ms), server CPU per operation and in all, this load generator's CPU, the machine's busy cores, errors`,
      ['operation', 'clients', 'HTTP req/s (P/R)', 'HTTP request p99 (P/R)', 'server CPU ms/op (P/R)', 'server CPU s (P/R)', 'load generator CPU s (P/R)', 'machine busy cores (P/R)', 'errors (P/R)'],
      details,
    );
    const errorLog = rc?.errorLog() ?? '';
    if (errorLog !== '') console.log(`Roundcube's errors log (first lines):\n${errorLog}`);
    for (const [name, rs] of Object.entries(results)) for (const [k, r] of Object.entries(rs)) if (r.firstError !== undefined) console.log(`  ${name} ${k}: first error: ${r.firstError}`);

    const atN = (side: string, op: Op): Run | undefined => results[side]?.[`${op}/${CLIENTS}`];
    // a page is one HTTP request on Postern's side (its login is two pages: the form, the POST)
    const worst = (f: (r: Run) => number | null): number | null => {
      const xs = (['login', 'list', 'open'] as const).map((op) => {
        const r = atN('Postern', op);
        return r === undefined ? null : f(r);
      });
      return xs.some((x) => x === null) ? null : Math.max(...(xs as number[]));
    };
    const worstPageP99 = worst((r) => r.requestP99);
    const worstOpP99 = worst((r) => r.p99);
    const targets: Array<[string, Cell, boolean | null]> = [
      ...OPS.map((op): [string, Cell, boolean | null] => {
        const r = ratio(atN('Postern', op)?.rate, atN(PEER_NAME, op)?.rate);
        return [`${op} ≥ 5 × ${PEER_NAME}'s rate (${CLIENTS} clients)`, r, r === null ? null : r >= 5];
      }),
      [`p99 page time < 50 ms at ${CLIENTS} clients (a page = an HTTP request; worst of the login, list, open runs; ms)`, worstPageP99, worstPageP99 === null ? null : worstPageP99 < 50],
      [`  (for reference: p99 of the operation, login being two pages; ms)`, worstOpP99, null],
    ];
    console.log('');
    printTable(`targets (issue 14${fallback !== null ? `; against Dovecot's IMAP: Roundcube could not run, see above` : ''})`, ['target', 'value', 'met'], targets);
    const loadEnd = os.loadavg()[0]!;
    console.log(`machine load average (1 min): ${round2(loadStart)} at the start, ${round2(loadEnd)} at the end (${os.cpus().length} cores; other work on the machine shows here)`);
    const headline: Headline[] = [
      ...OPS.map((op): Headline => ({
        workload: `WebMail ${label[op]}, ${CLIENTS} clients`, unit: 'ops/s', better: 'higher', postern: atN('Postern', op)?.rate ?? null,
        peer: peerDesc, peerValue: atN(PEER_NAME, op)?.rate ?? null, target: { text: `≥ 5 × ${PEER_NAME}`, ratio: { op: '>=', value: 5 } },
      })),
      { workload: `WebMail page p99, ${CLIENTS} clients (worst of login, list, open)`, unit: 'ms', better: 'lower', postern: worstPageP99, target: { text: '< 50 ms', value: { op: '<=', value: 50 } } },
    ];
    printJsonLine({
      bench: 'webmail',
      headline,
      peer: peer?.name ?? null,
      users: USERS,
      ...(fallback !== null ? { roundcubeFailed: fallback } : {}),
      loadAverageStart: round2(loadStart),
      loadAverageEnd: round2(loadEnd),
      runSeconds: RUN_S,
      clients: CLIENTS,
      phpWorkers: rc !== null ? PHP_WORKERS : null,
      results,
      targets: Object.fromEntries(targets.map(([t, v, m]) => [t, { value: v, met: m }])),
    });
  } finally {
    await cleanup();
  }
}

function phpVersion(): string {
  const r = spawnSync('php', ['-r', 'echo PHP_VERSION;'], { encoding: 'utf8' });
  return r.stdout || '?';
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
