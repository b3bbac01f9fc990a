/**
 * store/queue-record.ts: the records of the mail queue's segment log (`<store>/queue/`), in the
 * store's framing (`[u32 len][u32 crc][u8 type][payload]`, see record.ts), and the plain data
 * the queue hands out.
 *
 *   0x21 ENQUEUE  payload = [u32 metaLen][meta msgpack][body]: a message accepted by SMTP (or a
 *                 copy moved forward by compaction, whose meta then carries the entry's state).
 *   0x22 STATE    payload = msgpack of `StateRecord`: per-recipient outcomes, attempts, the next
 *                 attempt's time, the last error.
 *   0x23 DONE     payload = msgpack of `DoneRecord`: the entry has left the queue.
 *
 * Exports: the record types, `QueueEnvelope`, `QueueRcpt`, `RcptStatus`, `RcptState`,
 * `EntryState`, `EnqueueMeta`, `StateRecord`, `DoneRecord`, `encodeEnqueue`, `encodeState`,
 * `encodeDone`, `scanQueueRecords`, `NextHop`, `replayQueueLog`, `checkEnvelope`; the in-memory entry and what the queue
 * hands out: `QueueEntry`, `ClaimedEntry`, `QueueListItem`, `QueueStats`, `RELAY_WAIT`, `RELAY_DEFERRED`,
 * `initialState`, `entryStatus`.
 * Throws: STORE_BAD_ARGUMENT (`checkEnvelope` on a malformed envelope; a body over the record
 * limit). `scanQueueRecords` never throws: it stops at the first torn or bad record.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { PosternError } from '../errors.ts';
import { HEADER_BYTES, MAX_RECORD_BYTES, packr } from './record.ts';
import { truncateSync } from './fsio.ts';
import { parseSegmentFile, segmentFile, type StoreLog } from './writer.ts';
import type { Locator } from './types.ts';

export const QREC_ENQUEUE = 0x21;
export const QREC_STATE = 0x22;
export const QREC_DONE = 0x23;

/** RFC 3461 parameters kept with the message (additive fields of QueueEnvelope / QueueRcpt). */
export interface DsnEnvelope {
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
}
export interface DsnRcpt {
  /** NOTIFY: ['NEVER'] or any of SUCCESS, FAILURE, DELAY; null: not given (FAILURE,DELAY). */
  notify: string[] | null;
  /** ORCPT as given (`rfc822;user@example.com`), or null. */
  orcpt: string | null;
}

/** One recipient as SMTP accepted it: `account` is the local mailbox it resolved to, or null
 * for a remote recipient (relayed: for smtpOutgoing). */
export interface QueueRcpt {
  to: string;
  account: string | null;
  /** RFC 3461 NOTIFY/ORCPT (above); absent: not given. */
  dsn?: DsnRcpt;
  /** Cluster SMTP routing (protocols/smtp, `enableSmtpRouting`): the back end this remote
   * recipient goes to; smtpOutgoing sends it there (no MX lookup). Absent: by its route. */
  hop?: NextHop;
}

/** A next hop fixed at RCPT: a host name or address and its SMTP port. */
export interface NextHop {
  host: string;
  port: number;
}

/** What SMTP knew when it accepted the message; enough to write its `Received:` header. */
export interface QueueEnvelope {
  from: string; // reverse-path without <>, '' for the null sender
  rcpts: QueueRcpt[];
  receivedAt: number; // ms since the epoch
  helo: string;
  ip: string;
  by: string; // this server's host name
  with: string; // RFC 3848 / RFC 6531 with-type: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTP…
  tls: string | null; // e.g. "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384"
  auth: string | null; // the authenticated account, if any
  body: '7BIT' | '8BITMIME' | 'BINARYMIME';
  utf8: boolean;
  /** RFC 3461 RET/ENVID (above); absent: not given. */
  dsn?: DsnEnvelope;
  /** RFC 8689 REQUIRETLS was asked for. */
  requireTls?: boolean;
  /** DMARC quarantine (smtpIncoming's mail authentication, protocols/smtp/mailauth.ts): local
   * copies go to the recipient's Junk folder (INBOX if it has none); absent: INBOX. */
  junk?: true;
}

