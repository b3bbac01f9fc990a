/**
 * test/store/relay-queue.test.ts: the queue's side of relayed mail (store/queue.ts claimRelay,
 * makeDueFor; store/queue-relay.ts relayOutcome), driven directly against a real store in a temp
 * directory: the claim rules (locals first; processing never gets relay-only entries and
 * smtpOutgoing never gets ones processing holds), leases and stale tokens, outcomes durable
 * (in the log file when the promise resolves; the store reopened from disk after each), the
 * retry schedule and giving up, the delay notice and bounce memory, makeDueFor, DONE,
 * compaction keeping relay state, and the operators' view. Time runs on a manual clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { deliver, type RetryPolicy } from '../../src/store/queue-deliver.ts';
import { relayOutcome } from '../../src/store/queue-relay.ts';
import { QREC_STATE, QREC_DONE, scanQueueRecords, type QueueEnvelope } from '../../src/store/queue-record.ts';
import { openStore, tmpData, withAccount } from './helpers.ts';
import type { Store } from '../../src/store/store.ts';
import type { RelayClaim } from '../../src/store/relay-types.ts';

const POLICY: RetryPolicy = { baseMs: 1000, maxMs: 8000, maxRetries: 3 };

function env(to: Array<[string, string | null]>, at: number): QueueEnvelope {
  return { from: 'ann@example.org', rcpts: to.map(([t, a]) => ({ to: t, account: a })), receivedAt: at, helo: 'c.example', ip: '127.0.0.1', by: 'mx.test', with: 'ESMTPA', tls: null, auth: 'ann@example.org', body: '7BIT', utf8: false };
}

function manualClock(t = 1_700_000_000_000): { t: number; now(): number } {
  return { t, now() { return this.t; } };
}

const body = (n: number | string): Buffer => Buffer.from(`Subject: r${n}\r\n\r\nrelay ${n}\r\n`);
const REMOTE = (u: string, d = 'far.example'): [string, null] => [`${u}@${d}`, null];

/** Every STATE/DONE record for `id` now in the queue's log files (what a crash would keep). */
function onDisk(dataDir: string, id: string): Array<{ type: number; rec: Record<string, unknown> }> {
  const dir = path.join(dataDir, 'store', 'queue');
  const out: Array<{ type: number; rec: Record<string, unknown> }> = [];
  for (const f of fs.readdirSync(dir).sort()) {
    for (const r of scanQueueRecords(fs.readFileSync(path.join(dir, f))).records) {
      if ((r.type === QREC_STATE || r.type === QREC_DONE) && r.rec.id === id) out.push({ type: r.type, rec: r.rec as unknown as Record<string, unknown> });
    }
  }
  return out;
}

async function reopen(store: Store, dataDir: string, clock: { now(): number }): Promise<Store> {
  await store.close();
  return (await openStore(dataDir, { queue: { clock } })).store;
}

test('claim rules: locals first; processing never gets relay-only entries, smtpOutgoing never gets one with a pending local', async () => {
  const clock = manualClock();
  const { store } = await withAccount({ queue: { clock } });
  const mixed = (await store.queue.enqueue(env([['ann@example.org', 'ann@example.org'], REMOTE('bob')], clock.t), body(1))).id;
  const remoteOnly = (await store.queue.enqueue(env([REMOTE('carl'), REMOTE('dora', 'other.example')], clock.t), body(2))).id;
  const relay1 = await store.queue.claimRelay(10, 60_000, 0);
  assert.deepEqual(relay1.map((c) => c.id), [remoteOnly], 'the mixed entry waits for its local recipient');
  assert.deepEqual(relay1[0]!.rcpts, [{ index: 0, to: 'carl@far.example' }, { index: 1, to: 'dora@other.example' }]);
  assert.equal(relay1[0]!.delayNotices, 0);
  assert.equal(relay1[0]!.attempts, 0);
  assert.ok(Buffer.from(relay1[0]!.body!).equals(body(2)), 'a small body travels with the claim');
  const local = await store.queue.claim(10, 60_000, 0);
  assert.deepEqual(local.map((c) => c.id), [mixed], 'processing gets only the entry with a local recipient');
  assert.deepEqual(await store.queue.claimRelay(10, 60_000, 0), [], 'not while processing holds it');
  const [r] = await deliver(store.queue, store, [{ id: mixed, token: local[0]!.token, prefix: '' }], POLICY);
  assert.equal(r!.status, 'waiting');
  const relay2 = await store.queue.claimRelay(10, 60_000, 0);
  assert.deepEqual(relay2.map((c) => [c.id, c.rcpts]), [[mixed, [{ index: 1, to: 'bob@far.example' }]]], 'claimed once its local is done: only its relay recipient');
  clock.t += 3_600_000; // every lease long gone
  assert.deepEqual(await store.queue.claim(10, 60_000, 0), [], 'processing never gets relay-only entries');
  await store.close();
});

