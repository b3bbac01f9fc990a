/**
 * A connection thread that dies takes its admissions with it: the service host knows which
 * tickets each thread holds and releases every one of them when the thread exits, so the
 * listener's and the peer's open counts return to their true values and a peer at its
 * peerMaxConnections is admitted again at once.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type Server } from '../../actors/server.ts';
import { ECHO_PROTOCOL, connectLines, serviceNode, tmpDir, waitFor, type LineClient } from '../helpers.ts';

const HELD = 3;
const CONFIG = `
Server {
    services = (pop3)
    primaryDomain = "tickets.example"
    statusListener = 127.0.0.1:0
    enableFaultInjection = yes
    shutdownTimeout = 2
    logLevel = error
    pop3 = {
        listeners = ( { address = 127.0.0.1:0 peerMaxConnections = ${HELD} peerMaxIntervalConnections = 0 } )
        minConnThreads = 1
        maxConnThreads = 1
    }
}`;

let server: Server | undefined;
after(async () => server?.stop());

async function hold(port: number, n: number): Promise<LineClient[]> {
  const out: LineClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = await connectLines(port, '127.0.0.1', '127.0.0.50');
    assert.equal(await c.read(), '+OK echo ready');
    out.push(c);
  }
  return out;
}

test("a dead connection thread's admissions are released: counts exact, the peer admitted again at once", async () => {
  server = await startServer({ configText: CONFIG, dataDir: tmpDir(), statusPort: 0, controlSocket: false, protocolOverrides: { pop3: ECHO_PROTOCOL }, loadIntervalMs: 100, backoffInitialMs: 100 });
  const s = server;
  const port = s.port('pop3');
  const listener = () => s.status().services.find((x) => x.name === 'pop3')!.listeners[0]!;
  const threads = () => serviceNode(s.status().tree, 'pop3')?.children?.find((c) => c.kind === 'threadSupervisor')?.children ?? [];
  for (let round = 0; round < 2; round++) {
    const clients = await hold(port, HELD);
    assert.equal(listener().open, HELD);
    // the peer is at its limit: one more is refused
    const extra = await connectLines(port, '127.0.0.1', '127.0.0.50');
    assert.equal(await extra.read(), '-ERR connection refused (peer_window)');
    extra.close();
    const restarts = threads().reduce((a, t) => a + t.restarts, 0);
    s.injectFault('pop3', 'crash', 0);
    await Promise.all(clients.map((c) => c.closed));
    await waitFor(() => threads().reduce((a, t) => a + t.restarts, 0) > restarts && threads().some((t) => t.state === 'running'), 20_000, 'the thread restarted');
    // no socket is left behind the crashed thread: its tickets are all released
    await waitFor(() => listener().open === 0, 5000, `open back to 0 (is ${listener().open})`);
    assert.equal(s.status().services.find((x) => x.name === 'pop3')!.openConnections, 0);
    // and the peer is admitted again at once, up to exactly its limit
    const again = await hold(port, HELD);
    assert.equal(listener().open, HELD);
    for (const c of again) assert.equal(await c.cmd('still here'), '+OK still here');
    for (const c of again) c.close();
    await waitFor(() => listener().open === 0, 5000, 'released on close');
  }
});
