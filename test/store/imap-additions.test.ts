/**
 * test/store/imap-additions.test.ts: what the store adds for IMAP, each across a restart (a
 * clean close: the checkpoint) and a crash image (no final checkpoint: the log replayed):
 * default special-use folders and CREATE-SPECIAL-USE (RFC 6154), subscriptions, the expunge
 * history QRESYNC reads (RFC 7162 VANISHED) and its bound, \Recent floors (RFC 3501),
 * MULTIAPPEND's all-or-nothing `appendMany` (RFC 3502); checkpoints written before these load;
 * and, through a StoreClient over the store thread's port, the events and reads IMAP relies on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { isPosternError } from '../../src/errors.ts';
import { StoreThread } from '../../actors/store-thread.ts';
import { StoreClient, type Subscription } from '../../src/store/client.ts';
import { REC_APPEND, packr, scanRecords } from '../../src/store/record.ts';
import { ShardState, applyAppend, applyOp, vanishedSince } from '../../src/store/state.ts';
import { EXPUNGE_HISTORY_MAX, MAX_FOLDERS, MAX_SUBSCRIPTIONS, type MailboxEvent } from '../../src/store/types.ts';
import { msg, openStore, tmpData, withAccount } from './helpers.ts';

const code = (c: string) => (e: unknown) => isPosternError(e) && e.code === c;

/** The store's files as they are now, while it runs (no final checkpoint), openable elsewhere. */
function crashImage(dataDir: string): string {
  const image = tmpData();
  fs.cpSync(path.join(dataDir, 'store'), path.join(image, 'store'), { recursive: true });
  fs.rmSync(path.join(image, 'store', 'LOCK'));
  return image;
}

/** Reopen both ways: the crash image taken now (log replay), then `store` closed and reopened
 * (checkpoint); `check` runs against each. */
async function bothWays(store: { close(): Promise<void> }, dataDir: string, check: (s: Awaited<ReturnType<typeof openStore>>['store'], how: string) => Promise<void>): Promise<void> {
  const image = crashImage(dataDir);
  await store.close();
  for (const [dir, how] of [[image, 'replay'], [dataDir, 'checkpoint']] as const) {
    const { store: s, log } = await openStore(dir);
    if (how === 'replay') assert.ok(log.records.some((r) => r.msg === 'store recovery: shard opened' && (r.o.records as number) > 0), 'the log was replayed');
    try {
      await check(s, how);
    } finally {
      await s.close();
    }
  }
}

const uses = async (mb: { folders(): Promise<Array<{ name: string; specialUse: string | null }>> }): Promise<Array<[string, string | null]>> =>
  (await mb.folders()).map((f) => [f.name, f.specialUse]);

test('special use: a new mailbox gets INBOX, Drafts, Sent, Trash, Junk and Archive; CREATE-SPECIAL-USE; kept across rename and restart', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann');
  assert.deepEqual(await uses(mb), [['INBOX', null], ['Archive', '\\Archive'], ['Drafts', '\\Drafts'], ['Junk', '\\Junk'], ['Sent', '\\Sent'], ['Trash', '\\Trash']]);
  const made = await mb.createFolder('Mail/Outbox', { specialUse: '\\sent' });
  assert.equal(made.specialUse, '\\Sent', 'stored as RFC 6154 spells it');
  assert.equal((await mb.status('Mail')).specialUse, null, 'a parent made on the way has none');
  await assert.rejects(mb.createFolder('Odd', { specialUse: '\\Important' }), code('STORE_BAD_ARGUMENT'));
  await assert.rejects(mb.createFolder('Odd2', { specialUse: '\\All' }), code('STORE_BAD_ARGUMENT'));
  await assert.rejects(mb.status('Odd'), code('STORE_NO_SUCH_FOLDER'), 'nothing created');
  assert.equal((await mb.createFolder('Plain')).specialUse, null);
  await mb.renameFolder('Mail', 'Old');
  await mb.renameFolder('Trash', 'Bin');
  const want: Array<[string, string | null]> = [['INBOX', null], ['Archive', '\\Archive'], ['Bin', '\\Trash'], ['Drafts', '\\Drafts'], ['Junk', '\\Junk'], ['Old', null], ['Old/Outbox', '\\Sent'], ['Plain', null], ['Sent', '\\Sent']];
  assert.deepEqual(await uses(mb), want);
  await bothWays(store, dataDir, async (s, how) => {
    assert.deepEqual(await uses(s.mailbox('ann')), want, how);
  });
});

