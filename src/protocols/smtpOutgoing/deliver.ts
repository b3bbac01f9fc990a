/**
 * protocols/smtpOutgoing/deliver.ts: one SMTP client connection to one remote host, with
 * nodemailer's SMTPConnection (a well-kept client: EHLO/HELO, STARTTLS, AUTH PLAIN, LOGIN and
 * CRAM-MD5, PIPELINING when offered, SIZE, 8BITMIME, SMTPUTF8, DSN, REQUIRETLS, bounded reply
 * sizes and timeouts; it does not do CHUNKING, so messages go by DATA). A connection carries
 * several messages in turn, each with its own envelope (RSET after a transaction that failed); the outcome of
 * each recipient comes back as delivered / failed (5xx) / temp (4xx, a dropped connection, a
 * timeout).
 *
 * TLS (tls-policy.ts): `verify` checks the certificate against the host's name (Node's roots
 * plus `ca`); `starttls: 'required'` or `verify` with no TLS in the end closes the connection
 * before MAIL FROM (the mail is never sent in clear: a temporary failure, 4.7.10).
 *
 * Exports: `openConnection(target)`, `Connection`, `Target`, `OutMessage`, `ConnectFailure`,
 * `statusOf(reply)`. `openConnection` rejects with a `ConnectFailure` (`tls`: the failure was
 * TLS's: no TLS, or a certificate that does not check); `send` never rejects.
 */
import tls from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { TlsDemand } from './tls-policy.ts';

export interface Target {
  /** Address to connect to. */
  ip: string;
  port: number;
  /** The host's name (TLS SNI and certificate check; `Remote-MTA`). */
  name: string;
  tls: TlsDemand;
  auth: { user: string; pass: string; method: 'PLAIN' | 'LOGIN' | 'CRAM-MD5' } | null;
  heloName: string;
  connectTimeoutMs: number;
  rwTimeoutMs: number;
  /** PEM CAs trusted besides Node's roots (verified TLS). */
  ca: string | null;
}

export interface OutMessage {
  from: string;
  rcpts: string[];
  /** The whole message as it goes on the wire (our Received:, a signature, the body). */
  data: Buffer;
  eightBit: boolean;
  smtpUtf8: boolean;
  /** RFC 8689: send only over verified TLS with REQUIRETLS. */
  requireTls: boolean;
  dsn?: { ret?: string | null; envid?: string | null; notify?: string[] | null; orcpt?: string | null };
}

export interface RcptResult {
  to: string;
  status: 'delivered' | 'failed' | 'temp';
  why: string;
  status3464: string;
}

export class ConnectFailure extends Error {
  readonly status: 'temp' | 'failed';
  readonly status3464: string;
  readonly tls: boolean;
  constructor(why: string, o: { status?: 'temp' | 'failed'; status3464?: string; tls?: boolean } = {}) {
    super(why);
    this.status = o.status ?? 'temp';
    this.status3464 = o.status3464 ?? '4.4.1';
    this.tls = o.tls ?? false;
  }
}

interface SmtpErr extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  recipient?: string;
  rejectedErrors?: SmtpErr[];
}

const oneLine = (s: string): string => s.replace(/\s*[\r\n]+\s*/g, ' ').trim().slice(0, 500);

/** The RFC 3463 status of a reply (`550 5.1.1 …` → 5.1.1), else its class (`4.0.0`). */
export function statusOf(reply: string, fallbackClass: '4' | '5' = '4'): string {
  const m = /^([245])\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply);
  if (m !== null) return m[2]!;
  const c = /^([245])\d\d/.exec(reply);
  return `${c?.[1] ?? fallbackClass}.0.0`;
}

function fromError(e: SmtpErr, to: string): RcptResult {
  if (e.responseCode !== undefined && e.response !== undefined) {
    const why = oneLine(e.response);
    const perm = e.responseCode >= 500 && e.responseCode !== 503;
    return { to, status: perm ? 'failed' : 'temp', why, status3464: statusOf(why, perm ? '5' : '4') };
  }
  return { to, status: 'temp', why: `451 4.4.2 ${oneLine(e.message)}`, status3464: '4.4.2' };
}

export class Connection {
  readonly target: Target;
  private readonly c: SMTPConnection;
  /** Messages sent on it so far. */
  sent = 0;
  /** Closed, or in a state where another message must not be tried on it. */
  broken = false;
  /** The last transaction ended in an error: RSET before the next. */
  private dirty = false;

  constructor(target: Target, c: SMTPConnection) {
    this.target = target;
    this.c = c;
    c.on('error', () => { this.broken = true; });
    c.on('end', () => { this.broken = true; });
  }

  get secure(): boolean {
    return this.c.secure;
  }

