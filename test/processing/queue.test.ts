/**
 * test/processing/queue.test.ts: the mail queue in the store thread's code, driven directly:
 * enqueue → claim → deliver; recovery after close and after a torn tail; the "maybe attempted"
 * check that makes delivery exactly-once across a crash; leases; the retry schedule and giving
 * up; relayed recipients that wait; operators' list/show/retry/delete; compaction; QUEUE_FULL.
 * Leases and the retry schedule run on a manual clock (the queue's `clock` option): exact values,
 * no sleeping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { deliver, type DeliverItem, type RetryPolicy } from '../../src/store/queue-deliver.ts';
import { deliveryPrefix } from '../../src/store/received.ts';
import { isPosternError } from '../../src/errors.ts';
import { openStore, tmpData, withAccount } from '../store/helpers.ts';
import type { Store } from '../../src/store/store.ts';
import type { QueueEnvelope } from '../../src/store/queue-record.ts';

const FAST: RetryPolicy = { baseMs: 20, maxMs: 1000, maxRetries: 3 };

function env(to: Array<[string, string | null]> = [['ann@example.org', 'ann@example.org']], at = Date.now()): QueueEnvelope {
  return { from: 'bob@remote.example', rcpts: to.map(([t, a]) => ({ to: t, account: a })), receivedAt: at, helo: 'c.example', ip: '127.0.0.1', by: 'mx.test', with: 'ESMTP', tls: null, auth: null, body: '7BIT', utf8: false };
}

/** A manual clock for the queue: time moves only when a test sets `t`. */
function manualClock(t = 1_700_000_000_000): { t: number; now(): number } {
  return { t, now() { return this.t; } };
}

const body = (n: number | string): Buffer => Buffer.from(`Subject: m${n}\r\n\r\nbody ${n}\r\n`);

/** Claim everything due and deliver it with the prefix processing would use. */
async function runOnce(store: Store, policy = FAST) {
  const claimed = await store.queue.claim(100, 10_000, 0);
  const items: DeliverItem[] = claimed.map((c) => ({ id: c.id, token: c.token, prefix: deliveryPrefix(c.id, c.env) }));
  return deliver(store.queue, store, items, policy);
}

async function inbox(store: Store, who = 'ann@example.org'): Promise<string[]> {
  const mb = store.mailbox(who);
  const out: string[] = [];
  for (const m of await mb.list('INBOX')) out.push(Buffer.from((await mb.fetch('INBOX', m.uid)).body).toString());
  return out;
}

test('enqueue, claim, deliver: the copy has the prefix and the body; the entry leaves the queue', async () => {
  const { store, dataDir } = await withAccount();
  const { id } = await store.queue.enqueue(env(), body(1));
  assert.match(id, /^[0-9A-Z]{12,}$/);
  assert.equal(store.queue.list().length, 1);
  const [r] = await runOnce(store);
  assert.deepEqual({ status: r!.status, delivered: r!.delivered }, { status: 'done', delivered: 1 });
  const [copy] = await inbox(store);
  assert.ok(copy!.startsWith('Return-Path: <bob@remote.example>\r\nReceived: from c.example'));
  assert.ok(copy!.endsWith(body(1).toString()));
  assert.deepEqual(store.queue.list(), []);
  await store.close();
  const again = (await openStore(dataDir)).store;
  assert.deepEqual(again.queue.list(), [], 'a delivered entry does not come back after a restart');
  assert.equal((await inbox(again)).length, 1);
  await again.close();
});

test('recovery: queued entries survive a restart and are delivered once', async () => {
  const { store, dataDir } = await withAccount();
  for (let i = 0; i < 3; i++) await store.queue.enqueue(env(), body(i));
  await store.close();
  const { store: s2, log } = await openStore(dataDir);
  assert.equal(s2.queue.list().length, 3);
  assert.ok(log.records.some((r) => r.msg === 'queue recovery: opened' && r.o.entries === 3));
  const res = await runOnce(s2);
  assert.deepEqual(res.map((r) => r.status), ['done', 'done', 'done']);
  assert.equal((await inbox(s2)).length, 3);
  await s2.close();
});

