/**
 * test/store/durability.test.ts: group commit (fewer syncs than appends), disk full (ENOSPC
 * through an injected fs layer), a torn tail and a flipped bit at recovery, STORE_IN_USE,
 * snapshots against later changes and against compaction, and space reclaimed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isPosternError } from '../../src/errors.ts';
import { countingFs, defaultFs, type FsLayer } from '../../src/store/fsio.ts';
import { readBody } from '../../src/store/bodies.ts';
import { msg, openStore, tmpData, withAccount } from './helpers.ts';
import { waitFor } from '../helpers.ts';

const code = (c: string) => (e: unknown) => isPosternError(e) && e.code === c;

function segFiles(dataDir: string): string[] {
  const out: string[] = [];
  const root = path.join(dataDir, 'store', 'shards');
  for (const s of fs.readdirSync(root)) for (const f of fs.readdirSync(path.join(root, s))) if (f.endsWith('.log')) out.push(path.join(root, s, f));
  return out;
}

test('group commit: N concurrent appends share syncs (one mailbox and many)', async () => {
  const c = countingFs(defaultFs);
  const { store } = await withAccount({ fs: c.fs, shards: 1 });
  for (let i = 0; i < 8; i++) await store.directory.addAccount(`u${i}@example.org`, { password: 'x' });
  for (let i = 0; i < 8; i++) await store.mailbox(`u${i}`).status('INBOX'); // open (INBOX made)
  const mb = store.mailbox('ann');
  await mb.status('INBOX');
  let before = c.counters.syncs;
  await Promise.all(Array.from({ length: 64 }, (_, i) => mb.append('INBOX', msg(i, 4096))));
  const one = c.counters.syncs - before;
  assert.ok(one < 64 / 4, `64 appends to one mailbox took ${one} syncs`);
  before = c.counters.syncs;
  await Promise.all(Array.from({ length: 64 }, (_, i) => store.mailbox(`u${i % 8}`).append('INBOX', msg(i, 4096))));
  const many = c.counters.syncs - before;
  assert.ok(many < 64 / 4, `64 appends to 8 mailboxes took ${many} syncs`);
  assert.ok(store.stats().batches < store.stats().records);
  await store.close();
});

/** An fs layer whose writes fail with ENOSPC while `full` is set (after writing part of the data). */
function fullDisk(): { fs: FsLayer; set(v: boolean): void } {
  let full = false;
  return {
    set: (v) => void (full = v),
    fs: {
      ...defaultFs,
      async writev(fd, bufs, pos) {
        if (!full) return defaultFs.writev(fd, bufs, pos);
        const first = bufs[0]!;
        if (first.byteLength > 10) await defaultFs.writev(fd, [first.subarray(0, Math.floor(first.byteLength / 2))], pos); // a torn write
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
      },
    },
  };
}

test('disk full: STORE_NO_SPACE, earlier messages intact, later appends work, nothing torn after restart', async () => {
  const disk = fullDisk();
  const { store, dataDir } = await withAccount({ fs: disk.fs, shards: 1 });
  const mb = store.mailbox('ann');
  const ok = await Promise.all(Array.from({ length: 10 }, (_, i) => mb.append('INBOX', msg(i, 1000))));
  disk.set(true);
  const bad = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => mb.append('INBOX', msg(`full${i}`, 1000))));
  for (const r of bad) {
    assert.equal(r.status, 'rejected');
    assert.ok(isPosternError((r as PromiseRejectedResult).reason, 'STORE_NO_SPACE'));
    assert.equal((r as PromiseRejectedResult).reason.retryable, true);
  }
  await assert.rejects(mb.setFlags('INBOX', [1], ['\\Seen'], 'add'), code('STORE_NO_SPACE'));
  await assert.rejects(mb.createFolder('X'), code('STORE_NO_SPACE'));
  await assert.rejects(store.directory.addDomain('other.org'), code('STORE_NO_SPACE'));
  assert.equal((await mb.status('INBOX')).messages, 10);
  assert.equal((await mb.quota()).usedMessages, 10, 'failed appends released their quota');
  disk.set(false);
  const after = await mb.append('INBOX', msg('after'));
  assert.ok(after.uid > ok[9]!.uid, 'UIDs keep ascending');
  await mb.setFlags('INBOX', [1], ['\\Seen'], 'add');
  for (const r of ok) assert.deepEqual(Buffer.from((await mb.fetch('INBOX', r.uid)).body), msg(r.uid - 1, 1000));
  await store.close();
  const { store: s2, log } = await openStore(dataDir);
  const l = await s2.mailbox('ann').list('INBOX');
  assert.deepEqual(l.map((m) => m.uid), [...ok.map((r) => r.uid), after.uid]);
  assert.equal(log.records.filter((r) => r.level === 'warn').length, 0, 'the failed batch was cut off, so nothing is torn');
  for (const m of l) await readBody(m.locator); // crc checked
  await s2.close();
});

