/**
 * webmail/write-http.ts: the request plumbing WebMail's acting and writing routes share, over
 * common.ts: the session's account (its address, the store client for the directory and the
 * queue, its mailbox), and the 303 back to a page with a flash notice (common.ts `setNotice`,
 * shown once by the layout as `.notice`).
 *
 *   const who = account(req, env, reply); if (who === null) return reply; // 401/503 sent
 *   return seeOther(reply, '/mail', { f: 'INBOX' }, 'Moved 2 messages to Archive.');
 *
 * Exports: `Account`, `account`, `seeOther`. Throws nothing.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpEnv } from '../../http/types.ts';
import type { MailboxApi } from '../../store/types.ts';
import type { StoreClient } from '../../store/client.ts';
import { mailUrl, setNotice } from './common.ts';


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

/** 303 to `path` with `params` and, when given, the flash notice. */
export function seeOther(reply: FastifyReply, path: string, params: Record<string, string>, notice?: string): FastifyReply {
  if (notice !== undefined && notice !== '') setNotice(reply.request, reply, notice);
  return reply.code(303).header('location', mailUrl(path, params)).send();
}
