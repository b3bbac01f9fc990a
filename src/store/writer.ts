/**
 * store/writer.ts: the one writer of a shard's segment log, with group commit.
 *
 * `submit(bufs)` queues a framed record. The flush loop takes everything queued, writes it with
 * one positioned gather write, runs one fdatasync (or, where the fs layer has synced writes
 * (fsio.ts `syncedFs`, the store's default), makes that write on an O_DSYNC descriptor: one
 * thread-pool job that is the write and its sync), then, in submission order, calls each
 * record's `onDurable` (synchronously: the in-memory index changes only once its record is on
 * disk) and resolves it. Records submitted while a flush is in progress form the next batch, so
 * concurrent submitters share syncs and throughput rises with concurrency. A failed write or
 * sync rejects the whole batch (nothing in it was acknowledged), truncates the segment back to
 * where the batch began and syncs that; if even that fails the writer moves on to a fresh
 * segment, so nothing is ever appended after a torn record. A segment that reaches
 * `maxSegmentBytes` is sealed and the next one created (its directory entry synced before any
 * record in it is acknowledged).
 *
 * Exports: `SegmentWriter`, `segmentFile(n)`, `parseSegmentFile(name)`, `Position`, `StoreLog`.
 * Rejects: STORE_NO_SPACE | STORE_IO (the batch's write or sync failed), STORE_CLOSED.
 */
import path from 'node:path';
import { PosternError } from '../errors.ts';
import { fsyncDir, ioError, writeAll, type FsLayer } from './fsio.ts';

export interface Position {
  seg: number;
  off: number; // offset of the record's first byte
}

/** The subset of a pino logger the store writes to. */
export interface StoreLog {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export function segmentFile(n: number): string {
  return `seg-${String(n).padStart(8, '0')}.log`;
}

export function parseSegmentFile(name: string): number | null {
  const m = /^seg-(\d{8,})\.log$/.exec(name);
  return m === null ? null : Number(m[1]);
}

function hasSynced(fsl: FsLayer): boolean {
  return fsl.openSynced !== undefined && fsl.writevSynced !== undefined;
}

/** A segment for appending: `create`d empty, or opened as it is. */
function openLog(fsl: FsLayer, file: string, create: boolean): Promise<number> {
  return hasSynced(fsl) ? fsl.openSynced!(file, create) : fsl.open(file, create ? 'w' : 'r+');
}

interface Pending {
  bufs: readonly Uint8Array[];
  bytes: number;
  onDurable: ((pos: Position) => void) | undefined;
  resolve: (pos: Position) => void;
  reject: (e: unknown) => void;
}

export interface WriterOptions {
  dir: string;
  fs: FsLayer;
  maxSegmentBytes: number;
  /** Most bytes in one batch (a batch always takes at least one record). */
  maxBatchBytes?: number;
  log: StoreLog;
  /** Told when a new segment file exists (its directory entry synced). */
  onRoll?: (seg: number) => void;
}

export class SegmentWriter {
  private readonly o: WriterOptions;
  private fd: number;
  private seg: number;
  private size: number;
  private queue: Pending[] = [];
  private flushing = false;
  private scheduled = false;
  private needRoll = false;
  private closed = false;
  private waiters: Array<() => void> = [];
  /** Batches written (each one write + one sync). */
  batches = 0;
  records = 0;

  /** The layer has synced writes (fsio.ts `writevSynced`): each batch is one write that is its
   * own sync; else a write, then an fdatasync. */
  private readonly synced: boolean;

  private constructor(o: WriterOptions, fd: number, seg: number, size: number) {
    this.o = o;
    this.synced = hasSynced(o.fs);
    this.fd = fd;
    this.seg = seg;
    this.size = size;
  }

  /** Open segment `seg` for appending at `size` (recovery has already truncated it there). */
  static async open(o: WriterOptions, seg: number, size: number): Promise<SegmentWriter> {
    const file = path.join(o.dir, segmentFile(seg));
    let fd: number;
    try {
      fd = await openLog(o.fs, file, size === 0); // never O_APPEND: writes are positioned
      if (size === 0) await fsyncDir(o.fs, o.dir);
    } catch (e) {
      throw ioError(e, `opening ${segmentFile(seg)}`);
    }
    return new SegmentWriter(o, fd, seg, size);
  }

