/**
 * store/names.ts: the naming rules of the store, in one place: folder names, domain names,
 * addresses, and flags (system flags as bits, keywords as atoms).
 *
 * Folder names use `/` as the hierarchy separator; INBOX is case-insensitive and always
 * spelled `INBOX`. A name is rejected if it is empty, longer than 255 bytes (UTF-8), starts or
 * ends with `/`, has an empty, `.` or `..` component, or holds NUL or any control character.
 * Domains and addresses are lower-cased; a bare local part is completed by the caller.
 *
 * Exports: `folderName`, `parentNames`, `domainName`, `splitAddress`, `flagsToBits`,
 * `bitsToFlags`, `MAX_NAME_BYTES`, `MAX_KEYWORDS`, `INBOX`.
 * Throws: STORE_BAD_NAME (every rule above; bad keywords), STORE_BAD_ARGUMENT (too many keywords).
 */
import { PosternError } from '../errors.ts';
import { HIERARCHY_SEP, SYSTEM_FLAGS } from './types.ts';

export const INBOX = 'INBOX';
export const MAX_NAME_BYTES = 255;
export const MAX_KEYWORDS = 64;
const MAX_KEYWORD_BYTES = 64;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// RFC 9051 atom-specials, plus `\` (only system flags start with it)
const KEYWORD_BAD = /[\u0000-\u0020\u007f-\uffff(){%*"\\\]]/;
const DOMAIN_RE = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
// dot-atom local part (RFC 5322), lower-cased
const LOCAL_RE = /^[a-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[a-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$/;

function bad(what: string, value: string, why: string): PosternError {
  return new PosternError('STORE_BAD_NAME', `bad ${what} "${value.slice(0, 80)}": ${why}`, { name: value.slice(0, 300), why });
}

/** Validate and normalise a folder name (INBOX in any case → `INBOX`, and `inbox/x` → `INBOX/x`). */
export function folderName(name: unknown): string {
  if (name === INBOX) return INBOX; // the common case (every delivery): valid as it is
  if (typeof name !== 'string') throw bad('folder name', String(name), 'not a string');
  if (name.length === 0) throw bad('folder name', name, 'empty');
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) throw bad('folder name', name, `longer than ${MAX_NAME_BYTES} bytes`);
  if (CONTROL.test(name)) throw bad('folder name', name, 'control character');
  const parts = name.split(HIERARCHY_SEP);
  for (const p of parts) {
    if (p === '') throw bad('folder name', name, `empty component (leading, trailing or doubled "${HIERARCHY_SEP}")`);
    if (p === '.' || p === '..') throw bad('folder name', name, `"${p}" component`);
    if (p.trim() !== p) throw bad('folder name', name, 'component with leading or trailing space');
  }
  if (parts[0]!.toUpperCase() === INBOX) parts[0] = INBOX;
  return parts.join(HIERARCHY_SEP);
}

/** "a/b/c" → ["a", "a/b"]. */
export function parentNames(name: string): string[] {
  const parts = name.split(HIERARCHY_SEP);
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join(HIERARCHY_SEP));
  return out;
}

export function domainName(name: unknown): string {
  if (typeof name !== 'string') throw bad('domain', String(name), 'not a string');
  const d = name.trim().toLowerCase().replace(/\.$/, '');
  if (!DOMAIN_RE.test(d)) throw bad('domain', name, 'not a valid domain name');
  return d;
}

/** "User@Example.ORG" → { local: "user", domain: "example.org" }; a bare local part has domain null. */
export function splitAddress(address: unknown): { local: string; domain: string | null } {
  if (typeof address !== 'string') throw bad('address', String(address), 'not a string');
  const a = address.trim().toLowerCase();
  const at = a.lastIndexOf('@');
  const local = at < 0 ? a : a.slice(0, at);
  if (local.length === 0 || local.length > 64 || !LOCAL_RE.test(local)) throw bad('address', address, 'bad local part');
  if (at < 0) return { local, domain: null };
  return { local, domain: domainName(a.slice(at + 1)) };
}

const SYSTEM_BY_UPPER = new Map<string, number>(SYSTEM_FLAGS.map((f, i) => [f.toUpperCase(), 1 << i]));

/** Split flags into system bits and keywords (deduplicated, case kept, compared case-insensitively). */
export function flagsToBits(flags: readonly unknown[] | undefined): { bits: number; keywords: string[] } {
  let bits = 0;
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const f of flags ?? []) {
    if (typeof f !== 'string' || f.length === 0) throw bad('flag', String(f), 'empty or not a string');
    const up = f.toUpperCase();
    const bit = SYSTEM_BY_UPPER.get(up);
    if (bit !== undefined) {
      bits |= bit;
      continue;
    }
    if (f.startsWith('\\')) throw bad('flag', f, 'unknown system flag');
    if (KEYWORD_BAD.test(f) || Buffer.byteLength(f) > MAX_KEYWORD_BYTES) throw bad('keyword', f, 'not an atom of at most 64 bytes');
    if (seen.has(up)) continue;
    seen.add(up);
    keywords.push(f);
  }
  if (keywords.length > MAX_KEYWORDS) throw new PosternError('STORE_BAD_ARGUMENT', `more than ${MAX_KEYWORDS} keywords on one message`);
  return { bits, keywords };
}

export function bitsToFlags(bits: number, keywords: readonly string[] | undefined): string[] {
  const out: string[] = [];
  for (let i = 0; i < SYSTEM_FLAGS.length; i++) if ((bits & (1 << i)) !== 0) out.push(SYSTEM_FLAGS[i]!);
  if (keywords !== undefined) out.push(...keywords);
  return out;
}

export const FLAG_SEEN = 1;
export const FLAG_DELETED = 8;
