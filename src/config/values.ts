/**
 * config/values.ts: checks and converts the seed system's scalar value types (UINT, IP, IP_SET,
 * IP_PORT) from their written text. Pure functions over strings; IPs via ipaddr.js, strictly:
 * IPv4 only in four-part decimal, IPv6 in any RFC 4291 form.
 *
 * Exports: `ValueResult`, `UINT_MAX`, `checkUint`, `isIp`, `checkIp`, `checkIpSet`,
 * `checkIpPort`, `parseEndpoint`, `endpointKey`.
 * Throws nothing: failures come back as `{ ok: false, code, message }` (CONFIG_TYPE for a
 * malformed value, CONFIG_RANGE for a well-formed one out of range); `parseEndpoint` expects
 * text that `checkIpPort` accepted.
 */
import ipaddr from 'ipaddr.js';
import type { Endpoint } from './options.ts';

export type ValueResult<T> =
  | { ok: true; value: T }
  | { ok: false; code: 'CONFIG_TYPE' | 'CONFIG_RANGE'; message: string };

/** The largest UINT the file may hold (the seed's UINT is 32-bit). */
export const UINT_MAX = 4294967295;

const bad = (what: string, text: string): ValueResult<never> => ({
  ok: false,
  code: 'CONFIG_TYPE',
  message: `expected ${what}, got ${JSON.stringify(text)}`,
});
const range = (message: string): ValueResult<never> => ({ ok: false, code: 'CONFIG_RANGE', message });

export function checkUint(text: string, min = 0, max = UINT_MAX): ValueResult<number> {
  if (!/^[0-9]+$/.test(text)) return bad('an unsigned integer', text);
  const n = Number(text);
  if (n < min || n > max) return range(`${text} is out of range: expected ${min}..${max}`);
  return { ok: true, value: n };
}

function parseIpStrict(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (text.includes(':')) return ipaddr.IPv6.isValid(text) ? ipaddr.IPv6.parse(text) : null;
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : null;
}

export function isIp(text: string): boolean {
  return parseIpStrict(text) !== null;
}

export function checkIp(text: string): ValueResult<string> {
  return isIp(text) ? { ok: true, value: text } : bad('an IP address', text);
}

function compareBytes(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** `ip`, `ip-ip`, `ip/prefixLength`, `ipv4/dotted.mask`; IPv6 in each form but the mask. */
export function checkIpSet(text: string): ValueResult<string> {
  const what = 'an IP set (ip, ip-ip, ip/length or ip/mask)';
  const dash = text.indexOf('-');
  if (dash >= 0) {
    const lo = parseIpStrict(text.slice(0, dash));
    const hi = parseIpStrict(text.slice(dash + 1));
    if (lo === null || hi === null) return bad(what, text);
    if (lo.kind() !== hi.kind()) return bad(`${what} with both ends of one family`, text);
    if (compareBytes(lo.toByteArray(), hi.toByteArray()) > 0) {
      return range(`IP range ${text} ends before it starts`);
    }
    return { ok: true, value: text };
  }
  const slash = text.indexOf('/');
  if (slash >= 0) {
    const ip = parseIpStrict(text.slice(0, slash));
    const mask = text.slice(slash + 1);
    if (ip === null) return bad(what, text);
    const maxLen = ip.kind() === 'ipv4' ? 32 : 128;
    if (/^[0-9]+$/.test(mask)) {
      if (Number(mask) > maxLen) return range(`prefix length /${mask} is out of range: expected 0..${maxLen}`);
      return { ok: true, value: text };
    }
    if (ip.kind() === 'ipv4' && ipaddr.IPv4.isValidFourPartDecimal(mask)) {
      if (ipaddr.IPv4.parse(mask).prefixLengthFromSubnetMask() === null) {
        return range(`subnet mask ${mask} is not contiguous`);
      }
      return { ok: true, value: text };
    }
    return bad(what, text);
  }
  return parseIpStrict(text) === null ? bad(what, text) : { ok: true, value: text };
}

/** `127.0.0.1:25`, `[::1]:25`; port 0..65535 (0: the system picks one, for tests). */
export function checkIpPort(text: string): ValueResult<string> {
  const what = 'ip:port (IPv6 as [ip]:port)';
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return bad(what, text);
    host = text.slice(1, close);
    port = text.slice(close + 2);
    if (!host.includes(':') || !ipaddr.IPv6.isValid(host)) return bad(what, text);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return bad(what, text);
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (!ipaddr.IPv4.isValidFourPartDecimal(host)) return bad(what, text);
  }
  if (!/^[0-9]+$/.test(port)) return bad(what, text);
  if (Number(port) > 65535) return range(`port ${port} is out of range: expected 0..65535`);
  return { ok: true, value: text };
}

/** An accepted IP_PORT as an Endpoint (host without brackets). */
export function parseEndpoint(text: string): Endpoint {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    return { host: text.slice(1, close), port: Number(text.slice(close + 2)), family: 6 };
  }
  const colon = text.lastIndexOf(':');
  return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)), family: 4 };
}

/** One spelling per bound address, so `[::1]:25` and `[0:0::1]:25` compare equal. */
export function endpointKey(e: Endpoint): string {
  const host = e.family === 6 ? ipaddr.IPv6.parse(e.host).toNormalizedString() : ipaddr.IPv4.parse(e.host).toString();
  return `${e.family === 6 ? `[${host}]` : host}:${e.port}`;
}
