/**
 * test/store/local-delivery.test.ts: delivery at receipt (src/store/local-delivery.ts), driven
 * directly in the store's code: a local message is in the mailbox when the call resolves, with
 * the bytes and the stored structure the queue path gives (processing's prefix for the same id
 * and envelope), counted and logged as delivered; and the queue instead when processing is not
 * running, was stopped, for a remote recipient or a success DSN, for a structure of another
 * body, and when a copy cannot be appended (the copies that landed recorded as delivered, the
 * rest left to processing under the same id).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliverAtReceipt, localOnly, prepareCopy } from '../../src/store/local-delivery.ts';
import { deliver } from '../../src/store/queue-deliver.ts';
import { deliveryPrefix } from '../../src/store/received.ts';
import { processMessages } from '../../src/processing/task.ts';
import { openStore, tmpData, withAccount } from './helpers.ts';
import type { Store } from '../../src/store/store.ts';
import type { QueueEnvelope } from '../../src/store/queue-record.ts';

const POLICY = { baseMs: 20, maxMs: 1000, maxRetries: 3 };

function env(to: Array<[string, string | null]> = [['ann@example.org', 'ann@example.org']]): QueueEnvelope {
  return { from: 'bob@remote.example', rcpts: to.map(([t, a]) => ({ to: t, account: a })), receivedAt: 1_700_000_000_000, helo: 'c.example', ip: '127.0.0.1', by: 'mx.test', with: 'ESMTP', tls: null, auth: null, body: '7BIT', utf8: false };
}

const body = (n: number | string): Buffer => Buffer.from(`Message-ID: <m${n}@remote.example>\r\nSubject: m${n}\r\nContent-Type: text/plain\r\n\r\nbody ${n}\r\n`);

/** processing is running: one of its claims has just been made. */
const live = async (store: Store): Promise<void> => void (await store.queue.claim(1, 60_000, 0));

async function copies(store: Store, who = 'ann@example.org', folder = 'INBOX'): Promise<Array<{ text: string; uid: number; date: number }>> {
  const mb = store.mailbox(who);
  const out = [];
  for (const m of await mb.list(folder)) out.push({ text: Buffer.from((await mb.fetch(folder, m.uid)).body).toString(), uid: m.uid, date: m.internalDate });
  return out;
}

test('at receipt: the copy is durable when the call resolves, the bytes and the structure are the queue path\'s; counted and logged as delivered', async () => {
  const { store, log, dataDir } = await withAccount();
  await live(store);
  const e = env();
  const r = await deliverAtReceipt(store.queue, store, e, body(1), prepareCopy(body(1)));
  assert.equal(r.delivered, true);
  assert.match(r.id, /^[0-9A-Z]{12,}$/);
  assert.deepEqual(store.queue.list(), [], 'nothing left in the queue');
  const [c] = await copies(store);
  assert.equal(c!.text, deliveryPrefix(r.id, e) + body(1).toString());
  assert.equal(c!.date, e.receivedAt, 'the internal date is the receive time');
  assert.equal(store.queue.counters.received, 1);
  assert.equal(store.queue.counters.delivered, 1);
  const line = log.records.find((x) => x.msg === 'queue: delivered');
  assert.deepEqual({ id: line?.o.id, delivered: line?.o.delivered, messageId: line?.o.messageId, size: line?.o.size }, { id: r.id, delivered: 1, messageId: '<m1@remote.example>', size: body(1).length });

  // the same message through the queue (enqueue, processing's step, deliver): the same bytes
  // but for the id, and the same stored structure
  const { id } = await store.queue.enqueue(e, body(1));
  const [claimed] = await store.queue.claim(10, 60_000, 0);
  const [out] = await processMessages({ entries: [{ id: claimed!.id, env: claimed!.env, locator: claimed!.locator }] });
  assert.ok(out !== undefined && 'prefix' in out);
  await deliver(store.queue, store, [{ id, token: claimed!.token, prefix: out.prefix, info: out.info, structure: out.structure }], POLICY);
  const [a, b] = await copies(store);
  assert.equal(b!.text, a!.text.replace(r.id, id), 'the queued copy differs only by its id');
  const mb = store.mailbox('ann@example.org');
  const [sa, sb] = await mb.fetchStructure('INBOX', [a!.uid, b!.uid]);
  assert.deepEqual(sb!.structure, sa!.structure);
  await store.close();
  const again = (await openStore(dataDir)).store;
  assert.equal((await copies(again)).length, 2, 'both copies survive a restart');
  assert.deepEqual(again.queue.list(), []);
  await again.close();
});

