/**
 * protocols/imap/search.ts: IMAP SEARCH (RFC 9051 §6.4.4, RFC 3501), ESEARCH results (RFC
 * 4731), SEARCHRES `$` (RFC 5182) and the MODSEQ key (RFC 7162), evaluated over the selected
 * mailbox's messages (`SearchScope`, in sequence order).
 *
 * How: every key is evaluated over the whole scope at once, as a bitmap (one byte per
 * message), so AND / OR / NOT are loops over bytes. Flags, UIDs, sequence numbers, internal
 * dates, sizes and modseqs come from the scope itself. Header (FROM TO CC BCC SUBJECT HEADER),
 * BODY, TEXT and the sent-date keys come from the store's search index (store/search-index.ts):
 * one `searchIndex(folder)` call says where each message's record lies in the shard's index
 * file (decoded, case-folded header and body text, store/search-text.ts); the records are read
 * in large sequential chunks (the next chunk read while this one is scanned) and each needle is
 * found with `Buffer.indexOf` over a whole chunk, a hit mapped to its record by a merge walk.
 * Only the messages the other top-level AND terms left are read. Messages without a record yet
 * (being indexed), and records cut by a cap that do not match, are answered from the body
 * itself (read through its locator, parsed, decoded: the same record built uncapped).
 *
 * Matching: substring, case-insensitive (store/search-text.ts `fold`, close to Unicode simple
 * case folding) over decoded text; HEADER name "" matches every message having the field;
 * dates compare by day (internal date in UTC, the Date: header's day as written; a message
 * without a usable Date: uses its internal date).
 *
 * Exports: `runSearch`, `formatSearch`, `headerFields` (SORT's and THREAD's header values),
 * `SUPPORTED_CHARSETS`, `charsetSupported`, `sequenceSetText`, `usesModseq`, `DAY_MS`.
 * Rejects: the store's codes (STORE_NO_SUCH_FOLDER when the folder went away, STORE_IO).
 */
import fs from 'node:fs';
import { BodyReader } from '../../store/bodies.ts';
import { parseStructure } from '../../store/structure.ts';
import { NO_CAPS, REC_HEAD, TRUNCATED, buildRecord, fold } from '../../store/search-text.ts';
import { VIEW_FIELDS, type SearchIndexView } from '../../store/types.ts';
import type { ReturnOption, SearchKey, SearchMessage, SearchScope, SequenceSet } from './types.ts';

export const SUPPORTED_CHARSETS: readonly string[] = Object.freeze(['UTF-8', 'US-ASCII']);
export const DAY_MS = 86_400_000;

/** CHARSET absent or one of SUPPORTED_CHARSETS (any case); else answer NO [BADCHARSET (…)]. */
export function charsetSupported(charset: string | null): boolean {
  return charset === null || SUPPORTED_CHARSETS.includes(charset.toUpperCase());
}

/** Does the key use MODSEQ (the reply then carries the highest modseq, RFC 7162 §3.1.5)? */
export function usesModseq(k: SearchKey): boolean {
  switch (k.k) {
    case 'modseq':
      return true;
    case 'and':
      return k.keys.some(usesModseq);
    case 'or':
      return usesModseq(k.a) || usesModseq(k.b);
    case 'not':
      return usesModseq(k.key);
    default:
      return false;
  }
}

/** Ascending numbers as a compressed sequence set ("1:3,5,7:9"); "" for none. */
export function sequenceSetText(nums: readonly number[]): string {
  let out = '';
  for (let i = 0; i < nums.length; ) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1) j++;
    out += (out === '' ? '' : ',') + (j === i ? `${nums[i]}` : `${nums[i]}:${nums[j]}`);
    i = j + 1;
  }
  return out;
}

const CHUNK = 8 << 20;
const GAP = 64 << 10;
const FALLBACK_PARALLEL = 8;
const READ_AHEAD = 1 << 20;

type TextKey = Extract<SearchKey, { k: 'header' | 'body' | 'text' }>;

interface Rec {
  i: number; // position in scope.messages
  pos: number; // in the index file (or 0 in its own buffer)
  len: number;
  hdr: number;
  flags: number;
}

