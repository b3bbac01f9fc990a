/**
 * protocols/ftp/data.ts: FTP data connections, owned by their session on its connection thread.
 *
 * - Passive (PASV/EPSV): a listener on the control connection's local address, on a free port
 *   of the configured range, that accepts only the control connection's peer address (paused:
 *   nothing is read until an upload or TLS asks), and one connection per PASV (any other connection is closed at once and counted). The session
 *   keeps it between transfers (a PASV re-arms it) and it closes after PASSIVE_IDLE_MS unarmed.
 * - Active (PORT/EPRT): a connection to the client's own address (the caller checks it), from
 *   the control connection's local address.
 * - With PROT P the data connection is TLS (server side, the listener's certificate), the
 *   handshake finished before any byte moves.
 * - Sending (a buffer; stored bodies: bodies.ts) and receiving (up to a byte cap) are bounded by
 *   `timeoutMs` of inactivity, and a `Transfer` can be aborted at any moment (ABOR) by
 *   destroying its socket. An upload must also keep the service's minDataRate over each
 *   dataRateWindow (session/limits.ts `RateGuard`), or it is cut ('too_slow': 426).
 *
 * Exports: `PassiveListener`, `PASSIVE_IDLE_MS`, `Transfer`, `connectActive`, `secureData`,
 * `sendBytes`, `watch`, `receiveBytes`, `plainAddress`, `DataError`.
 * Rejects: DataError with `why`: 'timeout' | 'aborted' | 'closed' | 'too_large' | 'no_port' |
 * 'corrupt' | 'connect' | 'too_slow'.
 */
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { wrapServerSocket } from '../../net/tls.ts';
import type { TcpListenerOptions } from '../../config/options.ts';
import { MAX_CONFIG_BYTES } from './registry.ts';
import { RateGuard } from '../../session/limits.ts';

export type DataWhy = 'timeout' | 'aborted' | 'closed' | 'too_large' | 'no_port' | 'corrupt' | 'connect' | 'too_slow';

export class DataError extends Error {
  readonly why: DataWhy;
  constructor(why: DataWhy, message: string) {
    super(message);
    this.why = why;
  }
}

/** An 'error' listener that ignores the error ('close' follows, and the transfer's own
 * watchers report it): one function for every data socket, not a closure each. */
function ignoreError(): void {}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
export function plainAddress(a: string | undefined): string {
  const s = a ?? '';
  return s.startsWith('::ffff:') && net.isIPv4(s.slice(7)) ? s.slice(7) : s;
}

/** A data transfer in progress; `abort()` ends it at once (ABOR, session end). */
export class Transfer {
  aborted = false;
  socket: net.Socket | null = null;
  private onAbort: Array<() => void> | null = null; // (made on first use: most transfers never need one)
  /** Writes the preliminary reply (150) the session holds back while the data goes out at
   * once (session.ts `withData`); null when it was written or none is held. */
  private held: (() => void) | null = null;

  /** Hold the preliminary reply: `flush` writes it. */
  hold(flush: () => void): void {
    this.held = flush;
  }

  /** The data cannot go out at once (the client must read first): write the held reply now. */
  release(): void {
    const f = this.held;
    this.held = null;
    f?.();
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.socket?.destroy();
    const fs = this.onAbort ?? [];
    this.onAbort = null;
    for (const f of fs) f();
  }

  whenAborted(f: () => void): void {
    if (this.aborted) f();
    else (this.onAbort ??= []).push(f);
  }
}

const cursors = new Map<string, number>(); // range → next port to try (per thread)

function listenOn(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true, backlog: 4 }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** How long a passive listener stays open, unarmed, for the session's next PASV. */
export const PASSIVE_IDLE_MS = 5000;

export class PassiveListener {
  readonly port: number;
  /** Connections refused: from another address than the control peer, or with no PASV
   * waiting for one. */
  refusedPeers = 0;
  private readonly server: net.Server;
  private armed = false; // a PASV/EPSV is waiting for its one connection
  private got: net.Socket | null = null;
  private waiter: ((s: net.Socket) => void) | null = null;
  private idle: NodeJS.Timeout | null = null;
  /** When the last connection was handed out (performance.now()), -1 while armed or never. */
  private unarmedSince = -1;
  private closed = false;

  private constructor(server: net.Server, peer: string) {
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    server.on('connection', (s) => {
      s.on('error', ignoreError);
      if (!this.armed || this.got !== null || plainAddress(s.remoteAddress) !== peer) {
        this.refusedPeers++;
        s.destroy();
        return;
      }
      const w = this.waiter;
      if (w !== null) {
        this.waiter = null;
        this.taken();
        w(s);
      } else this.got = s;
    });
    server.on('error', ignoreError);
  }

