/**
 * test/imap/core-helpers.ts: a running server with the IMAP service (a plain listener with a
 * certificate for STARTTLS, and an implicit-TLS one) and the store probe fixture (testProbe)
 * to deliver mail and read what the store holds; a raw IMAP client on a real socket (tagged
 * commands, their untagged lines, literals); Python's imaplib through `python()`.
 */
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { startServer, type Server } from '../../actors/server.ts';
import { probeLink, tmpDir } from '../helpers.ts';
import { TEST_PROBE } from '../fixtures/test-services.ts';

export { python } from '../pop3/helpers.ts';

export interface ImapEnv {
  server: Server;
  dir: string;
  /** The plain listener (STARTTLS available: it has a certificate). */
  port: number;
  /** The implicit-TLS listener. */
  tlsPort: number;
  deliver(address: string, text: string, folder?: string): Promise<number>;
  uids(address: string): Promise<number[]>;
  addUser(address: string, password: string, more?: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export interface ImapEnvOptions {
  /** Extra attributes inside `imap = { … }`. */
  imap?: string;
  /** Extra attributes of the plain listener. */
  listener?: string;
  /** Extra attributes of the implicit-TLS listener. */
  tlsListener?: string;
  /** The data directory (default: a new one): a server started again on the same one. */
  dir?: string;
}

export async function startImap(o: ImapEnvOptions = {}): Promise<ImapEnv> {
  const dir = o.dir ?? tmpDir('postern-imap-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const ssl = `sslControl = { certFile = "${cert}" keyFile = "${key}" }`;
  const configText = `
Server {
    services = (imap testProbe)
    primaryDomain = "example.org"
    hostname = "mail.example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    enableFaultInjection = yes
    imap = {
        listeners = (
            { address = 127.0.0.1:0 ${ssl} ${o.listener ?? ''} }
            { address = 127.0.0.2:0 sslEnable = yes ${ssl} ${o.tlsListener ?? ''} }
        )
        minConnThreads = 1
        maxConnThreads = 1
        ${/authFailureDelay/.test(o.imap ?? '') ? '' : 'authFailureDelay = 0'}
        ${o.imap ?? ''}
    }
    testProbe = { listeners = ( { address = 127.0.0.3:0 } ) }
}`;
  const server = await startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: false, testServices: [TEST_PROBE], backoffInitialMs: 100, loadIntervalMs: 200 });
  const link = probeLink(() => server.port('testProbe'), '127.0.0.3');
  const { ask, ok } = link;
  return {
    server,
    dir,
    port: server.port('imap', 0),
    tlsPort: server.port('imap', 1),
    deliver: (address, text, folder = 'INBOX') => ask(async (c) => {
      const b = Buffer.from(text);
      c.socket.write(`APPEND ${address} ${folder} ${b.length}\r\n`);
      c.socket.write(b);
      return Number(ok(await c.read(20_000)));
    }),
    uids: (address) => ask(async (c) => ok(await c.cmd(`UIDS ${address}`)).split(' ').filter((x) => x !== '').map(Number)),
    addUser: async (address, password, more = {}) => void (await server.admin('account.add', { address, password, ...more })),
    stop: async () => {
      link.close();
      await server.stop();
    },
  };
}

export function message(subject: string, bodyText = 'Hello.\r\n'): string {
  return `From: sender@example.org\r\nTo: user@example.org\r\nSubject: ${subject}\r\n\r\n${bodyText}`;
}

/** A tagged command's answer: the untagged lines (and continuation requests) before the tagged one. */
export interface Answer {
  untagged: string[];
  tagged: string;
}

/** A raw IMAP client: the socket, lines, tagged commands. */
export interface ImapClient {
  socket: net.Socket;
  greeting: string;
  /** Next line (without CRLF); rejects on close or timeout. */
  read(timeoutMs?: number): Promise<string>;
  /** Send raw bytes. */
  write(data: string | Buffer): void;
  /** Send `tag command` and read to the line starting with the tag. */
  run(command: string, tag?: string, timeoutMs?: number): Promise<Answer>;
  /** Read lines up to the one starting with `tag `. */
  until(tag: string, timeoutMs?: number): Promise<Answer>;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  close(): void;
}

let tags = 0;

/** Lines from a byte stream (a socket, or a stream over it: TLS, inflate). */
export function lineReader(src: NodeJS.EventEmitter): { read(timeoutMs?: number): Promise<string>; closed: Promise<void> } {
  let buf = '';
  const lines: string[] = [];
  const waiters: Array<{ ok: (l: string) => void; fail: (e: Error) => void }> = [];
  let ended = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  src.on('data', (d: Buffer | string) => {
    buf += typeof d === 'string' ? d : d.toString('latin1');
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
    if (ended) return;
    ended = true;
    for (const w of waiters.splice(0)) w.fail(new Error('connection closed'));
    resolveClosed();
  };
  src.on('close', onEnd);
  src.on('end', onEnd);
  src.on('error', onEnd);
  return {
    closed,
    read(timeoutMs = 10_000) {
      const l = lines.shift();
      if (l !== undefined) return Promise.resolve(l);
      if (ended) return Promise.reject(new Error('connection closed'));
      return new Promise((ok, fail) => {
        const t = setTimeout(() => fail(new Error('read timeout')), timeoutMs);
        waiters.push({ ok: (x) => (clearTimeout(t), ok(x)), fail: (e) => (clearTimeout(t), fail(e)) });
      });
    },
  };
}

export function imapOn(socket: net.Socket, src: NodeJS.EventEmitter = socket, write: (d: string | Buffer) => void = (d) => socket.write(d)): Omit<ImapClient, 'greeting'> {
  const r = lineReader(src);
  const c = {
    socket,
    read: r.read,
    closed: r.closed,
    write,
    async until(tag: string, timeoutMs = 10_000): Promise<Answer> {
      const untagged: string[] = [];
      for (;;) {
        const l = await r.read(timeoutMs);
        if (l.startsWith(`${tag} `)) return { untagged, tagged: l };
        untagged.push(l);
      }
    },
    run(command: string, tag = `t${++tags}`, timeoutMs = 10_000): Promise<Answer> {
      write(`${tag} ${command}\r\n`);
      return c.until(tag, timeoutMs);
    },
    close(): void {
      socket.destroy();
    },
  };
  return c;
}

export async function imap(port: number, host = '127.0.0.1'): Promise<ImapClient> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port, host }, () => resolve(s));
    s.once('error', reject);
  });
  const c = imapOn(socket);
  const greeting = await c.read();
  return { ...c, greeting };
}
