/**
 * protocols/imap/parser-fetch.ts: the FETCH and STORE commands of the IMAP parser (parser.ts):
 * RFC 9051 fetch attributes with the macros ALL / FAST / FULL expanded, BODY[section]<partial>,
 * BODY.PEEK, RFC 3516 BINARY / BINARY.PEEK / BINARY.SIZE, RFC 7162 CHANGEDSINCE / VANISHED
 * and UNCHANGEDSINCE; STORE's ±FLAGS[.SILENT].
 *
 * Exports: `fetch(r, tag, uid)`, `store(r, tag, uid)` (the reader is just past the command name).
 * Throws: `ParseError` (reader.ts) on malformed input.
 */
import { show, text, type Reader } from './reader.ts';
import type { Command, FetchItem, Section } from './types.ts';

const SIMPLE_ITEMS = new Set(['FLAGS', 'UID', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODYSTRUCTURE', 'MODSEQ', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);
const FAST: FetchItem[] = [{ k: 'FLAGS' }, { k: 'INTERNALDATE' }, { k: 'RFC822.SIZE' }];
const MACROS: Record<string, FetchItem[]> = {
  FAST,
  ALL: [...FAST, { k: 'ENVELOPE' }],
  FULL: [...FAST, { k: 'ENVELOPE' }, { k: 'BODY' }],
};

/** Fetch attribute name characters: letters, digits, `.`, `-`. */
function fetchName(r: Reader, what = 'FETCH attribute'): string {
  const s = r.s;
  const start = r.p;
  let i = start;
  while (i < s.length) {
    const c = s.charCodeAt(i) | 0x20;
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d)) break;
    i++;
  }
  r.p = i;
  if (i === start) r.fail(r.end() ? `Missing ${what}` : `Invalid ${what}`);
  return s.slice(start, i).toUpperCase();
}

/** section-part: nz-number *("." nz-number); stops before a "." that is not followed by a digit. */
function partNumbers(r: Reader, part: number[]): void {
  for (;;) {
    part.push(r.nz32('section part'));
    r.count(part.length, 'section parts');
    const c = r.peek();
    if (c !== 0x2e) return;
    const d = r.s.charCodeAt(r.p + 1);
    if (!(d >= 0x30 && d <= 0x39)) return;
    r.skip(1);
  }
}

function section(r: Reader): Section {
  r.expect(0x5b, '[');
  const part: number[] = [];
  let textPart: Section['text'] = null;
  const fields: string[] = [];
  const c = r.peek();
  let textNext = r.peek() !== 0x5d; // [] is the whole message
  if (c >= 0x30 && c <= 0x39) {
    partNumbers(r, part);
    textNext = r.peek() === 0x2e; // "1.2.TEXT"; otherwise "]" must follow
    if (textNext) r.skip(1);
  }
  if (textNext) {
    const t = fetchName(r, 'section');
    if (t === 'HEADER' || t === 'TEXT' || (t === 'MIME' && part.length > 0)) textPart = t;
    else if (t === 'HEADER.FIELDS' || t === 'HEADER.FIELDS.NOT') {
      textPart = t;
      r.sp('header field names');
      r.open('header field names');
      do {
        fields.push(text(r.astring('header field name')).toUpperCase());
        r.count(fields.length, 'header field names');
      } while (r.trySp());
      r.close('header field names');
    } else r.fail(`Invalid section ${show(t)}`);
  }
  r.expect(0x5d, ']');
  return { part, text: textPart, fields };
}

function partial(r: Reader): { offset: number; length: number } | null {
  if (r.peek() !== 0x3c) return null;
  r.skip(1);
  const offset = r.number('partial offset');
  r.expect(0x2e, '. in partial');
  const length = r.number('partial length');
  r.expect(0x3e, '> after partial');
  return { offset, length };
}

