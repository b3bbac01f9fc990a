/**
 * webmailProxy/backends.ts: the WebMail proxy's back ends as one connection thread sees them:
 * an undici `Pool` per back end (`host:port`), made on first use, with the service's
 * `connectionData` (connectTimeout, rwTimeout as the headers and body timeouts, maxConnections
 * as the pool's connections, localInterface as the source address, sslEnable/caFile/verify), and
 * a request queue per back end bounded by `requestQueueSize`.
 *
 * The queue: a back end holds at most `maxConnections` requests in flight; up to
 * `requestQueueSize` more wait for a connection (undici's own queue); a request beyond that is
 * refused at once (`QueueFull`: the caller answers 503), so a slow back end costs its own users
 * a fast 503, never a growing heap. A request counts from `send` until its answer's body has
 * been read to the end, failed, or been abandoned (`release`).
 *
 * Event streams (`GET /events`, server-sent events that last as long as the page is open) go
 * through a second pool per back end with no connection bound and no body timeout (the back end
 * writes a heartbeat every 25 s): they are bounded by the proxy's own client connections, and
 * kept out of the queue, so open pages never starve the back end's ordinary requests.
 *
 * Failures (`BackendError`, code `BACKEND_UNREACHABLE` or `BACKEND_TIMEOUT`): the back end
 * refused or did not accept the connection within connectTimeout, or answered something that is
 * not HTTP (502), or did not answer within rwTimeout (504).
 *
 * Exports: `Backends`, `BackendAddress`, `BackendError`, `QueueFull`, `backendKey`,
 * `parseBackendKey`. Throws (send): QueueFull, BackendError; an abandoned request rejects with
 * undici's abort error.
 */
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { WebmailProxyConnection } from '../../config/options.ts';

