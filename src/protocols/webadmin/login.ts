/**
 * webadmin/login.ts: WebAdmin's door:
 *   GET  /        the login form (`login.eta`: form#login, `username`, `password`); a session
 *                 already open goes on (303) to /dashboard
 *   POST /login   form-encoded `username` (must be `admin`) and `password`, same origin only
 *                 (403). The password is the store's admin password (`postern ctl admin passwd`),
 *                 checked through the login pipeline's gate (auth/login.ts `gatedCheck`: the
 *                 service's per-IP throttle and ban apply, the outcome is reported once). Success:
 *                 a new session (cookie rotated), 303 to /dashboard. Failure: 200 with the form
 *                 again and `.error`; the store unable to check: 503. The `maxAuthErrors`th failure
 *                 on one connection is answered with `Connection: close`. No admin password set:
 *                 every login fails (and the log says how to set one).
 *   POST /logout  the session ended (CSRF-checked), 303 to /.
 *
 * Exports: `registerLogin`, `ADMIN_USER`. Throws nothing.
 */
import { gatedCheck } from '../../auth/login.ts';
import { LOGIN_FIELDS } from '../../http/types.ts';
import { DUMMY_HASH } from '../../store/directory.ts';
import { guard, handled, sendPage, str, type WebadminRoutes } from './common.ts';

export const ADMIN_USER = 'admin';
const MAX_USERNAME = 64;
const MAX_PASSWORD = 1024;
const authErrors = new WeakMap<object, number>();

export const registerLogin: WebadminRoutes = (app, env) => {
  app.get('/', handled(env, async (req, reply) => {
    if (req.postern.session !== null) return reply.code(303).header('location', '/dashboard').send();
    return sendPage(env, req, reply, 'login', { title: 'Log in', username: '', error: null, section: '' });
  }));

  app.post('/login', handled(env, async (req, reply) => {
    if (!env.sameOrigin(req, reply)) return reply;
    const username = str(req.body, LOGIN_FIELDS.username).trim();
    const password = str(req.body, LOGIN_FIELDS.password);
    const form = (error: string, status: number) => sendPage(env, req, reply, 'login', { title: 'Log in', username: username.slice(0, MAX_USERNAME), error, section: '' }, status);
    if (username === '' || password === '') return form('Enter the user name and password.', 400);
    if (username.length > MAX_USERNAME || password.length > MAX_PASSWORD) return form('The user name or password is too long.', 400);
    const ctx = req.postern.conn;
    const store = ctx.store;
    const ok = await gatedCheck(ctx, username, { service: 'webadmin', abandoned: () => req.socket.destroyed }, async () => {
      const hash = username === ADMIN_USER && store !== null ? await store.adminHash() : null;
      if (username === ADMIN_USER && hash === null) ctx.log.warn('webadmin: admin login refused: no admin password is set (postern ctl admin passwd --password PW)');
      const match = (await ctx.runTask('verifyPassword', { password, hash: hash ?? DUMMY_HASH })) === true;
      return match && hash !== null;
    });
    if (ok === 'abandoned') return reply.code(499).send();
    if (ok === 'unavailable') return form('The login cannot be checked now; try again in a moment.', 503);
    if (ok === true) {
      await env.login(req, reply, ADMIN_USER);
      ctx.log.info({ user: ADMIN_USER }, 'webadmin: admin logged in');
      return reply.code(303).header('location', '/dashboard').send();
    }
    const failed = (authErrors.get(req.socket) ?? 0) + 1;
    authErrors.set(req.socket, failed);
    if (failed >= ctx.service.maxAuthErrors) {
      ctx.count('auth_error_limit');
      reply.header('connection', 'close');
    }
    return form('Wrong user name or password.', 200);
  }));

  app.post('/logout', guard(env), async (req, reply) => {
    await env.logout(req, reply);
    return reply.code(303).header('location', '/').send();
  });
};
