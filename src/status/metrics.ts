/**
 * status/metrics.ts: Prometheus metrics derived from the StatusDoc at scrape time.
 *
 * Nothing is counted here: every series is rebuilt from one `getStatus()` snapshot per scrape
 * (prom-client `collect()` callbacks; the snapshot is shared by all metrics of one scrape and
 * dropped on the next event-loop turn). Uses its own prom-client `Registry`, never the global one,
 * plus prom-client's default process/nodejs metrics registered on that registry.
 *
 * Series (label `actor` is the slash-joined path of ids from the tree root, e.g.
 * `root/services/smtpIncoming`, so it is unique even where ids repeat):
 *   postern_build_info{version,node} 1, postern_uptime_seconds
 *   postern_actor_mailbox_depth{actor,kind}, postern_actor_mailbox_capacity{actor,kind} (+Inf if unbounded)
 *   postern_actor_restarts_total{actor}, postern_actor_up{actor,kind,state} (1 when running)
 *   postern_service_up{service,state} (1 when running), postern_service_open_connections{service}
 *   postern_service_conn_threads{service}
 *   postern_login_failures_total{service}, postern_login_bans_total{service},
 *   postern_login_banned_ips{service} (the service's login throttle, auth/throttle.ts)
 *   postern_listener_up{service,listener,transport} (1 when listening)
 *   postern_listener_open_connections{service,listener}, postern_listener_accepted_total{service,listener}
 *   postern_listener_refused_total{service,listener,reason}
 *   postern_rule_open_connections{service,level,listener,kind,ip_set,priority},
 *   postern_rule_matched_total{…same}, postern_rule_refused_total{…same,reason}
 *   postern_pool_threads{service}, postern_pool_queued_tasks{service},
 *   postern_pool_completed_tasks_total{service}
 *   postern_smtp_refused_total{service,stage,reason} (stage mail|rcpt|data; RCPT refusals count
 *     recipients, DATA/BDAT refusals messages; from the services' `counters`)
 * and, when `mailStats` is given (the store thread's queue, asked once per scrape; left out
 * when the store does not answer):
 *   postern_queue_messages, postern_queue_pending_messages, postern_queue_deferred_messages,
 *   postern_queue_waiting_messages, postern_queue_oldest_age_seconds,
 *   postern_messages_received_total, postern_messages_delivered_total (recipients),
 *   postern_messages_deferred_total (attempts), postern_messages_failed_total (recipients)
 * and the Report service's counters under their seed names (service/report.ts: SMTP_InboundMessage,
 *   POP3_LoginFailed …, summed over the services' `counters`; QUEUE_Size from the queue), with
 *   no labels; per domain and per account they are only in the Report service's samples.
 *
 * Exports: `createMetrics(getStatus, mailStats?)` → `{ registry }`, `MailStats`. Throws nothing
 * at creation; a throwing `getStatus` makes `registry.metrics()` reject.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ActorInfo } from '../actor/types.ts';
import type { RuleStatus, ServiceStatus, StatusDoc } from '../status/types.ts';
import type { QueueMetrics } from '../store/queue.ts';
import { REPORT_COUNTERS } from '../service/report.ts';

/** The queue as the store thread reports it (admin verb `queue.stats`). */
export type MailStats = QueueMetrics;

type Labels = Record<string, string | number>;
type Sample = [Labels, number];

interface MetricDef {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  labelNames: string[];
  samples(doc: StatusDoc): Sample[];
}

export interface Metrics {
  registry: Registry;
}

/** Every actor of the tree with its path label. */
function walk(a: ActorInfo, prefix: string, out: Array<{ path: string; a: ActorInfo }>): void {
  const path = prefix === '' ? a.id : `${prefix}/${a.id}`;
  out.push({ path, a });
  for (const c of a.children ?? []) walk(c, path, out);
}

function actors(doc: StatusDoc): Array<{ path: string; a: ActorInfo }> {
  const out: Array<{ path: string; a: ActorInfo }> = [];
  walk(doc.tree, '', out);
  return out;
}

