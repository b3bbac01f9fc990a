/**
 * test/report/datagram.test.ts: the Report service's UDP listener. A second Postern (a cluster
 * front end, `reportHost` set to the first's Report listener) sends its samples there, and they
 * are sampled under its node's scope; garbage datagrams are ignored and counted; a deny rule
 * refuses a sender's datagrams per datagram (counted on the listener); past `maxNodes` a new
 * node's datagrams are dropped and counted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { waitFor } from '../helpers.ts';
import { python, startReport, total, type ReportEnv } from './helpers.ts';

let a: ReportEnv;

function sendUdp(port: number, data: Buffer | string, from = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.bind({ address: from, port: 0 }, () => {
      s.send(data, port, '127.0.0.1', (err) => {
        s.close();
        if (err) reject(err);
        else resolve();
      });
    });
  });
}

const listener = (env: ReportEnv) => env.server.status().services.find((s) => s.name === 'report')!.listeners[0]!;

before(async () => {
  a = await startReport({
    services: 'smtpIncoming processing report',
    report: 'maxNodes = 2 denyRules = ( { ipSet = 127.0.0.9 } )',
  });
});

after(async () => {
  await a?.stop();
});

test('a second Postern with reportHost reports to this Report service (scope node:<hostname>)', async () => {
  const b = await startReport({
    services: 'smtpIncoming processing report',
    server: 'hostname = "fe2.test"',
    report: `reportHost = 127.0.0.1:${a.report}`,
  });
  try {
    await b.server.admin('account.add', { address: 'u@example.org', password: 'pw-123456' });
    await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${b.smtp}, local_hostname='client.test')
s.sendmail('s@example.net', ['u@example.org'], 'Subject: x\\r\\n\\r\\nbody\\r\\n')
s.sendmail('s@example.net', ['u@example.org'], 'Subject: y\\r\\n\\r\\nbody\\r\\n')
s.quit()
`);
    await waitFor(() => b.counters('smtpIncoming').SMTP_InboundMessage === 2, 20_000, 'two messages counted on b');
    await b.sample(); // sent to a as a datagram
    await waitFor(() => a.counters('report')['node/fe2.test/SMTP_InboundMessage'] === 2, 20_000, 'b\'s datagram counted on a');
    await a.sample();
    const r = await a.query({ scope: 'node:fe2.test' });
    assert.equal(total(r, 'SMTP_InboundMessage'), 2);
    assert.equal(total(r, 'SMTP_InboundConnection'), 1);
    assert.deepEqual(r.scopes.nodes, ['fe2.test']);
    assert.equal(total(await a.query({ scope: 'server' }), 'SMTP_InboundMessage'), 0, 'a\'s own counters are its own');
    assert.equal(total(await a.query({ scope: 'cluster' }), 'SMTP_InboundMessage'), 2);
  } finally {
    await b.stop();
  }
});

test('garbage datagrams are ignored and counted; a denied sender\'s are refused per datagram', async () => {
  const garbage = [
    'not json',
    '[1,2,3]',
    JSON.stringify({ v: 2, node: 'x', t: 1, c: {} }),
    JSON.stringify({ v: 1, node: '-bad name', t: 1, c: {} }),
    JSON.stringify({ v: 1, node: 'ok.test', t: 1, c: { SMTP_InboundMessage: -1 } }),
    JSON.stringify({ v: 1, node: 'ok.test', t: 1, c: { SMTP_InboundMessage: 'many' } }),
    Buffer.alloc(9000, 0x7b),
    Buffer.from([0xff, 0xfe, 0x00]),
  ];
  const before = a.counters('report')['report.garbage'] ?? 0;
  for (const g of garbage) await sendUdp(a.report, g);
  await waitFor(() => (a.counters('report')['report.garbage'] ?? 0) - before === garbage.length, 20_000, 'garbage counted');
  // the service carries on: a good datagram after the garbage is counted
  await sendUdp(a.report, JSON.stringify({ v: 1, node: 'fe1.test', t: Date.now(), c: { POP3_LoginSuccess: 7, NotACounter: 3 } }));
  await waitFor(() => a.counters('report')['node/fe1.test/POP3_LoginSuccess'] === 7, 20_000, 'the good datagram counted');
  assert.equal(a.counters('report')['node/fe1.test/NotACounter'], undefined);
  // denied: 127.0.0.9
  const refused = listener(a).refused.deny_rule ?? 0;
  await sendUdp(a.report, JSON.stringify({ v: 1, node: 'denied.test', t: Date.now(), c: { POP3_LoginSuccess: 1 } }), '127.0.0.9');
  await waitFor(() => (listener(a).refused.deny_rule ?? 0) === refused + 1, 20_000, 'the denied datagram counted on the listener');
  assert.equal(a.counters('report')['node/denied.test/POP3_LoginSuccess'], undefined);
});

test('past maxNodes distinct nodes, a new node\'s datagrams are dropped and counted', async () => {
  // fe2.test and fe1.test came before (maxNodes = 2)
  await sendUdp(a.report, JSON.stringify({ v: 1, node: 'fe3.test', t: Date.now(), c: { POP3_LoginSuccess: 1 } }));
  await waitFor(() => a.counters('report')['report.nodes_over_limit'] === 1, 20_000, 'the third node refused');
  assert.equal(a.counters('report')['node/fe3.test/POP3_LoginSuccess'], undefined);
  await sendUdp(a.report, JSON.stringify({ v: 1, node: 'fe1.test', t: Date.now(), c: { POP3_LoginSuccess: 1 } }));
  await waitFor(() => a.counters('report')['node/fe1.test/POP3_LoginSuccess'] === 8, 20_000, 'a known node still counted');
});