test('a waiting claimRelay is woken when an entry becomes relay-due: new mail, locals done (makeDueFor: below)', async () => {
  const clock = manualClock();
  const { store } = await withAccount({ queue: { clock } });
  const settles = (p: Promise<RelayClaim[]>): { p: Promise<RelayClaim[]>; done: () => boolean } => {
    let d = false;
    return { p: p.finally(() => (d = true)), done: () => d };
  };
  // new relay-only mail
  let w = settles(store.queue.claimRelay(10, 60_000, 60_000));
  await new Promise((r) => setImmediate(r));
  assert.equal(w.done(), false);
  const a = (await store.queue.enqueue(env([REMOTE('a')], clock.t), body('a'))).id;
  assert.deepEqual((await w.p).map((c) => c.id), [a]);
  // a mixed entry whose local recipient is delivered
  const b = (await store.queue.enqueue(env([['ann@example.org', 'ann@example.org'], REMOTE('b')], clock.t), body('b'))).id;
  w = settles(store.queue.claimRelay(10, 60_000, 60_000));
  await new Promise((r) => setImmediate(r));
  assert.equal(w.done(), false, 'the mixed entry is not relay-due yet');
  const [c] = await store.queue.claim(10, 60_000, 0);
  await deliver(store.queue, store, [{ id: b, token: c!.token, prefix: '' }], POLICY);
  assert.deepEqual((await w.p).map((x) => x.id), [b]);
  // closing the queue ends a waiting claim with nothing
  w = settles(store.queue.claimRelay(10, 60_000, 60_000));
  await new Promise((r) => setImmediate(r));
  assert.equal(w.done(), false);
  await store.close();
  assert.deepEqual(await w.p, []);
});

test('leases: an unfinished relay claim comes back when its lease ends; the stale token records nothing', async () => {
  const clock = manualClock();
  const { store, dataDir } = await withAccount({ queue: { clock } });
  const id = (await store.queue.enqueue(env([REMOTE('a')], clock.t), body(1))).id;
  const t0 = clock.t;
  const [a] = await store.queue.claimRelay(10, 500, 0);
  assert.equal(a!.id, id);
  clock.t = t0 + 499;
  assert.deepEqual(await store.queue.claimRelay(10, 500, 0), [], 'leased');
  clock.t = t0 + 500;
  const [b] = await store.queue.claimRelay(10, 60_000, 0);
  assert.equal(b!.id, id, 'handed out again when the lease ends');
  assert.notEqual(b!.token, a!.token);
  const [stale] = await relayOutcome(store.queue, [{ id, token: a!.token, outcomes: [{ index: 0, status: 'delivered', why: '250 ok' }] }], POLICY);
  assert.equal(stale!.status, 'stale');
  assert.deepEqual(onDisk(dataDir, id), [], 'a stale outcome writes nothing');
  assert.equal(store.queue.list().length, 1);
  const [ok, twice] = await Promise.all([
    relayOutcome(store.queue, [{ id, token: b!.token, outcomes: [{ index: 0, status: 'delivered', why: '250 2.0.0 queued as X' }] }], POLICY),
    relayOutcome(store.queue, [{ id, token: b!.token, outcomes: [{ index: 0, status: 'delivered', why: '250 again' }] }], POLICY),
  ]);
  assert.deepEqual(ok, [{ id, status: 'done', attempts: 0 }]);
  assert.equal(twice![0]!.status, 'stale', 'a second call for the entry waits for the first, then finds it gone');
  assert.deepEqual(onDisk(dataDir, id), [{ type: QREC_DONE, rec: { id, why: 'delivered' } }]);
  const [gone] = await relayOutcome(store.queue, [{ id, token: b!.token, outcomes: [{ index: 0, status: 'delivered', why: '250' }] }], POLICY);
  assert.equal(gone!.status, 'stale', 'an entry that left the queue');
  await store.close();
});

