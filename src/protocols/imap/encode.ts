/**
 * protocols/imap/encode.ts: the IMAP wire forms of strings, mailbox names, sequence sets, dates
 * and flag lists (RFC 9051 §4, §9; RFC 3501 §5.1.3 modified UTF-7; RFC 6855 UTF8=ACCEPT).
 *
 * Exports:
 * - `quoted(s)`: `"…"` with `\` and `"` escaped (the caller checks `quotable` first).
 * - `astring(s, utf8?)`: an atom when safe, else a quoted string, else a literal `{n}\r\n…`.
 * - `nstring(v, utf8?)`: NIL, a quoted string or a literal; a Buffer that is not quotable comes
 *   back as a Buffer (bytes may be 8-bit), text always as a string.
 * - `quotable(s, utf8?)`: may `s` be sent quoted?
 * - `literal(b)` / `literal8(b)`: `{n}\r\n` / `~{n}\r\n` and the bytes.
 * - `encodeMailbox(name, utf8)`: modified UTF-7 unless `utf8`, then as an astring.
 * - `utf7Encode(name)` / `utf7Decode(wire)`: modified UTF-7 alone (decode: null when invalid).
 * - `decodeMailbox(wire, utf8)`: a mailbox name as sent (quotes and literal already removed) →
 *   the name (modified UTF-7 decoded unless `utf8`; INBOX in any case → `INBOX`), null if invalid.
 * - `normalizeInbox(name)`: `inbox` → `INBOX`, `inbox/x` → `INBOX/x`.
 * - `formatSeqSet(sorted)`: ascending numbers → compressed ranges "1:3,5" ("" for none).
 * - `parseSeqSet(text, maxRanges?)`: "1:3,5,7:*" → ranges, `$` → '$', null when invalid (0,
 *   past 2^32-1, more than `maxRanges` ranges, default `MAX_SEQ_RANGES`).
 * - `internalDate(ms)`: `"06-Dec-2026 07:50:00 +0000"` (quotes included).
 * - `parseDateTime(text)`: an APPEND date-time (quotes removed) → ms, null when invalid.
 * - `parseDate(text)`: a SEARCH date `6-Dec-2026` → that day's 00:00 UTC in ms, null if invalid.
 * - `flagList(flags)`: `(\Seen $Junk)`.
 * Throws nothing.
 */
import { isUtf8 } from 'node:buffer';
import type { SeqRange, SequenceSet } from './types.ts';

/** The most ranges one sequence set may hold (the parser's bound on work per command). */
export const MAX_SEQ_RANGES = 10_000;

/** Largest sequence number / UID (RFC 9051 nz-number, 32 bits). */
export const MAX_UINT32 = 4294967295;

// ATOM-CHAR: CHAR except atom-specials ( ) { SP CTL % * " \ ]
const ATOM = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) ATOM[c] = 1;
for (const ch of '(){%*"\\]') ATOM[ch.charCodeAt(0)] = 0;

/** Can `s` be sent as an atom (and is not NIL, which would read as nil)? */
function atomSafe(s: string, extra: number): boolean {
  if (s.length === 0 || s.length > 1024) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 256 || (ATOM[c] === 0 && c !== extra)) return false;
  }
  return !(s.length === 3 && s.toUpperCase() === 'NIL');
}

/** Can `s` be sent as a quoted string? (No CR, LF or NUL; 8-bit only when `utf8`.) */
export function quotable(s: string, utf8 = false): boolean {
  if (s.length > 4096) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return false;
    if (c >= 0x80 && !utf8) return false;
  }
  return true;
}

export function quoted(s: string): string {
  let needs = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) {
      needs = true;
      break;
    }
  }
  return needs ? `"${s.replace(/["\\]/g, '\\$&')}"` : `"${s}"`;
}

/** A text literal: `{n}\r\n` and the text (n its UTF-8 length; the caller writes UTF-8). */
function textLiteral(s: string): string {
  return `{${Buffer.byteLength(s, 'utf8')}}\r\n${s}`;
}

/** `s` as an astring: an atom (`]` allowed) when safe, else quoted, else a literal. `utf8`:
 * the client accepts UTF-8 in quoted strings (IMAP4rev2 or UTF8=ACCEPT). */
export function astring(s: string, utf8 = false): string {
  if (atomSafe(s, 0x5d)) return s;
  if (quotable(s, utf8)) return quoted(s);
  return textLiteral(s);
}

/** NIL, a quoted string or a literal. Text comes back as a string; bytes that cannot be quoted
 * come back as a Buffer literal (they may be 8-bit). `utf8`: the client takes UTF-8 in quoted
 * strings (IMAP4rev2 / UTF8=ACCEPT), so valid UTF-8 may be quoted. */