function perService(doc: StatusDoc, f: (s: ServiceStatus) => Sample[]): Sample[] {
  return doc.services.flatMap(f);
}

function ruleLabels(s: ServiceStatus, r: RuleStatus): Labels {
  return { service: s.name, level: r.level, listener: r.listener ?? '', kind: r.kind, ip_set: r.ipSet, priority: r.priority };
}

function refusals(base: Labels, refused: Record<string, number>): Sample[] {
  return Object.entries(refused).map(([reason, n]): Sample => [{ ...base, reason }, n]);
}

const SVC = ['service'];
const LST = ['service', 'listener'];
const RULE = ['service', 'level', 'listener', 'kind', 'ip_set', 'priority'];

const DEFS: MetricDef[] = [
  {
    name: 'postern_build_info', help: 'Postern version and Node.js version (always 1)', type: 'gauge',
    labelNames: ['version', 'node'], samples: (d) => [[{ version: d.server.version, node: d.server.node }, 1]],
  },
  {
    name: 'postern_uptime_seconds', help: 'Seconds since the server started', type: 'gauge',
    labelNames: [], samples: (d) => [[{}, d.server.uptimeSec]],
  },
  {
    name: 'postern_actor_mailbox_depth', help: 'Messages waiting in the actor mailbox', type: 'gauge',
    labelNames: ['actor', 'kind'], samples: (d) => actors(d).map(({ path, a }): Sample => [{ actor: path, kind: a.kind }, a.mailboxDepth]),
  },
  {
    name: 'postern_actor_mailbox_capacity', help: 'Actor mailbox capacity (+Inf when unbounded)', type: 'gauge',
    labelNames: ['actor', 'kind'],
    samples: (d) => actors(d).map(({ path, a }): Sample => [{ actor: path, kind: a.kind }, a.mailboxCapacity ?? Number.POSITIVE_INFINITY]),
  },
  {
    name: 'postern_actor_restarts_total', help: 'Times the supervisor restarted the actor', type: 'counter',
    labelNames: ['actor'], samples: (d) => actors(d).map(({ path, a }): Sample => [{ actor: path }, a.restarts]),
  },
  {
    name: 'postern_actor_up', help: '1 when the actor is running, else 0; state label gives the state', type: 'gauge',
    labelNames: ['actor', 'kind', 'state'],
    samples: (d) => actors(d).map(({ path, a }): Sample => [{ actor: path, kind: a.kind, state: a.state }, a.state === 'running' ? 1 : 0]),
  },
  {
    name: 'postern_service_up', help: '1 when the service is running, else 0; state label gives the state', type: 'gauge',
    labelNames: ['service', 'state'], samples: (d) => perService(d, (s) => [[{ service: s.name, state: s.state }, s.state === 'running' ? 1 : 0]]),
  },
  {
    name: 'postern_service_open_connections', help: 'Connections open now, all listeners of the service', type: 'gauge',
    labelNames: SVC, samples: (d) => perService(d, (s) => [[{ service: s.name }, s.openConnections]]),
  },
  {
    name: 'postern_service_conn_threads', help: 'Connection threads running now', type: 'gauge',
    labelNames: SVC, samples: (d) => perService(d, (s) => [[{ service: s.name }, s.connThreads.current]]),
  },
  {
    name: 'postern_login_failures_total', help: 'Failed login checks since start (every login path of the service)', type: 'counter',
    labelNames: SVC, samples: (d) => perService(d, (s) => s.logins === undefined ? [] : [[{ service: s.name }, s.logins.failed]]),
  },
  {
    name: 'postern_login_bans_total', help: 'Remote IPs banned for failed logins since start (authBanThreshold)', type: 'counter',
    labelNames: SVC, samples: (d) => perService(d, (s) => s.logins === undefined ? [] : [[{ service: s.name }, s.logins.bans]]),
  },
  {
    name: 'postern_login_banned_ips', help: 'Remote IPs banned for failed logins now', type: 'gauge',
    labelNames: SVC, samples: (d) => perService(d, (s) => s.logins === undefined ? [] : [[{ service: s.name }, s.logins.banned]]),
  },
  {
    name: 'postern_listener_up', help: '1 when the listener is bound and accepting', type: 'gauge',
    labelNames: ['service', 'listener', 'transport'],
    samples: (d) => perService(d, (s) => s.listeners.map((l): Sample => [{ service: s.name, listener: l.key, transport: l.transport }, l.listening ? 1 : 0])),
  },
  {
    name: 'postern_listener_open_connections', help: 'Connections open now on the listener', type: 'gauge',
    labelNames: LST, samples: (d) => perService(d, (s) => s.listeners.map((l): Sample => [{ service: s.name, listener: l.key }, l.open])),
  },
  {
    name: 'postern_listener_accepted_total', help: 'Connections admitted since start', type: 'counter',
    labelNames: LST, samples: (d) => perService(d, (s) => s.listeners.map((l): Sample => [{ service: s.name, listener: l.key }, l.accepted])),
  },
  {
    name: 'postern_listener_refused_total', help: 'Connections refused since start, by reason', type: 'counter',
    labelNames: [...LST, 'reason'],
    samples: (d) => perService(d, (s) => s.listeners.flatMap((l) => refusals({ service: s.name, listener: l.key }, l.refused))),
  },
  {
    name: 'postern_rule_open_connections', help: 'Connections open now admitted by the rule', type: 'gauge',
    labelNames: RULE, samples: (d) => perService(d, (s) => s.rules.map((r): Sample => [ruleLabels(s, r), r.open])),
  },
  {
    name: 'postern_rule_matched_total', help: 'Connections the rule matched since start', type: 'counter',
    labelNames: RULE, samples: (d) => perService(d, (s) => s.rules.map((r): Sample => [ruleLabels(s, r), r.matched])),
  },
  {
    name: 'postern_rule_refused_total', help: 'Connections the rule refused since start, by reason', type: 'counter',
    labelNames: [...RULE, 'reason'], samples: (d) => perService(d, (s) => s.rules.flatMap((r) => refusals(ruleLabels(s, r), r.refused))),
  },
  {
    name: 'postern_pool_threads', help: 'Worker threads in the service task pool', type: 'gauge',
    labelNames: SVC, samples: (d) => perService(d, (s) => [[{ service: s.name }, s.pool.threads]]),
  },
  {
    name: 'postern_pool_queued_tasks', help: 'Tasks waiting in the service task pool', type: 'gauge',
    labelNames: SVC, samples: (d) => perService(d, (s) => [[{ service: s.name }, s.pool.queued]]),
  },
  {
    name: 'postern_pool_completed_tasks_total', help: 'Tasks the service task pool completed', type: 'counter',
    labelNames: SVC, samples: (d) => perService(d, (s) => [[{ service: s.name }, s.pool.completed]]),
  },
  {
    name: 'postern_smtp_refused_total', help: 'SMTP refusals since the service started, by stage (mail, rcpt: recipients; data: messages) and reason', type: 'counter',
    labelNames: ['service', 'stage', 'reason'],
    samples: (d) => perService(d, (s) => Object.entries(s.counters ?? {}).flatMap(([k, n]): Sample[] => {
      const m = /^refused\.([a-z]+)\.([a-z_]+)$/.exec(k);
      return m === null ? [] : [[{ service: s.name, stage: m[1]!, reason: m[2]! }, n]];
    })),
  },
  ...REPORT_COUNTERS.filter((c) => c.kind === 'counter').map((c): MetricDef => ({
    name: c.name, help: `${c.help} (Report counter)`, type: 'counter', labelNames: [],
    samples: (d) => [[{}, d.services.reduce((a, s) => a + (s.counters?.[c.name] ?? 0), 0)]],
  })),
];

