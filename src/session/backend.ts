/**
 * session/backend.ts: the back-end side of a login proxy (the POP3 and IMAP proxies, inventory
 * §19), shared by both: a connection to a back end, a line reader over it bounded in time and
 * size, the per-thread count of connections to the back ends, and the splice that copies bytes
 * both ways once the proxy has logged the user in.
 *
 * - `BackendSlots`: connectionData maxConnections counted in one thread, for a session context
 *   without the host's count (`SessionContext.backendSlot`, which counts over the service's
 *   threads): the thread holds at most ceil(maxConnections / maxConnThreads), so the service
 *   never holds more than maxConnections. `take` fails at once.
 * - `connectBackend`: TCP (or implicit TLS, `sslEnable`, verified against `caFile` unless
 *   `sslVerify` is no) from `localInterface`; the connect and the handshake within rwTimeout.
 *   Every failure is PROXY_BACKEND (retryable): the caller answers its temporary error.
 * - `BackendConn.readLine(timeoutMs)`: the next CRLF line, at most `maxLineLength` bytes;
 *   silence past the timeout, a close, or a longer line: PROXY_BACKEND. `rest()` hands over the
 *   bytes read past the last line (the back end may have pipelined), to be copied first.
 * - `splice(client, backend, o)`: `pipe` both ways (backpressure both ways: each side pauses
 *   while the other's output is over its high-water mark), the input the session already held
 *   and the back end's rest written first. Half-close: an end from one side ends the other's
 *   writing side; once both have ended, or either side closes or errs, both are destroyed and
 *   `o.done` runs once. (The listener's idleTimeout stays on the client socket: traffic either
 *   way resets it; when it fires the caller ends the pair.)
 *
 * Exports: `BackendSlots`, `connectBackend`, `BackendConn`, `splice`, `Splice`, `BackendTarget`,
 * `ProxyHandle` (the session handle of a proxied session, below).
 * Throws (rejects): PROXY_BACKEND, PROXY_BUSY.
 */
import fs from 'node:fs';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { PosternError } from '../errors.ts';
import { Duplex } from 'node:stream';
import type { ProxyConnectionOptions } from '../config/options.ts';
import type { ActorInfo } from '../actor/types.ts';
import type { SessionContext, SessionHandle } from '../service/protocol.ts';
import type { LineSession, StreamWrap } from './line-session.ts';

export interface BackendTarget {
  readonly host: string;
  readonly port: number;
}

/** Connections to the back ends held by this thread (see the contract). */
export class BackendSlots {
  private held = 0;
  /** At most this many here: the service's maxConnections over its threads. */
  limit(o: ProxyConnectionOptions, threads: number): number {
    return Math.max(1, Math.ceil(o.maxConnections / Math.max(1, threads)));
  }
  /** Take one, or PROXY_BUSY at once; the returned function gives it back (once). */
  take(o: ProxyConnectionOptions, threads: number): () => void {
    const limit = this.limit(o, threads);
    if (this.held >= limit) throw new PosternError('PROXY_BUSY', `connections to the back ends at the limit (connectionData maxConnections = ${o.maxConnections})`, { limit });
    this.held++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.held--;
    };
  }
  get count(): number {
    return this.held;
  }
}

const caCache = new Map<string, Buffer>();
function caOf(file: string | null): Buffer | undefined {
  if (file === null) return undefined;
  let b = caCache.get(file);
  if (b === undefined) {
    b = fs.readFileSync(file);
    caCache.set(file, b);
  }
  return b;
}

const failed = (target: BackendTarget, why: string, cause?: unknown): PosternError =>
  new PosternError('PROXY_BACKEND', `back end ${target.host}:${target.port}: ${why}`, { host: target.host, port: target.port, cause: cause instanceof Error ? cause.message : undefined });

/** Connect to the back end within rwTimeout (see the contract). */
export function connectBackend(target: BackendTarget, o: ProxyConnectionOptions, maxLineLength: number): Promise<BackendConn> {
  return new Promise((resolve, reject) => {
    let sock: Socket;
    const local = o.localInterface === '' ? {} : { localAddress: o.localInterface };
    try {
      sock = o.sslEnable
        ? tls.connect({ host: target.host, port: target.port, ...local, ca: caOf(o.caFile), rejectUnauthorized: o.sslVerify, servername: net.isIP(target.host) === 0 ? target.host : undefined, minVersion: 'TLSv1.2' })
        : net.connect({ host: target.host, port: target.port, ...local });
    } catch (e) {
      reject(failed(target, 'cannot connect', e));
      return;
    }
    const timer = setTimeout(() => {
      sock.destroy();
      reject(failed(target, `no connection within rwTimeout (${o.rwTimeoutMs} ms)`));
    }, o.rwTimeoutMs);
    timer.unref();
    const onError = (e: Error): void => {
      clearTimeout(timer);
      sock.destroy();
      reject(failed(target, 'cannot connect', e));
    };
    sock.once('error', onError);
    sock.once(o.sslEnable ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      sock.off('error', onError);
      sock.setNoDelay(true);
      resolve(new BackendConn(sock, target, maxLineLength));
    });
  });
}

