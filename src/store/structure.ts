/**
 * store/structure.ts: a message's MIME structure as the store keeps it (what IMAP's
 * BODYSTRUCTURE and ENVELOPE need, RFC 9051 §7.5.2, and the header fields clients sort and
 * search on, RFC 5256), parsed once at append time and stored in the message's APPEND record
 * (record.ts), never in the in-memory index: readers fetch it on demand (`fetchStructure`).
 *
 * One pass over the bytes (text read as latin1, bytes kept as they are): each entity's header
 * (unfolded), content type and parameters (RFC 2231 continuations joined), disposition,
 * encoding, body size and, for text/* and message/rfc822, its lines (line feeds, as IMAP servers
 * count them); multipart bodies split at boundaries that start a line (the line break before a
 * delimiter is the delimiter's, unless none follows or it ends a nested close delimiter's line,
 * as Dovecot reads it); addresses named by their display name or else their comment; and for
 * message/rfc822 (and message/global) the inner message's envelope and body. Offsets of each
 * entity's header, body and end are kept, so BODY[1.2] can be served from a range read.
 * Bounded: at most `maxParts` entities and `maxDepth` levels, field values clipped to
 * FIELD_CHARS; past a bound the structure is cut there and `truncated` is set. Malformed input
 * gives a best-effort structure, never an error.
 *
 * Stored form (`encodeStructure`): msgpack of `MessageStructure` followed by its crc32 (u32 LE),
 * so a damaged one is detected and the body parsed again instead. Over `maxBytes` encoded, the
 * last entities are cut off until it fits (flagged `truncated`).
 *
 * Exports: `parseStructure`, `encodeStructure`, `decodeStructure`, `shiftStructure`,
 * `STRUCTURE_LIMITS`, types `MessageStructure`, `BodyPart`, `Envelope`,
 * `StructureCache`, `Address`, `StructureLimits`, `SortKeys`, `SearchFields`.
 * Throws nothing.
 */
import { crc32 } from 'node:zlib';
import { packr } from './record.ts';
import { decodeWords } from './charset.ts';

/** RFC 9051 address: a group starts with { mailbox: group name, host: null } and ends with all null.
 * `adl`: an obsolete source route ("@a,@b"), else null. */
export interface Address {
  name: string | null;
  adl: string | null;
  mailbox: string | null;
  host: string | null;
}

/** RFC 9051 ENVELOPE: date, subject, message-id, in-reply-to raw (unfolded); sender and
 * reply-to default to from, as the RFC requires. */
