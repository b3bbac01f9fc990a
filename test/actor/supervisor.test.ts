/**
 * test/actor/supervisor.test.ts: OTP supervisor semantics: strategies with restart order,
 * restart types, intensity escalation to a parent, start backoff, non-retryable start
 * failures, shutdown modes, the dynamic child API.
 */
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Actor, killedError } from '../../src/actor/actor.ts';
import { Supervisor } from '../../src/actor/supervisor.ts';
import type { ActorInfo, Child, ChildSpec, ExitReason, RestartType, Shutdown, SupervisorLog } from '../../src/actor/types.ts';
import { PosternError, isPosternError } from '../../src/errors.ts';
import { guardProcess, manualClock, waitUntil } from './helpers.ts';

let guard: ReturnType<typeof guardProcess>;
beforeEach(() => {
  guard = guardProcess();
});
afterEach(async () => {
  await guard.check();
});

type Msg = 'crash' | 'quit' | 'ping';

function label(r: ExitReason): string {
  return r.kind === 'error' ? r.error.code : r.kind;
}

/** A worker spec whose actor logs its start and its exit. */
function spec(log: string[], id: string, restart: RestartType = 'permanent', shutdown: Shutdown = 500): ChildSpec {
  return {
    id,
    restart,
    shutdown,
    start: () => {
      log.push(`start ${id}`);
      const a = new Actor<Msg, string>({
        id,
        handler: (m, ctx) => {
          if (m === 'crash') throw new Error(`${id} crashed`);
          if (m === 'quit') ctx.stop();
          return id;
        },
      });
      a.onExit((r) => log.push(`exit ${id} ${label(r)}`));
      return a;
    },
  };
}

function child(sup: Supervisor, id: string): Actor<Msg, string> {
  const c = sup.whichChildren().find((x) => x.id === id)?.child;
  assert.ok(c instanceof Actor, `child ${id} is running`);
  return c as Actor<Msg, string>;
}

/** A supervisor log that keeps each restart decision ('child exited': child id → restart?). */
function decisionLog(): SupervisorLog & { decisions: Array<[string, boolean]> } {
  const decisions: Array<[string, boolean]> = [];
  const note = (o: object, msg?: string): void => {
    const x = o as { child?: string; restart?: boolean };
    if (msg === 'child exited' && x.child !== undefined && x.restart !== undefined) decisions.push([x.child, x.restart]);
  };
  return { decisions, info: note, warn: note, error: note };
}

function infoOf(sup: Supervisor, id: string): ActorInfo {
  const i = sup.info().children?.find((c) => c.id === id);
  assert.ok(i, `info for ${id}`);
  return i;
}

/** A child that ignores stop(): only kill() ends it. */
class Stubborn implements Child {
  readonly id: string;
  private readonly listeners: Array<(r: ExitReason) => void> = [];
  constructor(id: string) {
    this.id = id;
  }
  onExit(l: (r: ExitReason) => void): void {
    this.listeners.push(l);
  }
  stop(): Promise<void> {
    return new Promise(() => {});
  }
  kill(): void {
    for (const l of this.listeners.splice(0)) l({ kind: 'error', error: killedError(this.id) });
  }
  info(): ActorInfo {
    return { id: this.id, kind: 'stubborn', state: 'running', mailboxDepth: 0, mailboxCapacity: 0, restarts: 0 };
  }
}

test('one_for_one restarts only the child that failed', async () => {
  const log: string[] = [];
  const sup = new Supervisor({ id: 'ofo', strategy: 'one_for_one', children: ['a', 'b', 'c'].map((id) => spec(log, id)) });
  await sup.start();
  const [a, c] = [child(sup, 'a'), child(sup, 'c')];
  log.length = 0;
  child(sup, 'b').tell('crash');
  await waitUntil(() => log.length === 2);
  assert.deepEqual(log, ['exit b INTERNAL', 'start b']);
  assert.equal(child(sup, 'a'), a);
  assert.equal(child(sup, 'c'), c);
  assert.equal(await child(sup, 'b').ask('ping'), 'b');
  assert.equal(infoOf(sup, 'b').restarts, 1);
  assert.equal(infoOf(sup, 'b').lastError?.code, 'INTERNAL');
  assert.equal(infoOf(sup, 'a').restarts, 0);
  await sup.stop();
  assert.deepEqual(log.slice(2), ['exit c shutdown', 'exit b shutdown', 'exit a shutdown']);
});