  /** Send one message; resolves with each recipient's outcome. */
  async send(m: OutMessage): Promise<RcptResult[]> {
    if (this.broken) return m.rcpts.map((to) => ({ to, status: 'temp', why: '451 4.4.2 connection lost', status3464: '4.4.2' }));
    if (this.dirty) {
      const reset = await new Promise<Error | null>((r) => this.c.reset((err) => r(err ?? null)));
      if (reset !== null) {
        this.broken = true;
        return m.rcpts.map((to) => fromError(reset, to));
      }
    }
    this.sent++;
    const one = m.rcpts.length === 1;
    const dsn = m.dsn === undefined ? undefined : { ret: m.dsn.ret ?? undefined, envid: m.dsn.envid ?? undefined, notify: one ? m.dsn.notify ?? undefined : undefined, orcpt: one ? m.dsn.orcpt ?? undefined : undefined };
    const envelope = { from: m.from === '' ? false as const : m.from, to: m.rcpts, size: m.data.length, use8BitMime: m.eightBit, requireTLSExtensionEnabled: m.requireTls, dsn };
    return new Promise<RcptResult[]>((resolve) => {
      this.c.send(envelope, m.data, (err: SmtpErr | null, info?: { accepted: string[]; rejectedErrors?: SmtpErr[]; response: string }) => {
        if (err !== null && err !== undefined) {
          this.dirty = true;
          if (err.code === 'EREQUIRETLS') {
            resolve(m.rcpts.map((to) => ({ to, status: 'failed', why: `550 5.7.30 REQUIRETLS not supported by ${this.target.name}`, status3464: '5.7.30' })));
            return;
          }
          if (err.responseCode === undefined) this.broken = true; // no reply: the connection is gone or lost its way
          const per = new Map((err.rejectedErrors ?? []).map((x) => [x.recipient ?? '', x]));
          resolve(m.rcpts.map((to) => fromError(per.get(to) ?? err, to)));
          return;
        }
        const why = oneLine(info!.response);
        const per = new Map((info!.rejectedErrors ?? []).map((x) => [x.recipient ?? '', x]));
        resolve(m.rcpts.map((to) => {
          const r = per.get(to);
          return r !== undefined ? fromError(r, to) : { to, status: 'delivered', why, status3464: statusOf(why, '4').startsWith('2') ? statusOf(why) : '2.0.0' };
        }));
      });
    });
  }

  close(): void {
    this.broken = true;
    try {
      this.c.quit();
    } catch {
      this.c.close();
    }
  }
}

function connectOnce(t: Target, plainOnly: boolean): Promise<SMTPConnection> {
  const verify = t.tls.verify;
  const c = new SMTPConnection({
    host: t.ip, port: t.port, secure: t.tls.implicit, name: t.heloName,
    ignoreTLS: plainOnly || t.tls.starttls === 'no', requireTLS: t.tls.starttls === 'required', opportunisticTLS: t.tls.starttls === 'opportunistic',
    connectionTimeout: t.connectTimeoutMs, greetingTimeout: t.rwTimeoutMs, socketTimeout: t.rwTimeoutMs, socketCloseTimeout: 1000,
    tls: { servername: /^[\d.]+$|:/.test(t.name) ? undefined : t.name, rejectUnauthorized: verify, ca: verify && t.ca !== null ? [...tls.rootCertificates, t.ca] : undefined },
    logger: false,
  });
  return new Promise((resolve, reject) => {
    let done = false;
    c.once('error', (e: Error) => {
      if (done) return;
      done = true;
      c.close();
      reject(e);
    });
    c.connect(() => {
      if (done) return;
      done = true;
      resolve(c);
    });
  });
}

const tlsError = (e: SmtpErr): boolean => e.code === 'ETLS' || /certificate|self[- ]signed|ssl|tls|handshake|altnames/i.test(e.message);

/** Connect, greet, STARTTLS as the demand says, AUTH when given. */
export async function openConnection(t: Target): Promise<Connection> {
  let c: SMTPConnection;
  try {
    c = await connectOnce(t, false);
  } catch (e) {
    const err = e as SmtpErr;
    // opportunistic TLS whose handshake failed: once more, in plain text
    if (t.tls.starttls === 'opportunistic' && !t.tls.verify && !t.tls.implicit && err.code === 'ETLS') c = await connectOnce(t, true).catch((e2: SmtpErr) => { throw failure(t, e2); });
    else throw failure(t, err);
  }
  const needTls = t.tls.verify || t.tls.starttls === 'required' || t.tls.implicit;
  if (needTls && !c.secure) {
    c.close();
    throw new ConnectFailure(`421 4.7.10 ${t.name} [${t.ip}] offers no TLS; not sent in clear`, { status3464: '4.7.10', tls: true });
  }
  if (t.auth !== null) {
    const auth = t.auth;
    const err = await new Promise<SmtpErr | null>((r) => c.login({ user: auth.user, pass: auth.pass, method: auth.method }, (e) => r((e as SmtpErr | null) ?? null)));
    if (err !== null) {
      c.close();
      const perm = err.responseCode !== undefined && err.responseCode >= 500;
      throw new ConnectFailure(`${err.response !== undefined ? oneLine(err.response) : `454 4.7.0 ${oneLine(err.message)}`} (AUTH at ${t.name})`, { status3464: perm ? '4.7.8' : '4.7.0' });
    }
  }
  return new Connection(t, c);
}

function failure(t: Target, e: SmtpErr & { command?: string }): ConnectFailure {
  if (e.code === 'ETLS' || e.command === 'STARTTLS') {
    const cert = /certificate|self[- ]signed|altnames|verify/i.test(e.message);
    return new ConnectFailure(`451 ${cert ? '4.7.5' : '4.7.10'} ${t.name} [${t.ip}]: no usable TLS${e.response !== undefined ? ` (${oneLine(e.response)})` : `: ${oneLine(e.message)}`}; not sent in clear`, { status3464: cert ? '4.7.5' : '4.7.10', tls: true });
  }
  if (e.responseCode !== undefined && e.response !== undefined) {
    return new ConnectFailure(`${oneLine(e.response)} (${t.name} [${t.ip}])`, { status3464: statusOf(e.response) });
  }
  const isTls = tlsError(e);
  return new ConnectFailure(`451 ${isTls ? '4.7.5' : '4.4.1'} ${t.name} [${t.ip}]: ${oneLine(e.message)}`, { status3464: isTls ? '4.7.5' : '4.4.1', tls: isTls });
}
