/**
 * store/fsio.ts: the file system as the store sees it: a small injectable layer (tests swap in
 * one whose write throws ENOSPC, or one that counts syncs) and atomic file replacement. Body
 * reads live in bodies.ts. `defaultFs.writev` makes a write of up to 256 KiB synchronously (the
 * page cache takes it in microseconds; a thread-pool round trip costs more), a bigger one in the
 * thread pool; syncs always go to the pool.
 *
 * Exports: `FsLayer`, `defaultFs`, `syncedFs` (defaultFs plus synced log writes: the store's
 * default), `countingFs(base)` (→ a layer plus its counters),
 * `writeFileAtomic(fsl, path, data)` (temp + fsync + rename + fsync dir), `fsyncDir`,
 * `truncateSync`, `ioError(e, what)` (maps ENOSPC/EDQUOT → STORE_NO_SPACE,
 * else STORE_IO; PosternErrors pass through).
 * Throws/rejects: STORE_NO_SPACE | STORE_IO (from `ioError` users).
 */
import fs from 'node:fs';
import path from 'node:path';
import { PosternError, isPosternError } from '../errors.ts';


/** The calls the store's writers make; each mirrors the node:fs callback call of that name. */
export interface FsLayer {
  open(path: string, flags: string, mode?: number): Promise<number>;
  close(fd: number): Promise<void>;
  /** Positioned gather write; may write fewer bytes than asked (the caller loops). */
  writev(fd: number, bufs: readonly Uint8Array[], position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, len: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Optional, both or neither: a log file opened so that `writevSynced` on it is durable when it
   * resolves (`create`: a new, empty file; else opened for writing as it is). */
  openSynced?(path: string, create: boolean): Promise<number>;
  /** Positioned gather write on an `openSynced` descriptor, durable when it resolves (as writev
   * then fdatasync of what it wrote), in one operation; may write fewer bytes than asked. */
  writevSynced?(fd: number, bufs: readonly Uint8Array[], position: number): Promise<number>;
}

/** Writes up to this size are made synchronously (see defaultFs.writev). */
const SYNC_WRITE_MAX_BYTES = 256 << 10;

function cb<T>(fn: (done: (e: NodeJS.ErrnoException | null, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((e, v) => (e !== null ? reject(e) : resolve(v as T))));
}

export const defaultFs: FsLayer = Object.freeze({
  open: (p: string, flags: string, mode = 0o600) => cb<number>((d) => fs.open(p, flags, mode, d)),
  close: (fd: number) => cb<void>((d) => fs.close(fd, d)),
  writev: (fd: number, bufs: readonly Uint8Array[], position: number) => {
    // A small write (a group commit's batch, typically) lands in the page cache in microseconds:
    // done here, it spares a thread-pool round trip (a wake-up each way), which on a busy
    // store costs more than the copy. A big one goes to the pool, so it never stalls the thread.
    let bytes = 0;
    for (const b of bufs) bytes += b.byteLength;
    if (bytes > SYNC_WRITE_MAX_BYTES) return cb<number>((d) => fs.writev(fd, bufs as NodeJS.ArrayBufferView[], position, (e, n) => d(e, n)));
    try {
      return Promise.resolve(fs.writevSync(fd, bufs as NodeJS.ArrayBufferView[], position));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  },
  fdatasync: (fd: number) => cb<void>((d) => fs.fdatasync(fd, d)),
  fsync: (fd: number) => cb<void>((d) => fs.fsync(fd, d)),
  ftruncate: (fd: number, len: number) => cb<void>((d) => fs.ftruncate(fd, len, d)),
  rename: (a: string, b: string) => cb<void>((d) => fs.rename(a, b, d)),
});

const { O_RDWR, O_CREAT, O_TRUNC, O_DSYNC } = fs.constants;

/** `defaultFs` with `openSynced`/`writevSynced`: a log write and its sync are one thread-pool
 * job (a pwritev on an O_DSYNC descriptor: the kernel syncs the data, and the size, before the
 * call returns, as fdatasync would), not a write here plus an fdatasync job: one wake-up each
 * way per group commit, and the copy into the page cache off this thread. What the store uses
 * unless given a layer; a layer built from `defaultFs` (tests' fault injection) keeps the
 * separate writev and fdatasync calls. */
export const syncedFs: FsLayer = Object.freeze({
  ...defaultFs,
  openSynced: (p: string, create: boolean) => cb<number>((d) => fs.open(p, create ? O_RDWR | O_CREAT | O_TRUNC | O_DSYNC : O_RDWR | O_DSYNC, 0o600, d)),
  writevSynced: (fd: number, bufs: readonly Uint8Array[], position: number) => cb<number>((d) => fs.writev(fd, bufs as NodeJS.ArrayBufferView[], position, (e, n) => d(e, n))),
});

export interface FsCounters {
  writes: number;
  syncs: number; // fdatasync + fsync
  bytes: number;
}

/** Wrap a layer so its writes and syncs are counted (group-commit figures, tests). */
export function countingFs(base: FsLayer = defaultFs): { fs: FsLayer; counters: FsCounters } {
  const counters: FsCounters = { writes: 0, syncs: 0, bytes: 0 };
  const layer: FsLayer = {
    ...base,
    async writev(fd, bufs, pos) {
      counters.writes++;
      const n = await base.writev(fd, bufs, pos);
      counters.bytes += n;
      return n;
    },
    fdatasync(fd) {
      counters.syncs++;
      return base.fdatasync(fd);
    },
    fsync(fd) {
      counters.syncs++;
      return base.fsync(fd);
    },
  };
  const synced = base.writevSynced;
  if (base.openSynced !== undefined && synced !== undefined) {
    layer.writevSynced = async (fd, bufs, pos) => {
      counters.writes++;
      counters.syncs++; // a write that is its own sync
      const n = await synced(fd, bufs, pos);
      counters.bytes += n;
      return n;
    };
  }
  return { fs: layer, counters };
}

/** An fs error as a store error kind: the disk is full, or some other I/O failure. */
export function ioError(e: unknown, what: string): PosternError {
  if (isPosternError(e)) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new PosternError('STORE_NO_SPACE', `${what}: no space left on the device`, { errno: code }, { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new PosternError('STORE_IO', `${what}: ${msg}`, code === undefined ? undefined : { errno: code }, { cause: e });
}

/** Write all of `bufs` at `position`, looping over short writes (`synced`: with
 * `fsl.writevSynced`, on an `openSynced` descriptor: durable when it resolves). */
export async function writeAll(fsl: FsLayer, fd: number, bufs: readonly Uint8Array[], position: number, synced = false): Promise<number> {
  let total = 0;
  for (const b of bufs) total += b.byteLength;
  let done = 0;
  let rest: Uint8Array[] = bufs.slice();
  while (done < total) {
    const chunk = rest.length > 512 ? rest.slice(0, 512) : rest;
    let n = await (synced ? fsl.writevSynced!(fd, chunk, position + done) : fsl.writev(fd, chunk, position + done));
    if (n <= 0) throw new PosternError('STORE_IO', 'write returned no progress');
    done += n;
    // drop what was written
    while (n > 0 && rest.length > 0) {
      const head = rest[0]!;
      if (head.byteLength <= n) {
        n -= head.byteLength;
        rest.shift();
      } else {
        rest[0] = head.subarray(n);
        n = 0;
      }
    }
    if (rest.length === 0) rest = [];
  }
  return total;
}

export async function fsyncDir(fsl: FsLayer, dir: string): Promise<void> {
  const fd = await fsl.open(dir, 'r');
  try {
    await fsl.fsync(fd);
  } finally {
    await fsl.close(fd);
  }
}

/** Replace `file` with `data` so that after a crash it holds either the old or the new bytes. */
export async function writeFileAtomic(fsl: FsLayer, file: string, data: Uint8Array): Promise<void> {
  const tmp = `${file}.tmp`;
  try {
    const fd = await fsl.open(tmp, 'w');
    try {
      await writeAll(fsl, fd, [data], 0);
      await fsl.fsync(fd);
    } finally {
      await fsl.close(fd);
    }
    await fsl.rename(tmp, file);
    await fsyncDir(fsl, path.dirname(file));
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw ioError(e, `writing ${path.basename(file)}`);
  }
}

/** Cut a log segment back to `length` bytes (a torn tail found by recovery) and sync it. */
export function truncateSync(file: string, length: number): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.ftruncateSync(fd, length);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
