/**
 * webadmin/services.ts: one service's configuration, edited and applied live:
 *   GET  /services/:name                      its listeners (as configured, with what each is doing
 *                                             now), allow/deny rules, flow control, error control
 *                                             and threads, from the running model (`config.get`)
 *   POST /services/:name/settings             flow (maxConnections … peerTimeInterval), error
 *                                             (maxErrors, maxAuthErrors), thread and logging
 *                                             (logLevel, logType, logHost) fields; an emptied
 *                                             field goes back to its default
 *   POST /services/:name/listeners/add        `address` (ip:port), `sslEnable` (yes|no)
 *   GET  /services/:name/listeners/:i          one listener's settings (enable, idleTimeout, its own
 *                                             flow window, sslEnable …)
 *   POST /services/:name/listeners/:i/settings  the same, changed (an emptied field: its default)
 *   POST /services/:name/listeners/:i/remove
 *   POST /services/:name/rules/add            `kind` (allow|deny), `ipSet`, `priority`
 *   POST /services/:name/rules/:kind/:i/remove
 *   GET  /config                              the running configuration as `config.get` writes it
 *                                             (what SAVE CONFIG saves), and the file it saves to
 * Every change is made on the running model with config/edit.ts (the file's own validation),
 * written with `writeConfig`, applied with `config.set` (a reload) and persisted with
 * `config.save` (the file the server started from, else <dataDir>/postern.conf), so it shows in
 * SAVE CONFIG's output and survives a restart; then 303 back with a notice. A value the
 * validation refuses: 400, the page again with the error (`.error`) and the values typed,
 * nothing applied.
 *
 * Exports: `registerServices`, `SETTINGS_GROUPS`. Throws nothing.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { addObject, listObjects, removeObject, schemaAt, setAttributes, showObject, unsetAttributes, type EditValue } from '../../config/edit.ts';
import type { ConfigModel } from '../../config/model.ts';
import { writeConfig } from '../../config/write.ts';
import { PosternError } from '../../errors.ts';
import type { HttpEnv } from '../../http/types.ts';
import type { StatusDoc } from '../../status/types.ts';
import { adminCall, errorText, guard, handled, sendPage, setNotice, str, WebError, type WebadminRoutes } from './common.ts';

/** The settings form's fields, by group (those the service's schema has are shown). */
export const SETTINGS_GROUPS: ReadonlyArray<{ title: string; id: string; fields: readonly string[] }> = [
  { title: 'Flow control', id: 'flow', fields: ['maxConnections', 'maxIntervalConnections', 'timeInterval', 'peerMaxConnections', 'peerMaxIntervalConnections', 'peerTimeInterval'] },
  { title: 'Error control', id: 'errors', fields: ['maxErrors', 'maxAuthErrors'] },
  { title: 'Threads', id: 'threads', fields: ['minConnThreads', 'maxConnThreads', 'threadSessions', 'threadIdleTimeout', 'minPoolThreads', 'maxPoolThreads'] },
  { title: 'Logging', id: 'logging', fields: ['logLevel', 'logType', 'logHost'] },
];

const SERVICE_NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/;
const MAX_FIELD = 512;

interface ConfigGet { text: string; model: ConfigModel; file: string }

function serviceName(req: FastifyRequest, services: readonly string[]): string {
  const name = (req.params as { name: string }).name;
  if (!SERVICE_NAME.test(name) || !services.includes(name)) throw new WebError(404, `There is no service ${JSON.stringify(name.slice(0, 64))}.`);
  return name;
}

function index(v: string): number {
  if (!/^\d{1,4}$/.test(v)) throw new WebError(400, 'bad index');
  return Number(v);
}

async function running(req: FastifyRequest): Promise<{ cfg: ConfigGet; doc: StatusDoc }> {
  const [cfg, doc] = await Promise.all([adminCall(req, 'config.get'), adminCall(req, 'status')]);
  return { cfg: cfg as ConfigGet, doc: doc as StatusDoc };
}

async function page(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, name: string, error: string | null, typed: Record<string, string> = {}): Promise<FastifyReply> {
  const { cfg, doc } = await running(req);
  const status = doc.services.find((s) => s.name === name);
  const schema = schemaAt([name]);
  const has = (a: string): boolean => a in schema.attributes;
  const shown = new Map(showObject(cfg.model, [name]).map((a) => [a.name, a]));
  const groups = SETTINGS_GROUPS.map((g) => ({
    ...g,
    fields: g.fields.filter(has).map((f) => ({ name: f, value: typed[f] ?? shown.get(f)?.text ?? '', isDefault: typed[f] === undefined && (shown.get(f)?.isDefault ?? true) })),
  })).filter((g) => g.fields.length > 0);
  const listeners = has('listeners') ? listObjects(cfg.model, [name], 'listeners').map((l, i) => {
    const key = String(l['address'] ?? '');
    const st = status?.listeners.find((x) => x.key === key) ?? status?.listeners[i];
    return { index: i, address: key, ssl: l['sslEnable'] === true, enable: l['enable'] !== false, listening: st?.listening ?? false, port: st?.port ?? null, open: st?.open ?? 0, error: st?.error?.message ?? '' };
  }) : [];
  const rules = (kind: 'allow' | 'deny') => (has(`${kind}Rules`) ? listObjects(cfg.model, [name], `${kind}Rules`) : []).map((r, i) => ({ index: i, ipSet: String(r['ipSet'] ?? ''), priority: Number(r['priority'] ?? 100), enable: r['enable'] !== false }));
  return sendPage(env, req, reply, 'service', {
    title: `Service ${name}`, section: 'services', name, error, typed, file: cfg.file,
    running: status?.state ?? 'not running', implemented: status?.implemented ?? false,
    groups, listeners, hasListeners: has('listeners'), allowRules: rules('allow'), denyRules: rules('deny'), hasRules: has('allowRules'),
  }, error === null ? 200 : 400);
}