export function nstring(v: null, utf8?: boolean): string;
export function nstring(v: string | null, utf8?: boolean): string;
export function nstring(v: Buffer | string | null, utf8?: boolean): string | Buffer;
export function nstring(v: Buffer | string | null, utf8 = false): string | Buffer {
  if (v === null) return 'NIL';
  if (typeof v === 'string') return quotable(v, utf8) ? quoted(v) : textLiteral(v);
  if (v.length <= 4096) {
    let ok = true;
    let eight = false;
    for (let i = 0; i < v.length; i++) {
      const c = v[i]!;
      if (c === 0 || c === 10 || c === 13) {
        ok = false;
        break;
      }
      if (c >= 0x80) eight = true;
    }
    if (ok && !eight) return quoted(v.toString('latin1'));
    if (ok && utf8 && isUtf8(v)) return quoted(v.toString('utf8'));
  }
  return literal(v);
}

export function literal(b: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`{${b.length}}\r\n`, 'latin1'), b]);
}

export function literal8(b: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`~{${b.length}}\r\n`, 'latin1'), b]);
}

// ---- modified UTF-7 (RFC 3501 §5.1.3) ----

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const B64_VAL = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64_VAL[B64.charCodeAt(i)] = i;

export function utf7Encode(name: string): string {
  let out = '';
  let i = 0;
  const n = name.length;
  while (i < n) {
    const c = name.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      out += c === 0x26 ? '&-' : name[i];
      i++;
      continue;
    }
    let j = i;
    while (j < n) {
      const d = name.charCodeAt(j);
      if (d >= 0x20 && d <= 0x7e) break;
      j++;
    }
    // UTF-16BE of name[i..j), base64 with ',' for '/', no padding
    let bits = 0;
    let nbits = 0;
    let enc = '&';
    for (let k = i; k < j; k++) {
      bits = ((bits << 16) | name.charCodeAt(k)) & 0xffffff;
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        enc += B64[(bits >> nbits) & 63];
      }
    }
    if (nbits > 0) enc += B64[(bits << (6 - nbits)) & 63];
    out += `${enc}-`;
    i = j;
  }
  return out;
}

/** Modified UTF-7 → text; null when not valid (8-bit or control bytes, a bad or unterminated
 * shift, printable ASCII or a broken surrogate pair encoded, leftover bits). */
export function utf7Decode(wire: string): string | null {
  let out = '';
  let i = 0;
  const n = wire.length;
  let plainFrom = 0;
  while (i < n) {
    const c = wire.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return null;
    if (c !== 0x26) {
      i++;
      continue;
    }
    out += wire.slice(plainFrom, i);
    i++;
    if (i < n && wire.charCodeAt(i) === 0x2d) {
      out += '&';
      i++;
      plainFrom = i;
      continue;
    }
    let bits = 0;
    let nbits = 0;
    let units = 0;
    let high = 0; // a pending high surrogate
    for (;;) {
      if (i >= n) return null;
      const d = wire.charCodeAt(i++);
      if (d === 0x2d) break;
      const v = d < 256 ? B64_VAL[d]! : -1;
      if (v < 0) return null;
      bits = ((bits << 6) | v) & 0xffffff;
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        const u = (bits >> nbits) & 0xffff;
        units++;
        if (high !== 0) {
          if (u < 0xdc00 || u > 0xdfff) return null;
          out += String.fromCharCode(high, u);
          high = 0;
        } else if (u >= 0xd800 && u <= 0xdbff) {
          high = u;
        } else if (u >= 0xdc00 && u <= 0xdfff) {
          return null;
        } else {
          if (u >= 0x20 && u <= 0x7e) return null;
          out += String.fromCharCode(u);
        }
      }
    }
    if (units === 0 || high !== 0 || nbits >= 6 || (bits & ((1 << nbits) - 1)) !== 0) return null;
    plainFrom = i;
  }
  return out + wire.slice(plainFrom);
}

export function normalizeInbox(name: string): string {
  const n = name.length;
  if (n < 5) return name;
  if (n > 5 && name.charCodeAt(5) !== 0x2f) return name;
  const head = name.slice(0, 5);
  if (head === 'INBOX' || head.toUpperCase() !== 'INBOX') return name;
  return `INBOX${name.slice(5)}`;
}

/**
 * A mailbox name as sent (its bytes as a latin1 string: quotes or literal already removed) →
 * the name. Not `utf8`: modified UTF-7, 7-bit only. `utf8` (RFC 6855 §3): UTF-8 taken as is
 * (`&` is an ordinary character); invalid UTF-8 or a control character → null.
 */
export function decodeMailbox(wire: string, utf8: boolean): string | null {
  if (!utf8) {
    const s = utf7Decode(wire);
    return s === null ? null : normalizeInbox(s);
  }
  let ascii = true;
  for (let i = 0; i < wire.length; i++) {
    const c = wire.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return null;
    if (c >= 0x80) ascii = false;
  }
  if (ascii) return normalizeInbox(wire);
  const b = Buffer.from(wire, 'latin1');
  if (!isUtf8(b)) return null;
  return normalizeInbox(b.toString('utf8'));
}

/** A mailbox name for a response: modified UTF-7 unless `utf8`, then an astring. */
export function encodeMailbox(name: string, utf8: boolean): string {
  return astring(utf8 ? name : utf7Encode(name), utf8);
}

// ---- sequence sets ----

