/**
 * test/auth/scram-keys.test.ts: the directory keeps SCRAM-SHA-256 keys for every password it
 * sets (account add, account passwd, a domain's postmaster), never shows them in an account's
 * public info, keeps them across a reopen, exports them in a backup, and a restore takes them
 * only if well-formed (else STORE_BAD_ARGUMENT, changing nothing); a backup without them leaves
 * the account without keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPosternError } from '../../src/errors.ts';
import { parseScramKeys, scramSha256Keys } from '../../src/store/scram.ts';
import { openStore, tmpData } from '../store/helpers.ts';

const badArgument = (e: unknown): boolean => isPosternError(e) && e.code === 'STORE_BAD_ARGUMENT';

test('keys for every password set; hidden from public info; kept across a reopen; a new password re-keys with a new salt', async () => {
  const dataDir = tmpData();
  let { store } = await openStore(dataDir);
  const d = store.directory;
  await d.addDomain('a.org', { postmasterPassword: 'pm-pw' });
  await d.addAccount('ann@a.org', { password: 'pw', cramMd5: false });
  const first = d.authInfo('ann@a.org', 'smtp').scramSha256;
  const k = parseScramKeys(first);
  assert.ok(k !== null && k.iterations === 4096 && k.salt.length === 16);
  assert.equal(first, await scramSha256Keys('pw', { salt: k.salt }), 'derived from the password');
  assert.ok(parseScramKeys(d.authInfo('postmaster@a.org', 'pop3').scramSha256) !== null, 'the postmaster too');
  assert.ok(!JSON.stringify(d.listAccounts('a.org')).includes('SCRAM'), 'not in public info');
  await store.close();
  ({ store } = await openStore(dataDir));
  assert.equal(store.directory.authInfo('ann@a.org', 'smtp').scramSha256, first, 'kept on disk');
  await store.directory.setPassword('ann@a.org', 'pw2');
  const second = parseScramKeys(store.directory.authInfo('ann@a.org', 'smtp').scramSha256)!;
  assert.ok(!second.salt.equals(k.salt));
  await store.close();
});

test('backups carry the keys; a restore refuses malformed keys (nothing changes) and takes none from an old backup', async () => {
  const { store } = await openStore(tmpData(), { hashPassword: undefined as never }); // real scrypt hashes: a restore checks them
  const d = store.directory;
  await d.addDomain('a.org');
  await d.addAccount('ann@a.org', { password: 'pw' });
  const before = d.exportAccount('ann@a.org');
  assert.equal(before.scramSha256, d.authInfo('ann@a.org', 'smtp').scramSha256);
  const good = before.scramSha256!;
  const bad = [
    'x', good.replace('$4096:', '$1000:'), good.slice(0, -4), good.replace('SCRAM-SHA-256$', 'SCRAM-SHA-1$'), `${good}:extra`, '',
  ];
  for (const scramSha256 of bad) {
    await assert.rejects(d.restoreAccount({ ...before, scramSha256 }), badArgument, scramSha256);
    await assert.rejects(d.restoreAccount({ ...before, address: 'new@a.org', aliases: [], scramSha256 }), badArgument, scramSha256);
  }
  assert.deepEqual(d.exportAccount('ann@a.org'), before);
  assert.deepEqual(d.listAccounts('a.org').map((a) => a.address), ['ann@a.org']);
  const other = await scramSha256Keys('other');
  await d.restoreAccount({ ...before, address: 'bob@a.org', aliases: [], scramSha256: other });
  assert.equal(d.authInfo('bob@a.org', 'smtp').scramSha256, other);
  const { scramSha256: _k, ...old } = before;
  await d.restoreAccount({ ...old, address: 'cy@a.org', aliases: [] });
  assert.equal(d.authInfo('cy@a.org', 'smtp').scramSha256, null, 'an old backup has no keys');
  await store.close();
});
