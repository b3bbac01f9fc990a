/**
 * test/store/bodies.test.ts: the store's one body reader (src/store/bodies.ts) on real segment
 * files: whole reads and reads through the read-ahead window, chunks from a restart offset,
 * the crc check (before the only chunk, or before the last one), a file replaced under a
 * cached descriptor, the per-thread file cache's reference counts, read-ahead windows
 * recycled through a pool (only those the caller said it no longer holds), and windows read
 * with a synchronous pread (`sync`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { BodyReader, SegmentFiles, WindowPool, readBody } from '../../src/store/bodies.ts';
import type { Locator } from '../../src/store/types.ts';
import { tmpData } from './helpers.ts';

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

/** A fake segment: `bodies` one after another after a 16-byte header; their locators. */
function segment(file: string, bodies: Buffer[]): Locator[] {
  const out: Locator[] = [];
  let off = 16;
  for (const b of bodies) {
    out.push({ path: file, offset: off, length: b.length, crc: crc32(b) });
    off += b.length + 7; // record framing between bodies
  }
  const buf = Buffer.alloc(off, 0x2a);
  for (const [i, b] of bodies.entries()) b.copy(buf, out[i]!.offset);
  fs.writeFileSync(file, buf);
  return out;
}

const body = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

async function all(g: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of g) out.push(c);
  return out;
}

test('body reader: whole bodies, the read-ahead window, chunks from an offset', async () => {
  const dir = tmpData('postern-bodies-');
  const bodies = [body(100, 1), body(5000, 2), body(0, 3), body(200_000, 4)];
  const locs = segment(path.join(dir, 'seg-00000001.log'), bodies);
  const files = new SegmentFiles();
  const r = new BodyReader({ readAheadBytes: 64 * 1024, files });
  for (const [i, l] of locs.entries()) assert.deepEqual(await r.read(l), bodies[i]);
  assert.deepEqual(await readBody(locs[3]!), bodies[3]);
  for (const [i, l] of locs.entries()) {
    for (const sync of [false, true]) {
      const cs = await all(r.chunks(l, { chunkBytes: 4096, sync }));
      assert.ok(cs.every((c) => c.length <= 4096));
      assert.deepEqual(Buffer.concat(cs), bodies[i]);
      const from = Math.floor(l.length / 3);
      assert.deepEqual(Buffer.concat(await all(r.chunks(l, { start: from, chunkBytes: 1000 }))), bodies[i]!.subarray(from));
    }
  }
  assert.equal(r.holding, 1);
  assert.equal(files.open, 1);
  r.close();
  assert.equal(files.open, 1, 'an unheld file lingers for the next reader');
  await assert.rejects(r.read(locs[0]!), code('STORE_CLOSED'));
});

test('body reader: windows go back to the pool only when recycled, and reused ones read right', async () => {
  const dir = tmpData('postern-bodies-');
  const bodies = Array.from({ length: 24 }, (_, i) => body(3000 + i, i));
  const locs = segment(path.join(dir, 'seg-00000001.log'), bodies);
  const pool = new WindowPool(2);
  const r = new BodyReader({ readAheadBytes: 16 * 1024, files: new SegmentFiles(), pool });
  // a batch spanning several windows: the bodies it holds stay intact while it holds them
  const first = [];
  for (const l of locs.slice(0, 12)) first.push(await r.read(l));
  assert.equal(pool.size, 0, 'nothing recycled yet');
  for (const l of locs.slice(12)) await r.read(l);
  for (const [i, b] of first.entries()) assert.deepEqual(b, bodies[i], 'an earlier body is not overwritten');
  r.recycle();
  assert.ok(pool.size >= 1 && pool.size <= 2, `replaced windows pooled (at most 2): ${pool.size}`);
  const current = await r.read(locs[23]!); // still in the current window, which was not pooled
  // the next batch reads through the pooled buffers
  for (const [i, l] of locs.entries()) assert.deepEqual(await r.read(l), bodies[i]);
  assert.deepEqual(current, bodies[23]);
  r.recycleAll();
  assert.equal(pool.size, 2);
  r.close();
  const r2 = new BodyReader({ readAheadBytes: 16 * 1024, files: new SegmentFiles(), pool });
  for (const [i, l] of locs.entries()) assert.deepEqual(await r2.read(l), bodies[i]);
  r2.close();
});