test('one_for_all stops the others in reverse order, then restarts all in order', async () => {
  const log: string[] = [];
  const sup = new Supervisor({ id: 'ofa', strategy: 'one_for_all', children: ['a', 'b', 'c'].map((id) => spec(log, id)) });
  await sup.start();
  log.length = 0;
  child(sup, 'b').tell('crash');
  await waitUntil(() => log.length === 6);
  assert.deepEqual(log, ['exit b INTERNAL', 'exit c shutdown', 'exit a shutdown', 'start a', 'start b', 'start c']);
  assert.deepEqual(sup.info().children?.map((c) => [c.id, c.state, c.restarts]), [
    ['a', 'running', 1],
    ['b', 'running', 1],
    ['c', 'running', 1],
  ]);
  await sup.stop();
});

test('rest_for_one restarts the failed child and those started after it', async () => {
  const log: string[] = [];
  const sup = new Supervisor({ id: 'rfo', strategy: 'rest_for_one', children: ['a', 'b', 'c', 'd'].map((id) => spec(log, id)) });
  await sup.start();
  const a = child(sup, 'a');
  log.length = 0;
  child(sup, 'b').tell('crash');
  await waitUntil(() => log.length === 6);
  assert.deepEqual(log, ['exit b INTERNAL', 'exit d shutdown', 'exit c shutdown', 'start b', 'start c', 'start d']);
  assert.equal(child(sup, 'a'), a);
  await sup.stop();
});

test('simple_one_for_one: startChild(args) with auto ids; restarts keep id and args', async () => {
  const log: string[] = [];
  const template: ChildSpec<[string]> = {
    id: 'conn',
    restart: 'transient',
    shutdown: 100,
    start: (name: string) => {
      log.push(`start ${name}`);
      return new Actor<Msg, string>({ id: name, handler: (m, ctx) => (m === 'crash' ? Promise.reject(new Error('x')) : (m === 'quit' && ctx.stop(), name)) });
    },
  };
  const sup = new Supervisor({ id: 'pool', strategy: 'simple_one_for_one', children: [template] });
  await sup.start();
  assert.deepEqual(sup.whichChildren(), []);
  const x = (await sup.startChild('x')) as Actor<Msg, string>;
  await sup.startChild('y');
  assert.deepEqual(sup.whichChildren().map((c) => c.id), ['conn-1', 'conn-2']);
  assert.equal(await x.ask('ping'), 'x');
  x.tell('crash');
  await waitUntil(() => log.length === 3);
  assert.deepEqual(log, ['start x', 'start y', 'start x']);
  assert.equal(await child(sup, 'conn-1').ask('ping'), 'x');
  child(sup, 'conn-2').tell('quit'); // transient, normal exit: removed
  await waitUntil(() => sup.whichChildren().length === 1);
  assert.deepEqual(sup.whichChildren().map((c) => c.id), ['conn-1']);
  await sup.terminateChild('conn-1');
  assert.deepEqual(sup.whichChildren(), []);
  await sup.stop();

  const tmp = new Supervisor({ id: 'tmp', strategy: 'simple_one_for_one', children: [{ ...spec(log, 'w', 'temporary'), id: 'w' }] });
  await tmp.start();
  const w = (await tmp.startChild()) as Actor<Msg, string>;
  w.tell('crash');
  await waitUntil(() => tmp.whichChildren().length === 0);
  await tmp.stop();
});

test('permanent always restarts; transient only after an error; temporary never', async () => {
  const log: string[] = [];
  const slog = decisionLog();
  const sup = new Supervisor({
    id: 'types',
    strategy: 'one_for_one',
    log: slog,
    children: [spec(log, 'p', 'permanent'), spec(log, 't', 'transient'), spec(log, 'tmp', 'temporary')],
  });
  await sup.start();
  log.length = 0;
  child(sup, 'p').tell('quit');
  await waitUntil(() => log.length === 2);
  child(sup, 't').tell('quit');
  await waitUntil(() => slog.decisions.some(([id]) => id === 't'), 2000, "the supervisor's decision on t");
  assert.deepEqual(slog.decisions, [['p', true], ['t', false]]);
  assert.deepEqual(log, ['exit p normal', 'start p', 'exit t normal']);
  assert.equal(sup.whichChildren().find((c) => c.id === 't')?.state, 'stopped');
  await sup.restartChild('t');
  child(sup, 't').tell('crash');
  await waitUntil(() => log.length === 6);
  child(sup, 'tmp').tell('crash');
  await waitUntil(() => slog.decisions.some(([id]) => id === 'tmp'), 2000, "the supervisor's decision on tmp");
  assert.deepEqual(slog.decisions.slice(2), [['t', true], ['tmp', false]]);
  assert.deepEqual(log.slice(3), ['start t', 'exit t INTERNAL', 'start t', 'exit tmp INTERNAL']);
  assert.deepEqual(sup.whichChildren().map((c) => [c.id, c.state]), [['p', 'running'], ['t', 'running'], ['tmp', 'stopped']]);
  await sup.stop();
});

