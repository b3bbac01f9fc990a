/**
 * protocols/imap/fetch.ts: one FETCH response (RFC 9051 §6.4.5, §7.5.2; RFC 3516 BINARY; RFC
 * 7162 MODSEQ), rendered from the message's metadata, the MIME structure the store parsed at
 * delivery (store/structure.ts) and the message's bytes. Sections are sliced out of the bytes at
 * the structure's offsets (fetch-sections.ts); nothing is parsed again. A top-level header's end
 * is found by a scan when no structure was loaded; a structure missing when one is needed is
 * parsed from the bytes as a fallback.
 *
 * Wire form: strings are quoted (`\"` and `\\` escaped) unless they hold CR, LF, NUL or 8-bit
 * bytes, which go as literals (8-bit bytes stay quoted under UTF8=ACCEPT when they are UTF-8);
 * ENVELOPE's subject and address names are cleaned as Dovecot does for humans (no CR/LF, runs of
 * white space as one space, trimmed), and remembered per envelope object (an envelope is never
 * changed once parsed: treat the structures given here as read-only). BODYSTRUCTURE shows a text part without charset as
 * us-ascii and a multipart without parts as holding an empty text/plain (as Dovecot). Body data
 * go as literals `{n}` (NUL bytes, which a literal may not carry, sent as 0x80 as Dovecot does),
 * BINARY data holding NUL as `~{n}`; a section that does not exist is NIL; a partial past the
 * end is an empty literal. Items are answered in the order asked, UID first; FLAGS, UID and
 * MODSEQ once each.
 *
 * Exports: `fetchNeeds(items)` (what the caller must load), `setsSeen(items)` (does the FETCH
 * set \Seen), `renderFetch(src, items, opts)` (the whole `* n FETCH (…)\r\n` as one Buffer, or a
 * `FetchError` for BINARY of an unknown transfer encoding, answered `NO [UNKNOWN-CTE]`),
 * `renderFetchParts` (the same as pieces for a writev: body bytes not copied),
 * `envelopeText`, `bodyStructureText` (the ENVELOPE and BODY/BODYSTRUCTURE values, for tests and
 * other modules), types `FetchError`, `FetchOptions`.
 * Throws nothing.
 */
import { isUtf8 } from 'node:buffer';
import { parseStructure, type Address, type BodyPart, type Envelope, type MessageStructure } from '../../store/structure.ts';
import type { FetchItem, FetchSource } from './types.ts';
import { binaryBytes, clip, headerEnd, isMessage, noNuls, sectionBytes, sectionName } from './fetch-sections.ts';

export interface FetchError {
  code: 'UNKNOWN-CTE';
  text: string;
}

export interface FetchOptions {
  /** UID FETCH: UID is in every response, asked or not. */
  uid: boolean;
  /** CONDSTORE is on for the session: MODSEQ (n) is in every response. */
  modseq: boolean;
  /** UTF8=ACCEPT is on: UTF-8 strings may be sent quoted. */
  utf8: boolean;
  /** The flags to print instead of meta.flags (\Recent included by the caller); when given,
   * FLAGS is in the response even if not asked (an implicit \Seen changed them). */
  flags?: readonly string[];
}

// ---- what to load ----

/** What the caller must load for `items`: the structure (fetchStructure) and/or the bytes. */
export function fetchNeeds(items: readonly FetchItem[]): { structure: boolean; body: boolean } {
  let structure = false;
  let body = false;
  for (const it of items) {
    switch (it.k) {
      case 'ENVELOPE':
      case 'BODYSTRUCTURE':
      case 'BODY':
        structure = true;
        break;
      case 'BODY[]':
        body = true;
        if (it.section.part.length > 0) structure = true;
        break;
      case 'BINARY':
      case 'BINARY.SIZE':
        body = true;
        structure = true;
        break;
      case 'RFC822':
      case 'RFC822.HEADER':
      case 'RFC822.TEXT':
        body = true;
        break;
      default:
        break;
    }
  }
  return { structure, body };
}

