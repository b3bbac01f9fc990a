/**
 * store/shard.ts: one shard of the store: a directory of segment logs with one writer (group
 * commit), the in-memory index of the shard's accounts, checkpoints, recovery, compaction, and
 * the pins that keep bodies readable for open snapshots and readers.
 *
 * Recovery (`Shard.open`): load `checkpoint.mpk` (if any), replay every record from its position
 * on, stop each segment at its first torn or bad-checksum record and truncate it there (logged
 * with the bytes dropped; a group of APPENDs, written together, is applied only whole, and a
 * segment ending inside one is cut back to its start), drop accounts the directory no longer has, and delete segments that
 * hold nothing live. Checkpoints are written atomically; a segment is deleted only when it lies
 * wholly before the checkpoint's replay position, no indexed message points into it, and no
 * snapshot or reader has it pinned; after recovery no stored message is \Recent (state.ts).
 * Compaction copies the live bodies of mostly-dead sealed segments into the active one
 * (BODYCOPY records), repoints the index, checkpoints, and lets the old segments go once unpinned.
 *
 * Exports: `Shard`, `ShardOptions`, `CompactResult`. Throws/rejects: STORE_CORRUPT (an
 * unreadable checkpoint, or one pointing past its segment's end), STORE_NO_SPACE | STORE_IO.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PosternError } from '../errors.ts';
import { ioError, truncateSync, writeFileAtomic, type FsLayer } from './fsio.ts';
import { readBody } from './bodies.ts';
import { REC_APPEND, REC_OP, encodeBodyCopy, scanRecords, type ScannedRecord } from './record.ts';
import { ShardState, applyAppend, applyOp, decodeCheckpoint, encodeCheckpoint, resetRecent, type Msg } from './state.ts';
import { SegmentWriter, parseSegmentFile, type Position, type StoreLog } from './writer.ts';
import type { Locator } from './types.ts';

export interface ShardOptions {
  id: number;
  dir: string;
  fs: FsLayer;
  maxSegmentBytes: number;
  /** Write a checkpoint after this many log bytes since the last one. */
  checkpointBytes: number;
  log: StoreLog;
  /** Whether an account id still exists in the directory (orphans are dropped at open). */
  accountExists: (id: number) => boolean;
}

export interface CompactResult {
  segmentsRemoved: number;
  bytesCopied: number;
  bytesFreed: number;
}

const CHECKPOINT = 'checkpoint.mpk';
/** About what an APPEND record adds to its body (header, meta): live bytes are estimated with it. */
const RECORD_OVERHEAD = 80;
/** On demand, a segment is compacted once this much of it is dead (in the background: `minDead`). */
const FORCE_MIN_DEAD = 0.1;

export class Shard {
  readonly id: number;
  readonly dir: string;
  readonly state: ShardState;
  private readonly o: ShardOptions;
  private writer!: SegmentWriter;
  private readonly segs = new Set<number>();
  private readonly pins = new Map<number, number>();
  private cpPos: Position;
  private cpChain: Promise<void> = Promise.resolve();
  private bytesSinceCheckpoint = 0;
  private collectTimer: NodeJS.Timeout | null = null;
  private compacting: Promise<CompactResult> | null = null;
  /** Told of the bodies compaction moved ("seg:off" → new place), once the index points there
   * (the search index follows them: search-index.ts). */
  readonly bodyMoves: Array<(moved: ReadonlyMap<string, { seg: number; off: number }>) => void> = [];

  private constructor(o: ShardOptions, state: ShardState, cpPos: Position) {
    this.o = o;
    this.id = o.id;
    this.dir = o.dir;
    this.state = state;
    this.cpPos = cpPos;
  }