interface Needle {
  key: TextKey;
  kind: 'header' | 'body' | 'text';
  /** UTF-8 of the folded value; for a header key with value "", the "\nname:" prefix. */
  bytes: Buffer;
  /** Header keys: "\nname:" (lower case). */
  prefix: Buffer;
  presence: boolean;
  bits: Uint8Array;
}

/** The index records of the scope's messages, or null for the messages with none. */
interface Loaded {
  path: string | null;
  rows: Float64Array | null; // VIEW_FIELDS per scope position, uid 0: no row
}

class Evaluation {
  private readonly scope: SearchScope;
  private readonly n: number;
  private readonly needles = new Map<TextKey, Needle>();
  private sent: Float64Array | null = null;
  private readonly now = Date.now();

  constructor(scope: SearchScope) {
    this.scope = scope;
    this.n = scope.messages.length;
  }

  private collect(k: SearchKey, needSent: { v: boolean }): void {
    switch (k.k) {
      case 'and':
        for (const x of k.keys) this.collect(x, needSent);
        return;
      case 'or':
        this.collect(k.a, needSent);
        this.collect(k.b, needSent);
        return;
      case 'not':
        this.collect(k.key, needSent);
        return;
      case 'header':
      case 'body':
      case 'text': {
        if (this.needles.has(k)) return;
        const field = k.k === 'header' ? k.field.toLowerCase() : '';
        const value = fold(k.value);
        const presence = k.k === 'header' && value === '';
        const prefix = Buffer.from(`\n${field}:`, 'utf8');
        this.needles.set(k, { key: k, kind: k.k, bytes: presence ? prefix : Buffer.from(value, 'utf8'), prefix, presence, bits: new Uint8Array(this.n) });
        return;
      }
      case 'date':
        if (k.which === 'sent') needSent.v = true;
        return;
      default:
        return;
    }
  }

  /** Everything the key needs from the index, read and scanned. */
  async prepare(key: SearchKey): Promise<void> {
    const needSent = { v: false };
    this.collect(key, needSent);
    if (this.needles.size === 0 && !needSent.v) return;
    // only the messages the cheap top-level AND terms keep are worth reading
    const conj = key.k === 'and' ? key.keys : [key];
    const cand = new Uint8Array(this.n).fill(1);
    for (const c of conj) if (cheap(c)) andInto(cand, this.eval(c));
    const loaded = await this.load();
    if (needSent.v) this.sent = new Float64Array(this.n).fill(NaN);
    const recs: Rec[] = [];
    const missing: number[] = [];
    const rows = loaded.rows;
    for (let i = 0; i < this.n; i++) {
      if (cand[i] === 0) continue;
      const o = i * VIEW_FIELDS;
      if (rows === null || rows[o] === 0 || rows[o + 1]! < 0) {
        missing.push(i);
        continue;
      }
      if (this.sent !== null) this.sent[i] = rows[o + 4]!;
      recs.push({ i, pos: rows[o + 1]!, len: rows[o + 2]!, hdr: rows[o + 3]!, flags: rows[o + 5]! });
    }
    const needles = [...this.needles.values()];
    if (needles.length > 0 && recs.length > 0 && loaded.path !== null) {
      try {
        await this.scanFile(loaded.path, recs, needles);
      } catch (e) {
        if (!gone(e)) throw e;
        for (const r of recs) missing.push(r.i); // the index moved to its next file meanwhile
      }
    }
    // records cut by a cap that did not match: look at the body itself
    if (needles.length > 0) {
      for (const r of recs) if ((r.flags & TRUNCATED) !== 0 && needles.some((nd) => nd.bits[r.i] === 0)) missing.push(r.i);
    }
    if (missing.length > 0) await this.fallback(missing, needles);
  }

  private load(): Promise<Loaded> {
    return loadView(this.scope);
  }

  private scanFile(path: string, recs: Rec[], needles: Needle[]): Promise<void> {
    return visitIndexed(path, recs, (buf, view) => {
      for (const nd of needles) scan(buf, view, nd);
    });
  }