/** Does fetching `items` set \Seen (a non-PEEK BODY[…]/BINARY[…], RFC822, RFC822.TEXT)? */
export function setsSeen(items: readonly FetchItem[]): boolean {
  return items.some((it) => ((it.k === 'BODY[]' || it.k === 'BINARY') && !it.peek) || it.k === 'RFC822' || it.k === 'RFC822.TEXT');
}

// ---- strings ----

const LITERAL_NEEDED = /[\x00\r\n\x80-\xff]/;
const EIGHT_BIT = /[\x80-\xff]/;
const CTL_BREAK = /[\x00\r\n]/;
const ESCAPE = /["\\]/g;
const NEEDS_ESCAPE = /["\\]/;

/** A string value (raw bytes as latin1 characters) as a quoted string or a literal. */
function str(s: string, utf8: boolean): string {
  if (LITERAL_NEEDED.test(s)) {
    if (!(utf8 && !CTL_BREAK.test(s) && EIGHT_BIT.test(s) && isUtf8(Buffer.from(s, 'latin1')))) return `{${s.length}}\r\n${s}`;
  }
  return NEEDS_ESCAPE.test(s) ? `"${s.replace(ESCAPE, '\\$&')}"` : `"${s}"`;
}

const nstr = (s: string | null, utf8: boolean): string => (s === null ? 'NIL' : str(s, utf8));

/** Dovecot's "string for humans": no CR/LF, tabs and runs of spaces as one space, trimmed. */
const UNTIDY = /[\r\n\t]| {2}|^ | $/;

function human(s: string | null, utf8: boolean): string {
  if (s === null) return 'NIL';
  return str(UNTIDY.test(s) ? s.replace(/[\r\n]/g, '').replace(/[ \t]+/g, ' ').trim() : s, utf8);
}


// ---- ENVELOPE, BODY, BODYSTRUCTURE ----

function addresses(list: Address[] | null, utf8: boolean): string {
  if (list === null || list.length === 0) return 'NIL';
  let out = '(';
  for (const a of list) out += `(${human(a.name, utf8)} ${nstr(a.adl ?? null, utf8)} ${nstr(a.mailbox, utf8)} ${nstr(a.host, utf8)})`;
  return `${out})`;
}

/** Rendered ENVELOPE values by envelope object (without, with UTF8=ACCEPT): a stored message's
 * envelope never changes, and the FETCH structure cache hands out the same object each time, so
 * a message list fetched again costs a lookup. Held only as long as the envelope is. */
const ENVELOPE_TEXT = [new WeakMap<Envelope, string>(), new WeakMap<Envelope, string>()] as const;

/** The ENVELOPE value (RFC 9051 §7.5.2). */
export function envelopeText(e: Envelope, utf8 = false): string {
  const memo = ENVELOPE_TEXT[utf8 ? 1 : 0];
  let t = memo.get(e);
  if (t === undefined) memo.set(e, (t = renderEnvelope(e, utf8)));
  return t;
}

function renderEnvelope(e: Envelope, utf8: boolean): string {
  return `(${nstr(e.date, utf8)} ${human(e.subject, utf8)} ${addresses(e.from, utf8)} ${addresses(e.sender, utf8)} ${addresses(e.replyTo, utf8)} ${addresses(e.to, utf8)} ${addresses(e.cc, utf8)} ${addresses(e.bcc, utf8)} ${nstr(e.inReplyTo, utf8)} ${nstr(e.messageId, utf8)})`;
}

const EMPTY_ENVELOPE = '(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)';
/** What a multipart without parts, or a message/rfc822 whose message was cut off, holds. */
const EMPTY_PART = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0';

function params(ps: ReadonlyArray<[string, string]>, utf8: boolean): string {
  if (ps.length === 0) return 'NIL';
  let out = '(';
  for (let i = 0; i < ps.length; i++) out += `${i === 0 ? '' : ' '}${str(ps[i]![0], utf8)} ${str(ps[i]![1], utf8)}`;
  return `${out})`;
}

/** body-fld-dsp SP body-fld-lang SP body-fld-loc. */
function extTail(p: BodyPart, utf8: boolean): string {
  const dsp = p.disposition === null ? 'NIL' : `(${str(p.disposition.type, utf8)} ${params(p.disposition.params, utf8)})`;
  const lang = p.language === null || p.language.length === 0 ? 'NIL' : `(${p.language.map((l) => str(l, utf8)).join(' ')})`;
  return `${dsp} ${lang} ${nstr(p.location, utf8)}`;
}


/** A text part without a charset is us-ascii (RFC 2045 §5.2), and is shown so (as Dovecot). */
const DEFAULT_CHARSET: [string, string] = ['charset', 'us-ascii'];

/** BODYSTRUCTURE (`ext` true) or BODY (false) of `p` (RFC 9051 §7.5.2 body). */
export function bodyStructureText(p: BodyPart, ext: boolean, utf8 = false): string {
  if (p.type === 'multipart') {
    let out = '(';
    if (p.parts.length === 0) out += `${EMPTY_PART}${ext ? ' NIL NIL NIL NIL' : ''})`;
    for (const c of p.parts) out += bodyStructureText(c, ext, utf8);
    out += ` ${str(p.subtype, utf8)}`;
    if (ext) out += ` ${params(p.params, utf8)} ${extTail(p, utf8)}`;
    return `${out})`;
  }
  const ps = p.type === 'text' && !p.params.some(([k]) => k === 'charset') ? [DEFAULT_CHARSET, ...p.params] : p.params;
  let out = `(${str(p.type, utf8)} ${str(p.subtype, utf8)} ${params(ps, utf8)} ${nstr(p.id, utf8)} ${nstr(p.description, utf8)} ${str(p.encoding, utf8)} ${p.size}`;
  if (isMessage(p)) {
    const m = p.message;
    out += m === null ? ` ${EMPTY_ENVELOPE} ${EMPTY_PART}${ext ? ' NIL NIL NIL NIL' : ''}) ${p.lines ?? 0}` : ` ${envelopeText(m.envelope, utf8)} ${bodyStructureText(m.body, ext, utf8)} ${p.lines ?? 0}`;
  } else if (p.type === 'text') out += ` ${p.lines ?? 0}`;
  if (ext) out += ` ${nstr(p.md5, utf8)} ${extTail(p, utf8)}`;
  return `${out})`;
}

// ---- the response ----

/** Collects latin1 text and body buffers; one concatenation at the end. */
class Out {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  s: string;
  constructor(head: string) {
    this.s = head;
  }

  literal(b: Buffer, binary: boolean): void {
    const head = Buffer.from(`${this.s}${binary ? '~' : ''}{${b.length}}\r\n`, 'latin1');
    this.chunks.push(head, b);
    this.size += head.length + b.length;
    this.s = '';
  }

  done(): Buffer {
    const tail = Buffer.from(`${this.s})\r\n`, 'latin1');
    if (this.chunks.length === 0) return tail;
    this.chunks.push(tail);
    return Buffer.concat(this.chunks, this.size + tail.length);
  }

  /** The pieces as they are (text, literal bytes, text …): for a writev, nothing copied. */
  parts(): Buffer[] {
    this.chunks.push(Buffer.from(`${this.s})\r\n`, 'latin1'));
    return this.chunks;
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

/** An INTERNALDATE (date-time, RFC 9051), in UTC. */
function internalDate(ms: number): string {
  const d = new Date(ms);
  return `"${two(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000"`;
}

const EMPTY = Buffer.alloc(0);

/** The whole `* <seq> FETCH (…)\r\n` for `src`, or why not (see the contract above). */
export function renderFetch(src: FetchSource, items: readonly FetchItem[], o: FetchOptions): Buffer | FetchError {
  const r = render(src, items, o);
  return r instanceof Out ? r.done() : r;
}

/** The same response as pieces to write one after another (the body bytes are not copied). */
export function renderFetchParts(src: FetchSource, items: readonly FetchItem[], o: FetchOptions): Buffer[] | FetchError {
  const r = render(src, items, o);
  return r instanceof Out ? r.parts() : r;
}

function render(src: FetchSource, items: readonly FetchItem[], o: FetchOptions): Out | FetchError {
  const body = src.body ?? EMPTY;
  let st: MessageStructure | null | undefined = src.structure;
  const structure = (): MessageStructure => {
    st ??= parseStructure(body);
    return st;
  };
  const out = new Out(`* ${src.seq} FETCH (`);
  let n = 0;
  const sep = (): string => (n++ === 0 ? '' : ' ');
  const meta = src.meta;
  const wantUid = o.uid || items.some((it) => it.k === 'UID');
  let flagsDone = false;
  let modseqDone = false;
  if (wantUid) out.s += `${sep()}UID ${meta.uid}`;
  for (const it of items) {
    switch (it.k) {
      case 'UID':
        break;
      case 'FLAGS':
        if (!flagsDone) out.s += `${sep()}FLAGS (${(o.flags ?? meta.flags).join(' ')})`;
        flagsDone = true;
        break;
      case 'MODSEQ':
        if (!modseqDone) out.s += `${sep()}MODSEQ (${meta.modseq})`;
        modseqDone = true;
        break;
      case 'INTERNALDATE':
        out.s += `${sep()}INTERNALDATE ${internalDate(meta.internalDate)}`;
        break;
      case 'RFC822.SIZE':
        out.s += `${sep()}RFC822.SIZE ${meta.size}`;
        break;
      case 'ENVELOPE':
        out.s += `${sep()}ENVELOPE ${envelopeText(structure().envelope, o.utf8)}`;
        break;
      case 'BODYSTRUCTURE':
        out.s += `${sep()}BODYSTRUCTURE ${bodyStructureText(structure().body, true, o.utf8)}`;
        break;
      case 'BODY':
        out.s += `${sep()}BODY ${bodyStructureText(structure().body, false, o.utf8)}`;
        break;
      case 'RFC822':
        out.s += `${sep()}RFC822 `;
        out.literal(noNuls(body), false);
        break;
      case 'RFC822.HEADER':
      case 'RFC822.TEXT': {
        const bs = st != null ? Math.min(st.body.bodyStart, body.length) : headerEnd(body, 0, body.length);
        out.s += `${sep()}${it.k} `;
        out.literal(noNuls(it.k === 'RFC822.HEADER' ? body.subarray(0, bs) : body.subarray(bs)), false);
        break;
      }
      case 'BODY[]': {
        const bytes = sectionBytes(it.section.part.length > 0 ? structure() : st ?? null, body, it.section);
        out.s += `${sep()}BODY[${sectionName(it.section)}]${it.partial === null ? '' : `<${it.partial.offset}>`} `;
        if (bytes === null) out.s += 'NIL';
        else out.literal(noNuls(clip(bytes, it.partial)), false);
        break;
      }
      case 'BINARY':
      case 'BINARY.SIZE': {
        const bytes = binaryBytes(structure(), body, it.part);
        if (bytes !== null && !Buffer.isBuffer(bytes)) return { code: 'UNKNOWN-CTE', text: `Unknown Content-Transfer-Encoding "${bytes.unknown}"` };
        if (it.k === 'BINARY.SIZE') {
          out.s += `${sep()}BINARY.SIZE[${it.part.join('.')}] ${bytes === null ? 0 : bytes.length}`;
          break;
        }
        out.s += `${sep()}BINARY[${it.part.join('.')}]${it.partial === null ? '' : `<${it.partial.offset}>`} `;
        if (bytes === null) out.s += 'NIL';
        else {
          const data = clip(bytes, it.partial);
          out.literal(data, data.indexOf(0) >= 0);
        }
        break;
      }
    }
  }
  if (!flagsDone && o.flags !== undefined) out.s += `${sep()}FLAGS (${o.flags.join(' ')})`;
  if (!modseqDone && o.modseq) out.s += `${sep()}MODSEQ (${meta.modseq})`;
  return out;
}
