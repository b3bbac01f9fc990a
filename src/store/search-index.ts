/**
 * store/search-index.ts: the search index of one shard, kept by the store thread from delivery,
 * so IMAP SEARCH (protocols/imap/search.ts) never parses a message to answer.
 *
 * Design: each stored body gets one record (search-text.ts: its header fields and the text of
 * its text parts, decoded and case-folded, capped per message) appended to the shard's
 * `search-<n>.idx` when the body's APPEND is applied. Records are keyed by the body (segment,
 * offset), not by folder and UID, so COPY and MOVE need nothing (the copy is the same body),
 * EXPUNGE needs nothing (a search only ever asks for the messages its folder holds), and the
 * file is append-only and never synced (it can always be rebuilt from the bodies). In memory
 * the index holds only where each record lies: a Map per segment from body offset to a slot of
 * typed arrays (record position, length, header length, sent day, flags): about 60 bytes per
 * indexed body (measured at 100,000). The text itself stays on disk (the page cache): the
 * searcher, in its own thread, reads and scans the records of the folder it searches (`view`
 * tells it where they are), so no search ever stops the store thread for more than the `view`
 * lookup (a Map get per message: a few ms per 100,000, see bench/imap-search.ts).
 *
 * Upkeep, in the background, in steps of at most ~10 ms: after a restart the file is read once
 * (records checked by crc32; reading stops at the first torn one, the tail of a crash) to
 * rebuild the Map; then a catch-up pass walks the shard's folders, indexes every message whose
 * body has no record (stored before the index existed, lost in a crash, or moved by
 * compaction; read from its segment), and drops the Map entries of bodies no folder holds any
 * more. Compaction moving a body moves its Map entry (and appends a small ALIAS record saying
 * so, for the next open). The catch-up pass runs again whenever a `view` finds bodies with no record or the Map
 * has grown to twice the live count. A message with no record yet is shown as such (position
 * -1): the searcher reads that body itself, so answers are right while upkeep runs.
 *
 * Space: after a catch-up pass, when the file's dead records (expunged mail) outweigh the live
 * ones and `REWRITE_MIN_BYTES`, the live records are copied, in steps, into the file's next
 * generation (`search-<n+1>.idx`, written as `.tmp` and renamed), then the index switches to it
 * at once; the old file is unlinked a minute later (a search that learnt its path just before
 * the switch still reads it; one that opens it later finds it gone and reads the bodies).
 *
 * Limit: the store option `searchTextChars` (default 262,144; at least 1,024): body text kept per message; a
 * message with more is flagged and, when its record does not match, searched from its body.
 *
 * Exports: `searchIndexOf(shard, caps?)`, `closeSearchIndex(shard)`, `SearchIndex`, `SearchIndexView`,
 * `VIEW_FIELDS`. Throws nothing: a write that fails leaves the body unindexed (searched the
 * slow way) and is counted in `stats().writeErrors`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { ALIAS, buildRecord, readHead, REC_HEAD, TEXT_CAPS, type TextCaps } from './search-text.ts';
import { decodeStructure, parseStructure, type MessageStructure } from './structure.ts';
import { readRange } from './bodies.ts';
import type { Shard } from './shard.ts';
import type { Folder, Msg } from './state.ts';
import { VIEW_FIELDS, type SearchIndexView } from './types.ts';

export { VIEW_FIELDS, type SearchIndexView } from './types.ts';

const FILE_RE = /^search-(\d+)\.idx$/;
const fileOf = (dir: string, gen: number): string => path.join(dir, `search-${gen}.idx`);
/** An old generation is unlinked this long after the switch. */
const OLD_FILE_GRACE_MS = 60_000;
const SLICE_MS = 10;
const SCAN_CHUNK = 4 << 20;
const REWRITE_MIN_BYTES = 64 << 20;

/** An ALIAS record: the body at (seg, off) is answered by the record at `target` (compaction
 * moved it); its sentDay field holds `target`. */
