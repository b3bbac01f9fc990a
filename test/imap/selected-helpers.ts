/**
 * test/imap/selected-helpers.ts: a running server with the IMAP and POP3 services and the store
 * probe (deliveries as SMTP makes them: a store append), a raw IMAP client on a real socket that
 * reads whole responses (literals by their byte count), and the Python runner.
 */
import net from 'node:net';
import { startServer, type Server } from '../../actors/server.ts';
import { probeLink, tmpDir } from '../helpers.ts';
import { TEST_PROBE } from '../fixtures/test-services.ts';

export { python } from '../pop3/helpers.ts';

export interface ImapEnv {
  server: Server;
  port: number;
  pop3Port: number;
  deliver(address: string, text: string, folder?: string): Promise<number>;
  bulk(address: string, count: number, size: number): Promise<void>;
  addUser(address: string, password: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startImap(o: { imap?: string; server?: string; threads?: string } = {}): Promise<ImapEnv> {
  const dir = tmpDir('postern-imapsel-');
  const configText = `
Server {
    services = (imap pop3 testProbe)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    ${o.server ?? ''}
    imap = {
        listeners = ( { address = 127.0.0.1:0 } )
        ${o.threads ?? 'minConnThreads = 1 maxConnThreads = 1'}
        authFailureDelay = 0
        ${o.imap ?? ''}
    }
    pop3 = {
        listeners = ( { address = 127.0.0.1:0 } )
        minConnThreads = 1
        maxConnThreads = 1
        authFailureDelay = 0
    }
    testProbe = { listeners = ( { address = 127.0.0.3:0 } ) }
}`;
  const server = await startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: false, testServices: [TEST_PROBE], backoffInitialMs: 100, loadIntervalMs: 200 });
  const link = probeLink(() => server.port('testProbe'), '127.0.0.3');
  const { ask, ok } = link;
  return {
    server,
    port: server.port('imap', 0),
    pop3Port: server.port('pop3', 0),
    deliver: (address, text, folder = 'INBOX') =>
      ask(async (c) => {
        const b = Buffer.from(text);
        c.socket.write(`APPEND ${address} ${folder} ${b.length}\r\n`);
        c.socket.write(b);
        return Number(ok(await c.read(20_000)));
      }),
    bulk: (address, count, size) => ask(async (c) => void ok(await c.cmd(`BULK ${address} INBOX ${count} ${size}`, 120_000))),
    addUser: async (address, password) => void (await server.admin('account.add', { address, password })),
    stop: async () => {
      link.close();
      await server.stop();
    },
  };
}

export function message(subject: string, body = 'Hello.\r\n'): string {
  return `From: Sender <sender@example.org>\r\nTo: user@example.org\r\nSubject: ${subject}\r\nDate: Sun, 06 Dec 2026 07:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\n\r\n${body}`;
}

/** A raw IMAP client: `run` sends a command and gathers every line up to its tagged reply. */
export interface ImapClient {
  socket: net.Socket;
  /** Send `line` (tag added) and read until the tagged reply: [untagged lines…, tagged line]. */
  run(line: string, timeoutMs?: number): Promise<string[]>;
  /** Send raw bytes. */
  send(text: string): void;
  /** The next response line (a literal's bytes are inlined), waiting up to `timeoutMs`. */
  line(timeoutMs?: number): Promise<string>;
  /** Bytes received so far and not yet read as lines. */
  readonly pending: number;
  close(): void;
}

export async function imap(port: number, user?: string, password = 'pw'): Promise<ImapClient> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((ok, fail) => {
    socket.once('connect', ok);
    socket.once('error', fail);
  });
  let buf = Buffer.alloc(0);
  let waiter: (() => void) | null = null;
  let closed = false;
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    waiter?.();
  });
  socket.on('close', () => {
    closed = true;
    waiter?.();
  });
  socket.on('error', () => {});
  let n = 0;
  /** One response line: literals `{n}` are read by count and inlined. */
  const line = async (timeoutMs = 10_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    let out = '';
    let at = 0; // scan position in buf
    for (;;) {
      const i = buf.indexOf('\r\n', at);
      if (i >= 0) {
        const part = buf.subarray(0, i).toString('latin1');
        const lit = /\{(\d+)\}$/.exec(part);
        if (lit !== null) {
          const len = Number(lit[1]);
          if (buf.length >= i + 2 + len) {
            out += part + '\r\n' + buf.subarray(i + 2, i + 2 + len).toString('latin1');
            buf = buf.subarray(i + 2 + len);
            at = 0;
            continue;
          }
        } else {
          buf = buf.subarray(i + 2);
          return out + part;
        }
      }
      if (closed) throw new Error(`connection closed (had: ${out}${buf.toString('latin1')})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`read timeout (had: ${out}${buf.toString('latin1')})`);
      await new Promise<void>((ok) => {
        const t = setTimeout(ok, left);
        waiter = () => {
          clearTimeout(t);
          waiter = null;
          ok();
        };
      });
    }
  };
  const c: ImapClient = {
    socket,
    send: (text) => void socket.write(text),
    line,
    get pending() {
      return buf.length;
    },
    async run(cmdLine, timeoutMs = 10_000) {
      const tag = `t${++n}`;
      socket.write(`${tag} ${cmdLine}\r\n`);
      const out: string[] = [];
      for (;;) {
        const l = await line(timeoutMs);
        out.push(l);
        if (l.startsWith(`${tag} `)) return out;
      }
    },
    close: () => socket.destroy(),
  };
  const greeting = await line();
  if (!greeting.startsWith('* OK')) throw new Error(`greeting: ${greeting}`);
  if (user !== undefined) {
    const r = await c.run(`LOGIN ${user} ${password}`);
    if (!/^t\d+ OK/.test(r[r.length - 1]!)) throw new Error(`login: ${r.join(' | ')}`);
  }
  return c;
}

/** The tagged line of a `run` result. */
export const tagged = (r: string[]): string => r[r.length - 1]!.replace(/^t\d+ /, '');
/** The untagged lines of a `run` result. */
export const untagged = (r: string[]): string[] => r.slice(0, -1);