  /** The body itself, for messages with no (or a cut) record. */
  private fallback(positions: number[], needles: Needle[]): Promise<void> {
    return visitBodies(this.scope, positions, (rec, view) => {
      if (this.sent !== null) this.sent[view[0]!.i] = rec.readDoubleLE(16);
      for (const nd of needles) scan(rec, view, nd);
    });
  }

  eval(k: SearchKey): Uint8Array {
    const n = this.n;
    const msgs = this.scope.messages;
    const out = new Uint8Array(n);
    switch (k.k) {
      case 'all':
        return out.fill(1);
      case 'and': {
        out.fill(1);
        for (const x of k.keys) andInto(out, this.eval(x));
        return out;
      }
      case 'or': {
        const a = this.eval(k.a);
        const b = this.eval(k.b);
        for (let i = 0; i < n; i++) out[i] = a[i]! | b[i]!;
        return out;
      }
      case 'not': {
        const a = this.eval(k.key);
        for (let i = 0; i < n; i++) out[i] = a[i]! ^ 1;
        return out;
      }
      case 'seq':
        return this.seqBits(k.set, false);
      case 'uid':
        return this.seqBits(k.set, true);
      case 'flag': {
        const want = k.flag.toLowerCase();
        for (let i = 0; i < n; i++) {
          const has = msgs[i]!.flags.some((f) => f.toLowerCase() === want);
          out[i] = has === k.set ? 1 : 0;
        }
        return out;
      }
      case 'recent':
        for (let i = 0; i < n; i++) out[i] = msgs[i]!.recent === k.set ? 1 : 0;
        return out;
      case 'new':
        for (let i = 0; i < n; i++) out[i] = msgs[i]!.recent && !msgs[i]!.flags.some((f) => f.toLowerCase() === '\\seen') ? 1 : 0;
        return out;
      case 'header':
      case 'body':
      case 'text':
        return this.needles.get(k)?.bits ?? out;
      case 'date':
        for (let i = 0; i < n; i++) {
          const internal = Math.floor(msgs[i]!.internalDate / DAY_MS) * DAY_MS;
          const sd = k.which === 'sent' ? (this.sent?.[i] ?? NaN) : NaN;
          const day = Number.isNaN(sd) ? internal : sd;
          out[i] = (k.op === 'before' ? day < k.date : k.op === 'on' ? day === k.date : day >= k.date) ? 1 : 0;
        }
        return out;
      case 'size':
        for (let i = 0; i < n; i++) out[i] = (k.op === 'larger' ? msgs[i]!.size > k.n : msgs[i]!.size < k.n) ? 1 : 0;
        return out;
      case 'modseq':
        for (let i = 0; i < n; i++) out[i] = msgs[i]!.modseq >= k.modseq ? 1 : 0;
        return out;
      case 'within': {
        const edge = this.now - k.seconds * 1000;
        for (let i = 0; i < n; i++) out[i] = (k.op === 'older' ? msgs[i]!.internalDate <= edge : msgs[i]!.internalDate >= edge) ? 1 : 0;
        return out;
      }
    }
  }

  private seqBits(set: SequenceSet, uid: boolean): Uint8Array {
    const n = this.n;
    const msgs = this.scope.messages;
    const out = new Uint8Array(n);
    if (set === '$') {
      const saved = new Set(this.scope.saved);
      for (let i = 0; i < n; i++) out[i] = saved.has(msgs[i]!.uid) ? 1 : 0;
      return out;
    }
    if (n === 0) return out;
    // messages ascend by both sequence number and UID (the scope may lack some sequence
    // numbers: messages the store no longer holds)
    const star = uid ? msgs[n - 1]!.uid : msgs[n - 1]!.seq;
    for (const r of set) {
      const a = r.from === '*' ? star : r.from;
      const b = r.to === '*' ? star : r.to;
      const lo = Math.min(a, b);
      const hi = Math.max(a, b);
      if (uid) for (let i = lowerBound(msgs, lo, 'uid'); i < n && msgs[i]!.uid <= hi; i++) out[i] = 1;
      else for (let i = lowerBound(msgs, lo, 'seq'); i < n && msgs[i]!.seq <= hi; i++) out[i] = 1;
    }
    return out;
  }
}

