/**
 * test/cli/helpers.ts: a running server with the `cli` service (and whatever else a test
 * asks for), its admin password set; a raw CLI client on a real socket that reads whole
 * answers the way the seed's clients do (until the status line and the prompt, the seed regex
 * `((\+OK)|(-ERR)):.*\r\n<([A-Za-z0-9\-]*#?)> `) and ASSERTS that regex on every answer it
 * reads (an answer that closes the session ends with its status line and the close); and a
 * runner for Python scripts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { startServer, type Server } from '../../actors/server.ts';
import { getJson, tmpDir } from '../helpers.ts';
import type { StatusDoc } from '../../src/status/types.ts';

export const ADMIN_PASSWORD = 'cli-secret';
/** The seed clients' reply regex (axigen automation-tools lib/cli2.py), anchored at the end. */
export const REPLY_RE = /((\+OK)|(-ERR)):.*\r\n<([A-Za-z0-9-]*#?)> $/;
/** The end of the first whole answer in what was received. */
const FIRST_RE = /(?:^|\r\n)(?:\+OK|-ERR):[^\r\n]*\r\n<[A-Za-z0-9-]*#?> /;
/** The status line of an answer that closes the session. */
const CLOSING_RE = /((\+OK)|(-ERR)):.*\r\n$/;

export interface CliEnv {
  server: Server;
  dir: string;
  port: number;
  status(): Promise<StatusDoc>;
  stop(): Promise<void>;
}

export interface CliEnvOptions {
  /** Extra attributes inside `cli = { … }`. */
  cli?: string;
  /** Extra attributes of the CLI listener. */
  listener?: string;
  services?: string[];
  /** Extra blocks of the Server. */
  blocks?: string;
}

export async function startCli(o: CliEnvOptions = {}): Promise<CliEnv> {
  const dir = tmpDir('postern-cli-');
  const configText = `
Server {
    services = (cli ${(o.services ?? []).join(' ')})
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    cli = {
        listeners = ( { address = 127.0.0.1:0 ${o.listener ?? ''} } )
        minConnThreads = 1
        maxConnThreads = 1
        authFailureDelay = 0
        ${o.cli ?? ''}
    }
    ${o.blocks ?? ''}
}`;
  const server = await startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: false, backoffInitialMs: 100, loadIntervalMs: 200 });
  await server.admin('admin.passwd', { password: ADMIN_PASSWORD });
  return {
    server,
    dir,
    port: server.port('cli'),
    status: () => getJson(`http://127.0.0.1:${server.statusPort}/status`) as Promise<StatusDoc>,
    stop: () => server.stop(),
  };
}

export interface Answer {
  /** The whole answer as received. */
  raw: string;
  /** '+OK' or '-ERR'. */
  status: '+OK' | '-ERR';
  /** The status line's text after `+OK: ` / `-ERR: `. */
  text: string;
  /** The output lines before the status line. */
  lines: string[];
  /** The prompt after it (`<server-pop3#> `); '' when the session closed. */
  prompt: string;
}

export interface CliClient {
  socket: net.Socket;
  banner: Answer;
  /** Send a line (CRLF added) and read its answer. */
  cmd(line: string, timeoutMs?: number): Promise<Answer>;
  send(data: string | Buffer): void;
  /** Read the next answer (the regex is asserted on it). */
  read(timeoutMs?: number): Promise<Answer>;
  /** Bytes received and not yet taken as an answer. */
  pending(): Buffer;
  closed: Promise<void>;
  isClosed(): boolean;
  close(): void;
  /** Every answer read so far. */
  answers: Answer[];
}

function parse(raw: string): Answer {
  const closing = !REPLY_RE.test(raw);
  assert.match(raw, closing ? CLOSING_RE : REPLY_RE, `an answer not in the seed's format: ${JSON.stringify(raw)}`);
  const lines = raw.split('\r\n');
  const prompt = closing ? '' : lines.pop()!;
  if (closing) lines.pop();
  const statusLine = lines.pop()!;
  const m = /^(\+OK|-ERR): ?(.*)$/.exec(statusLine)!;
  return { raw, status: m[1] as '+OK' | '-ERR', text: m[2]!, lines, prompt };
}

export function connectCli(port: number, host = '127.0.0.1', localAddress?: string): Promise<CliClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, ...(localAddress === undefined ? {} : { localAddress }) });
    let buf = Buffer.alloc(0);
    let ended = false;
    let wake: (() => void) | null = null;
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      wake?.();
    });
    socket.on('close', () => {
      ended = true;
      resolveClosed();
      wake?.();
    });
    socket.on('error', (e) => {
      if (!connected) reject(e);
    });
    let connected = false;
    const answers: Answer[] = [];
    const read = async (timeoutMs = 10_000): Promise<Answer> => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const text = buf.toString('utf8');
        const m = FIRST_RE.exec(text); // (pipelined answers: the first one)
        if (m !== null || (ended && text.length > 0)) {
          const end = m === null ? text.length : m.index + m[0].length;
          buf = Buffer.from(text.slice(end), 'utf8');
          const a = parse(text.slice(0, end));
          answers.push(a);
          return a;
        }
        if (ended) throw new Error('connection closed without an answer');
        const left = until - Date.now();
        if (left <= 0) throw new Error(`no whole answer within ${timeoutMs} ms; got ${JSON.stringify(text)}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          wake = () => {
            clearTimeout(t);
            wake = null;
            r();
          };
        });
      }
    };
    socket.on('connect', async () => {
      connected = true;
      try {
        const banner = await read();
        resolve({
          socket,
          banner,
          answers,
          read,
          send: (d) => void socket.write(d),
          cmd: (line, t) => {
            socket.write(`${line}\r\n`);
            return read(t);
          },
          pending: () => buf,
          closed,
          isClosed: () => ended,
          close: () => socket.destroy(),
        });
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** A client logged in as admin, at the root context. */
export async function loggedIn(port: number, host = '127.0.0.1'): Promise<CliClient> {
  const c = await connectCli(port, host);
  const u = await c.cmd('USER admin');
  assert.equal(u.prompt, '<password> ');
  const p = await c.cmd(ADMIN_PASSWORD);
  assert.equal(p.status, '+OK', p.raw);
  assert.equal(p.prompt, '<#> ');
  return c;
}

/** Send each command and expect its status and prompt; returns the answers. */
export async function script(c: CliClient, steps: ReadonlyArray<readonly [string, '+OK' | '-ERR', string]>): Promise<Answer[]> {
  const out: Answer[] = [];
  for (const [line, status, prompt] of steps) {
    const a = await c.cmd(line);
    assert.equal(a.status, status, `${line}: ${a.raw}`);
    assert.equal(a.prompt, prompt, `${line}: ${a.raw}`);
    out.push(a);
  }
  return out;
}

/** Run a Python 3 script with arguments; its stdout parsed as JSON. */
export function python(code: string, args: string[], timeoutMs = 60_000): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', code, ...args], { timeout: timeoutMs }, (e, stdout, stderr) => {
      if (e !== null) reject(new Error(`python failed: ${String(e)}\n${stderr}\n${stdout}`));
      else {
        try {
          resolve(JSON.parse(stdout));
        } catch {
          reject(new Error(`python printed no JSON: ${stdout}\n${stderr}`));
        }
      }
    });
  });
}
