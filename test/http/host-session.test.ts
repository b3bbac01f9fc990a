/**
 * test/http/host-session.test.ts: the HTTP host's connections over a reload and a shutdown:
 * a reload that changes httpHeadersMaxSize applies to new connections (a new fastify instance,
 * node fixes maxHeaderSize per server) while an open keep-alive connection keeps its limits;
 * at shutdown an idle keep-alive connection is closed at once and a request in flight is
 * answered (with `Connection: close`) before its connection closes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Server } from '../../actors/server.ts';
import { tmpDir, waitFor } from '../helpers.ts';
import { curl } from './helpers.ts';
import { startServer } from '../../actors/server.ts';
import { TEST_HTTP, TEST_HTTP2, TEST_HTTP3 } from '../fixtures/test-services.ts';

let server: Server;
let stopped = false;
const config = (headersKb: number) => `
Server {
    services = (testHttp)
    statusListener = 127.0.0.1:0
    logLevel = error
    testHttp = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 httpHeadersMaxSize = ${headersKb} }
}`;

before(async () => {
  server = await startServer({ configText: config(16), dataDir: tmpDir('postern-http-session-'), statusPort: 0, controlSocket: false, testServices: [TEST_HTTP, TEST_HTTP2, TEST_HTTP3] });
});
after(async () => {
  if (!stopped) await server.stop();
});

/** A raw keep-alive client: every byte received, kept. */
async function rawClient(port: number): Promise<{ s: net.Socket; got: () => string; closed: Promise<void>; until: (re: RegExp) => Promise<unknown> }> {
  const s = net.connect(port, '127.0.0.1');
  let got = '';
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.on('error', () => {});
  s.on('data', (d: Buffer) => (got += d.toString('latin1')));
  await new Promise((r) => s.once('connect', r));
  return { s, got: () => got, closed, until: (re) => waitFor(() => re.test(got), 10_000, String(re)) };
}

const bigHeader = `X-Big: ${'b'.repeat(3000)}`;

test('a reload changing httpHeadersMaxSize: new connections get the new limit, an open one keeps its own', async () => {
  const port = server.port('testHttp');
  const open = await rawClient(port);
  open.s.write(`GET /page?size=2 HTTP/1.1\r\nHost: x\r\n${bigHeader}\r\n\r\n`);
  await open.until(/\r\n\r\nxx$/);
  await server.reload(config(2));
  await waitFor(async () => (await curl(['-H', bigHeader, `http://127.0.0.1:${port}/`])).statuses[0] === 431, 10_000, 'new connections refuse 3 KB of headers');
  open.s.write(`GET /page?size=3 HTTP/1.1\r\nHost: x\r\n${bigHeader}\r\n\r\n`);
  await open.until(/\r\n\r\nxxx$/);
  assert.doesNotMatch(open.got(), / 431 /);
  const small = await curl([`http://127.0.0.1:${port}/`]);
  assert.deepEqual(small.statuses, [200]);
  open.s.destroy();
});

test('shutdown: an idle keep-alive connection closes at once; a request in flight is answered, with Connection: close', async () => {
  const port = server.port('testHttp');
  const idle = await rawClient(port);
  idle.s.write('GET /page?size=2 HTTP/1.1\r\nHost: x\r\n\r\n');
  await idle.until(/\r\n\r\nxx$/);
  const busy = await rawClient(port);
  busy.s.write('GET /slow?ms=1500 HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => (server.status().services.find((s) => s.name === 'testHttp')!.listeners[0]!.open ?? 0) >= 2, 10_000, 'both connections admitted');
  // the slow request is in its handler (one connection thread), not only admitted: a request
  // still unread when the stop begins is answered 503 shutting_down, as it should be
  const slowing = async (): Promise<boolean> => (await fetch(`http://127.0.0.1:${port}/slowing`, { headers: { connection: 'close' } }).then((r) => r.text())).trim() === '1';
  const until = Date.now() + 10_000;
  while (!(await slowing())) assert.ok(Date.now() < until, 'the slow request reached its handler');
  stopped = true;
  const stopping = server.stop();
  await idle.closed;
  assert.doesNotMatch(busy.got(), /slow done/, 'the idle one closed while the other was still at work');
  await busy.closed;
  assert.match(busy.got(), /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(busy.got(), /\r\nConnection: close\r\n/i);
  assert.match(busy.got(), /slow done\n$/);
  await stopping;
});