function aliasRecord(seg: number, off: number, target: number): Buffer {
  const b = Buffer.alloc(REC_HEAD);
  b.writeUInt32LE(REC_HEAD, 0);
  b.writeUInt32LE(seg >>> 0, 8);
  b.writeUInt32LE(off >>> 0, 12);
  b.writeDoubleLE(target, 16);
  b.writeUInt32LE(ALIAS, 28);
  b.writeUInt32LE(crc32(b.subarray(8)), 4);
  return b;
}

/** Body (segment, offset) → slot: a Map per segment, so every key is a small integer (a Map
 * keyed by seg·2³²+off hashes doubles, several times slower), the last segment's kept at hand. */
class BodyMap {
  private readonly segs = new Map<number, Map<number, number>>();
  private lastSeg = -1;
  private last: Map<number, number> | undefined;
  size = 0;

  private inner(seg: number, create: boolean): Map<number, number> | undefined {
    if (seg === this.lastSeg && this.last !== undefined) return this.last;
    let m = this.segs.get(seg);
    if (m === undefined && create) {
      m = new Map();
      this.segs.set(seg, m);
    }
    if (m !== undefined) {
      this.lastSeg = seg;
      this.last = m;
    }
    return m;
  }

  get(seg: number, off: number): number | undefined {
    return this.inner(seg, false)?.get(off);
  }

  has(seg: number, off: number): boolean {
    return this.inner(seg, false)?.has(off) ?? false;
  }

  set(seg: number, off: number, v: number): void {
    const m = this.inner(seg, true)!;
    const before = m.size;
    m.set(off, v);
    this.size += m.size - before;
  }

  delete(seg: number, off: number): void {
    const m = this.inner(seg, false);
    if (m === undefined || !m.delete(off)) return;
    this.size--;
    if (m.size === 0) {
      this.segs.delete(seg);
      this.lastSeg = -1;
      this.last = undefined;
    }
  }

  *entries(): Generator<[number, number, number]> {
    for (const [seg, m] of [...this.segs]) for (const [off, v] of [...m]) yield [seg, off, v];
  }
}

