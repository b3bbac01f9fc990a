/**
 * test/helpers.ts: small shared pieces for the behaviour tests: temp dirs, a line client on a
 * real socket, polling, and HTTP JSON.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';

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