export interface Envelope {
  date: string | null;
  subject: string | null;
  from: Address[] | null;
  sender: Address[] | null;
  replyTo: Address[] | null;
  to: Address[] | null;
  cc: Address[] | null;
  bcc: Address[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

export interface BodyPart {
  type: string; // lower case: "text"
  subtype: string; // "plain"
  params: Array<[string, string]>; // content-type parameters, names lower-cased, in order
  id: string | null;
  description: string | null;
  encoding: string; // content-transfer-encoding, lower case; "7bit" when absent
  size: number; // body octets
  lines: number | null; // text/* and message/rfc822
  md5: string | null;
  disposition: { type: string; params: Array<[string, string]> } | null;
  language: string[] | null;
  location: string | null;
  headerStart: number; // offsets in the stored message
  bodyStart: number;
  end: number;
  parts: BodyPart[]; // multipart/*: its children
  message: { envelope: Envelope; body: BodyPart } | null; // message/rfc822, message/global
}

/** RFC 5256 sort keys, computed once: `date` the Date: header in ms (null: unparsable, sort by
 * internal date), `subject` the decoded base subject, the others the first address's mailbox. */
export interface SortKeys {
  date: number | null;
  subject: string;
  from: string;
  to: string;
  cc: string;
  displayFrom: string;
}

/** The header fields clients search and thread on, raw (unfolded), first occurrence. */
export interface SearchFields {
  date: string | null;
  subject: string | null;
  from: string | null;
  to: string | null;
  cc: string | null;
  bcc: string | null;
  messageId: string | null;
  references: string | null;
  inReplyTo: string | null;
}

export interface MessageStructure {
  v: 1;
  size: number;
  envelope: Envelope;
  body: BodyPart;
  fields: SearchFields;
  sort: SortKeys;
  /** Fields in the top-level header section. */
  headerFields: number;
  /** Entities parsed, and the deepest nesting seen. */
  parts: number;
  depth: number;
  /** A bound was reached: parts past it are missing. */
  truncated: boolean;
}

export interface StructureLimits {
  maxParts: number;
  maxDepth: number;
  maxBytes: number;
}

export const STRUCTURE_LIMITS: Readonly<StructureLimits> = Object.freeze({ maxParts: 500, maxDepth: 30, maxBytes: 128 * 1024 });
/** Longest header field value kept (longer ones are clipped). */
const FIELD_CHARS = 2000;
const MAX_PARAMS = 32;

interface Header {
  fields: Array<[string, string]>;
  bodyStart: number;
}

function parseHeader(buf: Buffer, from: number, to: number): Header {
  const fields: Array<[string, string]> = [];
  let i = from;
  let cur: [string, string] | null = null;
  while (i < to) {
    let lf = buf.indexOf(10, i);
    if (lf < 0 || lf >= to) lf = to;
    const lineEnd = lf > i && buf[lf - 1] === 13 ? lf - 1 : lf;
    if (lineEnd === i) return { fields, bodyStart: Math.min(lf + 1, to) };
    const line = buf.toString('latin1', i, Math.min(lineEnd, i + FIELD_CHARS + 100));
    if ((line[0] === ' ' || line[0] === '\t') && cur !== null) {
      if (cur[1].length < FIELD_CHARS) cur[1] = `${cur[1]}${line.trimEnd()}`.slice(0, FIELD_CHARS); // unfolded: only the line break goes (RFC 5322 §2.2.3)
    } else {
      const colon = line.indexOf(':');
      if (colon > 0 && fields.length < 1000) {
        cur = [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim().slice(0, FIELD_CHARS)];
        fields.push(cur);
      } else cur = null;
    }
    i = lf + 1;
  }
  return { fields, bodyStart: to };
}

function field(h: Header, name: string): string | null {
  return h.fields.find(([n]) => n === name)?.[1] ?? null;
}

/** "a/b; x=1; y=\"2\"" → value and parameters (split outside quotes). */
function valueAndParams(v: string): { value: string; params: Array<[string, string]> } {
  const segs: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '"') q = !q;
    else if (c === '\\' && q && i + 1 < v.length) {
      cur += c + v[++i]!;
      continue;
    }
    if (c === ';' && !q) {
      segs.push(cur);
      cur = '';
    } else cur += c;
  }
  segs.push(cur);
  const value = (segs.shift() ?? '').trim().toLowerCase();
  const params: Array<[string, string]> = [];
  for (const p of segs) {
    const eq = p.indexOf('=');
    if (eq <= 0 || params.length >= MAX_PARAMS) continue;
    const k = p.slice(0, eq).trim().toLowerCase();
    let val = p.slice(eq + 1).trim();
    if (val.startsWith('"') && val.endsWith('"') && val.length >= 2) val = val.slice(1, -1).replace(/\\(.)/g, '$1');
    if (k !== '' && !params.some(([n]) => n === k)) params.push([k, val.slice(0, 500)]);
  }
  return { value, params: joinContinuations(params) };
}

/** RFC 2231 §3 continuations joined: name*0="a"; name*1="b" → name="ab" (name*0*=… → name*,
 * the value still in its charset'lang'%XX form), where the first segment stood. */
function joinContinuations(params: Array<[string, string]>): Array<[string, string]> {
  if (!params.some(([k]) => /\*\d+\*?$/.test(k))) return params;
  const out: Array<[string, string]> = [];
  const groups = new Map<string, { at: number; segs: Array<[number, string]> }>();
  for (const [k, v] of params) {
    const m = /^(.+?)\*(\d+)(\*?)$/.exec(k);
    if (m === null) {
      out.push([k, v]);
      continue;
    }
    const base = m[1]!;
    let g = groups.get(base);
    if (g === undefined) {
      g = { at: out.length, segs: [] };
      groups.set(base, g);
      out.push([base, '']);
    }
    if (m[2] === '0' && m[3] === '*') out[g.at]![0] = `${base}*`;
    g.segs.push([Number(m[2]), v]);
  }
  for (const g of groups.values()) out[g.at]![1] = g.segs.sort((a, b) => a[0] - b[0]).map(([, v]) => v).join('').slice(0, 2000);
  return out;
}

