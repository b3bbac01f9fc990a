/**
 * test/store/directory.test.ts: domains, accounts, aliases, the primary domain, quotas,
 * services, authentication (caller-supplied verify), CRAM-MD5 pads (on by default), postmaster
 * accounts (RFC 5321 §4.5.1), persistence, and the
 * ctl verbs of storeAdmin, each error code by its kind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { isPosternError } from '../../src/errors.ts';
import { storeAdmin } from '../../src/store/admin.ts';
import { cramMd5Digest } from '../../src/store/cram.ts';
import { TASKS } from '../../workers/pool.ts';
import { fakeVerify, openStore, tmpData } from './helpers.ts';

const code = (c: string) => (e: unknown) => isPosternError(e) && e.code === c;

test('domains: add, list, primary, remove; errors', async () => {
  const { store } = await openStore(tmpData());
  const d = store.directory;
  await d.addDomain('Example.org');
  await d.addDomain('other.net');
  assert.equal(d.primaryDomain, 'example.org'); // the first one
  await d.setDomain('other.net', { primary: true });
  assert.equal(d.primaryDomain, 'other.net');
  assert.deepEqual(d.listDomains().map((x) => [x.name, x.primary]), [['example.org', false], ['other.net', true]]);
  await assert.rejects(d.addDomain('EXAMPLE.org'), code('STORE_DOMAIN_EXISTS'));
  await assert.rejects(d.addDomain('bad domain'), code('STORE_BAD_NAME'));
  await assert.rejects(d.removeDomain('nope.org'), code('STORE_NO_SUCH_DOMAIN'));
  await d.addAccount('ann@example.org', { password: 'pw' });
  await assert.rejects(d.removeDomain('example.org'), code('STORE_DOMAIN_NOT_EMPTY'));
  await d.removeDomain('other.net');
  assert.equal(d.primaryDomain, 'example.org');
  await store.close();
});

test('accounts: add, resolve (bare local part, alias), list, passwd, remove; errors', async () => {
  const dataDir = tmpData();
  const { store } = await openStore(dataDir);
  const d = store.directory;
  await d.addDomain('example.org');
  const ann = await d.addAccount('Ann@Example.org', { password: 'pw1', quotaBytes: 1000, quotaMessages: 10, services: ['pop3', 'imap'] });
  assert.equal(ann.address, 'ann@example.org');
  assert.equal(d.resolve('ann').address, 'ann@example.org'); // bare local part → primary domain
  assert.equal(d.resolve('ANN@example.org').id, ann.id);
  await d.addAlias('sales@example.org', 'ann');
  assert.equal(d.resolve('sales@example.org').address, 'ann@example.org');
  await assert.rejects(d.addAccount('ann@example.org', { password: 'x' }), code('STORE_ACCOUNT_EXISTS'));
  await assert.rejects(d.addAccount('sales@example.org', { password: 'x' }), code('STORE_ACCOUNT_EXISTS'));
  await assert.rejects(d.addAccount('bob@nowhere.org', { password: 'x' }), code('STORE_NO_SUCH_DOMAIN'));
  await assert.rejects(d.addAccount('bob@example.org', { password: '' }), code('STORE_BAD_ARGUMENT'));
  await assert.rejects(d.addAccount('bob@example.org', { password: 'x', quotaBytes: -1 }), code('STORE_BAD_ARGUMENT'));
  await assert.rejects(d.addAccount('b b@example.org', { password: 'x' }), code('STORE_BAD_NAME'));
  assert.throws(() => d.resolve('nobody@example.org'), code('STORE_NO_SUCH_ACCOUNT'));
  assert.throws(() => d.resolve('ann@nowhere.org'), code('STORE_NO_SUCH_DOMAIN'));
  await assert.rejects(d.setPassword('nobody@example.org', 'x'), code('STORE_NO_SUCH_ACCOUNT'));
  await d.setPassword('ann', 'pw2');
  await d.updateAccount('ann', { enabled: false, quotaBytes: Infinity });
  await store.close();

  // persisted
  const { store: s2 } = await openStore(dataDir);
  const a2 = s2.directory.resolve('sales@example.org');
  assert.equal(a2.enabled, false);
  assert.equal(a2.quotaBytes, Infinity);
  assert.equal(a2.quotaMessages, 10);
  assert.deepEqual(a2.services, ['pop3', 'imap']);
  assert.deepEqual(s2.directory.listAliases(), [{ alias: 'sales@example.org', target: 'ann@example.org' }]);
  await s2.directory.removeAccount('ann');
  assert.deepEqual(s2.directory.listAliases(), [], 'aliases of a removed account go too');
  await s2.close();
});

test('authentication: caller-supplied verify, reasons, disabled, services', async () => {
  const { store } = await openStore(tmpData());
  const d = store.directory;
  await d.addDomain('example.org');
  await d.addAccount('ann@example.org', { password: 'right', services: ['imap'] });
  let verifies = 0;
  const verify = async (h: string, p: string): Promise<boolean> => (verifies++, fakeVerify(h, p));
  assert.equal((await d.authenticate('ann', 'right', 'imap', verify)).address, 'ann@example.org');
  const reason = (r: string) => (e: unknown) => isPosternError(e, 'STORE_AUTH_FAILED') && e.details?.reason === r;
  await assert.rejects(d.authenticate('ann', 'wrong', 'imap', verify), reason('password'));
  await assert.rejects(d.authenticate('ann', 'right', 'pop3', verify), reason('service'));
  const before = verifies;
  await assert.rejects(d.authenticate('nobody', 'right', 'imap', verify), reason('unknown'));
  assert.equal(verifies, before + 1, 'an unknown login still runs one verify (same cost)');
  await d.updateAccount('ann', { enabled: false });
  await assert.rejects(d.authenticate('ann', 'right', 'imap', verify), reason('disabled'));
  await d.updateAccount('ann', { enabled: true });
  await d.setDomain('example.org', { enabled: false });
  await assert.rejects(d.authenticate('ann', 'right', 'imap', verify), reason('domain'));
  await store.close();
});

test('passwords hashed with the scrypt format of workers/pool.ts by default', async () => {
  const dataDir = tmpData();
  const { store } = await openStore(dataDir, { hashPassword: undefined as never });
  await store.directory.addDomain('example.org');
  await store.directory.addAccount('ann@example.org', { password: 'hunter2' });
  const info = store.directory.authInfo('ann', 'pop3');
  assert.match(info.passwordHash, /^scrypt\$16384\$8\$1\$/);
  const verify = (hash: string, password: string) => (TASKS.verifyPassword as (p: object) => Promise<boolean>)({ hash, password });
  assert.equal((await store.directory.authenticate('ann', 'hunter2', 'pop3', verify)).address, 'ann@example.org');
  await assert.rejects(store.directory.authenticate('ann', 'hunter3', 'pop3', verify), code('STORE_AUTH_FAILED'));
  await store.close();
});

test('CRAM-MD5 pads only for accounts with it on (the default); kept across passwd, which keys it', async () => {
  const { store } = await openStore(tmpData());
  const d = store.directory;
  await d.addDomain('example.org');
  await d.addAccount('ann@example.org', { password: 'pw', cramMd5: true });
  await d.addAccount('bob@example.org', { password: 'pw', cramMd5: false });
  await d.addAccount('cat@example.org', { password: 'cat-pw' });
  assert.equal(d.authInfo('bob', 'imap').cramMd5Pads, null);
  assert.equal(d.resolve('cat').cramMd5, true, 'on by default');
  assert.equal(cramMd5Digest(d.authInfo('cat', 'imap').cramMd5Pads!, '<2@x>'), createHmac('md5', 'cat-pw').update('<2@x>').digest('hex'));
  const pads = d.authInfo('ann', 'imap').cramMd5Pads!;
  assert.equal(cramMd5Digest(pads, '<1@x>'), createHmac('md5', 'pw').update('<1@x>').digest('hex'));
  await d.setPassword('ann', 'new');
  assert.equal(cramMd5Digest(d.authInfo('ann', 'imap').cramMd5Pads!, 'c'), createHmac('md5', 'new').update('c').digest('hex'));
  await assert.rejects(d.setCramMd5('bob', true), code('STORE_BAD_ARGUMENT'));
  await d.setCramMd5('bob', true, 'pw');
  assert.notEqual(d.authInfo('bob', 'imap').cramMd5Pads, null);
  await d.setCramMd5('ann', false);
  assert.equal(d.authInfo('ann', 'imap').cramMd5Pads, null);
  await d.setPassword('ann', 'again'); // an account without a key (an old one) gets one with its next password
  assert.equal(cramMd5Digest(d.authInfo('ann', 'imap').cramMd5Pads!, 'c'), createHmac('md5', 'again').update('c').digest('hex'));
  assert.equal(d.resolve('ann').cramMd5, true);
  await store.close();
});

test('a damaged directory file is STORE_CORRUPT, not an empty directory', async () => {
  const dataDir = tmpData();
  const { store } = await openStore(dataDir);
  await store.directory.addDomain('example.org');
  await store.close();
  const fs = await import('node:fs');
  const file = `${dataDir}/store/directory.mpk`;
  const b = fs.readFileSync(file);
  b[b.length - 1] ^= 0xff;
  fs.writeFileSync(file, b);
  await assert.rejects(openStore(dataDir), code('STORE_CORRUPT'));
});

test('storeAdmin: the ctl verbs', async () => {
  const { store } = await openStore(tmpData());
  assert.deepEqual(await storeAdmin(store, 'domain.add', { name: 'example.org', postmasterPassword: 'pm-pw' }), { name: 'example.org', enabled: true, primary: true, accounts: 1, postmaster: 'postmaster@example.org' });
  const added = (await storeAdmin(store, 'account.add', { address: 'ann@example.org', password: 'pw' })) as Record<string, unknown>;
  assert.equal(added.address, 'ann@example.org');
  assert.equal(added.quotaBytes, null); // unlimited
  await store.mailbox('ann').append('INBOX', Buffer.from('hi\r\n'));
  const list = (await storeAdmin(store, 'account.list', {})) as Array<Record<string, unknown>>;
  assert.deepEqual(list.map((a) => [a.address, a.messages, a.bytes, a.cramMd5]), [['ann@example.org', 1, 4, true], ['postmaster@example.org', 0, 0, true]]);
  assert.equal(((await storeAdmin(store, 'account.list', { domain: 'example.org' })) as unknown[]).length, 2);
  assert.deepEqual(await storeAdmin(store, 'account.passwd', { address: 'ann', password: 'pw2' }), { address: 'ann@example.org' });
  assert.equal(((await storeAdmin(store, 'domain.list')) as unknown[]).length, 1);
  await assert.rejects(storeAdmin(store, 'domain.remove', { name: 'example.org' }), code('STORE_DOMAIN_NOT_EMPTY'));
  assert.deepEqual(await storeAdmin(store, 'account.remove', { address: 'ann@example.org' }), { address: 'ann@example.org' });
  await assert.rejects(storeAdmin(store, 'account.remove', { address: 'ann@example.org' }), code('STORE_NO_SUCH_ACCOUNT'));
  assert.deepEqual(await storeAdmin(store, 'domain.remove', { name: 'example.org' }), { name: 'example.org' });
  assert.deepEqual(await storeAdmin(store, 'account.list', {}), [], 'the postmaster went with its domain');
  const c = (await storeAdmin(store, 'store.compact')) as Record<string, number>;
  assert.equal(typeof c.bytesFreed, 'number');
  await assert.rejects(storeAdmin(store, 'account.add', { address: 'x@y.org' }), code('CONTROL_BAD_REQUEST'));
  await assert.rejects(storeAdmin(store, 'nope', {}), code('CONTROL_BAD_REQUEST'));
  await store.close();
});

test('postmaster (RFC 5321 §4.5.1): domain.add creates it (given or random password, returned once); every local domain resolves it', async () => {
  const { store } = await openStore(tmpData());
  const d = store.directory;
  const a = (await storeAdmin(store, 'domain.add', { name: 'example.org', postmasterPassword: 'pm-pw' })) as Record<string, unknown>;
  assert.equal(a.postmasterPassword, undefined, 'a given password is not echoed');
  const b = (await storeAdmin(store, 'domain.add', { name: 'other.org' })) as Record<string, unknown>;
  assert.equal(b.postmaster, 'postmaster@other.org');
  assert.match(String(b.postmasterPassword), /^[A-Za-z0-9_-]{16}$/);
  assert.equal((await d.authenticate('postmaster@other.org', String(b.postmasterPassword), 'pop3', fakeVerify)).address, 'postmaster@other.org');
  assert.equal((await d.authenticate('postmaster@example.org', 'pm-pw', 'pop3', fakeVerify)).address, 'postmaster@example.org');
  await assert.rejects(storeAdmin(store, 'domain.add', { name: 'other.org', postmasterPassword: 'x' }), code('STORE_DOMAIN_EXISTS'));
  assert.equal(d.resolve('postmaster').address, 'postmaster@example.org', 'no domain: the primary domain\'s');
  assert.equal(d.resolve('PostMaster@Other.ORG').address, 'postmaster@other.org');
  // a domain made without one (before this, or by a restore) sends it to the primary's
  await d.addDomain('legacy.org');
  assert.equal(d.resolve('postmaster@legacy.org').address, 'postmaster@example.org');
  await assert.rejects(async () => d.resolve('nobody@legacy.org'), code('STORE_NO_SUCH_ACCOUNT'));
  await assert.rejects(async () => d.resolve('postmaster@elsewhere.net'), code('STORE_NO_SUCH_DOMAIN'));
  assert.throws(() => d.authInfo('postmaster@legacy.org', 'pop3'), code('STORE_AUTH_FAILED'), 'only delivery falls back, never a login');
  assert.equal(await d.ensurePostmaster('legacy.org'), true);
  assert.equal(await d.ensurePostmaster('legacy.org'), false);
  assert.equal(d.resolve('postmaster@legacy.org').address, 'postmaster@legacy.org');
  await store.close();
});

test('postmaster: the store creates the configured primary domain\'s at open, once, and says so', async () => {
  const dataDir = tmpData();
  const first = await openStore(dataDir, { primaryDomain: 'Example.org' });
  assert.equal(first.store.directory.resolve('postmaster').address, 'postmaster@example.org');
  assert.ok(first.log.records.some((r) => r.level === 'info' && r.o.account === 'postmaster@example.org'));
  await first.store.close();
  const again = await openStore(dataDir, { primaryDomain: 'example.org' });
  assert.ok(!again.log.records.some((r) => r.o.account === 'postmaster@example.org'), 'created once');
  assert.equal(again.store.directory.listAccounts().length, 1);
  await again.store.close();
});
