/**
 * http/sessions.ts: web sessions as a request sees them: the cookie, CSRF and same-origin
 * checks, and `HttpEnv`'s login/logout/requireSession/sameOrigin over the connection's
 * `SessionContext.webSessions` (the table on the service host, http/session-table.ts).
 *
 * - The cookie (`SESSION_COOKIE`) carries the session id: `HttpOnly; SameSite=Lax; Path=/`, plus
 *   `Secure` on a TLS connection. A login rotates it: the request's old session is destroyed.
 * - Same origin (`sameOrigin`): a state-changing request (anything but GET, HEAD, OPTIONS) is
 *   refused (403) when the browser says `Sec-Fetch-Site: cross-site`, or when it has an `Origin`
 *   other than the request's own `scheme://host[:port]` (`Origin: null` included).
 * - `requireSession` (a route's preHandler): no session → a GET or HEAD gets 303 to `/`, anything
 *   else 401; a state-changing request also needs same origin and the session's CSRF token,
 *   from the `x-csrf-token` header or the `_csrf` body field, compared in constant time: else 403.
 *   The body is parsed before preHandler: a form-encoded body is an object of strings; a
 *   multipart one is seen only when the multipart plugin attaches its fields to the body
 *   (`attachFieldsToBody`: true, where a field is `{ value }`, or 'keyValues'); a route that
 *   streams its parts instead must send the header.
 *
 * Exports: `sessionHelpers`, `SessionHelpers`, `CSRF_FIELD`, `CSRF_HEADER`, `sessionIdOf`,
 * `sessionCookie`. Throws nothing itself; `login` rejects INTERNAL (a service without web
 * sessions) or with the table's error (the host did not answer: ACTOR_TIMEOUT); `load` resolves
 * null instead.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpEnv, HttpOptions, WebSession } from './types.ts';
import { SESSION_COOKIE } from './types.ts';
import { SESSION_ID_PATTERN } from './session-table.ts';
import { PosternError } from '../errors.ts';

export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

export interface SessionHelpers extends Pick<HttpEnv, 'requireSession' | 'sameOrigin' | 'login' | 'logout'> {
  /** The request's session from its cookie (null: none, unknown or expired); the host calls it
   * once per request and stores it in `req.postern.session`. */
  load(req: FastifyRequest): Promise<WebSession | null>;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Session cookies looked up per request (a browser may hold one per path; more is a client
 * trying ids: each lookup is a call to the service host). */
const MAX_COOKIE_IDS = 4;

/** The well-formed session ids in a Cookie header, in order (a browser may send the name
 * twice), at most MAX_COOKIE_IDS. */
export function sessionIdOf(cookieHeader: string | string[] | undefined): string[] {
  const out: string[] = [];
  const headers = cookieHeader === undefined ? [] : Array.isArray(cookieHeader) ? cookieHeader : [cookieHeader];
  for (const h of headers) {
    for (const part of h.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
      let v = part.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      if (SESSION_ID_PATTERN.test(v) && !out.includes(v)) out.push(v);
      if (out.length >= MAX_COOKIE_IDS) return out;
    }
  }
  return out;
}