  static async open(o: ShardOptions): Promise<Shard> {
    const t0 = performance.now();
    fs.mkdirSync(o.dir, { recursive: true });
    const segs: number[] = [];
    for (const name of fs.readdirSync(o.dir)) {
      const n = parseSegmentFile(name);
      if (n !== null) segs.push(n);
      else if (name.endsWith('.tmp')) fs.rmSync(path.join(o.dir, name), { force: true });
    }
    segs.sort((a, b) => a - b);
    const cpFile = path.join(o.dir, CHECKPOINT);
    let state = new ShardState();
    let pos: Position = { seg: segs[0] ?? 1, off: 0 };
    let hadCheckpoint = false;
    if (fs.existsSync(cpFile)) {
      const cp = decodeCheckpoint(fs.readFileSync(cpFile), cpFile);
      state = cp.state;
      pos = cp.pos;
      hadCheckpoint = true;
    }
    let records = 0;
    let replayed = 0;
    let torn = 0;
    let active = Math.max(pos.seg, segs[segs.length - 1] ?? 1);
    let activeSize = 0;
    for (const seg of segs) {
      if (seg < pos.seg) continue;
      const file = path.join(o.dir, `seg-${String(seg).padStart(8, '0')}.log`);
      const buf = fs.readFileSync(file);
      const start = seg === pos.seg ? pos.off : 0;
      if (start > buf.length) {
        throw new PosternError('STORE_CORRUPT', `shard ${o.id}: checkpoint points at ${start} in segment ${seg} of ${buf.length} bytes`, { shard: o.id, seg });
      }
      const r = scanRecords(buf, start);
      // a group of APPENDs (meta.g: [index, count], one write) applies only once it is whole
      let group: Array<Extract<ScannedRecord, { type: typeof REC_APPEND }>> = [];
      let groupStart = -1;
      for (const rec of r.records) {
        const g = rec.type === REC_APPEND ? rec.meta.g : undefined;
        if (group.length > 0 && (g === undefined || g[0] !== group.length)) [group, groupStart] = [[], -1]; // an incomplete group: dropped
        if (rec.type === REC_APPEND && Array.isArray(g) && g[1] > 1) {
          if (g[0] !== group.length) continue; // not the group's next record (never written so): skipped
          if (group.length === 0) groupStart = rec.start;
          group.push(rec);
          if (group.length === g[1]) {
            for (const a of group) applyAppend(state, a.meta, seg, a.bodyStart, a.bodyLen);
            [group, groupStart] = [[], -1];
          }
        } else if (rec.type === REC_APPEND) applyAppend(state, rec.meta, seg, rec.bodyStart, rec.bodyLen);
        else if (rec.type === REC_OP) applyOp(state, rec.op);
        records++;
      }
      let end = r.validEnd;
      let stop = r.stop;
      if (groupStart >= 0) {
        end = groupStart; // the write of a group ended in the crash: none of it stays
        stop = `${stop ?? 'end of segment'} inside a group of appends`;
      }
      replayed += end - start;
      if (stop !== null) {
        const dropped = buf.length - end;
        torn += dropped;
        truncateSync(file, end);
        o.log.warn({ shard: o.id, seg, at: end, droppedBytes: dropped, why: stop }, 'store recovery: torn or bad record at the end of a segment: truncated');
      }
      if (seg === active) activeSize = end;
    }
    const dropped: number[] = [];
    for (const a of [...state.mailboxes.keys()]) {
      if (!o.accountExists(a)) {
        state.drop(a);
        dropped.push(a);
      }
    }
    state.removed.clear();
    resetRecent(state);
    const shard = new Shard(o, state, pos);
    for (const s of segs) shard.segs.add(s);
    shard.segs.add(active);
    shard.writer = await SegmentWriter.open(
      { dir: o.dir, fs: o.fs, maxSegmentBytes: o.maxSegmentBytes, log: o.log, onRoll: (n) => shard.segs.add(n) },
      active,
      activeSize,
    );
    const info = {
      shard: o.id, checkpoint: hadCheckpoint ? pos : null, segments: segs.length, records, replayedBytes: replayed,
      tornBytes: torn, droppedAccounts: dropped, ms: Math.round(performance.now() - t0),
    };
    o.log.info(info, 'store recovery: shard opened');
    if (records > 0 || torn > 0 || dropped.length > 0) await shard.checkpoint();
    else shard.collect();
    return shard;
  }

