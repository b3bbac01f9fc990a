/**
 * test/imap/clients-env.ts: the server the real-client IMAP tests (clients-*.test.ts) talk to:
 * Postern with the IMAP service on port 0 (a plain listener offering STARTTLS and an
 * implicit-TLS one, both with a throwaway self-signed certificate) and the store probe fixture
 * (testProbe) to put mail in and read it back beside the clients; or, with
 * POSTERN_IMAP_TARGET=dovecot in the environment, the Dovecot peer (test/imap/dovecot.ts) with
 * the same users, so that the tests themselves can be checked against a reference server.
 *
 * Exports: `startTarget({ users, imap? })` → `ImapTarget` (host, port, tlsPort, cert, deliver,
 * digest, allFlags, stop); `rawMessage(i, subject, body?)`; `run(cmd, args, opts)` (a child
 * process with a timeout, resolving its exit code and output); `sha256`.
 * Throws: startTarget rejects when the server does not start; deliver/digest/allFlags reject
 * on a store error (the probe's -ERR line).
 */
import { createHash } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer } from '../../actors/server.ts';
import { probeLink, tmpDir } from '../helpers.ts';
import { TEST_PROBE } from '../fixtures/test-services.ts';
import { startDovecot } from './dovecot.ts';

export interface ImapTarget {
  readonly kind: 'postern' | 'dovecot';
  readonly host: string;
  /** The plain listener (STARTTLS offered). */
  readonly port: number;
  /** The implicit-TLS listener, on `tlsHost`. */
  readonly tlsPort: number;
  readonly tlsHost: string;
  /** The self-signed certificate (PEM file) both TLS listeners present (CN=localhost). */
  readonly certFile: string;
  readonly keyFile: string;
  readonly dir: string;
  /** Put a message into a folder the way a delivery would (Postern: the store; Dovecot: a maildir file). */
  deliver(user: string, bytes: Buffer | string, folder?: string): Promise<void>;
  /** Every folder's messages as sha256 of their bytes, in UID order. */
  digest(user: string): Promise<Record<string, string[]>>;
  /** Every folder's messages' flags (sorted), in UID order. */
  allFlags(user: string): Promise<Record<string, string[][]>>;
  stop(): Promise<void>;
}

export interface TargetOptions {
  users: ReadonlyArray<{ user: string; password: string }>;
  /** Extra attributes inside `imap = { … }` (Postern). */
  imap?: string;
}

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A small message, CRLF lines, different for each i. */
export function rawMessage(i: number, subject = `message ${i}`, body = `Body of message ${i}.\r\nSecond line.\r\n`): Buffer {
  return Buffer.from(
    `From: Sender ${i} <sender${i}@example.org>\r\nTo: ann@example.org\r\nSubject: ${subject}\r\n` +
      `Date: Mon, ${String(1 + (i % 28)).padStart(2, '0')} Jan 2024 10:00:00 +0000\r\nMessage-ID: <m${i}.${Date.now()}@example.org>\r\n\r\n${body}`,
  );
}

export function run(cmd: string, args: string[], o: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: { ...process.env, ...o.env }, timeout: o.timeoutMs ?? 30_000, maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
      resolve({ code: e === null ? 0 : Number((e as { code?: number }).code ?? 1), stdout, stderr });
    });
    if (o.input !== undefined) child.stdin?.end(o.input);
    else child.stdin?.end();
  });
}

function makeCert(dir: string): { certFile: string; keyFile: string } {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  fs.chmodSync(keyFile, 0o644); // the Dovecot peer may run as another user
  return { certFile, keyFile };
}

export async function startTarget(o: TargetOptions): Promise<ImapTarget> {
  return process.env.POSTERN_IMAP_TARGET === 'dovecot' ? startDovecotTarget(o) : startPosternTarget(o);
}