test('restart intensity exceeded: the supervisor exits SUPERVISOR_INTENSITY and its parent restarts it', async () => {
  const log: string[] = [];
  const inners: Supervisor[] = [];
  const innerExits: ExitReason[] = [];
  const clock = manualClock(); // the three crashes fall in one period however slow the machine
  const parent = new Supervisor({
    id: 'parent',
    strategy: 'one_for_one',
    children: [
      {
        id: 'inner',
        kind: 'supervisor',
        restart: 'permanent',
        shutdown: 'infinity',
        start: async () => {
          const s = new Supervisor({ id: 'inner', strategy: 'one_for_one', intensity: 2, periodMs: 5000, clock, children: [spec(log, 'w')] });
          s.onExit((r) => innerExits.push(r));
          inners.push(s);
          await s.start();
          return s;
        },
      },
    ],
  });
  await parent.start();
  for (let i = 1; i <= 3; i++) {
    child(inners[0]!, 'w').tell('crash');
    if (i < 3) await waitUntil(() => log.filter((l) => l === 'start w').length === i + 1);
  }
  await waitUntil(() => inners.length === 2 && inners[1]!.state === 'running');
  assert.equal(innerExits.length, 1);
  const r = innerExits[0]!;
  assert.equal(r.kind === 'error' && r.error.code, 'SUPERVISOR_INTENSITY');
  assert.equal(inners[0]!.state, 'stopped');
  assert.equal(infoOf(parent, 'inner').restarts, 1);
  assert.equal(infoOf(parent, 'inner').lastError?.code, 'SUPERVISOR_INTENSITY');
  assert.equal(infoOf(parent, 'inner').children?.[0]?.id, 'w', 'nested info');
  assert.deepEqual(log.slice(-2), ['exit w INTERNAL', 'start w']);
  await parent.stop();
  assert.equal(inners[1]!.state, 'stopped');
});

test('a retryable start failure backs off, doubling up to the cap, not counted as intensity', async () => {
  const clock = manualClock();
  const attempts: number[] = [];
  const sup = new Supervisor({
    id: 'backoff',
    strategy: 'one_for_one',
    intensity: 0,
    backoffInitialMs: 20,
    backoffMaxMs: 80,
    clock,
    children: [
      {
        id: 'flaky',
        restart: 'permanent',
        shutdown: 100,
        start: () => {
          attempts.push(clock.now());
          throw new PosternError('LISTEN_FAILED', 'address in use');
        },
      },
    ],
  });
  await sup.start(); // does not throw
  assert.equal(infoOf(sup, 'flaky').state, 'backoff');
  assert.deepEqual(attempts, [0]);
  for (const delay of [20, 40, 80, 80, 80]) {
    const n = attempts.length;
    await waitUntil(() => clock.pending().length === 1, 2000, `the retry after attempt ${n} is scheduled`);
    assert.deepEqual(clock.pending(), [delay], `retry ${n} waits ${delay} ms`);
    clock.advance(delay - 1);
    assert.equal(attempts.length, n, `no retry before ${delay} ms`);
    clock.advance(1);
    await waitUntil(() => attempts.length === n + 1, 2000, `attempt ${n + 1}`);
    assert.equal(attempts[n]! - attempts[n - 1]!, delay);
    assert.equal(infoOf(sup, 'flaky').state, 'backoff');
  }
  assert.equal(sup.state, 'running');
  const i = infoOf(sup, 'flaky');
  assert.equal(i.lastError?.code, 'LISTEN_FAILED');
  assert.equal(i.restarts, 0);
  await waitUntil(() => clock.pending().length === 1, 2000, 'the next retry is scheduled');
  await sup.stop();
  assert.deepEqual(clock.pending(), [], 'stop cancels the retry');
  const n = attempts.length;
  clock.advance(60_000);
  assert.equal(attempts.length, n, 'no retry after stop');
});

