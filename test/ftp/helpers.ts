/**
 * test/ftp/helpers.ts: a running server with the ftpBackup service (its listener has a
 * certificate, so AUTH TLS works) and a store probe (test/fixtures/store-probe.ts) in a test-only
 * slot, testProbe, to put mail in and read it back; a raw FTP control client on a real socket; runners
 * for Python (ftplib, poplib), curl and lftp.
 */
import { execFile, execFileSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { startServer, type Server } from '../../actors/server.ts';
import { connectLines, probeLink, tmpDir, type LineClient } from '../helpers.ts';
import { TEST_PROBE } from '../fixtures/test-services.ts';


export const ADMIN_PASSWORD = 'backup-secret';

export interface FtpEnv {
  server: Server;
  dir: string;
  port: number;
  /** Append a message (at `at`: its internal date and flags), resolving its UID. */
  deliver(address: string, folder: string, text: string | Buffer, at?: { date: number; flags?: string[] }): Promise<number>;
  bulk(address: string, folder: string, count: number, size: number): Promise<void>;
  mkfolder(address: string, folder: string): Promise<void>;
  /** folder → [uid, size, sha256, internalDate] of every message. */
  digest(address: string): Promise<Record<string, Array<[number, number, string, number]>>>;
  /** folder → [uid, sorted flags] of every message. */
  allFlags(address: string): Promise<Record<string, Array<[number, string[]]>>>;
  stop(): Promise<void>;
}

export interface FtpEnvOptions {
  /** Extra attributes inside `ftpBackup = { … }`. */
  ftp?: string;
  /** Extra attributes of the FTP listener. */
  listener?: string;
  /** More FTP listeners (objects in the config syntax). */
  moreListeners?: string;
  /** Extra services (e.g. pop3) and their blocks. */
  services?: string[];
  blocks?: string;
  /** Set the admin password (default true). */
  admin?: boolean;
}

export function makeCert(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  return { cert, key };
}

export async function startFtp(o: FtpEnvOptions = {}): Promise<FtpEnv> {
  const dir = tmpDir('postern-ftp-');
  const { cert, key } = makeCert(dir);
  const configText = `
Server {
    services = (ftpBackup testProbe ${(o.services ?? []).join(' ')})
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    ftpBackup = {
        listeners = ( { address = 127.0.0.1:0 sslControl = { certFile = "${cert}" keyFile = "${key}" } ${o.listener ?? ''} } ${o.moreListeners ?? ''} )
        minConnThreads = 1
        maxConnThreads = 1
        ${o.ftp ?? ''}
    }
    testProbe = { listeners = ( { address = 127.0.0.3:0 } ) }
    ${o.blocks ?? ''}
}`;
  const server = await startServer({ configText, dataDir: dir, statusPort: 0, controlSocket: false, testServices: [TEST_PROBE], backoffInitialMs: 100, loadIntervalMs: 200 });
  if (o.admin !== false) await server.admin('admin.passwd', { password: ADMIN_PASSWORD });
  const link = probeLink(() => server.port('testProbe'), '127.0.0.3');
  const { ask, ok } = link;
  return {
    server,
    dir,
    port: server.port('ftpBackup'),
    deliver: (address, folder, text, at) => ask(async (c) => {
      const b = Buffer.from(text);
      const extra = at === undefined ? '' : ` ${at.date}${(at.flags ?? []).map((f) => ` ${f}`).join('')}`;
      c.socket.write(`APPEND ${address} ${folder} ${b.length}${extra}\r\n`);
      c.socket.write(b);
      return Number(ok(await c.read(20_000)));
    }),
    bulk: (address, folder, count, size) => ask(async (c) => void ok(await c.cmd(`BULK ${address} ${folder} ${count} ${size}`, 120_000))),
    mkfolder: (address, folder) => ask(async (c) => void ok(await c.cmd(`MKFOLDER ${address} ${folder}`))),
    digest: (address) => ask(async (c) => JSON.parse(ok(await c.cmd(`DIGEST ${address}`, 60_000)))),
    allFlags: (address) => ask(async (c) => JSON.parse(ok(await c.cmd(`ALLFLAGS ${address}`, 60_000)))),
    stop: async () => {
      link.close();
      await server.stop();
    },
  };
}

export function message(subject: string, bodyText = 'Hello.\r\n'): string {
  return `From: sender@example.org\r\nTo: user@example.org\r\nSubject: ${subject}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n${bodyText}`;
}

/** Run a program; resolves its stdout (rejects with stderr on a non-zero exit). */
export function run(cmd: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 30_000, cwd: opts.cwd, maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
      if (e !== null) reject(new Error(`${cmd} failed: ${e.message}\n${stderr}\n${stdout}`));
      else resolve(stdout);
    });
  });
}

