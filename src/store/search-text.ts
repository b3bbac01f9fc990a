/**
 * store/search-text.ts: a message's searchable text, as the search index stores it (one record
 * per body, search-index.ts) and as the IMAP search engine scans it (protocols/imap/search.ts).
 *
 * A record is `[u32 len][u32 crc32 of the rest][u32 seg][u32 off][f64 sentDay][u32 hdrLen]
 * [u32 flags]` (little-endian, REC_HEAD bytes) followed by the header text (hdrLen bytes) and
 * the body text, both UTF-8:
 * - header text: every field of the top-level header, one per line, each line *preceded* by
 *   "\n" ("\nfrom: ann <a@x>\nsubject: hello"), unfolded, RFC 2047 encoded words decoded,
 *   case-folded (`fold`);
 * - body text: the text/* parts (and the headers and text of message/rfc822 parts) with their
 *   transfer encoding undone (base64, quoted-printable), their charset decoded to UTF-8, and
 *   case-folded, parts separated by "\n";
 * - `sentDay`: 00:00 UTC of the Date: header's day as written (time and zone disregarded,
 *   RFC 9051 §6.4.4), NaN when absent or unparsable;
 * - flags bit 0 (`TRUNCATED`): a cap cut the text (a search that finds nothing in it must look
 *   at the body itself); bit 1 (`ALIAS`): see ALIAS.
 * `seg`/`off` name the body (its segment and offset): copies and moves share it.
 *
 * Case folding (`fold`): `toLowerCase`, then final sigma to sigma and long s to s, so both sides
 * of a comparison fold alike (close to Unicode simple case folding, RFC 9051 §6.4.4 / i;unicode-casemap).
 *
 * Header fields and body parts are decoded by store/charset.ts (its charset fallback).
 *
 * Exports: `buildRecord`, `fold`, `sentDay`, `decodeQp` (quoted-printable bytes undone), `REC_HEAD`, `TRUNCATED`, `ALIAS`, `TEXT_CAPS`, `NO_CAPS`,
 * `TextCaps`, `RecordHead`, `readHead`. Throws nothing (malformed input gives best-effort text).
 */
import { crc32 } from 'node:zlib';
import type { BodyPart, MessageStructure } from './structure.ts';
import { decodeBytes, decodeWords } from './charset.ts';

export const REC_HEAD = 32;
export const TRUNCATED = 1;
/** A record with no text of its own: the body (seg, off) is answered by the record whose
 * position its sentDay field holds (search-index.ts, after compaction moved the body). */
export const ALIAS = 2;

export interface TextCaps {
  /** Header text kept per message (characters; the header's first 4 × this many bytes read). */
  headerChars: number;
  /** Body text kept per message. */
  bodyChars: number;
  /** Encoded bytes of one part decoded at most (a part's tail past it is not read); parts
   * are decoded until 4 × this many bytes in all. */
  partBytes: number;
}

export const TEXT_CAPS: Readonly<TextCaps> = Object.freeze({ headerChars: 16 * 1024, bodyChars: 256 * 1024, partBytes: 1024 * 1024 });
/** No caps: the engine's fallback when a record was cut. */
export const NO_CAPS: Readonly<TextCaps> = Object.freeze({ headerChars: Infinity, bodyChars: Infinity, partBytes: Infinity });

const DAY = 86_400_000;

export function fold(s: string): string {
  const l = s.toLowerCase();
  return /[ςſ]/.test(l) ? l.replace(/ς/g, 'σ').replace(/ſ/g, 's') : l;
}

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };

/** 00:00 UTC of the day a Date: header names (as written, zone disregarded); NaN if unparsable. */
export function sentDay(v: string | null): number {
  if (v === null) return NaN;
  const s = v.replace(/\([^)]*\)/g, ' ');
  const m = /(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})/.exec(s);
  if (m !== null) {
    const mon = MONTHS[m[2]!.toLowerCase()];
    let y = Number(m[3]);
    if (m[3]!.length === 2) y += y < 50 ? 2000 : 1900;
    else if (m[3]!.length === 3) y += 1900;
    if (mon !== undefined) return Date.UTC(y, mon, Number(m[1]));
  }
  const t = Date.parse(s.trim());
  return Number.isFinite(t) ? Math.floor(t / DAY) * DAY : NaN;
}

/** The top-level header's fields, unfolded, as latin1 text (raw bytes): [lower-case name, value]. */
function headerFields(buf: Buffer, from: number, to: number): Array<[string, string]> {
  let end = to;
  for (let i = from; i < to; ) {
    const lf = buf.indexOf(10, i);
    if (lf < 0 || lf >= to) break;
    const lineLen = lf - i - (lf > i && buf[lf - 1] === 13 ? 1 : 0);
    if (lineLen === 0) {
      end = i;
      break;
    }
    i = lf + 1;
  }
  const text = buf.toString('latin1', from, end);
  const out: Array<[string, string]> = [];
  for (const line of text.split(/\r?\n(?![ \t])/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).replace(/\r?\n/g, '').trim()]);
  }
  return out;
}

const hexVal = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1);