test('at receipt: two recipients of one mailbox get one copy; a quarantined message goes to Junk', async () => {
  const { store } = await withAccount();
  await live(store);
  const r = await deliverAtReceipt(store.queue, store, env([['ann@example.org', 'ann@example.org'], ['ANN@example.org', 'ann@example.org']]), body(2), prepareCopy(body(2)));
  assert.equal(r.delivered, true);
  assert.equal((await copies(store)).length, 1);
  assert.equal(store.queue.counters.delivered, 2, 'recipients, as the queue counts them');
  const junk = { ...env(), junk: true as const };
  assert.equal((await deliverAtReceipt(store.queue, store, junk, body(3), prepareCopy(body(3)))).delivered, true);
  assert.equal((await copies(store, 'ann@example.org', 'Junk')).length, 1);
  assert.equal((await copies(store)).length, 1);
  await store.close();
});

test('the queue instead: processing not running, or stopped; a remote recipient; a success DSN; a structure of another body', async () => {
  const { store } = await withAccount();
  const queued = async (e: QueueEnvelope, b: Buffer, prepared: unknown = prepareCopy(b)): Promise<void> => {
    const before = store.queue.list().length;
    const r = await deliverAtReceipt(store.queue, store, e, b, prepared);
    assert.equal(r.delivered, false);
    assert.equal(store.queue.list().length, before + 1);
    assert.ok(store.queue.list().some((x) => x.id === r.id));
  };
  await queued(env(), body(1)); // no claim yet: processing may not run on this server
  await live(store);
  store.queue.release([]); // a stopping lane gives its leases back
  await queued(env(), body(2));
  await live(store);
  await queued(env([['ann@example.org', 'ann@example.org'], ['carl@remote.example', null]]), body(3));
  assert.equal(localOnly(env([['carl@remote.example', null]])), false);
  const success = env();
  success.rcpts[0]!.dsn = { notify: ['SUCCESS'], orcpt: null };
  await queued(success, body(4));
  await queued(env(), body(5), prepareCopy(body(56))); // (of another size)
  await queued(env(), body(7), null);
  assert.equal((await copies(store)).length, 0, 'nothing delivered at receipt');
  assert.equal(store.queue.counters.received, 6);
  assert.equal(store.queue.counters.delivered, 0);
  await store.close();
});

test('a copy that cannot be appended: the message is queued under the same id, the copies that landed recorded as delivered', async () => {
  const { store } = await openStore(tmpData());
  await store.directory.addDomain('example.org');
  await store.directory.addAccount('ann@example.org', { password: 'x' });
  await store.directory.addAccount('full@example.org', { password: 'x', quotaMessages: 0 });
  await live(store);
  const e = env([['ann@example.org', 'ann@example.org'], ['full@example.org', 'full@example.org']]);
  const r = await deliverAtReceipt(store.queue, store, e, body(1), prepareCopy(body(1)));
  assert.equal(r.delivered, false);
  assert.equal((await copies(store)).length, 1, 'ann has her copy');
  const [item] = store.queue.list();
  assert.equal(item!.id, r.id, 'queued under the id the copies name');
  assert.deepEqual(store.queue.get(r.id)!.st.r.map((x) => x.s), ['delivered', 'pending']);
  assert.equal(store.queue.counters.received, 1);
  assert.equal(store.queue.counters.delivered, 1);
  // processing takes the rest: only full@ is tried (and deferred: still full)
  const [c] = await store.queue.claim(10, 60_000, 0);
  const [res] = await deliver(store.queue, store, [{ id: c!.id, token: c!.token, prefix: deliveryPrefix(c!.id, c!.env) }], POLICY);
  assert.deepEqual({ status: res!.status, delivered: res!.delivered, deferred: res!.deferred }, { status: 'deferred', delivered: 0, deferred: 1 });
  assert.equal((await copies(store)).length, 1, 'no second copy for ann');
  await store.close();
});
