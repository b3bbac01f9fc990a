/**
 * http.test.ts: the status HTTP endpoint and the Prometheus metrics derived from a StatusDoc.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startStatusServer, type StatusServer } from '../../src/status/http.ts';
import { createMetrics } from '../../src/status/metrics.ts';
import type { StatusDoc } from '../../src/status/types.ts';

const execFileP = promisify(execFile);

function sampleDoc(): StatusDoc {
  return {
    server: { version: '0.1.0', pid: 4242, uptimeSec: 93, dataDir: '/var/lib/postern', node: 'v24.21.0' },
    tree: {
      id: 'root', kind: 'supervisor', state: 'running', mailboxDepth: 0, mailboxCapacity: Infinity, restarts: 0,
      children: [
        {
          id: 'services', kind: 'supervisor', state: 'running', mailboxDepth: 1, mailboxCapacity: 100, restarts: 2,
          children: [
            { id: 'smtpIncoming', kind: 'service', state: 'running', mailboxDepth: 3, mailboxCapacity: 1000, restarts: 1 },
            {
              id: 'imap', kind: 'service', state: 'failed', mailboxDepth: 0, mailboxCapacity: 1000, restarts: 5,
              lastError: { code: 'NOT_IMPLEMENTED', message: 'imap is not implemented', retryable: false },
            },
          ],
        },
      ],
    },
    services: [
      {
        name: 'smtpIncoming', state: 'running', implemented: true,
        connThreads: { min: 1, max: 4, current: 2 },
        listeners: [
          { key: '0.0.0.0:25', transport: 'tcp', enable: true, listening: true, open: 3, accepted: 120, refused: { deny_rule: 4, peer_window: 1 } },
          { key: '[::]:587', transport: 'tcp', enable: true, listening: false, open: 0, accepted: 0, refused: {} },
        ],
        rules: [
          { level: 'global', kind: 'deny', ipSet: '10.0.0.0/8', priority: 10, open: 0, matched: 4, refused: { deny_rule: 4 } },
          { level: 'listener', listener: '0.0.0.0:25', kind: 'allow', ipSet: '0.0.0.0/0', priority: 1, open: 3, matched: 121, refused: { peer_window: 1 } },
        ],
        openConnections: 3,
        pool: { threads: 2, queued: 5, completed: 77 },
      },
      {
        name: 'imap', state: 'failed', implemented: false, lastError: { code: 'NOT_IMPLEMENTED', message: 'imap is not implemented' },
        connThreads: { min: 0, max: 0, current: 0 }, listeners: [], rules: [], openConnections: 0,
        pool: { threads: 0, queued: 0, completed: 0 },
      },
    ],
  };
}

interface Sample { name: string; labels: Record<string, string>; value: number }

/** A strict-enough parser of the Prometheus text exposition format. */
function parseProm(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  assert.ok(text.endsWith('\n'), 'exposition ends with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m !== null) {
      assert.ok(!types.has(m[1]!), `duplicate TYPE for ${m[1]}`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    assert.ok(m !== null, `bad exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    let pos = 0;
    while (pos < body.length) {
      re.lastIndex = pos;
      const lm = re.exec(body);
      assert.ok(lm !== null, `bad labels in: ${line}`);
      labels[lm[1]!] = lm[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
      pos = re.lastIndex;
    }
    // Prometheus parses values with Go's ParseFloat: inf/nan spellings are case-insensitive
    // (prom-client writes NaN as 'Nan', e.g. the event-loop lag before its first sample)
    const raw = m[3]!.toLowerCase();
    const value = raw === '+inf' || raw === 'inf' ? Infinity : raw === '-inf' ? -Infinity : raw === 'nan' ? NaN : Number(raw);
    assert.ok(!Number.isNaN(value) || raw === 'nan', `bad value in: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { types, samples };
}

function find(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

describe('status HTTP endpoint', () => {
  let doc = sampleDoc();
  let fail = false;
  let srv: StatusServer;
  let base: string;

  before(async () => {
    srv = await startStatusServer({
      host: '127.0.0.1', port: 0,
      getStatus: () => {
        if (fail) throw new Error('status unavailable');
        return doc;
      },
    });
    base = `http://127.0.0.1:${srv.port}`;
  });
  after(() => srv.close());

  it('GET /status returns the doc as JSON, Infinity as null', async () => {
    const r = await fetch(`${base}/status`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    const body = await r.json() as StatusDoc;
    assert.deepEqual(body, JSON.parse(JSON.stringify(sampleDoc())));
    assert.equal(body.tree.mailboxCapacity, null);
  });

  it('GET /healthz says ok; unknown paths 404; other methods 405', async () => {
    let r = await fetch(`${base}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'ok');
    r = await fetch(`${base}/nope`);
    assert.equal(r.status, 404);
    await r.arrayBuffer();
    r = await fetch(`${base}/status?x=1`);
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    for (const method of ['POST', 'PUT', 'DELETE']) {
      r = await fetch(`${base}/status`, { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.get('allow'), 'GET, HEAD');
      await r.arrayBuffer();
    }
    r = await fetch(`${base}/metrics`, { method: 'HEAD' });
    assert.equal(r.status, 200);
  });

  it('GET /metrics serves parseable Prometheus text with the expected series', async () => {
    const r = await fetch(`${base}/metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), createMetrics(sampleDoc).registry.contentType);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const { types, samples } = parseProm(await r.text());

    const expectTypes: Record<string, string> = {
      postern_actor_mailbox_depth: 'gauge', postern_actor_restarts_total: 'counter', postern_actor_up: 'gauge',
      postern_service_up: 'gauge', postern_service_conn_threads: 'gauge', postern_listener_open_connections: 'gauge',
      postern_listener_accepted_total: 'counter', postern_listener_refused_total: 'counter',
      postern_rule_open_connections: 'gauge', postern_rule_refused_total: 'counter', postern_pool_threads: 'gauge',
      postern_pool_queued_tasks: 'gauge', process_cpu_user_seconds_total: 'counter', nodejs_heap_size_used_bytes: 'gauge',
    };
    for (const [name, type] of Object.entries(expectTypes)) assert.equal(types.get(name), type, name);
    for (const s of samples) {
      const family = types.has(s.name) ? s.name : s.name.replace(/_(bucket|sum|count)$/, '');
      assert.ok(types.has(family), `sample ${s.name} has a TYPE line`);
    }

    const smtp = 'root/services/smtpIncoming';
    assert.equal(find(samples, 'postern_actor_mailbox_depth', { actor: smtp, kind: 'service' }), 3);
    assert.equal(find(samples, 'postern_actor_mailbox_depth', { actor: 'root/services', kind: 'supervisor' }), 1);
    assert.equal(find(samples, 'postern_actor_mailbox_capacity', { actor: 'root' }), Infinity);
    assert.equal(find(samples, 'postern_actor_restarts_total', { actor: 'root/services/imap' }), 5);
    assert.equal(find(samples, 'postern_actor_up', { actor: smtp, state: 'running' }), 1);
    assert.equal(find(samples, 'postern_actor_up', { actor: 'root/services/imap', kind: 'service', state: 'failed' }), 0);
    assert.equal(samples.filter((s) => s.name === 'postern_actor_up').length, 4);
    assert.equal(find(samples, 'postern_service_up', { service: 'smtpIncoming', state: 'running' }), 1);
    assert.equal(find(samples, 'postern_service_up', { service: 'imap', state: 'failed' }), 0);
    assert.equal(find(samples, 'postern_service_conn_threads', { service: 'smtpIncoming' }), 2);
    assert.equal(find(samples, 'postern_listener_open_connections', { service: 'smtpIncoming', listener: '0.0.0.0:25' }), 3);
    assert.equal(find(samples, 'postern_listener_accepted_total', { service: 'smtpIncoming', listener: '0.0.0.0:25' }), 120);
    assert.equal(find(samples, 'postern_listener_refused_total', { listener: '0.0.0.0:25', reason: 'deny_rule' }), 4);
    assert.equal(find(samples, 'postern_listener_refused_total', { listener: '0.0.0.0:25', reason: 'peer_window' }), 1);
    assert.equal(find(samples, 'postern_listener_up', { listener: '[::]:587', transport: 'tcp' }), 0);
    assert.equal(find(samples, 'postern_rule_open_connections', { service: 'smtpIncoming', level: 'listener', listener: '0.0.0.0:25', kind: 'allow', ip_set: '0.0.0.0/0', priority: '1' }), 3);
    assert.equal(find(samples, 'postern_rule_refused_total', { level: 'global', listener: '', kind: 'deny', ip_set: '10.0.0.0/8', reason: 'deny_rule' }), 4);
    assert.equal(find(samples, 'postern_pool_threads', { service: 'smtpIncoming' }), 2);
    assert.equal(find(samples, 'postern_pool_queued_tasks', { service: 'smtpIncoming' }), 5);
    assert.equal(find(samples, 'postern_pool_completed_tasks_total', { service: 'smtpIncoming' }), 77);
    assert.equal(find(samples, 'postern_build_info', { version: '0.1.0', node: 'v24.21.0' }), 1);
  });

  it('re-reads the status on every scrape', async () => {
    doc = sampleDoc();
    doc.services[0]!.pool.queued = 42;
    doc.services[0]!.listeners[0]!.refused.error_limit = 9;
    const { samples } = parseProm(await (await fetch(`${base}/metrics`)).text());
    assert.equal(find(samples, 'postern_pool_queued_tasks', { service: 'smtpIncoming' }), 42);
    assert.equal(find(samples, 'postern_listener_refused_total', { listener: '0.0.0.0:25', reason: 'error_limit' }), 9);
    doc = sampleDoc();
  });

  it('answers 500 when the status cannot be read', async () => {
    fail = true;
    try {
      for (const p of ['/status', '/metrics']) {
        const r = await fetch(`${base}${p}`);
        assert.equal(r.status, 500, p);
        await r.arrayBuffer();
      }
    } finally {
      fail = false;
    }
  });

  it('serves /metrics and /status to the real curl', async () => {
    const m = await execFileP('curl', ['-s', '-S', '--max-time', '5', '-w', '\n%{http_code} %{content_type}', `${base}/metrics`]);
    const cut = m.stdout.lastIndexOf('\n');
    const [code, ...ct] = m.stdout.slice(cut + 1).split(' ');
    assert.equal(code, '200');
    assert.match(ct.join(' '), /^text\/plain; version=0\.0\.4/);
    const { samples } = parseProm(m.stdout.slice(0, cut));
    assert.equal(find(samples, 'postern_listener_accepted_total', { listener: '0.0.0.0:25' }), 120);

    const s = await execFileP('curl', ['-s', '-S', '--max-time', '5', `${base}/status`]);
    assert.deepEqual(JSON.parse(s.stdout), JSON.parse(JSON.stringify(sampleDoc())));

    const h = await execFileP('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', `${base}/metrics`]);
    assert.equal(h.stdout, '405');
  });
});

describe('status server lifecycle', () => {
  it('closes promptly with a keep-alive connection open, and reports a busy port', async () => {
    const a = await startStatusServer({ host: '127.0.0.1', port: 0, getStatus: sampleDoc });
    const r = await fetch(`http://127.0.0.1:${a.port}/healthz`, { keepalive: true });
    await r.text();
    await assert.rejects(startStatusServer({ host: '127.0.0.1', port: a.port, getStatus: sampleDoc }), { code: 'LISTEN_FAILED' });
    const t0 = Date.now();
    await a.close();
    assert.ok(Date.now() - t0 < 1000);
  });
});
