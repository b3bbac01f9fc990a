/**
 * webadmin/operations.ts: the queue, the logs and the reports:
 *   GET  /queue                 `queue.list`
 *   GET  /queue/:id             `queue.show` (envelope, each recipient's status, headers)
 *   POST /queue/:id/retry       `queue.retry` (due now); POST /queue/:id/delete `queue.delete`
 *   POST /queue/force           every queued message due now (FORCE QUEUE)
 *   GET  /logs?service=&level=&lines=   `log.tail` (the Log service's registry command): the last
 *                               records of every thread at `level` (critical error warning info
 *                               protocol) or more severe, of one service or all; `lines` at most
 *                               `maxLogLines`
 *   GET  /report?scope=&hours=  the Report service's counters (`report.query`) over the last
 *                               `hours` (1, 6, 24, 168) for a scope (server, domain:D, account:A),
 *                               each drawn as an inline SVG bar chart of at most CHART_POINTS
 *                               buckets; without the command in the registry: "Reporting is not
 *                               available".
 *   POST /report/sample         `report.sample`: the Report service samples now (303 back; the
 *                               service not running: the notice says so)
 *
 * Exports: `registerOperations`, `chartBars`. Throws nothing.
 */
import { command } from '../../admin/commands.ts';
import type { StatusDoc } from '../../status/types.ts';
import { adminCall, errorText, guard, handled, sendPage, setNotice, str, WebError, webadminOptions, type WebadminRoutes } from './common.ts';

const QUEUE_ID = /^[A-Za-z0-9._-]{1,128}$/;
const LEVELS = ['critical', 'error', 'warning', 'info', 'protocol'];
const HOURS = [1, 6, 24, 168];
/** Most buckets one chart draws. */
const CHART_POINTS = 240;
const SCOPE = /^(server|(domain|account|node):[^\s]{1,320})$/;
/** Most messages FORCE QUEUE makes due in one request. */
const FORCE_MAX = 10_000;

function queueId(v: string | undefined): string {
  if (v === undefined || !QUEUE_ID.test(v)) throw new WebError(400, 'bad queue id');
  return v;
}

/** A bar chart of `values` in a `w`×`h` box: one bar per bucket with a value above 0 (its
 * height in proportion to the largest); a null (no sample) or 0 draws nothing. */
export function chartBars(values: ReadonlyArray<number | null>, w: number, h: number): { bars: Array<{ x: string; y: string; width: string; height: string }>; max: number; last: number | null } {
  const max = Math.max(0, ...values.map((v) => v ?? 0));
  const n = Math.max(1, values.length);
  const bw = w / n;
  const bars: Array<{ x: string; y: string; width: string; height: string }> = [];
  values.forEach((v, i) => {
    if (v === null || v <= 0 || max === 0) return;
    const bh = Math.max(1, (v * h) / max);
    bars.push({ x: (i * bw).toFixed(2), y: (h - bh).toFixed(2), width: Math.max(1, bw - (bw > 3 ? 1 : 0)).toFixed(2), height: bh.toFixed(2) });
  });
  const last = [...values].reverse().find((v) => v !== null) ?? null;
  return { bars, max, last };
}

