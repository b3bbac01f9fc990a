/**
 * protocols/smtp/address.ts: the argument grammar of MAIL and RCPT (RFC 5321 §4.1.2, with
 * RFC 6531's UTF-8 where the sender asked for SMTPUTF8): `FROM:<path> [params]`, `TO:<path>
 * [params]`. Tolerated: spaces around the colon, a source route (`<@a,@b:user@d>`, ignored as
 * §C says), any case in the keywords. Not tolerated: a path without angle brackets.
 *
 * Exports: `parsePathArg(args, keyword)` → `{ address, local, domain, params }` or `{ error }`
 * (address '' for the null reverse-path `<>`; `postmaster` without a domain for RCPT, §4.5.1),
 * `isAscii`,
 * `splitAddress`. Throws nothing.
 */

export interface ParsedPath {
  address: string; // local@domain as written, domain lower-cased; '' for <>
  local: string;
  domain: string;
  params: Map<string, string | null>; // upper-cased keyword → value (null: no "=")
}

const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFF]+$/;
const LABEL = /^[A-Za-z0-9\u0080-\uFFFF](?:[A-Za-z0-9\-\u0080-\uFFFF]*[A-Za-z0-9\u0080-\uFFFF])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const FROM_RE = /^\s*FROM\s*:\s*/i;
const TO_RE = /^\s*TO\s*:\s*/i;

export function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

function validLocal(local: string): boolean {
  if (local.length === 0 || local.length > 256) return false;
  if (local.startsWith('"')) {
    if (!local.endsWith('"') || local.length < 2) return false;
    const inner = local.slice(1, -1);
    for (let i = 0; i < inner.length; i++) {
      const c = inner.charCodeAt(i);
      if (c === 92) {
        const n = inner.charCodeAt(++i);
        if (!(n >= 32 && n <= 126)) return false;
      } else if (c === 34 || c < 32 || c === 127) return false;
    }
    return true;
  }
  return local.split('.').every((atom) => ATEXT.test(atom));
}

function validDomain(domain: string): boolean {
  if (domain.length === 0 || domain.length > 255) return false;
  if (domain.startsWith('[')) {
    if (!domain.endsWith(']')) return false;
    const lit = domain.slice(1, -1);
    if (IPV4.test(lit)) return true;
    if (/^IPv6:[0-9A-Fa-f:.]+$/i.test(lit)) return true;
    return /^[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+$/.test(lit); // General-address-literal
  }
  return domain.split('.').every((l) => l.length <= 63 && LABEL.test(l));
}

/** Split `local@domain` at the last @ outside quotes. */
export function splitAddress(addr: string): { local: string; domain: string } | null {
  const at = addr.lastIndexOf('@');
  if (at <= 0 || at === addr.length - 1) return null;
  return { local: addr.slice(0, at), domain: addr.slice(at + 1) };
}

/** Index of the `>` closing the path that starts at `from` (a `<`), skipping quoted text. */
function closing(s: string, from: number): number {
  let quoted = false;
  for (let i = from + 1; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '>') return i;
  }
  return -1;
}

function parseParams(text: string): Map<string, string | null> | string {
  const params = new Map<string, string | null>();
  for (const word of text.split(' ')) {
    if (word === '') continue;
    const eq = word.indexOf('=');
    const key = (eq < 0 ? word : word.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? null : word.slice(eq + 1);
    if (!KEYWORD.test(key)) return `bad parameter "${word.slice(0, 64)}"`;
    if (value !== null && (value === '' || /[\x00-\x20=\x7f]/.test(value))) return `bad value in parameter ${key}`;
    if (params.has(key)) return `parameter ${key} given twice`;
    params.set(key, value);
  }
  return params;
}

/** Parse the argument of MAIL (`keyword` FROM) or RCPT (`keyword` TO). */
export function parsePathArg(args: string, keyword: 'FROM' | 'TO'): ParsedPath | { error: string } {
  const m = (keyword === 'FROM' ? FROM_RE : TO_RE).exec(args);
  if (m === null) return { error: `expected ${keyword}:<address>` };
  const rest = args.slice(m[0].length);
  if (!rest.startsWith('<')) return { error: 'the address must be in angle brackets' };
  const end = closing(rest, 0);
  if (end < 0) return { error: 'no closing angle bracket' };
  let path = rest.slice(1, end);
  const after = rest.slice(end + 1);
  if (after !== '' && !after.startsWith(' ')) return { error: 'garbage after the address' };
  const params = parseParams(after);
  if (typeof params === 'string') return { error: params };
  if (path.startsWith('@')) {
    const colon = path.indexOf(':');
    if (colon < 0) return { error: 'bad source route' };
    path = path.slice(colon + 1);
  }
  if (path === '') return keyword === 'FROM' ? { address: '', local: '', domain: '', params } : { error: 'an empty recipient' };
  if (keyword === 'TO' && path.toLowerCase() === 'postmaster') return { address: 'postmaster', local: 'postmaster', domain: '', params }; // §4.5.1
  const parts = splitAddress(path);
  if (parts === null) return { error: 'the address needs a domain' };
  if (!validLocal(parts.local)) return { error: 'bad local part' };
  if (!validDomain(parts.domain)) return { error: 'bad domain' };
  const domain = parts.domain.toLowerCase();
  return { address: `${parts.local}@${domain}`, local: parts.local, domain, params };
}