/** The delimiter lines of `boundary` in `[from, to)`: each [start, after its line], and where
 * the close delimiter starts (`to` when there is none: `closed` false). */
function boundaries(buf: Buffer, from: number, to: number, boundary: string): { marks: Array<[number, number]>; close: number; closed: boolean } {
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  const marks: Array<[number, number]> = [];
  let i = from;
  while (i < to) {
    const at = buf.indexOf(delim, i);
    if (at < 0 || at >= to) break;
    const atLineStart = at === from || buf[at - 1] === 10;
    let lf = buf.indexOf(10, at);
    if (lf < 0 || lf >= to) lf = to - 1;
    if (atLineStart) {
      if (buf[at + delim.length] === 45 && buf[at + delim.length + 1] === 45) return { marks, close: at, closed: true };
      marks.push([at, lf + 1]);
    }
    i = lf + 1;
  }
  return { marks, close: to, closed: false };
}

/** Lines as IMAP (and Dovecot) count them: line feeds. */
function countLines(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = buf.indexOf(10, from); i >= 0 && i < to; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/** Does the entity `p` (a multipart, or a message whose message ends in one) end with the close
 * delimiter line of its own boundary, `[.., end)` being that line without its line break? */
function endsWithClose(buf: Buffer, p: BodyPart, end: number): boolean {
  let q: BodyPart | null = p;
  while (q !== null && q.type === 'message') q = q.message?.body ?? null;
  if (q === null || q.type !== 'multipart') return false;
  const b = q.params.find(([k]) => k === 'boundary')?.[1];
  if (b === undefined || b === '') return false;
  const lf = buf.lastIndexOf(10, end - 1);
  const line = buf.toString('latin1', lf + 1, end).trimEnd();
  return line === `--${b}--`;
}

/** `p` and the entities ending with it (a message's message) made `n` bytes (one line) longer. */
function extendEnd(p: BodyPart, n: number): void {
  for (let q: BodyPart | null = p; q !== null; q = q.message?.body ?? null) {
    q.end += n;
    q.size += n;
    if (q.lines !== null) q.lines++;
  }
}

// ---- addresses and encoded words ----

/** Split at top-level commas (outside quotes, <>, comments). */
function splitTop(v: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  let angle = 0;
  let paren = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && (q || paren > 0) && i + 1 < v.length) {
      cur += c + v[++i]!;
      continue;
    }
    if (c === '"' && paren === 0) q = !q;
    else if (!q && c === '(') paren++;
    else if (!q && c === ')' && paren > 0) paren--;
    else if (!q && paren === 0 && c === '<') angle++;
    else if (!q && paren === 0 && c === '>' && angle > 0) angle--;
    if (c === sep && !q && angle === 0 && paren === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** `s` with its comments (nested, outside quoted strings) as single spaces. */
function stripComments(s: string): string {
  if (!s.includes('(')) return s;
  let out = '';
  let q = false;
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && (q || depth > 0) && i + 1 < s.length) {
      if (depth === 0) out += c + s[i + 1]!;
      i++;
    } else if (depth > 0) {
      if (c === '(') depth++;
      else if (c === ')' && --depth === 0) out += ' ';
    } else if (c === '"') {
      q = !q;
      out += c;
    } else if (c === '(' && !q) depth++;
    else out += c;
  }
  return out;
}
const unquote = (s: string): string => (s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s);