test('recovery: a torn tail is truncated and logged; records before it stay', async () => {
  const { store, dataDir } = await withAccount({ shards: 1 });
  const mb = store.mailbox('ann');
  for (let i = 0; i < 20; i++) await mb.append('INBOX', msg(i, 500));
  await store.close();
  // a crash image: the files as they are while s1 runs (no final checkpoint), plus a torn record
  const { store: s1 } = await openStore(dataDir, { shards: 1 });
  await s1.mailbox('ann').append('INBOX', msg('late', 500));
  await s1.mailbox('ann').setFlags('INBOX', [1], ['\\Seen'], 'add');
  const image = tmpData();
  fs.cpSync(path.join(dataDir, 'store'), path.join(image, 'store'), { recursive: true });
  await s1.close();
  fs.rmSync(path.join(image, 'store', 'LOCK'));
  const seg = segFiles(image).sort().at(-1)!;
  const size = fs.statSync(seg).size;
  fs.appendFileSync(seg, Buffer.from([0x40, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9])); // a torn record
  const { store: s2, log } = await openStore(image, { shards: 1 });
  assert.equal(fs.statSync(seg).size, size, 'truncated back to the last good record');
  const torn = log.records.find((r) => r.level === 'warn' && /torn/.test(r.msg));
  assert.ok(torn, 'the truncation is logged');
  const opened = log.records.filter((r) => r.msg === 'store recovery: shard opened');
  assert.ok(opened.some((r) => (r.o.tornBytes as number) === 11 && (r.o.records as number) >= 2));
  const l = await s2.mailbox('ann').list('INBOX');
  assert.equal(l.length, 21);
  assert.deepEqual(l[0]!.flags, ['\\Seen']);
  assert.deepEqual(Buffer.from((await s2.mailbox('ann').fetch('INBOX', 21)).body), msg('late', 500));
  await s2.close();
});

test('a flipped bit in a body is caught (STORE_CORRUPT on fetch)', async () => {
  const { store } = await withAccount({ shards: 1 });
  const mb = store.mailbox('ann');
  await mb.append('INBOX', msg('x', 100));
  const [m] = await mb.list('INBOX');
  const fd = fs.openSync(m!.locator.path, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, m!.locator.offset + 5);
  b[0]! ^= 1;
  fs.writeSync(fd, b, 0, 1, m!.locator.offset + 5);
  fs.closeSync(fd);
  await assert.rejects(mb.fetch('INBOX', 1), code('STORE_CORRUPT'));
  await store.close();
});

test('STORE_IN_USE: a second open of the same store', async () => {
  const dataDir = tmpData();
  const { store } = await openStore(dataDir);
  await assert.rejects(openStore(dataDir), code('STORE_IN_USE'));
  await store.close();
  const { store: again } = await openStore(dataDir);
  await again.close();
});

test('snapshots: unaffected by later appends and expunges; bodies readable through compaction', async () => {
  const { store, dataDir } = await withAccount({ shards: 1, maxSegmentBytes: 8 * 1024 });
  const mb = store.mailbox('ann');
  for (let i = 0; i < 40; i++) await mb.append('INBOX', msg(i, 1000));
  const snap = await mb.snapshot('INBOX');
  assert.equal(snap.messages.length, 40);
  await mb.append('INBOX', msg('new'));
  await mb.expunge('INBOX', { uids: Array.from({ length: 38 }, (_, i) => i + 1) }); // most of it
  assert.equal((await mb.status('INBOX')).messages, 3);
  assert.equal(snap.messages.length, 40, 'the snapshot keeps its list');
  const before = segFiles(dataDir).length;
  const r = await store.compact();
  assert.ok(r.bytesCopied > 0);
  // pinned by the snapshot: still there and readable
  for (const m of snap.messages) assert.deepEqual(await readBody(m.locator), msg(m.uid - 1, 1000));
  assert.ok(store.stats().pinnedSegments > 0);
  await mb.release(snap.id);
  await waitFor(() => segFiles(dataDir).length < before, 5000, 'released segments removed');
  assert.equal(store.stats().pinnedSegments, 0);
  assert.deepEqual(Buffer.from((await mb.fetch('INBOX', 39)).body), msg(38, 1000));
  assert.deepEqual(Buffer.from((await mb.fetch('INBOX', 41)).body), msg('new'));
  await store.close();
  const { store: s2 } = await openStore(dataDir, { shards: 1 });
  assert.deepEqual((await s2.mailbox('ann').list('INBOX')).map((m) => m.uid), [39, 40, 41]);
  assert.deepEqual(Buffer.from((await s2.mailbox('ann').fetch('INBOX', 40)).body), msg(39, 1000));
  await s2.close();
});