/** Where the scope's messages' records lie: VIEW_FIELDS numbers per scope position (uid 0:
 * no row), from one `searchIndex` call. */
async function loadView(scope: SearchScope): Promise<Loaded> {
  const api = scope.mailbox;
  if (typeof api.searchIndex !== 'function') return { path: null, rows: null };
  const v: SearchIndexView = await api.searchIndex(scope.folder);
  const n = scope.messages.length;
  const rows = new Float64Array(n * VIEW_FIELDS);
  const d = v.data;
  const msgs = scope.messages;
  // both ascending by uid: a merge walk
  let j = 0;
  for (let i = 0; i < n; i++) {
    const uid = msgs[i]!.uid;
    while (j < d.length && d[j]! < uid) j += VIEW_FIELDS;
    if (j < d.length && d[j] === uid) for (let f = 0, o = i * VIEW_FIELDS; f < VIEW_FIELDS; f++) rows[o + f] = d[j + f]!;
  }
  return { path: v.path, rows };
}

/** Read the records `recs` from the index file in large chunks (the next read while `visit`
 * scans this one) and hand each chunk to `visit` with its records (positions in the chunk). */
async function visitIndexed(path: string, recs: Rec[], visit: (buf: Buffer, recs: readonly Rec[]) => void): Promise<void> {
  if (recs.length === 0) return;
  recs.sort((a, b) => a.pos - b.pos);
  // chunks of records lying near each other, at most CHUNK bytes (or one bigger record)
  const chunks: Array<{ from: number; to: number; a: number; b: number }> = [];
  for (let a = 0; a < recs.length; ) {
    const from = recs[a]!.pos;
    let to = from + recs[a]!.len;
    let b = a + 1;
    while (b < recs.length && recs[b]!.pos - to <= GAP && recs[b]!.pos + recs[b]!.len - from <= CHUNK) {
      to = Math.max(to, recs[b]!.pos + recs[b]!.len);
      b++;
    }
    chunks.push({ from, to, a, b });
    a = b;
  }
  const fh = await fs.promises.open(path, 'r');
  try {
    const bufs = [Buffer.allocUnsafe(0), Buffer.allocUnsafe(0)];
    const read = async (k: number): Promise<Buffer> => {
      const c = chunks[k]!;
      const want = c.to - c.from;
      let b = bufs[k & 1]!;
      if (b.length < want) b = bufs[k & 1] = Buffer.allocUnsafe(Math.max(want, Math.min(CHUNK, b.length * 2)));
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(b, got, want - got, c.from + got);
        if (bytesRead <= 0) break;
        got += bytesRead;
      }
      return b.subarray(0, got);
    };
    let next = read(0);
    for (let k = 0; k < chunks.length; k++) {
      const buf = await next;
      if (k + 1 < chunks.length) next = read(k + 1);
      const c = chunks[k]!;
      // positions made relative to the chunk (in place: each record is in one chunk)
      let view = recs.slice(c.a, c.b);
      for (const rec of view) rec.pos -= c.from;
      if (buf.length < c.to - c.from) view = view.filter((rec) => rec.pos + rec.len <= buf.length); // a short read
      visit(buf, view);
    }
  } finally {
    await fh.close();
  }
}

/** Build the (uncapped) record of each message at `positions` from its body and `visit` it. */
async function visitBodies(scope: SearchScope, positions: number[], visit: (rec: Buffer, recs: readonly Rec[]) => void): Promise<void> {
  if (positions.length === 0) return;
  const msgs = scope.messages;
  const metas = await scope.mailbox.list(scope.folder, { uids: positions.map((i) => msgs[i]!.uid) });
  const byUid = new Map(metas.map((m) => [m.uid, m]));
  const order = [...positions].sort((a, b) => a - b); // bodies mostly lie in UID order: read-ahead serves many
  let next = 0;
  const worker = async (): Promise<void> => {
    const reader = new BodyReader({ readAheadBytes: READ_AHEAD });
    try {
      while (next < order.length) {
        const i = order[next++]!;
        const meta = byUid.get(msgs[i]!.uid);
        if (meta === undefined) continue; // expunged meanwhile: matches nothing but flags
        let body: Buffer;
        try {
          body = await reader.read(meta.locator);
        } catch {
          continue;
        }
        const rec = buildRecord(body, parseStructure(body), 0, 0, NO_CAPS);
        visit(rec, [{ i, pos: 0, len: rec.length, hdr: rec.readUInt32LE(24), flags: 0 }]);
      }
    } finally {
      reader.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(FALLBACK_PARALLEL, positions.length) }, worker));
}

