/**
 * test/actor/remote.test.ts: RemoteRef ↔ serveActor across a real worker thread: tell order,
 * ask replies, timeouts, and error codes (ACTOR_BUSY, ACTOR_EXITED with its cause's code,
 * ACTOR_STOPPED after the far actor exits) surviving the hop.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { RemoteRef } from '../../src/actor/remote.ts';
import type { ExitReason } from '../../src/actor/types.ts';
import { PosternError, isPosternError } from '../../src/errors.ts';
import type { RemoteMsg } from './fixtures/remote-worker.ts';
import { guardProcess, waitUntil } from './helpers.ts';

let guard: ReturnType<typeof guardProcess>;
beforeEach(() => {
  guard = guardProcess();
});
afterEach(async () => {
  await guard.check();
});

const FIXTURE = new URL('./fixtures/remote-worker.ts', import.meta.url);

function spawn(mailboxSize?: number): { ref: RemoteRef<RemoteMsg, unknown>; worker: Worker } {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(FIXTURE, { workerData: { port: port2, mailboxSize }, transferList: [port2] });
  return { ref: new RemoteRef<RemoteMsg, unknown>(port1, 'fixture'), worker };
}

async function rejection(p: Promise<unknown>): Promise<PosternError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PosternError, 'rebuilt as a PosternError');
    return e;
  }
  throw new Error('expected a rejection');
}

test('tell and ask across a worker thread keep order and carry values', async () => {
  const { ref, worker } = spawn();
  try {
    for (let i = 1; i <= 100; i++) ref.tell({ op: 'add', n: i });
    assert.equal(await ref.ask({ op: 'sum' }), 5050);
    assert.deepEqual(await ref.ask({ op: 'echo', v: { a: [1, 2], d: new Date(0), m: new Map([['k', 1]]) } }), {
      a: [1, 2],
      d: new Date(0),
      m: new Map([['k', 1]]),
    });
    assert.equal(ref.inFlight, 0);
  } finally {
    ref.close();
    await worker.terminate();
  }
});

test('remote ask timeout rejects ACTOR_TIMEOUT and the late reply is dropped', async () => {
  const { ref, worker } = spawn();
  try {
    const e = await rejection(ref.ask({ op: 'sleep', ms: 150 }, 20));
    assert.equal(e.code, 'ACTOR_TIMEOUT');
    assert.equal(ref.inFlight, 0);
    assert.equal(await ref.ask({ op: 'echo', v: 'after' }), 'after'); // queued behind the sleep
  } finally {
    ref.close();
    await worker.terminate();
  }
});

test('ACTOR_BUSY from the far mailbox survives the hop', async () => {
  const { ref, worker } = spawn(1);
  try {
    await ref.ask({ op: 'echo', v: 'ready' });
    const results = await Promise.allSettled([ref.ask({ op: 'sleep', ms: 30 }), ref.ask({ op: 'echo', v: 1 }), ref.ask({ op: 'echo', v: 2 })]);
    assert.equal(results[0]!.status, 'fulfilled');
    const busy = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as unknown);
    assert.ok(busy.length >= 1, 'at least one ask found the mailbox full');
    for (const e of busy) {
      assert.ok(isPosternError(e, 'ACTOR_BUSY'));
      assert.equal((e as PosternError).retryable, true);
    }
  } finally {
    ref.close();
    await worker.terminate();
  }
});

test('a far handler failure arrives as ACTOR_EXITED with the cause code; then ACTOR_STOPPED', async () => {
  const { ref, worker } = spawn();
  const exits: ExitReason[] = [];
  ref.onExit((r) => exits.push(r));
  try {
    const e = await rejection(ref.ask({ op: 'fail', code: 'NOT_IMPLEMENTED' }));
    assert.equal(e.code, 'ACTOR_EXITED');
    assert.equal((e.details?.error as { code: string } | undefined)?.code, 'NOT_IMPLEMENTED');
    await waitUntil(() => exits.length === 1);
    assert.equal(exits[0]!.kind === 'error' && exits[0]!.error.code, 'NOT_IMPLEMENTED');
    assert.equal((await rejection(ref.ask({ op: 'sum' }))).code, 'ACTOR_STOPPED');
    assert.throws(() => ref.tell({ op: 'add', n: 1 }), (err: unknown) => isPosternError(err, 'ACTOR_STOPPED'));
  } finally {
    ref.close();
    await worker.terminate();
  }
});

test('close rejects asks in flight with ACTOR_STOPPED', async () => {
  const { ref, worker } = spawn();
  try {
    const p = ref.ask({ op: 'sleep', ms: 100 });
    ref.close();
    assert.equal((await rejection(p)).code, 'ACTOR_STOPPED');
    assert.equal((await rejection(ref.ask({ op: 'sum' }))).code, 'ACTOR_STOPPED');
  } finally {
    await worker.terminate();
  }
});
