/**
 * store/state.ts: the in-memory index of one shard (its accounts' folders and messages), the
 * one function that changes it (`apply*`, used both live, once a record is durable, and by
 * recovery replaying the log, so the two cannot disagree), and its checkpoint form.
 *
 * Each folder keeps its messages sorted by uid. `uidNext`/`highestModseq` count what is applied
 * (and so durable); `reservedUid`/`reservedModseq` also count records still in flight, so the
 * mailbox actor can hand out UIDs and modseqs to pipelined appends. Applying is tolerant: a
 * record naming a folder or message that is gone changes nothing (it can only happen for an
 * account being removed). A message never applies twice: an APPEND whose uid is not above the
 * folder's last uid is skipped.
 *
 * Exports: `Msg`, `Folder`, `MailboxState`, `ShardState`, `findMsg`, `applyAppend`,
 * `applyOp`, `nextUid`, `nextModseq`, `encodeCheckpoint`, `decodeCheckpoint`, `Checkpoint`.
 * Throws: STORE_CORRUPT (`decodeCheckpoint` of a damaged file).
 */
import { crc32 } from 'node:zlib';
import { PosternError } from '../errors.ts';
import { packr, type AppendMeta, type OpRecord } from './record.ts';
import type { Position } from './writer.ts';

export interface Msg {
  uid: number;
  modseq: number;
  fl: number;
  kw: string[] | null;
  date: number;
  seg: number;
  off: number; // of the body bytes in the segment file
  len: number;
  crc: number;
  sl: number; // bytes of the stored MIME structure just before the body (0: none, structure.ts)
}

export interface Folder {
  id: number;
  name: string;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  msgs: Msg[];
  bytes: number;
  reservedUid: number;
  reservedModseq: number;
  /** RFC 6154 special use ("\\Sent"…), null: none. */
  use: string | null;
}

export interface MailboxState {
  a: number;
  folders: Map<number, Folder>;
  byName: Map<string, Folder>;
  nextFolderId: number;
  lastUidValidity: number;
  usedBytes: number;
  usedCount: number;
}

export class ShardState {
  readonly mailboxes = new Map<number, MailboxState>();
  /** Accounts removed while running: records still in flight for them are ignored. */
  readonly removed = new Set<number>();
  /** Bytes made unreachable since the last compaction (a hint for when to compact). */
  deadBytes = 0;

  mailbox(a: number, create: boolean): MailboxState | undefined {
    let mb = this.mailboxes.get(a);
    if (mb === undefined && create && !this.removed.has(a)) {
      mb = { a, folders: new Map(), byName: new Map(), nextFolderId: 1, lastUidValidity: 0, usedBytes: 0, usedCount: 0 };
      this.mailboxes.set(a, mb);
    }
    return mb;
  }

  drop(a: number): void {
    const mb = this.mailboxes.get(a);
    if (mb !== undefined) this.deadBytes += mb.usedBytes;
    this.mailboxes.delete(a);
    this.removed.add(a);
  }
}

export function findMsg(f: Folder, uid: number): Msg | undefined {
  const i = indexOfUid(f.msgs, uid);
  return i < 0 ? undefined : f.msgs[i];
}

