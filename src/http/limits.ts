/**
 * http/limits.ts: the HTTP options enforced on each raw request (node:http's IncomingMessage and
 * ServerResponse), before fastify or any route sees it (http/host.ts calls `guardRequest` from
 * the http.Server's request listener), and on the connection's parse errors (`clientErrorReply`).
 *
 * Per request:
 * - security headers (`SECURITY_HEADERS`: nosniff, no referrer, a default Content-Security-Policy
 *   a route may replace with `reply.header`);
 * - `allowKeepAlive` no, or the connection closing (shutdown, maxErrors reached): the answer
 *   carries `Connection: close` and node ends the connection after it;
 * - `maxErrors`: every 4xx/5xx answer is counted on the connection (and as `http.<status>` for
 *   the service); the one that reaches the limit carries `Connection: close`;
 * - the body: a multipart/form-data body against `uploadMaxSize`, any other `httpBodyMaxSize`.
 *   A declared Content-Length over the limit is refused before a byte is read: with
 *   `allowLargeIncomingData` no, or when the client waits for `100 Continue`, a 413 with
 *   `Connection: close`; with yes, the body is read and dropped, then a 413 that keeps the
 *   connection. A chunked body is counted as node's parser hands it over (the request's `push`,
 *   which every reader of the body, fastify's parsers or @fastify/multipart on `req.raw`, goes
 *   through): past the limit, with no, the connection is destroyed at once (no answer: the body
 *   has started); with yes, the rest is read and dropped (no reader sees any of it, nor its end)
 *   and a 413 goes out when it is over, unless the route has answered already.
 * - the body's pace: while a body is being read, at least `minDataRate` over each
 *   `dataRateWindow` (the session options every TCP service has), else the connection is
 *   destroyed; the headers are bounded by node's `headersTimeout` (http/host.ts).
 *
 * Parse errors (`clientErrorReply`): header overflow → 431, request timeout → 408, a chunk
 * extension overflow → 413, anything else → 400; always `Connection: close`.
 *
 * Exports: `SECURITY_HEADERS`, `DEFAULT_CSP`, `ConnLimitsState`, `RequestLimits`, `bodyLimitFor`,
 * `guardRequest`, `clientErrorReply`. Throws nothing.
 */
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpOptions, SessionOptions } from '../config/options.ts';

export const DEFAULT_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': DEFAULT_CSP,
});

/** What the limits keep per connection (http/host.ts owns the object). */
export interface ConnLimitsState {
  /** 4xx/5xx answers so far. */
  errors: number;
  /** Requests whose answer is not finished. */
  inFlight: number;
  /** Every further answer closes the connection (shutdown asked). */
  closing: boolean;
  /** Why the connection is being closed by us, once decided. */
  closeReason: 'normal' | 'error_limit' | 'shutdown' | null;
  /** Count one event of the service (`SessionContext.count`). */
  count(event: string): void;
  /** Destroy the connection at once (a body over its limit, too slow). */
  destroy(reason: 'error' | 'idle_timeout'): void;
}

/** The limits a request is held to (an instance's options, fixed while it lives). */
export interface RequestLimits {
  readonly http: HttpOptions;
  readonly session: SessionOptions;
  readonly maxErrors: number;
}

const text = (status: number): string => `${status} ${http.STATUS_CODES[status] ?? 'Error'}\n`;

/** Finish `res` with a short text answer (status, headers already decided). */
function answer(res: ServerResponse, status: number, close: boolean): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = text(status);
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  if (close) res.setHeader('connection', 'close');
  res.end(body);
}

/** The body limit of a request: `uploadMaxSize` for multipart/form-data, else `httpBodyMaxSize`. */
export function bodyLimitFor(o: HttpOptions, req: IncomingMessage): number {
  const t = req.headers['content-type'];
  return typeof t === 'string' && /^\s*multipart\/form-data\s*(;|$)/i.test(t) ? o.uploadMaxSize : o.httpBodyMaxSize;
}

/**
 * Apply the limits to one request. Returns true when the request goes on to fastify, false when
 * it has been answered (or is being dropped) here.
 */
export function guardRequest(conn: ConnLimitsState, limits: RequestLimits, req: IncomingMessage, res: ServerResponse): boolean {
  const o = limits.http;
  conn.inFlight++;
  res.once('close', () => conn.inFlight--);
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
  if (!o.allowKeepAlive || conn.closing) {
    res.setHeader('connection', 'close');
    conn.closeReason ??= conn.closing ? 'shutdown' : 'normal';
  }
  // maxErrors: every answer goes through writeHead (node's implicit header too)
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    if (status >= 400) {
      conn.errors++;
      conn.count(`http.${status}`);
      if (conn.errors >= limits.maxErrors) {
        conn.closeReason = 'error_limit';
        this.setHeader('connection', 'close');
        const h = rest[rest.length - 1];
        if (h !== null && typeof h === 'object' && !Array.isArray(h)) {
          for (const k of Object.keys(h)) if (k.toLowerCase() === 'connection') (h as Record<string, unknown>)[k] = 'close';
        }
      }
    } else if (conn.closing) {
      this.setHeader('connection', 'close');
    }
    return (writeHead as (...a: unknown[]) => ServerResponse).call(this, status, ...rest);
  } as typeof res.writeHead;

  const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']);
  if (req.headers['transfer-encoding'] === undefined && (declared === null || declared === 0)) return true; // no body
  const limit = bodyLimitFor(o, req);
  const declaredOver = declared !== null && declared > limit;
  if (declaredOver && (!o.allowLargeIncomingData || /100-continue/i.test(String(req.headers['expect'] ?? '')))) {
    conn.closeReason ??= 'normal';
    answer(res, 413, true); // before a byte of the body is read
    return false;
  }
  // Every byte of the body passes here, whoever reads it. `over`: dropped from here on, and
  // the 413 goes out when the body ends (allowLargeIncomingData yes).
  let received = 0;
  let over = declaredOver;
  let windowBytes = 0;
  const rate = limits.session.minDataRateBytesPerSec;
  const rateTimer =
    rate === null
      ? null
      : setInterval(() => {
          if (windowBytes < (rate * limits.session.dataRateWindowMs) / 1000) {
            clearInterval(rateTimer!);
            conn.count('http.body_too_slow');
            conn.destroy('idle_timeout');
          }
          windowBytes = 0;
        }, limits.session.dataRateWindowMs);
  rateTimer?.unref();
  res.once('close', () => rateTimer !== null && clearInterval(rateTimer));
  const push = req.push;
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk === null) {
      if (rateTimer !== null) clearInterval(rateTimer);
      if (!over) return push.call(this, chunk, encoding);
      answer(res, 413, false); // the body is over: its readers never see its end
      return false;
    }
    const n = (chunk as Buffer).length;
    received += n;
    windowBytes += n;
    if (over) return true; // dropped; keep reading
    if (received > limit) {
      over = true;
      if (!o.allowLargeIncomingData) {
        conn.count('http.body_over_limit');
        conn.destroy('error');
        return false;
      }
      return true;
    }
    return push.call(this, chunk, encoding);
  };
  return !declaredOver; // a body dropped whole never reaches fastify
}

/** The bytes to write for a parse error on the connection (node's 'clientError'), with the
 * status they carry; null: write nothing (the peer is gone). */
export function clientErrorReply(err: NodeJS.ErrnoException): { status: number; bytes: string } | null {
  if (err.code === 'ECONNRESET') return null;
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW' ? 413 : 400;
  const body = text(status);
  return {
    status,
    bytes: `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  };
}
