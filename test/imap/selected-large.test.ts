/**
 * test/imap/selected-large.test.ts: FETCH 1:* of a mailbox far larger than a FETCH batch, by a
 * client that reads slowly: the server writes a batch, waits for the socket to drain, and so
 * holds about one batch in memory (the process's RSS stays far below the bytes sent), and
 * every message arrives whole and in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { imap, startImap, tagged } from './helpers.ts';

const COUNT = 160;
const SIZE = 512 * 1024;

test('FETCH 1:* BODY.PEEK[] of 80 MB to a slow reader: bounded memory, every message whole', { timeout: 120_000 }, async (t) => {
  const env = await startImap();
  try {
    await env.addUser('big@example.org', 'pw');
    await env.bulk('big@example.org', COUNT, SIZE);
    const c = await imap(env.port, 'big@example.org');
    assert.match(tagged(await c.run('SELECT INBOX')), /^OK/);
    // from here the socket is read by hand, counting bytes and BODY[] literals, keeping a tail
    const sock: net.Socket = c.socket;
    sock.removeAllListeners('data');
    sock.pause();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sample = (): void => {
      const rss = process.memoryUsage().rss;
      if (rss > peak) peak = rss;
    };
    let bytes = 0;
    let tail = Buffer.alloc(0);
    let literals = 0;
    const marker = Buffer.from('BODY[] {');
    const done = new Promise<void>((resolve, reject) => {
      sock.on('data', (d: Buffer) => {
        bytes += d.length;
        const s = Buffer.concat([tail, d]);
        for (let i = s.indexOf(marker, Math.max(0, tail.length - marker.length + 1)); i >= 0; i = s.indexOf(marker, i + 1)) literals++;
        tail = Buffer.from(s.subarray(Math.max(0, s.length - 200)));
        sample();
        if (/\r\nx1 (OK|NO|BAD)[^\r]*\r\n$/.test(tail.toString('latin1'))) resolve();
        else {
          // a slow client: a short pause after each chunk
          sock.pause();
          setTimeout(() => sock.resume(), 2);
        }
      });
      sock.on('close', () => reject(new Error(`closed after ${bytes} bytes`)));
    });
    sock.write('x1 FETCH 1:* (BODY.PEEK[])\r\n');
    // first a client that does not read at all for a while: the server must stop at a batch
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 50));
      sample();
    }
    const stalled = peak - base;
    sock.resume();
    await done;
    const text = tail.toString('latin1');
    assert.ok(text.includes('x1 OK Fetch completed'), text);
    assert.equal(literals, COUNT);
    assert.ok(bytes > COUNT * SIZE, `${bytes} bytes`);
    const grew = peak - base;
    const mib = (n: number): string => (n / 1048576).toFixed(1);
    // what a stalled client costs: about one batch, not the 80 MB asked for (once it reads, the
    // garbage of the batches sent comes and goes with the collector: not asserted)
    t.diagnostic(`RSS: +${mib(stalled)} MiB while stalled, +${mib(grew)} MiB at the peak while reading`);
    assert.ok(stalled < (COUNT * SIZE) / 4, `RSS grew by ${mib(stalled)} MiB while the client read nothing`);
    c.close();
  } finally {
    await env.stop();
  }
});