function indexOfUid(msgs: Msg[], uid: number): number {
  let lo = 0;
  let hi = msgs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const u = msgs[mid]!.uid;
    if (u === uid) return mid;
    if (u < uid) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

export function nextUid(f: Folder): number {
  const u = Math.max(f.uidNext, f.reservedUid);
  f.reservedUid = u + 1;
  return u;
}

export function nextModseq(f: Folder): number {
  const m = Math.max(f.highestModseq, f.reservedModseq) + 1;
  f.reservedModseq = m;
  return m;
}

function newFolder(id: number, name: string, uidValidity: number): Folder {
  return { id, name, uidValidity, uidNext: 1, highestModseq: 1, msgs: [], bytes: 0, reservedUid: 1, reservedModseq: 1, use: null };
}

function addMsg(mb: MailboxState, f: Folder, m: Msg, modseq: number): boolean {
  const last = f.msgs.length === 0 ? 0 : f.msgs[f.msgs.length - 1]!.uid;
  if (m.uid <= last) return false; // already there (or out of order): never twice
  f.msgs.push(m);
  f.uidNext = Math.max(f.uidNext, m.uid + 1);
  f.highestModseq = Math.max(f.highestModseq, modseq);
  f.bytes += m.len;
  mb.usedBytes += m.len;
  mb.usedCount++;
  return true;
}

/** Apply a durable APPEND. `bodyOff` is the body's offset in segment `seg`. */
export function applyAppend(s: ShardState, meta: AppendMeta, seg: number, bodyOff: number, len: number): boolean {
  const mb = s.mailbox(meta.a, false);
  const f = mb?.folders.get(meta.f);
  if (mb === undefined || f === undefined) return false;
  const m: Msg = { uid: meta.u, modseq: meta.m, fl: meta.fl, kw: meta.k ?? null, date: meta.d, seg, off: bodyOff, len, crc: meta.c, sl: meta.sl ?? 0 };
  return addMsg(mb, f, m, meta.m);
}

function expungeUids(s: ShardState, mb: MailboxState, f: Folder, uids: number[], modseq: number): void {
  const gone = new Set(uids);
  const keep: Msg[] = [];
  for (const m of f.msgs) {
    if (gone.has(m.uid)) {
      f.bytes -= m.len;
      mb.usedBytes -= m.len;
      mb.usedCount--;
      s.deadBytes += m.len;
    } else keep.push(m);
  }
  f.msgs = keep;
  f.highestModseq = Math.max(f.highestModseq, modseq);
}

/** Apply a durable index mutation. */
export function applyOp(s: ShardState, op: OpRecord): void {
  const mb = s.mailbox(op.a, op.o === 'fcreate');
  if (mb === undefined) return;
  switch (op.o) {
    case 'fcreate':
      for (const [id, name, v] of op.fs) {
        if (mb.folders.has(id) || mb.byName.has(name)) continue;
        const f = newFolder(id, name, v);
        mb.folders.set(id, f);
        mb.byName.set(name, f);
        mb.nextFolderId = Math.max(mb.nextFolderId, id + 1);
        mb.lastUidValidity = Math.max(mb.lastUidValidity, v);
      }
      return;
    case 'frename': {
      for (const [id] of op.rn) {
        const f = mb.folders.get(id);
        if (f !== undefined && mb.byName.get(f.name) === f) mb.byName.delete(f.name);
      }
      for (const [id, name] of op.rn) {
        const f = mb.folders.get(id);
        if (f === undefined) continue;
        f.name = name;
        mb.byName.set(name, f);
      }
      return;
    }
    case 'fdelete': {
      const f = mb.folders.get(op.f);
      if (f === undefined) return;
      mb.folders.delete(f.id);
      if (mb.byName.get(f.name) === f) mb.byName.delete(f.name);
      mb.usedBytes -= f.bytes;
      mb.usedCount -= f.msgs.length;
      s.deadBytes += f.bytes;
      return;
    }
    case 'flags': {
      const f = mb.folders.get(op.f);
      if (f === undefined) return;
      for (const [uid, bits, kw] of op.ch) {
        const m = findMsg(f, uid);
        if (m === undefined) continue;
        m.fl = bits;
        m.kw = kw;
        m.modseq = op.m;
      }
      f.highestModseq = Math.max(f.highestModseq, op.m);
      return;
    }
    case 'expunge': {
      const f = mb.folders.get(op.f);
      if (f !== undefined) expungeUids(s, mb, f, op.u, op.m);
      return;
    }
    case 'copy': {
      const f = mb.folders.get(op.f);
      if (f !== undefined) {
        for (const [uid, fl, kw, date, seg, off, len, crc, sl] of op.e) addMsg(mb, f, { uid, modseq: op.m, fl, kw, date, seg, off, len, crc, sl: sl ?? 0 }, op.m);
        f.highestModseq = Math.max(f.highestModseq, op.m);
      }
      if (op.x !== undefined) {
        const src = mb.folders.get(op.x.f);
        if (src !== undefined) expungeUids(s, mb, src, op.x.u, op.x.m);
      }
      return;
    }
  }
}

// ---- checkpoints ----

// a message row ends with its structure's byte count (absent in checkpoints written before it)
type FolderRow = [number, string, number, number, number, Array<[number, number, number, string[] | null, number, number, number, number, number, number?]>];

export interface Checkpoint {
  shard: number;
  /** Replay the log from here. */
  pos: Position;
  state: ShardState;
}

/** The checkpoint file's bytes: [u32 crc32][msgpack]. Synchronous, so it is exactly the state
 * at `pos` (nothing applies in between). */
export function encodeCheckpoint(shard: number, pos: Position, s: ShardState): Buffer {
  const mbs: Array<{ a: number; n: number; v: number; f: FolderRow[] }> = [];
  for (const mb of s.mailboxes.values()) {
    const rows: FolderRow[] = [];
    for (const f of mb.folders.values()) {
      rows.push([f.id, f.name, f.uidValidity, f.uidNext, f.highestModseq, f.msgs.map((m) => m.sl === 0 ? [m.uid, m.modseq, m.fl, m.kw, m.date, m.seg, m.off, m.len, m.crc] : [m.uid, m.modseq, m.fl, m.kw, m.date, m.seg, m.off, m.len, m.crc, m.sl])]);
    }
    mbs.push({ a: mb.a, n: mb.nextFolderId, v: mb.lastUidValidity, f: rows });
  }
  const body = packr.pack({ v: 1, shard, pos, at: Date.now(), mb: mbs });
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32LE(crc32(body), 0);
  body.copy(out, 4);
  return out;
}

export function decodeCheckpoint(buf: Buffer, file: string): Checkpoint {
  if (buf.length < 4 || crc32(buf.subarray(4)) !== buf.readUInt32LE(0)) {
    throw new PosternError('STORE_CORRUPT', `checkpoint ${file} is damaged (checksum mismatch)`, { file });
  }
  const d = packr.unpack(buf.subarray(4)) as { v: number; shard: number; pos: Position; mb: Array<{ a: number; n: number; v: number; f: FolderRow[] }> };
  if (d.v !== 1) throw new PosternError('STORE_CORRUPT', `checkpoint ${file} has unknown version ${String(d.v)}`, { file });
  const s = new ShardState();
  for (const row of d.mb) {
    const mb = s.mailbox(row.a, true)!;
    mb.nextFolderId = row.n;
    mb.lastUidValidity = row.v;
    for (const [id, name, v, uidNext, hms, msgs] of row.f) {
      const f = newFolder(id, name, v);
      f.uidNext = uidNext;
      f.highestModseq = hms;
      for (const [uid, modseq, fl, kw, date, seg, off, len, crc, sl] of msgs) {
        f.msgs.push({ uid, modseq, fl, kw, date, seg, off, len, crc, sl: sl ?? 0 });
        f.bytes += len;
      }
      mb.usedBytes += f.bytes;
      mb.usedCount += f.msgs.length;
      mb.folders.set(id, f);
      mb.byName.set(name, f);
    }
  }
  return { shard: d.shard, pos: d.pos, state: s };
}
