/**
 * test/smtp/helpers.ts: what the SMTP and processing tests share: a server running
 * smtpIncoming + processing on port 0 (with a self-signed certificate for STARTTLS), Python
 * run asynchronously (the server lives in this process: a synchronous child would block it),
 * an SMTP reply reader on a raw socket (multi-line replies), polling for delivery, and reading
 * a mailbox's messages straight from the store once the server has stopped.
 */
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { execFile, execFileSync } from 'node:child_process';
import { startServer, type Server } from '../../actors/server.ts';
import { Store } from '../../src/store/store.ts';
import { tmpDir, waitFor } from '../helpers.ts';

export interface TestServer {
  server: Server;
  dir: string;
  port: number;
  cert: string;
  key: string;
  stop(): Promise<void>;
}

let certs: { cert: string; key: string } | null = null;

export function testCert(): { cert: string; key: string } {
  if (certs !== null) return certs;
  const dir = tmpDir('postern-smtp-cert-');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  certs = { cert, key };
  return certs;
}

/** A server with smtpIncoming (`smtp` attributes added to its block) and processing. */
export async function startSmtpServer(o: { smtp?: string; processing?: string; listener?: string; controlSocket?: boolean; dir?: string } = {}): Promise<TestServer> {
  const { cert, key } = testCert();
  const dir = o.dir ?? tmpDir('postern-smtp-');
  const configText = `
Server {
    services = (smtpIncoming processing)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    smtpIncoming = {
        listeners = ( { address = 127.0.0.1:0 sslControl = { certFile = "${cert}" keyFile = "${key}" } ${o.listener ?? ''} } )
        ${o.smtp ?? ''}
    }
    processing = {
        ${o.processing ?? ''}
    }
}`;
  const server = await startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: o.controlSocket ?? false });
  return { server, dir, port: server.port('smtpIncoming'), cert, key, stop: () => server.stop() };
}

/** Run a Python script; resolves with its output whatever the exit code. */
export function python(script: string, timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('python3', ['-c', script], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

export function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

export async function messageCount(server: Server, address: string): Promise<number> {
  const list = (await server.admin('account.list', {})) as Array<{ address: string; messages: number }>;
  return list.find((a) => a.address === address)?.messages ?? 0;
}

export async function waitMessages(server: Server, address: string, n: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => (await messageCount(server, address)) >= n, timeoutMs, `${n} messages for ${address}`);
}

export async function queueList(server: Server): Promise<Array<Record<string, unknown>>> {
  return (await server.admin('queue.list', {})) as Array<Record<string, unknown>>;
}

/** The messages of a mailbox's INBOX, read from the store of a stopped server. */
export async function readInbox(dir: string, address: string): Promise<string[]> {
  const store = await new Store({ dataDir: dir, compactIntervalMs: 0 }).open();
  try {
    const mb = store.mailbox(address);
    const out: string[] = [];
    for (const m of await mb.list('INBOX')) out.push(Buffer.from((await mb.fetch('INBOX', m.uid)).body).toString('utf8'));
    return out;
  } finally {
    await store.close();
  }
}

/** An SMTP client on a raw socket: write anything, read whole (multi-line) replies. */
export interface RawSmtp {
  socket: net.Socket;
  /** The 220 line the server greeted with. */
  greeting: string;
  write(data: string | Buffer): void;
  /** The next reply: its code and its lines' texts (without "250-"). */
  reply(timeoutMs?: number): Promise<{ code: number; lines: string[]; text: string }>;
  /** Write a command line and read its reply. */
  cmd(line: string, timeoutMs?: number): Promise<{ code: number; lines: string[]; text: string }>;
  /** Switch to TLS on the same connection (after 220 to STARTTLS). */
  upgrade(): Promise<void>;
  closed: Promise<void>;
  close(): void;
}

export function rawSmtp(port: number, localAddress?: string): Promise<RawSmtp> {
  return new Promise((resolve, reject) => {
    const opts: net.NetConnectOpts = { port, host: '127.0.0.1' };
    if (localAddress !== undefined) opts.localAddress = localAddress;
    let sock: net.Socket = net.connect(opts);
    let buf = '';
    const lines: string[] = [];
    const waiters: Array<() => void> = [];
    let ended = false;
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i).replace(/\r$/, ''));
        buf = buf.slice(i + 1);
      }
      for (const w of waiters.splice(0)) w();
    };
    const onClose = (): void => {
      ended = true;
      resolveClosed();
      for (const w of waiters.splice(0)) w();
    };
    sock.on('data', onData);
    sock.on('close', onClose);
    sock.on('error', (e) => reject(e));
    const nextLine = async (timeoutMs: number): Promise<string> => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const l = lines.shift();
        if (l !== undefined) return l;
        if (ended) throw new Error('connection closed');
        const left = until - Date.now();
        if (left <= 0) throw new Error('reply timeout');
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => (clearTimeout(t), r()));
        });
      }
    };
    const c: RawSmtp = {
      greeting: '',
      get socket() {
        return sock;
      },
      write: (d) => void sock.write(d),
      async reply(timeoutMs = 5000) {
        const out: string[] = [];
        for (;;) {
          const l = await nextLine(timeoutMs);
          out.push(l.slice(4));
          if (l[3] !== '-') return { code: Number(l.slice(0, 3)), lines: out, text: l };
        }
      },
      async cmd(line, timeoutMs) {
        sock.write(`${line}\r\n`);
        return c.reply(timeoutMs);
      },
      upgrade() {
        return new Promise((ok, fail) => {
          sock.off('data', onData);
          sock.off('close', onClose);
          buf = '';
          lines.length = 0;
          const t = tls.connect({ socket: sock, rejectUnauthorized: false, servername: 'localhost' }, () => ok());
          t.on('error', fail);
          t.on('data', onData);
          t.on('close', onClose);
          sock = t;
        });
      },
      closed,
      close: () => sock.destroy(),
    };
    sock.once('connect', async () => {
      try {
        const greeting = await c.reply();
        if (greeting.code !== 220) throw new Error(`greeting: ${greeting.text}`);
        c.greeting = greeting.text;
        resolve(c);
      } catch (e) {
        reject(e);
      }
    });
  });
}

export function cleanup(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