test('outcomes are durable when the promise resolves, and survive reopening the store from disk', async () => {
  const clock = manualClock();
  const { store: s1, dataDir } = await withAccount({ queue: { clock } });
  const id = (await s1.queue.enqueue(env([REMOTE('a'), REMOTE('b'), REMOTE('c', 'slow.example')], clock.t), body(1))).id;
  const [c1] = await s1.queue.claimRelay(10, 60_000, 0);
  const [r1] = await relayOutcome(s1.queue, [{ id, token: c1!.token, outcomes: [
    { index: 0, status: 'delivered', why: '250 2.0.0 ok', remoteMta: 'dns; mx.far.example' },
    { index: 1, status: 'failed', why: '550 5.1.1 no such user', status3464: '5.1.1' },
    { index: 2, status: 'temp', why: '451 4.3.0 try later' },
  ], bounced: true }], POLICY);
  assert.deepEqual(r1, { id, status: 'deferred', attempts: 1, next: clock.t + 1000 });
  // in the log file already: no close, no lazy timer
  const recs = onDisk(dataDir, id);
  assert.equal(recs.length, 1);
  assert.deepEqual(recs[0]!.rec.r, [[0, 'delivered', '250 2.0.0 ok'], [1, 'failed', '550 5.1.1 no such user'], [2, 'relay', '451 4.3.0 try later']]);
  const s2 = await reopen(s1, dataDir, clock);
  const shown = await s2.queue.show(id);
  assert.deepEqual((shown.recipients as Array<Record<string, unknown>>).map((r) => [r.to, r.status, r.detail, r.bounced ?? false]), [
    ['a@far.example', 'delivered', '250 2.0.0 ok', false],
    ['b@far.example', 'failed', '550 5.1.1 no such user', true],
    ['c@slow.example', 'relay', '451 4.3.0 try later', false],
  ]);
  assert.deepEqual({ status: shown.status, attempts: shown.attempts, nextAttempt: shown.nextAttempt, lastError: shown.lastError }, {
    status: 'waiting for smtpOutgoing (deferred)', attempts: 1, nextAttempt: new Date(clock.t + 1000).toISOString(), lastError: '451 4.3.0 try later',
  });
  assert.deepEqual(await s2.queue.claimRelay(10, 60_000, 0), [], 'not due before its retry time, after the restart too');
  clock.t += 1000;
  const [c2] = await s2.queue.claimRelay(10, 60_000, 0);
  assert.deepEqual(c2!.rcpts, [{ index: 2, to: 'c@slow.example' }], 'only the recipient still to do');
  assert.equal(c2!.attempts, 1);
  const [r2] = await relayOutcome(s2.queue, [{ id, token: c2!.token, outcomes: [{ index: 2, status: 'delivered', why: '250 ok' }] }], POLICY);
  assert.equal(r2!.status, 'done');
  assert.deepEqual(onDisk(dataDir, id).at(-1), { type: QREC_DONE, rec: { id, why: 'failed' } }, 'DONE in the log at once (one recipient failed)');
  const s3 = await reopen(s2, dataDir, clock);
  assert.deepEqual(s3.queue.list(), [], 'the entry left the queue for good');
  assert.deepEqual(await s3.queue.claimRelay(10, 60_000, 0), []);
  await s3.close();
});

