/**
 * test/pop3/sasl.test.ts: a SASL response line over maxLineLength ends the AUTH exchange as a
 * failed authentication (-ERR [AUTH], counted against maxAuthErrors): the next line is a
 * command again.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pop3, startPop3, type Pop3Env } from './helpers.ts';

let env: Pop3Env;
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const HUGE = 'A'.repeat(20 * 1024);

before(async () => {
  env = await startPop3({ pop3: 'maxAuthErrors = 2' });
  await env.addUser('ann@example.org', 'ann-pw');
});
after(async () => env?.stop());

test('AUTH PLAIN, a 20 KB response, then CAPA: the exchange failed, CAPA is a command again', async () => {
  const c = await pop3(env.port);
  assert.equal(await c.cmd('AUTH PLAIN'), '+ ');
  assert.match(await c.cmd(HUGE), /^-ERR \[AUTH\] /);
  assert.equal(await c.cmd('CAPA'), '+OK capability list follows');
  assert.ok((await c.readMulti()).includes('USER'));
  assert.match(await c.cmd(`AUTH PLAIN ${b64('\0ann@example.org\0ann-pw')}`), /^\+OK logged in/);
  c.close();
});

test('an over-long response counts against maxAuthErrors (AUTH LOGIN, CRAM-MD5)', async () => {
  const c = await pop3(env.port);
  assert.equal(await c.cmd('AUTH LOGIN'), '+ VXNlcm5hbWU6');
  assert.equal(await c.cmd(b64('ann@example.org')), '+ UGFzc3dvcmQ6');
  assert.match(await c.cmd(HUGE), /^-ERR \[AUTH\] /);
  assert.equal(await c.cmd('CAPA'), '+OK capability list follows');
  await c.readMulti();
  assert.match(await c.cmd('AUTH CRAM-MD5'), /^\+ /);
  assert.match(await c.cmd(HUGE), /^-ERR /, 'the second failed authentication closes the session');
  await c.closed;
});