/** One listener's settings (every scalar attribute but its address: enable, idleTimeout, its
 * flow window, sslEnable …), as configured. */
async function listenerForm(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, name: string, i: number, error: string | null, typed: Record<string, string> = {}): Promise<FastifyReply> {
  const cfg = (await adminCall(req, 'config.get')) as ConfigGet;
  if (!('listeners' in schemaAt([name]).attributes)) throw new WebError(404, `Service ${name} has no listeners.`);
  const listener = listObjects(cfg.model, [name], 'listeners')[i];
  if (listener === undefined) throw new WebError(404, `Service ${name} has no listener ${i}.`);
  const fields = listenerFields(cfg.model, name, i).map((a) => ({ name: a.name, value: typed[a.name] ?? a.text, isDefault: typed[a.name] === undefined && a.isDefault }));
  return sendPage(env, req, reply, 'listener', { title: `Service ${name}: listener ${String(listener['address'] ?? '')}`, section: 'services', name, index: i, address: String(listener['address'] ?? ''), fields, error, file: cfg.file }, error === null ? 200 : 400);
}

/** A listener's scalar attributes (its address left out: it names the listener). */
function listenerFields(model: ConfigModel, name: string, i: number): ReturnType<typeof showObject> {
  // a default listener (not written yet) shows its defaults; the first change writes it out
  return showObject(model, [name, 'listeners', i]).filter((a) => a.name !== 'address');
}

/** Apply a new model live and save it; a refusal of config.set is the operator's (shown). */
async function apply(req: FastifyRequest, model: ConfigModel): Promise<string> {
  await adminCall(req, 'config.set', { text: writeConfig(model) });
  const saved = (await adminCall(req, 'config.save')) as { path: string };
  return saved.path;
}

const isConfigError = (e: unknown): boolean => e instanceof PosternError && (e.code.startsWith('CONFIG_') || e.code === 'CONTROL_BAD_REQUEST');