  pathOf(seg: number): string {
    return this.writer.pathOf(seg);
  }

  locator(m: Msg): Locator {
    return { path: this.writer.pathOf(m.seg), offset: m.off, length: m.len, crc: m.crc };
  }

  /** Queue a record; `onDurable` runs (synchronously, in log order) once it is on disk. */
  submit(bufs: readonly Uint8Array[], bytes: number, onDurable?: (pos: Position) => void): Promise<Position> {
    this.bytesSinceCheckpoint += bytes;
    const p = this.writer.submit(bufs, bytes, onDurable);
    if (this.bytesSinceCheckpoint >= this.o.checkpointBytes) {
      this.bytesSinceCheckpoint = 0;
      void p.then(() => this.checkpoint()).catch((e: unknown) => this.o.log.error({ shard: this.id, err: e }, 'store: checkpoint failed'));
    }
    return p;
  }

  pin(segs: Iterable<number>): void {
    for (const s of segs) this.pins.set(s, (this.pins.get(s) ?? 0) + 1);
  }

  unpin(segs: Iterable<number>): void {
    let freed = false;
    for (const s of segs) {
      const n = (this.pins.get(s) ?? 0) - 1;
      if (n <= 0) {
        this.pins.delete(s);
        if (s < this.cpPos.seg) freed = true;
      } else this.pins.set(s, n);
    }
    if (freed && this.collectTimer === null) {
      this.collectTimer = setTimeout(() => {
        this.collectTimer = null;
        this.collect();
      }, 10);
      this.collectTimer.unref();
    }
  }

  /** Read a message's body, its segment pinned while the read runs. */
  async read(m: Msg): Promise<Buffer> {
    const seg = m.seg;
    this.pin([seg]);
    try {
      return await readBody(this.locator(m));
    } finally {
      this.unpin([seg]);
    }
  }

  /** Write a checkpoint of the index (one at a time), then delete segments nothing needs. */
  checkpoint(): Promise<void> {
    const run = async (): Promise<void> => {
      const pos = this.writer.durableEnd();
      const buf = encodeCheckpoint(this.id, pos, this.state); // synchronous: exactly the state at pos
      await writeFileAtomic(this.o.fs, path.join(this.dir, CHECKPOINT), buf);
      this.cpPos = pos;
      this.collect();
    };
    const p = this.cpChain.then(run);
    this.cpChain = p.catch(() => {});
    return p;
  }

  /** Live bytes and messages per segment, from the index (bodies shared by copies count once). */
  private liveBySeg(): Map<number, Map<number, Msg>> {
    const live = new Map<number, Map<number, Msg>>();
    for (const mb of this.state.mailboxes.values()) {
      for (const f of mb.folders.values()) {
        for (const m of f.msgs) {
          let s = live.get(m.seg);
          if (s === undefined) live.set(m.seg, (s = new Map()));
          if (!s.has(m.off)) s.set(m.off, m);
        }
      }
    }
    return live;
  }

  /** Delete sealed segments before the checkpoint position that are unreferenced and unpinned. */
  collect(): void {
    const live = this.liveBySeg();
    const active = this.writer.activeSegment;
    for (const s of [...this.segs]) {
      if (s >= this.cpPos.seg || s === active || live.has(s) || (this.pins.get(s) ?? 0) > 0) continue;
      try {
        fs.rmSync(this.pathOf(s), { force: true });
        this.segs.delete(s);
        this.o.log.info({ shard: this.id, seg: s }, 'store: segment removed (nothing live in it)');
      } catch (e) {
        this.o.log.warn({ shard: this.id, seg: s, err: e }, 'store: could not remove a segment');
      }
    }
  }

