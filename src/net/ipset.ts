/**
 * net/ipset.ts: IP sets as rules write them, and a fast membership test for remote addresses.
 *
 * An IP set is one of: a single address (`10.0.0.1`, `2001:db8::1`), a range `a-b` (inclusive,
 * spaces around `-` allowed), CIDR `a/n`, or `addr/mask` with a dotted (or IPv6) contiguous mask.
 * Host bits under a prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`). IPv4 addresses are strict
 * dotted quads (no octal, hex or short forms).
 *
 * One address space: an IPv4 address a.b.c.d IS the IPv4-mapped IPv6 address ::ffff:a.b.c.d (the
 * form Node's `socket.remoteAddress` gives on a dual-stack listener). So the IPv4 set `10.0.0.0/8`
 * contains `::ffff:10.1.2.3`, the IPv6 set `::ffff:10.0.0.0/104` contains `10.1.2.3`, and an IPv6
 * set covering the mapped block (e.g. `::/0`) contains every IPv4 address. Other IPv6 addresses
 * (including the deprecated IPv4-compatible `::a.b.c.d`) never match an IPv4 set. Zone ids
 * (`fe80::1%eth0`) are ignored for matching and kept in the normalized text.
 *
 * Each set keeps precomputed bounds: IPv4 (and mapped) addresses compare as numbers, other IPv6
 * addresses as bigints. `contains()` parses an IPv4 or mapped address by hand without allocating;
 * remote IPv6 addresses also use a hand parser (ipaddr.js's costs ~2 µs a call). ipaddr.js
 * validates set definitions and masks (config time only). Callers testing one address against
 * many sets parse it once with `parseIp()` and use `containsAddr()`.
 *
 * Exports: `IpSet`, `IpAddr`, `parseIpSet`, `parseIp`, `normalizeIp`.
 * Throws: `parseIpSet` and `normalizeIp` throw PosternError('CONFIG_TYPE') on bad input;
 * `parseIp` returns null instead; `contains` returns false for an unparseable address.
 */
import ipaddr from 'ipaddr.js';
import { PosternError } from '../errors.ts';

/** A parsed address. `v4` is the IPv4 value (0..2^32-1) for an IPv4 or IPv4-mapped address,
 * else -1; `v6` is the 128-bit value for any other IPv6 address (unused when v4 >= 0). */
export interface IpAddr {
  readonly text: string; // normalized: dotted quad for IPv4 and mapped; RFC 5952 for IPv6
  readonly v4: number;
  readonly v6: bigint;
}

export interface IpSet {
  /** As written (trimmed). */
  readonly text: string;
  /** Canonical bounds, equal for equal sets however written ('10.0.0.0/8' and '10.0.0.0/255.0.0.0'). */
  readonly key: string;
  contains(ip: string): boolean;
  containsAddr(addr: IpAddr): boolean;
}

const MAPPED_BASE = 0xffff_0000_0000n; // ::ffff:0.0.0.0
const MAPPED_TOP = MAPPED_BASE + 0xffff_ffffn;
const V6_MAX = (1n << 128n) - 1n;