  /** Listen on `host`, on the first free port of [min, max] from a per-thread cursor. */
  static async open(host: string, peer: string, min: number, max: number): Promise<PassiveListener> {
    const span = max - min + 1;
    const key = `${min}-${max}`;
    let c = cursors.get(key) ?? Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) {
      const port = min + (c % span);
      c = (c + 1) % span;
      // paused: a download never reads its data connection (no read start, no epoll entry per
      // file); an upload resumes it (receiveBytes)
      const server = net.createServer({ pauseOnConnect: true });
      try {
        await listenOn(server, host, port);
        cursors.set(key, c);
        return new PassiveListener(server, plainAddress(peer));
      } catch (e) {
        server.close();
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' && code !== 'EACCES') throw new DataError('no_port', `cannot listen on ${host}:${port}: ${(e as Error).message}`);
      }
    }
    cursors.set(key, c);
    throw new DataError('no_port', `no free passive port in ${min}-${max}`);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** The client's data connection for the armed PASV is already made. */
  get connected(): boolean {
    return this.got !== null && !this.closed;
  }

  /** A PASV is waiting for its connection. */
  get isArmed(): boolean {
    return this.armed && !this.closed;
  }

  /** Expect one connection (a new PASV on the same port: the session's listener is kept open
   * between transfers instead of a listen per file). */
  arm(): void {
    this.unarmedSince = -1;
    this.got?.destroy();
    this.got = null;
    this.armed = true;
  }

  /** The connection was handed out: unarmed until the next PASV, closed if none comes soon. */
  private taken(): void {
    this.armed = false;
    // one timer for the listener's life, not one per transfer: it closes the listener once it
    // has stayed unarmed for PASSIVE_IDLE_MS
    this.unarmedSince = performance.now();
    if (this.idle === null) {
      this.idle = setTimeout(this.idleCheck, PASSIVE_IDLE_MS);
      this.idle.unref();
    }
  }

  private readonly idleCheck = (): void => {
    this.idle = null;
    if (this.closed || this.unarmedSince < 0) return;
    const left = this.unarmedSince + PASSIVE_IDLE_MS - performance.now();
    if (left <= 0) this.close();
    else {
      this.idle = setTimeout(this.idleCheck, left);
      this.idle.unref();
    }
  };

  /** The client's data connection (already made, or the next one within `timeoutMs`). */
  accept(timeoutMs: number, t: Transfer): Promise<net.Socket> {
    const ready = this.got;
    if (ready !== null) {
      this.got = null;
      this.taken();
      return Promise.resolve(ready);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        this.close();
        reject(new DataError('timeout', `no data connection within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.waiter = (s) => {
        clearTimeout(timer);
        resolve(s);
      };
      t.whenAborted(() => {
        clearTimeout(timer);
        this.waiter = null;
        this.close();
        reject(new DataError('aborted', 'aborted'));
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.armed = false;
    if (this.idle !== null) clearTimeout(this.idle);
    this.server.close();
    this.got?.destroy(); // made, but no command used it
    this.got = null;
  }
}

/** Connect to the client's data port (active mode). */
export function connectActive(host: string, port: number, localAddress: string, timeoutMs: number, t: Transfer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const opts: net.NetConnectOpts = { host, port };
    if (localAddress !== '') opts.localAddress = localAddress;
    const s = net.connect(opts);
    t.socket = s;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new DataError('timeout', `could not connect to ${host}:${port} within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      s.on('error', ignoreError);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(new DataError(t.aborted ? 'aborted' : 'connect', `cannot connect to ${host}:${port}: ${e.message}`));
    });
    t.whenAborted(() => {
      clearTimeout(timer);
      s.destroy();
      reject(new DataError('aborted', 'aborted'));
    });
  });
}

/** PROT P: run the TLS handshake (server side) on a data connection. */
export function secureData(s: net.Socket, l: TcpListenerOptions, timeoutMs: number, t: Transfer): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = wrapServerSocket(s, l);
    t.socket = tls;
    const timer = setTimeout(() => {
      tls.destroy();
      reject(new DataError('timeout', 'TLS handshake on the data connection timed out'));
    }, timeoutMs);
    tls.once('secure', () => {
      clearTimeout(timer);
      // TLS 1.3: let the session tickets go out before any data, or a client that reads a
      // ticket together with close_notify (OpenSSL) fails its shutdown "while in init"
      setImmediate(() => resolve(tls));
    });
    tls.on('error', (e) => {
      clearTimeout(timer);
      tls.destroy();
      reject(new DataError(t.aborted ? 'aborted' : 'closed', `TLS on the data connection failed: ${e.message}`));
    });
    tls.once('close', () => reject(new DataError(t.aborted ? 'aborted' : 'closed', 'data connection closed during the TLS handshake')));
  });
}