function binaryPart(r: Reader): number[] {
  r.expect(0x5b, '[');
  const part: number[] = [];
  if (r.peek() !== 0x5d) partNumbers(r, part);
  r.expect(0x5d, ']');
  return part;
}

function fetchAtt(r: Reader): FetchItem {
  const n = fetchName(r);
  if (SIMPLE_ITEMS.has(n)) return { k: n } as FetchItem;
  switch (n) {
    case 'BODY':
      if (r.peek() !== 0x5b) return { k: 'BODY' };
      return { k: 'BODY[]', section: section(r), peek: false, partial: partial(r) };
    case 'BODY.PEEK':
      return { k: 'BODY[]', section: section(r), peek: true, partial: partial(r) };
    case 'BINARY':
    case 'BINARY.PEEK':
      return { k: 'BINARY', part: binaryPart(r), peek: n === 'BINARY.PEEK', partial: partial(r) };
    case 'BINARY.SIZE':
      return { k: 'BINARY.SIZE', part: binaryPart(r) };
    default:
      return r.fail(`Unknown FETCH attribute ${show(n)}`);
  }
}

export function fetch(r: Reader, tag: string, isUid: boolean): Command {
  const seqs = r.seqSet(isUid ? 'UID set' : 'sequence set');
  r.sp('FETCH attributes');
  let items: FetchItem[];
  if (r.peek() === 0x28) {
    r.open('FETCH attributes');
    items = [];
    do {
      items.push(fetchAtt(r));
      r.count(items.length, 'FETCH attributes');
    } while (r.trySp());
    r.close('FETCH attributes');
  } else {
    const macro = MACROS[r.peekWord()];
    if (macro !== undefined) {
      r.word('FETCH macro');
      items = macro.slice();
    } else items = [fetchAtt(r)];
  }
  let changedSince: number | null = null;
  let vanished = false;
  if (r.trySp()) {
    r.open('FETCH modifiers');
    do {
      const m = r.word('FETCH modifier');
      if (m === 'CHANGEDSINCE') {
        r.sp('mod-sequence');
        changedSince = r.modseq();
      } else if (m === 'VANISHED') vanished = true;
      else r.fail(`Unknown FETCH modifier ${show(m)}`);
    } while (r.trySp());
    r.close('FETCH modifiers');
    if (vanished && (!isUid || changedSince === null)) r.fail('VANISHED needs UID FETCH and CHANGEDSINCE');
  }
  return { tag, name: 'FETCH', uid: isUid, seqs, items, changedSince, vanished };
}

// ---- STORE ----

export function store(r: Reader, tag: string, isUid: boolean): Command {
  const seqs = r.seqSet(isUid ? 'UID set' : 'sequence set');
  r.sp('STORE attribute');
  let unchangedSince: number | null = null;
  if (r.peek() === 0x28) {
    r.open('STORE modifiers');
    do {
      const m = r.word('STORE modifier');
      if (m !== 'UNCHANGEDSINCE') r.fail(`Unknown STORE modifier ${show(m)}`);
      r.sp('mod-sequence');
      unchangedSince = r.modseq();
    } while (r.trySp());
    r.close('STORE modifiers');
    r.sp('STORE attribute');
  }
  let mode: 'set' | 'add' | 'remove' = 'set';
  const c = r.peek();
  if (c === 0x2b || c === 0x2d) {
    mode = c === 0x2b ? 'add' : 'remove';
    r.skip(1);
  }
  const att = r.word('STORE attribute');
  if (att !== 'FLAGS' && att !== 'FLAGS.SILENT') r.fail(`Invalid STORE attribute ${show(att)}`);
  r.sp('flags');
  let flags: string[];
  if (r.peek() === 0x28) flags = r.flagList();
  else {
    flags = [];
    do {
      flags.push(r.flag());
      r.count(flags.length, 'flags');
    } while (r.trySp());
  }
  return { tag, name: 'STORE', uid: isUid, seqs, mode, silent: att === 'FLAGS.SILENT', flags, unchangedSince };
}