test('special use: a mailbox that already has INBOX is left as it is', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann');
  await mb.deleteFolder('Drafts'); // as a mailbox from before the defaults looks: INBOX, no Drafts
  await store.close();
  const { store: s2 } = await openStore(dataDir);
  assert.equal((await s2.mailbox('ann').folders()).some((f) => f.name === 'Drafts'), false, 'not made again at the next first use');
  await s2.close();
});

test('subscriptions: defaults subscribed; any name; rename moves the folder and its children; delete leaves them; durable', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann');
  assert.deepEqual(await mb.subscriptions(), ['INBOX', 'Archive', 'Drafts', 'Junk', 'Sent', 'Trash']);
  await mb.createFolder('Work/2024');
  await mb.setSubscribed('Work', true);
  await mb.setSubscribed('Work/2024', true);
  await mb.setSubscribed('Work/Later', true); // no such folder: allowed (RFC 9051 §6.3.7)
  await mb.setSubscribed('Nowhere', true);
  await mb.setSubscribed('Nowhere', true); // again: no error, no change
  await mb.setSubscribed('Junk', false);
  await mb.setSubscribed('Junk', false);
  await mb.setSubscribed('inbox', true); // INBOX in any case
  await assert.rejects(mb.setSubscribed('a//b', true), code('STORE_BAD_NAME'));
  await assert.rejects(mb.setSubscribed('X', 'yes' as unknown as boolean), code('STORE_BAD_ARGUMENT'));
  await mb.renameFolder('Work', 'Job');
  await mb.deleteFolder('Archive');
  const want = ['INBOX', 'Archive', 'Drafts', 'Job', 'Job/2024', 'Job/Later', 'Nowhere', 'Sent', 'Trash'];
  assert.deepEqual(await mb.subscriptions(), want);
  await bothWays(store, dataDir, async (s, how) => {
    assert.deepEqual(await s.mailbox('ann').subscriptions(), want, how);
  });
});

test(`bounds: at most ${MAX_SUBSCRIPTIONS} subscriptions and ${MAX_FOLDERS} folders per mailbox (STORE_NOT_ALLOWED)`, async () => {
  const { store } = await withAccount();
  const mb = store.mailbox('ann');
  const { core } = await store.openMailbox(store.directory.resolve('ann@example.org'));
  // filled in memory (one durable record each would make the test slow); the checks read the same index
  const subs = core.mb().subs;
  for (let i = subs.size; i < MAX_SUBSCRIPTIONS; i++) subs.add(`s${i}`);
  await assert.rejects(mb.setSubscribed('one-more', true), code('STORE_NOT_ALLOWED'));
  await mb.setSubscribed('s10', false);
  await mb.setSubscribed('one-more', true);
  assert.equal((await mb.subscriptions()).length, MAX_SUBSCRIPTIONS);
  const have = core.mb().folders.size;
  applyOp(core.shard.state, { o: 'fcreate', a: core.accountId, fs: Array.from({ length: MAX_FOLDERS - have - 1 }, (_, i): [number, string, number] => [1000 + i, `f${i}`, 1]) });
  await mb.createFolder('last');
  await assert.rejects(mb.createFolder('over'), code('STORE_NOT_ALLOWED'));
  await assert.rejects(mb.createFolder('a/b'), code('STORE_NOT_ALLOWED'));
  await store.close();
});

test('vanished: UIDs expunged or moved since a modseq, ascending; complete; across restart', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann');
  for (let i = 0; i < 8; i++) await mb.append('INBOX', msg(i));
  const m0 = (await mb.status('INBOX')).highestModseq;
  assert.deepEqual(await mb.vanished('INBOX', 0), { uids: [], complete: true });
  await mb.setFlags('INBOX', [2, 7], ['\\Deleted'], 'add');
  const x1 = await mb.expunge('INBOX'); // 2 and 7
  const mv = await mb.move('INBOX', [5, 1], 'Archive');
  const x2 = await mb.expunge('INBOX', { uids: [3] }); // POP3-style
  assert.deepEqual(mv.map, [[1, 1], [5, 2]]);
  const expectAll = async (api: typeof mb, how: string): Promise<void> => {
    assert.deepEqual(await api.vanished('INBOX', m0), { uids: [1, 2, 3, 5, 7], complete: true }, how);
    assert.deepEqual(await api.vanished('INBOX', x1.modseq), { uids: [1, 3, 5], complete: true }, how);
    assert.deepEqual(await api.vanished('INBOX', x2.modseq - 1), { uids: [3], complete: true }, how);
    assert.deepEqual(await api.vanished('INBOX', x2.modseq), { uids: [], complete: true }, how);
    assert.deepEqual(await api.vanished('Archive', 0), { uids: [], complete: true }, how);
    await assert.rejects(api.vanished('Nope', 0), code('STORE_NO_SUCH_FOLDER'));
    await assert.rejects(api.vanished('INBOX', -1), code('STORE_BAD_ARGUMENT'));
  };
  await expectAll(mb, 'live');
  await bothWays(store, dataDir, (s, how) => expectAll(s.mailbox('ann'), how));
});