/** Series from the store thread's queue (one `mailStats()` per scrape). */
const MAIL_DEFS: Array<{ name: string; help: string; type: 'gauge' | 'counter'; value: (q: MailStats) => number }> = [
  { name: 'postern_queue_messages', help: 'Messages in the mail queue', type: 'gauge', value: (q) => q.entries },
  { name: 'postern_queue_pending_messages', help: 'Queued messages with a local recipient still to deliver', type: 'gauge', value: (q) => q.pending },
  { name: 'postern_queue_deferred_messages', help: 'Pending messages whose delivery was tried and deferred', type: 'gauge', value: (q) => q.deferred },
  { name: 'postern_queue_waiting_messages', help: 'Queued messages waiting only for remote delivery (smtpOutgoing)', type: 'gauge', value: (q) => q.waiting },
  { name: 'postern_queue_oldest_age_seconds', help: 'Age of the oldest queued message (0 when the queue is empty)', type: 'gauge', value: (q) => q.oldestAgeSec },
  { name: 'postern_messages_received_total', help: 'Messages accepted (queued, or delivered at receipt) since the store opened', type: 'counter', value: (q) => q.received },
  { name: 'postern_messages_delivered_total', help: 'Recipients delivered since the store opened', type: 'counter', value: (q) => q.delivered },
  { name: 'postern_messages_deferred_total', help: 'Delivery attempts deferred (a temporary failure) since the store opened', type: 'counter', value: (q) => q.deferrals },
  { name: 'QUEUE_Size', help: 'Messages in the queue (Report gauge; as postern_queue_messages)', type: 'gauge', value: (q) => q.entries },
  { name: 'postern_messages_failed_total', help: 'Recipients whose delivery failed for good since the store opened', type: 'counter', value: (q) => q.failed },
];

