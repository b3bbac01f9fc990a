/**
 * test/actor/actor.test.ts: behaviour of the in-thread Actor: order, bounded mailbox, ask
 * timeouts, failure as an exit (never an uncaught error), stop / kill, high and low water.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Actor } from '../../src/actor/actor.ts';
import type { ExitReason } from '../../src/actor/types.ts';
import { PosternError, isPosternError } from '../../src/errors.ts';
import { guardProcess, sleep, waitUntil } from './helpers.ts';

let guard: ReturnType<typeof guardProcess>;
beforeEach(() => {
  guard = guardProcess();
});
afterEach(async () => {
  await guard.check();
});

function code(e: unknown): string | undefined {
  return isPosternError(e) ? e.code : undefined;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

test('messages are handled one at a time, in order, async handlers awaited', async () => {
  const events: string[] = [];
  let inside = 0;
  const a = new Actor<number, number>({
    id: 'order',
    handler: async (n) => {
      inside++;
      assert.equal(inside, 1, 'never two handlers at once');
      events.push(`begin ${n}`);
      await sleep(n % 3);
      events.push(`end ${n}`);
      inside--;
      return n * 2;
    },
  });
  for (let i = 0; i < 5; i++) a.tell(i);
  const r = await a.ask(5);
  assert.equal(r, 10);
  assert.deepEqual(events, [0, 1, 2, 3, 4, 5].flatMap((n) => [`begin ${n}`, `end ${n}`]));
  await a.stop();
});

test('ask resolves with the handler value, sync and async', async () => {
  const a = new Actor<string, string>({ id: 'echo', handler: (m) => (m === 'async' ? Promise.resolve('A') : m.toUpperCase()) });
  assert.equal(await a.ask('x'), 'X');
  assert.equal(await a.ask('async'), 'A');
  await a.stop();
});

test('mailbox is bounded: tell throws and ask rejects ACTOR_BUSY, nothing grows', async () => {
  const handled: number[] = [];
  const a = new Actor<number, number>({ id: 'bounded', mailboxSize: 3, handler: (n) => (handled.push(n), n) });
  a.tell(1);
  a.tell(2);
  a.tell(3);
  assert.equal(a.depth, 3);
  assert.throws(() => a.tell(4), (e: unknown) => code(e) === 'ACTOR_BUSY' && (e as PosternError).retryable);
  assert.equal(a.tryTell(5), false);
  const busy = a.ask(6);
  assert.equal(a.depth, 3);
  assert.equal(a.info().mailboxCapacity, 3);
  assert.equal(code(await rejection(busy)), 'ACTOR_BUSY');
  await waitUntil(() => handled.length === 3);
  assert.deepEqual(handled, [1, 2, 3]);
  assert.equal(a.tryTell(7), true);
  assert.equal(await a.ask(8), 8);
  await a.stop();
});

test('ask timeout rejects ACTOR_TIMEOUT; the late reply is dropped, the actor lives on', async () => {
  let slowDone = false;
  const a = new Actor<number, number>({
    id: 'slow',
    handler: async (ms) => {
      await sleep(ms);
      if (ms > 0) slowDone = true;
      return ms;
    },
  });
  const t0 = performance.now();
  assert.equal(code(await rejection(a.ask(80, 20))), 'ACTOR_TIMEOUT');
  assert.ok(performance.now() - t0 < 75, 'rejected at the timeout, not at the reply');
  assert.equal(await a.ask(0), 0); // queued behind the slow one, which still completes
  assert.ok(slowDone);
  assert.equal(a.state, 'running');
  await a.stop();
});

test('a failing handler is an exit: asker gets ACTOR_EXITED with the cause, others ACTOR_STOPPED', async () => {
  const exits: ExitReason[] = [];
  const terminated: ExitReason[] = [];
  const a = new Actor<string, string>({
    id: 'fails',
    handler: async (m) => {
      await sleep(1);
      if (m === 'boom') throw new PosternError('NOT_IMPLEMENTED', 'nope');
      return m;
    },
    terminate: (r) => {
      terminated.push(r);
    },
  });
  a.onExit((r) => exits.push(r));
  const ok = a.ask('ok');
  const boom = a.ask('boom');
  const after = a.ask('after');
  assert.equal(await ok, 'ok');
  const e = await rejection(boom);
  assert.equal(code(e), 'ACTOR_EXITED');
  assert.equal((e as PosternError).details?.error && ((e as PosternError).details!.error as { code: string }).code, 'NOT_IMPLEMENTED');
  assert.ok(isPosternError((e as Error).cause, 'NOT_IMPLEMENTED'), 'cause attached');
  assert.equal(code(await rejection(after)), 'ACTOR_STOPPED');
  await waitUntil(() => exits.length === 1);
  assert.equal(exits[0]!.kind, 'error');
  assert.equal(exits[0]!.kind === 'error' && exits[0]!.error.code, 'NOT_IMPLEMENTED');
  assert.deepEqual(terminated, exits);
  assert.equal(a.state, 'stopped');
  assert.equal(a.info().lastError?.code, 'NOT_IMPLEMENTED');
  assert.throws(() => a.tell('x'), (err: unknown) => code(err) === 'ACTOR_STOPPED');
  const late = await new Promise<ExitReason>((r) => a.onExit(r)); // a listener after the exit is told too
  assert.deepEqual(late, exits[0]);
  assert.equal(exits.length, 1, 'onExit fires once');
});

test('a throwing handler reached by tell only exits cleanly (no uncaught error)', async () => {
  const exits: ExitReason[] = [];
  const a = new Actor<number>({
    id: 'tell-fail',
    handler: (n) => {
      if (n === 2) throw new Error('sync throw');
    },
  });
  a.onExit((r) => exits.push(r));
  a.tell(1);
  a.tell(2);
  a.tell(3);
  await waitUntil(() => exits.length === 1);
  assert.deepEqual(exits[0], { kind: 'error', error: { code: 'INTERNAL', message: 'sync throw', retryable: true } });
  let late: ExitReason | undefined;
  a.onExit((r) => (late = r)); // registered after the exit: still told
  await waitUntil(() => late !== undefined);
  assert.deepEqual(late, exits[0]);
});

test('stop finishes the message in progress, rejects the queue, runs terminate, fires onExit', async () => {
  const order: string[] = [];
  const a = new Actor<string, string>({
    id: 'stopper',
    handler: async (m) => {
      order.push(`start ${m}`);
      await sleep(20);
      order.push(`end ${m}`);
      return m;
    },
    terminate: (r) => {
      order.push(`terminate ${r.kind}`);
    },
  });
  a.onExit((r) => order.push(`exit ${r.kind}`));
  const first = a.ask('first');
  const second = a.ask('second');
  await waitUntil(() => order.length === 1);
  const stopped = a.stop();
  assert.equal(a.state, 'stopping');
  assert.equal(code(await rejection(second)), 'ACTOR_STOPPED');
  assert.equal(code(await rejection(a.ask('third'))), 'ACTOR_STOPPED');
  assert.equal(a.tryTell('fourth'), false);
  await stopped;
  assert.equal(await first, 'first');
  assert.deepEqual(order, ['start first', 'end first', 'terminate shutdown', 'exit shutdown']);
  assert.equal(a.state, 'stopped');
  await a.stop(); // idempotent
});

test('stop with a timeout kills a handler that does not finish', async () => {
  let terminated = false;
  let running = false;
  const a = new Actor<string>({ id: 'hang', handler: () => ((running = true), new Promise(() => {})), terminate: () => void (terminated = true) });
  a.tell('hang');
  await waitUntil(() => running, 2000, 'the handler in progress');
  const t0 = performance.now();
  await a.stop({ kind: 'shutdown' }, 30);
  assert.ok(performance.now() - t0 >= 25);
  assert.equal(a.exit?.kind === 'error' && a.exit.error.code, 'ACTOR_KILLED');
  assert.equal(terminated, false);
});

test('kill exits at once: no terminate, in-progress ask rejected ACTOR_STOPPED', async () => {
  let terminated = false;
  const exits: ExitReason[] = [];
  let running = false;
  const finished = Promise.withResolvers<void>();
  const a = new Actor<number, number>({ id: 'killme', handler: () => ((running = true), sleep(50).then(() => (finished.resolve(), 1))), terminate: () => void (terminated = true) });
  a.onExit((r) => exits.push(r));
  const p = a.ask(1);
  await waitUntil(() => running, 2000, 'the handler in progress');
  a.kill();
  assert.equal(a.state, 'stopped');
  assert.equal(code(await rejection(p)), 'ACTOR_STOPPED');
  assert.equal(exits.length, 1);
  assert.equal(exits[0]!.kind === 'error' && exits[0]!.error.code, 'ACTOR_KILLED');
  await finished.promise; // the abandoned handler finishes harmlessly
  assert.equal(terminated, false);
  a.kill();
  assert.equal(exits.length, 1);
});

test('ctx.stop from the handler is a normal exit after the current message', async () => {
  const exits: ExitReason[] = [];
  const a = new Actor<string, string>({
    id: 'self-stop',
    handler: (m, ctx) => {
      if (m === 'quit') ctx.stop();
      assert.equal(ctx.self.id, 'self-stop');
      return m;
    },
  });
  a.onExit((r) => exits.push(r));
  assert.equal(await a.ask('quit'), 'quit');
  await waitUntil(() => exits.length === 1);
  assert.deepEqual(exits, [{ kind: 'normal' }]);
});

test('init runs before messages; a failing init rejects Actor.start and exits', async () => {
  const seen: string[] = [];
  const a = await Actor.start<string, void>({ id: 'init', init: async () => void seen.push('init'), handler: (m) => void seen.push(m) });
  await a.ask('msg');
  assert.deepEqual(seen, ['init', 'msg']);
  await a.stop();
  const e = await rejection(Actor.start({ id: 'bad-init', init: () => Promise.reject(new PosternError('LISTEN_FAILED', 'port in use')), handler: () => 1 }));
  assert.equal(code(e), 'LISTEN_FAILED');
});

test('high-water and low-water hooks fire once per crossing', async () => {
  const marks: string[] = [];
  let gate!: () => void;
  const blocked = new Promise<void>((r) => (gate = r));
  const a = new Actor<number>({
    id: 'water',
    mailboxSize: 100,
    highWater: 8,
    onHighWater: () => marks.push(`high ${a.depth}`),
    onLowWater: () => marks.push(`low ${a.depth}`),
    handler: (n) => (n === 0 ? ((running = true), blocked) : undefined),
  });
  let running = false;
  a.tell(0);
  await waitUntil(() => running, 2000, 'message 0 in progress, blocking');
  for (let i = 1; i <= 10; i++) a.tell(i);
  assert.deepEqual(marks, ['high 8']);
  gate();
  await a.ask(99);
  assert.deepEqual(marks, ['high 8', 'low 4']);
  assert.deepEqual(a.info(), { id: 'water', kind: 'actor', state: 'running', mailboxDepth: 0, mailboxCapacity: 100, restarts: 0 });
  await a.stop();
});
