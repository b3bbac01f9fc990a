/**
 * test/store/subscribe.test.ts: subscriptions to mailbox changes (store/subscriptions.ts),
 * from a StoreClient over the store thread's MessagePort: appends, flag changes, expunges and
 * moves each arrive with their modseq and never before the change is readable; a subscriber
 * that does not take its events holds a bounded number and gets one 'resync' for the rest;
 * a subscription ends with `close()` and with its port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreThread } from '../../actors/store-thread.ts';
import { StoreClient, type Subscription } from '../../src/store/client.ts';
import type { MailboxEvent } from '../../src/store/types.ts';
import { waitFor } from '../helpers.ts';
import { tmpData } from './helpers.ts';

/** The next event, or a failure after `ms` (a bound on a hang, not a timing assertion). */
async function nextEvent(sub: Subscription, ms = 10_000): Promise<MailboxEvent> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([sub.next(), new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('no event')), ms)))]);
  clearTimeout(timer);
  assert.equal(r.done, false);
  return r.value as MailboxEvent;
}

const subscriptions = (st: StoreThread): number => Number((st.info().extra as { subscriptions?: number } | undefined)?.subscriptions ?? -1);

test('subscription: appends, flags, expunge and move arrive with their modseqs, after the change is readable', { timeout: 60_000 }, async () => {
  const st = await StoreThread.start({ dataDir: tmpData(), logLevel: 'silent', infoIntervalMs: 50 });
  try {
    await st.admin('domain.add', { name: 'example.org' });
    await st.admin('account.add', { address: 'ann@example.org', password: 'pw' });
    const watcher = new StoreClient(st.connect('watcher'));
    const writer = new StoreClient(st.connect('writer'));
    const mb = writer.mailbox('ann@example.org');
    await mb.append('INBOX', Buffer.from('Subject: before\r\n\r\nx\r\n'));
    const sub = await watcher.subscribe('ann', 'INBOX');
    assert.equal(sub.start.folder, 'INBOX');
    assert.equal(sub.start.uidNext, 2);
    const base = sub.start.highestModseq;
    assert.ok(base >= 1);

    const r1 = await mb.append('INBOX', Buffer.from('Subject: one\r\n\r\nx\r\n'), { flags: ['\\Flagged'] });
    const e1 = await nextEvent(sub);
    assert.equal(e1.kind, 'append');
    if (e1.kind !== 'append') return;
    assert.deepEqual([e1.folder, e1.uid, e1.modseq, e1.flags, e1.size], ['INBOX', r1.uid, r1.modseq, ['\\Flagged'], r1.size]);
    assert.ok(e1.modseq > base);
    // causality: what the event says is already there for a reader
    assert.ok((await watcher.mailbox('ann').list('INBOX')).some((m) => m.uid === e1.uid && m.modseq === e1.modseq));

    const fr = await mb.setFlags('INBOX', [1, e1.uid], ['\\Seen'], 'add');
    const e2 = await nextEvent(sub);
    assert.deepEqual(e2.kind === 'flags' ? [e2.modseq, e2.changed] : e2, [fr.modseq, [{ uid: 1, flags: ['\\Seen'] }, { uid: e1.uid, flags: ['\\Seen', '\\Flagged'] }]]);

    const xr = await mb.expunge('INBOX', { uids: [1] });
    const e3 = await nextEvent(sub);
    assert.deepEqual(e3.kind === 'expunge' ? [e3.modseq, e3.uids] : e3, [xr.modseq, [1]]);
    assert.ok(xr.modseq > fr.modseq && fr.modseq > e1.modseq);

    // a move shows as an expunge here; a watch on every folder sees the copy and folder changes
    const all = await watcher.subscribe('ann@example.org', null);
    await mb.createFolder('Kept');
    assert.equal((await nextEvent(all)).kind, 'folders');
    await mb.move('INBOX', [e1.uid], 'Kept');
    const e4 = await nextEvent(sub);
    assert.deepEqual(e4.kind === 'expunge' ? e4.uids : e4, [e1.uid]);
    const seen = [await nextEvent(all), await nextEvent(all)].map((e) => `${e.kind}:${'folder' in e ? e.folder : ''}`);
    assert.deepEqual(seen, ['append:Kept', 'expunge:INBOX']);
    assert.equal(sub.buffered, 0);

    // closing ends the iteration and the store's feed; a closed port ends all of its feeds
    await waitFor(() => subscriptions(st) === 2, 10_000, 'two subscriptions');
    sub.close();
    assert.deepEqual(await sub.next(), { value: undefined, done: true });
    await waitFor(() => subscriptions(st) === 1, 10_000, 'one subscription');
    watcher.close();
    await waitFor(() => subscriptions(st) === 0, 10_000, 'no subscription');
    writer.close();
  } finally {
    await st.stop();
  }
});

