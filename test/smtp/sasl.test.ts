/**
 * test/smtp/sasl.test.ts: an AUTH response line over the SASL limit (12288 bytes, RFC 4954 §4)
 * ends the exchange as a failed authentication (500 5.5.6, counted against maxAuthErrors): the
 * next line is a command again, and the usual line limit is back.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, rawSmtp, startSmtpServer, type TestServer } from './helpers.ts';

let t: TestServer;
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const HUGE = 'A'.repeat(20 * 1024);

before(async () => {
  t = await startSmtpServer({ smtp: 'maxAuthErrors = 2' });
  await t.server.admin('account.add', { address: 'ann@example.org', password: 'ann-pw' });
});
after(async () => {
  await t.stop().catch(() => {});
  cleanup(t.dir);
});

test('AUTH PLAIN, a 20 KB response, then NOOP: the exchange failed, NOOP is a command again', async () => {
  const c = await rawSmtp(t.port);
  assert.equal((await c.cmd('EHLO client.test')).code, 250);
  assert.equal((await c.cmd('AUTH PLAIN')).text, '334 ');
  const r = await c.cmd(HUGE);
  assert.match(r.text, /^500 5\.5\.6 /, r.text);
  assert.equal((await c.cmd('NOOP')).text, '250 2.0.0 Ok');
  // the command line limit is back (2048), and a later AUTH works
  assert.match((await c.cmd(`NOOP ${'x'.repeat(4000)}`)).text, /^500 /);
  assert.equal((await c.cmd(`AUTH PLAIN ${b64('\0ann@example.org\0ann-pw')}`)).code, 235);
  c.close();
});

test('an over-long response counts against maxAuthErrors (AUTH LOGIN, both steps)', async () => {
  const c = await rawSmtp(t.port);
  await c.cmd('EHLO client.test');
  assert.equal((await c.cmd('AUTH LOGIN')).code, 334);
  assert.match((await c.cmd(HUGE)).text, /^500 5\.5\.6 /);
  assert.equal((await c.cmd('NOOP')).code, 250);
  assert.equal((await c.cmd(`AUTH LOGIN ${b64('ann@example.org')}`)).code, 334);
  const last = await c.cmd(HUGE);
  assert.match(last.text, /^421 /, 'the second failed authentication closes the session');
  await c.closed;
});
