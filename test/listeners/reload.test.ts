/**
 * Reload and listeners: adding, removing or disabling a listener opens or closes only that
 * listener; sessions on the others carry on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer } from '../../actors/server.ts';
import { connectLines, tmpDir, waitFor } from '../helpers.ts';

const FIXTURE = new URL('../fixtures/line-protocol.ts', import.meta.url).href;
const cfg = (listeners: string): string => `Server {
    services = (pop3)
    statusListener = 127.0.0.1:0
    logLevel = error
    pop3 = { listeners = ( ${listeners} ) minConnThreads = 2 maxConnThreads = 2 }
}`;

function refusedByKernel(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    s.on('connect', () => (s.destroy(), resolve(false)));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

test('a reload that adds, removes and disables listeners touches only those listeners', async () => {
  const server = await startServer({ configText: cfg('{ address = 127.0.9.1:0 } { address = 127.0.9.2:0 } { address = 127.0.9.4:0 }'), dataDir: tmpDir(), statusPort: 0, controlSocket: false, protocolOverrides: { pop3: FIXTURE }, loadIntervalMs: 100 });
  try {
    const a = await connectLines(server.port('pop3', 0), '127.0.9.1');
    assert.equal(await a.read(), '+OK fixture ready');
    const portB = server.port('pop3', 1);
    const portD = server.port('pop3', 2);
    const d = await connectLines(portD, '127.0.9.4');
    assert.equal(await d.read(), '+OK fixture ready');

    await server.reload(cfg('{ address = 127.0.9.1:0 } { address = 127.0.9.3:0 } { address = 127.0.9.4:0 enable = no }'));
    await waitFor(() => refusedByKernel(portB, '127.0.9.2'), 5000, 'listener B closed');
    await waitFor(() => refusedByKernel(portD, '127.0.9.4'), 5000, 'listener D closed (disabled)');
    const c = await waitFor(async () => {
      const x = await connectLines(server.port('pop3', 1), '127.0.9.3');
      return (await x.read()) === '+OK fixture ready' ? x : null;
    }, 5000, 'listener C opened');
    // the session on the unchanged listener, and the one on the disabled listener, carry on
    assert.equal(await a.cmd('ECHO still here'), '+OK still here');
    assert.equal(await d.cmd('ECHO open session kept'), '+OK open session kept');
    const a2 = await connectLines(server.port('pop3', 0), '127.0.9.1');
    assert.equal(await a2.read(), '+OK fixture ready');
    for (const x of [a, a2, c, d]) x.close();
  } finally {
    await server.stop();
  }
});

test('a reload resolves once every connection thread has applied it: no wait needed after it', async () => {
  const server = await startServer({ configText: cfg('{ address = 127.0.9.5:0 } { address = 127.0.9.6:0 }'), dataDir: tmpDir(), statusPort: 0, controlSocket: false, protocolOverrides: { pop3: FIXTURE }, loadIntervalMs: 100 });
  try {
    const portB = server.port('pop3', 1);
    for (let round = 0; round < 3; round++) {
      // swap the second listener back and forth; each reload is checked the moment it resolves
      const second = round % 2 === 0 ? '127.0.9.7' : '127.0.9.6';
      const gone = round % 2 === 0 ? '127.0.9.6' : '127.0.9.7';
      const goneport = server.port('pop3', 1);
      await server.reload(cfg(`{ address = 127.0.9.5:0 } { address = ${second}:0 }`));
      assert.equal(await refusedByKernel(goneport, gone), true, `round ${round}: ${gone} closed by every thread`);
      for (let i = 0; i < 4; i++) {
        const x = await connectLines(server.port('pop3', 1), second);
        assert.equal(await x.read(), '+OK fixture ready', `round ${round}: ${second} open on every thread`);
        x.close();
      }
    }
    assert.ok(portB > 0);
  } finally {
    await server.stop();
  }
});
