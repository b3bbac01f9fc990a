/**
 * test/review/hash-params.test.ts: a restore accepts only password hashes that can be checked
 * (issue 11 item 6, review). `scrypt$65536$4$1$…` (128·N·r exactly 32 MiB, but OpenSSL also
 * counts 2 blocks of N and p of B) and `scrypt$65536$1$1$…` (N ≥ 2^(16·r), RFC 7914 §2) were
 * well-formed to the parser, yet node's scrypt refuses them: the restored account could never
 * log in, and each attempt was a temporary failure that the login throttle does not count.
 * Over real sockets: the FTP restore answers 553 and changes nothing; the account still logs in
 * on POP3 with its password, and the largest parameters accepted do verify.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { scrypt } from 'node:crypto';
import { connectFtp, retrRaw, startFtp, storRaw, type FtpEnv } from '../ftp/helpers.ts';
import { pop3 } from '../pop3/helpers.ts';
import { parseScryptHash } from '../../src/store/password-hash.ts';

let env: FtpEnv;
const CFG = '/domains/a.org/users/ann/CoreConfig.cfg';
before(async () => {
  env = await startFtp({ services: ['pop3'], blocks: 'pop3 = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 }' });
  await env.server.admin('domain.add', { name: 'a.org' });
  await env.server.admin('account.add', { address: 'ann@a.org', password: 'ann-pw' });
});
after(async () => env.stop());

const salt = Buffer.alloc(16, 5).toString('base64');
const key = Buffer.alloc(32, 6).toString('base64');
const UNCHECKABLE = [`scrypt$65536$4$1$${salt}$${key}`, `scrypt$32768$8$1$${salt}$${key}`, `scrypt$65536$1$1$${salt}$${key}`];

test('a CoreConfig.cfg with a hash node cannot check gets 553 and changes nothing', async () => {
  const c = await connectFtp(env.port);
  await c.login();
  const before = (await retrRaw(c, CFG)).bytes.toString();
  assert.match(before, /passwordHash = "scrypt\$/);
  for (const h of UNCHECKABLE) {
    const text = before.replace(/passwordHash = "[^"]*"/, `passwordHash = "${h}"`);
    assert.match(await storRaw(c, CFG, text), /^553 Not restored: passwordHash is not a well-formed hash/, h);
  }
  assert.equal((await retrRaw(c, CFG)).bytes.toString(), before);
  c.close();
  const p = await pop3(env.server.port('pop3'));
  assert.match(await p.login('ann@a.org', 'ann-pw'), /^\+OK/);
  p.close();
});

test('the largest parameters the parser accepts do verify', async () => {
  for (const [N, r, p] of [[65536, 2, 4], [32768, 4, 4], [16384, 8, 4]] as const) {
    const k = await new Promise<Buffer>((ok, fail) => scrypt('pw', Buffer.from(salt, 'base64'), 32, { N, r, p }, (e, b) => (e ? fail(e) : ok(b))));
    assert.notEqual(parseScryptHash(`scrypt$${N}$${r}$${p}$${salt}$${k.toString('base64')}`), null, `${N} ${r} ${p}`);
  }
});
