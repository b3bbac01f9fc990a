/**
 * bench/lib/imap-load.ts: the IMAP bench's load generator (bench/imap.ts), a Node process of its
 * own on raw sockets, so that its CPU time is measured apart from the servers' and the bench's.
 *
 * Child side (`node bench/lib/imap-load.ts '<job json>'`): runs one job and prints one line of
 * JSON with its counts and its own CPU seconds (user + system):
 *   logins  { port, clients, seconds, userFmt, users, password }: each client loops: connect,
 *           greeting, LOGIN, SELECT INBOX, LOGOUT (each awaited) → sessions, errors;
 *   fetch   { port, clients, seconds, user, password, items, count }: each client logs in,
 *           SELECTs INBOX, then repeats `FETCH 1:count (items)` (one command answers `count`
 *           messages, literals skipped by length) → messages, bytes;
 *   append  { port, clients, seconds, userFmt, users, password, size }: each client logs in and
 *           APPENDs `size`-byte messages (LITERAL+ `{n+}`) to its INBOX, each awaited → messages;
 *   idle    { port, n, userFmt, users, password, parallel }: opens n sessions (LOGIN, SELECT
 *           INBOX, IDLE, up to `parallel` opening at once), prints { ready, errors, cpu_s } and
 *           holds them until its stdin closes;
 *   search  { port, user, password, query }: LOGIN, SELECT INBOX (timed), the query twice
 *           (each timed) → selectMs, firstMs, secondMs, hits.
 * Every loop is bounded by `seconds` (or by n), and every read by a timeout.
 *
 * Parent side: `runLoad(job, timeoutMs?)` → the result; `openIdleLoad(job)` → { ready, errors,
 * cpu_s, close() }. Reject when the child fails, prints no result, or outlives its bound.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { runJsonChild } from './child.ts';

export interface LoadResult {
  sessions?: number;
  messages?: number;
  bytes?: number;
  errors: number;
  elapsed_s?: number;
  cpu_s: number;
  selectMs?: number;
  firstMs?: number;
  secondMs?: number;
  hits?: number;
  ready?: number;
  firstError?: string;
}

export type Job =
  | { kind: 'logins'; port: number; clients: number; seconds: number; userFmt: string; users: number; password: string }
  | { kind: 'fetch'; port: number; clients: number; seconds: number; user: string; password: string; items: string; count: number }
  | { kind: 'append'; port: number; clients: number; seconds: number; userFmt: string; users: number; password: string; size: number }
  | { kind: 'idle'; port: number; n: number; userFmt: string; users: number; password: string; parallel: number }
  | { kind: 'search'; port: number; user: string; password: string; query: string };

const SELF = fileURLToPath(import.meta.url);

// ---- parent side ----

export function runLoad(job: Job, timeoutMs = 600_000): Promise<LoadResult> {
  return runJsonChild<LoadResult>(process.execPath, [SELF, JSON.stringify(job)], timeoutMs);
}

export interface IdleLoad {
  ready: number;
  errors: number;
  cpu_s: number;
  firstError?: string;
  close(): Promise<void>;
}

export function openIdleLoad(job: Extract<Job, { kind: 'idle' }>, timeoutMs = 600_000): Promise<IdleLoad> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [SELF, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const exited = new Promise<void>((r) => p.on('exit', () => r()));
    const timer = setTimeout(() => (p.kill('SIGKILL'), reject(new Error(`idle sessions did not open within ${timeoutMs / 1000} s`))), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      if (!out.includes('\n')) reject(new Error(`load generator exited (code ${code}) before its sessions were up`));
    });
    p.stdout.on('data', (d) => {
      out += d;
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      const r = JSON.parse(out.trim()) as LoadResult;
      resolve({ ready: r.ready ?? 0, errors: r.errors, cpu_s: r.cpu_s, ...(r.firstError !== undefined ? { firstError: r.firstError } : {}), close: async () => (p.stdin.end(), exited) });
    });
  });
}

// ---- child side ----

const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** The user name of the i-th user (1-based) from a printf-like format with one %0Nd. */
export function userName(fmt: string, i: number): string {
  return fmt.replace(/%0(\d+)d/, (_m, w: string) => String(i).padStart(Number(w), '0'));
}