test('exactly once: a copy written before a crash is found, not written again', async () => {
  const { store, dataDir } = await withAccount();
  const e = env();
  const { id } = await store.queue.enqueue(e, body('x'));
  // the crash window: the append is durable, the queue's DONE is not
  await store.mailbox('ann@example.org').append('INBOX', Buffer.concat([Buffer.from(deliveryPrefix(id, e)), body('x')]), { internalDate: e.receivedAt });
  await store.close();
  const s2 = (await openStore(dataDir)).store;
  const [r] = await runOnce(s2);
  assert.deepEqual({ status: r!.status, delivered: r!.delivered }, { status: 'done', delivered: 1 });
  assert.equal((await inbox(s2)).length, 1, 'the earlier copy counted; no second copy');
  // the control: a message that only looks similar is not mistaken for the copy
  const { id: id2 } = await s2.queue.enqueue(e, body('y'));
  await s2.mailbox('ann@example.org').append('INBOX', Buffer.concat([Buffer.from(deliveryPrefix(id2, e)), body('z')]), { internalDate: e.receivedAt });
  await s2.close();
  const s3 = (await openStore(dataDir)).store;
  await runOnce(s3);
  assert.equal((await inbox(s3)).length, 3);
  await s3.close();
});

test('leases: an unfinished claim is handed out again exactly when its lease ends; the stale token delivers nothing', async () => {
  const clock = manualClock();
  const { store } = await withAccount({ queue: { clock } });
  await store.queue.enqueue(env(undefined, clock.t), body(1));
  const t0 = clock.t;
  const [a] = await store.queue.claim(10, 30, 0);
  assert.ok(a !== undefined, 'due at once');
  assert.deepEqual(await store.queue.claim(10, 30, 0), [], 'leased');
  clock.t = t0 + 29;
  assert.deepEqual(await store.queue.claim(10, 30, 0), [], 'still leased 1 ms before the lease ends');
  clock.t = t0 + 30;
  const [b] = await store.queue.claim(10, 10_000, 0);
  assert.equal(b!.id, a.id, 'handed out again at exactly leaseMs');
  assert.notEqual(b!.token, a.token);
  const [stale] = await deliver(store.queue, store, [{ id: a.id, token: a.token, prefix: '' }], FAST);
  assert.equal(stale!.status, 'stale');
  const [ok] = await deliver(store.queue, store, [{ id: b!.id, token: b!.token, prefix: '' }], FAST);
  assert.equal(ok!.status, 'done');
  assert.equal((await inbox(store)).length, 1);
  await store.close();
});

test('a waiting claim is woken by new mail, and gets that mail', async () => {
  const { store } = await withAccount();
  let settled = false;
  const waiting = store.queue.claim(10, 10_000, 60_000).finally(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'nothing due: the claim waits');
  const { id } = await store.queue.enqueue(env(), body(1));
  await new Promise((r) => setImmediate(r)); // the woken claim's continuation runs in microtasks
  assert.equal(settled, true, 'the enqueue woke the claim (its 60 s wait did not run out)');
  const got = await waiting;
  assert.deepEqual(got.map((c) => c.id), [id]);
  await deliver(store.queue, store, got.map((c) => ({ id: c.id, token: c.token, prefix: deliveryPrefix(c.id, c.env) })), FAST);
  assert.equal((await inbox(store)).length, 1);
  await store.close();
});

test('temporary failure: retried on the doubling schedule, then given up after maxRetries', async () => {
  const clock = manualClock();
  const { store } = await openStore(tmpData(), { queue: { clock } });
  await store.directory.addDomain('example.org');
  await store.directory.addAccount('full@example.org', { password: 'x', quotaMessages: 0 });
  const { id } = await store.queue.enqueue(env([['full@example.org', 'full@example.org']], clock.t), body(1));
  const delays: number[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    const before = clock.t;
    const [r] = await runOnce(store);
    assert.equal(r!.status, 'deferred', `attempt ${attempt}`);
    assert.match(r!.error!, /^4\.2\.2 mailbox full/);
    delays.push(r!.next! - before);
    const item = store.queue.list()[0]!;
    assert.deepEqual({ status: item.status, attempts: item.attempts }, { status: 'deferred', attempts: attempt });
    assert.deepEqual(await store.queue.claim(10, 1000, 0), [], 'not due before its time');
    clock.t = r!.next! - 1;
    assert.deepEqual(await store.queue.claim(10, 1000, 0), [], 'not due 1 ms before its time');
    clock.t = r!.next!;
  }
  assert.deepEqual(delays, [20, 40, 80], 'baseMs, then doubling');
  const [last] = await runOnce(store);
  assert.deepEqual({ status: last!.status, failed: last!.failed }, { status: 'done', failed: 1 });
  const left = store.queue.list();
  assert.ok(!left.some((q) => q.id === id), `${id} gave up and left the queue`);
  assert.deepEqual(left.map((q) => [q.from, q.rcpts]), [['<>', 1]], 'its bounce (a DSN to the remote sender) waits for smtpOutgoing');
  await store.close();
});