async function startPosternTarget(o: TargetOptions): Promise<ImapTarget> {
  const dir = tmpDir('postern-imap-clients-');
  const { certFile, keyFile } = makeCert(dir);
  const ssl = `sslControl = { certFile = "${certFile}" keyFile = "${keyFile}" }`;
  const configText = `
Server {
    services = (imap testProbe)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    imap = {
        listeners = (
            { address = 127.0.0.1:0 ${ssl} }
            { address = 127.0.0.2:0 sslEnable = yes ${ssl} }
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
  for (const u of o.users) await server.admin('account.add', { address: u.user, password: u.password });
  const folderMap = async <T>(cmd: string, user: string, map: (rows: any[]) => T[]): Promise<Record<string, T[]>> => {
    const doc = JSON.parse(ok(await ask((c) => c.cmd(`${cmd} ${user}`, 20_000)))) as Record<string, any[]>;
    const out: Record<string, T[]> = {};
    for (const [f, rows] of Object.entries(doc)) out[f] = map(rows);
    return out;
  };
  return {
    kind: 'postern',
    host: '127.0.0.1',
    port: server.port('imap', 0),
    tlsPort: server.port('imap', 1),
    tlsHost: '127.0.0.2',
    certFile,
    keyFile,
    dir,
    deliver: (user, bytes, folder = 'INBOX') => ask(async (c) => {
      const b = Buffer.from(bytes);
      c.socket.write(`APPEND ${user} ${folder} ${b.length}\r\n`);
      c.socket.write(b);
      ok(await c.read(20_000));
    }),
    digest: (user) => folderMap(`DIGEST`, user, (rows) => rows.map((r: [number, number, string]) => r[2])),
    allFlags: (user) => folderMap(`ALLFLAGS`, user, (rows) => rows.map((r: [number, string[]]) => [...r[1]].sort())),
    stop: async () => {
      link.close();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Dovecot keeps maildir files with LF line ends; IMAP serves them with CRLF. */
const crlf = (b: Buffer): Buffer => Buffer.from(b.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');

/** Maildir info flags → IMAP system flags. */
const MAILDIR_FLAGS: Record<string, string> = { D: '\\Draft', F: '\\Flagged', R: '\\Answered', S: '\\Seen', T: '\\Deleted' };

async function startDovecotTarget(o: TargetOptions): Promise<ImapTarget> {
  const dir = tmpDir('postern-imap-clients-');
  fs.chmodSync(dir, 0o755);
  const tls = makeCert(dir);
  const peer = await startDovecot({ users: o.users, tls });
  // the folder's messages in UID order: Dovecot's dovecot-uidlist maps UIDs to file names
  const files = (user: string, folder: string): string[] => {
    const md = peer.maildir(user, folder);
    let list: string[] = [];
    try {
      list = fs.readFileSync(path.join(md, 'dovecot-uidlist'), 'utf8').split('\n').slice(1).filter((l) => l !== '');
    } catch {
      return [];
    }
    const byBase = new Map<string, string>();
    for (const sub of ['cur', 'new']) for (const f of fs.readdirSync(path.join(md, sub))) byBase.set(f.split(':')[0]!, path.join(sub, f));
    const out: string[] = [];
    for (const l of list) {
      const base = (l.split(':').pop() ?? '').split(':')[0]!;
      const f = byBase.get(base);
      if (f !== undefined) out.push(path.join(md, f));
    }
    return out;
  };
  const folders = (user: string): string[] => {
    const root = peer.maildir(user);
    return ['INBOX', ...fs.readdirSync(root).filter((e) => e.startsWith('.') && fs.statSync(path.join(root, e)).isDirectory()).map((e) => e.slice(1).split('.').join('/'))];
  };
  return {
    kind: 'dovecot',
    host: '127.0.0.1',
    port: peer.port,
    tlsPort: peer.tlsPort!,
    tlsHost: '127.0.0.1',
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    dir,
    deliver: async (user, bytes, folder = 'INBOX') => peer.deliver(user, Buffer.from(bytes), { folder }),
    digest: async (user) => Object.fromEntries(folders(user).map((f) => [f, files(user, f).map((p) => sha256(crlf(fs.readFileSync(p))))])),
    allFlags: async (user) => Object.fromEntries(folders(user).map((f) => [f, files(user, f).map((p) => {
      const info = p.includes(':2,') ? p.slice(p.lastIndexOf(':2,') + 3) : '';
      return [...info].map((c) => MAILDIR_FLAGS[c]).filter((x): x is string => x !== undefined).sort();
    })])),
    stop: async () => {
      await peer.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