  /** Copy live bodies out of sealed segments that are at least `minDead` dead (0..1; with
   * `force`, 10%, after sealing the active segment), then checkpoint so the old ones can go. */
  compact(force: boolean, minDead = 0.5): Promise<CompactResult> {
    if (this.compacting !== null) return this.compacting;
    const run = async (): Promise<CompactResult> => {
      this.state.deadBytes = 0; // the hint is used up by this attempt
      if (force) {
        this.writer.requestRoll();
        await this.writer.submit([], 0); // a barrier that seals the active segment
      }
      await this.checkpoint();
      const live = this.liveBySeg();
      const result: CompactResult = { segmentsRemoved: 0, bytesCopied: 0, bytesFreed: 0 };
      const victims: number[] = [];
      const sizeBefore = new Map<number, number>();
      for (const s of [...this.segs].sort((a, b) => a - b)) {
        if (s >= this.cpPos.seg || s === this.writer.activeSegment) continue;
        let size: number;
        try {
          size = fs.statSync(this.pathOf(s)).size;
        } catch {
          continue;
        }
        let liveBytes = 0;
        for (const m of live.get(s)?.values() ?? []) liveBytes += m.len + RECORD_OVERHEAD;
        const dead = size === 0 ? 1 : 1 - Math.min(1, liveBytes / size);
        if (dead >= (force ? FORCE_MIN_DEAD : minDead)) {
          victims.push(s);
          sizeBefore.set(s, size);
        }
      }
      if (victims.length === 0) return result;
      const moved = new Map<string, { seg: number; off: number }>();
      for (const s of victims) {
        const copies: Promise<Position>[] = [];
        for (const m of live.get(s)?.values() ?? []) {
          // the structure moves with its body (same record, just before it): one read for both
          this.pin([m.seg]);
          let both: Buffer;
          try {
            both = await readBody(this.locator(m), true, m.sl);
          } finally {
            this.unpin([m.seg]);
          }
          const body = m.sl > 0 ? both.subarray(m.sl) : both;
          const structure = m.sl > 0 ? both.subarray(0, m.sl) : undefined;
          const rec = encodeBodyCopy([m.seg, m.off], body, structure);
          result.bytesCopied += m.len;
          const key = `${m.seg}:${m.off}`;
          copies.push(this.writer.submit(rec.bufs, rec.bytes, (pos) => moved.set(key, { seg: pos.seg, off: pos.off + rec.bodyOffset })));
        }
        await Promise.all(copies);
      }
      for (const mb of this.state.mailboxes.values()) {
        for (const f of mb.folders.values()) {
          for (const m of f.msgs) {
            const to = moved.get(`${m.seg}:${m.off}`);
            if (to !== undefined) [m.seg, m.off] = [to.seg, to.off];
          }
        }
      }
      for (const l of this.bodyMoves) l(moved);
      await this.checkpoint(); // the new locations are durable; collect() removes unpinned victims
      for (const s of victims) {
        if (!this.segs.has(s)) {
          result.segmentsRemoved++;
          result.bytesFreed += sizeBefore.get(s) ?? 0;
        }
      }
      this.o.log.info({ shard: this.id, victims, ...result }, 'store: compaction done');
      return result;
    };
    const p = run().catch((e: unknown) => {
      throw ioError(e, `compacting shard ${this.id}`);
    });
    this.compacting = p;
    void p.finally(() => (this.compacting = null)).catch(() => {});
    return p;
  }

  stats(): { segments: number; pinned: number; deadBytes: number; batches: number; records: number; queued: number } {
    return {
      segments: this.segs.size,
      pinned: this.pins.size,
      deadBytes: this.state.deadBytes,
      batches: this.writer.batches,
      records: this.writer.records,
      queued: this.writer.queued,
    };
  }

  async close(): Promise<void> {
    if (this.collectTimer !== null) clearTimeout(this.collectTimer);
    await this.compacting?.catch(() => {});
    await this.writer.drained();
    try {
      await this.checkpoint();
    } catch (e) {
      this.o.log.warn({ shard: this.id, err: e }, 'store: final checkpoint failed (the log replays at next open)');
    }
    await this.writer.close();
  }
}
