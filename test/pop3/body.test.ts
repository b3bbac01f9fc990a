/**
 * The pieces that put a stored body on the wire: dot-stuffing and the TOP cut, as tables of
 * input → output and as properties on random bodies cut into random chunks (the result must
 * not depend on where the chunks break); responses sent in the same tick (pipelined RETRs)
 * leaving in one write; and the verified-login cache (bounded; it misses on a
 * new stored hash). The failed-login throttle is the service's: test/auth/throttle.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { crc32 } from 'node:zlib';
import { DotStuffer, sendBody, TopCut } from '../../src/protocols/pop3/body.ts';
import { SessionWriter } from '../../src/session/writer.ts';
import { BodyReader, SegmentFiles } from '../../src/store/bodies.ts';
import type { Locator } from '../../src/store/types.ts';
import { LoginCache } from '../../src/protocols/pop3/guard.ts';
import { pop3Options, type Pop3Options } from '../../src/protocols/pop3/options.ts';
import { loadConfig } from '../../src/config/load.ts';

function stuffAll(chunks: Buffer[]): string {
  const d = new DotStuffer();
  const out: Buffer[] = [];
  for (const c of chunks) d.stuff(c, out);
  out.push(d.end());
  return Buffer.concat(out).toString('latin1');
}

function topAll(chunks: Buffer[], n: number): string {
  const t = new TopCut(n);
  const out: Buffer[] = [];
  for (const c of chunks) {
    const r = t.cut(c);
    out.push(r.out);
    if (r.done) break;
  }
  return Buffer.concat(out).toString('latin1');
}

/** Reference implementations, on whole strings. */
const refStuff = (s: string): string => `${s.replace(/(^|\n)\./g, '$1..')}${s === '' || s.endsWith('\n') ? '' : '\r\n'}.\r\n`;
function refTop(s: string, n: number): string {
  const lines = s.split(/(?<=\n)/);
  let i = 0;
  while (i < lines.length && !/^\r?\n$/.test(lines[i]!)) i++;
  if (i >= lines.length) return s;
  return lines.slice(0, i + 1 + n).join('');
}

function split(s: string, rnd: () => number): Buffer[] {
  const b = Buffer.from(s, 'latin1');
  const out: Buffer[] = [];
  let i = 0;
  while (i < b.length) {
    const n = 1 + Math.floor(rnd() * 12);
    out.push(b.subarray(i, i + n));
    i += n;
  }
  return out;
}

test('dot-stuffing: table', () => {
  const cases: Array<[string, string]> = [
    ['', '.\r\n'],
    ['a\r\n', 'a\r\n.\r\n'],
    ['.\r\n', '..\r\n.\r\n'],
    ['a\r\n.b\r\n..c\r\n', 'a\r\n..b\r\n...c\r\n.\r\n'],
    ['no newline at end', 'no newline at end\r\n.\r\n'],
    ['a.b\r\n', 'a.b\r\n.\r\n'],
  ];
  for (const [input, want] of cases) {
    assert.equal(stuffAll([Buffer.from(input)]), want, JSON.stringify(input));
    assert.equal(stuffAll([...Buffer.from(input)].map((x) => Buffer.from([x]))), want, `byte by byte: ${JSON.stringify(input)}`);
  }
});

test('TOP cut: table', () => {
  const msg = 'A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n';
  assert.equal(topAll([Buffer.from(msg)], 0), 'A: 1\r\nB: 2\r\n\r\n');
  assert.equal(topAll([Buffer.from(msg)], 2), 'A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n');
  assert.equal(topAll([Buffer.from(msg)], 99), msg);
  assert.equal(topAll([Buffer.from('A: 1\r\nno blank line')], 0), 'A: 1\r\nno blank line');
  assert.equal(topAll([Buffer.from('A: 1\n\nbody\n')], 0), 'A: 1\n\n');
  assert.equal(topAll([Buffer.from('A: 1\r\n\r\r\n\r\nbody\r\n')], 0), 'A: 1\r\n\r\r\n\r\n', 'a line of two CRs is not blank');
});

test('dot-stuffing and TOP do not depend on chunk boundaries (random bodies)', () => {
  let seed = 12345;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const alphabet = ['.', '.', '\r\n', '\n', 'a', 'b', ' ', '\r', ':'];
  for (let k = 0; k < 500; k++) {
    let s = '';
    const len = Math.floor(rnd() * 80);
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    const chunks = split(s, rnd);
    assert.equal(stuffAll(chunks), refStuff(s), JSON.stringify(s));
    const n = Math.floor(rnd() * 4);
    assert.equal(topAll(chunks, n), refTop(s, n), `TOP ${n} of ${JSON.stringify(s)}`);
  }
});

