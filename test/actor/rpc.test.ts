/**
 * test/actor/rpc.test.ts: the port-RPC (src/actor/rpc.ts) over a MessageChannel, and across a
 * real worker thread: replies matched by id whatever their order, error codes and details
 * surviving the hop, deadlines (ACTOR_TIMEOUT, the late reply dropped), notes and pushes in
 * order beside the replies, transfers, an uncloneable reply answered as an error, and the port
 * closing under either side (calls in flight end at once with the client's closed code, the
 * server lets go).
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { RpcClient, serveRpc, transferring } from '../../src/actor/rpc.ts';
import { RemoteRef } from '../../src/actor/remote.ts';
import { PosternError, isPosternError } from '../../src/errors.ts';
import type { RemoteMsg } from './fixtures/remote-worker.ts';
import { guardProcess, sleep, waitUntil } from './helpers.ts';

let guard: ReturnType<typeof guardProcess>;
beforeEach(() => {
  guard = guardProcess();
});
afterEach(async () => {
  await guard.check();
});

type Call = { op: 'echo'; v: unknown; after?: number } | { op: 'fail'; sync: boolean } | { op: 'plain' } | { op: 'fn' } | { op: 'buf'; b: Uint8Array } | { op: 'never' };

async function rejection(p: Promise<unknown>): Promise<PosternError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PosternError, `rebuilt as a PosternError: ${String(e)}`);
    return e;
  }
  throw new Error('expected a rejection');
}

function pair(opts: { timeoutMs?: number } = {}) {
  const { port1, port2 } = new MessageChannel();
  const notes: unknown[] = [];
  const pushes: unknown[] = [];
  let serverSawClose = 0;
  let kept: Uint8Array | null = null;
  const server = serveRpc<Call, string, string>(port2, (m) => {
    switch (m.op) {
      case 'echo':
        return m.after === undefined ? m.v : sleep(m.after).then(() => m.v);
      case 'fail':
        if (m.sync) throw new PosternError('STORE_QUOTA_EXCEEDED', 'over quota', { limit: 3 });
        return Promise.reject(new PosternError('QUEUE_FULL', 'queue full'));
      case 'plain':
        throw new TypeError('not a PosternError');
      case 'fn':
        return { f: () => 1 }; // cannot be cloned
      case 'buf':
        kept = m.b;
        return transferring(m.b, [m.b.buffer as ArrayBuffer]);
      case 'never':
        return new Promise(() => {});
    }
  }, { onNote: (n) => notes.push(n), onPortClose: () => serverSawClose++ });
  const client = new RpcClient<Call | string, string>(port1, { name: 'test', timeoutMs: opts.timeoutMs ?? 5000, closedCode: 'STORE_CLOSED', onPush: (p) => pushes.push(p) });
  return { port1, port2, server, client, notes, pushes, serverSawClose: () => serverSawClose, kept: () => kept };
}

test('replies are matched by id whatever order they come back in', async () => {
  const { client, port2 } = pair();
  try {
    const order: number[] = [];
    const calls = [40, 0, 20, 5, 30].map((after, i) => client.call<number>({ op: 'echo', v: i, after }).then((v) => (order.push(v), v)));
    assert.deepEqual(await Promise.all(calls), [0, 1, 2, 3, 4]);
    assert.deepEqual(order, [1, 3, 2, 4, 0]); // the order the handler finished in
    assert.equal(client.inFlight, 0);
  } finally {
    client.close();
    port2.close();
  }
});

test('errors cross as data: code, retryable flag and details survive; anything else is INTERNAL', async () => {
  const { client, port2 } = pair();
  try {
    const sync = await rejection(client.call({ op: 'fail', sync: true }));
    assert.equal(sync.code, 'STORE_QUOTA_EXCEEDED');
    assert.equal(sync.retryable, false);
    assert.deepEqual(sync.details, { limit: 3 });
    const async = await rejection(client.call({ op: 'fail', sync: false }));
    assert.equal(async.code, 'QUEUE_FULL');
    assert.equal(async.retryable, true);
    assert.equal((await rejection(client.call({ op: 'plain' }))).code, 'INTERNAL');
    // a value that cannot be cloned is answered as an error, not left unanswered
    assert.equal((await rejection(client.call({ op: 'fn' }))).code, 'INTERNAL');
    assert.equal(await client.call({ op: 'echo', v: 'still fine' }), 'still fine');
  } finally {
    client.close();
    port2.close();
  }
});

test('a call past its deadline rejects ACTOR_TIMEOUT and its late reply is dropped', async () => {
  const { client, port2 } = pair({ timeoutMs: 20 });
  try {
    const e = await rejection(client.call({ op: 'echo', v: 'late', after: 120 }));
    assert.equal(e.code, 'ACTOR_TIMEOUT');
    assert.equal(client.inFlight, 0);
    assert.equal(await client.call({ op: 'echo', v: 'next', after: 150 }, 5000), 'next'); // the late one came and went meanwhile
  } finally {
    client.close();
    port2.close();
  }
});

test('notes reach the server and pushes the client, in order beside the calls', async () => {
  const { client, server, port2, notes, pushes } = pair();
  try {
    client.notify('a');
    client.notify('b');
    assert.equal(await client.call({ op: 'echo', v: 1 }), 1);
    assert.deepEqual(notes, ['a', 'b']); // posted before the call: handled before its reply
    assert.ok(server.push('x'));
    assert.ok(server.push('y'));
    assert.equal(await client.call({ op: 'echo', v: 2 }), 2);
    assert.deepEqual(pushes, ['x', 'y']);
  } finally {
    client.close();
    port2.close();
  }
});

test('a call can move a buffer; a handler can move it back', async () => {
  const { client, port2, kept } = pair();
  try {
    const b = new Uint8Array([1, 2, 3]);
    const back = await client.call<Uint8Array>({ op: 'buf', b }, undefined, [b.buffer]);
    assert.equal(b.byteLength, 0, 'moved, not copied');
    assert.deepEqual([...back], [1, 2, 3]);
    assert.equal(kept()!.byteLength, 0, 'moved back too');
  } finally {
    client.close();
    port2.close();
  }
});

test('the port closing ends calls in flight at once with the closed code; the server lets go', async () => {
  const a = pair({ timeoutMs: 60_000 });
  const inFlight = a.client.call({ op: 'never' });
  assert.equal(await a.client.call({ op: 'echo', v: 0 }), 0); // answered after it: 'never' is on the server
  a.port2.close(); // the serving side goes away
  const e = await rejection(inFlight);
  assert.equal(e.code, 'STORE_CLOSED');
  assert.equal(a.client.isClosed, true);
  assert.equal((await rejection(a.client.call({ op: 'echo', v: 1 }))).code, 'STORE_CLOSED');
  assert.throws(() => a.client.notify('x'), (err: unknown) => isPosternError(err, 'STORE_CLOSED'));
  await waitUntil(() => a.serverSawClose() === 1, 2000, 'the server saw its port close');

  const b = pair();
  const pending = b.client.call({ op: 'never' });
  b.client.close();
  assert.equal((await rejection(pending)).code, 'STORE_CLOSED');
  await waitUntil(() => b.serverSawClose() === 1, 2000, 'the server saw the client close its port');
  assert.equal(b.server.push('nobody'), false);
});

test('across a worker thread: a terminated thread ends asks in flight at once (ACTOR_STOPPED), not at their deadline', async () => {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./fixtures/remote-worker.ts', import.meta.url), { workerData: { port: port2 }, transferList: [port2] });
  const ref = new RemoteRef<RemoteMsg, unknown>(port1, 'fixture');
  try {
    assert.equal(await ref.ask({ op: 'echo', v: 'up' }, 10_000), 'up');
    const t0 = performance.now();
    const ended = rejection(ref.ask({ op: 'sleep', ms: 60_000 }, 30_000));
    await worker.terminate();
    const e = await ended;
    assert.equal(e.code, 'ACTOR_STOPPED');
    assert.ok(performance.now() - t0 < 25_000, 'ended by the port closing, not by the 30 s deadline');
    assert.throws(() => ref.tell({ op: 'add', n: 1 }), (err: unknown) => isPosternError(err, 'ACTOR_STOPPED'));
  } finally {
    ref.close();
    await worker.terminate();
  }
});

test('a flat client (its messages are objects of its own protocol) is answered the same', async () => {
  const { port1, port2 } = new MessageChannel();
  const seen: unknown[] = [];
  serveRpc<{ op: string; v: number }>(port2, (m) => {
    seen.push(m.op);
    if (m.v < 0) throw new PosternError('STORE_BAD_ARGUMENT', 'negative');
    return m.v * 2;
  });
  const client = new RpcClient<{ op: string; v: number }>(port1, { name: 'flat', flat: true });
  try {
    assert.deepEqual(await Promise.all([client.call({ op: 'a', v: 1 }), client.call({ op: 'b', v: 20 })]), [2, 40]);
    assert.equal((await rejection(client.call({ op: 'c', v: -1 }))).code, 'STORE_BAD_ARGUMENT');
    assert.deepEqual(seen, ['a', 'b', 'c']);
  } finally {
    client.close();
    port2.close();
  }
});
