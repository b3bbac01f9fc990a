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
 * Beyond messages, the index keeps per folder its RFC 6154 special use and its RFC 7162 expunge
 * history (the last EXPUNGE_HISTORY_MAX expunged UIDs with their modseqs, in checkpoints and
 * rebuilt by replay), per mailbox its IMAP subscriptions, and, in memory only, each folder's
 * \Recent floor (`resetRecent` after recovery). Checkpoints written before any of these load
 * with none (and the history marked incomplete up to the folder's highest modseq).
 *
 * Exports: `Msg`, `Folder`, `MailboxState`, `ShardState`, `findMsg`, `applyAppend`,
 * `applyOp`, `nextUid`, `nextModseq`, `vanishedSince`, `resetRecent`, `encodeCheckpoint`,
 * `decodeCheckpoint`, `Checkpoint`.
 * Throws: STORE_CORRUPT (`decodeCheckpoint` of a damaged file).
 */
import { crc32 } from 'node:zlib';
import { PosternError } from '../errors.ts';
import { packr, type AppendMeta, type OpRecord } from './record.ts';
import type { Position } from './writer.ts';
import { EXPUNGE_HISTORY_MAX, HIERARCHY_SEP } from './types.ts';

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
  /** RFC 6154 special use ("\Sent"…), null: none. */
  use: string | null;
  /** RFC 3501 \Recent floor (in memory only): messages with uid ≥ it are recent to the next
   * session that claims them (changes.ts). 1 for a new folder; uidNext after a restart. */
  recent: number;
  /** RFC 7162 expunge history: UIDs expunged (`u`) and the modseq of each (`m`, ascending),
   * the last EXPUNGE_HISTORY_MAX or a little more; `lost`: the highest modseq of what was
   * dropped (or not known: a checkpoint written before the history), 0: nothing was. */
  gone: { u: number[]; m: number[]; lost: number };
}

export interface MailboxState {
  a: number;
  folders: Map<number, Folder>;
  byName: Map<string, Folder>;
  nextFolderId: number;
  lastUidValidity: number;
  usedBytes: number;
  usedCount: number;
  /** IMAP subscriptions: folder names, existing or not (RFC 9051 §6.3.7). */
  subs: Set<string>;
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
      mb = { a, folders: new Map(), byName: new Map(), nextFolderId: 1, lastUidValidity: 0, usedBytes: 0, usedCount: 0, subs: new Set() };
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

function newFolder(id: number, name: string, uidValidity: number, use: string | null = null): Folder {
  return { id, name, uidValidity, uidNext: 1, highestModseq: 1, msgs: [], bytes: 0, reservedUid: 1, reservedModseq: 1, use, recent: 1, gone: { u: [], m: [], lost: 0 } };
}

/** History kept past EXPUNGE_HISTORY_MAX before the oldest entries are cut (in one splice). */
const HISTORY_SLACK = EXPUNGE_HISTORY_MAX >>> 4;

function remember(f: Folder, uids: number[], modseq: number): void {
  const g = f.gone;
  for (const u of uids) {
    g.u.push(u);
    g.m.push(modseq);
  }
  const over = g.u.length - EXPUNGE_HISTORY_MAX;
  if (over > HISTORY_SLACK) {
    g.lost = Math.max(g.lost, g.m[over - 1]!);
    g.u.splice(0, over);
    g.m.splice(0, over);
  }
}

/** RFC 7162: the UIDs expunged with modseq > `since`, ascending; `complete` false when the
 * history kept does not reach back that far. */
export function vanishedSince(f: Folder, since: number): { uids: number[]; complete: boolean } {
  const g = f.gone;
  let lo = 0;
  let hi = g.m.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (g.m[mid]! <= since) lo = mid + 1;
    else hi = mid;
  }
  const uids = g.u.slice(lo).sort((a, b) => a - b);
  return { uids, complete: since >= g.lost };
}

/** Move the subscriptions of `from` and the names under it to `to` (a rename). */
function renameSubs(mb: MailboxState, from: string, to: string): void {
  const prefix = from + HIERARCHY_SEP;
  for (const n of [...mb.subs]) {
    if (n === from) {
      mb.subs.delete(n);
      mb.subs.add(to);
    } else if (n.startsWith(prefix)) {
      mb.subs.delete(n);
      mb.subs.add(to + n.slice(from.length));
    }
  }
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
  const removed: number[] = [];
  for (const m of f.msgs) {
    if (gone.has(m.uid)) {
      removed.push(m.uid);
      f.bytes -= m.len;
      mb.usedBytes -= m.len;
      mb.usedCount--;
      s.deadBytes += m.len;
    } else keep.push(m);
  }
  f.msgs = keep;
  f.highestModseq = Math.max(f.highestModseq, modseq);
  if (removed.length > 0) remember(f, removed, modseq);
}

