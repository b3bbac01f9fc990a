/**
 * webadmin/common.ts: what every WebAdmin route shares: the guarded route options (a session,
 * and on a state change its CSRF token and same origin: the host's `requireSession`), form
 * values, the admin commands of the one registry run as the session's service
 * (`SessionContext.admin`), the flash notice carried over a redirect, pages and error pages.
 *
 * Errors: a route throws `WebError` for a page with a status; a registry error (PosternError)
 * becomes 400 (CONTROL_BAD_REQUEST, CONFIG_*, a store's "no such"/"exists"/"bad" codes: the
 * operator's mistake, its message shown) or 503 (anything else: logged, a generic text shown).
 *
 * Exports: `WebError`, `guard`, `handled`, `str`, `adminCall`, `setNotice`, `takeNotice`,
 * `sendPage`, `sendError`, `errorStatus`, `errorText`, `NOTICE_COOKIE`, `WebadminRoutes`,
 * `webadminOptions`. Throws: `webadminOptions` INTERNAL (a service whose options are not
 * WebAdmin's); `adminCall` the registry's errors (PosternError codes), WebError 503 for a
 * service that may not run admin commands.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PosternError } from '../../errors.ts';
import type { HttpEnv } from '../../http/types.ts';
import type { WebadminOptions } from '../../config/options.ts';
import { WebError } from '../../http/web-error.ts';
export { WebError };

export type WebadminRoutes = (app: FastifyInstance, env: HttpEnv) => void | Promise<void>;

/** The request's WebAdmin options (the service's resolved block). */
export function webadminOptions(req: FastifyRequest): WebadminOptions {
  const p = req.postern.conn.service.protocol;
  if (p.kind !== 'webadmin') throw new PosternError('INTERNAL', `service ${req.postern.conn.service.name} has ${p.kind} options, not WebAdmin's`);
  return p;
}

/** Route options: the session required (host's requireSession: 303/401/403). */
export function guard(env: HttpEnv): { preHandler: (req: FastifyRequest, reply: FastifyReply) => Promise<void> } {
  return { preHandler: async (req, reply) => env.requireSession(req, reply) };
}

export function handled(env: HttpEnv, fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  return async (req, reply) => {
    try {
      return await fn(req, reply);
    } catch (e) {
      if (reply.sent) throw e;
      return sendError(env, req, reply, e);
    }
  };
}

/** A form or query value as one string ('' when absent; a repeated one: its first). */
export function str(bag: unknown, name: string): string {
  const v = (bag as Record<string, unknown> | null | undefined)?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined || one === null ? '' : String(one);
}

/** Run a registry command as this session's service (the host's `admin` HostCall). */
export async function adminCall(req: FastifyRequest, verb: string, args: Record<string, unknown> = {}): Promise<unknown> {
  const run = req.postern.conn.admin;
  if (run === undefined) throw new WebError(503, 'this service may not run admin commands');
  return run(verb, args);
}

export const NOTICE_COOKIE = 'postern_admin_notice';
const NOTICE_MAX = 300;
const cookieAttrs = (req: FastifyRequest): string => `Path=/; HttpOnly; SameSite=Lax${req.postern.secure ? '; Secure' : ''}`;

export function setNotice(req: FastifyRequest, reply: FastifyReply, text: string): void {
  reply.header('set-cookie', `${NOTICE_COOKIE}=${encodeURIComponent(text.slice(0, NOTICE_MAX))}; Max-Age=60; ${cookieAttrs(req)}`);
}

export function takeNotice(req: FastifyRequest, reply: FastifyReply): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== NOTICE_COOKIE) continue;
    reply.header('set-cookie', `${NOTICE_COOKIE}=; Max-Age=0; ${cookieAttrs(req)}`);
    try {
      return decodeURIComponent(part.slice(eq + 1).trim()).slice(0, NOTICE_MAX) || null;
    } catch {
      return null;
    }
  }
  return null;
}

/** Render `name` (with the nav's `section`, the notice) and send it. */
export async function sendPage(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, name: string, model: Record<string, unknown>, status = 200): Promise<FastifyReply> {
  const notice = req.postern.session === null ? null : takeNotice(req, reply);
  const html = await env.views.render(req, name, { notice, ...model });
  return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html);
}

const OPERATOR_CODES = /^(CONTROL_BAD_REQUEST|CONFIG_|STORE_(NO_SUCH|BAD|DOMAIN|ACCOUNT|EXISTS|ALREADY|NOT_)|QUEUE_|SERVICE_(UNKNOWN|RUNNING|NOT_RUNNING|NOT_IMPLEMENTED)|NOT_IMPLEMENTED|RPOP_NO)/;

export function errorStatus(e: unknown): number {
  if (e instanceof WebError) return e.status;
  if (e instanceof PosternError && OPERATOR_CODES.test(e.code)) return 400;
  const sc = (e as { statusCode?: unknown } | null)?.statusCode;
  if (typeof sc === 'number' && sc >= 400 && sc < 600) return sc;
  return 503;
}

/** The text an operator sees for an error (a registry error's own message when it is theirs). */
export function errorText(e: unknown): string {
  const status = errorStatus(e);
  if (status >= 500 && !(e instanceof WebError)) return 'The server could not do that now; see the log.';
  return e instanceof PosternError ? `${e.code}: ${e.message}` : (e as Error).message;
}

const PLAIN: Record<number, string> = { 400: 'Bad request', 401: 'Not logged in', 403: 'Forbidden', 404: 'Not found', 413: 'Too large', 429: 'Too many', 503: 'Temporarily unavailable' };

export async function sendError(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, e: unknown): Promise<FastifyReply> {
  const status = errorStatus(e);
  if (status >= 500) env.log.warn({ err: e, url: req.url.slice(0, 200) }, 'webadmin: request failed');
  try {
    return await sendPage(env, req, reply, 'error', { status, title: PLAIN[status] ?? 'Error', message: errorText(e), section: '' }, status);
  } catch (e2) {
    env.log.warn({ err: e2 }, 'webadmin: cannot render the error page');
    return reply.code(status).type('text/plain; charset=utf-8').send(`${status} ${PLAIN[status] ?? 'Error'}: ${errorText(e)}\n`);
  }
}
