/**
 * webmailProxy/index.ts: the WebMail proxy (seed 001; the `webmailProxy` row of
 * config/schema.ts, 127.0.0.1:8800), a cluster front end on the HTTP service host
 * (http/host.ts): listeners, access and flow control, HTTP limits, threads, virtual-host
 * templates and device detection are the host's. It renders its own login page, logs the user
 * in on the back end that holds the mailbox, and from then on forwards every request of that
 * session to that back end.
 *
 *   GET  /                  no session: the proxy's login page (`templates/default/login.eta`,
 *                           `mobile/login.eta` for a phone, a virtual host's own set first);
 *                           a session: forwarded (the back end sends the Inbox's 303; a back end
 *                           that shows its own login page has lost the session: the proxy's ends
 *                           too and its login page is shown; a back end that fails: the login
 *                           page with the failure's message and status)
 *   GET  /_proxy/static/*   the login page's CSS and icon (a path of its own, so the browser
 *                           never caches them in place of a back end's /static files)
 *   POST /login             form-encoded `username`, `password` (http/types.ts LOGIN_FIELDS),
 *                           same origin only: see "Login" below
 *   anything else           a session: forwarded to its back end (forward.ts); none or unknown:
 *                           GET/HEAD 303 to /, other methods 401 (as the back end's own pages)
 *   POST /logout            forwarded; the back end's cleared cookie ends the proxy's session
 *
 * Login: the per-IP login throttle first (`loginGate`/`loginResult` through auth/login.ts
 * `gatedCheck`, so failures here count as on every service, and bans apply). With
 * `authenticateOnProxy`, the user map checks the password (LDAP Password or LDAP Bind) and a
 * failure shows the login page again, the username kept, with a message; the back end is not
 * asked. Then the back end: the user map's entry (`UserMap.lookup`), else `mappingHost:
 * mappingPort`; the proxy posts the login to the back end's /login as a browser would (no
 * Origin: the back end's same-origin rule lets it through), and the back end's answer decides:
 * 303 with its session cookie: success (a proxy session recording the back end and its token,
 * affinity.ts; the proxy's cookie to the browser; 303 to the back end's Location, the Inbox);
 * 200 (its login form again): wrong password (without authenticateOnProxy this is the check
 * the throttle counts); anything else: the login cannot be done now (503). The
 * maxAuthErrors-th failed login on one connection is answered with `Connection: close`.
 *
 * Failures: a back end whose queue is full (`requestQueueSize`): 503 at once; one that cannot be
 * reached within connectTimeout: 502; one that does not answer within rwTimeout: 504; the user
 * map unable to answer: 503. Each is a page of the proxy's own (`error.eta`; on the login, the
 * login page with the message), and counted (`webmailProxy.<code>`: queue_full,
 * backend_unreachable, backend_timeout, unavailable; a request that had to wait in a back end's
 * queue: `webmailProxy.queued`).
 *
 * Pools and queues are per thread (backends.ts); the sessions are the service host's (one table
 * for every thread of the service).
 *
 * Exports: `refusal`, `startSession` (the ProtocolModule), `MAX_USERNAME`, `MAX_PASSWORD`.
 * Throws nothing (failures are pages).
 */
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { gatedCheck } from '../../auth/login.ts';
import type { WebmailProxyOptions } from '../../config/options.ts';
import { httpProtocol } from '../../http/host.ts';
import type { HttpEnv } from '../../http/types.ts';
import { LOGIN_FIELDS } from '../../http/types.ts';
import { openUserMap, type UserMap } from '../../userdb/index.ts';
import { decodeAffinity, encodeAffinity, type Affinity } from './affinity.ts';
import { BackendError, backendKey, Backends, QueueFull } from './backends.ts';
import { forward, requestHeaders } from './forward.ts';

export const MAX_USERNAME = 320;
export const MAX_PASSWORD = 1024;
const SERVICE = 'webmailProxy';
/** Failed logins per connection (maxAuthErrors). */
const authErrors = new WeakMap<object, number>();

/** The proxy's options (the host hands every HTTP service its own kind). */
function proxyOptions(env: HttpEnv): WebmailProxyOptions {
  return env.options() as WebmailProxyOptions;
}

function field(body: unknown, name: string): string {
  if (body === null || typeof body !== 'object') return '';
  let v: unknown = (body as Record<string, unknown>)[name];
  if (Array.isArray(v)) v = v[0];
  return typeof v === 'string' ? v : '';
}

/** What one instance (one options version of this thread) holds: pools and the user map. */
interface State {
  readonly o: WebmailProxyOptions;
  readonly backends: Backends;
  readonly map: UserMap | null;
  /** Why the map could not be opened (every login then fails as unavailable). */
  readonly mapError: unknown;
}

function openState(env: HttpEnv): State {
  const o = proxyOptions(env);
  let map: UserMap | null = null;
  let mapError: unknown = null;
  if (o.userMap !== null) {
    try {
      map = openUserMap(o.userMap, env.log);
    } catch (e) {
      mapError = e;
      env.log.error({ err: e, userMap: o.userMap.name }, 'webmailProxy: cannot open the user map');
    }
  }
  return { o, backends: new Backends(o.connectionData, o.requestQueueSize), map, mapError };
}