export interface BackendAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port` (an IPv6 host in brackets): the pool key and what a session remembers. */
export function backendKey(b: BackendAddress): string {
  return b.host.includes(':') && !b.host.startsWith('[') ? `[${b.host}]:${b.port}` : `${b.host}:${b.port}`;
}

/** The back end a key names; null when it is not `host:port`. */
export function parseBackendKey(key: string): BackendAddress | null {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(key);
  if (m === null) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!, port };
}

/** The back end's queue is full: answer 503 at once. */
export class QueueFull extends Error {
  readonly backend: string;
  constructor(backend: string) {
    super(`the request queue of back end ${backend} is full`);
    this.backend = backend;
  }
}

/** The back end could not be reached (502) or did not answer in time (504). */
export class BackendError extends Error {
  readonly code: 'BACKEND_UNREACHABLE' | 'BACKEND_TIMEOUT';
  readonly backend: string;
  constructor(code: 'BACKEND_UNREACHABLE' | 'BACKEND_TIMEOUT', backend: string, cause: unknown) {
    super(`back end ${backend}: ${code === 'BACKEND_TIMEOUT' ? 'no answer in time' : 'cannot be reached'} (${(cause as { code?: string } | null)?.code ?? String(cause)})`, { cause });
    this.code = code;
    this.backend = backend;
  }
  get status(): 502 | 504 {
    return this.code === 'BACKEND_TIMEOUT' ? 504 : 502;
  }
}

export interface SendRequest {
  readonly method: Dispatcher.HttpMethod;
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body?: Readable | string | null;
  readonly signal?: AbortSignal;
  /** An event stream: the stream pool, outside the queue. */
  readonly stream?: boolean;
  /** Called when the request has to wait in the queue (every connection is busy). */
  readonly onQueued?: () => void;
}

export interface BackendAnswer {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Readable;
}

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'EPIPE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED']);
const TIMEOUT_ERRORS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

interface Backend {
  readonly pool: Pool;
  stream: Pool | null;
  /** Requests counted against the queue (in flight + waiting). */
  pending: number;
}

export class Backends {
  private readonly backends = new Map<string, Backend>();
  private readonly ca: string | undefined;
  private readonly o: WebmailProxyConnection;
  private readonly requestQueueSize: number;
  private closed = false;

  constructor(o: WebmailProxyConnection, requestQueueSize: number) {
    this.o = o;
    this.requestQueueSize = requestQueueSize;
    this.ca = o.sslEnable && o.caFile !== null ? fs.readFileSync(o.caFile, 'utf8') : undefined;
  }

  private origin(key: string): string {
    return `${this.o.sslEnable ? 'https' : 'http'}://${key}`;
  }

  private makePool(key: string, stream: boolean): Pool {
    const o = this.o;
    return new Pool(this.origin(key), {
      connections: stream ? null : o.maxConnections,
      pipelining: 1,
      headersTimeout: o.rwTimeoutMs,
      bodyTimeout: stream ? 0 : o.rwTimeoutMs,
      keepAliveTimeout: 4_000,
      ...(o.localInterface !== null ? { localAddress: o.localInterface } : {}),
      connect: {
        timeout: o.connectTimeoutMs,
        ...(o.sslEnable ? { rejectUnauthorized: o.verify, ...(this.ca !== undefined ? { ca: this.ca } : {}) } : {}),
      },
    });
  }

  private backend(key: string): Backend {
    let b = this.backends.get(key);
    if (b === undefined) {
      b = { pool: this.makePool(key, false), stream: null, pending: 0 };
      this.backends.set(key, b);
    }
    return b;
  }

  /** Requests counted against a back end's queue now (tests, status). */
  pending(key: string): number {
    return this.backends.get(key)?.pending ?? 0;
  }

  /** Send a request to back end `key`; resolves its answer once the headers are in. The body
   * must be read or destroyed (either ends the request's place in the queue). */
  async send(key: string, r: SendRequest): Promise<BackendAnswer> {
    if (this.closed) throw new BackendError('BACKEND_UNREACHABLE', key, new Error('the proxy is reloading'));
    const b = this.backend(key);
    let pool = b.pool;
    let counted = false;
    if (r.stream === true) {
      b.stream ??= this.makePool(key, true);
      pool = b.stream;
    } else {
      if (b.pending >= this.o.maxConnections + this.requestQueueSize) throw new QueueFull(key);
      if (b.pending >= this.o.maxConnections) r.onQueued?.();
      b.pending++;
      counted = true;
    }
    let released = false;
    const release = (): void => {
      if (counted && !released) {
        released = true;
        b.pending--;
      }
    };
    try {
      const res = await pool.request({
        method: r.method,
        path: r.path,
        headers: r.headers,
        body: r.body ?? null,
        ...(r.signal !== undefined ? { signal: r.signal } : {}),
      });
      res.body.once('end', release);
      res.body.once('error', release);
      res.body.once('close', release);
      return { statusCode: res.statusCode, headers: res.headers, body: res.body };
    } catch (e) {
      release();
      const code = (e as { code?: string }).code ?? '';
      if (code === 'UND_ERR_CONNECT_TIMEOUT') throw new BackendError('BACKEND_UNREACHABLE', key, e);
      if (TIMEOUT_ERRORS.has(code)) throw new BackendError('BACKEND_TIMEOUT', key, e);
      if (CONNECT_ERRORS.has(code) || (e as { name?: string }).name === 'SocketError') throw new BackendError('BACKEND_UNREACHABLE', key, e);
      // an answer that is not HTTP (garbage, a TLS server spoken to in plain): a bad gateway too
      if (code.startsWith('HPE_') || (e as { name?: string }).name === 'HTTPParserError') throw new BackendError('BACKEND_UNREACHABLE', key, e);
      throw e;
    }
  }

  /** Close every pool (a reload made new ones): requests in flight finish first. */
  async close(): Promise<void> {
    this.closed = true;
    const all: Promise<void>[] = [];
    for (const b of this.backends.values()) {
      all.push(b.pool.close().catch(() => {}));
      if (b.stream !== null) all.push(b.stream.destroy().catch(() => {}));
    }
    this.backends.clear();
    await Promise.all(all);
  }
}