export const registerServices: WebadminRoutes = (app, env) => {
  const names = async (req: FastifyRequest): Promise<string[]> => ((await adminCall(req, 'status')) as StatusDoc).services.map((s) => s.name);

  app.get('/config', guard(env), handled(env, async (req, reply) => {
    const cfg = (await adminCall(req, 'config.get')) as ConfigGet;
    return sendPage(env, req, reply, 'config', { title: 'Configuration', section: 'config', text: cfg.text, file: cfg.file });
  }));

  app.get('/services', guard(env), handled(env, async (_req, reply) => reply.code(303).header('location', '/dashboard#services').send()));

  app.get('/services/:name', guard(env), handled(env, async (req, reply) => page(env, req, reply, serviceName(req, await names(req)), null)));

  /** Run an edit of the running model; apply and save it, or show the page with the error. */
  const edit = (what: string, fn: (model: ConfigModel, name: string, body: unknown, params: Record<string, string>) => ConfigModel, typedOf: (body: unknown) => Record<string, string> = () => ({}), listenerPage = false) =>
    handled(env, async (req, reply) => {
      const name = serviceName(req, await names(req));
      const params = req.params as Record<string, string>;
      const back = listenerPage ? `/services/${name}/listeners/${index(params['i'] ?? '')}` : `/services/${name}`;
      const cfg = (await adminCall(req, 'config.get')) as ConfigGet;
      let saved: string;
      try {
        saved = await apply(req, fn(cfg.model, name, req.body, params));
      } catch (e) {
        if (!isConfigError(e) && !(e instanceof WebError && e.status === 400)) throw e;
        return listenerPage ? listenerForm(env, req, reply, name, index(params['i'] ?? ''), errorText(e), typedOf(req.body)) : page(env, req, reply, name, errorText(e), typedOf(req.body));
      }
      setNotice(req, reply, `${name}: ${what}; applied and saved to ${saved}.`);
      return reply.code(303).header('location', back).send();
    });

  app.post('/services/:name/settings', guard(env), edit('settings changed', (model, name, body) => {
    const schema = schemaAt([name]);
    const shown = new Map(showObject(model, [name]).map((a) => [a.name, a]));
    const set: Array<[string, EditValue]> = [];
    const unset: string[] = [];
    for (const g of SETTINGS_GROUPS) {
      for (const f of g.fields) {
        if (!(f in schema.attributes) || (body as Record<string, unknown> | null)?.[f] === undefined) continue;
        const v = str(body, f).trim().slice(0, MAX_FIELD);
        const cur = shown.get(f);
        if (v === '') {
          if (cur !== undefined && !cur.isDefault) unset.push(f); // emptied: back to its default
        } else if (cur === undefined || v !== cur.text) set.push([f, v]); // (unchanged, default or not: left alone)
      }
    }
    let m = model;
    if (unset.length > 0) m = unsetAttributes(m, [name], unset);
    if (set.length > 0) m = setAttributes(m, [name], set);
    if (m === model) throw new WebError(400, 'Nothing changed.');
    return m;
  }, (body) => {
    const typed: Record<string, string> = {};
    for (const g of SETTINGS_GROUPS) for (const f of g.fields) if ((body as Record<string, unknown> | null)?.[f] !== undefined) typed[f] = str(body, f).slice(0, MAX_FIELD);
    return typed;
  }));

  app.post('/services/:name/listeners/add', guard(env), edit('listener added', (model, name, body) => {
    const address = str(body, 'address').trim().slice(0, MAX_FIELD);
    if (address === '') throw new WebError(400, 'Enter the listener\'s address (ip:port).');
    const pairs: Array<[string, EditValue]> = [['address', address]];
    if (str(body, 'sslEnable') === 'yes') pairs.push(['sslEnable', 'yes']);
    return addObject(model, [name], 'listeners', pairs).model;
  }, (body) => ({ address: str(body, 'address').slice(0, MAX_FIELD) })));

  app.get('/services/:name/listeners/:i', guard(env), handled(env, async (req, reply) => {
    const name = serviceName(req, await names(req));
    return listenerForm(env, req, reply, name, index((req.params as { i?: string }).i ?? ''), null);
  }));

  app.post('/services/:name/listeners/:i/settings', guard(env), edit('listener changed', (model, name, body, params) => {
    const i = index(params['i'] ?? '');
    if (listObjects(model, [name], 'listeners')[i] === undefined) throw new WebError(404, `Service ${name} has no listener ${i}.`);
    const set: Array<[string, EditValue]> = [];
    const unset: string[] = [];
    for (const a of listenerFields(model, name, i)) {
      if ((body as Record<string, unknown> | null)?.[a.name] === undefined) continue;
      const v = str(body, a.name).trim().slice(0, MAX_FIELD);
      if (v === '') {
        if (!a.isDefault) unset.push(a.name);
      } else if (v !== a.text) set.push([a.name, v]);
    }
    let m = model;
    if (unset.length > 0) m = unsetAttributes(m, [name, 'listeners', i], unset);
    if (set.length > 0) m = setAttributes(m, [name, 'listeners', i], set);
    if (m === model) throw new WebError(400, 'Nothing changed.');
    return m;
  }, (body) => {
    const typed: Record<string, string> = {};
    for (const [k, v] of Object.entries((body as Record<string, unknown> | null) ?? {})) if (k !== '_csrf' && typeof v === 'string') typed[k] = v.slice(0, MAX_FIELD);
    return typed;
  }, true));

  app.post('/services/:name/listeners/:i/remove', guard(env), edit('listener removed', (model, name, _body, params) => removeObject(model, [name], 'listeners', index(params['i'] ?? ''))));

  app.post('/services/:name/rules/:kind/:i/remove', guard(env), edit('rule removed', (model, name, _body, params) => {
    const kind = params['kind'];
    if (kind !== 'allow' && kind !== 'deny') throw new WebError(404, 'There is no such rule set.');
    return removeObject(model, [name], `${kind}Rules`, index(params['i'] ?? ''));
  }));

  app.post('/services/:name/rules/add', guard(env), edit('rule added', (model, name, body) => {
    const kind = str(body, 'kind');
    if (kind !== 'allow' && kind !== 'deny') throw new WebError(400, 'A rule is allow or deny.');
    const ipSet = str(body, 'ipSet').trim().slice(0, MAX_FIELD);
    if (ipSet === '') throw new WebError(400, 'Enter the rule\'s IP set (e.g. 10.0.0.0/8).');
    const pairs: Array<[string, EditValue]> = [['ipSet', ipSet]];
    const priority = str(body, 'priority').trim();
    if (priority !== '') pairs.push(['priority', priority.slice(0, 20)]);
    return addObject(model, [name], `${kind}Rules`, pairs).model;
  }, (body) => ({ ipSet: str(body, 'ipSet').slice(0, MAX_FIELD), priority: str(body, 'priority').slice(0, 20), kind: str(body, 'kind').slice(0, 10) })));
};