function mailbox(s: string): Address | null {
  const t = s.trim();
  if (t === '') return null;
  const lt = t.lastIndexOf('<');
  const gt = t.lastIndexOf('>');
  let name: string | null = null;
  let adl: string | null = null;
  let spec: string;
  if (lt >= 0 && gt > lt) {
    const n = stripComments(t.slice(0, lt)).trim().replace(/\s+/g, ' ').replace(/"((?:[^"\\]|\\.)*)"/g, (_, q: string) => q.replace(/\\(.)/g, '$1'));
    name = n === '' ? null : n;
    spec = t.slice(lt + 1, gt);
    const colon = spec.lastIndexOf(':'); // an obsolete route: @a,@b:user@host
    if (spec.startsWith('@') && colon > 0) {
      adl = spec.slice(0, colon).replace(/\s+/g, '');
      spec = spec.slice(colon + 1);
    }
  } else {
    spec = stripComments(t);
    // "addr (Name)": the comment is the name (as Dovecot reads it)
    const c = /\(((?:[^()\\]|\\.)*)\)/.exec(t)?.[1]?.replace(/\\(.)/g, '$1').trim().replace(/\s+/g, ' ');
    if (c !== undefined && c !== '') name = c;
  }
  spec = spec.replace(/\s+/g, '');
  const at = spec.lastIndexOf('@');
  if (at < 0) return { name, adl, mailbox: unquote(spec), host: '' };
  return { name, adl, mailbox: unquote(spec.slice(0, at)), host: spec.slice(at + 1) };
}

/** An address-list header value as RFC 9051 address structures (groups included). */
function parseAddresses(v: string | null): Address[] | null {
  if (v === null) return null;
  const out: Address[] = [];
  for (const item of splitTop(v, ',')) {
    if (out.length >= 200) break;
    const colon = splitTop(item, ':');
    if (colon.length > 1 && !item.trimStart().startsWith('<')) {
      // a group: "name: a, b;" (its members follow as items up to the one ending in ';')
      const group = unquote(colon[0]!.trim());
      out.push({ name: null, adl: null, mailbox: group, host: null });
      const rest = colon.slice(1).join(':');
      const ends = rest.trimEnd().endsWith(';');
      const m = mailbox(ends ? rest.trimEnd().slice(0, -1) : rest);
      if (m !== null) out.push(m);
      if (ends) out.push({ name: null, adl: null, mailbox: null, host: null });
      continue;
    }
    const t = item.trimEnd();
    const ends = t.endsWith(';') && out.some((a) => a.host === null && a.mailbox !== null);
    const m = mailbox(ends ? t.slice(0, -1) : t);
    if (m !== null) out.push(m);
    if (ends) out.push({ name: null, adl: null, mailbox: null, host: null });
  }
  return out.length === 0 ? null : out;
}

/** RFC 5256 §2.1 base subject (simplified: leading Re:/Fw:/Fwd: and [tags], trailing (fwd)). */
function baseSubject(raw: string | null): string {
  let s = decodeWords(raw ?? '').replace(/\s+/g, ' ').trim();
  for (let guard = 0; guard < 50; guard++) {
    const before = s;
    s = s.replace(/\s*\(fwd\)$/i, '').replace(/^(?:\[[^\]]*\]\s*)*(?:re|fwd?)\s*(?:\[[^\]]*\])?\s*:\s*/i, '').replace(/^\[[^\]]*\]\s*(?=\S)/, '').trim();
    if (s === before) break;
  }
  return s.toLowerCase();
}

function firstMailbox(a: Address[] | null): string {
  const m = a?.find((x) => x.host !== null);
  return m === undefined ? '' : `${m.mailbox ?? ''}${m.host === '' ? '' : `@${m.host ?? ''}`}`.toLowerCase();
}

function envelope(h: Header): Envelope {
  const from = parseAddresses(field(h, 'from'));
  return {
    date: field(h, 'date'),
    subject: field(h, 'subject'),
    from,
    sender: parseAddresses(field(h, 'sender')) ?? from,
    replyTo: parseAddresses(field(h, 'reply-to')) ?? from,
    to: parseAddresses(field(h, 'to')),
    cc: parseAddresses(field(h, 'cc')),
    bcc: parseAddresses(field(h, 'bcc')),
    inReplyTo: field(h, 'in-reply-to'),
    messageId: field(h, 'message-id'),
  };
}

// ---- entities ----

interface Walk {
  buf: Buffer;
  parts: number;
  depth: number;
  truncated: boolean;
  lim: StructureLimits;
}