/** A connected back end, read line by line until it is spliced. */
export class BackendConn {
  readonly socket: Socket;
  readonly target: BackendTarget;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private ended: Error | null = null;
  private readonly maxLine: number;
  private readonly onData = (b: Buffer): void => {
    this.buf = this.buf.length === 0 ? b : Buffer.concat([this.buf, b]);
    // at most a few lines ahead of the reader (a back end flooding during the login waits)
    if (this.buf.length > 4 * (this.maxLine + 2)) this.socket.pause();
    this.waiter?.();
  };
  private readonly onEnd = (e?: Error): void => {
    this.ended ??= e ?? new Error('closed');
    this.waiter?.();
  };

  constructor(socket: Socket, target: BackendTarget, maxLineLength: number) {
    this.socket = socket;
    this.target = target;
    this.maxLine = maxLineLength;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onEnd);
  }

  /** The next line without its CRLF (see the contract). */
  async readLine(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl >= 0 && nl <= this.maxLine + 1) {
        const line = this.buf.subarray(0, nl).toString('utf8').replace(/\r$/, '');
        this.buf = this.buf.subarray(nl + 1);
        if (this.socket.isPaused() && this.buf.length <= 4 * (this.maxLine + 2)) this.socket.resume();
        return line;
      }
      if (nl > this.maxLine + 1 || this.buf.length > this.maxLine + 2) throw failed(this.target, 'a line over the length limit');
      if (this.ended !== null) throw failed(this.target, 'closed the connection', this.ended);
      const left = deadline - Date.now();
      if (left <= 0) throw failed(this.target, `no answer within rwTimeout (${timeoutMs} ms)`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = null;
          resolve();
        }, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
  }

  write(text: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }

  /** Stop reading lines: the bytes read past the last line (copied to the client first). */
  rest(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onEnd);
    this.socket.on('error', () => this.socket.destroy());
    const b = this.buf;
    this.buf = Buffer.alloc(0);
    return b;
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface Splice {
  /** End both sides now (idle timeout, shutdown). */
  close(): void;
}

/** Copy bytes both ways until either side is done (see the contract). */
export function splice(client: Socket, backend: Socket, o: { toBackend: Buffer | null; toClient: Buffer | null; done: (why: 'client' | 'backend' | 'closed') => void }): Splice {
  let over = false;
  let clientEnded = false;
  let backendEnded = false;
  const finish = (why: 'client' | 'backend' | 'closed'): void => {
    if (over) return;
    over = true;
    client.unpipe(backend);
    backend.unpipe(client);
    backend.destroy();
    o.done(why);
  };
  const bothEnded = (why: 'client' | 'backend'): void => {
    if (clientEnded && backendEnded) finish(why);
  };
  if (o.toClient !== null && o.toClient.length > 0) client.write(o.toClient);
  if (o.toBackend !== null && o.toBackend.length > 0) backend.write(o.toBackend);
  client.on('end', () => {
    clientEnded = true;
    bothEnded('client');
  });
  backend.on('end', () => {
    backendEnded = true;
    bothEnded('backend');
  });
  // an end from one side is passed on (pipe's default): the other side may still answer
  client.pipe(backend);
  backend.pipe(client);
  client.once('close', () => finish('client'));
  backend.once('close', () => finish('backend'));
  client.on('error', () => finish('client'));
  backend.on('error', () => finish('backend'));
  client.resume();
  return { close: () => finish('closed') };
}

/**
 * The proxy's session handle: the line session's until the login hands the client to a splice
 * (`handOff`, an `upgrade` verdict's wrap: the session's last reply is written, then the input
 * not yet framed goes to the back end first and the session reads nothing more), the splice's
 * after: an idle timeout or a shutdown then ends the pair, with no protocol words (the client
 * is talking to the back end).
 */
export class ProxyHandle<S extends string, D> implements SessionHandle {
  session: LineSession<S, D> | null = null;
  private spliced: Splice | null = null;
  private client: Socket | undefined;
  private readonly ctx: SessionContext;

  constructor(ctx: SessionContext) {
    this.ctx = ctx;
  }

  /** The wrap that splices the client with `conn` (the back end's rest copied first). */
  handOff(conn: BackendConn): StreamWrap {
    return (client, buffered) => {
      const rest = conn.rest();
      this.client = client;
      const dummy = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } }) as unknown as Socket;
      if (client.destroyed || client.writableEnded) {
        conn.close(); // the client went away while the proxy logged in for it
        return dummy;
      }
      this.spliced = splice(client, conn.socket, {
        toBackend: buffered,
        toClient: rest,
        done: (why) => this.ctx.end(why === 'client' ? 'client_closed' : 'normal', client),
      });
      // the line session reads and writes this from now on: nothing
      return dummy;
    };
  }

  info(): ActorInfo {
    return this.session!.info();
  }

  shutdown(now?: boolean): void {
    if (this.spliced !== null) {
      this.ctx.end('shutdown', this.client);
      this.spliced.close();
      return;
    }
    this.session?.shutdown(now);
  }

  idleTimeout(): void {
    if (this.spliced !== null) {
      this.ctx.end('idle_timeout', this.client);
      this.spliced.close();
      return;
    }
    this.session?.idleTimeout();
  }
}
