/**
 * webmail/write-http.ts: the request plumbing WebMail's acting and writing routes share: the
 * session's account and mailbox, a form field as one string or a list, and the 303 back to a
 * page with a flash notice (the `postern_notice` cookie the reading side's layout shows once as
 * `.notice`: HttpOnly, SameSite=Lax, one minute).
 *
 *   const who = account(req, env, reply); if (who === null) return reply; // 503 sent
 *   return seeOther(reply, '/mail', { f: 'INBOX' }, 'Moved 2 messages to Archive.');
 *
 * Exports: `Account`, `account`, `field`, `fieldList`, `seeOther`, `NOTICE_COOKIE`,
 * `MAX_NOTICE`. Throws nothing.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpEnv } from '../../http/types.ts';
import type { MailboxApi } from '../../store/types.ts';
import type { StoreClient } from '../../store/client.ts';

export const NOTICE_COOKIE = 'postern_notice';
/** A notice is cut at this many characters. */
export const MAX_NOTICE = 300;

export interface Account {
  user: string;
  store: StoreClient;
  mb: MailboxApi;
}

/** The session's account (requireSession ran before). No store: 503 sent, null. */
export function account(req: FastifyRequest, env: HttpEnv, reply: FastifyReply): Account | null {
  const session = req.postern.session;
  const store = env.store ?? req.postern.conn.store;
  if (session === null || store === null) {
    void reply.code(session === null ? 401 : 503).type('text/plain; charset=utf-8').send(session === null ? 'Log in first.\n' : 'The mail store is not available.\n');
    return null;
  }
  return { user: session.user, store, mb: store.mailbox(session.user) };
}

/** A form field as one string ('' when absent; the first of a repeated one). */
export function field(body: unknown, name: string): string {
  const v = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return typeof one === 'string' ? one : '';
}

/** A repeated form field as a list of strings. */
export function fieldList(body: unknown, name: string): string[] {
  const v = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  const all = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return all.filter((x): x is string => typeof x === 'string');
}

/** 303 to `path` with `params` and, when given, the flash notice. */
export function seeOther(reply: FastifyReply, path: string, params: Record<string, string>, notice?: string): FastifyReply {
  if (notice !== undefined && notice !== '') {
    const secure = reply.request.postern?.secure === true ? '; Secure' : '';
    reply.header('set-cookie', `${NOTICE_COOKIE}=${encodeURIComponent(notice.slice(0, MAX_NOTICE))}; Max-Age=60; Path=/; HttpOnly; SameSite=Lax${secure}`);
  }
  const qs = new URLSearchParams(params).toString();
  return reply.code(303).header('location', qs === '' ? path : `${path}?${qs}`).send();
}