/** Ascending (duplicates allowed) numbers → "1:3,5"; "" for none. */
export function formatSeqSet(sorted: readonly number[]): string {
  const n = sorted.length;
  if (n === 0) return '';
  const parts: string[] = [];
  let start = sorted[0]!;
  let prev = start;
  for (let i = 1; i <= n; i++) {
    const v = i < n ? sorted[i]! : -1;
    if (i < n && (v === prev || v === prev + 1)) {
      prev = v;
      continue;
    }
    parts.push(start === prev ? `${start}` : `${start}:${prev}`);
    start = prev = v;
  }
  return parts.join(',');
}

/** One seq-number at text[i..j): a number 1..2^32-1 (leading zeros allowed, as Dovecot does),
 * or `*`; -1: invalid. */
function seqNum(text: string, i: number, j: number): number | '*' | -1 {
  if (j - i === 1 && text.charCodeAt(i) === 0x2a) return '*';
  if (j <= i) return -1;
  let v = 0;
  for (let k = i; k < j; k++) {
    const d = text.charCodeAt(k) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
    if (v > MAX_UINT32) return -1;
  }
  return v === 0 ? -1 : v;
}

/** "1:3,5,7:*" → ranges; "$" → '$'; null when invalid or past `maxRanges` ranges. */
export function parseSeqSet(text: string, maxRanges = MAX_SEQ_RANGES): SequenceSet | null {
  if (text === '$') return '$';
  const out: SeqRange[] = [];
  const n = text.length;
  let i = 0;
  while (i <= n) {
    let j = i;
    let colon = -1;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 0x2c) break;
      if (c === 0x3a) {
        if (colon >= 0) return null;
        colon = j;
      }
      j++;
    }
    if (out.length >= maxRanges) return null;
    if (colon < 0) {
      const v = seqNum(text, i, j);
      if (v === -1) return null;
      out.push({ from: v, to: v });
    } else {
      const a = seqNum(text, i, colon);
      const b = seqNum(text, colon + 1, j);
      if (a === -1 || b === -1) return null;
      out.push({ from: a, to: b });
    }
    i = j + 1;
    if (j === n) break;
  }
  return out.length > 0 ? out : null;
}

// ---- dates ----

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH_INDEX = new Map(MONTHS.map((m, i) => [m.toUpperCase(), i]));
const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

/** `"06-Dec-2026 07:50:00 +0000"`, quotes included (UTC). */
export function internalDate(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return '"01-Jan-1970 00:00:00 +0000"';
  const y = d.getUTCFullYear();
  return `"${pad2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${y} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000"`;
}

function digits(s: string, i: number, j: number): number {
  if (j > s.length || j <= i) return -1;
  let v = 0;
  for (let k = i; k < j; k++) {
    const d = s.charCodeAt(k) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** `d-Mon-yyyy` at s[i..] → [ms of 00:00 UTC, end index], or null. Day: 1 or 2 digits. */
function dayMonthYear(s: string, i: number): [number, number] | null {
  let j = i;
  while (j < s.length && j - i < 3 && s.charCodeAt(j) !== 0x2d) j++;
  const day = digits(s, i, j);
  if (day < 1 || day > 31 || s.charCodeAt(j) !== 0x2d) return null;
  const mon = MONTH_INDEX.get(s.slice(j + 1, j + 4).toUpperCase());
  if (mon === undefined || s.charCodeAt(j + 4) !== 0x2d) return null;
  const year = digits(s, j + 5, j + 9);
  if (year < 0) return null;
  const ms = Date.UTC(year, mon, day);
  if (new Date(ms).getUTCDate() !== day) return null; // 31-Feb
  return [ms, j + 9];
}

/** A SEARCH date (`date-text`, quotes removed) → that day's 00:00 UTC in ms; null if invalid. */
export function parseDate(text: string): number | null {
  const r = dayMonthYear(text, 0);
  return r !== null && r[1] === text.length ? r[0] : null;
}

/** An APPEND date-time (`dd-Mon-yyyy hh:mm:ss +zzzz`, quotes removed; the day may be
 * space-padded or one digit) → ms; null if invalid. */
export function parseDateTime(text: string): number | null {
  const s = text.charCodeAt(0) === 0x20 ? text.slice(1) : text;
  const r = dayMonthYear(s, 0);
  if (r === null) return null;
  let i = r[1];
  if (s.length !== i + 15 || s[i] !== ' ' || s[i + 3] !== ':' || s[i + 6] !== ':' || s[i + 9] !== ' ') return null;
  const hh = digits(s, i + 1, i + 3);
  const mm = digits(s, i + 4, i + 6);
  const ss = digits(s, i + 7, i + 9);
  i += 10;
  const sign = s[i];
  const zh = digits(s, i + 1, i + 3);
  const zm = digits(s, i + 3, i + 5);
  if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60 || zh < 0 || zm < 0 || zm > 59 || (sign !== '+' && sign !== '-')) return null;
  const zone = (zh * 60 + zm) * 60_000 * (sign === '+' ? 1 : -1);
  return r[0] + ((hh * 60 + mm) * 60 + ss) * 1000 - zone;
}

export function flagList(flags: readonly string[]): string {
  return `(${flags.join(' ')})`;
}
