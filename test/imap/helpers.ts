/**
 * test/imap/helpers.ts: what the IMAP behaviour tests share. A running server with the IMAP
 * service (a plain listener with a certificate for STARTTLS, an implicit-TLS one; POP3 beside it
 * on request) and the store probe to deliver mail and read what the store holds (`startImap`,
 * on test/probed.ts); a raw IMAP client on a real socket or any stream over it (TLS, inflate):
 * raw lines, whole responses with their literals inlined, tagged commands (`imap`, `imapOn`);
 * the real-client tests' target (`startTarget`): that server, or with
 * POSTERN_IMAP_TARGET=dovecot in the environment the Dovecot peer (test/imap/dovecot.ts) with
 * the same users, so that the tests themselves can be checked against a reference server.
 *
 * Exports: `startImap`, `ImapEnv`, `message`, `rawMessage`, `sha256`, `imap`, `imapOn`,
 * `ImapClient`, `Answer`, `tagged`, `untagged`, `startTarget`, `ImapTarget`, `python`.
 * Throws: startImap/startTarget reject when the server does not start; the probe operations
 * reject on a store error; a client read rejects on close or timeout.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tmpDir } from '../helpers.ts';
import { selfSignedCert, serviceBlock, startProbed, type ProbedServer } from '../probed.ts';
import { startDovecot } from './dovecot.ts';

export { python } from '../pop3/helpers.ts';

export interface ImapEnv extends ProbedServer {
  /** The plain listener (STARTTLS available: it has a certificate). */
  port: number;
  /** The implicit-TLS listener (on 127.0.0.2). */
  tlsPort: number;
  /** The POP3 listener (with `pop3: true`). */
  pop3Port: number;
  certFile: string;
  keyFile: string;
}

export interface ImapEnvOptions {
  /** Extra attributes inside `imap = { … }`. */
  imap?: string;
  /** Extra Server-level attributes. */
  server?: string;
  /** Extra attributes of the plain listener. */
  listener?: string;
  /** Extra attributes of the implicit-TLS listener. */
  tlsListener?: string;
  /** The connection-thread attributes of `imap` (default: one thread). */
  threads?: string;
  /** Run POP3 too (a plain listener) on the same store. */
  pop3?: boolean;
  /** The data directory (default: a new one): a server started again on the same one. */
  dir?: string;
}

export async function startImap(o: ImapEnvOptions = {}): Promise<ImapEnv> {
  const dir = o.dir ?? tmpDir('postern-imap-');
  const { certFile, keyFile } = selfSignedCert(dir);
  const ssl = `sslControl = { certFile = "${certFile}" keyFile = "${keyFile}" }`;
  const body = `hostname = "mail.example.org"
    enableFaultInjection = yes
    ${o.server ?? ''}
    ${serviceBlock('imap', { ssl, listener: o.listener, tlsListener: o.tlsListener, threads: o.threads, extra: o.imap })}
    ${o.pop3 === true ? serviceBlock('pop3') : ''}`;
  const env = await startProbed({ dir, services: o.pop3 === true ? ['imap', 'pop3'] : ['imap'], body });
  const s = env.server;
  return { ...env, port: s.port('imap', 0), tlsPort: s.port('imap', 1), pop3Port: o.pop3 === true ? s.port('pop3', 0) : 0, certFile, keyFile };
}

export function message(subject: string, body = 'Hello.\r\n'): string {
  return `From: Sender <sender@example.org>\r\nTo: user@example.org\r\nSubject: ${subject}\r\nDate: Sun, 06 Dec 2026 07:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\n\r\n${body}`;
}

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** A small message, CRLF lines, different for each i. */
export function rawMessage(i: number, subject = `message ${i}`, body = `Body of message ${i}.\r\nSecond line.\r\n`): Buffer {
  return Buffer.from(
    `From: Sender ${i} <sender${i}@example.org>\r\nTo: ann@example.org\r\nSubject: ${subject}\r\n` +
      `Date: Mon, ${String(1 + (i % 28)).padStart(2, '0')} Jan 2024 10:00:00 +0000\r\nMessage-ID: <m${i}.${Date.now()}@example.org>\r\n\r\n${body}`,
  );
}

/** A tagged command's answer: the untagged lines (and continuation requests) before the tagged one. */
export interface Answer {
  untagged: string[];
  tagged: string;
}

/** A raw IMAP client: the socket, lines, whole responses, tagged commands. */
export interface ImapClient {
  socket: net.Socket;
  /** The greeting line (`imap`; empty from `imapOn`, whose caller reads it). */
  greeting: string;
  /** Next line (without CRLF), a literal's bytes as lines of their own; rejects on close or timeout. */
  read(timeoutMs?: number): Promise<string>;
  /** Next response line, literals `{n}` read by their byte count and inlined. */
  line(timeoutMs?: number): Promise<string>;
  /** Send raw bytes. */
  write(data: string | Buffer): void;
  /** Send `tag command` and read responses to the one starting with the tag. */
  run(command: string, tag?: string, timeoutMs?: number): Promise<Answer>;
  /** Read responses up to the one starting with `tag `. */
  until(tag: string, timeoutMs?: number): Promise<Answer>;
  /** Bytes received and not read yet. */
  readonly pending: number;
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  close(): void;
}

