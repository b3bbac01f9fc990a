/**
 * test/helpers.ts: small shared pieces for the behaviour tests: temp dirs, a line client on a
 * real socket, polling, HTTP JSON, a child-process runner (`runProcess`), and the suite's seeded PRNG (`prng`, `withSeed`: every random
 * choice of a test comes from a seed it prints on failure; POSTERN_TEST_SEED=<seed> replays it).
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { randomInt } from 'node:crypto';

/** A free TCP port on 127.0.0.1 (the bench scripts' helper). */
export { freePort } from '../bench/lib/net.ts';

export const ECHO_PROTOCOL = new URL('./fixtures/echo-protocol.ts', import.meta.url).href;

export function tmpDir(prefix = 'postern-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${last !== undefined ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface LineClient {
  socket: net.Socket;
  /** Next line (without CRLF); rejects on close or timeout. */
  read(timeoutMs?: number): Promise<string>;
  send(line: string): void;
  /** Send a line and read one reply line. */
  cmd(line: string, timeoutMs?: number): Promise<string>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  close(): void;
}

export function connectLines(port: number, host = '127.0.0.1', localAddress?: string): Promise<LineClient> {
  return new Promise((resolve, reject) => {
    const opts: net.NetConnectOpts = { port, host };
    if (localAddress !== undefined) opts.localAddress = localAddress;
    const socket = net.connect(opts);
    let buf = '';
    const lines: string[] = [];
    const waiters: Array<{ ok: (l: string) => void; fail: (e: Error) => void }> = [];
    let ended = false;
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        const w = waiters.shift();
        if (w !== undefined) w.ok(l);
        else lines.push(l);
      }
    });
    const onEnd = (): void => {
      ended = true;
      for (const w of waiters.splice(0)) w.fail(new Error('connection closed'));
      resolveClosed();
    };
    socket.on('close', onEnd);
    socket.on('error', (e) => {
      if (!connected) reject(e);
    });
    let connected = false;
    socket.on('connect', () => {
      connected = true;
      const c: LineClient = {
        socket,
        read(timeoutMs = 5000) {
          const l = lines.shift();
          if (l !== undefined) return Promise.resolve(l);
          if (ended) return Promise.reject(new Error('connection closed'));
          return new Promise((ok, fail) => {
            const t = setTimeout(() => fail(new Error('read timeout')), timeoutMs);
            waiters.push({ ok: (x) => (clearTimeout(t), ok(x)), fail: (e) => (clearTimeout(t), fail(e)) });
          });
        },
        send(line) {
          socket.write(`${line}\r\n`);
        },
        async cmd(line, timeoutMs) {
          c.send(line);
          return c.read(timeoutMs);
        },
        closed,
        close() {
          socket.destroy();
        },
      };
      resolve(c);
    });
  });
}

export async function getJson(url: string): Promise<any> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

/** A service's node in the supervision tree (root → services → the service). */
export function serviceNode(tree: import('../src/actor/types.ts').ActorInfo, name: string) {
  return tree.children?.find((c) => c.id === 'services')?.children?.find((c) => c.id === name);
}

export const STORE_PROBE = new URL('./fixtures/store-probe.ts', import.meta.url).href;

/** A serialised link to the store probe (test/fixtures/store-probe.ts) running in a spare
 * service slot: `ask` runs one exchange at a time on one connection, `ok` unwraps `+OK …`. */
export function probeLink(port: () => number, host: string): { ask<T>(fn: (c: LineClient) => Promise<T>): Promise<T>; ok(line: string): string; close(): void } {
  let probe: LineClient | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  return {
    ask<T>(fn: (c: LineClient) => Promise<T>): Promise<T> {
      const run = chain.then(async () => {
        if (probe === null) {
          probe = await connectLines(port(), host);
          await probe.read();
        }
        return fn(probe);
      });
      chain = run.catch(() => {});
      return run;
    },
    ok(line: string): string {
      if (!line.startsWith('+OK')) throw new Error(`probe: ${line}`);
      return line.slice(3).trim();
    },
    close(): void {
      probe?.close();
    },
  };
}

/** Run a child process with a timeout (killed at it); resolves its exit code and output. */
export function runProcess(cmd: string, args: string[], o: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...o.env }, timeout: o.timeoutMs ?? 30_000, maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
      resolve({ code: e === null ? 0 : Number((e as { code?: number }).code ?? 1), stdout, stderr });
    });
    child.stdin?.end(o.input);
  });
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` pseudo-random bytes drawn from `rnd` (a `prng`). */
export function prngBytes(rnd: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** The seed of a randomized test: POSTERN_TEST_SEED when set (to replay a failure), else fresh. */
export function testSeed(): number {
  const env = process.env.POSTERN_TEST_SEED;
  if (env === undefined || env === '') return randomInt(0, 2 ** 32);
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new Error(`POSTERN_TEST_SEED must be an integer in [0, 2^32), not ${env}`);
  return n;
}

/** Run a randomized test body with its seed and a PRNG drawn from it. The seed is reported as
 * a diagnostic, and a failure names it: `POSTERN_TEST_SEED=<seed>` runs the same choices again. */
export async function withSeed<T>(t: { diagnostic(message: string): void }, fn: (rnd: () => number, seed: number) => Promise<T>): Promise<T> {
  const seed = testSeed();
  t.diagnostic(`seed ${seed} (replay: POSTERN_TEST_SEED=${seed})`);
  try {
    return await fn(prng(seed), seed);
  } catch (e) {
    const note = `[seed ${seed}: replay with POSTERN_TEST_SEED=${seed}]`;
    process.stderr.write(`${note}\n`);
    if (e instanceof Error) e.message = `${e.message} ${note}`;
    throw e;
  }
}

/**
 * A line to fd 1, written synchronously: for a child process that a test kills with SIGKILL.
 * Not process.stdout, which is asynchronous to a pipe (a line waiting in the child is lost at the
 * kill while the child has moved on past it); fd 1 stays blocking as long as process.stdout is
 * never opened, so the write waits for the parent and a printed line happened before what follows.
 */
export function writeLineSync(line: string): void {
  const b = Buffer.from(`${line}\n`);
  for (let off = 0; off < b.length;) {
    try {
      off += fs.writeSync(1, b, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

/** A host whose accept queue is full: Python's listen(0) on host:port that never accepts, its
 * queue filled by connects until one does not complete within 300 ms. A further connect then
 * neither succeeds nor fails (the kernel drops its SYNs) until the client's own timeout: the
 * "connect timeout" case. `close()` ends the listener and the fillers. */
export async function fullAcceptQueue(host: string, port: number): Promise<{ close(): void }> {
  const py = spawn('python3', ['-c', `import socket,time\ns=socket.socket()\ns.bind((${JSON.stringify(host)},${port}))\ns.listen(0)\nprint('ready',flush=True)\ntime.sleep(120)`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const fillers: net.Socket[] = [];
  const close = (): void => {
    for (const c of fillers) c.destroy();
    py.kill('SIGKILL');
  };
  try {
    await new Promise<void>((resolve, reject) => {
      py.stdout!.once('data', () => resolve());
      py.once('exit', (c) => reject(new Error(`python exited ${c}`)));
    });
    for (let i = 0; i < 16; i++) {
      const c = net.connect(port, host);
      c.on('error', () => {});
      fillers.push(c);
      const done = await new Promise<boolean>((r) => {
        const t = setTimeout(() => r(false), 300);
        c.once('connect', () => (clearTimeout(t), r(true)));
      });
      if (!done) break;
    }
  } catch (e) {
    close();
    throw e;
  }
  return { close };
}