export function decodeQp(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  let o = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c !== 61) {
      out[o++] = c;
      continue;
    }
    const h = i + 2 < b.length ? hexVal(b[i + 1]!) : -1;
    const l = i + 2 < b.length ? hexVal(b[i + 2]!) : -1;
    if (h >= 0 && l >= 0) {
      out[o++] = (h << 4) | l;
      i += 2;
      continue;
    }
    // a soft line break: "=" then optional whitespace then (CR)LF
    let j = i + 1;
    while (j < b.length && (b[j] === 32 || b[j] === 9)) j++;
    if (j < b.length && b[j] === 13) j++;
    if (j < b.length && b[j] === 10) {
      i = j;
      continue;
    }
    if (j >= b.length) break;
    out[o++] = c;
  }
  return out.subarray(0, o);
}

function partText(buf: Buffer, p: BodyPart, caps: TextCaps): { text: string; cut: boolean } {
  const end = Math.min(p.end, buf.length);
  const cut = end - p.bodyStart > caps.partBytes;
  const raw = buf.subarray(p.bodyStart, cut ? p.bodyStart + caps.partBytes : end);
  const bytes = p.encoding === 'base64' ? Buffer.from(raw.toString('latin1'), 'base64') : p.encoding === 'quoted-printable' ? decodeQp(raw) : raw;
  const cs = p.params.find(([k]) => k === 'charset')?.[1] ?? 'utf-8';
  return { text: decodeBytes(bytes, cs), cut };
}

function headerText(fields: Array<[string, string]>): string {
  let s = '';
  for (const [k, v] of fields) s += `\n${k}: ${decodeWords(v)}`;
  return s;
}

/** The record of a stored body (see the contract above). `seg`/`off` name the body. */
export function buildRecord(body: Uint8Array, s: MessageStructure, seg: number, off: number, caps: TextCaps = TEXT_CAPS): Buffer {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let truncated = s.truncated;
  const headerEnd = (start: number, end: number): number => {
    const cut = start + caps.headerChars * 4;
    if (end > cut) truncated = true;
    return Math.min(end, cut, buf.length);
  };
  const top = headerFields(buf, 0, headerEnd(0, s.body.bodyStart));
  let hdr = fold(headerText(top));
  if (hdr.length > caps.headerChars) {
    hdr = hdr.slice(0, caps.headerChars);
    truncated = true;
  }
  const pieces: string[] = [];
  let chars = 0;
  let decoded = 0;
  const walk = (p: BodyPart, depth: number): void => {
    if (chars >= caps.bodyChars || depth > 40) return;
    if (decoded >= caps.partBytes * 4) {
      truncated = true;
      return;
    }
    if (p.type === 'multipart') {
      for (const c of p.parts) walk(c, depth + 1);
    } else if (p.message !== null) {
      const inner = p.message.body;
      const t = headerText(headerFields(buf, inner.headerStart, headerEnd(inner.headerStart, inner.bodyStart)));
      pieces.push(t);
      chars += t.length;
      walk(inner, depth + 1);
    } else if (p.type === 'text') {
      const { text, cut } = partText(buf, p, caps);
      decoded += Math.min(p.end - p.bodyStart, caps.partBytes);
      if (cut) truncated = true;
      pieces.push(text);
      chars += text.length;
    }
  };
  walk(s.body, 0);
  let text = fold(pieces.join('\n'));
  if (text.length > caps.bodyChars) {
    text = text.slice(0, caps.bodyChars);
    truncated = true;
  }
  const dateField = top.find(([k]) => k === 'date')?.[1] ?? null;
  // the texts are encoded straight into the record (no buffer of their own to copy from)
  const hl = Buffer.byteLength(hdr, 'utf8');
  const out = Buffer.allocUnsafe(REC_HEAD + hl + Buffer.byteLength(text, 'utf8'));
  out.writeUInt32LE(out.length, 0);
  out.writeUInt32LE(seg >>> 0, 8);
  out.writeUInt32LE(off >>> 0, 12);
  out.writeDoubleLE(sentDay(dateField), 16);
  out.writeUInt32LE(hl, 24);
  out.writeUInt32LE(truncated ? TRUNCATED : 0, 28);
  out.write(hdr, REC_HEAD, 'utf8');
  out.write(text, REC_HEAD + hl, 'utf8');
  out.writeUInt32LE(crc32(out.subarray(8)), 4);
  return out;
}

export interface RecordHead {
  len: number;
  seg: number;
  off: number;
  sentDay: number;
  hdrLen: number;
  flags: number;
}

/** The head of the record at `at` in `buf`, or null if it is not a whole, valid record there. */
export function readHead(buf: Buffer, at: number): RecordHead | null {
  if (at + REC_HEAD > buf.length) return null;
  const len = buf.readUInt32LE(at);
  if (len < REC_HEAD || at + len > buf.length) return null;
  if (crc32(buf.subarray(at + 8, at + len)) !== buf.readUInt32LE(at + 4)) return null;
  const hdrLen = buf.readUInt32LE(at + 24);
  if (REC_HEAD + hdrLen > len) return null;
  return { len, seg: buf.readUInt32LE(at + 8), off: buf.readUInt32LE(at + 12), sentDay: buf.readDoubleLE(at + 16), hdrLen, flags: buf.readUInt32LE(at + 28) };
}