test(`vanished: the history is bounded (the last ${EXPUNGE_HISTORY_MAX} UIDs per folder); older modseqs answer complete: false`, () => {
  const s = new ShardState();
  applyOp(s, { o: 'fcreate', a: 1, fs: [[1, 'INBOX', 7]] }); // a record from before special use
  const G = 8000; // UIDs per expunge, each expunge with its own modseq
  const n = Math.ceil((EXPUNGE_HISTORY_MAX * 1.12) / G) * G;
  for (let u = 1; u <= n; u++) applyAppend(s, { a: 1, f: 1, u, m: u + 1, fl: 0, d: 0, c: 0 }, 1, u * 10, 1);
  const f = s.mailbox(1, false)!.folders.get(1)!;
  const base = f.highestModseq;
  for (let i = 0; i < n / G; i++) applyOp(s, { o: 'expunge', a: 1, f: 1, m: base + 1 + i, u: Array.from({ length: G }, (_, k) => i * G + k + 1) });
  assert.equal(f.msgs.length, 0);
  assert.ok(f.gone.u.length >= EXPUNGE_HISTORY_MAX && f.gone.u.length <= EXPUNGE_HISTORY_MAX + (EXPUNGE_HISTORY_MAX >>> 4), `kept ${f.gone.u.length}`);
  const old = vanishedSince(f, base);
  assert.equal(old.complete, false, 'the oldest expunges were dropped');
  assert.equal(old.uids.length, f.gone.u.length);
  const last = n / G - 1;
  assert.deepEqual(vanishedSince(f, base + last), { uids: Array.from({ length: G }, (_, k) => last * G + k + 1), complete: true });
  const lostAt = f.gone.lost;
  assert.ok(lostAt > base);
  assert.equal(vanishedSince(f, lostAt).complete, true);
  assert.equal(vanishedSince(f, lostAt - 1).complete, false);
  assert.equal(f.use, null);
});

test('claimRecent: the first claimer after a delivery gets the new UIDs; STATUS RECENT counts them; in memory only', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann');
  await mb.append('INBOX', msg(1));
  await mb.append('INBOX', msg(2));
  assert.equal((await mb.status('INBOX')).recent, 2, 'STATUS RECENT counts them');
  assert.equal((await mb.status('INBOX')).recent, 2, 'and claims nothing');
  assert.equal(await mb.claimRecent('INBOX'), 1, 'both are recent to the first session');
  assert.equal((await mb.status('INBOX')).recent, 0);
  assert.equal(await mb.claimRecent('inbox'), 3, 'none to the next');
  await mb.append('INBOX', msg(3));
  const [a, b] = await Promise.all([mb.claimRecent('INBOX'), mb.claimRecent('INBOX')]);
  assert.deepEqual([a, b], [3, 4], 'one of two racing sessions gets it');
  assert.equal(await mb.claimRecent('Sent'), 1);
  await assert.rejects(mb.claimRecent('Nope'), code('STORE_NO_SUCH_FOLDER'));
  await mb.append('INBOX', msg(4));
  await bothWays(store, dataDir, async (s, how) => {
    const m = s.mailbox('ann');
    assert.equal((await m.status('INBOX')).recent, 0, how);
    assert.equal(await m.claimRecent('INBOX'), 5, `${how}: nothing stored before the restart is recent`);
    await m.append('INBOX', msg(5));
    assert.equal(await m.claimRecent('INBOX'), 5, `${how}: a delivery after it is`);
  });
});