test('retry schedule: doubling from baseMs up to maxMs; past maxRetries the queue gives up (failed, told in gaveUp)', async () => {
  const clock = manualClock();
  const { store: s1, dataDir } = await withAccount({ queue: { clock } });
  const policy: RetryPolicy = { baseMs: 1000, maxMs: 3000, maxRetries: 4 };
  const id = (await s1.queue.enqueue(env([REMOTE('a'), REMOTE('b')], clock.t), body(1))).id;
  let store = s1;
  const delays: number[] = [];
  for (let n = 1; n <= 4; n++) {
    const [c] = await store.queue.claimRelay(10, 60_000, 0);
    assert.equal(c!.attempts, n - 1);
    const [r] = await relayOutcome(store.queue, [{ id, token: c!.token, outcomes: [{ index: 0, status: 'temp', why: `421 busy ${n}` }, { index: 1, status: 'temp', why: '421 busy' }] }], policy);
    assert.equal(r!.status, 'deferred');
    assert.equal(r!.attempts, n);
    delays.push(r!.next! - clock.t);
    store = await reopen(store, dataDir, clock); // each outcome from disk
    clock.t = r!.next! - 1;
    assert.deepEqual(await store.queue.claimRelay(10, 60_000, 0), [], '1 ms early');
    clock.t = r!.next!;
  }
  assert.deepEqual(delays, [1000, 2000, 3000, 3000]);
  const [c] = await store.queue.claimRelay(10, 60_000, 0);
  assert.equal(c!.attempts, 4, 'the caller sees attempts >= maxRetries: its last try');
  const [last] = await relayOutcome(store.queue, [{ id, token: c!.token, outcomes: [{ index: 0, status: 'temp', why: '421 still busy' }, { index: 1, status: 'delivered', why: '250 ok' }] }], policy);
  assert.deepEqual(last, { id, status: 'done', attempts: 5, gaveUp: [0] });
  store = await reopen(store, dataDir, clock);
  assert.deepEqual(store.queue.list(), []);
  await store.close();
});

test('delay notice sent once: remembered with the entry (claims say delayNotices), across a restart', async () => {
  const clock = manualClock();
  const { store: s1, dataDir } = await withAccount({ queue: { clock } });
  const id = (await s1.queue.enqueue(env([REMOTE('a')], clock.t), body(1))).id;
  const [c1] = await s1.queue.claimRelay(10, 60_000, 0);
  const [r1] = await relayOutcome(s1.queue, [{ id, token: c1!.token, outcomes: [{ index: 0, status: 'temp', why: '450 later' }], delayNotice: true }], POLICY);
  const s2 = await reopen(s1, dataDir, clock);
  clock.t = r1!.next!;
  const [c2] = await s2.queue.claimRelay(10, 60_000, 0);
  assert.equal(c2!.delayNotices, 1);
  assert.equal((await s2.queue.show(id)).delayNotices, 1);
  await relayOutcome(s2.queue, [{ id, token: c2!.token, outcomes: [{ index: 0, status: 'temp', why: '450 later' }] }], POLICY);
  const s3 = await reopen(s2, dataDir, clock);
  clock.t += 3_600_000;
  const [c3] = await s3.queue.claimRelay(10, 60_000, 0);
  assert.equal(c3!.delayNotices, 1, 'still one');
  assert.equal(c3!.attempts, 2);
  await s3.close();
});