test('body reader: windows read with a synchronous pread (sync) give the same bodies and checks', async () => {
  const dir = tmpData('postern-bodies-');
  const file = path.join(dir, 'seg-00000001.log');
  const bodies = [...Array.from({ length: 20 }, (_, i) => body(3000 + i, i)), body(40_000, 99)];
  const locs = segment(file, bodies);
  const r = new BodyReader({ readAheadBytes: 16 * 1024, files: new SegmentFiles(), pool: new WindowPool(2), sync: true });
  for (const [i, l] of locs.entries()) assert.deepEqual(await r.read(l), bodies[i]);
  r.recycleAll();
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from('!'), 0, 1, locs[5]!.offset + 10);
  fs.closeSync(fd);
  const fresh = new BodyReader({ readAheadBytes: 16 * 1024, files: new SegmentFiles(), sync: true });
  await assert.rejects(fresh.read(locs[5]!), code('STORE_CORRUPT'));
  assert.deepEqual(await fresh.read(locs[6]!), bodies[6]);
  await assert.rejects(fresh.read({ ...locs[0]!, path: path.join(dir, 'missing.log') }), code('STORE_IO'));
  r.close();
  fresh.close();
});

test('body reader: a damaged body fails its crc before it is taken for a whole one', async () => {
  const dir = tmpData('postern-bodies-');
  const file = path.join(dir, 'seg-00000001.log');
  const bodies = [body(3000, 1), body(50_000, 2)];
  const locs = segment(file, bodies);
  const fd = fs.openSync(file, 'r+');
  for (const l of locs) fs.writeSync(fd, Buffer.from('!'), 0, 1, l.offset + l.length - 10); // near each end
  fs.closeSync(fd);
  const r = new BodyReader();
  await assert.rejects(r.read(locs[0]!), code('STORE_CORRUPT'));
  await assert.rejects(readBody(locs[1]!), code('STORE_CORRUPT'));
  // one chunk: nothing is yielded; several: every chunk but the last, then STORE_CORRUPT
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (const c of r.chunks(locs[0]!, { chunkBytes: 8192 })) seen.push(c.length);
  }, code('STORE_CORRUPT'));
  assert.deepEqual(seen, []);
  let got = 0;
  await assert.rejects(async () => {
    for await (const c of r.chunks(locs[1]!, { chunkBytes: 8192, sync: true })) got += c.length;
  }, code('STORE_CORRUPT'));
  assert.equal(got, 50_000 - (50_000 % 8192 || 8192));
  // from a restart offset nothing can be checked: the bytes come as stored
  assert.equal(Buffer.concat(await all(r.chunks(locs[1]!, { start: 1 }))).length, 49_999);
  // a short file
  await assert.rejects(readBody({ ...locs[1]!, length: 1_000_000 }), code('STORE_CORRUPT'));
  await assert.rejects(r.read({ ...locs[0]!, path: path.join(dir, 'missing.log') }), code('STORE_IO'));
  r.close();
});

test('body reader: a file replaced under a cached descriptor is opened again', async () => {
  const dir = tmpData('postern-bodies-');
  const file = path.join(dir, 'seg-00000001.log');
  const files = new SegmentFiles();
  const a = new BodyReader({ files });
  const old = segment(file, [body(500, 1)]);
  assert.deepEqual(await a.read(old[0]!), body(500, 1));
  a.close(); // the file lingers in the thread's cache
  fs.rmSync(file);
  const now = segment(file, [body(700, 9)]); // a new file under the same name (a restored store)
  const b = new BodyReader({ files });
  assert.deepEqual(await b.read(now[0]!), body(700, 9));
  b.close();
});
