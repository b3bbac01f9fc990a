/**
 * The web session table's thread side: an HTTP service's sessions live on its service host, so
 * a session made on one connection thread is seen (and destroyed) on another, survives a crash
 * of the thread that made it, and belongs to its service only; a TCP service's sessions get no
 * table. Spoken over real sockets to a line fixture (fixtures/web-sessions-protocol.ts) that
 * drives `SessionContext.webSessions`.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type Server } from '../../actors/server.ts';
import { connectLines, serviceNode, tmpDir, waitFor, type LineClient } from '../helpers.ts';
import { defineService } from '../../src/config/schema.ts';

const FIXTURE = new URL('../fixtures/web-sessions-protocol.ts', import.meta.url).href;
const ROWS = [
  defineService('testWebTwo', 'http', 'test: web sessions, two threads', { module: FIXTURE, idleTimeout: 300 }),
  defineService('testWebOne', 'http', 'test: web sessions, one thread', { module: FIXTURE, idleTimeout: 300 }),
  defineService('testWebTcp', 'tcp', 'test: a TCP service (no web sessions)', { module: FIXTURE, idleTimeout: 300 }),
];

const CONFIG = `
Server {
    services = (testWebTwo testWebOne testWebTcp)
    primaryDomain = "sessions.example"
    statusListener = 127.0.0.1:0
    enableFaultInjection = yes
    shutdownTimeout = 2
    logLevel = error
    testWebTwo = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 2 maxConnThreads = 2 }
    testWebOne = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 }
    testWebTcp = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 }
}`;

let server: Server | undefined;
after(async () => server?.stop());
async function start(): Promise<Server> {
  server ??= await startServer({ configText: CONFIG, dataDir: tmpDir(), statusPort: 0, controlSocket: false, testServices: ROWS, loadIntervalMs: 100, backoffInitialMs: 100 });
  return server;
}

async function open(port: number): Promise<{ c: LineClient; thread: string; tableless: boolean }> {
  const c = await connectLines(port);
  const greet = await c.read(5000);
  const m = /^\+OK (\S+)\.c\d+( no-sessions)?$/.exec(greet);
  assert.ok(m, greet);
  return { c, thread: m[1]!, tableless: m[2] !== undefined };
}

function threadsOf(s: Server, service: string) {
  const sup = serviceNode(s.status().tree, service)?.children?.find((c) => c.kind === 'threadSupervisor');
  return sup?.children ?? [];
}

test('a session made on one connection thread is seen and destroyed on another', async () => {
  const s = await start();
  const port = s.port('testWebTwo');
  await waitFor(() => threadsOf(s, 'testWebTwo').filter((t) => t.state === 'running').length === 2, 10_000, 'two threads');
  const byThread = new Map<string, LineClient>();
  // the kernel spreads connections over the threads (reusePort): a few connections reach both
  for (let i = 0; i < 64 && byThread.size < 2; i++) {
    const o = await open(port);
    if (byThread.has(o.thread)) o.c.close();
    else byThread.set(o.thread, o.c);
  }
  assert.equal(byThread.size, 2, 'connections reached both threads');
  const [a, b] = [...byThread.values()] as [LineClient, LineClient];
  const [, id, csrf] = (await a.cmd('CREATE alice@sessions.example')).split(' ');
  assert.match(id!, /^[A-Za-z0-9_-]{43}$/);
  assert.match(csrf!, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(await b.cmd(`GET ${id}`), '+OK alice@sessions.example');
  assert.equal(await a.cmd(`GET ${id}`), '+OK alice@sessions.example');
  assert.equal(await b.cmd(`DESTROY ${id}`), '+OK');
  assert.equal(await a.cmd(`GET ${id}`), '+OK none');
  a.close();
  b.close();
});

test('sessions outlive a crash of the connection thread that made them; each service has its own', async () => {
  const s = await start();
  const port = s.port('testWebOne');
  const first = await open(port);
  const id = (await first.c.cmd('CREATE bob@sessions.example')).split(' ')[1]!;
  const restarts = threadsOf(s, 'testWebOne').reduce((n, t) => n + t.restarts, 0);
  s.injectFault('testWebOne', 'crash', 0);
  await waitFor(() => threadsOf(s, 'testWebOne').reduce((n, t) => n + t.restarts, 0) > restarts, 20_000, 'the thread restarted');
  const again = await waitFor(async () => {
    try {
      return await open(port);
    } catch {
      return null;
    }
  }, 20_000, 'the restarted thread answering');
  assert.equal(await again.c.cmd(`GET ${id}`), '+OK bob@sessions.example');
  // the same id means nothing to another HTTP service
  const other = await open(s.port('testWebTwo'));
  assert.equal(await other.c.cmd(`GET ${id}`), '+OK none');
  first.c.close();
  again.c.close();
  other.c.close();
});

test('a TCP service gets no web session table', async () => {
  const s = await start();
  const o = await open(s.port('testWebTcp'));
  assert.equal(o.tableless, true);
  assert.equal(await o.c.cmd('GET x'), '-ERR no-sessions');
  o.c.close();
});
