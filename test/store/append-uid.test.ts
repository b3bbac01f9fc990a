/**
 * test/store/append-uid.test.ts: an append that asks for a UID (a restore keeping the
 * original's, AppendOptions.uid): given when it is at least the folder's next UID, refused with
 * STORE_BAD_ARGUMENT below it or past MAX_UID, and kept across a restart (replay).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPosternError } from '../../src/errors.ts';
import { MAX_UID } from '../../src/store/types.ts';
import { msg, openStore, withAccount } from './helpers.ts';

const bad = (e: unknown) => isPosternError(e) && e.code === 'STORE_BAD_ARGUMENT';

test('append with a UID: at or above the next one; the folder goes on from there; kept after a restart', async () => {
  const { store, dataDir } = await withAccount();
  const mb = store.mailbox('ann@example.org');
  assert.equal((await mb.append('INBOX', msg(1), { uid: 5, internalDate: 1000, flags: ['\\Seen'] })).uid, 5);
  assert.equal((await mb.append('INBOX', msg(2))).uid, 6);
  assert.equal((await mb.append('INBOX', msg(3), { uid: 7 })).uid, 7);
  await assert.rejects(mb.append('INBOX', msg(4), { uid: 7 }), bad);
  await assert.rejects(mb.append('INBOX', msg(4), { uid: 3 }), bad);
  await assert.rejects(mb.append('INBOX', msg(4), { uid: MAX_UID + 1 }), bad);
  await assert.rejects(mb.append('INBOX', msg(4), { uid: 9.5 }), bad);
  const before = (await mb.list('INBOX')).map((m) => [m.uid, m.internalDate, m.flags]);
  assert.deepEqual(before.map((m) => m[0]), [5, 6, 7]);
  assert.deepEqual(before[0], [5, 1000, ['\\Seen']]);
  await store.close();
  const { store: again } = await openStore(dataDir);
  assert.deepEqual((await again.mailbox('ann@example.org').list('INBOX')).map((m) => [m.uid, m.internalDate, m.flags]), before);
  assert.equal((await again.mailbox('ann@example.org').status('INBOX')).uidNext, 8);
  await again.close();
});