test('deleting a folder and an account reclaims space through compaction', async () => {
  const { store, dataDir } = await withAccount({ shards: 1, maxSegmentBytes: 16 * 1024 });
  await store.directory.addAccount('bob@example.org', { password: 'x' });
  const ann = store.mailbox('ann');
  await ann.createFolder('Big');
  for (let i = 0; i < 30; i++) await ann.append('Big', msg(i, 2000));
  const bob = store.mailbox('bob');
  for (let i = 0; i < 30; i++) await bob.append('INBOX', msg(i, 2000));
  await ann.append('INBOX', msg('keep'));
  const size = () => segFiles(dataDir).reduce((a, f) => a + fs.statSync(f).size, 0);
  const full = size();
  await ann.deleteFolder('Big');
  await store.directory.removeAccount('bob');
  const r = await store.compact();
  assert.ok(r.segmentsRemoved > 0);
  assert.ok(size() < full / 4, `${size()} bytes left of ${full}`);
  assert.deepEqual(Buffer.from((await ann.fetch('INBOX', 1)).body), msg('keep'));
  await store.close();
});

test('an fsync failure (EIO) is STORE_IO: nothing acknowledged, the mailbox keeps working', async () => {
  let fail = false;
  const layer: FsLayer = {
    ...defaultFs,
    fdatasync: (fd) => (fail ? Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })) : defaultFs.fdatasync(fd)),
  };
  const { store, dataDir } = await withAccount({ fs: layer, shards: 1 });
  const mb = store.mailbox('ann');
  await mb.append('INBOX', msg(1));
  fail = true;
  await assert.rejects(mb.append('INBOX', msg(2)), (e) => isPosternError(e, 'STORE_IO') && e.retryable);
  fail = false;
  assert.equal((await mb.append('INBOX', msg(3))).uid, 3);
  assert.deepEqual((await mb.list('INBOX')).map((m) => m.uid), [1, 3]);
  await store.close();
  const { store: s2 } = await openStore(dataDir, { shards: 1 });
  assert.deepEqual((await s2.mailbox('ann').list('INBOX')).map((m) => m.uid), [1, 3]);
  await s2.close();
});

test('STORE_CLOSED after close; ACTOR_BUSY when a mailbox queue is full', async () => {
  const { store } = await withAccount({ mailboxQueue: 2 });
  const mb = store.mailbox('ann');
  await mb.append('INBOX', msg(1));
  const rs = await Promise.allSettled(Array.from({ length: 20 }, () => mb.setFlags('INBOX', [1], ['\\Seen'], 'add')));
  const busy = rs.filter((r) => r.status === 'rejected' && isPosternError(r.reason, 'ACTOR_BUSY'));
  assert.ok(busy.length > 0, 'a full mailbox answers busy instead of growing');
  assert.ok(rs.some((r) => r.status === 'fulfilled'));
  await store.close();
  await assert.rejects(mb.append('INBOX', msg(2)), code('STORE_CLOSED'));
  assert.throws(() => store.mailbox('ann'), code('STORE_CLOSED'));
});

test('periodic checkpoints bound replay; background compaction runs by itself', async () => {
  const { store, dataDir, log } = await withAccount({ shards: 1, checkpointBytes: 8 * 1024, maxSegmentBytes: 16 * 1024, compactIntervalMs: 50, compactMinDeadBytes: 20 * 1024 });
  const mb = store.mailbox('ann');
  for (let i = 0; i < 60; i++) await mb.append('INBOX', msg(i, 1000));
  await mb.expunge('INBOX', { uids: Array.from({ length: 50 }, (_, i) => i + 1) });
  await waitFor(() => log.records.filter((r) => /segment removed/.test(r.msg)).length >= 2 && store.stats().deadBytes === 0, 5000, 'dead segments gone in the background');
  assert.ok(store.stats().segments <= 2);
  const image = tmpData(); // a crash image: no final checkpoint
  fs.cpSync(path.join(dataDir, 'store'), path.join(image, 'store'), { recursive: true });
  fs.rmSync(path.join(image, 'store', 'LOCK'));
  await store.close();
  const { store: s2, log: log2 } = await openStore(image, { shards: 1 });
  const rec = log2.records.find((r) => r.msg === 'store recovery: shard opened')!;
  assert.ok((rec.o.replayedBytes as number) < 16 * 1024, `replayed ${String(rec.o.replayedBytes)} bytes only`);
  assert.deepEqual((await s2.mailbox('ann').list('INBOX')).map((m) => m.uid), Array.from({ length: 10 }, (_, i) => i + 51));
  for (let u = 51; u <= 60; u++) assert.deepEqual(Buffer.from((await s2.mailbox('ann').fetch('INBOX', u)).body), msg(u - 1, 1000));
  await s2.close();
});
