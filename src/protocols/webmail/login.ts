/**
 * webmail/login.ts: WebMail's door:
 *   GET  /        the login form (`login.eta`: form#login with `username`, `password`); a reader
 *                 already logged in goes on (303) to /mail?f=INBOX; on a plain connection the
 *                 form links to the secure login (a#secure-login, `req.postern.secureUrl`; with
 *                 UrlRedirect `auto` the host answers 301 before this route runs)
 *   POST /login   form-encoded `username`, `password` (the interface the WebMail proxy reads):
 *                 same origin only (403); through the shared login pipeline (auth/login.ts: the
 *                 service's per-IP throttle and ban, the directory, scrypt on the pool, the
 *                 outcome reported once, so failures count toward maxAuthErrors); a login without
 *                 `@domain` gets the domain picked in the form (`showDomainList`: a `domain`
 *                 select of the enabled domains), else the one `hostNameResolver` maps the
 *                 request's Host to, else the directory completes it with the primary domain.
 *                 A login this thread has verified skips the scrypt check (`loginCache`, as
 *                 POP3's and IMAP's: authCacheSize, authCacheTtl). Success: a new session
 *                 (cookie) and 303 to /mail?f=INBOX. Failure: 200, the form again with the
 *                 username kept and a `.error`; the store unable to check: 503, the same form.
 *                 The `maxAuthErrors`th failed login on one connection is answered with
 *                 `Connection: close` (the per-IP throttle goes on counting across connections).
 *   POST /logout  the session ended (CSRF-checked like every state change), 303 to /.
 *
 * Exports: `registerLogin`, `loginName`, `loginCache`, `MAX_USERNAME`, `MAX_PASSWORD`. Throws nothing.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LoginCache } from '../../auth/cache.ts';
import { checkLogin } from '../../auth/login.ts';
import { OFF, type WebmailOptions } from '../../config/options.ts';
import type { HttpEnv } from '../../http/types.ts';
import { LOGIN_FIELDS } from '../../http/types.ts';
import { plainHostName } from '../../http/views.ts';
import { handled, sendPage, str } from './common.ts';
import type { WebmailRoutes } from './types.ts';

export const MAX_USERNAME = 320;
export const MAX_PASSWORD = 1024;
const SERVICE = 'webmail';
/** Most domains the login form lists (showDomainList). */
const MAX_DOMAINS_LISTED = 500;
/** This thread's verified logins (authCacheSize, authCacheTtl): a login the thread has
 * verified skips the scrypt check (the directory is still asked). */
export const loginCache = new LoginCache();
/** Failed logins per connection (maxAuthErrors). */
const authErrors = new WeakMap<object, number>();

/** The login to check: `username` trimmed; without `@`, the domain `hostNameResolver` maps the
 * request's Host name to (if any). */
export function loginName(username: string, host: string | undefined, resolvers: ReadonlyArray<{ host: string; domain: string }>): string {
  const u = username.trim();
  if (u.includes('@')) return u;
  const h = plainHostName(host);
  const hit = h === null ? undefined : resolvers.find((r) => r.host === h);
  return hit === undefined || hit.domain === '' ? u : `${u}@${hit.domain}`;
}

type LoginOptions = Pick<WebmailOptions, 'hostNameResolver' | 'showDomainList' | 'authCacheSize' | 'authCacheTtlMs'>;
const NO_OPTIONS: LoginOptions = Object.freeze({ hostNameResolver: [], showDomainList: false, authCacheSize: OFF, authCacheTtlMs: 0 });

/** The webmail options of the request's service (another HTTP service: none of them). */
function loginOptions(req: FastifyRequest): LoginOptions {
  const p = req.postern.conn.service.protocol;
  return p.kind === 'webmail' ? p : NO_OPTIONS;
}

/** The enabled domains, for the login form's list (showDomainList); [] when off or unknown. */
async function domainsFor(env: HttpEnv, req: FastifyRequest): Promise<string[]> {
  if (!loginOptions(req).showDomainList || env.store === null) return [];
  try {
    return (await env.store.listDomains()).filter((d) => d.enabled).map((d) => d.name).slice(0, MAX_DOMAINS_LISTED);
  } catch {
    return [];
  }
}

async function form(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, username: string, error: string | null, status = 200, domain = ''): Promise<FastifyReply> {
  return sendPage(env, req, reply, 'login', { title: 'Log in', username, error, domains: await domainsFor(env, req), domain }, status);
}

export const registerLogin: WebmailRoutes = (app, env) => {
  app.get('/', handled(env, async (req, reply) => {
    if (req.postern.session !== null) return reply.code(303).header('location', '/mail?f=INBOX').send();
    return form(env, req, reply, '', null);
  }));

  app.post('/login', handled(env, async (req, reply) => {
    if (!env.sameOrigin(req, reply)) return reply;
    const username = str(req.body, LOGIN_FIELDS.username).slice(0, MAX_USERNAME + 1);
    const password = str(req.body, LOGIN_FIELDS.password);
    if (username.trim() === '' || password === '') return form(env, req, reply, username.trim(), 'Enter your user name and password.', 400);
    if (username.length > MAX_USERNAME || password.length > MAX_PASSWORD) return form(env, req, reply, '', 'The user name or password is too long.', 400);
    const o = loginOptions(req);
    const domain = str(req.body, 'domain').trim().toLowerCase().slice(0, 255);
    // showDomainList: the domain chosen in the form completes a bare name (if it is one of ours)
    const chosen = o.showDomainList && domain !== '' && !username.includes('@') && (await domainsFor(env, req)).includes(domain) ? `${username.trim()}@${domain}` : username;
    const login = loginName(chosen, req.headers.host, o.hostNameResolver);
    const r = await checkLogin(req.postern.conn, { kind: 'password', authcid: login, password }, {
      service: SERVICE,
      verifyPassword: (name, pw, hash, pool) => loginCache.check(name, pw, hash, o, pool),
      abandoned: () => req.socket.destroyed,
    });
    if (r.ok) {
      await env.login(req, reply, r.account.address);
      return reply.code(303).header('location', '/mail?f=INBOX').send();
    }
    if (r.reason === 'abandoned') return reply.code(499).send(); // the client went away at the gate (nobody reads this)
    if (r.reason === 'unavailable') return form(env, req, reply, username.trim(), 'The login cannot be checked now; try again in a moment.', 503, domain);
    // maxAuthErrors failed logins on one connection: this answer closes it (as on every service)
    const failed = (authErrors.get(req.socket) ?? 0) + 1;
    authErrors.set(req.socket, failed);
    if (failed >= req.postern.conn.service.maxAuthErrors) {
      req.postern.conn.count('auth_error_limit');
      reply.header('connection', 'close');
    }
    return form(env, req, reply, username.trim(), 'Wrong user name or password.', 200, domain);
  }));

  app.post('/logout', { preHandler: async (req, reply) => { await env.requireSession(req, reply); } }, async (req, reply) => {
    await env.logout(req, reply);
    return reply.code(303).header('location', '/').send();
  });
};