/** The POP3 options the config resolves from `authCacheSize` (default here 3) and `authCacheTtl = 1` (s). */
const opts = (size = '3'): Pop3Options => pop3Options(loadConfig(`Server { pop3 = { authCacheSize = ${size} authCacheTtl = 1 } }`, 't').resolved.serviceOptions.pop3);

test('login cache: hit only for the same login, password and stored hash; TTL; bounded', () => {
  const c = new LoginCache();
  const o = opts();
  c.add('ann', 'pw', 'hash1', o, 0);
  assert.ok(c.has('ANN', 'pw', 'hash1', o, 10));
  assert.ok(!c.has('ann', 'pw2', 'hash1', o, 10));
  assert.ok(!c.has('ann', 'pw', 'hash2', o, 10), 'a changed password (new hash) misses');
  assert.ok(!c.has('ann', 'pw', 'hash1', o, 1001), 'expired');
  for (const u of ['a', 'b', 'c', 'd']) c.add(u, 'pw', 'h', o, 2000);
  assert.equal(c.size, 3);
  assert.ok(!c.has('a', 'pw', 'h', o, 2000));
  assert.ok(!c.has('d', 'pw', 'h', opts('0'), 2000), 'authCacheSize = 0 turns it off');
});

test('login cache: concurrent checks of the same credentials share one verification', async () => {
  const c = new LoginCache();
  const o = opts('10');
  let runs = 0;
  const verify = async (): Promise<boolean> => {
    runs++;
    await new Promise((r) => setTimeout(r, 20));
    return true;
  };
  const all = await Promise.all(Array.from({ length: 20 }, () => c.check('ann', 'pw', 'h', o, verify)));
  assert.ok(all.every((x) => x));
  assert.equal(runs, 1);
  assert.equal(await c.check('ann', 'pw', 'h', o, verify), true);
  assert.equal(runs, 1, 'then from the cache');
  let wrongRuns = 0;
  const no = async (): Promise<boolean> => (wrongRuns++, false);
  assert.equal(await c.check('ann', 'bad', 'h', o, no), false);
  assert.equal(await c.check('ann', 'bad', 'h', o, no), false);
  assert.equal(wrongRuns, 2, 'a failed check is not cached');
});

test('sendBody: responses sent in the same tick go out in one write, whole and in order', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'postern-pop3-body-'));
  const file = path.join(dir, 'seg-00000001.log');
  const bodies = Array.from({ length: 3 }, (_, i) => Buffer.from(`Subject: ${i}\r\n\r\n.line ${i}\r\nend\r\n`));
  const locs: Locator[] = [];
  let off = 0;
  for (const b of bodies) {
    locs.push({ path: file, offset: off, length: b.length, crc: crc32(b) });
    off += b.length;
  }
  fs.writeFileSync(file, Buffer.concat(bodies));
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [sock] = (await once(server, 'connection')) as [net.Socket];
  try {
    const got: Buffer[] = [];
    client.on('data', (d: Buffer) => got.push(d));
    const writes: number[] = [];
    const writev = sock._writev!.bind(sock);
    sock._writev = (chunks, cb) => (writes.push(chunks.length), writev(chunks, cb));
    const write = sock._write.bind(sock);
    sock._write = (chunk, enc, cb) => (writes.push(1), write(chunk, enc, cb));
    const reader = new BodyReader({ files: new SegmentFiles() });
    // the session's writer: its batch lasts to the end of the tick
    const out = new SessionWriter({ socket: sock, maxPendingOutputBytes: 1 << 20, holdTimeoutMs: () => 60_000, onHold: () => {}, onRelease: () => {}, onStuck: () => {} });
    // one after another, as a session answers pipelined RETRs
    const sent = [];
    for (const [i, l] of locs.entries()) sent.push(await sendBody(out, `+OK ${i}\r\n`, reader, l, null));
    assert.deepEqual(sent, ['sent', 'sent', 'sent']);
    await new Promise((r) => setImmediate(r));
    assert.equal(writes.length, 1, `one write for the three responses: ${JSON.stringify(writes)}`);
    sock.end();
    await once(client, 'end');
    const want = bodies.map((b, i) => `+OK ${i}\r\n${b.toString().replace('\n.line', '\n..line')}.\r\n`).join('');
    assert.equal(Buffer.concat(got).toString(), want);
    reader.close();
  } finally {
    client.destroy();
    sock.destroy();
    server.close();
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
