/**
 * webadmin/dashboard.ts: the dashboard and the services' run state:
 *   GET  /dashboard              the supervision tree (`status`: every actor's state, restarts,
 *                                mailbox depth) and the services table (threads, listeners,
 *                                open connections, refusals by reason, start/stop/restart)
 *   GET  /events                 server-sent events: `event: status`, data {seq, at, tree, services}
 *                                (the two fragments rendered as on the page, `tree.eta` and
 *                                `services.eta`), one every `sseInterval`; static/dashboard.js swaps
 *                                them in. At most `maxEventStreams` streams per session at once (per
 *                                connection thread): one more gets 429. A stream whose client does not
 *                                read (past maxPendingOutput unsent) ends; so does one that outlives
 *                                the session's idle timeout (the browser's reconnect then finds the
 *                                session expired unless the operator did something meanwhile).
 *   POST /services/:name/:action  start | stop | restart (registry `service.<action>`), 303 to
 *                                /dashboard with a notice (an error: the notice says it). WebAdmin's
 *                                own service cannot be stopped or restarted from its pages (400).
 *
 * Exports: `registerDashboard`, `statusModel`. Throws nothing.
 */
import { PassThrough } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { HttpEnv } from '../../http/types.ts';
import type { StatusDoc } from '../../status/types.ts';
import type { ActorInfo } from '../../actor/types.ts';
import { adminCall, errorText, guard, handled, sendPage, setNotice, WebError, webadminOptions, type WebadminRoutes } from './common.ts';

const SERVICE_NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/;
const ACTIONS = new Set(['start', 'stop', 'restart']);
/** The stream outlives the session's idle timeout by this much. */
const PAST_IDLE_MS = 2000;

/** Live streams per session id, on this thread. */
const streams = new Map<string, number>();

interface TreeRow {
  id: string;
  path: string;
  depth: number;
  kind: string;
  state: string;
  restarts: number;
  mailboxDepth: number;
  mailboxCapacity: number;
  lastError: string;
}

function flatten(a: ActorInfo, depth: number, parent: string, out: TreeRow[]): void {
  const path = parent === '' ? a.id : `${parent}/${a.id}`;
  if (out.length >= 2000) return; // a page, not a dump
  out.push({ id: a.id, path, depth, kind: a.kind, state: a.state, restarts: a.restarts, mailboxDepth: a.mailboxDepth, mailboxCapacity: a.mailboxCapacity, lastError: a.lastError === undefined ? '' : `${a.lastError.code}: ${a.lastError.message}` });
  for (const c of a.children ?? []) flatten(c, depth + 1, path, out);
}

/** What tree.eta and services.eta show. */
export function statusModel(doc: StatusDoc): Record<string, unknown> {
  const tree: TreeRow[] = [];
  flatten(doc.tree, 0, '', tree);
  const services = doc.services.map((s) => {
    const refused: Record<string, number> = {};
    for (const l of s.listeners) for (const [k, v] of Object.entries(l.refused)) if (v > 0) refused[k] = (refused[k] ?? 0) + v;
    return { ...s, refused };
  });
  return { tree, services, server: doc.server };
}

/** The model of the dashboard's fragments for this request (its own service marked: no
 * stop/restart buttons on it). */
function fragments(req: FastifyRequest, doc: StatusDoc): Record<string, unknown> {
  return { ...statusModel(doc), self: req.postern.conn.service.name };
}

async function status(req: FastifyRequest): Promise<StatusDoc> {
  return (await adminCall(req, 'status')) as StatusDoc;
}

export const registerDashboard: WebadminRoutes = (app, env: HttpEnv) => {
  app.get('/dashboard', guard(env), handled(env, async (req, reply) => {
    const doc = await status(req);
    return sendPage(env, req, reply, 'dashboard', { title: 'Dashboard', section: 'dashboard', ...fragments(req, doc) });
  }));

  app.get('/events', guard(env), handled(env, async (req, reply) => {
    const o = webadminOptions(req);
    const sid = req.postern.session!.id;
    const open = streams.get(sid) ?? 0;
    if (open >= o.maxEventStreams) {
      req.postern.conn.count('webadmin.event_streams_over_limit');
      throw new WebError(429, `at most ${o.maxEventStreams} live streams per session (maxEventStreams)`);
    }
    streams.set(sid, open + 1);
    const out = new PassThrough();
    const maxBuffered = req.postern.conn.service.session.maxPendingOutputBytes;
    let live = true;
    let seq = 0;
    let busy = false;
    const finish = (): void => {
      if (!live) return;
      live = false;
      clearInterval(tick);
      clearTimeout(life);
      const n = (streams.get(sid) ?? 1) - 1;
      if (n <= 0) streams.delete(sid);
      else streams.set(sid, n);
      out.end();
    };
    const snapshot = async (): Promise<void> => {
      if (!live || busy) return; // a slow status call is not stacked
      busy = true;
      try {
        const m = fragments(req, await status(req));
        const [tree, services] = await Promise.all([env.views.render(req, 'tree', m), env.views.render(req, 'services', m)]);
        if (!live) return;
        out.write(`event: status\ndata: ${JSON.stringify({ seq: ++seq, at: Date.now(), tree, services })}\n\n`);
        if (out.writableLength > maxBuffered) finish(); // a client that does not read
      } catch (err) {
        env.log.debug({ err }, 'webadmin: status snapshot failed');
        if (live) out.write(`event: unavailable\ndata: {}\n\n`);
      } finally {
        busy = false;
      }
    };
    const tick = setInterval(() => void snapshot(), o.sseIntervalMs);
    const life = setTimeout(finish, env.options().sessionIdleTimeoutMs + PAST_IDLE_MS);
    req.raw.on('close', finish);
    out.on('close', finish);
    out.on('error', finish);
    reply.header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-store').header('x-accel-buffering', 'no');
    out.write(`retry: 3000\n: live\n\n`);
    void snapshot();
    return reply.send(out);
  }));

  app.post('/services/:name/:action', guard(env), handled(env, async (req, reply) => {
    const { name, action } = req.params as { name: string; action: string };
    if (!SERVICE_NAME.test(name) || !ACTIONS.has(action)) throw new WebError(404, 'There is no such action.');
    if (!(await status(req)).services.some((s) => s.name === name)) throw new WebError(404, `There is no service ${name}.`);
    // this very page runs on it: its own stop would wait for this request
    if (name === req.postern.conn.service.name && action !== 'start') throw new WebError(400, `WebAdmin cannot ${action} itself; use the CLI or postern ctl`);
    try {
      await adminCall(req, `service.${action}`, { name });
      setNotice(req, reply, `Service ${name}: ${action} done.`);
    } catch (e) {
      setNotice(req, reply, `Service ${name}: ${action} failed: ${errorText(e)}`);
    }
    return reply.code(303).header('location', '/dashboard').send();
  }));
};