test('subscription: a subscriber that does not keep up holds a bounded number of events, then gets a resync', { timeout: 60_000 }, async () => {
  const st = await StoreThread.start({ dataDir: tmpData(), logLevel: 'silent' });
  try {
    await st.admin('domain.add', { name: 'example.org' });
    await st.admin('account.add', { address: 'bob@example.org', password: 'pw' });
    const watcher = new StoreClient(st.connect('watcher'));
    const writer = new StoreClient(st.connect('writer'));
    const MAX = 10;
    const N = 300;
    const sub = await watcher.subscribe('bob', 'INBOX', { maxQueuedEvents: MAX });
    const mb = writer.mailbox('bob');
    const done = await Promise.all(Array.from({ length: N }, (_, i) => mb.append('INBOX', Buffer.from(`Subject: ${i}\r\n\r\nx\r\n`))));
    // every event was published before the last append answered; one round trip on the
    // watcher's port brings whatever the store had posted to it
    await watcher.mailbox('bob').status('INBOX');
    assert.ok(sub.buffered <= 2 * MAX, `buffered ${sub.buffered}`);
    let appends = 0;
    let dropped = 0;
    let resyncs = 0;
    let last = 0;
    while (appends + dropped < N) {
      const e = await nextEvent(sub);
      assert.ok(sub.buffered <= 2 * MAX);
      if (e.kind === 'append') {
        assert.ok(e.modseq > last, 'in modseq order');
        last = e.modseq;
        appends++;
      } else if (e.kind === 'resync') {
        resyncs++;
        dropped += e.dropped;
      } else assert.fail(`unexpected ${e.kind}`);
    }
    assert.equal(appends + dropped, N);
    assert.ok(resyncs >= 1 && dropped > 0, `resyncs ${resyncs}, dropped ${dropped}`);
    assert.equal(last <= done[N - 1]!.modseq, true);
    // the feed keeps working after a resync
    const r = await mb.append('INBOX', Buffer.from('Subject: after\r\n\r\nx\r\n'));
    const e = await nextEvent(sub);
    assert.deepEqual(e.kind === 'append' ? e.uid : e, r.uid);
    watcher.close();
    writer.close();
  } finally {
    await st.stop();
  }
});

test('subscription: taken while appends are in flight, it sees exactly the changes after its start', { timeout: 60_000 }, async () => {
  const st = await StoreThread.start({ dataDir: tmpData(), logLevel: 'silent' });
  try {
    await st.admin('domain.add', { name: 'example.org' });
    await st.admin('account.add', { address: 'cat@example.org', password: 'pw' });
    const watcher = new StoreClient(st.connect('watcher'));
    const writer = new StoreClient(st.connect('writer'));
    const mb = writer.mailbox('cat');
    await mb.status('INBOX'); // the mailbox actor is running
    for (let round = 0; round < 5; round++) {
      const appends = Array.from({ length: 40 }, (_, i) => mb.append('INBOX', Buffer.from(`Subject: ${round}.${i}\r\n\r\nx\r\n`)));
      const sub = await watcher.subscribe('cat', 'INBOX');
      const done = await Promise.all(appends);
      const want = done.filter((r) => r.modseq > sub.start.highestModseq).map((r) => r.uid);
      const got: number[] = [];
      while (got.length < want.length) {
        const e = await nextEvent(sub);
        if (e.kind === 'append') got.push(e.uid);
      }
      assert.deepEqual(got, want);
      await watcher.mailbox('cat').status('INBOX'); // a round trip: nothing more is on its way
      assert.equal(sub.buffered, 0);
      sub.close();
    }
    watcher.close();
    writer.close();
  } finally {
    await st.stop();
  }
});

test('subscription: removing the account ends it with a last "gone" event', { timeout: 60_000 }, async () => {
  const st = await StoreThread.start({ dataDir: tmpData(), logLevel: 'silent', infoIntervalMs: 50 });
  try {
    await st.admin('domain.add', { name: 'example.org' });
    await st.admin('account.add', { address: 'dan@example.org', password: 'pw' });
    const watcher = new StoreClient(st.connect('watcher'));
    const sub = await watcher.subscribe('dan', 'INBOX');
    await st.admin('account.remove', { address: 'dan@example.org' });
    const e = await nextEvent(sub);
    assert.deepEqual([e.kind, e.kind === 'gone' ? e.reason : null], ['gone', 'account_removed']);
    assert.deepEqual(await sub.next(), { value: undefined, done: true });
    assert.equal(sub.isClosed, true);
    await waitFor(() => subscriptions(st) === 0, 10_000, 'no subscription');
    watcher.close();
  } finally {
    await st.stop();
  }
});