test('makeDueFor: entries waiting for a recipient in that domain are due at once; others keep their time', async () => {
  const clock = manualClock();
  const { store } = await withAccount({ queue: { clock } });
  const ids: string[] = [];
  for (const [u, d] of [['a', 'down.example'], ['b', 'Down.Example'], ['c', 'other.example']] as const) ids.push((await store.queue.enqueue(env([[`${u}@${d}`, null]], clock.t), body(u))).id);
  const claimed = await store.queue.claimRelay(10, 60_000, 0);
  assert.equal(claimed.length, 3);
  await relayOutcome(store.queue, claimed.map((c) => ({ id: c.id, token: c.token, outcomes: [{ index: 0, status: 'temp' as const, why: '421 down' }] })), POLICY);
  assert.deepEqual(await store.queue.claimRelay(10, 60_000, 0), []);
  let woke = false;
  const waiting = store.queue.claimRelay(10, 60_000, 60_000).finally(() => (woke = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, false);
  assert.equal(store.queue.makeDueFor('down.example.'), 2);
  const got = await waiting;
  assert.deepEqual(got.map((c) => c.id).sort(), [ids[0], ids[1]].sort(), 'woken, with both entries for that domain');
  assert.equal(store.queue.makeDueFor('down.example'), 0, 'leased now: nothing waiting');
  assert.equal(store.queue.makeDueFor('nowhere.example'), 0);
  assert.throws(() => store.queue.makeDueFor(''), /domain/);
  await store.close();
});

test('a relay entry leased when the store stopped is due again at start; compaction keeps relay state', async () => {
  const clock = manualClock();
  const { store: s1, dataDir } = await withAccount({ queue: { clock, maxSegmentBytes: 2048, compactIntervalMs: 0 } });
  const a = (await s1.queue.enqueue(env([REMOTE('a'), REMOTE('a2')], clock.t), body('a'))).id;
  const [c] = await s1.queue.claimRelay(1, 3_600_000, 0);
  await relayOutcome(s1.queue, [{ id: a, token: c!.token, outcomes: [{ index: 0, status: 'failed', why: '550 no' }, { index: 1, status: 'temp', why: '451 later' }], bounced: true, delayNotice: true }], POLICY);
  for (let i = 0; i < 6; i++) { // fill segments with short-lived local mail, so the first one is mostly dead
    const { id } = await s1.queue.enqueue(env([['ann@example.org', 'ann@example.org']], clock.t), body(`x${i}${'x'.repeat(900)}`));
    const [l] = await s1.queue.claim(1, 60_000, 0);
    assert.equal(l!.id, id);
    await deliver(s1.queue, s1, [{ id, token: l!.token, prefix: '' }], POLICY);
  }
  clock.t += 10;
  await s1.queue.compact(); // (a leased entry would hold its segment back)
  const b = (await s1.queue.enqueue(env([REMOTE('b')], clock.t), body('b')))!.id;
  const [leased] = await s1.queue.claimRelay(1, 3_600_000, 0);
  assert.equal(leased!.id, b);
  const s2 = await reopen(s1, dataDir, clock);
  const shown = await s2.queue.show(a);
  assert.deepEqual((shown.recipients as Array<Record<string, unknown>>).map((r) => [r.status, r.bounced ?? false]), [['failed', true], ['relay', false]]);
  assert.deepEqual({ attempts: shown.attempts, delayNotices: shown.delayNotices }, { attempts: 1, delayNotices: 1 });
  const files = fs.readdirSync(path.join(dataDir, 'store', 'queue'));
  assert.ok(!files.includes('seg-00000001.log'), `the first segment was compacted away: ${files.join(' ')}`);
  const due = await s2.queue.claimRelay(10, 60_000, 0);
  assert.deepEqual(due.map((x) => x.id), [b], 'the entry leased at the stop is due at once; the deferred one is not');
  clock.t += 1000;
  const [again] = await s2.queue.claimRelay(10, 60_000, 0);
  assert.deepEqual({ id: again!.id, rcpts: again!.rcpts, attempts: again!.attempts, delayNotices: again!.delayNotices }, { id: a, rcpts: [{ index: 1, to: 'a2@far.example' }], attempts: 1, delayNotices: 1 });
  await s2.close();
});

test('operators: queue list shows relay entries with their attempts and next try; malformed outcomes are refused', async () => {
  const clock = manualClock();
  const { store } = await openStore(tmpData(), { queue: { clock } });
  const id = (await store.queue.enqueue(env([REMOTE('a')], clock.t), body(1))).id;
  assert.deepEqual(store.queue.list().map((x) => [x.status, x.attempts]), [['waiting for smtpOutgoing', 0]]);
  assert.equal(store.queue.metrics().waiting, 1);
  const [c] = await store.queue.claimRelay(10, 60_000, 0);
  await assert.rejects(relayOutcome(store.queue, [{ id, token: c!.token, outcomes: [{ index: 0, status: 'sent', why: 'x' }] }], POLICY), { code: 'STORE_BAD_ARGUMENT' });
  await assert.rejects(relayOutcome(store.queue, 'x', POLICY), { code: 'STORE_BAD_ARGUMENT' });
  await assert.rejects(relayOutcome(store.queue, [], { baseMs: -1 }), { code: 'STORE_BAD_ARGUMENT' });
  await relayOutcome(store.queue, [{ id, token: c!.token, outcomes: [{ index: 0, status: 'temp', why: '421 4.4.2 timeout\r\nx' }] }], POLICY);
  const [item] = store.queue.list();
  assert.deepEqual({ status: item!.status, attempts: item!.attempts, next: item!.nextAttempt, err: item!.lastError }, {
    status: 'waiting for smtpOutgoing (deferred)', attempts: 1, next: new Date(clock.t + 1000).toISOString(), err: '421 4.4.2 timeout x',
  });
  assert.equal(store.queue.metrics().waiting, 1);
  // an operator's retry makes it due now, durably
  await store.queue.retry(id);
  const [now] = await store.queue.claimRelay(10, 60_000, 0);
  assert.equal(now!.id, id);
  await store.close();
});
