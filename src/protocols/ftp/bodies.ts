/**
 * protocols/ftp/bodies.ts: sending stored message bodies on a data connection (RETR).
 *
 * Bodies are immutable in their segment files, so they are read in place: small ones (up to
 * SMALL_BODY) whole, through a per-thread cache of open segment files (an open file stays
 * readable even after compaction removes it) and the session's read-ahead window (a mirror
 * fetches a folder's messages in UID order, and their bodies lie one after another, so one read
 * serves many); each is checked against its crc32 before a byte is sent. Large ones are
 * streamed and checked at the end (a mismatch cuts the connection: the client sees a failed
 * transfer).
 *
 * Exports: `sendBody(socket, locator, start, timeoutMs, transfer, readAhead)`, `ReadAhead`,
 * `READ_AHEAD_BYTES`, `SMALL_BODY`.
 * Rejects: DataError ('corrupt', 'closed', 'aborted', 'timeout'); fs errors opening a segment.
 */
import fs from 'node:fs';
import type net from 'node:net';
import { crc32 } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { Locator } from '../../store/types.ts';
import { DataError, sendBytes, watch, type Transfer } from './data.ts';

export const SMALL_BODY = 1 << 20;
const FD_CACHE_MAX = 32;
const FD_IDLE_MS = 10_000;
const fds = new Map<string, { fd: number; used: number; readers: number }>(); // path → open segment, oldest first
let sweeper: NodeJS.Timeout | null = null;

function closeFd(path: string): void {
  const e = fds.get(path);
  if (e === undefined || e.readers > 0) return;
  fds.delete(path);
  fs.close(e.fd, () => {});
}

function sweepFds(): void {
  const now = Date.now();
  for (const [p, e] of fds) if (now - e.used > FD_IDLE_MS) closeFd(p);
  if (fds.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

/** A session's read-ahead window: a mirror fetches a folder's messages in UID order, and
 * their bodies lie one after another in a segment, so one read serves many. */
export interface ReadAhead {
  path: string;
  offset: number;
  buf: Buffer;
}
export const READ_AHEAD_BYTES = 256 * 1024;

/** Read a stored body (segments are immutable; an open file stays readable even after
 * compaction removes it), through the session's read-ahead window; its crc32 is checked, and a
 * mismatch through a cached file or window is tried once more on a fresh open. */
async function readSmall(loc: Locator, ra: { cur: ReadAhead | null }): Promise<Buffer> {
  const w = ra.cur;
  if (w !== null && w.path === loc.path && loc.offset >= w.offset && loc.offset + loc.length <= w.offset + w.buf.length) {
    const body = w.buf.subarray(loc.offset - w.offset, loc.offset - w.offset + loc.length);
    if (crc32(body) === loc.crc) return body;
  }
  ra.cur = null;
  try {
    ra.cur = await readWindow(loc);
  } catch (e) {
    if (!(e instanceof DataError) || !fds.has(loc.path)) throw e;
    closeFd(loc.path);
    ra.cur = await readWindow(loc);
  }
  return ra.cur.buf.subarray(0, loc.length);
}

/** Read from the body's offset up to READ_AHEAD_BYTES (at least the body), the body checked. */
async function readWindow(loc: Locator): Promise<ReadAhead> {
  let e = fds.get(loc.path);
  if (e === undefined) {
    const fd = await new Promise<number>((resolve, reject) => fs.open(loc.path, 'r', (err, fd) => (err !== null ? reject(err) : resolve(fd))));
    e = fds.get(loc.path);
    if (e === undefined) {
      e = { fd, used: Date.now(), readers: 0 };
      fds.set(loc.path, e);
      if (fds.size > FD_CACHE_MAX) closeFd(fds.keys().next().value!);
      sweeper ??= setInterval(sweepFds, FD_IDLE_MS).unref();
    } else fs.close(fd, () => {});
  } else {
    fds.delete(loc.path); // most recently used last
    fds.set(loc.path, e);
  }
  e.used = Date.now();
  e.readers++;
  const buf = Buffer.allocUnsafe(Math.max(loc.length, READ_AHEAD_BYTES));
  let got = 0;
  try {
    while (got < loc.length) {
      const n = await new Promise<number>((resolve, reject) => fs.read(e!.fd, buf, got, buf.length - got, loc.offset + got, (err, n) => (err !== null ? reject(err) : resolve(n))));
      if (n === 0) throw new DataError('corrupt', 'stored body is shorter than its index says');
      got += n;
    }
  } finally {
    e.readers--;
  }
  if (crc32(buf.subarray(0, loc.length)) !== loc.crc) throw new DataError('corrupt', 'stored body failed its checksum');
  return { path: loc.path, offset: loc.offset, buf: buf.subarray(0, got) };
}

/** Send a stored body from byte `start` (REST) and close. Small bodies are read whole and
 * checked before a byte is sent; large ones are streamed and checked at the end (a mismatch
 * cuts the connection: the client sees a failed transfer). */
export async function sendBody(s: net.Socket, loc: Locator, start: number, timeoutMs: number, t: Transfer, ra: { cur: ReadAhead | null }): Promise<void> {
  if (loc.length <= SMALL_BODY) {
    const body = await readSmall(loc, ra);
    return sendBytes(s, start === 0 ? body : body.subarray(start), timeoutMs, t);
  }
  const done = watch(s, timeoutMs, t);
  done.catch(() => {});
  let crc = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (start === 0) crc = crc32(chunk, crc);
      cb(null, chunk);
    },
    flush(cb) {
      cb(start === 0 && crc !== loc.crc ? new DataError('corrupt', 'stored body failed its checksum') : null);
    },
  });
  const file = loc.length - start > 0
    ? fs.createReadStream(loc.path, { start: loc.offset + start, end: loc.offset + loc.length - 1, highWaterMark: 256 * 1024 })
    : null;
  try {
    if (file === null) s.end();
    else await pipeline(file, check, s);
  } catch (e) {
    s.destroy();
    if (t.aborted) throw new DataError('aborted', 'aborted');
    throw e instanceof DataError ? e : new DataError('closed', (e as Error).message);
  }
  await done;
}
