/**
 * protocols/rpop/pop3-client.ts: a small POP3 client (RFC 1939, STLS of RFC 2595, implicit TLS
 * of RFC 8314) for the rpop service: connect, USER/PASS, UIDL, LIST, RETR, DELE, QUIT. Every
 * wait is bounded (`connectTimeoutMs` for TCP and TLS, `rwTimeoutMs` for each answer), every
 * status and listing line by `maxLineLength`, a listing by `maxListing` lines, a message by
 * `maxMessageBytes`; a remote that drops the connection, never answers or answers garbage
 * costs one bounded wait and an error, never a hang. Certificates are verified (against `ca`
 * when given, else Node's bundled roots) with the host name as configured.
 *
 * Exports: `Pop3Client`, `Pop3ClientOptions`, `Pop3Tls`.
 * Throws (rejects): RPOP_CONNECT, RPOP_TLS, RPOP_TIMEOUT, RPOP_PROTOCOL, RPOP_AUTH_FAILED,
 * RPOP_TOO_BIG.
 */
import net from 'node:net';
import tls from 'node:tls';
import { PosternError } from '../../errors.ts';

export type Pop3Tls = 'none' | 'implicit' | 'stls';

export interface Pop3ClientOptions {
  host: string;
  port: number;
  tls: Pop3Tls;
  connectTimeoutMs: number;
  rwTimeoutMs: number;
  maxLineLength: number;
  maxMessageBytes: number;
  maxListing: number;
  /** PEM CAs for the remote's certificate; undefined: Node's bundled roots. */
  ca?: string | Buffer;
}

const CRLF = Buffer.from('\r\n');

export class Pop3Client {
  private sock: net.Socket | tls.TLSSocket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private ended: PosternError | null = null;
  private readonly o: Pop3ClientOptions;

  constructor(o: Pop3ClientOptions) {
    this.o = o;
  }

  private fail(code: 'RPOP_PROTOCOL' | 'RPOP_TIMEOUT' | 'RPOP_CONNECT', message: string): PosternError {
    return new PosternError(code, `${this.o.host}:${this.o.port}: ${message}`, { host: this.o.host, port: this.o.port });
  }

