/**
 * src/http/: the HTTP service host. WebMail (src/protocols/webmail/) runs on it today; WebAdmin
 * and the WebMail proxy will. Connections are admitted by the listener layer like every
 * service's (rules, flow windows, threads, TLS: workers/conn-thread.ts), and only then handed to
 * fastify 5 (`http.Server` made by fastify's `serverFactory`, never listening: each admitted
 * socket is emitted to it as a 'connection'). The host enforces the seed's HTTP options
 * (`HttpOptions`) on every request before a route sees it.
 *
 * http/types.ts: the contract between the host (host.ts), its sessions (sessions.ts), its
 * views (views.ts) and the services built on it. Types only.
 *
 *   // a service's module (e.g. src/protocols/webmail/index.ts):
 *   export const { refusal, startSession } = httpProtocol({
 *     templates: new URL('./templates/', import.meta.url),   // built-in template root
 *     setup(app, env) { app.get('/', async (req, reply) => reply.type('text/html').send(
 *       await env.views.render(req, 'login', { username: '' }))); },
 *   });
 *
 * Request flow (host.ts): admitted socket → http.Server (maxHeaderSize = httpHeadersMaxSize)
 * → onRequest: `req.postern` filled (connection, secure, templates chosen by Host and
 * User-Agent, session loaded from the cookie), body limits, keep-alive → the route →
 * onResponse: a 4xx/5xx counts toward the connection's `maxErrors`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SessionContext, SessionTable, WebSession } from '../service/protocol.ts';
import type { StoreClient } from '../store/client.ts';
import type { Logger } from '../log.ts';

/** The seed's HTTP options and the secure-login redirect: defined with the resolved options
 * (config/options.ts, the ground layer, which cannot import this file), re-exported here. */
export type { HttpOptions, UrlRedirect } from '../config/options.ts';
import type { HttpOptions } from '../config/options.ts';

export type { WebSession, SessionTable } from '../service/protocol.ts';

/** The cookie carrying the session id: an interface (the cluster's WebMail proxy reads it).
 * `HttpOnly; SameSite=Lax; Path=/`, plus `Secure` on TLS. */
export const SESSION_COOKIE = 'postern_session';
/** The login form's fields: an interface (the WebMail proxy reads the same POST). */
export const LOGIN_FIELDS = Object.freeze({ username: 'username', password: 'password' });

/** The templates one request is rendered with: chosen by Host (virtual hosts) and User-Agent. */
export interface TemplateChoice {
  /** Directories searched in order for `<name>.eta` and static files (first hit wins):
   * the host's set (its `mobile/` first for a mobile UA), then the default set under `path`,
   * then the built-in set (again `mobile/` first). */
  readonly dirs: readonly string[];
  readonly mobile: boolean;
  /** The virtual host's template name, or 'default'. */
  readonly name: string;
}

/** Per request, set by the host before any route runs. */
export interface RequestState {
  readonly conn: SessionContext;
  readonly secure: boolean;
  readonly templates: TemplateChoice;
  /** The secure-login URL (UrlRedirect) for a request that came in plain; null on TLS or when
   * the service has no TLS listener. */
  readonly secureUrl: string | null;
  /** The session of the request's cookie (null: none or expired). */
  session: WebSession | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    postern: RequestState;
  }
}

export interface Views {
  /** Render `<name>.eta` from the request's template dirs with `model` as `it`, plus `it.req`
   * helpers: `it.csrf` (the session's token or ''), `it.user`, `it.mobile`, `it.secureUrl`
   * (the UrlRedirect link or null). Templates escape by default (eta autoEscape). */
  render(req: FastifyRequest, name: string, model: Record<string, unknown>): Promise<string>;
  /** Send a static file (`/static/<file>`) from the request's template dirs; 404 if none. */
  sendStatic(req: FastifyRequest, reply: FastifyReply, file: string): Promise<void>;
}

/** What the host gives a service's `setup`. */
export interface HttpEnv {
  /** The service's options now (they change on reload). */
  options(): HttpOptions;
  readonly sessions: SessionTable;
  readonly views: Views;
  readonly store: StoreClient | null;
  readonly log: Logger;
  /** Require a session: the route's preHandler. No session: a GET is redirected (303) to `/`,
   * anything else gets 401. A state-changing method (POST, PUT, DELETE) also needs the
   * session's CSRF token and a same-origin request (Origin/Sec-Fetch-Site): else 403. */
  requireSession(req: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Same-origin check alone (for POST /login, which has no session yet): false → 403 sent. */
  sameOrigin(req: FastifyRequest, reply: FastifyReply): boolean;
  /** Start a session for `user` after a successful login: Set-Cookie on `reply`. */
  login(req: FastifyRequest, reply: FastifyReply, user: string): Promise<WebSession>;
  logout(req: FastifyRequest, reply: FastifyReply): Promise<void>;
}

export interface HttpServiceSpec {
  /** The built-in template root (`default/`, `default/mobile/`, `default/static/` …). */
  readonly templates: URL;
  setup(app: FastifyInstance, env: HttpEnv): void | Promise<void>;
}
