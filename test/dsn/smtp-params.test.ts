/**
 * test/dsn/smtp-params.test.ts: smtpIncoming's DSN extension (RFC 3461) over real sockets:
 * EHLO advertises DSN (seen by Python smtplib and by swaks); Python smtplib's `sendmail` with
 * RET/ENVID and NOTIFY/ORCPT, kept with the queued message (seen with `queue.show` on a relayed
 * message, which waits in the queue); bad parameters refused with 501 5.5.4 naming the
 * parameter, including ENVID over 100 and ORCPT over 500 characters.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, python, queueList, rawSmtp, run, startSmtpServer, type TestServer } from '../smtp/helpers.ts';

let t: TestServer;

before(async () => {
  t = await startSmtpServer({ smtp: 'relayNetworks = ( 127.0.0.1/32 )' });
  await t.server.admin('account.add', { address: 'alice@example.org', password: 'pw' });
});
after(async () => {
  await t.stop().catch(() => {});
  cleanup(t.dir);
});

test('EHLO advertises DSN (smtplib, swaks)', async () => {
  const r = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${t.port}, timeout=10)
s.ehlo('client.test')
print(s.has_extn('dsn'))
s.quit()`);
  assert.equal(r.stdout.trim(), 'True', r.stderr);
  const sw = await run('swaks', ['--server', `127.0.0.1:${t.port}`, '--ehlo', 'client.test', '--quit-after', 'EHLO', '--to', 'alice@example.org']);
  assert.equal(sw.code, 0, sw.stderr + sw.stdout);
  assert.match(sw.stdout, /<- {2}250[- ]DSN\r?$/m);
});

test('smtplib sendmail with RET, ENVID, NOTIFY, ORCPT: accepted and kept with the queued message', async () => {
  const r = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${t.port}, timeout=10)
s.ehlo('client.test')
refused = s.sendmail('alice@example.org', ['bob@remote.example'], b'Subject: dsn params\\r\\n\\r\\nhello\\r\\n',
  mail_options=['RET=HDRS', 'ENVID=QQ+2B42+3Dx'], rcpt_options=['NOTIFY=SUCCESS,DELAY', 'ORCPT=rfc822;Bob+2Bfilter@remote.example'])
print(refused)
s.quit()`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '{}');
  const entry = (await queueList(t.server)).find((q) => q.from === 'alice@example.org');
  assert.ok(entry !== undefined, 'the relayed message waits in the queue');
  const shown = (await t.server.admin('queue.show', { id: entry.id })) as { envelope: Record<string, unknown>; recipients: Array<Record<string, unknown>> };
  assert.deepEqual(shown.envelope.dsn, { ret: 'HDRS', envid: 'QQ+42=x' }, 'ENVID kept xtext-decoded');
  assert.deepEqual(shown.recipients[0]!.dsn, { notify: ['SUCCESS', 'DELAY'], orcpt: 'rfc822;Bob+2Bfilter@remote.example' }, 'ORCPT kept as given');
  await t.server.admin('queue.delete', { id: entry.id });
});

test('a message without DSN parameters carries no dsn fields', async () => {
  const c = await rawSmtp(t.port);
  for (const l of ['EHLO client.test', 'MAIL FROM:<alice@example.org>', 'RCPT TO:<carol@remote.example>', 'DATA']) await c.cmd(l);
  const r = await c.cmd('Subject: plain\r\n\r\nx\r\n.');
  assert.equal(r.code, 250);
  c.close();
  const entry = (await queueList(t.server)).find((q) => q.from === 'alice@example.org')!;
  const shown = (await t.server.admin('queue.show', { id: entry.id })) as { envelope: Record<string, unknown>; recipients: Array<Record<string, unknown>> };
  assert.equal(shown.envelope.dsn, undefined);
  assert.equal(shown.recipients[0]!.dsn, undefined);
  await t.server.admin('queue.delete', { id: entry.id });
});

test('bad DSN parameters: 501 5.5.4 naming the parameter; the transaction goes on', async () => {
  const session = async (mailParams: string | null) => {
    const c = await rawSmtp(t.port);
    assert.equal((await c.cmd('EHLO client.test')).code, 250);
    if (mailParams !== null) assert.equal((await c.cmd(`MAIL FROM:<alice@example.org>${mailParams}`)).code, 250);
    return c;
  };
  const badMail: Array<[string, RegExp]> = [
    ['RET=BODY', /RET/],
    ['RET', /RET/],
    ['ENVID=a+zz', /ENVID/],
    [`ENVID=${'e'.repeat(101)}`, /ENVID longer than 100/],
    ['ENVID=a+0Ab', /ENVID/],
  ];
  for (const [param, named] of badMail) {
    const c = await session(null);
    const r = await c.cmd(`MAIL FROM:<alice@example.org> ${param}`);
    assert.equal(r.code, 501, `${param}: ${r.text}`);
    assert.match(r.text, /^501 5\.5\.4 /);
    assert.match(r.text, named);
    assert.equal((await c.cmd(`MAIL FROM:<alice@example.org> RET=FULL ENVID=${'e'.repeat(100)}`)).code, 250, 'ENVID of 100 characters is fine');
    c.close();
  }
  const badRcpt: Array<[string, RegExp]> = [
    ['NOTIFY=NEVER,FAILURE', /NOTIFY/],
    ['NOTIFY=SOMETIMES', /NOTIFY/],
    ['NOTIFY=FAILURE,FAILURE', /NOTIFY/],
    ['NOTIFY', /NOTIFY/],
    ['ORCPT=alice@example.org', /ORCPT/],
    ['ORCPT=rfc822;', /ORCPT/],
    ['ORCPT=rfc822;a+b', /ORCPT/],
    [`ORCPT=rfc822;${'o'.repeat(490)}@example.org`, /ORCPT longer than 500/],
    ['NOTIFY=FAILURE NOTIFY=DELAY', /NOTIFY given twice/],
  ];
  for (const [param, named] of badRcpt) {
    const c = await session('');
    const r = await c.cmd(`RCPT TO:<alice@example.org> ${param}`);
    assert.equal(r.code, 501, `${param}: ${r.text}`);
    assert.match(r.text, /^501 5\.5\.4 /);
    assert.match(r.text, named);
    assert.equal((await c.cmd('RCPT TO:<alice@example.org> NOTIFY=never ORCPT=rfc822;alice@example.org')).code, 250, 'keywords in any case; the transaction goes on');
    c.close();
  }
  // without EHLO, no parameters at all
  const h = await rawSmtp(t.port);
  assert.equal((await h.cmd('HELO client.test')).code, 250);
  assert.equal((await h.cmd('MAIL FROM:<alice@example.org> RET=HDRS')).code, 555);
  h.close();
});