test('appendMany: all or nothing, one group commit, consecutive UIDs, quota for the sum', async () => {
  const { store, dataDir } = await withAccount();
  await store.directory.updateAccount('ann@example.org', { quotaMessages: 6 });
  const mb = store.mailbox('ann');
  await mb.append('Drafts', msg('first'));
  const batches = store.stats().batches;
  const r = await mb.appendMany('Drafts', [{ body: msg('a') }, { body: msg('b'), opts: { flags: ['\\Seen', 'Work'], internalDate: 1_700_000_000_000 } }, { body: msg('c', 3000) }]);
  assert.equal(store.stats().batches - batches, 1, 'one write and sync for the three');
  assert.deepEqual(r.map((x) => [x.folder, x.uid, x.size]), [['Drafts', 2, msg('a').length], ['Drafts', 3, msg('b').length], ['Drafts', 4, msg('c', 3000).length]]);
  assert.ok(r[0]!.modseq < r[1]!.modseq && r[1]!.modseq < r[2]!.modseq);
  const l = await mb.list('Drafts');
  assert.deepEqual(l.map((m) => [m.uid, m.flags]), [[1, []], [2, []], [3, ['\\Seen', 'Work']], [4, []]]);
  assert.equal(l[2]!.internalDate, 1_700_000_000_000);
  assert.deepEqual(Buffer.from((await mb.fetch('Drafts', 4)).body), msg('c', 3000));
  assert.equal((await mb.fetchStructure('Drafts', [3]))[0]!.structure.size, msg('b').length);
  // 4 stored, limit 6: three more are over as a whole, so none goes in
  const before = await mb.quota();
  await assert.rejects(mb.appendMany('Drafts', [{ body: msg('x') }, { body: msg('y') }, { body: msg('z') }]), code('STORE_QUOTA_EXCEEDED'));
  // one bad message spoils the lot
  await assert.rejects(mb.appendMany('Drafts', [{ body: msg('x') }, { body: msg('y'), opts: { flags: ['\\Bogus'] } }]), code('STORE_BAD_NAME'));
  await assert.rejects(mb.appendMany('Drafts', [{ body: msg('x') }, { body: 'text' as unknown as Uint8Array }]), code('STORE_BAD_ARGUMENT'));
  await assert.rejects(mb.appendMany('Nope', [{ body: msg('x') }]), code('STORE_NO_SUCH_FOLDER'));
  assert.deepEqual(await mb.quota(), before);
  assert.equal((await mb.status('Drafts')).uidNext, 5, 'no UID was used up');
  assert.deepEqual(await mb.appendMany('Drafts', []), []);
  const two = await mb.appendMany('Drafts', [{ body: msg('x') }, { body: msg('y') }]);
  assert.deepEqual(two.map((x) => x.uid), [5, 6]);
  assert.deepEqual(await mb.quota(), { ...before, usedMessages: 6, usedBytes: before.usedBytes + msg('x').length + msg('y').length });
  await bothWays(store, dataDir, async (s, how) => {
    const m = s.mailbox('ann');
    assert.deepEqual((await m.list('Drafts')).map((x) => x.uid), [1, 2, 3, 4, 5, 6], how);
    assert.deepEqual(Buffer.from((await m.fetch('Drafts', 4)).body), msg('c', 3000), how);
    assert.deepEqual(await m.quota(), { ...before, usedMessages: 6, usedBytes: before.usedBytes + msg('x').length + msg('y').length }, how);
  });
});