/** Run a Python script with PORT and PW (the admin password) in its environment. */
export function python(script: string, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<string> {
  return run('python3', ['-c', script], { env: { PW: ADMIN_PASSWORD, ...env }, timeoutMs });
}

/** A raw FTP control connection: `cmd` sends a line and reads one whole reply (multi-line
 * replies joined with \n). */
export interface FtpClient extends LineClient {
  reply(timeoutMs?: number): Promise<string>;
  ftp(line: string, timeoutMs?: number): Promise<string>;
  login(): Promise<void>;
}

export async function connectFtp(port: number, host = '127.0.0.1', localAddress?: string): Promise<FtpClient> {
  const c = (await connectLines(port, host, localAddress)) as FtpClient;
  c.reply = async (timeoutMs = 10_000) => {
    const first = await c.read(timeoutMs);
    if (!/^\d{3}-/.test(first)) return first;
    const lines = [first];
    for (;;) {
      const l = await c.read(timeoutMs);
      lines.push(l);
      if (l.startsWith(`${first.slice(0, 3)} `)) return lines.join('\n');
    }
  };
  c.ftp = async (line, timeoutMs) => {
    c.send(line);
    return c.reply(timeoutMs);
  };
  c.login = async () => {
    if (!(await c.ftp('USER admin')).startsWith('331')) throw new Error('USER refused');
    const r = await c.ftp(`PASS ${ADMIN_PASSWORD}`);
    if (!r.startsWith('230')) throw new Error(`login refused: ${r}`);
  };
  const greeting = await c.reply();
  if (!greeting.startsWith('220')) throw new Error(`greeting: ${greeting}`);
  return c;
}

/** Open a passive data connection for the next transfer command (PASV + connect). */
export async function pasvData(c: FtpClient): Promise<net.Socket> {
  const r = await c.ftp('PASV');
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(r);
  if (m === null) throw new Error(`PASV: ${r}`);
  const s = net.connect(Number(m[5]) * 256 + Number(m[6]), `${m[1]}.${m[2]}.${m[3]}.${m[4]}`);
  await new Promise((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  return s;
}

/** RETR over a raw passive connection → the bytes and the final reply. */
export async function retrRaw(c: FtpClient, path: string): Promise<{ bytes: Buffer; reply: string }> {
  const s = await pasvData(c);
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  const closed = new Promise((r) => s.once('close', r));
  const first = await c.ftp(`RETR ${path}`);
  if (!first.startsWith('150')) {
    s.destroy();
    return { bytes: Buffer.alloc(0), reply: first };
  }
  const reply = await c.reply();
  await closed;
  return { bytes: Buffer.concat(parts), reply };
}

/** STOR over a raw passive connection → the final reply. */
export async function storRaw(c: FtpClient, path: string, bytes: Buffer | string): Promise<string> {
  const s = await pasvData(c);
  const first = await c.ftp(`STOR ${path}`);
  if (!first.startsWith('150')) {
    s.destroy();
    return first;
  }
  s.end(bytes);
  return c.reply();
}