/** The back end of `login`: the map's entry, else mappingHost:mappingPort. Rejects when the map
 * cannot answer (USERDB_UNAVAILABLE) or could not be opened. */
async function routeOf(st: State, login: string): Promise<string> {
  const fallback = backendKey({ host: st.o.mappingHost, port: st.o.mappingPort });
  if (st.o.userMap === null) return fallback;
  if (st.map === null) throw st.mapError;
  const r = await st.map.lookup(login);
  return r === null ? fallback : backendKey({ host: r.host, port: r.port ?? st.o.mappingPort });
}

type BackendLogin = { ok: true; token: string; location: string } | { ok: false };

/** Log in on the back end as the browser would; rejects QueueFull, BackendError, or a plain
 * Error for an answer that is neither success nor a wrong password. */
async function backendLogin(st: State, req: FastifyRequest, backend: string, username: string, password: string): Promise<BackendLogin> {
  const headers = requestHeaders(req, null);
  delete headers['cookie']; // a fresh login: no session of the browser's goes with it
  delete headers['content-length'];
  headers['content-type'] = 'application/x-www-form-urlencoded';
  const body = new URLSearchParams({ [LOGIN_FIELDS.username]: username, [LOGIN_FIELDS.password]: password }).toString();
  const ans = await st.backends.send(backend, { method: 'POST', path: '/login', headers, body, onQueued: () => req.postern.conn.count(`${SERVICE}.queued`) });
  ans.body.resume();
  if (ans.statusCode === 303) {
    const cookies = ans.headers['set-cookie'];
    for (const c of cookies === undefined ? [] : Array.isArray(cookies) ? cookies : [cookies]) {
      const m = /^\s*postern_session=([A-Za-z0-9_-]{43})\s*(?:;|$)/.exec(c);
      if (m !== null) {
        const loc = String(ans.headers['location'] ?? '');
        return { ok: true, token: m[1]!, location: loc.startsWith('/') && !loc.startsWith('//') ? loc : '/mail?f=INBOX' };
      }
    }
    throw new Error(`back end ${backend} answered its login with 303 but no session cookie`);
  }
  if (ans.statusCode === 200) return { ok: false };
  throw new Error(`back end ${backend} answered its login with ${ans.statusCode}`);
}

/** The page for a failure talking to a back end (or the map). */
function failureOf(e: unknown): { status: number; code: string; message: string } {
  if (e instanceof QueueFull) return { status: 503, code: 'queue_full', message: 'The mail server for this account is too busy; try again in a moment.' };
  if (e instanceof BackendError && e.code === 'BACKEND_TIMEOUT') return { status: 504, code: 'backend_timeout', message: 'The mail server for this account did not answer in time; try again in a moment.' };
  if (e instanceof BackendError) return { status: 502, code: 'backend_unreachable', message: 'The mail server for this account cannot be reached now; try again in a moment.' };
  return { status: 503, code: 'unavailable', message: 'The login cannot be done now; try again in a moment.' };
}

