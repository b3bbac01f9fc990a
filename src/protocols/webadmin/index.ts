/**
 * webadmin/index.ts: the WebAdmin service's module (the `webadmin` row of config/schema.ts's
 * services table): an HTTP service on the host (http/host.ts: its sessions, CSRF and same-origin
 * checks, eta views, HTTP limits), logging in as `admin` with the store's admin password, every
 * action an admin command of the one registry (admin/commands.ts) run through the session's
 * `SessionContext.admin`. Built-in templates under `./templates/default/` (static files in
 * `static/`: style.css, dashboard.js, favicon.svg).
 *
 * Routes: login.ts (`/`, `/login`, `/logout`), dashboard.ts (`/dashboard`, `/events`,
 * `/services/:name/start|stop|restart`), services.ts (`/services/:name…`: listeners, rules,
 * flow, error control, threads), accounts.ts (`/domains`, `/accounts`), operations.ts (`/queue`,
 * `/logs`, `/report`). Errors become error pages (common.ts `sendError`); an unknown path: 404.
 *
 * Exports: `refusal`, `startSession` (the ProtocolModule). Throws nothing.
 */
import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { httpProtocol } from '../../http/host.ts';
import type { HttpEnv } from '../../http/types.ts';
import { registerAccounts } from './accounts.ts';
import { sendError, WebError } from './common.ts';
import { registerDashboard } from './dashboard.ts';
import { registerLogin } from './login.ts';
import { registerOperations } from './operations.ts';
import { registerServices } from './services.ts';

async function setup(app: FastifyInstance, env: HttpEnv): Promise<void> {
  await app.register(async (scope) => {
    await scope.register(formbody);
    scope.setErrorHandler(async (err, req, reply) => sendError(env, req, reply, err));
    scope.setNotFoundHandler(async (req, reply) => sendError(env, req, reply, new WebError(404, 'There is no such page.')));
    scope.get('/static/*', async (req, reply) => env.views.sendStatic(req, reply, (req.params as { '*': string })['*']));
    scope.get('/favicon.ico', async (req, reply) => env.views.sendStatic(req, reply, 'favicon.svg'));
    for (const routes of [registerLogin, registerDashboard, registerServices, registerAccounts, registerOperations]) await routes(scope, env);
  });
}

export const { refusal, startSession } = httpProtocol({ templates: new URL('./templates/', import.meta.url), setup });