  private attach(s: net.Socket | tls.TLSSocket): void {
    this.sock = s;
    s.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      const w = this.waiter;
      this.waiter = null;
      w?.();
    });
    const end = (why: string) => (): void => {
      this.ended ??= this.fail('RPOP_PROTOCOL', why);
      const w = this.waiter;
      this.waiter = null;
      w?.();
    };
    s.on('end', end('the remote closed the connection'));
    s.on('close', end('the connection closed'));
    s.on('error', (e) => end(`connection error: ${e.message}`)());
  }

  /** Wait for more bytes, at most rwTimeoutMs. */
  private more(): Promise<void> {
    if (this.ended !== null) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = null;
        reject(this.fail('RPOP_TIMEOUT', `no answer within ${this.o.rwTimeoutMs} ms`));
      }, this.o.rwTimeoutMs);
      this.waiter = () => {
        clearTimeout(t);
        if (this.ended !== null && this.buf.length === 0) reject(this.ended);
        else resolve();
      };
    });
  }

  /** One line (without CRLF), at most maxLineLength bytes. */
  private async line(limit = this.o.maxLineLength): Promise<Buffer> {
    for (;;) {
      const i = this.buf.indexOf(0x0a);
      if (i >= 0) {
        if (i + 1 > limit + 2) throw this.fail('RPOP_PROTOCOL', `a line over ${limit} bytes`);
        const l = this.buf.subarray(0, i > 0 && this.buf[i - 1] === 0x0d ? i - 1 : i);
        this.buf = this.buf.subarray(i + 1);
        return l;
      }
      if (this.buf.length > limit + 2) throw this.fail('RPOP_PROTOCOL', `a line over ${limit} bytes`);
      if (this.ended !== null) throw this.ended;
      await this.more();
    }
  }

  /** A status line: +OK text, else RPOP_PROTOCOL (or `onErr`'s error) with the remote's words. */
  private async status(what: string, onErr?: (text: string) => PosternError): Promise<string> {
    const l = (await this.line()).toString('latin1');
    if (l.startsWith('+OK')) return l.slice(3).trim();
    const text = l.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
    if (l.startsWith('-ERR') && onErr !== undefined) throw onErr(text);
    throw this.fail('RPOP_PROTOCOL', `${what}: ${text === '' ? '(empty line)' : text}`);
  }

  private send(line: string): void {
    if (this.ended !== null) throw this.ended;
    this.sock!.write(`${line}\r\n`);
  }

  /** Connect, TLS as configured, read the greeting. */
  async connect(): Promise<void> {
    const { host, port } = this.o;
    const servername = net.isIP(host) === 0 ? host : undefined;
    const s = await new Promise<net.Socket | tls.TLSSocket>((resolve, reject) => {
      const onTimeout = (): void => {
        sock.destroy();
        reject(this.fail('RPOP_CONNECT', `no connection within ${this.o.connectTimeoutMs} ms`));
      };
      const t = setTimeout(onTimeout, this.o.connectTimeoutMs);
      const sock: net.Socket = this.o.tls === 'implicit'
        ? tls.connect({ host, port, servername, ca: this.o.ca, minVersion: 'TLSv1.2' }, () => { clearTimeout(t); resolve(sock); })
        : net.connect({ host, port }, () => { clearTimeout(t); resolve(sock); });
      sock.once('error', (e) => {
        clearTimeout(t);
        const tlsErr = this.o.tls === 'implicit' && (e as NodeJS.ErrnoException).code !== 'ECONNREFUSED' && (e as NodeJS.ErrnoException).code !== 'ENOTFOUND';
        reject(new PosternError(tlsErr ? 'RPOP_TLS' : 'RPOP_CONNECT', `${host}:${port}: ${e.message}`, { host, port }));
      });
    });
    this.attach(s);
    await this.status('greeting');
    if (this.o.tls === 'stls') {
      this.send('STLS');
      await this.status('STLS', (text) => new PosternError('RPOP_TLS', `${host}:${port}: STLS refused: ${text}`, { host, port }));
      if (this.buf.length > 0) throw this.fail('RPOP_PROTOCOL', 'bytes after the STLS answer (injection)');
      const plain = s;
      plain.removeAllListeners('data');
      plain.removeAllListeners('end');
      plain.removeAllListeners('close');
      plain.removeAllListeners('error');
      plain.on('error', () => {});
      const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const t = setTimeout(() => {
          plain.destroy();
          reject(new PosternError('RPOP_TLS', `${host}:${port}: no TLS handshake within ${this.o.connectTimeoutMs} ms`, { host, port }));
        }, this.o.connectTimeoutMs);
        const ts = tls.connect({ socket: plain, servername, host, ca: this.o.ca, minVersion: 'TLSv1.2' }, () => { clearTimeout(t); resolve(ts); });
        ts.once('error', (e) => {
          clearTimeout(t);
          reject(new PosternError('RPOP_TLS', `${host}:${port}: ${e.message}`, { host, port }));
        });
      });
      this.attach(secure);
    }
  }

  async login(user: string, password: string): Promise<void> {
    const auth = (text: string): PosternError => new PosternError('RPOP_AUTH_FAILED', `${this.o.host}:${this.o.port}: login refused: ${text}`, { host: this.o.host, port: this.o.port });
    this.send(`USER ${user}`);
    await this.status('USER', auth);
    this.send(`PASS ${password}`);
    await this.status('PASS', auth);
  }

  /** A multi-line listing: `n word` per line. */
  private async listing(cmd: string): Promise<Array<[number, string]>> {
    this.send(cmd);
    await this.status(cmd);
    const out: Array<[number, string]> = [];
    for (;;) {
      const l = (await this.line()).toString('latin1');
      if (l === '.') return out;
      if (out.length >= this.o.maxListing) throw this.fail('RPOP_PROTOCOL', `${cmd}: more than ${this.o.maxListing} lines`);
      const m = /^(\d{1,9}) +(\S+)\s*$/.exec(l);
      if (m === null) throw this.fail('RPOP_PROTOCOL', `${cmd}: a bad line`);
      out.push([Number(m[1]), m[2]!]);
    }
  }

  /** UIDL and LIST: each message's number, unique id and size. */
  async messages(): Promise<Array<{ n: number; uidl: string; size: number }>> {
    const uidls = await this.listing('UIDL');
    const sizes = new Map((await this.listing('LIST')).map(([n, s]) => [n, Number(s)]));
    for (const [, u] of uidls) if (!/^[\x21-\x7e]{1,70}$/.test(u)) throw this.fail('RPOP_PROTOCOL', 'UIDL: a unique id that is not 1 to 70 printable characters');
    return uidls.map(([n, uidl]) => ({ n, uidl, size: sizes.get(n) ?? 0 }));
  }

  /** RETR n: the message, dot-unstuffed, CRLF line ends; RPOP_TOO_BIG past maxMessageBytes. */
  async retr(n: number): Promise<Buffer> {
    this.send(`RETR ${n}`);
    await this.status('RETR');
    const parts: Buffer[] = [];
    let size = 0;
    const max = this.o.maxMessageBytes;
    for (;;) {
      let l = await this.line(max + 2);
      if (l.length === 1 && l[0] === 0x2e) break;
      if (l[0] === 0x2e) l = l.subarray(1);
      size += l.length + 2;
      if (size > max) {
        this.sock?.destroy();
        throw new PosternError('RPOP_TOO_BIG', `${this.o.host}:${this.o.port}: message ${n} is over maxMessageSize (${max} bytes)`, { host: this.o.host, port: this.o.port });
      }
      parts.push(l, CRLF);
    }
    return Buffer.concat(parts, size);
  }

  async dele(n: number): Promise<void> {
    this.send(`DELE ${n}`);
    await this.status('DELE');
  }

  /** QUIT: the remote commits its deletions (RFC 1939 UPDATE state) when it answers +OK. */
  async quit(): Promise<void> {
    this.send('QUIT');
    await this.status('QUIT');
    this.close();
  }

  close(): void {
    this.sock?.destroy();
    this.sock = null;
  }
}