/** Parse a strict dotted quad in s[from, end); -1 when it is not one. */
function parseDotted(s: string, from: number, end = s.length): number {
  let value = 0;
  let octet = -1; // -1: no digit yet in this octet
  let digits = 0;
  let dots = 0;
  for (let i = from; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // leading zero
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else if (c === 46) {
      if (octet < 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = -1;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (octet < 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

function dottedText(n: number): string {
  return `${Math.floor(n / 16777216)}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

/** True when `s` starts (at 0) with '::ffff:' in any case. */
function hasMappedPrefix(s: string): boolean {
  if (s.length < 8 || s.charCodeAt(0) !== 58 || s.charCodeAt(1) !== 58 || s.charCodeAt(6) !== 58) return false;
  for (let i = 2; i < 6; i++) if ((s.charCodeAt(i) | 0x20) !== 102) return false; // 'f' / 'F'
  return true;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Parse IPv6 text in s[0, end) (hex groups, one `::`, an optional dotted-quad tail) into its
 * 8 groups; null when invalid. Hand-written: ipaddr.js's parser costs microseconds per call.
 * `::a.b.c.d` is the IPv4-compatible address (ipaddr.js would read it as mapped). */
function parseV6Groups(s: string, end: number): number[] | null {
  const head: number[] = [];
  let tail: number[] | null = null; // the groups after '::'
  let i = 0;
  if (end >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) { tail = []; i = 2; }
  let cur = tail ?? head;
  while (i < end) {
    let j = i;
    let v = 0;
    for (let d = j < end ? hexDigit(s.charCodeAt(j)) : -1; d >= 0; d = ++j < end ? hexDigit(s.charCodeAt(j)) : -1) v = v * 16 + d;
    if (j < end && s.charCodeAt(j) === 46) { // a dotted-quad tail ends the address
      const q = parseDotted(s, i, end);
      if (q < 0) return null;
      cur.push(Math.floor(q / 65536), q % 65536);
      break;
    }
    if (j === i || j - i > 4) return null;
    cur.push(v);
    if (j === end) break;
    if (s.charCodeAt(j) !== 58 || j + 1 === end) return null;
    i = j + 1;
    if (s.charCodeAt(i) === 58) {
      if (tail !== null) return null;
      tail = [];
      cur = tail;
      i++;
    }
  }
  if (tail === null) return head.length === 8 ? head : null;
  const n = head.length + tail.length;
  if (n > 7) return null;
  for (let k = n; k < 8; k++) head.push(0);
  for (let k = 0; k < tail.length; k++) head[8 - tail.length + k] = tail[k]!;
  return head;
}

function groupsToBigint(p: number[]): bigint {
  return (BigInt(p[0]! * 65536 + p[1]!) << 96n) | (BigInt(p[2]! * 65536 + p[3]!) << 64n)
    | (BigInt(p[4]! * 65536 + p[5]!) << 32n) | BigInt(p[6]! * 65536 + p[7]!);
}

function bigintToGroups(v: bigint): number[] {
  const parts = new Array<number>(8);
  for (let i = 7; i >= 0; i--) {
    parts[i] = Number(v & 0xffffn);
    v >>= 16n;
  }
  return parts;
}

/** RFC 5952 text of 8 groups (lowercase, no leading zeros, the first longest run of 2+ zero
 * groups as '::'). Mapped addresses never get here: they are shown as dotted quads. */
function v6Text(p: number[]): string {
  let at = -1;
  let len = 1;
  for (let i = 0; i < 8;) {
    if (p[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && p[j] === 0) j++;
    if (j - i > len) { at = i; len = j - i; }
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === at) { out += '::'; i += len - 1; continue; }
    out += (out === '' || out.endsWith(':') ? '' : ':') + p[i]!.toString(16);
  }
  return out;
}

/** Parse a remote address (IPv4, IPv6, IPv4-mapped, with or without zone id); null if invalid. */
export function parseIp(ip: string): IpAddr | null {
  const v4 = parseDotted(ip, 0);
  if (v4 >= 0) return { text: ip, v4, v6: -1n };
  if (hasMappedPrefix(ip)) {
    const m = parseDotted(ip, 7);
    if (m >= 0) return { text: ip.slice(7), v4: m, v6: -1n };
  }
  const pct = ip.indexOf('%');
  if (pct === 0 || pct === ip.length - 1) return null;
  const end = pct < 0 ? ip.length : pct;
  const groups = parseV6Groups(ip, end);
  if (groups === null) return null;
  const v6 = groupsToBigint(groups);
  if (v6 >= MAPPED_BASE && v6 <= MAPPED_TOP) {
    const m = Number(v6 - MAPPED_BASE);
    return { text: dottedText(m), v4: m, v6: -1n };
  }
  return { text: pct < 0 ? v6Text(groups) : v6Text(groups) + ip.slice(pct), v4: -1, v6 };
}

/** `::ffff:10.1.2.3` → `10.1.2.3`; IPv6 → RFC 5952 canonical text. Throws CONFIG_TYPE if invalid. */
export function normalizeIp(ip: string): string {
  const a = parseIp(ip.trim());
  if (a === null) throw new PosternError('CONFIG_TYPE', `not an IP address: ${JSON.stringify(ip)}`, { ip });
  return a.text;
}

class BoundedIpSet implements IpSet {
  readonly text: string;
  readonly key: string;
  private readonly v4lo: number; // the set's part inside the mapped block, as IPv4 numbers
  private readonly v4hi: number; // (v4lo > v4hi: no IPv4 address is in the set)
  private readonly v6lo: bigint;
  private readonly v6hi: bigint;

  constructor(text: string, lo: bigint, hi: bigint) {
    this.text = text;
    this.v6lo = lo;
    this.v6hi = hi;
    const mlo = lo > MAPPED_BASE ? lo : MAPPED_BASE;
    const mhi = hi < MAPPED_TOP ? hi : MAPPED_TOP;
    if (mlo <= mhi) {
      this.v4lo = Number(mlo - MAPPED_BASE);
      this.v4hi = Number(mhi - MAPPED_BASE);
    } else {
      this.v4lo = 1;
      this.v4hi = 0;
    }
    this.key = `${boundText(lo)}-${boundText(hi)}`;
  }

  containsAddr(a: IpAddr): boolean {
    if (a.v4 >= 0) return a.v4 >= this.v4lo && a.v4 <= this.v4hi;
    return a.v6 >= this.v6lo && a.v6 <= this.v6hi;
  }

  contains(ip: string): boolean {
    let v4 = parseDotted(ip, 0);
    if (v4 < 0 && hasMappedPrefix(ip)) v4 = parseDotted(ip, 7);
    if (v4 >= 0) return v4 >= this.v4lo && v4 <= this.v4hi;
    const a = parseIp(ip);
    return a !== null && this.containsAddr(a);
  }
}

function boundText(v: bigint): string {
  if (v >= MAPPED_BASE && v <= MAPPED_TOP) return dottedText(Number(v - MAPPED_BASE));
  return v6Text(bigintToGroups(v));
}

function bad(text: string, why: string): PosternError {
  return new PosternError('CONFIG_TYPE', `bad IP set ${JSON.stringify(text)}: ${why}`, { ipSet: text });
}

/** One address of a set definition (no zone id allowed), as its unified value and bit width. */
function parseSetAddr(s: string, text: string): { value: bigint; bits: 32 | 128 } {
  const v4 = parseDotted(s, 0);
  if (v4 >= 0) return { value: MAPPED_BASE + BigInt(v4), bits: 32 };
  const groups = s.includes('%') ? null : parseV6Groups(s, s.length);
  if (groups !== null && ipaddr.IPv6.isValid(s)) return { value: groupsToBigint(groups), bits: 128 };
  throw bad(text, `${JSON.stringify(s)} is not an IPv4 or IPv6 address`);
}

function prefixOf(s: string, bits: 32 | 128, text: string): number {
  if (/^\d{1,3}$/.test(s)) {
    const n = Number(s);
    if (n > bits) throw bad(text, `prefix /${s} is longer than ${bits} bits`);
    return n;
  }
  // A mask written as an address: it must be the same family and contiguous.
  let mask: ipaddr.IPv4 | ipaddr.IPv6;
  if (bits === 32 && ipaddr.IPv4.isValidFourPartDecimal(s)) mask = ipaddr.IPv4.parse(s);
  else if (bits === 128 && s.includes(':') && ipaddr.IPv6.isValid(s)) mask = ipaddr.IPv6.parse(s);
  else throw bad(text, `${JSON.stringify(s)} is not a prefix length or a mask`);
  const len = mask.prefixLengthFromSubnetMask();
  if (len === null) throw bad(text, `mask ${s} is not contiguous`);
  return len;
}

/** Parse an IP set as written in a rule. Throws PosternError('CONFIG_TYPE') on bad input. */
export function parseIpSet(text: string): IpSet {
  if (typeof text !== 'string') throw bad(String(text), 'not a string');
  const t = text.trim();
  if (t === '') throw bad(text, 'empty');
  const dash = t.indexOf('-');
  if (dash >= 0) {
    const a = parseSetAddr(t.slice(0, dash).trim(), text);
    const b = parseSetAddr(t.slice(dash + 1).trim(), text);
    if (a.value > b.value) throw bad(text, 'range start is above its end');
    return new BoundedIpSet(t, a.value, b.value);
  }
  const slash = t.indexOf('/');
  if (slash >= 0) {
    const a = parseSetAddr(t.slice(0, slash).trim(), text);
    const prefix = prefixOf(t.slice(slash + 1).trim(), a.bits, text);
    const hostBits = BigInt(a.bits - prefix);
    const hostMask = (1n << hostBits) - 1n;
    // An IPv4 prefix lives inside the mapped block: the top 96 bits stay fixed.
    const lo = a.value & (V6_MAX ^ hostMask);
    return new BoundedIpSet(t, lo, lo | hostMask);
  }
  const a = parseSetAddr(t, text);
  return new BoundedIpSet(t, a.value, a.value);
}