test('appendMany after a crash in its write: recovery keeps the whole group or none of it', async () => {
  const { store, dataDir } = await withAccount({ shards: 1 });
  const mb = store.mailbox('ann');
  await mb.append('INBOX', msg('before'));
  await mb.appendMany('INBOX', [{ body: msg('g0', 200) }, { body: msg('g1', 200) }, { body: msg('g2', 200) }]);
  const image = crashImage(dataDir); // no checkpoint since the account was made: all of it replays
  await store.close();
  const segDir = path.join(image, 'store', 'shards', '0');
  const seg = path.join(segDir, fs.readdirSync(segDir).filter((n) => n.startsWith('seg-')).sort().at(-1)!);
  const whole = fs.readFileSync(seg);
  const group = scanRecords(whole, 0).records.filter((r) => r.type === REC_APPEND && r.meta.g !== undefined);
  assert.deepEqual(group.map((r) => (r.type === REC_APPEND ? r.meta.g : null)), [[0, 3], [1, 3], [2, 3]]);
  const cuts: Array<[string, number]> = [
    ['two whole records of three', group[1]!.end],
    ['the third record torn', group[2]!.end - 7],
    ['the first record torn', group[0]!.start + 20],
  ];
  for (const [how, cut] of cuts) {
    fs.writeFileSync(seg, whole.subarray(0, cut));
    const copy = tmpData();
    fs.cpSync(path.join(image, 'store'), path.join(copy, 'store'), { recursive: true });
    const { store: s2, log } = await openStore(copy, { shards: 1 });
    const m2 = s2.mailbox('ann');
    assert.deepEqual((await m2.list('INBOX')).map((m) => m.uid), [1], how);
    assert.ok(log.records.some((r) => r.level === 'warn' && /torn/.test(r.msg)), `${how}: logged`);
    const again = await m2.append('INBOX', msg('after'));
    assert.equal(again.uid, 2, `${how}: the group's UIDs were never seen`);
    await s2.close();
    const { store: s3 } = await openStore(copy, { shards: 1 });
    assert.deepEqual((await s3.mailbox('ann').list('INBOX')).map((m) => m.uid), [1, 2], `${how}: and stays so`);
    await s3.close();
  }
  fs.writeFileSync(seg, whole);
  const { store: s4 } = await openStore(image, { shards: 1 });
  assert.deepEqual((await s4.mailbox('ann').list('INBOX')).map((m) => m.uid), [1, 2, 3, 4], 'the whole group');
  await s4.close();
});

test('checkpoints written before the IMAP additions still load (no special use, no subscriptions, history incomplete)', async () => {
  const { store, dataDir } = await withAccount({ shards: 1 });
  const mb = store.mailbox('ann');
  await mb.append('INBOX', msg(1));
  await mb.append('INBOX', msg(2));
  await mb.expunge('INBOX', { uids: [1] });
  await store.close();
  // strip the new fields, as the previous version wrote the file
  const file = path.join(dataDir, 'store', 'shards', '0', 'checkpoint.mpk');
  const d = packr.unpack(fs.readFileSync(file).subarray(4)) as { mb: Array<{ s?: unknown; f: unknown[][] }> };
  for (const row of d.mb) {
    delete row.s;
    for (const f of row.f) f.length = 6;
  }
  const body = packr.pack(d);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32LE(crc32(body), 0);
  body.copy(out, 4);
  fs.writeFileSync(file, out);
  const { store: s2 } = await openStore(dataDir, { shards: 1 });
  const m2 = s2.mailbox('ann');
  assert.ok((await m2.folders()).every((f) => f.specialUse === null));
  assert.deepEqual(await m2.subscriptions(), []);
  const hms = (await m2.status('INBOX')).highestModseq;
  assert.deepEqual(await m2.vanished('INBOX', 0), { uids: [], complete: false }, 'what was expunged before is not known');
  assert.deepEqual(await m2.vanished('INBOX', hms), { uids: [], complete: true });
  const x = await m2.expunge('INBOX', { uids: [2] });
  assert.deepEqual(await m2.vanished('INBOX', hms), { uids: [2], complete: true });
  assert.ok(x.modseq > hms);
  assert.deepEqual((await m2.list('INBOX')).length, 0);
  await s2.close();
});

/** The next event, or a failure after `ms` (a bound on a hang, not a timing assertion). */
async function nextEvent(sub: Subscription, ms = 10_000): Promise<MailboxEvent> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([sub.next(), new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('no event')), ms)))]);
  clearTimeout(timer);
  assert.equal(r.done, false);
  return r.value as MailboxEvent;
}