const TITLES: Readonly<Record<number, string>> = { 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

async function setup(app: FastifyInstance, env: HttpEnv): Promise<void> {
  const st = openState(env);
  app.addHook('onClose', async () => {
    await st.backends.close();
    await st.map?.close().catch(() => {});
  });

  const page = async (req: FastifyRequest, reply: FastifyReply, name: string, model: Record<string, unknown>, status: number): Promise<FastifyReply> =>
    reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(await env.views.render(req, name, model));
  const loginPage = (req: FastifyRequest, reply: FastifyReply, username: string, error: string | null, status = 200): Promise<FastifyReply> =>
    page(req, reply, 'login', { title: 'Log in', username, error }, status);
  const errorPage = (req: FastifyRequest, reply: FastifyReply, status: number, message: string): Promise<FastifyReply> => {
    if (status === 503) reply.header('retry-after', '5');
    return page(req, reply, 'error', { status, title: TITLES[status] ?? 'Error', message }, status);
  };
  /** The request's session and where it goes (null: none, or not one of the proxy's). */
  const affinityOf = (req: FastifyRequest): Affinity | null => (req.postern.session === null ? null : decodeAffinity(req.postern.session.user));

  /** Forward with the failures as pages (`loginOnFailure`: the login page, with the message). */
  async function forwarded(req: FastifyRequest, reply: FastifyReply, a: Affinity, intercept?: (status: number) => boolean, loginOnFailure = false): Promise<boolean> {
    try {
      const r = await forward(st.backends, req, reply, a, { ...(intercept !== undefined ? { intercept } : {}), loggedOut: () => env.logout(req, reply) });
      return r.intercepted;
    } catch (e) {
      if (reply.sent || reply.raw.headersSent) {
        reply.raw.destroy();
        return false;
      }
      if ((e as { name?: string }).name === 'AbortError' || req.raw.destroyed) return false; // the client went away
      const f = failureOf(e);
      req.postern.conn.count(`${SERVICE}.${f.code}`);
      if (f.code === 'unavailable') env.log.warn({ err: e, backend: a.backend }, 'webmailProxy: forwarding failed');
      if (loginOnFailure) await loginPage(req, reply, a.login, f.message, f.status);
      else await errorPage(req, reply, f.status, f.message);
      return false;
    }
  }

  // the login and the proxy's own files: form bodies
  await app.register(async (scope) => {
    await scope.register(formbody);
    scope.get('/_proxy/static/*', async (req, reply) => env.views.sendStatic(req, reply, (req.params as { '*': string })['*']));
    scope.get('/favicon.ico', async (req, reply) => {
      const a = affinityOf(req);
      if (a !== null) return void (await forwarded(req, reply, a));
      return env.views.sendStatic(req, reply, 'favicon.svg');
    });

    scope.get('/', async (req, reply) => {
      const a = affinityOf(req);
      if (a === null) return loginPage(req, reply, '', null);
      // the back end's login form instead of its Inbox redirect: its session is gone
      // (its back end failing: the login page with the message, so "back to the login page" is one)
      const intercepted = await forwarded(req, reply, a, (status) => status === 200, true);
      if (intercepted) {
        await env.logout(req, reply);
        return loginPage(req, reply, a.login, null);
      }
      return reply;
    });

    scope.post('/login', async (req, reply) => {
      if (!env.sameOrigin(req, reply)) return reply;
      const username = field(req.body, LOGIN_FIELDS.username).slice(0, MAX_USERNAME + 1);
      const password = field(req.body, LOGIN_FIELDS.password);
      const login = username.trim();
      if (login === '' || password === '') return loginPage(req, reply, login, 'Enter your user name and password.', 400);
      if (username.length > MAX_USERNAME || password.length > MAX_PASSWORD) return loginPage(req, reply, '', 'The user name or password is too long.', 400);
      const ctx = req.postern.conn;
      const abandoned = (): boolean => req.raw.socket.destroyed;
      let failure: unknown = null;
      let done: BackendLogin | null = null;
      let backend = '';

      if (st.o.authenticateOnProxy) {
        const ok = await gatedCheck(ctx, login, { service: SERVICE, abandoned }, async () => {
          if (st.map === null) throw st.mapError ?? new Error('authenticateOnProxy needs a user map');
          return st.map.authenticate(login, password);
        });
        if (ok === 'abandoned') return reply.code(499).send();
        if (ok === 'unavailable') return loginPage(req, reply, login, failureOf(null).message, 503);
        if (ok === false) return failedLogin(req, reply, login);
        try {
          backend = await routeOf(st, login);
          done = await backendLogin(st, req, backend, login, password);
        } catch (e) {
          failure = e;
        }
      } else {
        // the back end's answer is the check the throttle counts
        const ok = await gatedCheck(ctx, login, { service: SERVICE, abandoned }, async () => {
          backend = await routeOf(st, login);
          try {
            done = await backendLogin(st, req, backend, login, password);
          } catch (e) {
            failure = e;
            throw e;
          }
          return done.ok;
        });
        if (ok === 'abandoned') return reply.code(499).send();
        if (ok === 'unavailable' && failure === null) failure = new Error('the user map cannot answer');
      }
      if (failure !== null) {
        const f = failureOf(failure);
        ctx.count(`${SERVICE}.${f.code}`);
        env.log.warn({ err: failure, backend, user: login }, 'webmailProxy: login not done');
        if (f.status === 503) reply.header('retry-after', '5');
        return loginPage(req, reply, login, f.message, f.status);
      }
      const r = done as BackendLogin | null;
      if (r === null || !r.ok) return failedLogin(req, reply, login);
      await env.login(req, reply, encodeAffinity({ backend, token: r.token, login }));
      return reply.code(303).header('cache-control', 'no-store').header('location', r.location).send();
    });
  });

  /** A wrong user name or password: the login page again, the username kept. */
  async function failedLogin(req: FastifyRequest, reply: FastifyReply, login: string): Promise<FastifyReply> {
    const failed = (authErrors.get(req.raw.socket) ?? 0) + 1;
    authErrors.set(req.raw.socket, failed);
    if (failed >= req.postern.conn.service.maxAuthErrors) {
      req.postern.conn.count('auth_error_limit');
      reply.header('connection', 'close');
    }
    return loginPage(req, reply, login, 'Wrong user name or password.');
  }

  // everything else: forwarded as it is, its body streamed (no parser reads it)
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
    scope.all('/*', async (req, reply) => {
      const a = affinityOf(req);
      if (a === null) {
        if (req.method === 'GET' || req.method === 'HEAD') return reply.code(303).header('location', '/').header('cache-control', 'no-store').send();
        return reply.code(401).header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('Unauthorized: no session (log in again)\n');
      }
      if (!env.sameOrigin(req, reply)) return reply;
      await forwarded(req, reply, a);
      return reply;
    });
  });
}

export const { refusal, startSession } = httpProtocol({ templates: new URL('./templates/', import.meta.url), setup });
