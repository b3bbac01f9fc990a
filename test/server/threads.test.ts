/**
 * Connection threads under their service supervisors: a crashed or heap-capped thread is
 * replaced while the service's other threads and another service keep answering; a service
 * scales from minConnThreads up under load and back down when idle; services start, stop and
 * restart at run time without touching the others.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type Server } from '../../actors/server.ts';
import { ECHO_PROTOCOL, connectLines, getJson, serviceNode, tmpDir, waitFor } from '../helpers.ts';
import { isPosternError } from '../../src/errors.ts';
import { TEST_SERVICES } from '../fixtures/test-services.ts';

const CONFIG = `
Server {
    services = (pop3 testEcho testEcho2 processing)
    primaryDomain = "threads.example"
    statusListener = 127.0.0.1:0
    enableFaultInjection = yes
    shutdownTimeout = 2
    logLevel = warn
    pop3 = {
        listeners = ( { address = 127.0.0.1:0 } )
        minConnThreads = 2
        maxConnThreads = 2
        connThreadHeapSize = 65536
    }
    testEcho = {
        listeners = ( { address = 127.0.0.1:0 } )
        minConnThreads = 1
        maxConnThreads = 1
    }
    testEcho2 = {
        listeners = ( { address = 127.0.0.1:0 } )
        minConnThreads = 1
        maxConnThreads = 3
        threadSessions = 4
        threadIdleTimeout = 1
    }
}`;

let server: Server;
const WORKER = new URL('../fixtures/worker-module.ts', import.meta.url).href;
const overrides = { pop3: ECHO_PROTOCOL, processing: WORKER };

async function start(): Promise<Server> {
  server ??= await startServer({ configText: CONFIG, dataDir: tmpDir(), statusPort: 0, controlSocket: false, protocolOverrides: overrides, testServices: TEST_SERVICES, loadIntervalMs: 100, backoffInitialMs: 100 });
  return server;
}
after(async () => server?.stop());

async function echoOnce(port: number, text: string): Promise<boolean> {
  try {
    const c = await connectLines(port);
    try {
      if ((await c.read(2000)) !== '+OK echo ready') return false;
      return (await c.cmd(text, 2000)) === `+OK ${text}`;
    } finally {
      c.close();
    }
  } catch {
    return false;
  }
}

function threadsOf(s: Server, service: string) {
  const svc = serviceNode(s.status().tree, service);
  const sup = svc?.children?.find((c) => c.kind === 'threadSupervisor');
  return sup?.children ?? [];
}

async function crashAndWatch(kind: 'crash' | 'oom'): Promise<void> {
  const s = await start();
  const pop3 = s.port('pop3');
  const imap = s.port('testEcho');
  await waitFor(() => threadsOf(s, 'pop3').filter((t) => t.state === 'running').length === 2, 10_000, 'two pop3 threads');
  const restartsBefore = threadsOf(s, 'pop3').reduce((a, t) => a + t.restarts, 0);
  let stop = false;
  const results = { pop3: [] as Array<[number, boolean]>, imap: [] as Array<[number, boolean]> };
  const loop = async (name: 'pop3' | 'imap', port: number): Promise<void> => {
    for (let i = 0; !stop && i < 2000; i++) {
      results[name].push([Date.now(), await echoOnce(port, `${name}-${i}`)]);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const loops = Promise.all([loop('pop3', pop3), loop('imap', imap)]);
  const oks = (name: 'pop3' | 'imap', since = 0): number => results[name].filter(([t, ok]) => ok && t >= since).length;
  await waitFor(() => oks('pop3') >= 6 && oks('imap') >= 6, 20_000, 'both services answering before the fault');
  const victim = s.injectFault('pop3', kind, 0);
  await waitFor(() => threadsOf(s, 'pop3').reduce((a, t) => a + t.restarts, 0) > restartsBefore, 20_000, `${victim} restarted`);
  await waitFor(() => threadsOf(s, 'pop3').filter((t) => t.state === 'running').length === 2, 10_000, 'pop3 back to two threads');
  const back = Date.now();
  await waitFor(() => oks('pop3', back) >= 6 && oks('imap', back) >= 6, 20_000, 'both services answering after the restart');
  stop = true;
  await loops;
  // the other service never missed an answer
  assert.ok(results.imap.length > 10);
  assert.deepEqual(results.imap.filter(([, ok]) => !ok), []);
  // the crashed service kept answering: no gap without a successful exchange longer than 1 s
  const okTimes = results.pop3.filter(([, ok]) => ok).map(([t]) => t);
  assert.ok(okTimes.length > 10);
  // (generous: a loaded CI machine stretches a probe; a dead service would be silent for good)
  for (let i = 1; i < okTimes.length; i++) assert.ok(okTimes[i]! - okTimes[i - 1]! < 2500, `pop3 unanswered for ${okTimes[i]! - okTimes[i - 1]!} ms`);
  const failures = results.pop3.filter(([, ok]) => !ok).length;
  assert.ok(failures <= 3, `pop3 failed ${failures} exchanges`);
  // the service itself was not restarted: only the thread was
  const svc = serviceNode(s.status().tree, 'pop3');
  assert.equal(svc?.restarts, 0);
  assert.equal(svc?.state, 'running');
}

test('a connection thread that crashes is replaced while its service and another service keep answering', async () => {
  await crashAndWatch('crash');
});

test('a connection thread that hits its heap cap (resourceLimits) is replaced the same way', async () => {
  await crashAndWatch('oom');
  const oom = threadsOf(server, 'pop3').find((t) => t.lastError?.message.includes('ERR_WORKER_OUT_OF_MEMORY'));
  assert.equal(oom?.lastError?.code, 'THREAD_EXITED');
});

test('a service scales from minConnThreads up under load and back down when idle', async () => {
  const s = await start();
  const status = () => s.status().services.find((x) => x.name === 'testEcho2')!;
  assert.equal(status().connThreads.current, 1);
  const port = s.port('testEcho2');
  const clients = [];
  for (let i = 0; i < 30; i++) {
    const c = await connectLines(port);
    assert.equal(await c.read(), '+OK echo ready');
    clients.push(c);
    await new Promise((r) => setTimeout(r, 20));
  }
  await waitFor(() => status().connThreads.current === 3, 15_000, 'testEcho2 to scale up to 3 threads');
  assert.equal(status().openConnections, 30);
  for (const c of clients) assert.equal(await c.cmd('still here'), '+OK still here');
  for (const c of clients) c.close();
  await waitFor(() => status().openConnections === 0, 5000, 'connections released');
  await waitFor(() => status().connThreads.current === 1, 20_000, 'testEcho2 to scale back to 1 thread');
  assert.ok(await echoOnce(port, 'after scale down'));
});

test('a service stops, starts and restarts at run time without touching the others', async () => {
  const s = await start();
  const imapPort = s.port('testEcho');
  const pop3 = await connectLines(s.port('pop3'));
  assert.equal(await pop3.read(), '+OK echo ready');
  await s.stopService('testEcho');
  assert.equal(s.status().services.find((x) => x.name === 'testEcho')!.state, 'stopped');
  assert.equal(await echoOnce(imapPort, 'x'), false);
  assert.equal(await pop3.cmd('during imap stop'), '+OK during imap stop');
  await s.startService('testEcho');
  assert.ok(await echoOnce(s.port('testEcho'), 'imap back'));
  await s.restartService('testEcho');
  assert.ok(await echoOnce(s.port('testEcho'), 'imap restarted'));
  assert.equal(await pop3.cmd('still open'), '+OK still open');
  pop3.close();
  await assert.rejects(s.stopService('testIdle'), (e) => isPosternError(e, 'SERVICE_NOT_RUNNING'));
  await assert.rejects(s.startService('nosuch'), (e) => isPosternError(e, 'SERVICE_UNKNOWN'));
});

test('CPU work runs on the service pool', async () => {
  const s = await start();
  const c = await connectLines(s.port('pop3'));
  assert.equal(await c.read(), '+OK echo ready');
  assert.equal(await c.cmd('TASK hello'), '+OK task hello');
  c.close();
  const doc = await getJson(`http://127.0.0.1:${s.statusPort}/status`);
  const pop3 = doc.services.find((x: { name: string }) => x.name === 'pop3');
  assert.ok(pop3.pool.completed >= 1);
  assert.ok(pop3.pool.threads >= 1);
});

test('a service without listeners runs its worker loop in its threads, with the store reachable', async () => {
  const s = await start();
  const loop = await waitFor(() => {
    const l = threadsOf(s, 'processing').flatMap((t) => t.children ?? []).find((a) => a.kind === 'fixtureWorker');
    return l !== undefined && (l.extra?.rounds as number) > 2 ? l : null;
  }, 10_000, 'the worker loop to run');
  assert.equal(loop.extra?.domain, 'threads.example');
  assert.equal(s.status().services.find((x) => x.name === 'processing')?.state, 'running');
});
