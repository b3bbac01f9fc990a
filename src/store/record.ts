/**
 * store/record.ts: the records of a segment log, and their framing.
 *
 * A record is `[u32 len][u32 crc][u8 type][payload]` (little-endian), `len` = payload bytes,
 * `crc` = crc32 (node:zlib) of the type byte and the payload. Types:
 *   1 APPEND    payload = [u32 metaLen][meta msgpack][structure][body]: a message, its index
 *               entry and its MIME structure (structure.ts; `meta.sl` bytes, absent in
 *               records written before it), in one record, so a message is either wholly
 *               there or not at all. APPENDs written as a group (`meta.g`: [index, count],
 *               MULTIAPPEND) are consecutive and recovered all or none.
 *   2 OP        payload = msgpack of an index mutation (`OpRecord`): folder create (with its
 *               special use), rename, delete; flags; expunge; copy/move; IMAP subscriptions.
 *               Fields added later are optional, so older logs replay unchanged.
 *   3 BODYCOPY  payload = [u32 metaLen][meta msgpack][structure][body]: a body (and its
 *               structure, `meta.sl` bytes) copied by compaction; it becomes referenced only
 *               through a checkpoint, so replay skips it.
 * Bodies are stored raw, so a reader reads them in place by (file, offset, length).
 *
 * Exports: the record type constants, `AppendMeta`, `OpRecord`, `encodeAppend`, `encodeOp`,
 * `encodeBodyCopy`, `scanRecords`, `crc32Combine`, `packr`, `HEADER_BYTES`, `MAX_RECORD_BYTES`.
 * Throws: STORE_BAD_ARGUMENT (a body over MAX_RECORD_BYTES). `scanRecords` never throws: it
 * stops at the first torn or bad record and says where.
 */
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import { PosternError } from '../errors.ts';

export const REC_APPEND = 1;
export const REC_OP = 2;
export const REC_BODYCOPY = 3;
export const HEADER_BYTES = 9;
/** Largest record accepted (and believed during recovery). */
export const MAX_RECORD_BYTES = 1 << 30;

/** msgpack without msgpackr's record extension: a plain, stable on-disk format. */
export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** The index entry carried by an APPEND record. */
export interface AppendMeta {
  a: number; // account id
  f: number; // folder id
  u: number; // uid
  m: number; // modseq
  fl: number; // system flag bits
  k?: string[]; // keywords
  d: number; // internal date, ms
  c: number; // crc32 of the body
  sl?: number; // bytes of the stored structure between the meta and the body (structure.ts)
  g?: [number, number]; // [index, count] in a group of APPENDs kept all or none (IMAP MULTIAPPEND)
}

/** A copied message: [uid, bits, keywords|null, date, seg, off, len, crc, structure bytes?]. */
export type CopyEntry = [number, number, string[] | null, number, number, number, number, number, number?];

export type OpRecord =
  // [folder id, name, uidValidity, special use (absent in records written before it)]; s: subscribe the names too
  | { o: 'fcreate'; a: number; fs: Array<[number, string, number, (string | null)?]>; s?: 1 }
  | { o: 'frename'; a: number; rn: Array<[number, string]> } // [folder id, new name]
  | { o: 'fdelete'; a: number; f: number }
  | { o: 'flags'; a: number; f: number; m: number; ch: Array<[number, number, string[] | null]> } // [uid, bits, keywords]
  | { o: 'expunge'; a: number; f: number; m: number; u: number[] }
  | { o: 'copy'; a: number; f: number; m: number; e: CopyEntry[]; x?: { f: number; m: number; u: number[] } } // x: move's expunge
  | { o: 'subs'; a: number; on: boolean; n: string[] }; // IMAP SUBSCRIBE (on) / UNSUBSCRIBE of folder names

function header(type: number, payloadLen: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32LE(payloadLen, 0);
  h.writeUInt8(type, 8);
  return h;
}

// crc32 of a concatenation from the crcs of its parts (zlib's crc32_combine, as in its
// crc32.c: multiplication modulo the CRC polynomial, reflected), so that a body's crc, which
// the APPEND's meta carries, is not computed a second time for the record's crc.
const POLY = 0xedb88320;

