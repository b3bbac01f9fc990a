/**
 * session/writer.ts over a real loopback socket whose peer never reads: the output bound is the
 * configured `maxPendingOutput` (resolved from the config file), the hold begins at the first
 * write past it and not before, reading lets it go, and a peer that stays stuck past the hold
 * timeout is closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { loadConfig } from '../../src/config/load.ts';
import { SessionWriter } from '../../src/session/writer.ts';

async function pair(): Promise<{ server: net.Socket; client: net.Socket; close(): void }> {
  const srv = net.createServer({ pauseOnConnect: true });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  client.pause(); // never reads until told
  const [server] = (await once(srv, 'connection')) as [net.Socket];
  return { server, client, close: () => { server.destroy(); client.destroy(); srv.close(); } };
}

const CHUNK = Buffer.alloc(4096, 0x41);

for (const kb of [64, 256]) {
  test(`maxPendingOutput = ${kb}: the hold begins at the first write past ${kb} KB unsent, and ends when the client reads`, async () => {
    const bound = loadConfig(`Server { pop3 = { maxPendingOutput = ${kb} } }`, 't').resolved.serviceOptions.pop3.session.maxPendingOutputBytes;
    assert.equal(bound, kb * 1024);
    const p = await pair();
    try {
      let holds = 0;
      let releases = 0;
      const w = new SessionWriter({
        socket: p.server, maxPendingOutputBytes: bound, holdTimeoutMs: () => 60_000,
        onHold: () => holds++, onRelease: () => releases++, onStuck: () => assert.fail('not stuck'),
      });
      let before = 0;
      for (let i = 0; i < 100_000 && !w.blocked; i++) {
        before = p.server.writableLength;
        w.write(CHUNK);
      }
      assert.equal(w.blocked, true, 'the hold began');
      assert.equal(holds, 1);
      assert.ok(before <= bound, `not before the bound (${before} unsent before the last write)`);
      assert.ok(p.server.writableLength > bound, `past the bound (${p.server.writableLength} unsent)`);
      const drained = w.drained();
      p.client.resume(); // the client reads: the output drains
      await drained;
      assert.equal(w.blocked, false);
      assert.equal(releases, 1);
    } finally {
      p.close();
    }
  });
}

test('a client that stays stuck past the hold timeout is closed (onStuck, socket destroyed)', async () => {
  const p = await pair();
  try {
    let stuck = 0;
    const w = new SessionWriter({
      socket: p.server, maxPendingOutputBytes: 64 * 1024, holdTimeoutMs: () => 300,
      onHold: () => {}, onRelease: () => {}, onStuck: () => stuck++,
    });
    for (let i = 0; i < 100_000 && !w.blocked; i++) w.write(CHUNK);
    assert.equal(w.blocked, true);
    await once(p.server, 'close');
    assert.equal(stuck, 1);
    assert.equal(p.server.destroyed, true);
  } finally {
    p.close();
  }
});

test('maxPendingOutput under 64 KB (the socket buffer, below which write() cannot report it) is refused', () => {
  assert.throws(() => loadConfig('Server { pop3 = { maxPendingOutput = 32 } }', 't'), (e: { code?: string }) => typeof e.code === 'string' && e.code.startsWith('CONFIG_'));
});
