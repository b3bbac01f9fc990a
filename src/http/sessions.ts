/**
 * http/sessions.ts: web sessions as a request sees them: the cookie, CSRF and same-origin
 * checks, and `HttpEnv`'s login/logout/requireSession/sameOrigin over the connection's
 * `SessionContext.webSessions` (the table on the service host, http/session-table.ts).
 *
 * Exports: `sessionHelpers`. Placeholder until built: every check refuses.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpEnv, HttpOptions, WebSession } from './types.ts';
import { PosternError } from '../errors.ts';

export interface SessionHelpers extends Pick<HttpEnv, 'requireSession' | 'sameOrigin' | 'login' | 'logout'> {
  /** The request's session from its cookie (null: none, unknown or expired); the host calls it
   * once per request and stores it in `req.postern.session`. */
  load(req: FastifyRequest): Promise<WebSession | null>;
}

export function sessionHelpers(options: () => HttpOptions): SessionHelpers {
  void options;
  const no = (): never => {
    throw new PosternError('NOT_IMPLEMENTED', 'web sessions are not built yet');
  };
  return {
    load: async () => null,
    requireSession: async (_req: FastifyRequest, reply: FastifyReply) => {
      await reply.code(501).send('not implemented');
    },
    sameOrigin: () => false,
    login: async () => no(),
    logout: async () => no(),
  };
}
