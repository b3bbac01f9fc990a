/**
 * test/report/samples.test.ts: the pure parts of the Report service: the sample files
 * (compaction merges a finished day's samples by minute, a torn line is cut off, pruning by
 * day), the collector with an injected clock (maxScopeKeys bounds the domains and accounts of a
 * sample, the rest under `other`; pruning at a lowered reportingInterval), the query's buckets,
 * and the counter datagram's codec.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from '../helpers.ts';
import { SampleStore, mergeSamples, type Sample } from '../../src/protocols/report/samples.ts';
import { ReportCollector } from '../../src/protocols/report/collector.ts';
import { aggregate, queryWindow } from '../../src/protocols/report/query.ts';
import { decodeDatagram, encodeDatagram } from '../../src/protocols/report/datagram.ts';
import { createRootLogger } from '../../src/log.ts';
import type { ReportOptions } from '../../src/config/options.ts';

const GAUGES = new Set(['QUEUE_Size']);
const DAY = 86_400_000;
const T0 = Date.parse('2026-03-02T10:00:00Z');

function options(o: Partial<ReportOptions> = {}): ReportOptions {
  return { kind: 'report', domainEnable: true, domainObjectEnable: true, reportingIntervalMs: 4 * 7 * DAY, sampleIntervalMs: 60_000, maxScopeKeys: 1000, maxNodes: 64, reportHost: null, ...o };
}

test('mergeSamples: one sample per minute, counters summed, gauges the last', () => {
  const s: Sample[] = [
    { t: T0 + 1000, c: { SMTP_InboundMessage: 2, QUEUE_Size: 5 }, a: { 'x@y': { SMTP_InboundMessage: 1 } } },
    { t: T0 + 30_000, c: { SMTP_InboundMessage: 3, QUEUE_Size: 7 }, a: { 'x@y': { SMTP_InboundMessage: 2 } } },
    { t: T0 + 61_000, c: { SMTP_InboundMessage: 1 } },
  ];
  const m = mergeSamples(s, GAUGES);
  assert.equal(m.length, 2);
  assert.deepEqual(m[0]!.c, { SMTP_InboundMessage: 5, QUEUE_Size: 7 });
  assert.deepEqual(m[0]!.a, { 'x@y': { SMTP_InboundMessage: 3 } });
  assert.equal(m[0]!.t, T0 + 30_000);
});

test('SampleStore: append, torn line, compaction of finished days, pruning by day', async () => {
  const dir = path.join(tmpDir('postern-report-unit-'), 'report');
  const st = new SampleStore(dir, GAUGES);
  await st.append({ t: T0, c: { SMTP_InboundMessage: 1 } });
  await st.append({ t: T0 + 10_000, c: { SMTP_InboundMessage: 1 } });
  await st.close();
  fs.appendFileSync(path.join(dir, '2026-03-02.jsonl'), '{"t":');
  const st2 = new SampleStore(dir, GAUGES);
  assert.equal((await st2.read(0, Infinity)).length, 2, 'a reader skips the torn line');
  await st2.append({ t: T0 + DAY, c: { SMTP_InboundMessage: 4 } });
  assert.ok(fs.readFileSync(path.join(dir, '2026-03-02.jsonl'), 'utf8').endsWith('{"t":'), 'cut only when its day is appended to again');
  await st2.append({ t: T0 + 20_000, c: { SMTP_InboundMessage: 1 } }); // a late sample of the first day: cut, then appended
  const lines = fs.readFileSync(path.join(dir, '2026-03-02.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 3);
  for (const l of lines) JSON.parse(l);
  assert.deepEqual(await st2.compact('2026-03-03'), ['2026-03-02']);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['2026-03-02.c.jsonl', '2026-03-03.jsonl']);
  const all = await st2.read(0, Infinity);
  assert.deepEqual(all.map((s) => s.c['SMTP_InboundMessage']), [3, 4], 'the first day merged into one minute');
  assert.deepEqual(await st2.prune(T0 + DAY), ['2026-03-02']);
  assert.deepEqual(fs.readdirSync(dir), ['2026-03-03.jsonl']);
  await st2.close();
});

test('collector: maxScopeKeys bounds the domains and accounts of a sample, the rest under other', async () => {
  let now = T0;
  const c = new ReportCollector({ dataDir: tmpDir('postern-report-unit-'), log: createRootLogger('silent'), hostname: () => 'n', queueSize: async () => 3, now: () => now }, options({ maxScopeKeys: 2 }));
  c.start(options({ maxScopeKeys: 2 }));
  try {
    c.add('smtpIncoming', { SMTP_InboundMessage: 4, 'refused.rcpt.unknown_user': 1 }, { SMTP_InboundMessage: { 'a@one.test': 1, 'b@two.test': 1, 'c@three.test': 1, 'd@one.test': 1 } });
    c.add('pop3', { POP3_LoginSuccess: 1 });
    const s = await c.sample();
    assert.deepEqual(s.counters, { SMTP_InboundMessage: 4, POP3_LoginSuccess: 1, QUEUE_Size: 3 });
    now += 60_000;
    const d = await c.query({ scope: 'domain:other', from: T0, to: now });
    const total = (r: typeof d, n: string) => r.series.find((x) => x.counter === n)!.points.reduce((a, [, v]) => a + (v ?? 0), 0);
    assert.equal(total(d, 'SMTP_InboundMessage'), 1, 'three.test, the third domain, goes under other');
    assert.deepEqual(d.scopes.domains, ['one.test', 'other', 'two.test']);
    assert.deepEqual(d.scopes.accounts, ['a@one.test', 'b@two.test', 'other']);
    assert.equal(total(await c.query({ scope: 'domain:one.test', from: T0, to: now }), 'SMTP_InboundMessage'), 2);
    assert.equal(total(await c.query({ scope: 'account:other', from: T0, to: now }), 'SMTP_InboundMessage'), 2);
  } finally {
    await c.stop();
  }
});

test('collector: counts arriving while stopped are not sampled; flags off keep no scopes', async () => {
  const c = new ReportCollector({ dataDir: tmpDir('postern-report-unit-'), log: createRootLogger('silent'), hostname: () => 'n', queueSize: async () => null }, options({ domainEnable: false, domainObjectEnable: false }));
  c.add('pop3', { POP3_LoginSuccess: 5 });
  c.start(options({ domainEnable: false, domainObjectEnable: false }));
  c.add('pop3', { POP3_LoginSuccess: 1 }, { POP3_LoginSuccess: { 'a@b.test': 1 } });
  const s = await c.sample();
  assert.deepEqual(s.counters, { POP3_LoginSuccess: 1 });
  const r = await c.query({});
  assert.deepEqual(r.scopes, { domains: [], accounts: [], nodes: [] });
  await c.stop();
});

test('query: buckets, a gauge\'s mean, null where no sample', () => {
  const w = queryWindow({ from: T0, to: T0 + 300_000, step: 120 }, T0);
  assert.equal(w.stepMs, 120_000);
  const samples: Sample[] = [
    { t: T0 + 10_000, c: { SMTP_InboundMessage: 1, QUEUE_Size: 2 } },
    { t: T0 + 70_000, c: { SMTP_InboundMessage: 2, QUEUE_Size: 4 } },
    { t: T0 + 250_000, c: { QUEUE_Size: 9 } },
  ];
  const r = aggregate(samples, w);
  const m = r.series.find((s) => s.counter === 'SMTP_InboundMessage')!;
  assert.deepEqual(m.points, [[T0, 3], [T0 + 120_000, null], [T0 + 240_000, 0]]);
  const q = r.series.find((s) => s.counter === 'QUEUE_Size')!;
  assert.deepEqual(q.points, [[T0, 3], [T0 + 120_000, null], [T0 + 240_000, 9]]);
  assert.equal(r.samples, 3);
});

test('datagram codec: round trip; unknown counters dropped; garbage is null', () => {
  const d = decodeDatagram(encodeDatagram('Fe1.Example', 5, { SMTP_InboundMessage: 3, Unknown: 1 }));
  assert.deepEqual(d, { node: 'fe1.example', t: 5, c: { SMTP_InboundMessage: 3 } });
  for (const g of ['', '{', 'null', '"x"', '{"v":1,"node":"a b","t":1,"c":{}}', '{"v":1,"node":"a","t":"1","c":{}}', '{"v":1,"node":"a","t":1,"c":[]}', '{"v":1,"node":"a","t":1,"c":{"X":1.5}}']) {
    assert.equal(decodeDatagram(Buffer.from(g)), null, g);
  }
});
