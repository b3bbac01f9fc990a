/**
 * The status endpoint's connection limits (Server `statusControl`): the same flow fields as a
 * service listener, finite by default, counted by the same admission code. Past
 * peerMaxConnections (per remote IP) and maxConnections (in all) a new connection gets 503 and is
 * closed at once, while the open ones keep answering; the counts are on /status; a silent
 * connection is closed after idleTimeout; a request trickled in a byte at a time is cut at
 * requestTimeout however often it sends.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, type Server } from '../../actors/server.ts';
import { loadConfig } from '../../src/config/load.ts';
import { tmpDir, waitFor } from '../helpers.ts';

let server: Server | undefined;
after(async () => server?.stop());

/** A raw HTTP/1.1 client on one keep-alive connection from `local`. */
async function conn(port: number, local: string): Promise<{ socket: net.Socket; get(path: string): Promise<string>; received(): string; closed: Promise<void> }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: local });
  await new Promise<void>((ok, fail) => { socket.once('connect', ok); socket.once('error', fail); });
  let buf = '';
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  socket.on('error', () => {});
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => { buf += d; });
  return {
    socket,
    closed,
    received: () => buf,
    async get(path) {
      buf = '';
      socket.write(`GET ${path} HTTP/1.1\r\nhost: status\r\n\r\n`);
      await waitFor(() => /\r\n\r\n/.test(buf) && /content-length: (\d+)/i.test(buf) && buf.length >= buf.indexOf('\r\n\r\n') + 4 + Number(/content-length: (\d+)/i.exec(buf)![1]), 5000, `reply to ${path}`);
      return buf;
    },
  };
}

test('statusControl defaults are finite', () => {
  const c = loadConfig('Server { }', 'test').resolved.statusLimits;
  for (const v of Object.values(c.flow)) assert.ok(Number.isFinite(v), JSON.stringify(c));
  assert.deepEqual(c, { flow: { maxConnections: 64, maxIntervalConnections: 600, timeIntervalMs: 60_000, peerMaxConnections: 16,
    peerMaxIntervalConnections: 300, peerTimeIntervalMs: 60_000 }, idleTimeoutMs: 30_000, requestTimeoutMs: 10_000 });
});

test('the status endpoint trips peerMaxConnections and maxConnections; open connections keep answering; idleTimeout closes', async () => {
  server = await startServer({
    configText: `Server {
      services = ()
      statusListener = 127.0.0.1:0
      logLevel = error
      statusControl = { peerMaxConnections = 3 maxConnections = 4 idleTimeout = 2 }
    }`,
    dataDir: tmpDir(), statusPort: 0, controlSocket: false,
  });
  const s = server;
  const port = s.statusPort;
  const held = [];
  for (let i = 0; i < 3; i++) held.push(await conn(port, '127.0.0.10'));
  await waitFor(() => s.status().statusListener?.open === 3, 5000, 'three open');
  // the peer's 4th: 503, closed
  const extra = await conn(port, '127.0.0.10');
  await extra.closed;
  assert.match(extra.received(), /^HTTP\/1\.1 503 /);
  // the open ones still answer (each request also restarts its idleTimeout: the counts below
  // do not race it on a slow machine)
  for (const h of held) assert.match(await h.get('/healthz'), /^HTTP\/1\.1 200 /);
  // another peer fills the listener; a third peer is refused by maxConnections
  const other = await conn(port, '127.0.0.11');
  assert.match(await other.get('/healthz'), /^HTTP\/1\.1 200 /);
  const third = await conn(port, '127.0.0.12');
  await third.closed;
  assert.match(third.received(), /^HTTP\/1\.1 503 /);
  const st = s.status().statusListener!;
  assert.equal(st.refused.peer_window, 1);
  assert.equal(st.refused.listener_window, 1);
  assert.equal(st.open, 4);
  // a silent connection is closed after idleTimeout (2 s), and its place is free again
  await Promise.all(held.map((h) => h.closed));
  await waitFor(() => s.status().statusListener?.open === 0, 10_000, 'all closed');
  const back = await conn(port, '127.0.0.10');
  assert.match(await back.get('/status'), /^HTTP\/1\.1 200 /);
  back.socket.destroy();
  other.socket.destroy();
});

test('a request trickled in a byte every 300 ms (never silent for idleTimeout) is cut at requestTimeout; its slot is free again', { timeout: 30_000 }, async () => {
  await server?.stop();
  server = await startServer({
    configText: `Server {
      services = ()
      statusListener = 127.0.0.1:0
      logLevel = error
      statusControl = { peerMaxConnections = 1 idleTimeout = 30 requestTimeout = 2 }
    }`,
    dataDir: tmpDir(), statusPort: 0, controlSocket: false,
  });
  const s = server;
  const slow = await conn(s.statusPort, '127.0.0.13');
  let cut = false;
  void slow.closed.then(() => (cut = true));
  const t0 = Date.now();
  const head = `GET /status HTTP/1.1\r\nhost: status\r\n${'x-pad: y\r\n'.repeat(100)}\r\n`; // 360 s at this rate
  for (let i = 0; i < head.length && !cut && Date.now() - t0 < 20_000; i++) {
    slow.socket.write(head[i]!);
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.ok(cut, 'the trickling client was cut');
  const took = Date.now() - t0;
  assert.ok(took < 10_000, `cut after ${took} ms (requestTimeout 2 s)`);
  assert.match(slow.received(), /^HTTP\/1\.1 408 /);
  await waitFor(() => s.status().statusListener?.open === 0, 5000, 'its slot released');
  const next = await conn(s.statusPort, '127.0.0.13');
  assert.match(await next.get('/healthz'), /^HTTP\/1\.1 200 /);
  next.socket.destroy();
});
