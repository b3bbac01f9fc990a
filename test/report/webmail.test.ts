/**
 * test/report/webmail.test.ts: the login counters of WebMail (curl logins: two good, one bad →
 * WEBMAIL_LoginSuccess 2, WEBMAIL_LoginFailed 1, WEBMAIL_Sessions 2, per account with
 * DomainObjectEnable) and SMTP AUTH (smtplib over the plain listener: one good, one bad →
 * SMTP_InboundConnectionAuthenticated 1, SMTP_InboundConnectionAuthenticationFailed 1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../helpers.ts';
import { browser } from '../webmail/read-helpers.ts';
import { python, startReport, total } from './helpers.ts';

test('WebMail logins and sessions, SMTP AUTH, counted and sampled per account', async () => {
  const env = await startReport({
    services: 'smtpIncoming processing webmail report',
    server: 'webmail = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 authFailureDelay = 0 }',
    report: 'DomainObjectEnable = yes',
  });
  try {
    await env.server.admin('account.add', { address: 'w@example.org', password: 'pw-123456' });
    const base = `http://127.0.0.1:${env.server.port('webmail')}`;
    const statuses: number[] = [];
    for (const pw of ['pw-123456', 'wrong', 'pw-123456']) statuses.push((await browser(base).login('w@example.org', pw)).status);
    assert.deepEqual(statuses, [303, 200, 303]);
    await python(`
import smtplib, base64
codes = []
for pw in ['pw-123456', 'wrong']:
    s = smtplib.SMTP('127.0.0.1', ${env.smtp}, local_hostname='client.test')
    s.ehlo()
    code, _ = s.docmd('AUTH', 'PLAIN ' + base64.b64encode(b'\\0w@example.org\\0' + pw.encode()).decode())
    codes.append(code)
    s.quit()
assert codes == [235, 535], codes
`);
    await waitFor(() => env.counters('webmail').WEBMAIL_LoginFailed === 1 && env.counters('webmail').WEBMAIL_Sessions === 2
      && env.counters('smtpIncoming').SMTP_InboundConnectionAuthenticationFailed === 1, 20_000, 'the logins counted');
    await env.sample();
    const r = await env.query();
    assert.equal(total(r, 'WEBMAIL_LoginSuccess'), 2);
    assert.equal(total(r, 'WEBMAIL_LoginFailed'), 1);
    assert.equal(total(r, 'WEBMAIL_Sessions'), 2);
    assert.ok(total(r, 'WEBMAIL_InboundConnection') >= 3);
    assert.equal(total(r, 'SMTP_InboundConnectionAuthenticated'), 1);
    assert.equal(total(r, 'SMTP_InboundConnectionAuthenticationFailed'), 1);
    assert.equal(total(r, 'SMTP_InboundConnection'), 2);
    const a = await env.query({ scope: 'account:w@example.org' });
    assert.equal(total(a, 'WEBMAIL_Sessions'), 2);
    assert.equal(total(a, 'WEBMAIL_LoginSuccess'), 2);
    assert.equal(total(a, 'SMTP_InboundConnectionAuthenticated'), 1);
  } finally {
    await env.stop();
  }
});
