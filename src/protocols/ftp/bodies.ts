/**
 * protocols/ftp/bodies.ts: sending stored message bodies on a data connection (RETR), read
 * through the session's `BodyReader` (the store's one body reader, src/store/bodies.ts).
 *
 * A session reads through `SessionBodies`: one reader per segment file it reads from (at most
 * READERS_PER_SESSION, the least recently used closed first), so a client that fetches from
 * several folders at once over one connection (lftp's `mirror -P` works on several directories
 * in parallel over the same connections; each account's messages lie in their own segments)
 * keeps each folder's read-ahead window instead of replacing its one window at every switch
 * (a window read for nothing: measured, two of three windows served no second body). Large
 * bodies are streamed through a reader of their own that is never closed before the session.
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
 * Exports: `sendBody(socket, locator, start, timeoutMs, transfer, bodies)`, `SessionBodies`,
 * `READ_AHEAD_BYTES`, `SMALL_BODY`, `READERS_PER_SESSION`.
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

/** Segment files a session keeps a read-ahead window of at once. */
export const READERS_PER_SESSION = 4;

const newReader = (): BodyReader => new BodyReader({ readAheadBytes: READ_AHEAD_BYTES, pool: windows, sync: true });

/** A session's body readers: one per segment file for whole small bodies (each with its own
 * window), one for streamed large ones. `close()` when the session ends. */
export class SessionBodies {
  /** Segment file → its reader, least recently used first. */
  private readonly readers = new Map<string, BodyReader>();
  private streamer: BodyReader | null = null;
  private closed = false;

  /** The reader for whole bodies in `file` (made, or moved to most recently used). */
  reader(file: string): BodyReader {
    const r = this.readers.get(file);
    if (r !== undefined) {
      this.readers.delete(file);
      this.readers.set(file, r);
      return r;
    }
    const fresh = newReader();
    if (this.closed) fresh.close(); // (it rejects STORE_CLOSED, as the session's readers do)
    else this.readers.set(file, fresh);
    // the least recently used one goes: a reader's read is synchronous once its file is
    // open, and a session runs one transfer at a time, so none is mid-read here
    for (const [k, old] of this.readers) {
      if (this.readers.size <= READERS_PER_SESSION) break;
      this.readers.delete(k);
      old.close();
    }
    return fresh;
  }

  /** The reader for streamed bodies (kept until the session ends: a stream may be long). */
  stream(): BodyReader {
    if (this.streamer === null) {
      this.streamer = newReader();
      if (this.closed) this.streamer.close();
    }
    return this.streamer;
  }

  /** Segment files with a reader now (tests). */
  get files(): number {
    return this.readers.size;
  }

  close(): void {
    this.closed = true;
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
    this.streamer?.close();
  }
}

function corrupt(e: unknown): unknown {
  return (e as { code?: string }).code === 'STORE_CORRUPT' ? new DataError('corrupt', (e as Error).message) : e;
}

/** Send a stored body from byte `start` (REST) and close. */
export async function sendBody(s: net.Socket, loc: Locator, start: number, timeoutMs: number, t: Transfer, bodies: SessionBodies): Promise<void> {
  if (loc.length <= SMALL_BODY) {
    const reader = bodies.reader(loc.path);
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
  const reader = bodies.stream();
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
