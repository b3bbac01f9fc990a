/**
 * webadmin/operations.ts: the queue, the logs and the reports:
 *   GET  /queue                 `queue.list`
 *   GET  /queue/:id             `queue.show` (envelope, each recipient's status, headers)
 *   POST /queue/:id/retry       `queue.retry` (due now); POST /queue/:id/delete `queue.delete`
 *   POST /queue/force           every queued message due now (FORCE QUEUE)
 *   GET  /logs?service=&level=&lines=   `log.tail`: the main thread's last records at `level` or
 *                               worse, of one service or all; `lines` at most `maxLogLines`
 *   GET  /report                the Report service's charts from the registry's `report.query`
 *                               (inline SVG); without that command: "Reporting is not available".
 *
 * Exports: `registerOperations`, `sparkline`. Throws nothing.
 */
import { command } from '../../admin/commands.ts';
import type { StatusDoc } from '../../status/types.ts';
import { adminCall, errorText, guard, handled, sendPage, setNotice, str, WebError, webadminOptions, type WebadminRoutes } from './common.ts';

const QUEUE_ID = /^[A-Za-z0-9._-]{1,128}$/;
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
/** Most messages FORCE QUEUE makes due in one request. */
const FORCE_MAX = 10_000;

function queueId(v: string | undefined): string {
  if (v === undefined || !QUEUE_ID.test(v)) throw new WebError(400, 'bad queue id');
  return v;
}

/** An SVG polyline's points for `values` in a `w`×`h` box (max at the top). */
export function sparkline(values: readonly number[], w: number, h: number): { points: string; max: number } {
  const max = Math.max(1, ...values);
  const n = values.length;
  const points = values.map((v, i) => `${n <= 1 ? 0 : ((i * w) / (n - 1)).toFixed(1)},${(h - (Math.max(0, v) * h) / max).toFixed(1)}`).join(' ');
  return { points, max };
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
    const r = (await adminCall(req, 'log.tail', { ...(service === '' ? {} : { service }), level, lines })) as { records: Array<Record<string, unknown>> };
    return sendPage(env, req, reply, 'logs', { title: 'Logs', section: 'logs', records: r.records, service, level, lines, services, levels: LEVELS, capped: Number(linesText) > o.maxLogLines, maxLogLines: o.maxLogLines });
  }));

  app.get('/report', guard(env), handled(env, async (req, reply) => {
    if (command('report.query') === undefined) return sendPage(env, req, reply, 'report', { title: 'Reports', section: 'report', available: false, charts: [] });
    const data = (await adminCall(req, 'report.query', {})) as { series?: Array<{ name: string; points: Array<{ t: number; v: number }> }> };
    const charts = (data.series ?? []).slice(0, 50).map((s) => ({ name: s.name, last: s.points.at(-1)?.v ?? 0, ...sparkline(s.points.map((p) => p.v), 300, 60) }));
    return sendPage(env, req, reply, 'report', { title: 'Reports', section: 'report', available: true, charts });
  }));
};
