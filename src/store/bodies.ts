/**
 * store/bodies.ts: the one reader of stored message bodies, for every thread and protocol.
 * Callers hold a `Locator` (segment file, offset, length, crc32: from a snapshot, a list or a
 * fetch) and never learn more of the on-disk layout than that.
 *
 * - `readBody(locator, verify?)`: the whole body in a buffer of its own (transferable), from a
 *   fresh open of its segment, crc32-checked. For the store thread and processing.
 * - `readRange(file, offset, length)`: bytes that carry their own check (a stored MIME
 *   structure), unchecked, through this thread's open files (`SegmentFiles`).
 * - `BodyReader`: a session's reader (POP3, FTP; later IMAP). It holds the segment files it
 *   has read from until `close()` (an open file stays readable after compaction removes it),
 *   through this thread's `SegmentFiles` cache, and offers:
 *   - `read(locator)`: the whole body, crc-checked before it is returned, through a read-ahead
 *     window of `readAheadBytes` (a client fetching a folder in UID order reads bodies that lie
 *     one after another, so one read serves many). A mismatch through a cached file is tried
 *     once more on a fresh open. With a `WindowPool`, `recycle()` / `recycleAll()` (the caller
 *     holds none of the bodies any more) give the windows back for the next reads. With
 *     `sync` the windows are read with a synchronous pread.
 *   - `chunks(locator, { start, chunkBytes, sync })`: the body (from byte `start`) as fresh
 *     buffers of at most `chunkBytes`, pulled one at a time (the consumer's pace is the
 *     backpressure: nothing is read ahead of what it asked for). From byte 0 the crc32 is
 *     accumulated and checked before the last chunk is yielded: a body of one chunk is checked
 *     before any byte of it is seen, and a longer one fails before its end, so a damaged body
 *     is never taken for a whole one. `sync` reads with a synchronous pread (a chunk from the
 *     page cache costs ~2 µs, where a read through the libuv pool costs ~30 µs of CPU).
 * - `SegmentFiles` / `segmentFiles`: this thread's open segment files, reference-counted; a
 *   file nobody holds stays open LINGER_MS for the next reader, at most MAX_IDLE_FILES of them.
 *
 * Exports: `readBody`, `readRange`, `BodyReader`, `BodyReaderOptions`, `WindowPool`, `ChunkOptions`, `SegmentFiles`,
 * `FileHold`, `BODY_CHUNK_BYTES`.
 * Rejects: STORE_IO (a segment cannot be opened or read), STORE_CORRUPT (a short file or a crc
 * mismatch, with `path` and `offset` in its details).
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { PosternError } from '../errors.ts';
import type { Locator } from './types.ts';

export const BODY_CHUNK_BYTES = 64 * 1024;
const LINGER_MS = 5000;
const MAX_IDLE_FILES = 32;

function ioFail(e: unknown, what: string, file: string): PosternError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return new PosternError('STORE_IO', `${what} ${path.basename(file)}: ${(e as Error).message}`, code === undefined ? undefined : { errno: code }, { cause: e });
}

function corrupt(loc: Locator, why: string): PosternError {
  return new PosternError('STORE_CORRUPT', `${why} in ${path.basename(loc.path)} at ${loc.offset}`, { path: loc.path, offset: loc.offset });
}

function openFd(file: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, 'r', (e, fd) => (e !== null ? reject(ioFail(e, 'cannot open', file)) : resolve(fd))));
}

function preadAsync(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, off, len, pos, (e, n) => (e !== null ? reject(e) : resolve(n))));
}

interface FileEntry {
  fd: Promise<number>;
  refs: number;
  timer: NodeJS.Timeout | null;
}

/** A hold on an open segment file: `release()` once done (idempotent). */
export interface FileHold {
  fd: Promise<number>;
  release(): void;
}

/** This thread's open segment files, shared by its readers. */
export class SegmentFiles {
  private readonly files = new Map<string, FileEntry>(); // idle ones in the order they went idle

  acquire(file: string): FileHold {
    let f = this.files.get(file);
    if (f === undefined) {
      const entry: FileEntry = { fd: openFd(file), refs: 0, timer: null };
      entry.fd.catch(() => {
        if (this.files.get(file) === entry) this.files.delete(file);
      });
      f = entry;
      this.files.set(file, f);
    }
    if (f.timer !== null) {
      clearTimeout(f.timer);
      f.timer = null;
    }
    f.refs++;
    const entry = f;
    let released = false;
    return {
      fd: entry.fd,
      release: () => {
        if (released) return;
        released = true;
        this.release(file, entry);
      },
    };
  }

  private release(file: string, f: FileEntry): void {
    if (--f.refs > 0) return;
    if (this.files.get(file) !== f) {
      this.closeIdle(file, f); // forgotten meanwhile
      return;
    }
    this.files.delete(file); // re-inserted last: the most recently idle
    this.files.set(file, f);
    f.timer = setTimeout(() => this.closeIdle(file, f), LINGER_MS);
    f.timer.unref();
    let idle = 0;
    for (const e of this.files.values()) if (e.refs === 0) idle++;
    for (const [p, e] of this.files) {
      if (idle <= MAX_IDLE_FILES) break;
      if (e.refs === 0) {
        this.closeIdle(p, e);
        idle--;
      }
    }
  }

