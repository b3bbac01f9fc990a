/**
 * test/report/counters.test.ts: the Report service's counters match the traffic sent over real
 * sockets by real clients (Python smtplib, poplib, imaplib): N SMTP messages of known sizes →
 * SMTP_InboundMessage = N and SMTP_InboundMessageBytes = their sum, RCPT accepted/refused,
 * POP3 and IMAP logins by outcome, IMAP APPEND; per domain and per account with DomainEnable /
 * DomainObjectEnable; `report.query` over the control socket and `postern ctl report query`;
 * /metrics with the same names.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startReport, python, total, type ReportEnv } from './helpers.ts';
import { waitFor } from '../helpers.ts';
import { runCtl } from '../../src/cli/ctl.ts';

let env: ReportEnv;
let sizes: number[] = [];

before(async () => {
  env = await startReport({ report: 'DomainEnable = yes DomainObjectEnable = yes' });
  await env.server.admin('domain.add', { name: 'other.test' });
  for (const a of ['a@example.org', 'b@example.org', 'c@other.test']) await env.server.admin('account.add', { address: a, password: 'secret-pw' });
  const out = await python(`
import smtplib, poplib, imaplib, json
sizes = []
msgs = []
for i, n in enumerate([300, 4000, 70000]):
    body = ('y' * 70 + '\\r\\n') * (n // 72)
    m = 'From: s@example.net\\r\\nTo: a@example.org\\r\\nSubject: m%d\\r\\n\\r\\n%s' % (i, body)
    msgs.append(m)
    sizes.append(len(m.encode()))
s = smtplib.SMTP('127.0.0.1', ${env.smtp}, local_hostname='client.test')
s.sendmail('s@example.net', ['a@example.org'], msgs[0])
s.sendmail('s@example.net', ['a@example.org', 'c@other.test'], msgs[1])
refused = s.sendmail('s@example.net', ['b@example.org', 'nobody@example.org'], msgs[2])
assert list(refused) == ['nobody@example.org'], refused
s.quit()
for pw in ['secret-pw', 'secret-pw', 'wrong']:
    p = poplib.POP3('127.0.0.1', ${env.pop3}, timeout=20)
    p.user('a@example.org')
    try:
        p.pass_(pw)
    except poplib.error_proto:
        pass
    p.quit()
m = imaplib.IMAP4('127.0.0.1', ${env.imap}, timeout=20)
m.login('b@example.org', 'secret-pw')
for i in range(2):
    typ, _ = m.append('INBOX', None, None, ('Subject: a%d\\r\\n\\r\\nhello\\r\\n' % i).encode())
    assert typ == 'OK', typ
m.logout()
m = imaplib.IMAP4('127.0.0.1', ${env.imap}, timeout=20)
try:
    m.login('b@example.org', 'wrong')
except imaplib.IMAP4.error:
    pass
m.logout()
print(json.dumps(sizes))
`);
  sizes = JSON.parse(out) as number[];
  // the threads report their counts to their hosts every loadIntervalMs: wait until all are in
  await waitFor(() => env.counters('imap').IMAP_LoginFailed === 1 && env.counters('pop3').POP3_LoginFailed === 1
    && env.counters('smtpIncoming').SMTP_InboundMessage === 3 && env.counters('smtpIncoming').SMTP_InboundConnection === 1, 20_000, 'the counts on /status');
  await env.sample();
});

after(async () => {
  await env?.stop();
});

test('server counters match the traffic: messages, bytes, RCPT, connections, logins, APPEND', async () => {
  const r = await env.query();
  assert.equal(r.scope, 'server');
  assert.ok(r.samples >= 1);
  assert.equal(total(r, 'SMTP_InboundMessage'), 3);
  assert.equal(total(r, 'SMTP_InboundMessageBytes'), sizes.reduce((a, b) => a + b, 0));
  assert.equal(total(r, 'SMTP_InboundMessageTOcommandsAccepted'), 4);
  assert.equal(total(r, 'SMTP_InboundMessageTOcommandsRejected'), 1);
  assert.equal(total(r, 'SMTP_InboundConnection'), 1);
  assert.equal(total(r, 'POP3_InboundConnection'), 3);
  assert.equal(total(r, 'POP3_LoginSuccess'), 2);
  assert.equal(total(r, 'POP3_LoginFailed'), 1);
  assert.equal(total(r, 'IMAP_InboundConnection'), 2);
  assert.equal(total(r, 'IMAP_LoginSuccess'), 1);
  assert.equal(total(r, 'IMAP_LoginFailed'), 1);
  assert.equal(total(r, 'IMAP_AppendRequests'), 2);
  const q = r.series.find((s) => s.counter === 'QUEUE_Size')!;
  assert.equal(q.kind, 'gauge');
  assert.ok(q.points.some(([, v]) => v !== null), 'QUEUE_Size sampled');
});

test('per domain and per account (DomainEnable, DomainObjectEnable)', async () => {
  const [s0, s1, s2] = sizes as [number, number, number];
  const d = await env.query({ scope: 'domain:example.org' });
  assert.equal(total(d, 'SMTP_InboundMessage'), 3);
  assert.equal(total(d, 'SMTP_InboundMessageBytes'), s0 + s1 + s2);
  assert.equal(total(d, 'POP3_LoginSuccess'), 2);
  assert.equal(total(d, 'POP3_LoginFailed'), 0, 'failures are not counted per account: their names are anyone\'s');
  const o = await env.query({ scope: 'domain:other.test', counter: 'SMTP_InboundMessageBytes' });
  assert.equal(o.series.length, 1);
  assert.equal(total(o, 'SMTP_InboundMessageBytes'), s1);
  const a = await env.query({ scope: 'account:a@example.org' });
  assert.equal(total(a, 'SMTP_InboundMessage'), 2);
  assert.equal(total(a, 'SMTP_InboundMessageBytes'), s0 + s1);
  assert.equal(total(a, 'POP3_LoginSuccess'), 2);
  const b = await env.query({ scope: 'account:B@example.org' });
  assert.equal(total(b, 'IMAP_AppendRequests'), 2);
  assert.equal(total(b, 'IMAP_LoginSuccess'), 1);
  assert.deepEqual(a.scopes.domains, ['example.org', 'other.test']);
  assert.deepEqual(a.scopes.accounts, ['a@example.org', 'b@example.org', 'c@other.test']);
});

test('report.query: one counter, steps, bad arguments', async () => {
  const now = Date.now();
  const r = await env.query({ counter: 'SMTP_InboundMessage', from: now - 3_600_000, to: now + 60_000, step: 300 });
  assert.deepEqual(r.series.map((s) => s.counter), ['SMTP_InboundMessage']);
  assert.equal(r.stepSec, 300);
  assert.equal(r.series[0]!.points.length, Math.ceil((3_660_000) / 300_000));
  assert.equal(total(r, 'SMTP_InboundMessage'), 3);
  // more than 10,000 points: the step is raised
  const wide = await env.query({ counter: 'QUEUE_Size', from: now - 30 * 86_400_000, to: now, step: 1 });
  assert.ok(wide.series[0]!.points.length <= 10_000);
  await assert.rejects(env.query({ counter: 'NoSuchCounter' }), (e: any) => e.code === 'CONTROL_BAD_REQUEST');
  await assert.rejects(env.query({ scope: 'planet:mars' }), (e: any) => e.code === 'CONTROL_BAD_REQUEST');
  await assert.rejects(env.query({ from: 10, to: 5 }), (e: any) => e.code === 'CONTROL_BAD_REQUEST');
});

test('postern ctl report query / report sample', async () => {
  const out: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(`ERR ${l}`) };
  assert.equal(await runCtl(['--data-dir', env.dir, '--json', 'report', 'query', 'counter=POP3_LoginSuccess', 'scope=account:a@example.org', 'step=3600'], io), 0, out.join('\n'));
  const r = JSON.parse(out.pop()!).result;
  assert.equal(r.stepSec, 3600);
  assert.equal(r.series[0].counter, 'POP3_LoginSuccess');
  assert.equal(r.series[0].points.reduce((a: number, [, v]: [number, number | null]) => a + (v ?? 0), 0), 2);
  assert.equal(await runCtl(['--data-dir', env.dir, '--json', 'report', 'sample'], io), 0, out.join('\n'));
  assert.equal(typeof JSON.parse(out.pop()!).result.t, 'number');
  assert.equal(await runCtl(['--data-dir', env.dir, 'report', 'query', 'step=abc'], io), 2);
  // the human rendering: a header, each series' total, and with one counter its steps
  out.length = 0;
  assert.equal(await runCtl(['--data-dir', env.dir, 'report', 'query', 'counter=SMTP_InboundMessage'], io), 0, out.join('\n'));
  assert.match(out[0]!, /^scope server, .* step 60 s, \d+ samples$/);
  assert.match(out[1]!, /^SMTP_InboundMessage\s+3$/);
  assert.match(out[2]!, /^ {2}\d{4}-\d\d-\d\dT.* {2}3$/);
});

test('/metrics exports the counters under the same names', async () => {
  const text = await (await fetch(`http://127.0.0.1:${env.server.statusPort}/metrics`)).text();
  assert.match(text, /^# TYPE SMTP_InboundMessage counter$/m);
  assert.match(text, /^SMTP_InboundMessage 3$/m);
  assert.match(text, new RegExp(`^SMTP_InboundMessageBytes ${sizes.reduce((a, b) => a + b, 0)}$`, 'm'));
  assert.match(text, /^POP3_LoginSuccess 2$/m);
  assert.match(text, /^POP3_LoginFailed 1$/m);
  assert.match(text, /^IMAP_AppendRequests 2$/m);
  assert.match(text, /^SMTP_OutboundMessage 0$/m);
  assert.match(text, /^# TYPE QUEUE_Size gauge$/m);
  assert.match(text, /^QUEUE_Size \d+$/m);
});