/** A connection reading IMAP responses: lines, with literals skipped by their length. */
class Conn {
  private buf: Buffer = Buffer.alloc(0);
  private literal = 0;
  private waiting: { tag: string; resolve: (r: { ok: boolean; line: string; untagged: number; bytes: number }) => void; reject: (e: Error) => void } | null = null;
  private untagged = 0;
  private bytes = 0;
  /** The last untagged line (its first 200 bytes). */
  lastUntagged = '';
  private lineWaiter: ((l: string) => void) | null = null;
  closed = false;
  private err: Error | null = null;
  readonly socket: net.Socket;
  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => this.fail(new Error('connection closed')));
    socket.on('error', (e) => this.fail(e));
  }
  static open(port: number, timeoutMs = 30_000): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true); // a command's parts go out at once (no Nagle wait behind the server's delayed ACK)
      const c = new Conn(s);
      const t = setTimeout(() => (s.destroy(), reject(new Error('no greeting'))), timeoutMs);
      c.lineWaiter = (l) => {
        clearTimeout(t);
        if (l.startsWith('* OK')) resolve(c);
        else reject(new Error(`greeting: ${l}`));
      };
      s.once('error', (e) => (clearTimeout(t), reject(e)));
    });
  }
  private fail(e: Error): void {
    this.closed = true;
    this.err = e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }
  private onData(d: Buffer): void {
    this.bytes += d.length;
    let b = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let pos = 0;
    for (;;) {
      if (this.literal > 0) {
        const n = Math.min(this.literal, b.length - pos);
        this.literal -= n;
        pos += n;
        if (this.literal > 0) break;
        continue;
      }
      const i = b.indexOf(10, pos);
      if (i < 0) break;
      const end = i > pos && b[i - 1] === 13 ? i - 1 : i;
      // a literal announced at the end of the line: {n}
      if (end > pos && b[end - 1] === 125) {
        const open = b.lastIndexOf(123, end - 1);
        if (open >= pos) {
          const n = Number(b.toString('latin1', open + 1, end - 1).replace('+', ''));
          if (Number.isFinite(n)) {
            this.onLine(b.toString('latin1', pos, Math.min(open, pos + 200)));
            this.literal = n;
            pos = i + 1;
            continue;
          }
        }
      }
      this.onLine(b.toString('latin1', pos, Math.min(end, pos + 200)));
      pos = i + 1;
    }
    this.buf = pos >= b.length ? Buffer.alloc(0) : b.subarray(pos);
    b = this.buf;
  }
  private onLine(line: string): void {
    if (this.lineWaiter !== null) {
      const w = this.lineWaiter;
      this.lineWaiter = null;
      w(line);
      return;
    }
    const w = this.waiting;
    if (w === null) return;
    if (line.startsWith('* ')) {
      this.untagged++;
      this.lastUntagged = line;
      return;
    }
    if (line.startsWith('+')) return;
    if (line.startsWith(`${w.tag} `)) {
      this.waiting = null;
      const r = { ok: line.startsWith(`${w.tag} OK`), line, untagged: this.untagged, bytes: this.bytes };
      w.resolve(r);
    }
  }
  /** Send a command (its bytes as given, CRLF included) and await its tagged response. */
  run(tag: string, data: string | Buffer | Array<string | Buffer>, timeoutMs = 120_000): Promise<{ ok: boolean; line: string; untagged: number; bytes: number }> {
    if (this.closed) return Promise.reject(this.err ?? new Error('closed'));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => (this.waiting = null, reject(new Error(`${tag}: no answer within ${timeoutMs} ms`))), timeoutMs);
      this.untagged = 0;
      this.bytes = 0;
      this.waiting = { tag, resolve: (r) => (clearTimeout(t), resolve(r)), reject: (e) => (clearTimeout(t), reject(e)) };
      for (const part of Array.isArray(data) ? data : [data]) this.socket.write(part);
    });
  }
  /** Resolve the next line that starts with `prefix` (IDLE's continuation). */
  waitLine(prefix: string, timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no "${prefix}" within ${timeoutMs} ms`)), timeoutMs);
      this.lineWaiter = (l) => {
        clearTimeout(t);
        if (l.startsWith(prefix)) resolve(l);
        else reject(new Error(`expected "${prefix}", got: ${l}`));
      };
    });
  }
  close(): void {
    this.socket.destroy();
  }
}

const quote = (s: string): string => `"${s.replace(/["\\]/g, '\\$&')}"`;

async function login(port: number, user: string, password: string): Promise<Conn> {
  const c = await Conn.open(port);
  const r = await c.run('l', `l LOGIN ${quote(user)} ${quote(password)}\r\n`);
  if (!r.ok) {
    c.close();
    throw new Error(`LOGIN ${user}: ${r.line}`);
  }
  return c;
}

async function select(c: Conn): Promise<void> {
  const r = await c.run('s', 's SELECT INBOX\r\n', 600_000);
  if (!r.ok) throw new Error(`SELECT: ${r.line}`);
}

/** A message of exactly `size` bytes, CRLF lines (different for each n). */
function appendBody(n: number, size: number): Buffer {
  const head = `From: load@bench.example\r\nTo: user@bench.example\r\nSubject: appended ${n}\r\nMessage-ID: <a${n}.${process.pid}@bench.example>\r\n\r\n`;
  const line = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\r\n';
  let body = '';
  while (head.length + body.length + line.length <= size - 2) body += line;
  body += 'x'.repeat(Math.max(0, size - 2 - head.length - body.length)) + '\r\n';
  return Buffer.from(head + body);
}