  /** Later acquirers of `file` open it afresh (its holders keep their descriptor). */
  forget(file: string): void {
    const f = this.files.get(file);
    if (f === undefined) return;
    this.files.delete(file);
    if (f.refs === 0) this.closeIdle(file, f);
  }

  private closeIdle(file: string, f: FileEntry): void {
    if (f.timer !== null) clearTimeout(f.timer);
    f.timer = null;
    if (this.files.get(file) === f) this.files.delete(file);
    if (f.refs > 0) return;
    f.fd.then((fd) => fs.close(fd, () => {}), () => {});
  }

  /** Whether `file` is open in this thread (held or lingering). */
  has(file: string): boolean {
    return this.files.has(file);
  }

  /** Files open (held or lingering). */
  get open(): number {
    return this.files.size;
  }
}

const segmentFiles = new SegmentFiles();

/** `length` bytes at `offset` of segment file `file`, unchecked (for bytes that carry their own
 * check, like a stored MIME structure: structure.ts), through this thread's open files. */
export async function readRange(file: string, offset: number, length: number, files: SegmentFiles = segmentFiles): Promise<Buffer> {
  const hold = files.acquire(file);
  try {
    const fd = await hold.fd;
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      let n: number;
      try {
        n = await preadAsync(fd, buf, got, length - got, offset + got);
      } catch (e) {
        throw ioFail(e, 'reading', file);
      }
      if (n === 0) throw corrupt({ path: file, offset, length, crc: 0 }, 'short read');
      got += n;
    }
    return buf;
  } finally {
    hold.release();
  }
}

/** The whole body, from a fresh open of its segment. With `verify` (default) the crc32 is checked.
 * With `before` > 0 the `before` bytes stored just ahead of the body (its MIME structure) come
 * in the same read, at the start of the buffer; the crc covers the body part only. */
export async function readBody(loc: Locator, verify = true, before = 0): Promise<Buffer> {
  const length = before + loc.length;
  const start = loc.offset - before;
  const buf = Buffer.allocUnsafeSlow(length); // its own ArrayBuffer: it may be transferred
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(loc.path, 'r');
  } catch (e) {
    throw ioFail(e, 'opening', loc.path);
  }
  try {
    let got = 0;
    while (got < length) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await fh.read(buf, got, length - got, start + got));
      } catch (e) {
        throw ioFail(e, 'reading', loc.path);
      }
      if (bytesRead === 0) throw corrupt(loc, 'short body');
      got += bytesRead;
    }
  } finally {
    await fh.close();
  }
  if (verify && crc32(before === 0 ? buf : buf.subarray(before)) !== loc.crc >>> 0) throw corrupt(loc, 'body checksum mismatch');
  return buf;
}

export interface BodyReaderOptions {
  /** `read` fetches at least this much from the body's offset on (0: the body alone). */
  readAheadBytes?: number;
  files?: SegmentFiles;
  /** Where read-ahead windows come from and go back to (`recycle`); none: always fresh. */
  pool?: WindowPool;
  /** `read` fills its windows with a synchronous pread (as `chunks` with `sync`): a window from
   * the page cache costs a copy, where a read through the libuv pool also costs a pool
   * thread's wake-up and a trip back through the event loop. */
  sync?: boolean;
}

/** Spare read-ahead window buffers of one thread, reused instead of allocated (a FETCH of
 * many bodies reads megabytes through windows; fresh ones are garbage the GC must chase). */
export class WindowPool {
  private readonly spare: Buffer[] = [];
  private readonly maxBuffers: number;
  constructor(maxBuffers: number) {
    this.maxBuffers = maxBuffers;
  }

  /** A spare buffer of at least `min` bytes (its contents are garbage), or null. */
  take(min: number): Buffer | null {
    for (let i = this.spare.length - 1; i >= 0; i--) {
      const b = this.spare[i]!;
      if (b.length >= min) {
        this.spare.splice(i, 1);
        return b;
      }
    }
    return null;
  }

  /** `buf` is referenced by nobody any more: keep it (up to `maxBuffers`). */
  give(buf: Buffer): void {
    if (this.spare.length < this.maxBuffers) this.spare.push(buf);
  }

  get size(): number {
    return this.spare.length;
  }
}

export interface ChunkOptions {
  /** The first byte to yield (a restarted transfer); from 0 the crc32 is checked. */
  start?: number;
  chunkBytes?: number;
  /** Read each chunk with a synchronous pread (bodies just written or read: the page cache). */
  sync?: boolean;
}

interface Window {
  path: string;
  offset: number;
  buf: Buffer;
  /** The whole allocation `buf` is a view of. */
  base: Buffer;
}

/** One session's reader: the files it holds, its read-ahead window. */
export class BodyReader {
  private readonly files: SegmentFiles;
  private readonly readAheadBytes: number;
  private readonly held = new Map<string, FileHold>();
  private window: Window | null = null;
  /** Windows replaced since the last `recycle`: bodies handed out may still point into them. */
  private retired: Buffer[] = [];
  private readonly pool: WindowPool | null;
  private readonly sync: boolean;
  private closed = false;

