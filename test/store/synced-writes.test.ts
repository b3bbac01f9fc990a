/**
 * test/store/synced-writes.test.ts: the store's default fs layer (fsio.ts `syncedFs`): each
 * group commit is one write on an O_DSYNC descriptor (counted as a write and a sync), appends
 * share them, and what was acknowledged reads back after a reopen; and record.ts's
 * `crc32Combine`, which frames an APPEND from its body's crc.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { crc32Combine } from '../../src/store/record.ts';
import { countingFs, syncedFs } from '../../src/store/fsio.ts';
import { msg, openStore, withAccount } from './helpers.ts';

test('crc32Combine: the crc of a concatenation from the crcs of its parts', () => {
  for (const [a, b] of [[0, 0], [0, 5], [7, 0], [1, 1], [13, 4096], [300, 70_000], [9, 1 << 20]] as const) {
    const x = randomBytes(a);
    const y = randomBytes(b);
    assert.equal(crc32Combine(crc32(x), crc32(y), y.length), crc32(Buffer.concat([x, y])), `${a} + ${b} bytes`);
  }
});

test('synced writes: concurrent appends share one write-and-sync; acknowledged ones read back after reopen', async () => {
  const c = countingFs(syncedFs);
  assert.ok(c.fs.writevSynced !== undefined && c.fs.openSynced !== undefined);
  const { store, dataDir } = await withAccount({ fs: c.fs, shards: 1 });
  const mb = store.mailbox('ann');
  await mb.status('INBOX');
  const before = { ...c.counters };
  const done = await Promise.all(Array.from({ length: 64 }, (_, i) => mb.append('INBOX', msg(i, 4096))));
  const syncs = c.counters.syncs - before.syncs;
  assert.ok(syncs < 64 / 4, `64 appends took ${syncs} syncs`);
  assert.equal(c.counters.writes - before.writes, syncs, 'each log write is its own sync');
  await store.close();
  const { store: again } = await openStore(dataDir);
  const back = again.mailbox('ann');
  const list = await back.list('INBOX');
  assert.equal(list.length, 64);
  for (const i of [0, 1, 31, 63]) {
    const { body } = await back.fetch('INBOX', done[i]!.uid);
    assert.deepEqual(Buffer.from(body), msg(i, 4096), `message ${i}`);
  }
  await again.close();
});