/** The Set-Cookie value for session id `id` (`''` with `clear`: the cookie removed). */
export function sessionCookie(id: string, secure: boolean, clear = false): string {
  const attrs = [`${SESSION_COOKIE}=${id}`, 'Path=/', 'HttpOnly', 'SameSite=Lax'];
  if (secure) attrs.push('Secure');
  if (clear) attrs.push('Max-Age=0', 'Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  return attrs.join('; ');
}

/** The request's own origin: `http(s)://host[:port]` from its Host header; null without one. */
function ownOrigin(req: FastifyRequest): URL | null {
  const host = req.headers.host;
  if (host === undefined || host === '' || /[\s/\\?#@]/.test(host)) return null;
  try {
    return new URL(`${req.postern.secure ? 'https' : 'http'}://${host}`);
  } catch {
    return null;
  }
}

/** Same origin by the browser's own headers (Sec-Fetch-Site, Origin); true for safe methods. */
function isSameOrigin(req: FastifyRequest): boolean {
  if (SAFE_METHODS.has(req.method)) return true;
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site.toLowerCase() === 'cross-site') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true; // not a browser's cross-origin request (curl, a proxy)
  const own = ownOrigin(req);
  if (own === null || typeof origin !== 'string') return false;
  try {
    const o = new URL(origin); // 'null' and garbage throw
    return o.protocol === own.protocol && o.hostname === own.hostname && o.port === own.port;
  } catch {
    return false;
  }
}

/** The CSRF token the request carries: the header, else the body's `_csrf` field. */
function csrfOf(req: FastifyRequest): string | null {
  const h = req.headers[CSRF_HEADER];
  if (typeof h === 'string' && h !== '') return h;
  const body = req.body;
  if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return null;
  let f: unknown = (body as Record<string, unknown>)[CSRF_FIELD];
  if (Array.isArray(f)) f = f[0];
  if (f !== null && typeof f === 'object' && 'value' in f) f = (f as { value: unknown }).value; // multipart, attachFieldsToBody: true
  return typeof f === 'string' && f !== '' ? f : null;
}

function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function sessionHelpers(options: () => HttpOptions): SessionHelpers {
  void options; // the timeouts are the table's (on the service host); nothing here reads them

  /** Send the refusal; the reply is a thenable that settles once the response is written. */
  const refuse = (reply: FastifyReply, code: 401 | 403, why: string): FastifyReply =>
    reply.code(code).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send(`${code === 401 ? 'Unauthorized' : 'Forbidden'}: ${why}\n`);

  const helpers: SessionHelpers = {
    async load(req) {
      const table = req.postern.conn.webSessions;
      if (table === undefined) return null;
      for (const id of sessionIdOf(req.headers.cookie)) {
        try {
          const s = await table.get(id);
          if (s !== null) return s;
        } catch {
          return null; // the host did not answer: as if logged out, never a 500
        }
      }
      return null;
    },

    sameOrigin(req, reply) {
      if (isSameOrigin(req)) return true;
      refuse(reply, 403, 'cross-site request refused');
      return false;
    },

    async requireSession(req, reply) {
      const s = req.postern.session;
      if (s === null) {
        if (req.method === 'GET' || req.method === 'HEAD') {
          await reply.code(303).header('location', '/').header('cache-control', 'no-store').send();
        } else {
          await refuse(reply, 401, 'no session (log in again)');
        }
        return;
      }
      if (SAFE_METHODS.has(req.method)) return;
      if (!isSameOrigin(req)) {
        await refuse(reply, 403, 'cross-site request refused');
        return;
      }
      const t = csrfOf(req);
      if (t === null || !tokensEqual(t, s.csrf)) await refuse(reply, 403, 'missing or wrong CSRF token');
    },

    async login(req, reply, user) {
      const table = req.postern.conn.webSessions;
      if (table === undefined) throw new PosternError('INTERNAL', 'this service keeps no web sessions');
      // rotate: the session this browser had (whoever it was) ends
      const old = new Set(sessionIdOf(req.headers.cookie));
      if (req.postern.session !== null) old.add(req.postern.session.id);
      for (const id of old) await table.destroy(id).catch(() => {});
      const s = await table.create(user, req.postern.conn.remoteAddress);
      req.postern.session = s;
      reply.header('set-cookie', sessionCookie(s.id, req.postern.secure));
      return s;
    },

    async logout(req, reply) {
      const table = req.postern.conn.webSessions;
      const ids = new Set(sessionIdOf(req.headers.cookie));
      if (req.postern.session !== null) ids.add(req.postern.session.id);
      if (table !== undefined) for (const id of ids) await table.destroy(id).catch(() => {});
      req.postern.session = null;
      reply.header('set-cookie', sessionCookie('', req.postern.secure, true));
    },
  };
  return helpers;
}