const bodyKey = (seg: number, off: number): number => seg * 0x1_0000_0000 + off;
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export class SearchIndex {
  file: string;
  private gen: number;
  private readonly shard: Shard;
  private fd: number | null = null;
  private size = 0;
  private readonly map = new BodyMap();
  private pos = new Float64Array(1024);
  private len = new Uint32Array(1024);
  private hdr = new Uint32Array(1024);
  private day = new Float64Array(1024);
  private fl = new Uint8Array(1024);
  private slots = 0;
  private readonly free: number[] = [];
  private closed = false;
  private lastLive = 0;
  private upkeep: Promise<void> | null = null;
  private again = false;
  private readonly queue: Array<{ seg: number; off: number; body: Uint8Array; structure: MessageStructure }> = [];
  private readonly queued = new Set<number>(); // their body keys
  private addedDuringUpkeep: Set<number> | null = null;
  /** While a rewrite runs: the slots written or moved meanwhile, with their body key. */
  private dirty: Map<number, [number, number]> | null = null;
  private rewriting = false;
  private readonly oldFiles = new Map<string, NodeJS.Timeout>();
  readonly counters = { records: 0, recordBytes: 0, writeErrors: 0, caughtUp: 0, dropped: 0, scanned: 0, rewrites: 0 };
  /** Settles once the file has been read back and the first catch-up pass is done. */
  readonly ready: Promise<void>;

  private readonly caps: TextCaps;
  private readonly onMoved: (moved: ReadonlyMap<string, { seg: number; off: number }>) => void;

  constructor(shard: Shard, caps: TextCaps = TEXT_CAPS) {
    this.shard = shard;
    this.caps = caps;
    // the newest generation; older ones and unfinished rewrites are left-overs
    fs.mkdirSync(shard.dir, { recursive: true });
    const gens: number[] = [];
    for (const name of fs.readdirSync(shard.dir)) {
      const m = FILE_RE.exec(name);
      if (m !== null) gens.push(Number(m[1]));
      else if (/^search-\d+\.idx\.tmp$/.test(name)) fs.rmSync(path.join(shard.dir, name), { force: true });
    }
    this.gen = Math.max(1, ...gens);
    for (const g of gens) if (g !== this.gen) fs.rmSync(fileOf(shard.dir, g), { force: true });
    this.file = fileOf(shard.dir, this.gen);
    let size0 = 0;
    try {
      this.fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600); // not O_APPEND: writes go where `size` says
      size0 = fs.fstatSync(this.fd).size;
    } catch {
      this.fd = null;
      this.counters.writeErrors++;
    }
    this.size = size0;
    this.onMoved = (moved) => this.moved(moved);
    shard.bodyMoves.push(this.onMoved);
    this.ready = this.scan(size0).then(() => this.catchUp());
    this.ready.catch(() => {});
  }

  stats(): { bodies: number; fileBytes: number; pending: number } & SearchIndex['counters'] {
    return { bodies: this.map.size, fileBytes: this.size, pending: this.queue.length, ...this.counters };
  }

  private slot(): number {
    const f = this.free.pop();
    if (f !== undefined) return f;
    if (this.slots === this.pos.length) {
      const n = this.pos.length * 2;
      const grow = <T extends Float64Array | Uint32Array | Uint8Array>(a: T, C: new (n: number) => T): T => {
        const b = new C(n);
        b.set(a);
        return b;
      };
      this.pos = grow(this.pos, Float64Array);
      this.len = grow(this.len, Uint32Array);
      this.hdr = grow(this.hdr, Uint32Array);
      this.day = grow(this.day, Float64Array);
      this.fl = grow(this.fl, Uint8Array);
    }
    return this.slots++;
  }

  private register(seg: number, off: number, at: number, len: number, hdrLen: number, sentDay: number, flags: number): void {
    let s = this.map.get(seg, off);
    if (s === undefined) {
      s = this.slot();
      this.map.set(seg, off, s);
    }
    this.pos[s] = at;
    this.len[s] = len;
    this.hdr[s] = hdrLen;
    this.day[s] = sentDay;
    this.fl[s] = flags;
    this.addedDuringUpkeep?.add(bodyKey(seg, off));
    this.dirty?.set(s, [seg, off]);
  }

  /** Index a body just stored (the store thread, once its APPEND is applied): queued, and
   * indexed in steps of at most SLICE_MS (a group commit may apply many at once). */
  add(seg: number, off: number, body: Uint8Array, structure: MessageStructure): void {
    if (this.closed || this.fd === null) return;
    this.queue.push({ seg, off, body, structure });
    this.queued.add(bodyKey(seg, off));
    if (this.queue.length === 1) setImmediate(() => this.drain());
  }

  private drain(): void {
    const t0 = performance.now();
    let i = 0;
    const built: Array<{ seg: number; off: number; rec: Buffer }> = [];
    while (i < this.queue.length && !this.closed) {
      const q = this.queue[i++]!;
      this.queued.delete(bodyKey(q.seg, q.off));
      built.push({ seg: q.seg, off: q.off, rec: buildRecord(q.body, q.structure, q.seg, q.off, this.caps) });
      if (performance.now() - t0 > SLICE_MS) break;
    }
    this.writeMany(built); // the slice's records in one write (one syscall, not one per message)
    this.queue.splice(0, i);
    if (this.closed) {
      this.queue.length = 0;
      this.queued.clear();
    }
    if (this.queue.length > 0) setImmediate(() => this.drain());
    else if (this.map.size > 2 * Math.max(this.lastLive, this.liveBound()) + 1024) this.kick(); // many bodies gone: drop their entries
  }

  /** At least as many as the bodies the shard's folders hold (copies count twice). */
  private liveBound(): number {
    let n = 0;
    for (const mb of this.shard.state.mailboxes.values()) n += mb.usedCount;
    return n;
  }

  /** Bodies queued for indexing (not yet searchable from the index). */
  get pending(): number {
    return this.queue.length;
  }

  /** Append several records with one write; each is registered once the write succeeded. */
  private writeMany(recs: ReadonlyArray<{ seg: number; off: number; rec: Buffer }>): void {
    if (recs.length <= 1) {
      for (const r of recs) this.write(r.seg, r.off, r.rec);
      return;
    }
    if (this.fd === null) return;
    const all = Buffer.concat(recs.map((r) => r.rec));
    const at = this.size;
    try {
      let done = 0;
      while (done < all.length) done += fs.writeSync(this.fd, all, done, all.length - done, at + done);
    } catch {
      this.counters.writeErrors += recs.length;
      return;
    }
    let p = at;
    for (const { seg, off, rec } of recs) {
      this.size = p + rec.length;
      this.counters.records++;
      this.counters.recordBytes += rec.length;
      this.register(seg, off, p, rec.length, rec.readUInt32LE(24), rec.readDoubleLE(16), rec.readUInt32LE(28));
      p += rec.length;
    }
  }

  private write(seg: number, off: number, rec: Buffer): void {
    if (this.fd === null) return;
    const at = this.size;
    try {
      let done = 0;
      while (done < rec.length) done += fs.writeSync(this.fd, rec, done, rec.length - done, at + done);
    } catch {
      this.counters.writeErrors++;
      return;
    }
    this.size += rec.length;
    this.counters.records++;
    this.counters.recordBytes += rec.length;
    this.register(seg, off, at, rec.length, rec.readUInt32LE(24), rec.readDoubleLE(16), rec.readUInt32LE(28));
  }

  /** Compaction moved bodies: their records now answer for the new place (an ALIAS record
   * says so in the file, for the next open). */
  private moved(moved: ReadonlyMap<string, { seg: number; off: number }>): void {
    if (this.closed) return;
    for (const [from, to] of moved) {
      const [seg, off] = from.split(':').map(Number) as [number, number];
      const s = this.map.get(seg, off);
      if (s === undefined) continue;
      this.map.delete(seg, off);
      this.map.set(to.seg, to.off, s);
      this.addedDuringUpkeep?.add(bodyKey(to.seg, to.off));
      this.dirty?.set(s, [to.seg, to.off]);
      const alias = aliasRecord(to.seg, to.off, this.pos[s]!);
      if (this.fd === null) continue;
      try {
        fs.writeSync(this.fd, alias, 0, alias.length, this.size);
        this.size += alias.length;
      } catch {
        this.counters.writeErrors++;
      }
    }
  }

  /** Where the records of `f`'s messages lie (see SearchIndexView). */
  view(f: Folder): SearchIndexView {
    const msgs = f.msgs;
    const data = new Float64Array(msgs.length * VIEW_FIELDS);
    let missing = false;
    for (let i = 0, o = 0; i < msgs.length; i++, o += VIEW_FIELDS) {
      const m = msgs[i]!;
      const s = this.map.get(m.seg, m.off);
      data[o] = m.uid;
      if (s === undefined) {
        data[o + 1] = -1;
        if (!this.queued.has(bodyKey(m.seg, m.off))) missing = true; // (a queued one is indexed soon)
        continue;
      }
      data[o + 1] = this.pos[s]!;
      data[o + 2] = this.len[s]!;
      data[o + 3] = this.hdr[s]!;
      data[o + 4] = this.day[s]!;
      data[o + 5] = this.fl[s]!;
    }
    if (missing) this.kick();
    return { path: this.file, data };
  }

  /** Run a catch-up pass now (after the one running, if any) and wait for it. */
  async maintain(): Promise<void> {
    await this.ready;
    while (this.upkeep !== null) await this.upkeep;
    this.kick();
    while (this.upkeep !== null) await this.upkeep;
  }

  /** Run a catch-up pass soon (one at a time; a request during one runs another after it). */
  private kick(): void {
    if (this.closed) return;
    if (this.upkeep !== null) {
      this.again = true;
      return;
    }
    this.upkeep = this.ready.then(() => this.catchUp()).finally(() => {
      this.upkeep = null;
      if (this.again && !this.closed) {
        this.again = false;
        this.kick();
      }
    });
    this.upkeep.catch(() => {});
  }

  /** Read the file back (after a restart), up to `end`, stopping at the first bad record. */
  private async scan(end: number): Promise<void> {
    if (this.fd === null || end === 0) return;
    const fd = this.fd;
    let at = 0;
    let buf = Buffer.allocUnsafe(SCAN_CHUNK);
    const byPos = new Map<number, number>(); // record position → slot, for aliases
    while (at < end && !this.closed) {
      const want = Math.min(buf.length, end - at);
      const n = await new Promise<number>((resolve) => fs.read(fd, buf, 0, want, at, (e, k) => resolve(e === null ? k : 0)));
      if (n <= 0) break;
      const chunk = buf.subarray(0, n);
      let p = 0;
      let bad = false;
      for (;;) {
        if (p + REC_HEAD > chunk.length) break;
        const len = chunk.readUInt32LE(p);
        if (len < REC_HEAD) {
          bad = true;
          break;
        }
        if (p + len > chunk.length) {
          if (len > buf.length && p === 0) buf = Buffer.allocUnsafe(len); // one record bigger than the buffer
          break;
        }
        const h = readHead(chunk, p);
        if (h === null) {
          bad = true;
          break;
        }
        if ((h.flags & ALIAS) !== 0) {
          const s = byPos.get(h.sentDay); // an alias: the record at that position answers for this body
          if (s !== undefined) this.map.set(h.seg, h.off, s);
        } else {
          this.register(h.seg, h.off, at + p, h.len, h.hdrLen, h.sentDay, h.flags);
          byPos.set(at + p, this.map.get(h.seg, h.off)!);
          this.counters.scanned++;
        }
        p += len;
      }
      if (bad || (p === 0 && at + n >= end)) break; // a torn tail: what follows is re-indexed by catch-up
      at += p;
      await tick();
    }
  }

  /** Index what has no record; drop what no folder holds. */
  private async catchUp(): Promise<void> {
    if (this.closed) return;
    const added = new Set<number>();
    this.addedDuringUpkeep = added;
    let liveBytes = -1; // counted while pruning
    try {
      const live = new Set<number>();
      const todo: Msg[] = [];
      let t0 = performance.now();
      for (const mb of [...this.shard.state.mailboxes.values()]) {
        for (const f of [...mb.folders.values()]) {
          const msgs = f.msgs;
          for (let i = 0; i < msgs.length; i++) {
            const m = msgs[i]!;
            const k = bodyKey(m.seg, m.off);
            live.add(k);
            if (!this.map.has(m.seg, m.off) && !this.queued.has(k)) todo.push(m);
            if ((i & 1023) === 0 && performance.now() - t0 > SLICE_MS) {
              await tick();
              if (this.closed) return;
              t0 = performance.now();
            }
          }
        }
      }
      for (const m of todo) {
        if (this.closed) return;
        const k = bodyKey(m.seg, m.off);
        if (this.map.has(m.seg, m.off) || this.queued.has(k)) continue;
        let body: Buffer;
        let s: MessageStructure | null = null;
        try {
          body = await this.shard.read(m);
          if (m.sl > 0) s = decodeStructure(await readRange(this.shard.pathOf(m.seg), m.off - m.sl, m.sl));
        } catch {
          continue; // gone meanwhile (expunged and compacted): nothing to index
        }
        if (s === null || s.size !== body.length) s = parseStructure(body);
        if (this.closed) return;
        this.write(m.seg, m.off, buildRecord(body, s, m.seg, m.off, this.caps));
        this.counters.caughtUp++;
      }
      let t1 = performance.now();
      let n = 0;
      liveBytes = 0;
      for (const [seg, off, s] of this.map.entries()) {
        const k = bodyKey(seg, off);
        if (!live.has(k) && !added.has(k)) {
          this.map.delete(seg, off);
          this.free.push(s);
          this.counters.dropped++;
        } else liveBytes += this.len[s]!;
        if ((++n & 1023) === 0 && performance.now() - t1 > SLICE_MS) {
          await tick();
          if (this.closed) return;
          t1 = performance.now();
        }
      }
      this.lastLive = live.size;
    } finally {
      if (this.addedDuringUpkeep === added) this.addedDuringUpkeep = null;
    }
    if (liveBytes >= 0 && !this.closed && this.size - liveBytes > Math.max(liveBytes, REWRITE_MIN_BYTES)) await this.rewrite();
  }

  /** Copy the live records into the next generation of the file and switch to it (see the
   * contract). Resolves with the file's size before and after (equal when it did not run). */
  async rewrite(): Promise<{ before: number; after: number }> {
    const before = this.size;
    if (this.closed || this.fd === null || this.rewriting) return { before, after: before };
    this.rewriting = true;
    const gen = this.gen + 1;
    const tmp = `${fileOf(this.shard.dir, gen)}.tmp`;
    let fd: number | null = null;
    const dirty = new Map<number, [number, number]>();
    this.dirty = dirty;
    try {
      fd = fs.openSync(tmp, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
      const newPos = new Map<number, number>(); // slot → its place in the new file
      let size = 0;
      let todo: Array<[number, number, number]> = [...this.map.entries()];
      while (todo.length > 0) {
        let t0 = performance.now();
        for (const [seg, off, s] of todo) {
          if (this.closed || this.fd === null) throw new Error('closed');
          const len = this.len[s]!;
          const rec = Buffer.allocUnsafe(len);
          let got = 0;
          while (got < len) {
            const n = fs.readSync(this.fd, rec, got, len - got, this.pos[s]! + got);
            if (n <= 0) throw new Error('short read');
            got += n;
          }
          // the record answers for the body where it lies now (compaction may have moved it)
          rec.writeUInt32LE(seg >>> 0, 8);
          rec.writeUInt32LE(off >>> 0, 12);
          rec.writeUInt32LE(crc32(rec.subarray(8)), 4);
          let put = 0;
          while (put < len) put += fs.writeSync(fd, rec, put, len - put, size + put);
          newPos.set(s, size);
          size += len;
          if (performance.now() - t0 > SLICE_MS) {
            await tick();
            t0 = performance.now();
          }
        }
        // what was written (or moved) meanwhile, until nothing is
        todo = [...dirty].map(([s, [seg, off]]) => [seg, off, s]);
        dirty.clear();
      }
      if (this.closed || this.fd === null) throw new Error('closed');
      // the switch, in one step: nothing else runs between these lines
      const final = fileOf(this.shard.dir, gen);
      fs.renameSync(tmp, final);
      for (const [s, p] of newPos) this.pos[s] = p;
      const oldFd = this.fd;
      const oldFile = this.file;
      this.fd = fd;
      fd = null;
      this.file = final;
      this.gen = gen;
      this.size = size;
      fs.closeSync(oldFd);
      const t = setTimeout(() => {
        this.oldFiles.delete(oldFile);
        fs.rm(oldFile, { force: true }, () => {});
      }, OLD_FILE_GRACE_MS);
      t.unref();
      this.oldFiles.set(oldFile, t);
      this.counters.rewrites++;
      return { before, after: size };
    } catch {
      if (fd !== null) fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
      return { before, after: this.size };
    } finally {
      this.dirty = null;
      this.rewriting = false;
    }
  }

  close(): void {
    this.closed = true;
    for (const [file, t] of this.oldFiles) {
      clearTimeout(t);
      fs.rmSync(file, { force: true });
    }
    this.oldFiles.clear();
    const i = this.shard.bodyMoves.indexOf(this.onMoved);
    if (i >= 0) this.shard.bodyMoves.splice(i, 1);
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // closing is best effort
      }
      this.fd = null;
    }
  }
}

const indexes = new WeakMap<Shard, SearchIndex>();

/** The shard's search index, opened on first use (the Store opens it with the shard: its file
 * is read back in the background); `caps` apply when this call opens it. */
export function searchIndexOf(shard: Shard, caps?: TextCaps): SearchIndex {
  let ix = indexes.get(shard);
  if (ix === undefined) {
    ix = new SearchIndex(shard, caps);
    indexes.set(shard, ix);
  }
  return ix;
}

/** Stop the shard's index (Shard.close). */
export function closeSearchIndex(shard: Shard): void {
  indexes.get(shard)?.close();
  indexes.delete(shard);
}
