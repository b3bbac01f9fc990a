/**
 * protocols/imap/reader.ts: the token reader under the IMAP command parser (RFC 9051 §9
 * lexical rules): a cursor over a command's line parts and the literals between them.
 *
 * A command arrives as `lines[0] lit[0] lines[1] lit[1] … lines[n]`: the framer cut each literal
 * marker (`{n}`, `{n+}`, `~{n}`) and its CRLF off the line before it, so line i ends where its
 * marker began (the SP before `{` stays) and literal i is read wherever line i is exhausted and
 * a string is expected. The last line may still end in CRLF (dropped here); spaces at the very
 * end of a command are dropped too (no grammar element ends in one; Dovecot ignores them).
 *
 * Lines are read as latin1 strings (one char per byte); strings come back the same way ("raw"),
 * and the caller decodes UTF-8 where the grammar allows it (`text()`).
 *
 * Bounds: parentheses (and OR / NOT in SEARCH, through `enter`/`leave`) nest at most
 * `maxNesting` deep (default `MAX_NESTING`); one list holds at most `maxListItems` items
 * (`count`; default `MAX_LIST_ITEMS`; a sequence set's ranges too); a mailbox name is at most
 * `maxMailboxNameBytes` long (default `MAX_MAILBOX_NAME_BYTES`, checked by the parser). Every read
 * consumes input, so a command's work is linear in its size.
 *
 * Exports: `Reader`, `ParseError` (thrown by every read on malformed input: its message is the
 * BAD text), `MAX_NESTING`, `MAX_LIST_ITEMS`, `MAX_MAILBOX_NAME_BYTES`, `TAG_CHAR`, `ATOM_CHAR`,
 * `text`, `show`.
 * Throws: `ParseError` only.
 */
import { parseSeqSet } from './encode.ts';
import type { CommandInput, SequenceSet } from './types.ts';

export const MAX_NESTING = 64;
export const MAX_LIST_ITEMS = 10_000;
/** The longest mailbox name or pattern as sent (the store's own limit is lower; this one bounds
 * the decoding work a literal could ask for). */
export const MAX_MAILBOX_NAME_BYTES = 4096;

export class ParseError extends Error {
  override name = 'ParseError';
}

function charTable(chars: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = chars(c) ? 1 : 0;
  return t;
}
const special = (s: string) => (c: number) => s.includes(String.fromCharCode(c));
/** ATOM-CHAR (7-bit, no atom-specials). */
export const ATOM_CHAR = charTable((c) => c > 0x20 && c < 0x7f && !special('(){%*"\\]')(c));
/** ASTRING-CHAR: ATOM-CHAR and `]`; 8-bit bytes too (a lenient read of UTF-8 atoms). */
const ASTRING_CHAR = charTable((c) => (c > 0x20 && c < 0x7f && !special('(){%*"\\')(c)) || c >= 0x80);
/** list-char: ATOM-CHAR, list-wildcards and `]` (and 8-bit, as above). */
const LIST_CHAR = charTable((c) => (c > 0x20 && c < 0x7f && !special('(){"\\')(c)) || c >= 0x80);
/** tag: ASTRING-CHAR except `+`. */
export const TAG_CHAR = charTable((c) => c > 0x20 && c < 0x7f && !special('(){%*"\\+')(c));
const SYSTEM_FLAGS = new Map(['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'].map((f) => [f.toUpperCase(), f]));
/** sequence-set characters. */
const SEQ_CHAR = charTable((c) => (c >= 0x30 && c <= 0x39) || c === 0x3a || c === 0x2c || c === 0x2a || c === 0x24);

/** Raw (latin1) → text: UTF-8 decoded when it has 8-bit bytes. */
export function text(raw: string): string {
  for (let i = 0; i < raw.length; i++) if (raw.charCodeAt(i) >= 0x80) return Buffer.from(raw, 'latin1').toString('utf8');
  return raw;
}

/** Client text for an error message: printable, at most 40 chars. */
export function show(s: string): string {
  let out = '';
  const n = Math.min(s.length, 40);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f ? s[i] : '?';
  }
  return s.length > 40 ? `${out}…` : out;
}

export class Reader {
  readonly lines: string[];
  readonly lits: CommandInput['literals'];
  li = 0;
  s: string;
  p = 0;
  depth = 0;
  readonly maxNesting: number;
  readonly maxListItems: number;
  readonly maxMailboxNameBytes: number;

