/**
 * webmail/index.ts: the WebMail service's module (the `webmail` row of config/schema.ts's
 * services table): an HTTP service on the host (http/host.ts) with the built-in templates under
 * `./templates/` (`default/`, `default/mobile/`, `default/static/`).
 *
 * `setup` registers, in one encapsulated scope: form bodies (@fastify/formbody), multipart
 * uploads (@fastify/multipart, each file within `uploadMaxSize`; the host enforces the byte
 * limit of the whole body too), `/static/<file>` from the request's template dirs, and the route
 * modules (and `/favicon.ico`, the static favicon.svg, so a browser's own request is not an error
 * counted toward maxErrors): login.ts (`/`, `/login`, `/logout`), read.ts (`/mail…`), events.ts (`/events`),
 * actions.ts and compose.ts. Errors a route throws become error pages (common.ts `sendError`:
 * WebError's status, the store's codes mapped, fastify's own statuses kept); an unknown path
 * gets the same error page (404).
 *
 * Exports: `refusal`, `startSession` (the ProtocolModule). Throws nothing.
 */
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import { httpProtocol } from '../../http/host.ts';
import type { HttpEnv } from '../../http/types.ts';
import type { FastifyInstance } from 'fastify';
import { registerActions } from './actions.ts';
import { sendError, WebError } from './common.ts';
import { registerCompose } from './compose.ts';
import { registerEvents } from './events.ts';
import { registerLogin } from './login.ts';
import { registerRead } from './read.ts';

/** Most files and fields in one multipart form. */
const MAX_FILES = 50;
const MAX_FIELDS = 100;

async function setup(app: FastifyInstance, env: HttpEnv): Promise<void> {
  await app.register(async (scope) => {
    const o = env.options();
    await scope.register(formbody);
    await scope.register(multipart, { throwFileSizeLimit: true, limits: { fileSize: o.uploadMaxSize, fieldSize: o.httpBodyMaxSize, files: MAX_FILES, fields: MAX_FIELDS } });
    scope.setErrorHandler(async (err, req, reply) => sendError(env, req, reply, err));
    scope.setNotFoundHandler(async (req, reply) => sendError(env, req, reply, new WebError(404, 'There is no such page.')));
    scope.get('/static/*', async (req, reply) => env.views.sendStatic(req, reply, (req.params as { '*': string })['*']));
    // browsers ask for it on pages without a <link rel="icon"> (raw source, downloads): not an error
    scope.get('/favicon.ico', async (req, reply) => env.views.sendStatic(req, reply, 'favicon.svg'));
    for (const routes of [registerLogin, registerRead, registerEvents, registerActions, registerCompose]) await routes(scope, env);
  });
}

export const { refusal, startSession } = httpProtocol({ templates: new URL('./templates/', import.meta.url), setup });