test('a child that ran backoffResetMs backs off from backoffInitialMs again; one that crashed at once does not', async () => {
  const clock = manualClock();
  const plan = ['fail', 'fail', 'ok', 'fail', 'ok', 'fail'];
  let current: Actor<Msg, string> | undefined;
  const sup = new Supervisor({
    id: 'reset',
    strategy: 'one_for_one',
    intensity: 10,
    backoffInitialMs: 20,
    backoffMaxMs: 10_000,
    backoffResetMs: 5000,
    clock,
    children: [
      {
        id: 'w',
        restart: 'permanent',
        shutdown: 100,
        start: () => {
          if (plan.shift() === 'fail') throw new PosternError('LISTEN_FAILED', 'address in use');
          current = new Actor<Msg, string>({ id: 'w', handler: (m) => (m === 'crash' ? Promise.reject(new Error('w crashed')) : 'w') });
          return current;
        },
      },
    ],
  });
  const retryIn = async (ms: number): Promise<void> => {
    await waitUntil(() => clock.pending().length === 1, 2000, `a retry in ${ms} ms`);
    assert.deepEqual(clock.pending(), [ms]);
  };
  await sup.start();
  await retryIn(20);
  clock.advance(20);
  await retryIn(40);
  clock.advance(40);
  await waitUntil(() => infoOf(sup, 'w').state === 'running', 2000, 'running after two failures');
  current!.tell('crash'); // at once: the failures still count
  await retryIn(80);
  clock.advance(80);
  await waitUntil(() => infoOf(sup, 'w').state === 'running', 2000, 'running again');
  clock.advance(5000); // it has run backoffResetMs
  current!.tell('crash');
  await retryIn(20);
  assert.deepEqual(plan, []);
  await sup.stop();
});

test('a start that fails then succeeds ends up running', async () => {
  let tries = 0;
  const sup = new Supervisor({
    id: 'recovers',
    strategy: 'one_for_one',
    backoffInitialMs: 5,
    children: [
      {
        id: 'w',
        restart: 'permanent',
        shutdown: 100,
        start: () => {
          if (++tries < 3) throw new PosternError('THREAD_EXITED', 'not yet');
          return new Actor<Msg, string>({ id: 'w', handler: () => 'ok' });
        },
      },
    ],
  });
  await sup.start();
  await waitUntil(() => infoOf(sup, 'w').state === 'running');
  assert.equal(tries, 3);
  assert.equal(await child(sup, 'w').ask('ping'), 'ok');
  await sup.stop();
});

test('a non-retryable start failure (NOT_IMPLEMENTED) leaves the child failed, no retry', async () => {
  const clock = manualClock();
  let tries = 0;
  const sup = new Supervisor({
    id: 'ni',
    strategy: 'one_for_one',
    backoffInitialMs: 5,
    clock,
    children: [
      {
        id: 'imap',
        restart: 'permanent',
        shutdown: 100,
        start: () => {
          tries++;
          return Promise.reject(new PosternError('NOT_IMPLEMENTED', 'imap is not implemented yet'));
        },
      },
    ],
  });
  await sup.start();
  assert.equal(tries, 1);
  assert.deepEqual(clock.pending(), [], 'no retry scheduled');
  clock.advance(60_000);
  assert.equal(tries, 1);
  const i = infoOf(sup, 'imap');
  assert.equal(i.state, 'failed');
  assert.equal(i.lastError?.code, 'NOT_IMPLEMENTED');
  assert.equal(sup.state, 'running');
  await assert.rejects(sup.startChild({ ...spec([], 'x'), start: () => Promise.reject(new PosternError('NOT_IMPLEMENTED', 'no')) }), (e: unknown) =>
    isPosternError(e, 'NOT_IMPLEMENTED'),
  );
  await sup.stop();
});

