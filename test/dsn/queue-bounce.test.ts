/**
 * test/dsn/queue-bounce.test.ts: the store's delivery step (src/store/queue-deliver.ts) and its
 * DSNs, driven directly on a manual clock: a permanent failure's bounce is in the queue before
 * the failure is recorded, and when it cannot be queued (QUEUE_FULL) the failure is not
 * recorded (the recipient is tried, and bounced, later: never zero bounces); the bounce is
 * delivered like any message to a local sender; NOTIFY=SUCCESS gets a success report; the
 * policy's maxReturnBytes (processing's maxBounceReturnSize) cuts the original to its header.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliver, type DeliverItem, type RetryPolicy } from '../../src/store/queue-deliver.ts';
import { deliveryPrefix } from '../../src/store/received.ts';
import { withAccount } from '../store/helpers.ts';
import type { Store } from '../../src/store/store.ts';
import type { QueueEnvelope, QueueRcpt } from '../../src/store/queue-record.ts';

const POLICY: RetryPolicy = { baseMs: 20, maxMs: 1000, maxRetries: 3, delayNoticeAfter: 4 };

function clock(t = 1_700_000_000_000): { t: number; now(): number } {
  return { t, now() { return this.t; } };
}

function env(from: string, rcpts: QueueRcpt[], at: number, dsn?: QueueEnvelope['dsn']): QueueEnvelope {
  const e: QueueEnvelope = { from, rcpts, receivedAt: at, helo: 'c.example', ip: '127.0.0.1', by: 'mx.test', with: 'ESMTP', tls: null, auth: null, body: '7BIT', utf8: false };
  if (dsn !== undefined) e.dsn = dsn;
  return e;
}

async function runOnce(store: Store, policy = POLICY) {
  const claimed = await store.queue.claim(100, 10_000, 0);
  const items: DeliverItem[] = claimed.map((c) => ({ id: c.id, token: c.token, prefix: deliveryPrefix(c.id, c.env) }));
  return deliver(store.queue, store, items, policy);
}

async function inbox(store: Store, who: string): Promise<string[]> {
  const mb = store.mailbox(who);
  const out: string[] = [];
  for (const m of await mb.list('INBOX')) out.push(Buffer.from((await mb.fetch('INBOX', m.uid)).body).toString());
  return out;
}

test('no room for the bounce: the failure is not recorded; once there is room, bounce then record, and the sender gets it', async () => {
  const c = clock();
  const { store } = await withAccount({ queue: { clock: c, maxEntries: 2 } });
  const { id: relayId } = await store.queue.enqueue(env('x@remote.example', [{ to: 'far@remote.example', account: null }], c.t), Buffer.from('Subject: fills\r\n\r\nx\r\n'));
  const { id } = await store.queue.enqueue(env('ann@example.org', [{ to: 'gone@example.org', account: 'gone@example.org', dsn: { notify: null, orcpt: 'rfc822;gone@example.org' } }], c.t, { ret: null, envid: 'E1' }), Buffer.from('Subject: to nobody\r\n\r\nlost\r\n'));
  const [r1] = await runOnce(store);
  assert.equal(r1!.status, 'deferred', 'the bounce could not be queued (QUEUE_FULL): the failure waits');
  assert.match(String(r1!.error), /bounce could not be queued/);
  assert.deepEqual(store.queue.list().map((q) => q.id).sort(), [relayId, id].sort());
  await store.queue.remove(relayId);
  c.t = r1!.next!;
  const [r2] = await runOnce(store);
  assert.deepEqual({ status: r2!.status, failed: r2!.failed }, { status: 'done', failed: 1 });
  const left = store.queue.list();
  assert.deepEqual(left.map((q) => q.from), ['<>'], 'the bounce is queued, the failed message gone');
  const [r3] = await runOnce(store);
  assert.deepEqual({ status: r3!.status, delivered: r3!.delivered }, { status: 'done', delivered: 1 });
  const [report] = await inbox(store, 'ann@example.org');
  assert.match(report!, /^Return-Path: <>\r\n/);
  assert.match(report!, /^Original-Envelope-Id: E1\r$/m);
  assert.match(report!, /^Original-Recipient: rfc822; gone@example\.org\r$/m);
  assert.match(report!, /^Final-Recipient: rfc822; gone@example\.org\r$/m);
  assert.match(report!, /^Action: failed\r$/m);
  assert.match(report!, /^Status: 5\.1\.1\r$/m);
  assert.match(report!, /^Content-Type: message\/rfc822\r$/m, 'no RET: the whole (small) message');
  assert.match(report!, /^lost\r$/m);
  await store.close();
});

test('NOTIFY=SUCCESS: a success report after local delivery; NOTIFY=FAILURE: none', async () => {
  const c = clock();
  const { store } = await withAccount({ queue: { clock: c } });
  await store.directory.addAccount('bea@example.org', { password: 'x' });
  await store.queue.enqueue(env('bea@example.org', [{ to: 'ann@example.org', account: 'ann@example.org', dsn: { notify: ['SUCCESS'], orcpt: null } }], c.t), Buffer.from('Subject: ok\r\n\r\nfine\r\n'));
  await store.queue.enqueue(env('bea@example.org', [{ to: 'ann@example.org', account: 'ann@example.org', dsn: { notify: ['FAILURE'], orcpt: null } }], c.t), Buffer.from('Subject: quiet\r\n\r\nfine\r\n'));
  await runOnce(store);
  await runOnce(store); // the report
  assert.equal((await inbox(store, 'ann@example.org')).length, 2);
  const got = await inbox(store, 'bea@example.org');
  assert.equal(got.length, 1);
  assert.match(got[0]!, /^Subject: Successful Mail Delivery Report\r$/m);
  assert.match(got[0]!, /^Action: delivered\r$/m);
  assert.match(got[0]!, /^Status: 2\.0\.0\r$/m);
  assert.match(got[0]!, /^Content-Type: text\/rfc822-headers\r$/m);
  assert.deepEqual(store.queue.list(), []);
  await store.close();
});

test('maxReturnBytes (maxBounceReturnSize): a larger original comes back as its header only', async () => {
  const c = clock();
  const { store } = await withAccount({ queue: { clock: c } });
  await store.queue.enqueue(env('ann@example.org', [{ to: 'gone@example.org', account: 'gone@example.org' }], c.t, { ret: 'FULL', envid: null }), Buffer.from(`Subject: big\r\n\r\n${'y'.repeat(200)}\r\n`));
  await runOnce(store, { ...POLICY, maxReturnBytes: 100 });
  await runOnce(store);
  const [report] = await inbox(store, 'ann@example.org');
  assert.match(report!, /^Content-Type: text\/rfc822-headers\r$/m);
  assert.match(report!, /^Subject: big\r$/m);
  assert.doesNotMatch(report!, /yyyy/);
  await store.close();
});