/** pending: local, not yet delivered · delivered · failed: permanently (why says) ·
 * relay: remote, waiting for smtpOutgoing. */
export type RcptStatus = 'pending' | 'delivered' | 'failed' | 'relay';

export interface RcptState {
  s: RcptStatus;
  why: string | null;
}

export interface EntryState {
  r: RcptState[];
  att: number; // failed attempts so far
  next: number; // ms: not before
  err: string | null; // the last temporary error
  /** Relay (smtpOutgoing, queue-relay.ts): failed attempts, next attempt (ms; absent: due),
   * delay notices sent, recipients whose failure was bounced. Absent: none yet. */
  ra?: number;
  rn?: number;
  dn?: number;
  rb?: number[];
}

export interface EnqueueMeta {
  id: string;
  env: QueueEnvelope;
  crc: number; // of the body
  st?: EntryState; // present on copies made by compaction
}

export interface StateRecord {
  id: string;
  r: Array<[number, RcptStatus, string | null]>; // changed recipients
  att: number;
  next: number;
  err: string | null;
  /** Relay fields (EntryState's), written by relay outcomes only; `rb` adds to the entry's. */
  ra?: number;
  rn?: number;
  dn?: number;
  rb?: number[];
}

export interface DoneRecord {
  id: string;
  why: 'delivered' | 'failed' | 'deleted';
}

function frame(type: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt32LE(payload.length, 0);
  out.writeUInt8(type, 8);
  payload.copy(out, HEADER_BYTES);
  out.writeUInt32LE(crc32(out.subarray(8)), 4);
  return out;
}

export function encodeEnqueue(meta: EnqueueMeta, body: Uint8Array): { bufs: Buffer[]; bodyOffset: number; bytes: number } {
  if (body.byteLength > MAX_RECORD_BYTES - (1 << 20)) throw new PosternError('STORE_BAD_ARGUMENT', `message of ${body.byteLength} bytes is over the queue's record limit`);
  const m = packr.pack(meta);
  const head = Buffer.allocUnsafe(HEADER_BYTES + 4 + m.length);
  head.writeUInt32LE(4 + m.length + body.byteLength, 0);
  head.writeUInt8(QREC_ENQUEUE, 8);
  head.writeUInt32LE(m.length, HEADER_BYTES);
  m.copy(head, HEADER_BYTES + 4);
  head.writeUInt32LE(crc32(body, crc32(head.subarray(8))), 4);
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return { bufs: [head, b], bodyOffset: head.length, bytes: head.length + body.byteLength };
}

export const encodeState = (r: StateRecord): Buffer => frame(QREC_STATE, packr.pack(r));
export const encodeDone = (r: DoneRecord): Buffer => frame(QREC_DONE, packr.pack(r));

export type ScannedQueueRecord =
  | { type: typeof QREC_ENQUEUE; meta: EnqueueMeta; bodyStart: number; bodyLen: number }
  | { type: typeof QREC_STATE; rec: StateRecord }
  | { type: typeof QREC_DONE; rec: DoneRecord };

