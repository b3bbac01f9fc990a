/**
 * test/smtpOutgoing/helpers.ts: what the smtpOutgoing tests share: a scriptable receiver
 * (receiver.py, Python aiosmtpd, run with the system's python3) on a 127.0.0.x address, its
 * events (connections, messages); hand-built smtpOutgoing options; a self-signed certificate.
 */
import { spawn, execFileSync } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { pino } from 'pino';
import type { SmtpOutgoingOptions, OutgoingRoute } from '../../src/config/options.ts';
import type { QueueEnvelope } from '../../src/store/queue-record.ts';
import { tmpDir, waitFor } from '../helpers.ts';

const PY = '/usr/bin/python3';
const SCRIPT = new URL('./receiver.py', import.meta.url).pathname;

export interface ReceivedMsg {
  from: string;
  to: string[];
  data: string;
  conn: number;
  tls: boolean;
  auth: boolean;
  helo: string;
}

export interface Receiver {
  host: string;
  port: number;
  messages: ReceivedMsg[];
  /** Connections accepted so far (after start-up). */
  conns(): number;
  /** The most connections open at once. */
  maxOpen(): number;
  waitMessages(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface ReceiverConfig {
  host: string;
  port: number;
  cert?: string;
  key?: string;
  auth?: Record<string, string>;
  reject?: string[];
  defer?: string[];
  deferTimes?: number;
  dropData?: number;
  dataDelay?: number;
}

export async function startReceiver(cfg: ReceiverConfig): Promise<Receiver> {
  const p = spawn(PY, [SCRIPT, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const messages: ReceivedMsg[] = [];
  let conns = 0;
  let maxOpen = 0;
  let ready: number | null = null;
  let exited = false;
  p.on('exit', () => { exited = true; });
  readline.createInterface({ input: p.stdout }).on('line', (l) => {
    const e = JSON.parse(l) as { ready?: number; conn?: number; open?: number; msg?: ReceivedMsg };
    if (e.ready !== undefined) ready = e.ready;
    if (ready === null) return; // aiosmtpd's own start-up probe
    if (e.conn !== undefined) conns++;
    if (e.open !== undefined) maxOpen = Math.max(maxOpen, e.open);
    if (e.msg !== undefined) messages.push(e.msg);
  });
  await waitFor(() => {
    if (exited) throw new Error(`receiver exited: ${stderr}`);
    return ready;
  }, 15_000, `receiver on ${cfg.host}:${cfg.port}`);
  return {
    host: cfg.host, port: cfg.port, messages,
    conns: () => conns,
    maxOpen: () => maxOpen,
    waitMessages: (n, t = 15_000) => waitFor(() => messages.length >= n, t, `${n} messages at ${cfg.host}`).then(() => {}),
    stop: async () => {
      if (exited) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.stdin.end();
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

let cert: { cert: string; key: string; dir: string } | null = null;
/** A self-signed certificate for `receiver.test` (and mx names of the tests). */
export function selfSigned(): { cert: string; key: string } {
  if (cert !== null) return cert;
  const dir = tmpDir('postern-out-cert-');
  const c = path.join(dir, 'cert.pem');
  const k = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', k, '-out', c, '-days', '2', '-subj', '/CN=receiver.test', '-addext', 'subjectAltName=DNS:receiver.test'], { stdio: 'ignore' });
  cert = { cert: c, key: k, dir };
  return cert;
}

export function outOptions(o: Partial<SmtpOutgoingOptions> = {}): SmtpOutgoingOptions {
  return {
    kind: 'smtpOutgoing', maxConnectionsPerDomain: 5, maxMessagesPerConnection: 100, connectTimeoutMs: 5000, rwTimeoutMs: 10_000, enableIPv6: false,
    heloName: 'out.postern.test', routes: [], mtaSts: false, mxPort: 25, tlsCaFile: null, mtaStsPolicyAddress: '', localSmtp: [], processing: null, ...o,
  };
}

export function smartRoute(o: Partial<OutgoingRoute> & { host: string; port: number; startTls?: 'yes' | 'no' | 'required'; user?: string; pass?: string }): OutgoingRoute {
  return {
    rcptDomain: o.rcptDomain ?? '', sender: o.sender ?? '', requireTLS: o.requireTLS ?? false,
    smartHost: { host: o.host, port: o.port, ssl: false, startTls: o.startTls ?? 'yes', authUser: o.user ?? null, authPassword: o.pass ?? null, authMethod: 'PLAIN' },
  };
}

export function envelope(from: string, to: string[], o: Partial<QueueEnvelope> = {}): QueueEnvelope {
  return {
    from, rcpts: to.map((t) => ({ to: t, account: null })), receivedAt: Date.now(), helo: 'client.test', ip: '192.0.2.1', by: 'out.postern.test',
    with: 'ESMTP', tls: null, auth: null, body: '7BIT', utf8: false, ...o,
  };
}

export const silentLog = pino({ level: 'silent' });

export function message(subject: string): Buffer {
  return Buffer.from(`From: a@src.test\r\nTo: b@dst.test\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@src.test>\r\n\r\nHello ${subject}\r\n`);
}
