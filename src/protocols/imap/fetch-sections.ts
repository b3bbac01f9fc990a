/**
 * protocols/imap/fetch-sections.ts: the bytes of a FETCH body section (RFC 9051 §6.4.5) and of a
 * BINARY section (RFC 3516), cut out of the stored message at the offsets of its stored structure
 * (store/structure.ts), for fetch.ts.
 *
 * Part numbers are read as Dovecot reads them: a multipart's numbers name its parts; a
 * non-multipart entity has only part 1 (itself); past a message/rfc822 part the numbers continue
 * inside its message; HEADER, TEXT and HEADER.FIELDS(.NOT) of a numbered part need a
 * message/rfc822 part; MIME is any part's own header. HEADER.FIELDS scans the header's lines
 * (names compared case-insensitively; a bare-LF line sent with CRLF; the blank line last, but for
 * HEADER.FIELDS.NOT of a header that has none). BINARY decodes base64 and quoted-printable
 * (7bit, 8bit, binary as they are); of a multipart, a message part or the whole message, every
 * leaf is decoded and its header rewritten to say "Content-Transfer-Encoding: binary" (as
 * Dovecot does); an encoding no decoder knows is reported, for NO [UNKNOWN-CTE].
 *
 * Exports: `findPart`, `isMultipart`, `isMessage`, `headerEnd`, `sectionBytes`, `sectionName`,
 * `binaryBytes`, `decodeCte`, `decodeQuotedPrintable`, `clip`, `noNuls`.
 * Throws nothing.
 */
import type { BodyPart, MessageStructure } from '../../store/structure.ts';
import type { ByteRange, Section } from './types.ts';