/** The first occurrence of each header field `names` (lower case) of each message of `msgs`
 * (of the scope), decoded and case-folded, from the index (or the body): for SORT and THREAD. */
export async function headerFields(scope: SearchScope, msgs: readonly SearchMessage[], names: readonly string[]): Promise<Array<Map<string, string>>> {
  const posOf = new Map<number, number>();
  scope.messages.forEach((m, i) => posOf.set(m.uid, i));
  const out = new Map<number, Map<string, string>>();
  const want = new Set(names);
  const take = (buf: Buffer, recs: readonly Rec[]): void => {
    for (const r of recs) {
      const f = new Map<string, string>();
      const text = buf.toString('utf8', r.pos + REC_HEAD, r.pos + REC_HEAD + r.hdr);
      for (const line of text.split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon);
        if (want.has(name) && !f.has(name)) f.set(name, line.slice(colon + 1).trim());
      }
      out.set(r.i, f);
    }
  };
  const loaded = await loadView(scope);
  const recs: Rec[] = [];
  const missing: number[] = [];
  for (const m of msgs) {
    const i = posOf.get(m.uid);
    if (i === undefined) continue;
    const o = i * VIEW_FIELDS;
    if (loaded.rows === null || loaded.rows[o] === 0 || loaded.rows[o + 1]! < 0) missing.push(i);
    else recs.push({ i, pos: loaded.rows[o + 1]!, len: loaded.rows[o + 2]!, hdr: loaded.rows[o + 3]!, flags: loaded.rows[o + 5]! });
  }
  if (loaded.path !== null) {
    try {
      await visitIndexed(loaded.path, recs, take);
    } catch (e) {
      if (!gone(e)) throw e;
      for (const r of recs) missing.push(r.i); // the index moved to its next file meanwhile
    }
  }
  await visitBodies(scope, missing, take);
  return msgs.map((m) => out.get(posOf.get(m.uid) ?? -1) ?? new Map<string, string>());
}

