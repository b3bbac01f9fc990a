/**
 * test/ftp/bodies.test.ts: FTP RETR through the store's body reader (src/store/bodies.ts):
 * small messages fetched in UID order (served from the read-ahead window) come byte for byte,
 * a large one streams whole and resumes at a REST offset, one connection alternating between
 * two accounts' folders gets every body right, and a damaged body is never sent as a whole one
 * (a small one: 451 before any byte; a large one: the transfer fails).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectFtp, message, retrRaw, startFtp, type FtpEnv } from './helpers.ts';
import { damageBody } from '../store/helpers.ts';

let env: FtpEnv;
const dirOf = (user: string): string => `/domains/a.org/users/${user}/folders/INBOX`;


before(async () => {
  env = await startFtp();
  await env.server.admin('domain.add', { name: 'a.org' });
  await env.server.admin('account.add', { address: 'ann@a.org', password: 'ann-pw' });
  await env.server.admin('account.add', { address: 'bad@a.org', password: 'bad-pw' });
});
after(() => env.stop());

test('RETR: small bodies in UID order, a large one whole and from a REST offset', async () => {
  const texts = Array.from({ length: 30 }, (_, i) => message(`m${i}`, `${'x'.repeat(i * 97)}\r\n`));
  const uids: number[] = [];
  for (const t of texts) uids.push(await env.deliver('ann@a.org', 'INBOX', t));
  const big = message('big', `${'B'.repeat(998)}\r\n`.repeat(1500)); // 1.5 MB: streamed
  const bigUid = await env.deliver('ann@a.org', 'INBOX', big);
  const c = await connectFtp(env.port);
  await c.login();
  assert.match(await c.ftp('TYPE I'), /^200/);
  for (const [i, uid] of uids.entries()) {
    const got = await retrRaw(c, `${dirOf('ann')}/${uid}.eml`);
    assert.match(got.reply, /^226/);
    assert.equal(got.bytes.toString(), texts[i]);
  }
  const whole = await retrRaw(c, `${dirOf('ann')}/${bigUid}.eml`);
  assert.match(whole.reply, /^226/);
  assert.ok(whole.bytes.equals(Buffer.from(big)));
  const at = 777_777;
  assert.match(await c.ftp(`REST ${at}`), /^350/);
  const tail = await retrRaw(c, `${dirOf('ann')}/${bigUid}.eml`);
  assert.match(tail.reply, /^226/);
  assert.ok(tail.bytes.equals(Buffer.from(big).subarray(at)));
  assert.match(await c.ftp(`REST 100`), /^350/);
  const small = await retrRaw(c, `${dirOf('ann')}/${uids[5]}.eml`);
  assert.equal(small.bytes.toString(), texts[5]!.slice(100));
  c.close();
});

test('RETR: one connection alternating between two accounts\' folders gets every body right', async () => {
  // lftp's mirror -P moves one connection between directories: each segment file keeps its own
  // reader and window (ftp/bodies.ts SessionBodies), and a body read through one window is
  // never taken from the other
  await env.server.admin('account.add', { address: 'cy@a.org', password: 'cy-pw' });
  await env.server.admin('account.add', { address: 'dee@a.org', password: 'dee-pw' });
  const mk = (who: string, i: number): string => message(`${who}${i}`, `${who}-${i}-${'y'.repeat(i * 131)}\r\n`);
  const cy: number[] = [];
  const dee: number[] = [];
  for (let i = 0; i < 12; i++) {
    cy.push(await env.deliver('cy@a.org', 'INBOX', mk('cy', i)));
    dee.push(await env.deliver('dee@a.org', 'INBOX', mk('dee', i)));
  }
  const c = await connectFtp(env.port);
  await c.login();
  assert.match(await c.ftp('TYPE I'), /^200/);
  for (let i = 0; i < 12; i++) {
    const a = await retrRaw(c, `${dirOf('cy')}/${cy[i]}.eml`);
    assert.equal(a.bytes.toString(), mk('cy', i));
    const b = await retrRaw(c, `${dirOf('dee')}/${dee[i]}.eml`);
    assert.equal(b.bytes.toString(), mk('dee', i));
    assert.match(b.reply, /^226/);
  }
  c.close();
});

test('RETR: a damaged body is never sent as a whole one', async () => {
  const smallUid = await env.deliver('bad@a.org', 'INBOX', message('small', 'MARK-FTP-SMALL\r\n'));
  const big = message('big', `${'z'.repeat(998)}\r\n`.repeat(1200) + 'MARK-FTP-LARGE\r\n');
  const bigUid = await env.deliver('bad@a.org', 'INBOX', big);
  damageBody(env.dir, 'MARK-FTP-SMALL');
  damageBody(env.dir, 'MARK-FTP-LARGE');
  const c = await connectFtp(env.port);
  await c.login();
  assert.match(await c.ftp('TYPE I'), /^200/);
  const s = await retrRaw(c, `${dirOf('bad')}/${smallUid}.eml`);
  assert.match(s.reply, /^451 /);
  assert.equal(s.bytes.length, 0);
  const l = await retrRaw(c, `${dirOf('bad')}/${bigUid}.eml`);
  assert.match(l.reply, /^4(51|26) /);
  assert.ok(l.bytes.length < Buffer.byteLength(big), `${l.bytes.length} of ${Buffer.byteLength(big)} bytes`);
  assert.match(await c.ftp('NOOP'), /^200/);
  c.close();
});