test('shutdown: reverse order; brutal_kill kills, a timeout kills a stubborn child, infinity waits', async () => {
  const clock = manualClock();
  const log: string[] = [];
  const watch = (c: Child): Child => (c.onExit((r) => log.push(`exit ${c.id} ${label(r)}`)), c);
  const gate = Promise.withResolvers<void>(); // d's terminate runs until the test opens it
  let terminatingD = false;
  const sup = new Supervisor({
    id: 'shut',
    strategy: 'one_for_one',
    clock,
    children: [
      {
        id: 'd',
        restart: 'permanent',
        shutdown: 'infinity',
        start: () => watch(new Actor<Msg>({ id: 'd', handler: () => {}, terminate: () => ((terminatingD = true), gate.promise) })),
      },
      {
        id: 'a',
        restart: 'permanent',
        shutdown: 'brutal_kill',
        start: () => watch(new Actor<Msg>({ id: 'a', handler: () => {}, terminate: () => void log.push('terminate a') })),
      },
      { id: 'b', restart: 'permanent', shutdown: 40, start: () => watch(new Stubborn('b')) },
      { id: 'c', restart: 'permanent', shutdown: 500, start: () => watch(new Actor<Msg>({ id: 'c', handler: () => {} })) },
    ],
  });
  await sup.start();
  const exits: ExitReason[] = [];
  sup.onExit((r) => exits.push(r));
  let stopped = false;
  const stopping = sup.stop().then(() => void (stopped = true));
  // c stops at once; b ignores stop() and is killed when its 40 ms run out on the clock
  await waitUntil(() => log.length === 1 && clock.pending().includes(40), 2000, "c's exit and b's shutdown timer");
  assert.deepEqual(log, ['exit c shutdown']);
  clock.advance(39);
  assert.deepEqual(log, ['exit c shutdown'], 'b is not killed before its timeout');
  clock.advance(1);
  // a is killed without terminate; d (infinity) is given all the time its terminate takes
  await waitUntil(() => terminatingD, 2000, "b killed, then d's terminate");
  assert.deepEqual(log, ['exit c shutdown', 'exit b ACTOR_KILLED', 'exit a ACTOR_KILLED']);
  clock.advance(3_600_000);
  assert.equal(stopped, false, 'stop waits for d (infinity) while its terminate runs');
  gate.resolve();
  await stopping;
  assert.deepEqual(log, ['exit c shutdown', 'exit b ACTOR_KILLED', 'exit a ACTOR_KILLED', 'exit d shutdown']);
  assert.deepEqual(exits, [{ kind: 'shutdown' }]);
  assert.equal(sup.state, 'stopped');
});

test('dynamic children: startChild, CHILD_EXISTS, terminate / restart / delete, CHILD_NOT_FOUND', async () => {
  const log: string[] = [];
  const sup = new Supervisor({ id: 'dyn', strategy: 'one_for_one' });
  await sup.start();
  const a = await sup.startChild(spec(log, 'a'));
  assert.equal(a.id, 'a');
  await assert.rejects(sup.startChild(spec(log, 'a')), (e: unknown) => isPosternError(e, 'CHILD_EXISTS'));
  await sup.terminateChild('a');
  assert.deepEqual(sup.whichChildren(), [{ id: 'a', state: 'stopped' }]);
  const a2 = await sup.restartChild('a');
  assert.notEqual(a2, a);
  assert.equal(infoOf(sup, 'a').restarts, 1);
  await sup.deleteChild('a');
  assert.deepEqual(sup.whichChildren(), []);
  for (const op of [() => sup.terminateChild('zz'), () => sup.restartChild('zz'), () => sup.deleteChild('zz')]) {
    await assert.rejects(op(), (e: unknown) => isPosternError(e, 'CHILD_NOT_FOUND'));
  }
  assert.deepEqual(log, ['start a', 'exit a shutdown', 'start a', 'exit a shutdown']);
  await sup.stop();
  await assert.rejects(sup.startChild(spec(log, 'b')), (e: unknown) => isPosternError(e, 'ACTOR_STOPPED'));
  assert.equal(sup.info().state, 'stopped');
});

test('kill ends the supervisor and every child at once', async () => {
  const log: string[] = [];
  const sup = new Supervisor({ id: 'k', strategy: 'one_for_one', children: ['a', 'b'].map((id) => spec(log, id)) });
  await sup.start();
  const exits: ExitReason[] = [];
  sup.onExit((r) => exits.push(r));
  sup.kill();
  assert.deepEqual(log.slice(2), ['exit b ACTOR_KILLED', 'exit a ACTOR_KILLED']);
  assert.equal(exits.length, 1);
  assert.equal(label(exits[0]!), 'ACTOR_KILLED');
  assert.equal(sup.info().mailboxDepth, 0, 'no restart queued');
  await sup.stop(); // resolves: the supervisor is done
  assert.equal(log.length, 4, 'nothing restarted');
});
