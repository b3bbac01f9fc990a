/**
 * test/pop3/helpers.ts: a running server with the POP3 service (and the store probe fixture in
 * a test-only slot, testProbe, to deliver mail and read flags while POP3 sessions are open), a raw POP3
 * client on a real socket, and a runner for Python scripts (poplib) and curl.
 */
import { execFile, execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { startServer, type Server } from '../../actors/server.ts';
import { connectLines, probeLink, tmpDir, type LineClient } from '../helpers.ts';
import { TEST_PROBE } from '../fixtures/test-services.ts';



export interface Pop3Env {
  server: Server;
  dir: string;
  /** The plain listener (STLS available: it has a certificate). */
  port: number;
  /** The implicit-TLS listener. */
  tlsPort: number;
  deliver(address: string, text: string): Promise<number>;
  bulk(address: string, count: number, size: number): Promise<void>;
  flags(address: string, uid: number): Promise<string[] | null>;
  uids(address: string): Promise<number[]>;
  addUser(address: string, password: string, more?: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export interface Pop3EnvOptions {
  /** Extra attributes inside `pop3 = { … }`. */
  pop3?: string;
  /** Extra Server-level attributes. */
  server?: string;
  /** Extra attributes of the plain listener. */
  listener?: string;
  /** Extra attributes of the implicit-TLS listener. */
  tlsListener?: string;
}

export async function startPop3(o: Pop3EnvOptions = {}): Promise<Pop3Env> {
  const dir = tmpDir('postern-pop3-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const ssl = `sslControl = { certFile = "${cert}" keyFile = "${key}" }`;
  const configText = `
Server {
    services = (pop3 testProbe)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    enableFaultInjection = yes
    ${o.server ?? ''}
    pop3 = {
        listeners = (
            { address = 127.0.0.1:0 ${ssl} ${o.listener ?? ''} }
            { address = 127.0.0.2:0 sslEnable = yes ${ssl} ${o.tlsListener ?? ''} }
        )
        minConnThreads = 1
        maxConnThreads = 1
        ${/authFailureDelay/.test(o.pop3 ?? '') ? '' : 'authFailureDelay = 0'}
        ${o.pop3 ?? ''}
    }
    testProbe = { listeners = ( { address = 127.0.0.3:0 } ) }
}`;
  const server = await startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: false, testServices: [TEST_PROBE], backoffInitialMs: 100, loadIntervalMs: 200 });
  const link = probeLink(() => server.port('testProbe'), '127.0.0.3');
  const { ask, ok } = link;
  return {
    server,
    dir,
    port: server.port('pop3', 0),
    tlsPort: server.port('pop3', 1),
    deliver: (address, text) => ask(async (c) => {
      const b = Buffer.from(text);
      c.socket.write(`APPEND ${address} INBOX ${b.length}\r\n`);
      c.socket.write(b);
      return Number(ok(await c.read(20_000)));
    }),
    bulk: (address, count, size) => ask(async (c) => void ok(await c.cmd(`BULK ${address} INBOX ${count} ${size}`, 120_000))),
    flags: (address, uid) => ask(async (c) => {
      const l = await c.cmd(`FLAGS ${address} ${uid}`);
      return l.startsWith('-ERR') ? null : ok(l).split(' ').filter((x) => x !== '');
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

/** Run a Python script; resolves its stdout (rejects with stderr on a non-zero exit). */
export function python(script: string, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', script], { env: { ...process.env, ...env }, timeout: timeoutMs }, (e, stdout, stderr) => {
      if (e !== null) reject(new Error(`python failed: ${e.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

export function curl(args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', ...args], { timeout: timeoutMs, maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
      resolve({ code: e === null ? 0 : Number((e as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

/** A raw POP3 client: lines, multi-line responses, the socket itself. */
export interface Pop3Client extends LineClient {
  /** Read a multi-line response after its +OK line: the lines, dot-unstuffed, without ".". */
  readMulti(timeoutMs?: number): Promise<string[]>;
  login(user: string, password: string): Promise<string>;
}

export async function pop3(port: number, host = '127.0.0.1', localAddress?: string): Promise<Pop3Client> {
  const c = (await connectLines(port, host, localAddress)) as Pop3Client;
  const greeting = await c.read();
  if (!greeting.startsWith('+OK')) throw new Error(`greeting: ${greeting}`);
  c.readMulti = async (timeoutMs = 10_000) => {
    const out: string[] = [];
    for (;;) {
      const l = await c.read(timeoutMs);
      if (l === '.') return out;
      out.push(l.startsWith('.') ? l.slice(1) : l);
    }
  };
  c.login = async (user, password) => {
    const u = await c.cmd(`USER ${user}`);
    if (!u.startsWith('+OK')) return u;
    return c.cmd(`PASS ${password}`);
  };
  return c;
}

/** Bytes until the server closes the connection. */
export function readAll(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer | string) => chunks.push(typeof d === 'string' ? Buffer.from(d) : d));
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}