/** Parse the records of one segment; stop at the first torn or bad one (`validEnd`, `stop`). */
export function scanQueueRecords(buf: Buffer): { records: ScannedQueueRecord[]; validEnd: number; stop: string | null } {
  const records: ScannedQueueRecord[] = [];
  let off = 0;
  const bad = (why: string) => ({ records, validEnd: off, stop: why });
  while (off < buf.length) {
    if (buf.length - off < HEADER_BYTES) return bad('torn header');
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt8(off + 8);
    if (len > MAX_RECORD_BYTES) return bad('bad length');
    const end = off + HEADER_BYTES + len;
    if (end > buf.length) return bad('torn record');
    if (crc32(buf.subarray(off + 8, end)) !== buf.readUInt32LE(off + 4)) return bad('checksum mismatch');
    try {
      if (type === QREC_ENQUEUE) {
        const metaLen = buf.readUInt32LE(off + HEADER_BYTES);
        const bodyStart = off + HEADER_BYTES + 4 + metaLen;
        if (bodyStart > end) return bad('bad meta length');
        const meta = packr.unpack(buf.subarray(off + HEADER_BYTES + 4, bodyStart)) as EnqueueMeta;
        records.push({ type, meta, bodyStart, bodyLen: end - bodyStart });
      } else if (type === QREC_STATE) {
        records.push({ type, rec: packr.unpack(buf.subarray(off + HEADER_BYTES, end)) as StateRecord });
      } else if (type === QREC_DONE) {
        records.push({ type, rec: packr.unpack(buf.subarray(off + HEADER_BYTES, end)) as DoneRecord });
      } else return bad(`unknown record type ${type}`);
    } catch {
      return bad('undecodable payload');
    }
    off = end;
  }
  return { records, validEnd: off, stop: null };
}

/** Recovery: read every segment of `dir` in order, hand each good record to `apply`, and cut
 * each segment at its first torn or bad record (synced, logged). */
export function replayQueueLog(dir: string, log: StoreLog, apply: (seg: number, rec: ScannedQueueRecord) => void): { segs: number[]; records: number; tornBytes: number; activeSize: number } {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const segs = fs.readdirSync(dir).map(parseSegmentFile).filter((n): n is number => n !== null).sort((a, b) => a - b);
  let records = 0;
  let tornBytes = 0;
  let activeSize = 0;
  for (const seg of segs) {
    const file = path.join(dir, segmentFile(seg));
    const buf = fs.readFileSync(file);
    const r = scanQueueRecords(buf);
    for (const rec of r.records) apply(seg, rec);
    records += r.records.length;
    if (r.stop !== null) {
      tornBytes += buf.length - r.validEnd;
      truncateSync(file, r.validEnd);
      log.warn({ seg, at: r.validEnd, droppedBytes: buf.length - r.validEnd, why: r.stop }, 'queue recovery: torn or bad record at the end of a segment: truncated');
    }
    activeSize = r.validEnd;
  }
  return { segs, records, tornBytes, activeSize };
}

const str = (v: unknown, max: number): boolean => typeof v === 'string' && v.length <= max;

/** An envelope that crossed a thread: its shape checked before it is written. */
export function checkEnvelope(env: unknown): QueueEnvelope {
  const e = env as QueueEnvelope;
  const ok = e !== null && typeof e === 'object' && str(e.from, 2048) && Array.isArray(e.rcpts) && e.rcpts.length > 0 && e.rcpts.length <= 10_000 &&
    e.rcpts.every((r) => r !== null && typeof r === 'object' && str(r.to, 2048) && (r.account === null || str(r.account, 2048))) &&
    Number.isFinite(e.receivedAt) && str(e.helo, 2048) && str(e.ip, 64) && str(e.by, 512) && str(e.with, 16) &&
    (e.tls === null || str(e.tls, 256)) && (e.auth === null || str(e.auth, 2048)) &&
    (e.body === '7BIT' || e.body === '8BITMIME' || e.body === 'BINARYMIME') && typeof e.utf8 === 'boolean';
  if (!ok) throw new PosternError('STORE_BAD_ARGUMENT', 'malformed queue envelope');
  const out: QueueEnvelope = {
    from: e.from, rcpts: e.rcpts.map((r) => {
      const d = checkDsnRcpt(r.dsn);
      const hop = checkHop(r.hop, r.account);
      return { to: r.to, account: r.account, ...(d !== undefined ? { dsn: d } : {}), ...(hop !== undefined ? { hop } : {}) };
    }),
    receivedAt: e.receivedAt, helo: e.helo, ip: e.ip, by: e.by, with: e.with, tls: e.tls, auth: e.auth, body: e.body, utf8: e.utf8,
    ...(e.junk === true ? { junk: true as const } : {}),
  };
  if (e.dsn !== undefined && e.dsn !== null) {
    const ok = typeof e.dsn === 'object' && (e.dsn.ret === null || e.dsn.ret === 'FULL' || e.dsn.ret === 'HDRS') && (e.dsn.envid === null || str(e.dsn.envid, 100));
    if (!ok) throw new PosternError('STORE_BAD_ARGUMENT', 'malformed queue envelope (dsn)');
    out.dsn = { ret: e.dsn.ret, envid: e.dsn.envid };
  }
  if (e.requireTls === true) out.requireTls = true;
  return out;
}