const ATOM = /^[^(){ \x00-\x1f\x7f-\xff%*"\\\]]+$/;
/** A header name as an astring: an atom, a quoted string, or (CTL or 8-bit) a literal. */
const astr = (s: string): string => {
  if (ATOM.test(s)) return s;
  return /^[\x20-\x7e]*$/.test(s) ? `"${s.replace(/["\\]/g, '\\$&')}"` : `{${Buffer.byteLength(s, 'latin1')}}\r\n${s}`;
};

export const isMultipart = (p: BodyPart): boolean => p.type === 'multipart';
export const isMessage = (p: BodyPart): boolean => p.type === 'message' && (p.subtype === 'rfc822' || p.subtype === 'global');

// ---- sections ----

/** The entity at `path` (RFC 9051 §6.4.5, read as Dovecot does), or null. */
export function findPart(root: BodyPart, path: readonly number[]): BodyPart | null {
  let p: BodyPart | null = root;
  for (let i = 0; i < path.length && p !== null; i++) {
    const n = path[i]!;
    const more = i + 1 < path.length;
    if (isMultipart(p)) p = p.parts[n - 1] ?? null;
    else if (n !== 1 || (more && !isMessage(p))) p = null;
    if (p !== null && more && isMessage(p)) p = p.message?.body ?? null;
  }
  return p;
}

/** Where the header at `from` ends (after its blank line), as structure.ts reads it. */
export function headerEnd(b: Buffer, from: number, to: number): number {
  let i = from;
  while (i < to) {
    let lf = b.indexOf(10, i);
    if (lf < 0 || lf >= to) lf = to;
    const lineEnd = lf > i && b[lf - 1] === 13 ? lf - 1 : lf;
    if (lineEnd === i) return Math.min(lf + 1, to);
    i = lf + 1;
  }
  return to;
}

/** The header fields of `[from, to)` named (or, with `not`, not named) in `names` (upper case),
 * each with its continuation lines, in message order, then the blank line. */
function headerFields(b: Buffer, from: number, to: number, names: readonly string[], not: boolean): Buffer {
  const want = new Set(names.map((n) => n.toUpperCase()));
  const keep: Array<[number, number]> = [];
  let i = from;
  let take = false;
  let blank = false;
  while (i < to) {
    let lf = b.indexOf(10, i);
    if (lf < 0 || lf >= to) lf = to;
    const lineEnd = lf > i && b[lf - 1] === 13 ? lf - 1 : lf;
    if (lineEnd === i) {
      blank = true;
      break;
    }
    const next = Math.min(lf + 1, to);
    const c = b[i];
    if (c === 32 || c === 9) {
      if (take) keep.push([i, next]);
    } else {
      const colon = b.indexOf(58, i);
      if (colon < 0 || colon > lineEnd) take = false;
      else {
        const name = b.toString('latin1', i, colon).trim().toUpperCase();
        take = want.has(name) !== not;
        if (take) keep.push([i, next]);
      }
    }
    i = next;
  }
  const parts: Buffer[] = [];
  let start = -1;
  let stop = -1;
  for (const [s, e] of keep) {
    if (b[e - 1] === 10 && b[e - 2] === 13 && e - 2 >= s) {
      if (s === stop) stop = e; // adjacent CRLF lines go as one slice
      else {
        if (start >= 0) parts.push(b.subarray(start, stop));
        start = s;
        stop = e;
      }
      continue;
    }
    if (start >= 0) parts.push(b.subarray(start, stop));
    start = stop = -1;
    parts.push(b.subarray(s, b[e - 1] === 10 ? e - 1 : e), CRLF); // a bare LF (or none): sent as CRLF
  }
  if (start >= 0) parts.push(b.subarray(start, stop));
  // the blank line ends the section; HEADER.FIELDS.NOT of a header that had none has none
  // (as Dovecot: it filters the header as it is, while HEADER.FIELDS is built)
  if (!not || blank) parts.push(CRLF);
  return Buffer.concat(parts);
}

const CRLF = Buffer.from('\r\n', 'latin1');

/** The bytes of `sec`, or null when the part does not exist. */
export function sectionBytes(st: MessageStructure | null, b: Buffer, sec: Section): Buffer | null {
  let hs: number;
  let bs: number;
  let end: number;
  let p: BodyPart | null = null;
  if (sec.part.length === 0) {
    if (sec.text === null) return b; // BODY[]: the whole message, no header to find
    hs = 0;
    bs = st !== null ? Math.min(st.body.bodyStart, b.length) : headerEnd(b, 0, b.length);
    end = b.length;
  } else {
    if (st === null) return null;
    p = findPart(st.body, sec.part);
    if (p === null) return null;
    if (sec.text === null) return b.subarray(Math.min(p.bodyStart, b.length), Math.min(p.end, b.length));
    if (sec.text === 'MIME') return b.subarray(Math.min(p.headerStart, b.length), Math.min(p.bodyStart, b.length));
    if (!isMessage(p) || p.message === null) return null;
    const m = p.message.body;
    hs = Math.min(m.headerStart, b.length);
    bs = Math.min(m.bodyStart, b.length);
    end = Math.min(m.end, b.length);
  }
  switch (sec.text) {
    case null:
      return b.subarray(hs, end);
    case 'HEADER':
    case 'MIME':
      return b.subarray(hs, bs);
    case 'TEXT':
      return b.subarray(bs, end);
    case 'HEADER.FIELDS':
      return headerFields(b, hs, bs, sec.fields, false);
    case 'HEADER.FIELDS.NOT':
      return headerFields(b, hs, bs, sec.fields, true);
  }
}

export function sectionName(sec: Section): string {
  let s = sec.part.join('.');
  if (sec.text !== null) {
    s += `${s === '' ? '' : '.'}${sec.text}`;
    if (sec.text === 'HEADER.FIELDS' || sec.text === 'HEADER.FIELDS.NOT') s += ` (${sec.fields.map(astr).join(' ')})`;
  }
  return s;
}

export function clip(b: Buffer, partial: ByteRange | null): Buffer {
  if (partial === null) return b;
  const from = Math.min(partial.offset, b.length);
  return b.subarray(from, Math.min(b.length, from + partial.length));
}

/** A literal may not carry NUL: as Dovecot, send 0x80 instead (a copy only when one is there). */
export function noNuls(b: Buffer): Buffer {
  let at = b.indexOf(0);
  if (at < 0) return b;
  const c = Buffer.from(b);
  while (at >= 0) {
    c[at] = 0x80;
    at = c.indexOf(0, at + 1);
  }
  return c;
}

// ---- content transfer decoding (RFC 2045 §6) ----

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[65 + i] = HEX[97 + i] = 10 + i;

export function decodeQuotedPrintable(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  const len = b.length;
  let n = 0;
  let i = 0;
  while (i < len) {
    const c = b[i]!;
    if (c === 61) {
      let j = i + 1;
      while (j < len && (b[j] === 32 || b[j] === 9)) j++;
      if (j >= len) {
        i = len; // "=" at the very end: a soft break
        continue;
      }
      if (b[j] === 10 || (b[j] === 13 && b[j + 1] === 10)) {
        i = j + (b[j] === 13 ? 2 : 1); // soft line break
        continue;
      }
      const h = i + 2 < len ? HEX[b[i + 1]!]! : -1;
      const l = i + 2 < len ? HEX[b[i + 2]!]! : -1;
      if (h >= 0 && l >= 0) {
        out[n++] = (h << 4) | l;
        i += 3;
      } else out[n++] = b[i++]!; // not an escape: kept as is
      continue;
    }
    if (c === 32 || c === 9) {
      let j = i;
      while (j < len && (b[j] === 32 || b[j] === 9)) j++;
      if (j < len && b[j] !== 13 && b[j] !== 10) while (i < j) out[n++] = b[i++]!;
      else i = j; // trailing white space of a line is transport padding
      continue;
    }
    out[n++] = c;
    i++;
  }
  return out.subarray(0, n);
}

/** The part's content decoded, or null for an unknown transfer encoding. */
export function decodeCte(b: Buffer, encoding: string): Buffer | null {
  switch (encoding) {
    case '7bit':
    case '8bit':
    case 'binary':
    case '':
      return b;
    case 'base64':
      return Buffer.from(b.toString('latin1'), 'base64');
    case 'quoted-printable':
      return decodeQuotedPrintable(b);
    default:
      return null;
  }
}

const CTE_BINARY = Buffer.from('Content-Transfer-Encoding: binary\r\n', 'latin1');

/** Collects the pieces of a BINARY answer; `unknown` is set by a part no decoder knows. */
interface Bin {
  chunks: Buffer[];
  unknown: string | null;
}

/** The header `[hs, bs)` without its Content-Transfer-Encoding field and with
 * "Content-Transfer-Encoding: binary" last, as Dovecot rewrites a decoded part's header. */
function binaryHeader(b: Buffer, hs: number, bs: number, out: Bin): void {
  let i = hs;
  let from = hs;
  let skip = false;
  while (i < bs) {
    let lf = b.indexOf(10, i);
    if (lf < 0 || lf >= bs) lf = bs;
    const lineEnd = lf > i && b[lf - 1] === 13 ? lf - 1 : lf;
    const next = Math.min(lf + 1, bs);
    if (lineEnd === i) break; // the blank line
    const cont = b[i] === 32 || b[i] === 9;
    if (!cont) skip = lineEnd - i >= 26 && b.toString('latin1', i, i + 26).toLowerCase() === 'content-transfer-encoding:';
    else if (!skip) {
      i = next;
      continue;
    }
    if (skip) {
      if (i > from) out.chunks.push(b.subarray(from, i));
      from = next;
    }
    i = next;
  }
  if (i > from) out.chunks.push(b.subarray(from, i));
  out.chunks.push(CTE_BINARY, b.subarray(i, bs));
}

/** The entity `p` (header and body) with every leaf's content decoded. */
function binaryEntity(b: Buffer, p: BodyPart, out: Bin): void {
  if (p.type === 'multipart' || (isMessage(p) && p.message !== null)) {
    out.chunks.push(b.subarray(p.headerStart, p.bodyStart));
    binaryContent(b, p, out);
    return;
  }
  const raw = b.subarray(p.bodyStart, p.end);
  const dec = decodeCte(raw, p.encoding);
  if (dec === null) out.unknown ??= p.encoding;
  else if (dec === raw) out.chunks.push(b.subarray(p.headerStart, p.end));
  else {
    binaryHeader(b, p.headerStart, p.bodyStart, out);
    out.chunks.push(dec);
  }
}

/** The content of `p` decoded: a leaf's body; a multipart's body with each part decoded; a
 * message's message decoded. */
function binaryContent(b: Buffer, p: BodyPart, out: Bin): void {
  if (p.type === 'multipart') {
    let at = p.bodyStart;
    for (const c of p.parts) {
      out.chunks.push(b.subarray(at, c.headerStart));
      binaryEntity(b, c, out);
      at = c.end;
    }
    out.chunks.push(b.subarray(at, p.end));
  } else if (isMessage(p) && p.message !== null) binaryEntity(b, p.message.body, out);
  else {
    const dec = decodeCte(b.subarray(p.bodyStart, p.end), p.encoding);
    if (dec === null) out.unknown ??= p.encoding;
    else out.chunks.push(dec);
  }
}

/** BINARY[part] (RFC 3516): the part's content decoded (for [] the whole message, each leaf
 * decoded), null when the part does not exist, or the unknown encoding met. */
export function binaryBytes(st: MessageStructure, b: Buffer, part: readonly number[]): Buffer | null | { unknown: string } {
  const p = part.length === 0 ? st.body : findPart(st.body, part);
  if (p === null) return null;
  if (p.end > b.length) return b.subarray(Math.min(p.bodyStart, b.length)); // a structure not of these bytes
  const out: Bin = { chunks: [], unknown: null };
  if (part.length === 0) binaryEntity(b, p, out);
  else binaryContent(b, p, out);
  if (out.unknown !== null) return { unknown: out.unknown };
  return out.chunks.length === 1 ? out.chunks[0]! : Buffer.concat(out.chunks);
}
