/**
 * webmailProxy/forward.ts: one request of a logged-in session forwarded to its back end, and
 * the back end's answer streamed back.
 *
 * To the back end: the method, the path and query, the headers minus the hop-by-hop ones
 * (Connection and those it names, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade,
 * Proxy-*) and minus `Origin` (the proxy has checked same origin itself: the back end, reached
 * over plain HTTP while the browser may be on HTTPS, would see a scheme that is not its own),
 * the session cookie replaced by the back end's token (affinity.ts), `X-Forwarded-For` and
 * `X-Forwarded-Proto` added; the body streamed as it arrives (the host's body limits apply to
 * it on the way in).
 * Back: the status and headers minus hop-by-hop ones; the back end's own session cookie is never
 * passed on (a Set-Cookie that clears it ends the proxy's session too); the other Set-Cookies
 * pass; the body streamed, event streams (`text/event-stream`) included.
 *
 * Exports: `forward`, `ForwardOutcome`, `requestHeaders`, `HOP_BY_HOP`. Throws: QueueFull and
 * BackendError (backends.ts) before any byte of the answer is sent; a back end failing after
 * the headers are sent ends the client's response (destroyed).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import type { Backends } from './backends.ts';
import { backendSessionCookie, withBackendCookie, type Affinity } from './affinity.ts';

export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade']);

/** The client's headers to send on to a back end (see the contract). */
export function requestHeaders(req: FastifyRequest, token: string | null): Record<string, string | string[]> {
  const named = new Set(String(req.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()).filter((s) => s !== ''));
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.has(k) || k === 'origin' || k === 'cookie' || k === 'x-forwarded-for' || k === 'x-forwarded-proto' || k === 'expect') continue;
    out[k] = v;
  }
  if (token !== null) out['cookie'] = withBackendCookie(req.headers.cookie, token);
  else if (req.headers.cookie !== undefined) out['cookie'] = req.headers.cookie;
  out['x-forwarded-for'] = req.postern.conn.remoteAddress;
  out['x-forwarded-proto'] = req.postern.secure ? 'https' : 'http';
  return out;
}

export interface ForwardOutcome {
  readonly status: number;
  /** The back end cleared its session cookie (logout, or its session ended). */
  readonly backendLoggedOut: boolean;
}

/** Forward the request; the answer is sent on `reply` unless `intercept` takes it (it gets the
 * status and returns true to handle the answer itself; the body is then dropped). `loggedOut`
 * runs before the answer is sent when the back end cleared its session cookie. */
export async function forward(
  backends: Backends,
  req: FastifyRequest,
  reply: FastifyReply,
  a: Affinity,
  o: { intercept?: (status: number) => boolean; loggedOut?: () => Promise<void> } = {},
): Promise<ForwardOutcome & { intercepted: boolean }> {
  const raw = req.raw;
  const ac = new AbortController();
  const abort = (): void => {
    if (!reply.raw.writableFinished) ac.abort();
  };
  reply.raw.once('close', abort);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && (raw.headers['content-length'] !== undefined ? raw.headers['content-length'] !== '0' : raw.headers['transfer-encoding'] !== undefined);
  const stream = req.method === 'GET' && (req.url === '/events' || req.url.startsWith('/events?'));
  const ans = await backends.send(a.backend, {
    method: req.method as Dispatcher.HttpMethod,
    path: req.url,
    headers: requestHeaders(req, a.token),
    body: hasBody ? raw : null,
    signal: ac.signal,
    stream,
    onQueued: () => req.postern.conn.count('webmailProxy.queued'),
  });
  let loggedOut = false;
  const named = new Set(String(ans.headers['connection'] ?? '').toLowerCase().split(',').map((s) => s.trim()));
  const headers: Record<string, string | string[]> = {};
  const cookies: string[] = [];
  for (const [k, v] of Object.entries(ans.headers)) {
    if (v === undefined || HOP_BY_HOP.has(k) || named.has(k)) continue;
    if (k === 'set-cookie') {
      for (const c of Array.isArray(v) ? v : [v]) {
        const s = backendSessionCookie(c);
        if (s === null) cookies.push(c);
        else if (s === '') loggedOut = true;
      }
      continue;
    }
    headers[k] = v;
  }
  if (o.intercept?.(ans.statusCode) === true) {
    ans.body.resume(); // drained: its place in the queue ends with it
    return { status: ans.statusCode, backendLoggedOut: loggedOut, intercepted: true };
  }
  reply.code(ans.statusCode).headers(headers);
  if (cookies.length > 0) reply.header('set-cookie', cookies);
  if (loggedOut) await o.loggedOut?.();
  ans.body.once('error', () => reply.raw.destroy());
  if (req.method === 'HEAD' || ans.statusCode === 204 || ans.statusCode === 304) {
    ans.body.resume();
    await reply.send();
  } else {
    await reply.send(ans.body);
  }
  return { status: ans.statusCode, backendLoggedOut: loggedOut, intercepted: false };
}
