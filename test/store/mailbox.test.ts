/**
 * test/store/mailbox.test.ts: every mailbox operation and its errors, and the UID, UIDVALIDITY,
 * UIDNEXT and modseq rules (RFC 9051, RFC 7162), across restarts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPosternError } from '../../src/errors.ts';
import { msg, openStore, withAccount } from './helpers.ts';
import { DEFAULT_FOLDERS } from '../../src/store/types.ts';

const code = (c: string) => (e: unknown) => isPosternError(e) && e.code === c;

test('append, list, fetch, status, quota', async () => {
  const { store } = await withAccount();
  const mb = store.mailbox('ann@example.org');
  const r = await mb.append('INBOX', msg(1), { flags: ['\\Seen', 'Work'], internalDate: 1_700_000_000_000 });
  assert.equal(r.uid, 1);
  assert.equal(r.folder, 'INBOX');
  await mb.append('inbox', msg(2));
  const list = await mb.list('INBOX');
  assert.deepEqual(list.map((m) => [m.uid, m.flags]), [[1, ['\\Seen', 'Work']], [2, []]]);
  assert.equal(list[0]!.internalDate, 1_700_000_000_000);
  const f = await mb.fetch('INBOX', 1);
  assert.deepEqual(Buffer.from(f.body), msg(1));
  assert.equal(f.meta.size, msg(1).length);
  const st = await mb.status('INBOX');
  assert.equal(st.messages, 2);
  assert.equal(st.unseen, 1);
  assert.equal(st.uidNext, 3);
  assert.equal(st.bytes, msg(1).length + msg(2).length);
  assert.deepEqual(await mb.quota(), { usedBytes: st.bytes, usedMessages: 2, limitBytes: Infinity, limitMessages: Infinity });
  assert.deepEqual((await mb.list('INBOX', { sinceUid: 2 })).map((m) => m.uid), [2]);
  assert.deepEqual((await mb.list('INBOX', { uids: [1] })).map((m) => m.uid), [1]);
  await assert.rejects(mb.fetch('INBOX', 99), code('STORE_NO_SUCH_MESSAGE'));
  await assert.rejects(mb.append('Nope', msg(3)), code('STORE_NO_SUCH_FOLDER'));
  await assert.rejects(mb.append('INBOX', msg(3), { flags: ['\\Recent'] }), code('STORE_BAD_NAME'));
  assert.throws(() => store.mailbox('nobody@example.org'), code('STORE_NO_SUCH_ACCOUNT'));
  assert.throws(() => store.mailbox('ann@elsewhere.org'), code('STORE_NO_SUCH_DOMAIN'));
  await store.close();
});

test('flags: add, remove, set, keywords, unchangedSince, modseq per change', async () => {
  const { store } = await withAccount();
  const mb = store.mailbox('ann');
  for (let i = 0; i < 3; i++) await mb.append('INBOX', msg(i));
  const h0 = (await mb.status('INBOX')).highestModseq;
  const a = await mb.setFlags('INBOX', [1, 2, 99], ['\\Flagged', '$Important'], 'add');
  assert.ok(a.modseq > h0);
  assert.deepEqual(a.changed.map((c) => [c.uid, c.flags]), [[1, ['\\Flagged', '$Important']], [2, ['\\Flagged', '$Important']]]);
  const same = await mb.setFlags('INBOX', [1], ['\\Flagged'], 'add');
  assert.deepEqual(same, { modseq: 0, changed: [], modified: [] }, 'no change, no new modseq');
  const rm = await mb.setFlags('INBOX', [1], ['$important'], 'remove');
  assert.deepEqual(rm.changed[0]!.flags, ['\\Flagged']);
  assert.ok(rm.modseq > a.modseq);
  const set = await mb.setFlags('INBOX', [2], ['\\Seen'], 'set', a.modseq); // unchanged since a: allowed
  assert.deepEqual(set.changed[0]!.flags, ['\\Seen']);
  const cond = await mb.setFlags('INBOX', [1, 3], ['\\Answered'], 'add', a.modseq); // 1 changed since
  assert.deepEqual(cond.modified, [1]);
  assert.deepEqual(cond.changed.map((c) => c.uid), [3]);
  const changed = await mb.list('INBOX', { changedSince: rm.modseq });
  assert.deepEqual(changed.map((m) => m.uid), [2, 3]);
  assert.equal((await mb.status('INBOX')).highestModseq, cond.modseq);
  await assert.rejects(mb.setFlags('INBOX', [0], ['\\Seen'], 'add'), code('STORE_BAD_ARGUMENT'));
  await assert.rejects(mb.setFlags('INBOX', [1], ['\\Seen'], 'toggle' as 'add'), code('STORE_BAD_ARGUMENT'));
  await store.close();
});

test('expunge: \\Deleted only by default, explicit UIDs for POP3; UIDs never reused, even after restart', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann');
  for (let i = 0; i < 5; i++) await mb.append('INBOX', msg(i));
  await mb.setFlags('INBOX', [2, 4], ['\\Deleted'], 'add');
  const h = (await mb.status('INBOX')).highestModseq;
  const e = await mb.expunge('INBOX');
  assert.deepEqual(e.uids, [2, 4]);
  assert.ok(e.modseq > h, 'expunge bumps HIGHESTMODSEQ');
  assert.deepEqual((await mb.expunge('INBOX', { uids: [5] })).uids, [5]);
  assert.deepEqual((await mb.expunge('INBOX', { uids: [1], deletedOnly: true })).uids, []);
  assert.deepEqual((await mb.list('INBOX')).map((m) => m.uid), [1, 3]);
  const uv = (await mb.status('INBOX')).uidValidity;
  await store.close();
  const { store: s2 } = await openStore(dataDir);
  const mb2 = s2.mailbox('ann');
  const st = await mb2.status('INBOX');
  assert.equal(st.uidNext, 6, 'UIDNEXT survives expunging the highest UIDs and a restart');
  assert.equal(st.uidValidity, uv);
  assert.ok(st.highestModseq >= e.modseq);
  assert.equal((await mb2.append('INBOX', msg(6))).uid, 6);
  assert.deepEqual(await s2.mailbox('ann').quota().then((q) => q.usedMessages), 3);
  await s2.close();
});

// a new mailbox's default folders besides INBOX (changes.ts ensureDefaults), left out of the lists below
const DEFAULTS = new Set(DEFAULT_FOLDERS.map(([n]) => n).filter((n) => n !== 'INBOX'));
const own = (fs: Array<{ name: string }>): string[] => fs.map((x) => x.name).filter((n) => !DEFAULTS.has(n));

test('folders: create (with parents), rename (with children), delete; UIDVALIDITY changes on recreate', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann');
  const f = await mb.createFolder('Projects/2024');
  assert.equal(f.name, 'Projects/2024');
  assert.deepEqual(own(await mb.folders()), ['INBOX', 'Projects', 'Projects/2024']);
  await assert.rejects(mb.createFolder('Projects'), code('STORE_FOLDER_EXISTS'));
  await assert.rejects(mb.createFolder('inbox'), code('STORE_FOLDER_EXISTS'));
  await assert.rejects(mb.createFolder('a/../b'), code('STORE_BAD_NAME'));
  await assert.rejects(mb.createFolder('x'.repeat(300)), code('STORE_BAD_NAME'));
  await mb.append('Projects/2024', msg('a'));
  await mb.renameFolder('Projects', 'Old/Projects');
  assert.deepEqual(own(await mb.folders()), ['INBOX', 'Old', 'Old/Projects', 'Old/Projects/2024']);
  assert.equal((await mb.status('Old/Projects/2024')).messages, 1);
  await assert.rejects(mb.renameFolder('Old', 'Old/Projects/x'), code('STORE_BAD_NAME'));
  await assert.rejects(mb.renameFolder('INBOX', 'Other'), code('STORE_NOT_ALLOWED'));
  await assert.rejects(mb.renameFolder('Nope', 'Other'), code('STORE_NO_SUCH_FOLDER'));
  await assert.rejects(mb.renameFolder('Old', 'INBOX'), code('STORE_FOLDER_EXISTS'));
  await assert.rejects(mb.deleteFolder('INBOX'), code('STORE_NOT_ALLOWED'));
  await assert.rejects(mb.deleteFolder('Nope'), code('STORE_NO_SUCH_FOLDER'));
  const uv1 = (await mb.createFolder('Bin')).uidValidity;
  await mb.append('Bin', msg('t'));
  await mb.deleteFolder('Bin');
  await assert.rejects(mb.status('Bin'), code('STORE_NO_SUCH_FOLDER'));
  const re = await mb.createFolder('Bin');
  assert.ok(re.uidValidity > uv1, 'a recreated folder gets a new UIDVALIDITY');
  assert.equal(re.messages, 0);
  assert.equal((await mb.quota()).usedMessages, 1, 'the deleted folder\'s mail no longer counts');
  await store.close();
  const { store: s2 } = await openStore(dataDir);
  assert.deepEqual((await s2.mailbox('ann').folders()).filter((x) => !DEFAULTS.has(x.name)).map((x) => [x.name, x.messages]), [['INBOX', 0], ['Bin', 0], ['Old', 0], ['Old/Projects', 0], ['Old/Projects/2024', 1]]);
  assert.equal((await s2.mailbox('ann').status('Bin')).uidValidity, re.uidValidity);
  await s2.close();
});

test('copy and move: COPYUID maps, shared bodies, quota', async () => {
  const { store } = await withAccount();
  const mb = store.mailbox('ann');
  for (let i = 0; i < 3; i++) await mb.append('INBOX', msg(i), { flags: ['\\Seen'] });
  await mb.createFolder('Keep');
  const c = await mb.copy('INBOX', [1, 3, 42], 'Keep');
  assert.deepEqual(c.map, [[1, 1], [3, 2]]);
  assert.equal(c.uidValidity, (await mb.status('Keep')).uidValidity);
  assert.deepEqual(Buffer.from((await mb.fetch('Keep', 2)).body), msg(2));
  assert.deepEqual((await mb.list('Keep')).map((m) => m.flags), [['\\Seen'], ['\\Seen']]);
  const mv = await mb.move('INBOX', [2], 'Keep');
  assert.deepEqual(mv.map, [[2, 3]]);
  assert.deepEqual((await mb.list('INBOX')).map((m) => m.uid), [1, 3]);
  assert.equal((await mb.quota()).usedMessages, 5);
  await assert.rejects(mb.copy('INBOX', [1], 'Nope'), code('STORE_NO_SUCH_FOLDER'));
  await store.close();
});

test('quota: bytes and messages, in-flight appends counted, moves free', async () => {
  const { store } = await withAccount();
  await store.directory.updateAccount('ann', { quotaMessages: 3, quotaBytes: 10_000 });
  const mb = store.mailbox('ann');
  const rs = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => mb.append('INBOX', msg(i))));
  assert.equal(rs.filter((r) => r.status === 'fulfilled').length, 3);
  const rej = rs.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  assert.ok(isPosternError(rej.reason, 'STORE_QUOTA_EXCEEDED'));
  assert.equal(rej.reason.retryable, false);
  await mb.createFolder('B');
  await mb.move('INBOX', [1], 'B'); // no change in usage
  await assert.rejects(mb.copy('INBOX', [2], 'B'), code('STORE_QUOTA_EXCEEDED'));
  await store.directory.updateAccount('ann', { quotaMessages: Infinity });
  await assert.rejects(mb.append('INBOX', Buffer.alloc(10_001)), code('STORE_QUOTA_EXCEEDED'));
  await mb.append('INBOX', Buffer.alloc(100));
  await store.close();
});

test('UIDs strictly ascending under concurrent appends; modseq rises with each change', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann');
  const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => mb.append('INBOX', msg(i))));
  const uids = rs.map((r) => r.uid);
  assert.deepEqual(uids, Array.from({ length: 200 }, (_, i) => i + 1), 'in submission order, no gaps');
  const mods = rs.map((r) => r.modseq);
  for (let i = 1; i < mods.length; i++) assert.ok(mods[i]! > mods[i - 1]!);
  await store.close();
  const { store: s2 } = await openStore(dataDir);
  const l = await s2.mailbox('ann').list('INBOX');
  assert.deepEqual(l.map((m) => m.uid), uids);
  assert.deepEqual(l.map((m) => m.modseq), mods);
  await s2.close();
});

test('account removal drops its mail; re-adding the address starts empty; actor shows in info()', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann');
  await mb.append('INBOX', msg(1));
  const info = store.info();
  assert.equal(info.kind, 'store');
  assert.deepEqual(info.children?.map((c) => [c.id, c.kind]), [['mailbox:ann@example.org', 'mailbox']]);
  await store.directory.removeAccount('ann');
  await assert.rejects(mb.list('INBOX'), code('STORE_NO_SUCH_ACCOUNT'));
  await store.directory.addAccount('ann@example.org', { password: 'x' });
  assert.equal((await store.mailbox('ann').status('INBOX')).messages, 0);
  await store.close();
  const { store: s2 } = await openStore(dataDir);
  assert.equal((await s2.mailbox('ann').status('INBOX')).messages, 0);
  await s2.close();
});
