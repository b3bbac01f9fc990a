/**
 * protocols/ftp/bodies.ts: sending stored message bodies on a data connection (RETR), read
 * through the session's `BodyReader` (the store's one body reader, src/store/bodies.ts).
 *
 * Small bodies (up to SMALL_BODY) are read whole through the reader's read-ahead window of
 * READ_AHEAD_BYTES (a mirror fetches a folder's messages in UID order, and their bodies lie one
 * after another, so one read serves many), read with a synchronous pread (as POP3 reads its
 * chunks: a window from the page cache is a copy of ~20 µs, where the libuv pool adds a pool
 * thread's wake-up and an event-loop trip per window), checked against their crc32 before a byte is sent,
 * and sent from byte `start` (REST). The windows come from a per-thread pool and go back to it
 * once a transfer has handed its bytes to the network. Large ones are streamed in chunks of READ_AHEAD_BYTES at
 * the socket's pace; from byte 0 the reader checks the crc32 before the last chunk, so a
 * mismatch cuts the connection and the client sees a failed transfer.
 *
 * Exports: `sendBody(socket, locator, start, timeoutMs, transfer, reader)`, `bodyReader()`,
 * `READ_AHEAD_BYTES`, `SMALL_BODY`.
 * Rejects: DataError ('corrupt', 'closed', 'aborted', 'timeout'); STORE_IO (a segment cannot be
 * opened or read).
 */
import type net from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BodyReader, WindowPool } from '../../store/bodies.ts';
import type { Locator } from '../../store/types.ts';
import { DataError, sendBytes, watch, type Transfer } from './data.ts';

export const SMALL_BODY = 1 << 20;
export const READ_AHEAD_BYTES = 256 * 1024;
/** Spare read-ahead windows kept per thread. */
const WINDOW_POOL = 8;
/** This thread's spare windows, shared by its sessions' readers: a mirror reads a window every
 * few dozen files per session, and a fresh 256 KiB buffer each time is allocation, page faults
 * and garbage the collector must chase. */
const windows = new WindowPool(WINDOW_POOL);

/** A session's reader: close it when the session ends. */
export function bodyReader(): BodyReader {
  return new BodyReader({ readAheadBytes: READ_AHEAD_BYTES, pool: windows, sync: true });
}

function corrupt(e: unknown): unknown {
  return (e as { code?: string }).code === 'STORE_CORRUPT' ? new DataError('corrupt', (e as Error).message) : e;
}

/** Send a stored body from byte `start` (REST) and close. */
export async function sendBody(s: net.Socket, loc: Locator, start: number, timeoutMs: number, t: Transfer, reader: BodyReader): Promise<void> {
  if (loc.length <= SMALL_BODY) {
    let body: Buffer;
    try {
      body = await reader.read(loc);
    } catch (e) {
      throw corrupt(e);
    }
    await sendBytes(s, start === 0 ? body : body.subarray(start), timeoutMs, t);
    // all of it is in the network's hands: the windows replaced before this one are nobody's
    reader.recycle();
    return;
  }
  t.release(); // streamed at the client's pace: it may wait for its 150 before it reads
  const done = watch(s, timeoutMs, t);
  done.catch(() => {});
  try {
    if (start >= loc.length) s.end();
    else await pipeline(Readable.from(reader.chunks(loc, { start, chunkBytes: READ_AHEAD_BYTES }), { objectMode: false, highWaterMark: READ_AHEAD_BYTES }), s);
  } catch (e) {
    s.destroy();
    if (t.aborted) throw new DataError('aborted', 'aborted');
    const c = corrupt(e);
    throw c instanceof DataError ? c : new DataError('closed', (e as Error).message);
  }
  await done;
}
