/**
 * webmail/parts.ts: a message's parts as WebMail shows them, from the store's MIME structure
 * (store/structure.ts, parsed once at delivery) and the stored bytes: no second MIME parse.
 *
 * - Part numbers are IMAP's (RFC 9051 §6.4.5): a single-part message's body is "1", a
 *   multipart's children 1, 2 …, nested "1.2"; a message/rfc822 part is one leaf here (it is
 *   offered as an attachment, `.eml`).
 * - The shown bodies: the first text/plain and the first text/html leaf that are not
 *   attachments (no `attachment` disposition, no file name).
 * - Attachments: every other leaf, except an inline part with a Content-ID inside a
 *   multipart/related (an image the HTML shows through cid:).
 * - Decoding: the transfer encoding (base64, quoted-printable) undone on the part's byte range,
 *   text decoded from its charset (store/charset.ts). File names: RFC 2231 (`filename*`) and
 *   RFC 2047 encoded words, then made safe for a Content-Disposition header (`dispositionHeader`).
 *
 * Exports: `leaves`, `shownBodies`, `attachments`, `hasAttachment`, `findPart`, `findCid`,
 * `partBytes`, `partText`, `fileName`, `dispositionHeader`, `contentType`, `Leaf`.
 * Throws nothing.
 */
import type { BodyPart, MessageStructure } from '../../store/structure.ts';
import { decodeBytes, decodeWords } from '../../store/charset.ts';
import { decodeQp } from '../../store/search-text.ts';

export interface Leaf {
  part: string;
  p: BodyPart;
  /** Inside a multipart/related (its cid: images). */
  related: boolean;
}

const MAX_LEAVES = 500;

/** The leaves of `s` with their IMAP part numbers, in document order. */
export function leaves(s: MessageStructure): Leaf[] {
  const out: Leaf[] = [];
  const walk = (p: BodyPart, num: string, related: boolean, depth: number): void => {
    if (out.length >= MAX_LEAVES || depth > 40) return;
    if (p.type === 'multipart') {
      const rel = related || p.subtype === 'related';
      p.parts.forEach((c, i) => walk(c, num === '' ? String(i + 1) : `${num}.${i + 1}`, rel, depth + 1));
      return;
    }
    out.push({ part: num === '' ? '1' : num, p, related });
  };
  walk(s.body, '', false, 0);
  return out;
}

const param = (ps: Array<[string, string]> | undefined, name: string): string | undefined => ps?.find(([k]) => k === name)?.[1];

/** RFC 2231 `charset'lang'%XX…` value decoded. */
function ext2231(v: string): string {
  const m = /^([^']*)'[^']*'(.*)$/.exec(v);
  if (m === null) return v;
  const bytes: number[] = [];
  const t = m[2]!;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === '%' && /^[0-9a-fA-F]{2}$/.test(t.slice(i + 1, i + 3))) {
      bytes.push(parseInt(t.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(t.charCodeAt(i) & 0xff);
  }
  return decodeBytes(Uint8Array.from(bytes), m[1]!);
}

/** The part's file name (decoded), or null. */
export function fileName(p: BodyPart): string | null {
  const d = p.disposition?.params;
  const star = param(d, 'filename*') ?? param(p.params, 'name*');
  if (star !== undefined) return ext2231(star);
  const plain = param(d, 'filename') ?? param(p.params, 'name');
  return plain === undefined || plain === '' ? null : decodeWords(plain);
}

const isAttachmentDisposition = (p: BodyPart): boolean => p.disposition?.type === 'attachment';

/** The leaves shown as the message's text and HTML. */
export function shownBodies(s: MessageStructure, all: Leaf[] = leaves(s)): { text: Leaf | null; html: Leaf | null } {
  let text: Leaf | null = null;
  let html: Leaf | null = null;
  for (const l of all) {
    if (l.p.type !== 'text' || isAttachmentDisposition(l.p) || fileName(l.p) !== null) continue;
    if (l.p.subtype === 'plain' && text === null) text = l;
    else if (l.p.subtype === 'html' && html === null) html = l;
  }
  return { text, html };
}

/** The leaves offered for download. */
export function attachments(s: MessageStructure, all: Leaf[] = leaves(s)): Leaf[] {
  const { text, html } = shownBodies(s, all);
  return all.filter((l) => l !== text && l !== html && !(l.related && l.p.id !== null && !isAttachmentDisposition(l.p)) && !(l.p.type === 'text' && l.p.size === 0));
}

/** The list's attachment mark: a part with an attachment disposition or a file name. */
export function hasAttachment(s: MessageStructure): boolean {
  return leaves(s).some((l) => isAttachmentDisposition(l.p) || (fileName(l.p) !== null && !(l.related && l.p.id !== null)));
}

export function findPart(s: MessageStructure, part: string): Leaf | null {
  return leaves(s).find((l) => l.part === part) ?? null;
}

const bareCid = (v: string): string => v.trim().replace(/^</, '').replace(/>$/, '').trim();

export function findCid(s: MessageStructure, cid: string): Leaf | null {
  const want = bareCid(cid);
  if (want === '') return null;
  return leaves(s).find((l) => l.p.id !== null && bareCid(l.p.id) === want) ?? null;
}

/** The part's bytes, its transfer encoding undone. */
export function partBytes(body: Uint8Array, p: BodyPart): Buffer {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const raw = buf.subarray(Math.min(p.bodyStart, buf.length), Math.min(p.end, buf.length));
  if (p.encoding === 'base64') return Buffer.from(raw.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (p.encoding === 'quoted-printable') return decodeQp(raw);
  return Buffer.from(raw);
}

/** A text part as a string (its charset; store/charset.ts's fallback). */
export function partText(body: Uint8Array, p: BodyPart): string {
  return decodeBytes(partBytes(body, p), param(p.params, 'charset') ?? 'utf-8');
}

/** `type/subtype` safe for a Content-Type header (only token characters). */
export function contentType(p: BodyPart): string {
  const tok = (s: string): string => s.replace(/[^a-z0-9!#$&^_.+-]/gi, '');
  const t = tok(p.type);
  const st = tok(p.subtype);
  return t === '' || st === '' ? 'application/octet-stream' : `${t}/${st}`;
}

/** `Content-Disposition` for a download: an ASCII `filename` fallback without path, quote or
 * control characters, and the UTF-8 name in `filename*` (RFC 6266). */
export function dispositionHeader(kind: 'attachment' | 'inline', name: string | null, fallback: string): string {
  let n = (name ?? '').replace(/[\x00-\x1f\x7f]/g, '').replace(/.*[\\/]/, '').trim();
  if (n === '' || n === '.' || n === '..') n = fallback;
  n = n.slice(0, 200);
  const ascii = n.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%;]/g, '_');
  const star = encodeURIComponent(n).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${star}`;
}