async function timed(seconds: number, clients: number, one: (i: number, until: number) => Promise<void>): Promise<number> {
  const t0 = Date.now();
  const until = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: clients }, (_, i) => one(i, until)));
  return (Date.now() - t0) / 1000;
}

async function child(job: Job): Promise<void> {
  const out: LoadResult = { errors: 0, cpu_s: 0 };
  const noteError = (e: unknown): void => {
    out.errors++;
    out.firstError ??= (e as Error).message;
  };
  const c0 = cpu();
  switch (job.kind) {
    case 'logins': {
      let sessions = 0;
      out.elapsed_s = await timed(job.seconds, job.clients, async (i, until) => {
        let k = i;
        while (Date.now() < until) {
          const user = userName(job.userFmt, (k++ % job.users) + 1);
          try {
            const c = await login(job.port, user, job.password);
            await select(c);
            await c.run('o', 'o LOGOUT\r\n').catch(() => undefined);
            c.close();
            sessions++;
          } catch (e) {
            noteError(e);
            if (out.errors > 1000) return;
          }
        }
      });
      out.sessions = sessions;
      break;
    }
    case 'fetch': {
      let messages = 0;
      let bytes = 0;
      out.elapsed_s = await timed(job.seconds, job.clients, async (_i, until) => {
        let c: Conn;
        try {
          c = await login(job.port, job.user, job.password);
          await select(c);
        } catch (e) {
          noteError(e);
          return;
        }
        let n = 0;
        while (Date.now() < until) {
          try {
            const r = await c.run(`f${n}`, `f${n} FETCH 1:${job.count} (${job.items})\r\n`);
            n++;
            if (!r.ok) throw new Error(r.line);
            messages += r.untagged;
            bytes += r.bytes;
          } catch (e) {
            noteError(e);
            break;
          }
        }
        c.close();
      });
      out.messages = messages;
      out.bytes = bytes;
      break;
    }
    case 'append': {
      let messages = 0;
      out.elapsed_s = await timed(job.seconds, job.clients, async (i, until) => {
        let c: Conn;
        try {
          c = await login(job.port, userName(job.userFmt, (i % job.users) + 1), job.password);
        } catch (e) {
          noteError(e);
          return;
        }
        let n = 0;
        while (Date.now() < until) {
          const body = appendBody(i * 1_000_000 + n, job.size);
          try {
            const r = await c.run(`a${n}`, [`a${n} APPEND INBOX {${body.length}+}\r\n`, body, '\r\n']);
            n++;
            if (!r.ok) throw new Error(r.line);
            messages++;
          } catch (e) {
            noteError(e);
            break;
          }
        }
        c.close();
      });
      out.messages = messages;
      break;
    }
    case 'idle': {
      const conns: Conn[] = [];
      let next = 0;
      await Promise.all(Array.from({ length: job.parallel }, async () => {
        while (next < job.n) {
          const k = next++;
          try {
            const c = await login(job.port, userName(job.userFmt, (k % job.users) + 1), job.password);
            await select(c);
            const cont = c.waitLine('+');
            c.socket.write('i IDLE\r\n');
            await cont;
            conns.push(c);
          } catch (e) {
            noteError(e);
          }
        }
      }));
      out.ready = conns.length;
      out.cpu_s = Math.round((cpu() - c0) * 100) / 100;
      process.stdout.write(`${JSON.stringify(out)}\n`);
      await new Promise<void>((resolve) => {
        process.stdin.on('end', resolve);
        process.stdin.on('error', () => resolve());
        process.stdin.resume();
      });
      for (const c of conns) c.close();
      return;
    }
    case 'search': {
      const c = await login(job.port, job.user, job.password);
      let t = performance.now();
      await select(c);
      out.selectMs = Math.round(performance.now() - t);
      const once = async (tag: string): Promise<{ ms: number; line: string }> => {
        const t0 = performance.now();
        const r = await c.run(tag, `${tag} ${job.query}\r\n`, 600_000);
        if (!r.ok) throw new Error(`${job.query}: ${r.line}`);
        return { ms: Math.round(performance.now() - t0), line: r.line };
      };
      out.firstMs = (await once('q1')).ms;
      out.secondMs = (await once('q2')).ms;
      // the hits: a separate command, so that counting is not timed
      const r = await c.run('q3', `q3 ${job.query.replace(/^SEARCH /i, 'SEARCH RETURN (COUNT) ')}\r\n`, 600_000);
      out.hits = r.ok ? Number(/COUNT (\d+)/.exec(c.lastUntagged)?.[1] ?? -1) : -1;
      c.close();
      break;
    }
  }
  out.cpu_s = Math.round((cpu() - c0) * 100) / 100;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (process.argv[1] === SELF && process.argv[2] !== undefined) {
  child(JSON.parse(process.argv[2]) as Job).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`imap-load: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