/** A client on `socket`, reading from `src` (the socket, or a stream over it: TLS, inflate) and
 * writing with `write`. */
export function imapOn(socket: net.Socket, src: NodeJS.EventEmitter = socket, write: (d: string | Buffer) => void = (d) => socket.write(d)): ImapClient {
  let tags = 0; // t1, t2, … on each connection
  let buf = Buffer.alloc(0);
  let waiter: (() => void) | null = null;
  let ended = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  src.on('data', (d: Buffer | string) => {
    buf = Buffer.concat([buf, typeof d === 'string' ? Buffer.from(d, 'latin1') : d]);
    waiter?.();
  });
  const onEnd = (): void => {
    if (ended) return;
    ended = true;
    resolveClosed();
    waiter?.();
  };
  src.on('close', onEnd);
  src.on('end', onEnd);
  src.on('error', onEnd);
  /** One line, or (with `literals`) one response with its literals inlined. */
  const next = async (literals: boolean, timeoutMs: number): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    let out = '';
    let at = 0; // scan position in buf
    for (;;) {
      const i = buf.indexOf('\n', at);
      if (i >= 0) {
        const part = buf.subarray(0, i).toString('latin1').replace(/\r$/, '');
        const lit = literals ? /\{(\d+)\}$/.exec(part) : null;
        if (lit === null) {
          buf = buf.subarray(i + 1);
          return out + part;
        }
        const len = Number(lit[1]);
        if (buf.length >= i + 1 + len) {
          out += part + '\r\n' + buf.subarray(i + 1, i + 1 + len).toString('latin1');
          buf = buf.subarray(i + 1 + len);
          at = 0;
          continue;
        }
        // the literal's bytes are still coming: wait, then look at this line again
      }
      if (ended) throw new Error(`connection closed (had: ${out}${buf.toString('latin1')})`);
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
    greeting: '',
    read: (timeoutMs = 10_000) => next(false, timeoutMs),
    line: (timeoutMs = 10_000) => next(true, timeoutMs),
    write,
    get pending() {
      return buf.length;
    },
    closed,
    async until(tag, timeoutMs = 10_000) {
      const untagged: string[] = [];
      for (;;) {
        const l = await next(true, timeoutMs);
        if (l.startsWith(`${tag} `)) return { untagged, tagged: l };
        untagged.push(l);
      }
    },
    run(command, tag = `t${++tags}`, timeoutMs = 10_000) {
      write(`${tag} ${command}\r\n`);
      return c.until(tag, timeoutMs);
    },
    close() {
      socket.destroy();
    },
  };
  return c;
}

/** A client on `port` that has read the greeting (and, given `user`, logged in). */
export async function imap(port: number, user?: string, password = 'pw'): Promise<ImapClient> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
  const c = imapOn(socket);
  c.greeting = await c.read();
  if (user !== undefined) {
    if (!c.greeting.startsWith('* OK')) throw new Error(`greeting: ${c.greeting}`);
    const r = await c.run(`LOGIN ${user} ${password}`);
    if (!/^\S+ OK/.test(r.tagged)) throw new Error(`login: ${[...r.untagged, r.tagged].join(' | ')}`);
  }
  return c;
}

/** The tagged line of an answer, without its tag. */
export const tagged = (r: Answer): string => r.tagged.replace(/^\S+ /, '');
/** The untagged lines of an answer. */
export const untagged = (r: Answer): string[] => r.untagged;

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

/** The real-client tests' server: Postern (startImap), or the Dovecot peer with
 * POSTERN_IMAP_TARGET=dovecot. */
export async function startTarget(o: TargetOptions): Promise<ImapTarget> {
  return process.env.POSTERN_IMAP_TARGET === 'dovecot' ? startDovecotTarget(o) : startPosternTarget(o);
}

async function startPosternTarget(o: TargetOptions): Promise<ImapTarget> {
  const env = await startImap({ dir: tmpDir('postern-imap-clients-'), imap: o.imap });
  for (const u of o.users) await env.addUser(u.user, u.password);
  const folderMap = async <T>(cmd: string, user: string, map: (rows: any[]) => T[]): Promise<Record<string, T[]>> => {
    const doc = (await env.probeJson(cmd, user)) as Record<string, any[]>;
    const out: Record<string, T[]> = {};
    for (const [f, rows] of Object.entries(doc)) out[f] = map(rows);
    return out;
  };
  return {
    kind: 'postern',
    host: '127.0.0.1',
    port: env.port,
    tlsPort: env.tlsPort,
    tlsHost: '127.0.0.2',
    certFile: env.certFile,
    keyFile: env.keyFile,
    dir: env.dir,
    deliver: async (user, bytes, folder = 'INBOX') => void (await env.deliver(user, bytes, folder)),
    digest: (user) => folderMap('DIGEST', user, (rows) => rows.map((r: [number, number, string]) => r[2])),
    allFlags: (user) => folderMap('ALLFLAGS', user, (rows) => rows.map((r: [number, string[]]) => [...r[1]].sort())),
    stop: async () => {
      await env.stop();
      fs.rmSync(env.dir, { recursive: true, force: true });
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
  const tls = selfSignedCert(dir);
  fs.chmodSync(tls.keyFile, 0o644); // the Dovecot peer may run as another user
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