  constructor(input: CommandInput, limits: { maxNesting?: number; maxListItems?: number; maxMailboxNameBytes?: number } = {}) {
    this.maxNesting = limits.maxNesting ?? MAX_NESTING;
    this.maxListItems = limits.maxListItems ?? MAX_LIST_ITEMS;
    this.maxMailboxNameBytes = limits.maxMailboxNameBytes ?? MAX_MAILBOX_NAME_BYTES;
    const n = input.lines.length;
    this.lines = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      let s = input.lines[i]!.toString('latin1');
      if (i === n - 1) {
        let e = s.length;
        if (e > 0 && s.charCodeAt(e - 1) === 0x0a) e--;
        if (e > 0 && s.charCodeAt(e - 1) === 0x0d) e--;
        while (e > 0 && s.charCodeAt(e - 1) === 0x20) e--; // trailing spaces: ignored, as Dovecot does
        if (e < s.length) s = s.slice(0, e);
      }
      this.lines[i] = s;
    }
    if (n === 0) this.lines.push('');
    this.lits = input.literals;
    this.s = this.lines[0]!;
  }

  fail(msg: string): never {
    throw new ParseError(msg);
  }

  /** The current line part is exhausted. */
  eol(): boolean {
    return this.p >= this.s.length;
  }

  /** Nothing more: the last line is exhausted. */
  end(): boolean {
    return this.p >= this.s.length && this.li >= this.lits.length;
  }

  /** A literal comes next. */
  litHere(): boolean {
    return this.p >= this.s.length && this.li < this.lits.length && this.li + 1 < this.lines.length;
  }

  takeLit(): { bytes: Buffer; binary: boolean } {
    const lit = this.lits[this.li]!;
    this.li++;
    this.s = this.lines[this.li]!;
    this.p = 0;
    return lit;
  }

  peek(): number {
    return this.p < this.s.length ? this.s.charCodeAt(this.p) : -1;
  }

  /** One SP before the argument `what`; "Missing what" when the command ends here. */
  sp(what: string): void {
    if (this.s.charCodeAt(this.p) !== 0x20) this.fail(this.end() ? `Missing ${what}` : `Expected a space before ${what}`);
    this.p++;
    if (this.end()) this.fail(`Missing ${what}`);
  }

  trySp(): boolean {
    if (this.s.charCodeAt(this.p) !== 0x20) return false;
    this.p++;
    return true;
  }

  expect(c: number, what: string): void {
    if (this.s.charCodeAt(this.p) !== c) this.fail(this.end() ? `Missing ${what}` : `Expected ${what}`);
    this.p++;
  }

  /** `(`, counting nesting. */
  open(what: string): void {
    this.expect(0x28, `( before ${what}`);
    this.enter();
  }

  close(what: string): void {
    this.expect(0x29, `) after ${what}`);
    this.depth--;
  }

  enter(): void {
    if (++this.depth > this.maxNesting) this.fail(`Too deeply nested (more than ${this.maxNesting} levels)`);
  }

  leave(): void {
    this.depth--;
  }

  /** A list's item count `n` (already read), failing past `MAX_LIST_ITEMS`. */
  count(n: number, what: string): void {
    if (n > this.maxListItems) this.fail(`Too many ${what} (more than ${this.maxListItems})`);
  }

  /** 1*char of the table, raw; "" when none. */
  private run(table: Uint8Array): string {
    const s = this.s;
    const start = this.p;
    let i = start;
    while (i < s.length && table[s.charCodeAt(i)] === 1) i++;
    this.p = i;
    return s.slice(start, i);
  }

  /** An atom (7-bit ATOM-CHARs); fails with "Missing what" when there is none. */
  atom(what: string): string {
    const a = this.run(ATOM_CHAR);
    if (a === '') this.fail(this.end() ? `Missing ${what}` : `Invalid ${what}`);
    return a;
  }

  /** An atom, upper-cased (keywords). */
  word(what: string): string {
    return this.atom(what).toUpperCase();
  }

  /** The atom ahead, upper-cased, without consuming it ("" if none). */
  peekWord(): string {
    const s = this.s;
    let i = this.p;
    while (i < s.length && ATOM_CHAR[s.charCodeAt(i)] === 1) i++;
    return s.slice(this.p, i).toUpperCase();
  }

  skip(n: number): void {
    this.p += n;
  }

  /** A literal where a string is expected (literal8 only in APPEND). */
  private literalRaw(what: string): string {
    const lit = this.takeLit();
    if (lit.binary) this.fail(`A literal8 is not allowed for ${what}`);
    return lit.bytes.toString('latin1');
  }

  /** quoted = DQUOTE *QUOTED-CHAR DQUOTE; only \" and \\ may be escaped. */
  private quotedRaw(what: string): string {
    const s = this.s;
    const from = this.p + 1;
    let i = from;
    let escapes = 0;
    for (;;) {
      if (i >= s.length) this.fail(`Unterminated quoted string for ${what}`);
      const c = s.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        const d = s.charCodeAt(i + 1);
        if (d !== 0x22 && d !== 0x5c) this.fail(`Invalid escape in quoted string for ${what}`);
        escapes++;
        i += 2;
        continue;
      }
      if (c === 0 || c === 0x0a || c === 0x0d) this.fail(`Invalid character in quoted string for ${what}`);
      i++;
    }
    this.p = i + 1;
    if (escapes === 0) return s.slice(from, i);
    const out = Buffer.allocUnsafe(i - from - escapes);
    let o = 0;
    for (let k = from; k < i; k++) {
      let c = s.charCodeAt(k);
      if (c === 0x5c) c = s.charCodeAt(++k);
      out[o++] = c;
    }
    return out.toString('latin1');
  }

  /** string = quoted / literal. */
  string(what: string): string {
    if (this.litHere()) return this.literalRaw(what);
    if (this.peek() === 0x22) return this.quotedRaw(what);
    return this.fail(this.end() ? `Missing ${what}` : `Expected a string for ${what}`);
  }

  /** astring = 1*ASTRING-CHAR / string. */
  astring(what: string): string {
    if (this.litHere()) return this.literalRaw(what);
    const c = this.peek();
    if (c === 0x22) return this.quotedRaw(what);
    const a = this.run(ASTRING_CHAR);
    if (a === '') this.fail(this.end() ? `Missing ${what}` : `Invalid ${what}`);
    return a;
  }

  /** nstring = string / NIL. */
  nstring(what: string): string | null {
    if (!this.litHere() && this.peek() !== 0x22) {
      if (this.word(what) !== 'NIL') this.fail(`Expected a string or NIL for ${what}`);
      return null;
    }
    return this.string(what);
  }

  /** list-mailbox = 1*list-char / string. */
  listMailbox(what: string): string {
    if (this.litHere()) return this.literalRaw(what);
    if (this.peek() === 0x22) return this.quotedRaw(what);
    const a = this.run(LIST_CHAR);
    if (a === '') this.fail(this.end() ? `Missing ${what}` : `Invalid ${what}`);
    return a;
  }

  /** SP sequence-set (or `$`). */
  seqSet(what: string): SequenceSet {
    this.sp(what);
    return this.seqSetHere(what);
  }

  /** sequence-set (or `$`), at most `maxListItems` ranges. */
  seqSetHere(what: string): SequenceSet {
    const t = this.run(SEQ_CHAR);
    if (t === '') this.fail(this.end() ? `Missing ${what}` : `Invalid ${what}`);
    const set = parseSeqSet(t, this.maxListItems);
    if (set === null) {
      let ranges = 1;
      for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) === 0x2c) ranges++;
      this.fail(ranges > this.maxListItems ? `Too many ranges in ${what} (more than ${this.maxListItems})` : `Invalid ${what} ${show(t)}`);
    }
    return set;
  }

  /** flag = a system flag, written canonically (other `\`-flags are BAD) / a keyword (atom). */
  flag(): string {
    if (this.peek() === 0x5c) {
      this.p++;
      const f = `\\${this.atom('flag')}`;
      const sys = SYSTEM_FLAGS.get(f.toUpperCase());
      if (sys === undefined) this.fail(`Invalid system flag ${show(f)}`);
      return sys;
    }
    return this.atom('flag');
  }

  /** "(" [flag *(SP flag)] ")" */
  flagList(): string[] {
    const flags: string[] = [];
    this.open('flags');
    if (this.peek() !== 0x29) {
      do {
        flags.push(this.flag());
        this.count(flags.length, 'flags');
      } while (this.trySp());
    }
    this.close('flags');
    return flags;
  }

  /** number: 1*DIGIT, at most 2^53-1. */
  number(what: string): number {
    const s = this.s;
    const start = this.p;
    let i = start;
    let v = 0;
    while (i < s.length) {
      const d = s.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      i++;
    }
    if (i === start) this.fail(this.end() ? `Missing ${what}` : `Expected a number for ${what}`);
    if (i - start > 16 || v > Number.MAX_SAFE_INTEGER) this.fail(`Number too large for ${what}`);
    this.p = i;
    return v;
  }

  /** mod-sequence-value: 1*DIGIT up to 2^63-1 (RFC 7162). Values past 2^53 lose precision,
   * harmless: they exceed every mod-sequence this server issues. */
  modseq(what = 'mod-sequence'): number {
    const s = this.s;
    const start = this.p;
    let i = start;
    while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
    if (i === start) this.fail(this.end() ? `Missing ${what}` : `Expected a number for ${what}`);
    const t = s.slice(start, i);
    if (t.length > 19 || (t.length === 19 && t > '9223372036854775807')) this.fail(`Number too large for ${what}`);
    this.p = i;
    return Number(t);
  }

  /** nz-number: 1..2^32-1. */
  nz32(what: string): number {
    const v = this.number(what);
    if (v < 1 || v > 4294967295) this.fail(`Invalid ${what}`);
    return v;
  }
}