/** A recipient's next hop, checked (undefined: none): only a remote recipient has one. */
function checkHop(h: NextHop | undefined | null, account: string | null): NextHop | undefined {
  if (h === undefined || h === null) return undefined;
  const ok = typeof h === 'object' && account === null && str(h.host, 255) && h.host !== '' && Number.isInteger(h.port) && h.port >= 1 && h.port <= 65535;
  if (!ok) throw new PosternError('STORE_BAD_ARGUMENT', 'malformed queue envelope (recipient next hop)');
  return { host: h.host, port: h.port };
}

/** The RFC 3461 fields of one recipient, checked (undefined: not given). */
function checkDsnRcpt(d: DsnRcpt | undefined | null): DsnRcpt | undefined {
  if (d === undefined || d === null) return undefined;
  const ok = typeof d === 'object' && (d.orcpt === null || str(d.orcpt, 500)) &&
    (d.notify === null || (Array.isArray(d.notify) && d.notify.length <= 3 && d.notify.every((w) => w === 'NEVER' || w === 'SUCCESS' || w === 'FAILURE' || w === 'DELAY')));
  if (!ok) throw new PosternError('STORE_BAD_ARGUMENT', 'malformed queue envelope (recipient dsn)');
  return { notify: d.notify === null ? null : [...d.notify], orcpt: d.orcpt };
}

// ---- the in-memory entry (src/store/queue.ts) and its views ----

export interface QueueEntry {
  id: string;
  env: QueueEnvelope;
  crc: number;
  size: number;
  seg: number;
  off: number; // of the body
  st: EntryState;
  token: number;
  leasedUntil: number;
  busy: boolean; // being delivered or copied forward
  writes: number; // records submitted, not yet durable
  /** An earlier attempt may have appended: look before appending ('recovered': found in the
   * log at start, before anything was appended in this run; 'unsure': an append timed out). */
  maybe: false | 'recovered' | 'unsure';
}

export interface ClaimedEntry {
  id: string;
  token: number;
  env: QueueEnvelope;
  size: number;
  locator: Locator;
  attempts: number;
  /** The body itself, when it is still in memory and small (else read it by `locator`). */
  body?: Buffer;
}

export interface QueueListItem {
  id: string;
  from: string;
  rcpts: number;
  size: number;
  receivedAt: string;
  status: string;
  attempts: number;
  nextAttempt: string | null;
  lastError: string | null;
}

export interface QueueStats {
  entries: number;
  pending: number;
  segments: number;
  cachedBytes: number;
}

export const RELAY_WAIT = 'waiting for smtpOutgoing';
/** A relay entry whose last attempt failed temporarily. */
export const RELAY_DEFERRED = 'waiting for smtpOutgoing (deferred)';

export function initialState(env: QueueEnvelope): EntryState {
  return { r: env.rcpts.map((r) => (r.account === null ? { s: 'relay' as const, why: RELAY_WAIT } : { s: 'pending' as const, why: null })), att: 0, next: env.receivedAt, err: null };
}

export function entryStatus(e: QueueEntry): string {
  if (e.busy) return 'delivering';
  if (e.st.r.some((r) => r.s === 'pending')) return e.st.att > 0 ? 'deferred' : 'queued';
  if (e.st.r.some((r) => r.s === 'relay')) return (e.st.ra ?? 0) > 0 ? RELAY_DEFERRED : RELAY_WAIT;
  return 'done';
}