  constructor(o: BodyReaderOptions = {}) {
    this.files = o.files ?? segmentFiles;
    this.readAheadBytes = o.readAheadBytes ?? 0;
    this.pool = o.pool ?? null;
    this.sync = o.sync ?? false;
  }

  /** The caller holds no body this reader returned before the current window (e.g. the socket
   * they were written to has sent them): the replaced windows go back to the pool. */
  recycle(): void {
    if (this.pool === null) return;
    for (const b of this.retired) this.pool.give(b);
    this.retired = [];
  }

  /** The caller holds no body this reader ever returned: every window goes back to the pool. */
  recycleAll(): void {
    if (this.pool !== null && this.window !== null) this.retired.push(this.window.base);
    this.window = null;
    this.recycle();
  }

  private fd(file: string): Promise<number> {
    if (this.closed) return Promise.reject(new PosternError('STORE_CLOSED', 'body reader closed'));
    let h = this.held.get(file);
    if (h === undefined) {
      const mine = this.files.acquire(file);
      h = mine;
      this.held.set(file, mine);
      mine.fd.catch(() => {
        if (this.held.get(file) === mine) this.held.delete(file);
        mine.release();
      });
    }
    return h.fd;
  }

  /** Drop this reader's hold on `file` and make the thread open it afresh. */
  private refresh(file: string): void {
    this.held.get(file)?.release();
    this.held.delete(file);
    this.files.forget(file);
  }

  /** The whole body, checked against its crc32. The buffer may be a view of a larger one. */
  async read(loc: Locator): Promise<Buffer> {
    const w = this.window;
    if (w !== null && w.path === loc.path && loc.offset >= w.offset && loc.offset + loc.length <= w.offset + w.buf.length) {
      const body = w.buf.subarray(loc.offset - w.offset, loc.offset - w.offset + loc.length);
      if (crc32(body) === loc.crc >>> 0) return body;
    }
    if (w !== null && this.pool !== null) this.retired.push(w.base);
    this.window = null;
    const cached = this.held.has(loc.path) || this.files.has(loc.path);
    try {
      this.window = await this.readWindow(loc);
    } catch (e) {
      if (!cached || (e as PosternError).code !== 'STORE_CORRUPT') throw e;
      this.refresh(loc.path); // a file cached under a path that was since replaced
      this.window = await this.readWindow(loc);
    }
    return this.window.buf.subarray(0, loc.length);
  }

  private async readWindow(loc: Locator): Promise<Window> {
    const fd = await this.fd(loc.path);
    const need = Math.max(loc.length, this.readAheadBytes);
    const base = this.pool?.take(need) ?? Buffer.allocUnsafe(need);
    const buf = base.length === need ? base : base.subarray(0, need);
    let got = 0;
    while (got < loc.length) {
      let n: number;
      try {
        n = this.sync ? fs.readSync(fd, buf, got, buf.length - got, loc.offset + got) : await preadAsync(fd, buf, got, buf.length - got, loc.offset + got);
      } catch (e) {
        throw ioFail(e, 'reading', loc.path);
      }
      if (n === 0) throw corrupt(loc, 'short body');
      got += n;
    }
    if (crc32(buf.subarray(0, loc.length)) !== loc.crc >>> 0) throw corrupt(loc, 'body checksum mismatch');
    return { path: loc.path, offset: loc.offset, buf: buf.subarray(0, got), base };
  }

  /** The body from `start` in fresh chunks; from 0, STORE_CORRUPT instead of a damaged last chunk. */
  async *chunks(loc: Locator, o: ChunkOptions = {}): AsyncGenerator<Buffer, void, undefined> {
    const start = o.start ?? 0;
    const size = Math.max(1, o.chunkBytes ?? BODY_CHUNK_BYTES);
    const check = start === 0;
    const fd = await this.fd(loc.path);
    let crc = 0;
    let pos = start;
    if (check && loc.length === 0 && loc.crc >>> 0 !== 0) throw corrupt(loc, 'body checksum mismatch');
    while (pos < loc.length) {
      const n = Math.min(size, loc.length - pos);
      // a fresh buffer per chunk: the previous one may still sit in a socket's queue
      const chunk = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        let r: number;
        try {
          r = o.sync === true ? fs.readSync(fd, chunk, got, n - got, loc.offset + pos + got) : await preadAsync(fd, chunk, got, n - got, loc.offset + pos + got);
        } catch (e) {
          throw ioFail(e, 'reading', loc.path);
        }
        if (r === 0) throw corrupt(loc, 'short body');
        got += r;
      }
      pos += n;
      if (check) {
        crc = crc32(chunk, crc);
        if (pos >= loc.length && crc >>> 0 !== loc.crc >>> 0) throw corrupt(loc, 'body checksum mismatch');
      }
      yield chunk;
    }
  }

  /** Release the files held; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.window = null;
    this.retired = [];
    for (const h of this.held.values()) h.release();
    this.held.clear();
  }

  /** Files this reader holds. */
  get holding(): number {
    return this.held.size;
  }
}