export const registerOperations: WebadminRoutes = (app, env) => {
  app.get('/queue', guard(env), handled(env, async (req, reply) => {
    const items = (await adminCall(req, 'queue.list')) as Array<Record<string, unknown>>;
    return sendPage(env, req, reply, 'queue', { title: 'Queue', section: 'queue', items: items.slice(0, 1000), total: items.length });
  }));
  app.post('/queue/force', guard(env), handled(env, async (req, reply) => {
    const items = ((await adminCall(req, 'queue.list')) as Array<{ id: string }>).slice(0, FORCE_MAX);
    let due = 0;
    for (const it of items) {
      try {
        await adminCall(req, 'queue.retry', { id: it.id });
        due++;
      } catch {
        // delivered or busy meanwhile
      }
    }
    setNotice(req, reply, `${due} of ${items.length} queued messages are due now.`);
    return reply.code(303).header('location', '/queue').send();
  }));
  app.get('/queue/:id', guard(env), handled(env, async (req, reply) => {
    const id = queueId((req.params as { id?: string }).id);
    const item = (await adminCall(req, 'queue.show', { id })) as Record<string, unknown>;
    return sendPage(env, req, reply, 'queue-item', { title: `Queue ${id}`, section: 'queue', id, json: JSON.stringify(item, null, 2) });
  }));
  for (const action of ['retry', 'delete'] as const) {
    app.post(`/queue/:id/${action}`, guard(env), handled(env, async (req, reply) => {
      const id = queueId((req.params as { id?: string }).id);
      try {
        await adminCall(req, `queue.${action}`, { id });
        setNotice(req, reply, action === 'retry' ? `Message ${id} is due now.` : `Message ${id} deleted from the queue.`);
      } catch (e) {
        setNotice(req, reply, `Message ${id}: ${action} failed: ${errorText(e)}`);
      }
      return reply.code(303).header('location', '/queue').send();
    }));
  }

  app.get('/logs', guard(env), handled(env, async (req, reply) => {
    const o = webadminOptions(req);
    const service = str(req.query, 'service').trim();
    const level = str(req.query, 'level').trim() || 'info';
    const linesText = str(req.query, 'lines').trim() || '100';
    if (!LEVELS.includes(level)) throw new WebError(400, `level must be one of ${LEVELS.join(', ')}`);
    if (!/^\d{1,6}$/.test(linesText) || Number(linesText) < 1) throw new WebError(400, 'lines must be a positive whole number');
    if (service !== '' && !/^[A-Za-z][A-Za-z0-9]{0,63}$/.test(service)) throw new WebError(400, 'bad service name');
    const lines = Math.min(Number(linesText), o.maxLogLines);
    const services = ((await adminCall(req, 'status')) as StatusDoc).services.map((s) => s.name);
    const records = (await adminCall(req, 'log.tail', { ...(service === '' ? {} : { service }), level, lines })) as Array<Record<string, unknown>>;
    return sendPage(env, req, reply, 'logs', { title: 'Logs', section: 'logs', records, service, level, lines, services, levels: LEVELS, capped: Number(linesText) > o.maxLogLines, maxLogLines: o.maxLogLines });
  }));

  app.post('/report/sample', guard(env), handled(env, async (req, reply) => {
    if (command('report.sample') === undefined) throw new WebError(404, 'Reporting is not available.');
    try {
      await adminCall(req, 'report.sample');
      setNotice(req, reply, 'Sampled now.');
    } catch (e) {
      setNotice(req, reply, `Sampling failed: ${errorText(e)}`);
    }
    return reply.code(303).header('location', '/report').send();
  }));

  app.get('/report', guard(env), handled(env, async (req, reply) => {
    if (command('report.query') === undefined) return sendPage(env, req, reply, 'report', { title: 'Reports', section: 'report', available: false, charts: [] });
    const scope = str(req.query, 'scope').trim() || 'server';
    const hours = Number(str(req.query, 'hours').trim() || '24');
    if (!SCOPE.test(scope)) throw new WebError(400, 'scope must be server, domain:NAME or account:ADDRESS');
    if (!HOURS.includes(hours)) throw new WebError(400, `hours must be one of ${HOURS.join(', ')}`);
    const to = Date.now();
    const from = to - hours * 3_600_000;
    const step = Math.max(60, Math.ceil((to - from) / 1000 / CHART_POINTS / 60) * 60);
    const data = (await adminCall(req, 'report.query', { scope, from, to, step })) as {
      samples: number; stepSec: number; series: Array<{ counter: string; kind: string; points: Array<[number, number | null]> }>;
      scopes: { domains: string[]; accounts: string[] };
    };
    const charts = data.series.slice(0, 100).map((s) => ({ name: s.counter, kind: s.kind, ...chartBars(s.points.map((p) => p[1]), 300, 60) }));
    const scopes = ['server', ...data.scopes.domains.map((d) => `domain:${d}`), ...data.scopes.accounts.map((a) => `account:${a}`)].slice(0, 500);
    if (!scopes.includes(scope)) scopes.push(scope);
    return sendPage(env, req, reply, 'report', { title: 'Reports', section: 'report', available: true, charts, samples: data.samples, stepSec: data.stepSec, scope, scopes, hours, hoursChoices: HOURS, from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  }));
};