/** The index file is gone (rewritten into its next generation after `searchIndex` answered). */
const gone = (e: unknown): boolean => (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';

function lowerBound(msgs: readonly SearchMessage[], v: number, by: 'uid' | 'seq'): number {
  let lo = 0;
  let hi = msgs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (msgs[mid]![by] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function andInto(a: Uint8Array, b: Uint8Array): void {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! & b[i]!;
}

/** A key answered without the index. */
function cheap(k: SearchKey): boolean {
  switch (k.k) {
    case 'header':
    case 'body':
    case 'text':
      return false;
    case 'date':
      return k.which === 'internal';
    case 'and':
      return k.keys.every(cheap);
    case 'or':
      return cheap(k.a) && cheap(k.b);
    case 'not':
      return cheap(k.key);
    default:
      return true;
  }
}

/** Mark in `nd.bits` the records of `recs` (ascending by `pos`, in `buf`) the needle matches. */
function scan(buf: Buffer, recs: readonly Rec[], nd: Needle): void {
  if (recs.length === 0) return;
  const needle = nd.bytes;
  const L = needle.length;
  const lo = (r: Rec): number => r.pos + REC_HEAD + (nd.kind === 'body' ? r.hdr : 0);
  const hiOf = (r: Rec): number => r.pos + r.len;
  if (L === 0) {
    for (const r of recs) nd.bits[r.i] = 1;
    return;
  }
  if (nd.kind === 'header' && !nd.presence && needle.includes(10)) return; // never inside one field
  if (nd.kind === 'header') {
    // only the header text of each record: searched record by record (the bodies, ten times
    // bigger, are never scanned)
    const pre = nd.prefix;
    for (const r of recs) {
      const start = r.pos + REC_HEAD;
      const hdr = buf.subarray(start, start + r.hdr);
      for (let p = hdr.indexOf(needle); p >= 0; ) {
        if (nd.presence) {
          nd.bits[r.i] = 1;
          break;
        }
        const ls = hdr.lastIndexOf(10, p);
        let le = hdr.indexOf(10, p);
        if (le < 0) le = hdr.length;
        if (ls < 0 || hdr.compare(pre, 0, pre.length, ls, ls + pre.length) !== 0) {
          p = hdr.indexOf(needle, le); // another field's line
          continue;
        }
        if (p >= ls + pre.length && p + L <= le) {
          nd.bits[r.i] = 1;
          break;
        }
        p = hdr.indexOf(needle, p + 1);
      }
    }
    return;
  }
  let j = 0;
  let p = buf.indexOf(needle, lo(recs[0]!));
  while (p >= 0) {
    while (j < recs.length && p >= recs[j]!.pos + recs[j]!.len) j++;
    if (j >= recs.length) return;
    const r = recs[j]!;
    const start = lo(r);
    if (p < start) {
      p = buf.indexOf(needle, start);
      continue;
    }
    const hi = hiOf(r);
    if (p + L > hi) {
      // no hit of this record lies wholly in its region: on to the next record
      if (++j >= recs.length) return;
      p = buf.indexOf(needle, lo(recs[j]!));
      continue;
    }
    nd.bits[r.i] = 1;
    if (++j >= recs.length) return;
    p = buf.indexOf(needle, lo(recs[j]!));
  }
}

/** The messages matching `key`, in sequence order. */
export async function runSearch(key: SearchKey, scope: SearchScope): Promise<SearchMessage[]> {
  const ev = new Evaluation(scope);
  await ev.prepare(key);
  const bits = ev.eval(key);
  const out: SearchMessage[] = [];
  for (let i = 0; i < bits.length; i++) if (bits[i] === 1) out.push(scope.messages[i]!);
  return out;
}

/** The untagged reply: `* SEARCH …` (`returns` null) or `* ESEARCH …` (RFC 4731); "" when the
 * only return option is SAVE (RFC 5182 §2.1: no ESEARCH then). With `modseq` (the key used
 * MODSEQ) the highest modseq of the messages returned is appended (RFC 7162 §3.1.5). */
export function formatSearch(matches: readonly SearchMessage[], o: { uid: boolean; returns: ReturnOption[] | null; tag: string; modseq: boolean }): string {
  const id = (m: SearchMessage): number => (o.uid ? m.uid : m.seq);
  const highest = (ms: readonly SearchMessage[]): number => ms.reduce((x, m) => Math.max(x, m.modseq), 0);
  if (o.returns === null) {
    let s = '* SEARCH';
    for (const m of matches) s += ` ${id(m)}`;
    if (o.modseq && matches.length > 0) s += ` (MODSEQ ${highest(matches)})`;
    return `${s}\r\n`;
  }
  const want = new Set<ReturnOption>(o.returns.length === 0 ? ['ALL'] : o.returns);
  if (want.size === 1 && want.has('SAVE')) return '';
  let s = `* ESEARCH (TAG "${o.tag.replace(/["\\]/g, '\\$&')}")`;
  if (o.uid) s += ' UID';
  const n = matches.length;
  const returned: SearchMessage[] = [];
  if (want.has('MIN') && n > 0) {
    s += ` MIN ${id(matches[0]!)}`;
    returned.push(matches[0]!);
  }
  if (want.has('MAX') && n > 0) {
    s += ` MAX ${id(matches[n - 1]!)}`;
    returned.push(matches[n - 1]!);
  }
  if (want.has('COUNT')) s += ` COUNT ${n}`;
  if (want.has('ALL') && n > 0) s += ` ALL ${sequenceSetText(matches.map(id))}`;
  if (o.modseq && n > 0) s += ` MODSEQ ${highest(want.has('ALL') || want.has('COUNT') ? matches : returned)}`;
  return `${s}\r\n`;
}