/** Watch a data socket: inactivity past `timeoutMs` destroys it; resolves how it ended. */
export function watch(s: net.Socket, timeoutMs: number, t: Transfer, bytes = Infinity): Promise<void> {
  t.socket = s;
  // what fits in the socket's buffer is finished at once: no stall to watch for
  if (bytes > 64 * 1024) s.setTimeout(timeoutMs, () => s.destroy(new DataError('timeout', `data connection stalled for ${Math.round(timeoutMs / 1000)} s`)));
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (e?: Error): void => {
      if (done) return;
      done = true;
      reject(t.aborted ? new DataError('aborted', 'aborted') : e instanceof DataError ? e : new DataError('closed', e?.message ?? 'data connection closed early'));
    };
    s.once('error', fail);
    s.once('close', () => fail());
    s.once('finish', () => {
      done = true;
      resolve();
    });
  });
}

/** Send `bytes` and close the data connection; resolves once all is handed to the network.
 * Bytes the socket could not take at once release the held preliminary reply (the client may
 * wait for it before it reads). */
export async function sendBytes(s: net.Socket, bytes: Buffer, timeoutMs: number, t: Transfer): Promise<void> {
  if (!(s as TLSSocket).encrypted && s.writable && s.writableLength === 0) {
    // a plain connection whose bytes the kernel takes at once (most files: the socket buffer
    // holds them): close it right away, and the kernel sends them, then the FIN; no shutdown
    // request, 'finish' event or watch for a transfer that is already over
    t.socket = s;
    s.write(bytes);
    if (s.writableLength === 0 && s.errored === null && !s.destroyed) {
      s.destroy();
      return;
    }
    const done = watch(s, timeoutMs, t, s.writableLength);
    s.end();
    t.release();
    await done;
    s.destroy();
    return;
  }
  const done = watch(s, timeoutMs, t, bytes.length);
  s.end(bytes);
  if (s.writableLength > 0) t.release();
  await done;
  // a plain connection is done once its bytes and FIN are queued: close it now rather than
  // wait to read the client's FIN (TLS waits: the client answers close_notify)
  if (!(s as TLSSocket).encrypted) s.destroy();
  else if (!s.destroyed) {
    const timer = setTimeout(() => s.destroy(), timeoutMs).unref();
    s.once('close', () => clearTimeout(timer));
  }
}

/** Read the whole upload (until the client closes), refusing more than `max` bytes, or one
 * slower than `minRate.bytesPerSec` over a window of `minRate.windowMs`. */
export function receiveBytes(s: net.Socket, max: number, timeoutMs: number, t: Transfer, minRate?: { bytesPerSec: number; windowMs: number }): Promise<Buffer> {
  t.socket = s;
  s.setTimeout(timeoutMs, () => s.destroy(new DataError('timeout', `data connection stalled for ${Math.round(timeoutMs / 1000)} s`)));
  const guard = minRate === undefined ? null : new RateGuard(minRate.bytesPerSec, minRate.windowMs, () => s.destroy(new DataError('too_slow', `upload slower than ${minRate.bytesPerSec} bytes/s (minDataRate)`)));
  s.once('close', () => guard?.stop());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let ended = false;
    s.on('data', (c: Buffer) => {
      guard?.add(c.length);
      n += c.length;
      if (n > max) {
        s.destroy(new DataError('too_large', `Upload larger than ${max} bytes (${max === MAX_CONFIG_BYTES ? 'configuration files' : 'maxUploadSize'})`));
        return;
      }
      chunks.push(c);
    });
    s.once('end', () => {
      ended = true;
      guard?.stop();
      resolve(Buffer.concat(chunks, n));
      s.end();
    });
    s.once('error', (e) => reject(t.aborted ? new DataError('aborted', 'aborted') : e instanceof DataError ? e : new DataError('closed', e.message)));
    s.once('close', () => {
      if (!ended) reject(new DataError(t.aborted ? 'aborted' : 'closed', 'data connection closed before the upload ended'));
    });
    s.resume(); // a passive connection is accepted paused
  });
}
