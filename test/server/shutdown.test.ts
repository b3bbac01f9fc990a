/**
 * shutdownTimeout: stopping the server asks every open session to say goodbye and close, and
 * the stop does not wait past the deadline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../actors/server.ts';
import { connectLines, tmpDir } from '../helpers.ts';

const FIXTURE = new URL('../fixtures/line-protocol.ts', import.meta.url).href;

test('stop closes open sessions with the protocol goodbye, and no later than shutdownTimeout', async () => {
  const server = await startServer({
    configText: 'Server {\n services = (pop3)\n statusListener = 127.0.0.1:0\n logLevel = error\n shutdownTimeout = 1\n pop3 = { listeners = ( { address = 127.0.0.1:0 } ) }\n}',
    dataDir: tmpDir(),
    statusPort: 0,
    controlSocket: false,
    protocolOverrides: { pop3: FIXTURE },
  });
  const c = await connectLines(server.port('pop3'));
  assert.equal(await c.read(), '+OK fixture ready');
  const t0 = Date.now();
  await server.stop();
  const took = Date.now() - t0;
  assert.equal(await c.read(), '-ERR server shutting down');
  await c.closed;
  assert.ok(took < 6000, `stop took ${took} ms`);
});