test('relayed recipients wait for smtpOutgoing: never claimed, never dropped, kept across restarts', async () => {
  const { store, dataDir } = await withAccount();
  const { id } = await store.queue.enqueue(env([['ann@example.org', 'ann@example.org'], ['far@remote.example', null]]), body(1));
  const [r] = await runOnce(store);
  assert.deepEqual({ status: r!.status, delivered: r!.delivered }, { status: 'waiting', delivered: 1 });
  assert.deepEqual(await store.queue.claim(10, 1000, 0), []);
  const shown = await store.queue.show(id);
  assert.match(String(shown.status), /waiting for smtpOutgoing/);
  assert.deepEqual((shown.recipients as Array<{ to: string; status: string }>).map((x) => [x.to, x.status]), [['ann@example.org', 'delivered'], ['far@remote.example', 'relay']]);
  await store.close();
  const s2 = (await openStore(dataDir)).store;
  assert.equal(s2.queue.list().length, 1);
  assert.deepEqual(await s2.queue.claim(10, 1000, 0), [], 'the delivered local copy is not redone');
  assert.equal((await inbox(s2)).length, 1);
  await s2.close();
});

test('operators: list, show, retry, delete, and their errors', async () => {
  const { store } = await withAccount();
  const { id } = await store.queue.enqueue(env([['far@remote.example', null]]), Buffer.from('Subject: look\r\nX-A: 1\r\n\r\nbody\r\n'));
  const [item] = store.queue.list();
  assert.equal(item!.id, id);
  assert.equal(item!.from, 'bob@remote.example');
  const shown = await store.queue.show(id.toLowerCase());
  assert.deepEqual(shown.headers, ['Subject: look', 'X-A: 1']);
  const retried = await store.queue.retry(id);
  assert.equal(retried.id, id);
  await store.queue.remove(id);
  assert.deepEqual(store.queue.list(), []);
  for (const op of [() => store.queue.show(id), () => store.queue.retry(id), () => store.queue.remove('NOPE')]) {
    await assert.rejects(op(), (e) => isPosternError(e, 'QUEUE_NO_SUCH_ENTRY'));
  }
  await store.close();
});

test('compaction: sealed segments go once their live entries moved forward; nothing comes back', async () => {
  const { store, dataDir } = await withAccount({ queue: { maxSegmentBytes: 2048, compactIntervalMs: 0 } });
  const { id: keep } = await store.queue.enqueue(env([['far@remote.example', null]]), body('keep'));
  for (let i = 0; i < 40; i++) await store.queue.enqueue(env(), body(`${i}${'x'.repeat(200)}`));
  const dir = path.join(dataDir, 'store', 'queue');
  await store.queue.compact();
  const before = fs.readdirSync(dir).length;
  assert.ok(before > 4, `segments while their mail is pending: ${before}`);
  await runOnce(store);
  await store.queue.compact();
  const after = fs.readdirSync(dir).length;
  assert.ok(after <= 2, `segments after: ${after}`);
  await store.close();
  const s2 = (await openStore(dataDir)).store;
  assert.deepEqual(s2.queue.list().map((x) => x.id), [keep]);
  assert.deepEqual((await s2.queue.show(keep)).headers, ['Subject: mkeep']);
  assert.equal((await inbox(s2)).length, 40);
  await s2.close();
});

test('a torn tail is cut at recovery; what was written whole is kept', async () => {
  const { store, dataDir } = await withAccount();
  await store.queue.enqueue(env(), body(1));
  await store.queue.enqueue(env(), body(2));
  await store.close();
  const dir = path.join(dataDir, 'store', 'queue');
  const seg = path.join(dir, fs.readdirSync(dir).sort().pop()!);
  fs.appendFileSync(seg, Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 0x21, 9, 9]));
  const { store: s2, log } = await openStore(dataDir);
  assert.equal(s2.queue.list().length, 2);
  assert.ok(log.records.some((r) => r.level === 'warn' && r.msg.startsWith('queue recovery: torn')));
  await s2.queue.enqueue(env(), body(3));
  await runOnce(s2);
  assert.equal((await inbox(s2)).length, 3);
  await s2.close();
});

test('QUEUE_FULL at maxEntries; a malformed envelope is refused', async () => {
  const { store } = await withAccount({ queue: { maxEntries: 2 } });
  await store.queue.enqueue(env(), body(1));
  await store.queue.enqueue(env(), body(2));
  await assert.rejects(store.queue.enqueue(env(), body(3)), (e) => isPosternError(e, 'QUEUE_FULL'));
  await assert.rejects(store.queue.enqueue({ from: 1, rcpts: [] }, body(4)), (e) => isPosternError(e, 'STORE_BAD_ARGUMENT'));
  await store.close();
});