function entity(w: Walk, start: number, end: number, depth: number, h: Header, digest: boolean): BodyPart {
  w.parts++;
  w.depth = Math.max(w.depth, depth);
  const ctRaw = field(h, 'content-type');
  const ct = ctRaw === null ? { value: digest ? 'message/rfc822' : 'text/plain', params: digest ? [] : [['charset', 'us-ascii']] as Array<[string, string]> } : valueAndParams(ctRaw);
  const slash = ct.value.indexOf('/');
  const [type, subtype] = slash > 0 ? [ct.value.slice(0, slash), ct.value.slice(slash + 1) || 'plain'] : ['text', 'plain'];
  const disp = field(h, 'content-disposition');
  const dp = disp === null ? null : valueAndParams(disp);
  const lang = field(h, 'content-language');
  const p: BodyPart = {
    type, subtype, params: ct.params,
    id: field(h, 'content-id'),
    description: field(h, 'content-description'),
    encoding: (field(h, 'content-transfer-encoding') ?? '7bit').trim().toLowerCase() || '7bit',
    size: end - h.bodyStart,
    lines: null,
    md5: field(h, 'content-md5'),
    disposition: dp === null || dp.value === '' ? null : { type: dp.value, params: dp.params },
    language: lang === null ? null : lang.split(',').map((x) => x.trim()).filter((x) => x !== '').slice(0, 16),
    location: field(h, 'content-location'),
    headerStart: start, bodyStart: h.bodyStart, end,
    parts: [],
    message: null,
  };
  const boundary = ct.params.find(([k]) => k === 'boundary')?.[1] ?? '';
  const nested = (type === 'multipart' && boundary !== '') || (type === 'message' && (subtype === 'rfc822' || subtype === 'global'));
  if (type === 'text' || (type === 'message' && (subtype === 'rfc822' || subtype === 'global'))) p.lines = countLines(w.buf, h.bodyStart, end);
  if (!nested) return p;
  if (depth + 1 > w.lim.maxDepth || w.parts >= w.lim.maxParts) {
    w.truncated = true;
    return p;
  }
  if (type === 'multipart') {
    const { marks, close, closed } = boundaries(w.buf, h.bodyStart, end, boundary);
    for (let k = 0; k < marks.length; k++) {
      if (w.parts >= w.lim.maxParts) {
        w.truncated = true;
        break;
      }
      const partStart = marks[k]![1];
      let partEnd = k + 1 < marks.length ? marks[k + 1]![0] : close;
      let cut = 0;
      // the CRLF before a delimiter belongs to it (RFC 2046 §5.1.1); at the end of a message
      // that never closes the multipart there is none, and the line break is the part's
      if ((k + 1 < marks.length || closed) && partEnd > partStart && w.buf[partEnd - 1] === 10) cut = partEnd - 1 > partStart && w.buf[partEnd - 2] === 13 ? 2 : 1;
      partEnd -= cut;
      partEnd = Math.max(partStart, partEnd);
      const child = entity(w, partStart, partEnd, depth + 1, parseHeader(w.buf, partStart, partEnd), subtype === 'digest');
      // a nested multipart's close delimiter right before ours keeps its own line break (as
      // Dovecot reads it: the break ends that close delimiter's line)
      if (cut > 0 && endsWithClose(w.buf, child, partEnd)) extendEnd(child, cut);
      p.parts.push(child);
    }
  } else {
    const inner = parseHeader(w.buf, h.bodyStart, end);
    p.message = { envelope: envelope(inner), body: entity(w, h.bodyStart, end, depth + 1, inner, false) };
  }
  return p;
}

/** Parse `body` once (see the contract above). */
export function parseStructure(body: Uint8Array, lim: StructureLimits = STRUCTURE_LIMITS): MessageStructure {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const w: Walk = { buf, parts: 0, depth: 0, truncated: false, lim };
  const h = parseHeader(buf, 0, buf.length);
  const env = envelope(h);
  const root = entity(w, 0, buf.length, 0, h, false);
  const date = env.date === null ? NaN : Date.parse(env.date.replace(/\([^)]*\)/g, '').trim());
  return {
    v: 1,
    size: buf.length,
    envelope: env,
    body: root,
    fields: {
      date: env.date, subject: env.subject, from: field(h, 'from'), to: field(h, 'to'), cc: field(h, 'cc'), bcc: field(h, 'bcc'),
      messageId: env.messageId, references: field(h, 'references'), inReplyTo: env.inReplyTo,
    },
    sort: {
      date: Number.isFinite(date) ? date : null,
      subject: baseSubject(env.subject),
      from: firstMailbox(env.from),
      to: firstMailbox(env.to),
      cc: firstMailbox(env.cc),
      displayFrom: decodeWords(env.from?.find((a) => a.host !== null)?.name ?? '').toLowerCase() || firstMailbox(env.from),
    },
    headerFields: h.fields.length,
    parts: w.parts,
    depth: w.depth,
    truncated: w.truncated,
  };
}