/** Apply a durable index mutation. */
export function applyOp(s: ShardState, op: OpRecord): void {
  const mb = s.mailbox(op.a, op.o === 'fcreate');
  if (mb === undefined) return;
  switch (op.o) {
    case 'fcreate':
      for (const [id, name, v, use] of op.fs) {
        if (op.s === 1) mb.subs.add(name);
        if (mb.folders.has(id) || mb.byName.has(name)) continue;
        const f = newFolder(id, name, v, use ?? null);
        mb.folders.set(id, f);
        mb.byName.set(name, f);
        mb.nextFolderId = Math.max(mb.nextFolderId, id + 1);
        mb.lastUidValidity = Math.max(mb.lastUidValidity, v);
      }
      return;
    case 'frename': {
      const first = op.rn[0] === undefined ? undefined : mb.folders.get(op.rn[0][0]);
      if (first !== undefined) renameSubs(mb, first.name, op.rn[0]![1]);
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
    case 'subs':
      for (const n of op.n) {
        if (op.on) mb.subs.add(n);
        else mb.subs.delete(n);
      }
      return;
  }
}

/** After recovery: nothing already stored is \Recent (the floors are not persisted). */
export function resetRecent(s: ShardState): void {
  for (const mb of s.mailboxes.values()) for (const f of mb.folders.values()) f.recent = f.uidNext;
}

// ---- checkpoints ----

// a message row ends with its structure's byte count (absent in checkpoints written before it);
// a folder row ends with its special use and expunge history [uids, modseqs, lost] (absent before them)
type FolderRow = [number, string, number, number, number, Array<[number, number, number, string[] | null, number, number, number, number, number, number?]>, (string | null)?, [number[], number[], number]?];
// `s`: the IMAP subscriptions (absent before them)
type MailboxRow = { a: number; n: number; v: number; f: FolderRow[]; s?: string[] };

export interface Checkpoint {
  shard: number;
  /** Replay the log from here. */
  pos: Position;
  state: ShardState;
}

/** The checkpoint file's bytes: [u32 crc32][msgpack]. Synchronous, so it is exactly the state
 * at `pos` (nothing applies in between). */
export function encodeCheckpoint(shard: number, pos: Position, s: ShardState): Buffer {
  const mbs: MailboxRow[] = [];
  for (const mb of s.mailboxes.values()) {
    const rows: FolderRow[] = [];
    for (const f of mb.folders.values()) {
      rows.push([f.id, f.name, f.uidValidity, f.uidNext, f.highestModseq, f.msgs.map((m) => m.sl === 0 ? [m.uid, m.modseq, m.fl, m.kw, m.date, m.seg, m.off, m.len, m.crc] : [m.uid, m.modseq, m.fl, m.kw, m.date, m.seg, m.off, m.len, m.crc, m.sl]), f.use, [f.gone.u, f.gone.m, f.gone.lost]]);
    }
    mbs.push({ a: mb.a, n: mb.nextFolderId, v: mb.lastUidValidity, f: rows, s: [...mb.subs] });
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
  const d = packr.unpack(buf.subarray(4)) as { v: number; shard: number; pos: Position; mb: MailboxRow[] };
  if (d.v !== 1) throw new PosternError('STORE_CORRUPT', `checkpoint ${file} has unknown version ${String(d.v)}`, { file });
  const s = new ShardState();
  for (const row of d.mb) {
    const mb = s.mailbox(row.a, true)!;
    mb.nextFolderId = row.n;
    mb.lastUidValidity = row.v;
    for (const n of row.s ?? []) mb.subs.add(n);
    for (const [id, name, v, uidNext, hms, msgs, use, gone] of row.f) {
      const f = newFolder(id, name, v, use ?? null);
      f.uidNext = uidNext;
      f.highestModseq = hms;
      f.recent = uidNext;
      // before the history was kept, what had been expunged is unknown: nothing up to hms is complete
      f.gone = gone === undefined ? { u: [], m: [], lost: hms } : { u: gone[0], m: gone[1], lost: gone[2] };
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