  /** A segment's file path (memoised: a snapshot asks it once per message). */
  pathOf(seg: number): string {
    let p = this.paths.get(seg);
    if (p === undefined) {
      if (this.paths.size >= 1024) this.paths.clear();
      p = path.join(this.o.dir, segmentFile(seg));
      this.paths.set(seg, p);
    }
    return p;
  }
  private readonly paths = new Map<number, string>();

  get activeSegment(): number {
    return this.seg;
  }

  /** Where the next record will start; everything before it is durable and applied. */
  durableEnd(): Position {
    return { seg: this.seg, off: this.size };
  }

  get queued(): number {
    return this.queue.length;
  }

  submit(bufs: readonly Uint8Array[], bytes: number, onDurable?: (pos: Position) => void): Promise<Position> {
    if (this.closed) return Promise.reject(new PosternError('STORE_CLOSED', 'the store is closed'));
    return new Promise<Position>((resolve, reject) => {
      this.queue.push({ bufs, bytes, onDurable, resolve, reject });
      if (!this.flushing && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush()); // let submits of this turn join the first batch
      }
    });
  }

  /** Seal the active segment now (compaction wants its copies in a segment of their own). */
  requestRoll(): void {
    if (this.size > 0) this.needRoll = true;
  }

  /** Resolves when nothing is queued, scheduled or being written. */
  drained(): Promise<void> {
    if (!this.flushing && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.drained();
    try {
      await this.o.fs.close(this.fd);
    } catch {
      // closing a descriptor we own cannot lose data: everything acknowledged was synced
    }
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) await this.writeBatch(this.takeBatch());
    } finally {
      this.flushing = false;
      for (const w of this.waiters.splice(0)) w();
    }
  }

  private takeBatch(): Pending[] {
    const max = this.o.maxBatchBytes ?? 16 << 20;
    let n = 0;
    let bytes = 0;
    while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.bytes <= max)) bytes += this.queue[n++]!.bytes;
    return this.queue.splice(0, n);
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    try {
      if (this.needRoll || this.size >= this.o.maxSegmentBytes) await this.roll();
    } catch (e) {
      const err = ioError(e, `creating ${segmentFile(this.seg + 1)}`);
      for (const p of batch) p.reject(err);
      return;
    }
    const start = this.size;
    const bufs: Uint8Array[] = [];
    let total = 0;
    for (const p of batch) {
      for (const b of p.bufs) bufs.push(b);
      total += p.bytes;
    }
    try {
      await writeAll(this.o.fs, this.fd, bufs, start, this.synced);
      if (!this.synced) await this.o.fs.fdatasync(this.fd);
    } catch (e) {
      const err = ioError(e, `appending to ${segmentFile(this.seg)}`);
      await this.undo(start, err);
      for (const p of batch) p.reject(err);
      return;
    }
    this.size = start + total;
    this.batches++;
    this.records += batch.length;
    let off = start;
    for (const p of batch) {
      const pos = { seg: this.seg, off };
      off += p.bytes;
      if (p.onDurable !== undefined) {
        try {
          p.onDurable(pos);
        } catch (e) {
          this.o.log.error({ err: e, seg: pos.seg, off: pos.off }, 'store: applying a durable record failed');
        }
      }
      p.resolve(pos);
    }
  }

  /** Cut a failed batch off the segment; if that fails, never write to this segment again. */
  private async undo(start: number, cause: PosternError): Promise<void> {
    try {
      await this.o.fs.ftruncate(this.fd, start);
      await this.o.fs.fdatasync(this.fd);
      this.o.log.warn({ seg: this.seg, at: start, code: cause.code }, 'store: write failed; segment truncated back, batch rejected');
    } catch (e) {
      this.needRoll = true;
      this.o.log.error({ seg: this.seg, at: start, err: e }, 'store: write failed and truncating back failed: moving to a new segment');
    }
  }

  private async roll(): Promise<void> {
    const next = this.seg + 1;
    const fd = await openLog(this.o.fs, this.pathOf(next), true);
    try {
      await fsyncDir(this.o.fs, this.o.dir);
    } catch (e) {
      await this.o.fs.close(fd).catch(() => {});
      throw e;
    }
    const old = this.fd;
    this.fd = fd;
    this.seg = next;
    this.size = 0;
    this.needRoll = false;
    await this.o.fs.close(old).catch(() => {});
    this.o.onRoll?.(next);
  }
}