/** `s` with only its first `keep` entities (in document order); the rest cut off. */
function prune(s: MessageStructure, keep: number): MessageStructure {
  let n = 0;
  const walk = (p: BodyPart): BodyPart => {
    n++;
    const parts: BodyPart[] = [];
    for (const c of p.parts) {
      if (n >= keep) break;
      parts.push(walk(c));
    }
    const message = p.message === null || n >= keep ? null : { envelope: p.message.envelope, body: walk(p.message.body) };
    return { ...p, parts, message };
  };
  const body = walk(s.body);
  return { ...s, body, parts: n, truncated: true };
}

/** The stored form: msgpack + crc32; over `maxBytes`, entities are cut off from the end (half
 * as many each time) until it fits. */
export function encodeStructure(s: MessageStructure, maxBytes = STRUCTURE_LIMITS.maxBytes): Buffer {
  let packed = packr.pack(s);
  for (let keep = Math.floor(s.parts / 2); packed.length > maxBytes && keep >= 1; keep = keep === 1 ? 0 : Math.floor(keep / 2)) packed = packr.pack(prune(s, keep));
  const out = Buffer.allocUnsafe(packed.length + 4);
  packed.copy(out, 0);
  out.writeUInt32LE(crc32(packed), packed.length);
  return out;
}

/** The stored form read back; null if damaged or of an unknown version. */
export function decodeStructure(b: Uint8Array): MessageStructure | null {
  if (b.byteLength < 5) return null;
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const packed = buf.subarray(0, buf.length - 4);
  if (crc32(packed) !== buf.readUInt32LE(buf.length - 4)) return null;
  try {
    const s = packr.unpack(packed) as MessageStructure;
    return s !== null && typeof s === 'object' && s.v === 1 ? s : null;
  } catch {
    return null;
  }
}

/** The structure of the same message with `prefix`, whole header lines, put above it
 * (delivery's Return-Path and Received): every offset but the top header's start moves by its
 * length, and its fields count in the top header. */
export function shiftStructure(s: MessageStructure, prefix: Buffer): MessageStructure {
  const n = prefix.length;
  if (n === 0) return s;
  let fields = 0;
  for (const line of prefix.toString('latin1').split(/\r?\n/)) if (line !== '' && line[0] !== ' ' && line[0] !== '\t' && line.includes(':')) fields++;
  const move = (p: BodyPart, top: boolean): BodyPart => ({
    ...p,
    headerStart: top ? p.headerStart : p.headerStart + n,
    bodyStart: p.bodyStart + n,
    end: p.end + n,
    parts: p.parts.map((c) => move(c, false)),
    message: p.message === null ? null : { envelope: p.message.envelope, body: move(p.message.body, false) },
  });
  return { ...s, size: s.size + n, headerFields: s.headerFields + fields, body: move(s.body, true) };
}

/** The store's side of structures: what it parsed itself (appends that came without one, and
 * messages stored before structures were, parsed on first request), and a bounded cache of the
 * latter (they have no stored structure to read, and their records are never rewritten). */
export class StructureCache {
  readonly counters = { given: 0, parsedOnAppend: 0, parsedOnRead: 0, readStored: 0 };
  private readonly max: number;
  private readonly map = new Map<string, MessageStructure>();

  constructor(max = 2000) {
    this.max = Math.max(0, max);
  }

  get(key: string): MessageStructure | undefined {
    const s = this.map.get(key);
    if (s !== undefined) {
      this.map.delete(key); // most recently used last
      this.map.set(key, s);
    }
    return s;
  }

  set(key: string, s: MessageStructure): void {
    if (this.max === 0) return;
    this.map.delete(key);
    this.map.set(key, s);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }

  get size(): number {
    return this.map.size;
  }
}