/** a(x) · b(x) mod p(x), reflected. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = (b & 1) !== 0 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

const X2N: number[] = [0x40000000]; // x^(2^k) mod p(x)
for (let k = 1; k < 32; k++) X2N.push(multModP(X2N[k - 1]!, X2N[k - 1]!));

/** x^(n · 2^k) mod p(x). */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n > 0) {
    if ((n & 1) !== 0) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

const combineOps = new Map<number, number>(); // length → its operator (message sizes repeat)

/** crc32(A ‖ B) from crc32(A), crc32(B) and B's length. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  let op = combineOps.get(lengthB);
  if (op === undefined) {
    op = x2nModP(lengthB, 3);
    if (combineOps.size >= 4096) combineOps.clear();
    combineOps.set(lengthB, op);
  }
  return (multModP(op, crcA) ^ crcB) >>> 0;
}

/** Frame `[meta][body]` records: returns the buffers to write and where the body starts.
 * `bodyCrc`: crc32 of `body` when the caller has it already. */
function framed(type: number, meta: unknown, body: Uint8Array, structure?: Buffer, bodyCrc?: number): { bufs: Buffer[]; bodyOffset: number; bytes: number } {
  if (body.byteLength > MAX_RECORD_BYTES - 1024) {
    throw new PosternError('STORE_BAD_ARGUMENT', `message of ${body.byteLength} bytes is over the store's record limit`);
  }
  const m = packr.pack(meta);
  const sl = structure?.length ?? 0;
  const payloadLen = 4 + m.length + sl + body.byteLength;
  const head = Buffer.allocUnsafe(HEADER_BYTES + 4 + m.length);
  head.writeUInt32LE(payloadLen, 0);
  head.writeUInt8(type, 8);
  head.writeUInt32LE(m.length, HEADER_BYTES);
  m.copy(head, HEADER_BYTES + 4);
  const prefix = sl === 0 ? crc32(head.subarray(8)) : crc32(structure!, crc32(head.subarray(8)));
  const crc = bodyCrc === undefined ? crc32(body, prefix) : crc32Combine(prefix, bodyCrc, body.byteLength);
  head.writeUInt32LE(crc, 4);
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const bufs = sl === 0 ? [head, b] : [head, structure!, b];
  return { bufs, bodyOffset: head.length + sl, bytes: head.length + sl + body.byteLength };
}

/** `structure`: its stored form (structure.ts), written between the meta and the body; `meta.sl`
 * is set to its length. `meta.c` must be crc32(body): the record's crc is combined from it. */
export function encodeAppend(meta: AppendMeta, body: Uint8Array, structure?: Buffer): { bufs: Buffer[]; bodyOffset: number; bytes: number } {
  if (structure !== undefined && structure.length > 0) meta.sl = structure.length;
  return framed(REC_APPEND, meta, body, meta.sl === undefined ? undefined : structure, meta.c);
}

export function encodeBodyCopy(from: [number, number], body: Uint8Array, structure?: Buffer): { bufs: Buffer[]; bodyOffset: number; bytes: number } {
  const sl = structure?.length ?? 0;
  return framed(REC_BODYCOPY, sl === 0 ? { from } : { from, sl }, body, sl === 0 ? undefined : structure);
}

export function encodeOp(op: OpRecord): Buffer {
  const p = packr.pack(op);
  const h = header(REC_OP, p.length);
  const out = Buffer.concat([h, p]);
  out.writeUInt32LE(crc32(out.subarray(8)), 4);
  return out;
}

export type ScannedRecord =
  | { type: typeof REC_APPEND; start: number; end: number; meta: AppendMeta; bodyStart: number; bodyLen: number }
  | { type: typeof REC_OP; start: number; end: number; op: OpRecord }
  | { type: typeof REC_BODYCOPY; start: number; end: number };

export interface ScanResult {
  records: ScannedRecord[];
  /** Offset just past the last good record. */
  validEnd: number;
  /** Why the scan stopped before the end of `buf`, or null if it read it all. */
  stop: string | null;
}

/** Parse records from `buf` starting at `from`; stop at the first torn or bad one. */
export function scanRecords(buf: Buffer, from: number): ScanResult {
  const records: ScannedRecord[] = [];
  let off = from;
  const bad = (why: string): ScanResult => ({ records, validEnd: off, stop: why });
  while (off < buf.length) {
    if (buf.length - off < HEADER_BYTES) return bad('torn header');
    const len = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    const type = buf.readUInt8(off + 8);
    if (len > MAX_RECORD_BYTES) return bad('bad length');
    const end = off + HEADER_BYTES + len;
    if (end > buf.length) return bad('torn record');
    if (crc32(buf.subarray(off + 8, end)) !== crc) return bad('checksum mismatch');
    try {
      if (type === REC_OP) {
        records.push({ type, start: off, end, op: packr.unpack(buf.subarray(off + HEADER_BYTES, end)) as OpRecord });
      } else if (type === REC_APPEND || type === REC_BODYCOPY) {
        const metaLen = buf.readUInt32LE(off + HEADER_BYTES);
        const metaEnd = off + HEADER_BYTES + 4 + metaLen;
        if (metaEnd > end) return bad('bad meta length');
        if (type === REC_APPEND) {
          const meta = packr.unpack(buf.subarray(off + HEADER_BYTES + 4, metaEnd)) as AppendMeta;
          const sl = meta.sl ?? 0;
          if (!Number.isInteger(sl) || sl < 0 || metaEnd + sl > end) return bad('bad structure length');
          const bodyStart = metaEnd + sl;
          records.push({ type, start: off, end, meta, bodyStart, bodyLen: end - bodyStart });
        } else records.push({ type, start: off, end });
      } else return bad(`unknown record type ${type}`);
    } catch {
      return bad('undecodable payload');
    }
    off = end;
  }
  return { records, validEnd: off, stop: null };
}
