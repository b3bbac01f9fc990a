/**
 * test/actor/control.test.ts: control-plane calls with comlink (src/actor/control.ts) across a
 * real worker thread: values come back; a thrown PosternError keeps its code, retryable flag
 * and details (comlink alone keeps only the message); `bounded` gives a call a deadline
 * (ACTOR_TIMEOUT) and ends it when the far thread does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, Worker } from 'node:worker_threads';
import { bounded, controlProxy, releaseControl } from '../../src/actor/control.ts';
import { PosternError, isPosternError } from '../../src/errors.ts';
import type { TestControl } from './fixtures/control-worker.ts';

function spawn() {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./fixtures/control-worker.ts', import.meta.url), { workerData: { port: port2 }, transferList: [port2] });
  const ended = Promise.withResolvers<never>();
  ended.promise.catch(() => {});
  worker.once('exit', () => ended.reject(new PosternError('THREAD_EXITED', 'the control worker exited')));
  return { worker, ctl: controlProxy<TestControl>(port1), port1, ended: ended.promise };
}

test('comlink control calls: values, and errors with their code, flag and details', async () => {
  const { worker, ctl, port1 } = spawn();
  try {
    assert.deepEqual(await ctl.echo({ a: [1, 2], m: new Map([['k', 1]]) }), { a: [1, 2], m: new Map([['k', 1]]) });
    await assert.rejects(ctl.fail('STORE_NO_SUCH_DOMAIN'), (e: unknown) => {
      assert.ok(isPosternError(e, 'STORE_NO_SUCH_DOMAIN'), `rebuilt from its code: ${String(e)}`);
      assert.equal(e.retryable, false);
      assert.deepEqual(e.details, { asked: 'STORE_NO_SUCH_DOMAIN' });
      return true;
    });
    await assert.rejects(ctl.fail('QUEUE_ENTRY_BUSY'), (e: unknown) => isPosternError(e, 'QUEUE_ENTRY_BUSY') && e.retryable);
  } finally {
    releaseControl(ctl);
    port1.close();
    await worker.terminate();
  }
});

test('bounded: a deadline (ACTOR_TIMEOUT), and the far thread ending ends the call', async () => {
  const { worker, ctl, port1, ended } = spawn();
  try {
    await assert.rejects(bounded(ctl.sleep(2000), { timeoutMs: 30, what: 'test control' }), (e: unknown) => isPosternError(e, 'ACTOR_TIMEOUT'));
    assert.equal(await bounded(ctl.sleep(5), { timeoutMs: 5000, what: 'test control', ended }), 5);
    const t0 = Date.now();
    const inFlight = bounded(ctl.sleep(60_000), { timeoutMs: 30_000, what: 'test control', ended }).catch((e: unknown) => e);
    await worker.terminate();
    const e = await inFlight;
    assert.ok(isPosternError(e, 'THREAD_EXITED'), String(e));
    assert.ok(Date.now() - t0 < 20_000, 'ended by the exit, not the deadline');
  } finally {
    releaseControl(ctl);
    port1.close();
    await worker.terminate();
  }
});