export function createMetrics(getStatus: () => StatusDoc, mailStats?: () => Promise<MailStats>): Metrics {
  const registry = new Registry();
  let cached: StatusDoc | undefined;
  const snapshot = (): StatusDoc => {
    if (cached === undefined) {
      cached = getStatus();
      // all collect() callbacks of one scrape run in the same turn; the next scrape re-reads
      setImmediate(() => { cached = undefined; }).unref();
    }
    return cached;
  };

  for (const def of DEFS) {
    if (def.type === 'gauge') {
      new Gauge({
        name: def.name, help: def.help, labelNames: def.labelNames, registers: [registry],
        collect(this: Gauge) {
          this.reset();
          for (const [labels, v] of def.samples(snapshot())) {
            if (typeof v === 'number' && !Number.isNaN(v)) this.set(labels, v);
          }
        },
      });
    } else {
      new Counter({
        name: def.name, help: def.help, labelNames: def.labelNames, registers: [registry],
        collect(this: Counter) {
          this.reset();
          for (const [labels, v] of def.samples(snapshot())) {
            if (typeof v === 'number' && Number.isFinite(v) && v >= 0) this.inc(labels, v);
          }
        },
      });
    }
  }
  if (mailStats !== undefined) {
    let mail: Promise<MailStats | null> | undefined;
    const mailSnapshot = (): Promise<MailStats | null> => {
      if (mail === undefined) {
        mail = mailStats().catch(() => null); // the store restarting: no queue series this scrape
        setImmediate(() => { mail = undefined; }).unref();
      }
      return mail;
    };
    for (const def of MAIL_DEFS) {
      const collect = async function (this: Gauge | Counter): Promise<void> {
        this.reset();
        const q = await mailSnapshot();
        const v = q === null ? NaN : def.value(q);
        if (!Number.isFinite(v) || v < 0) return;
        if (this instanceof Gauge) this.set(v);
        else this.inc(v);
      };
      if (def.type === 'gauge') new Gauge({ name: def.name, help: def.help, registers: [registry], collect });
      else new Counter({ name: def.name, help: def.help, registers: [registry], collect });
    }
  }
  collectDefaultMetrics({ register: registry });
  return { registry };
}