test('through the client: what IMAP relies on (events with modseqs, changedSince, vanished, quota, appendMany, claimRecent)', { timeout: 60_000 }, async () => {
  const st = await StoreThread.start({ dataDir: tmpData(), logLevel: 'silent' });
  try {
    await st.admin('domain.add', { name: 'example.org' });
    await st.admin('account.add', { address: 'ann@example.org', password: 'pw' });
    const watcher = new StoreClient(st.connect('watcher'));
    const writer = new StoreClient(st.connect('writer'));
    const mb = writer.mailbox('ann@example.org');
    const inbox = await watcher.subscribe('ann', 'INBOX');
    const all = await watcher.subscribe('ann', null);
    const base = inbox.start.highestModseq;

    // MULTIAPPEND: each message is an 'append' event
    const many = await mb.appendMany('INBOX', [{ body: msg(1) }, { body: msg(2), opts: { flags: ['\\Flagged'] } }, { body: msg(3) }, { body: msg(4) }]);
    for (const r of many) {
      const e = await nextEvent(inbox);
      assert.deepEqual(e.kind === 'append' ? [e.uid, e.modseq, e.size] : e, [r.uid, r.modseq, r.size]);
      await nextEvent(all);
    }
    assert.ok(many[0]!.modseq > base);
    assert.equal(await mb.claimRecent('INBOX'), 1);
    assert.equal(await writer.mailbox('ann').claimRecent('INBOX'), 5);

    // STORE: 'flags' with the change's modseq, which list(changedSince) and the messages show
    const fr = await mb.setFlags('INBOX', [1, 2], ['\\Seen'], 'add');
    const ef = await nextEvent(inbox);
    assert.deepEqual(ef.kind === 'flags' ? [ef.modseq, ef.changed] : ef, [fr.modseq, [{ uid: 1, flags: ['\\Seen'] }, { uid: 2, flags: ['\\Seen', '\\Flagged'] }]]);
    assert.deepEqual(fr.changed.map((c) => c.modseq), [fr.modseq, fr.modseq]);
    assert.deepEqual((await mb.list('INBOX', { changedSince: many[3]!.modseq })).map((m) => [m.uid, m.modseq]), [[1, fr.modseq], [2, fr.modseq]]);
    assert.deepEqual(await mb.list('INBOX', { changedSince: fr.modseq }), []);
    await nextEvent(all);

    // a POP3-style expunge (by UID, \Deleted or not) is an 'expunge'
    const xr = await mb.expunge('INBOX', { uids: [3] });
    const ex = await nextEvent(inbox);
    assert.deepEqual(ex.kind === 'expunge' ? [ex.modseq, ex.uids] : ex, [xr.modseq, [3]]);
    await nextEvent(all);

    // COPY: appends in the target; MOVE: appends there and an expunge here
    const cp = await mb.copy('INBOX', [1], 'Archive');
    const ec = await nextEvent(all);
    assert.deepEqual(ec.kind === 'append' ? [ec.folder, ec.uid] : ec, ['Archive', cp.map[0]![1]]);
    const mv = await mb.move('INBOX', [2, 4], 'Archive');
    const em = await nextEvent(inbox);
    assert.deepEqual(em.kind === 'expunge' ? em.uids : em, [2, 4]);
    const seen = [await nextEvent(all), await nextEvent(all), await nextEvent(all)].map((e) => `${e.kind}:${'folder' in e ? e.folder : ''}:${'uid' in e ? e.uid : ''}`);
    assert.deepEqual(seen, [`append:Archive:${mv.map[0]![1]}`, `append:Archive:${mv.map[1]![1]}`, 'expunge:INBOX:']);
    const moved = await mb.list('Archive', { uids: mv.map.map(([, n]) => n) });
    assert.deepEqual(moved.map((m) => m.flags), [['\\Seen', '\\Flagged'], []], 'flags travel with a move');

    // QRESYNC reads the history; quota matches what the folders hold
    assert.deepEqual(await mb.vanished('INBOX', many[3]!.modseq), { uids: [2, 3, 4], complete: true });
    const q = await mb.quota();
    const fs2 = await mb.folders();
    assert.equal(q.usedMessages, fs2.reduce((n, f) => n + f.messages, 0));
    assert.equal(q.usedBytes, fs2.reduce((n, f) => n + f.bytes, 0));
    assert.equal(q.usedMessages, 4); // INBOX 1, Archive 3 (one copy, two moved)
    assert.deepEqual(fs2.find((f) => f.name === 'Archive')?.specialUse, '\\Archive');

    // folders and subscriptions through the port
    const c = await mb.createFolder('Outgoing', { specialUse: '\\Sent' });
    assert.equal(c.specialUse, '\\Sent');
    assert.equal((await nextEvent(all)).kind, 'folders');
    await assert.rejects(mb.createFolder('Bad', { specialUse: 'Sent' }), code('STORE_BAD_ARGUMENT'));
    await mb.setSubscribed('Outgoing', true);
    assert.ok((await watcher.mailbox('ann').subscriptions()).includes('Outgoing'));
    assert.equal(inbox.buffered + all.buffered, 0, 'nothing else was published');
    watcher.close();
    writer.close();
  } finally {
    await st.stop();
  }
});
