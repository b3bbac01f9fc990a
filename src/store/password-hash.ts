/**
 * store/password-hash.ts: the one format of a stored password hash, written and read in one
 * place: `scrypt$N$r$p$<salt base64>$<key base64>`, as Postern writes it (N 16384, r 8, p 1, a
 * 16-byte salt, a 32-byte key).
 *
 * `parseScryptHash` accepts only what Postern could have written or could check safely: the
 * exact key length (KEY_BYTES: scrypt with a short key, and above all an empty one, would make
 * every password "match", since two empty buffers compare equal), a salt of SALT_MIN_BYTES to
 * SALT_MAX_BYTES, N a power of two within N_MIN..N_MAX, r and p within their bounds and the
 * memory scrypt needs (128·r·(N+2+p), as OpenSSL counts it) within MAX_MEMORY_BYTES, and
 * N < 2^(16·r) (RFC 7914 §2), so node's scrypt can check it; canonical base64 only. Anything else
 * is null. Both the checks at login (workers/pool.ts) and a restore (directory.restoreAccount,
 * the FTP restore) use it, so a malformed hash from any source is refused, never trusted.
 *
 * Exports: `SCRYPT_PARAMS`, `KEY_BYTES`, `SALT_BYTES`, `HASH_FORMAT`, `ScryptHash`, `formatScryptHash`,
 * `parseScryptHash`, and the scrypt itself: `hashPassword`, `verifyPassword` (the pool's tasks,
 * workers/pool.ts; the store's default hasher). Throws nothing.
 */
import { scrypt, timingSafeEqual, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

export const SCRYPT_PARAMS = Object.freeze({ N: 16384, r: 8, p: 1 });
export const KEY_BYTES = 32;
export const SALT_BYTES = 16;
const SALT_MIN_BYTES = 16;
const SALT_MAX_BYTES = 64;
const N_MIN = 1 << 14;
const N_MAX = 1 << 16;
const R_MAX = 16;
const P_MAX = 4;
/** node's scrypt refuses more than its default maxmem (32 MiB): OpenSSL counts 128·r·(N+2) for
 * V plus 128·r·p for B, so a hash over it could never be checked (every login a temporary
 * failure, not counted by the login throttle). */
const MAX_MEMORY_BYTES = 32 * 1024 * 1024;
const scryptMemory = (N: number, r: number, p: number): number => 128 * r * (N + 2) + 128 * r * p;
/** What a well-formed hash looks like, for error messages. */
export const HASH_FORMAT = `scrypt$N$r$p$salt$key: N a power of two from ${N_MIN} to ${N_MAX}, r 1..${R_MAX}, p 1..${P_MAX}, a ${SALT_MIN_BYTES}- to ${SALT_MAX_BYTES}-byte salt and a ${KEY_BYTES}-byte key, in base64`;

export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

export function formatScryptHash(h: ScryptHash): string {
  return `scrypt$${h.N}$${h.r}$${h.p}$${h.salt.toString('base64')}$${h.key.toString('base64')}`;
}

function int(s: string, min: number, max: number): number | null {
  if (!/^[1-9]\d{0,9}$/.test(s)) return null;
  const n = Number(s);
  return n >= min && n <= max ? n : null;
}

function b64(s: string, min: number, max: number): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return null;
  const b = Buffer.from(s, 'base64');
  return b.length >= min && b.length <= max && b.toString('base64') === s ? b : null;
}

/** The parts of a well-formed hash, or null (see the contract above). */
export function parseScryptHash(hash: unknown): ScryptHash | null {
  if (typeof hash !== 'string' || hash.length > 256) return null;
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const N = int(parts[1]!, N_MIN, N_MAX);
  const r = int(parts[2]!, 1, R_MAX);
  const p = int(parts[3]!, 1, P_MAX);
  if (N === null || r === null || p === null || (N & (N - 1)) !== 0 || N >= 2 ** (16 * r) || scryptMemory(N, r, p) > MAX_MEMORY_BYTES) return null;
  const salt = b64(parts[4]!, SALT_MIN_BYTES, SALT_MAX_BYTES);
  const key = b64(parts[5]!, KEY_BYTES, KEY_BYTES);
  return salt === null || key === null ? null : { N, r, p, salt, key };
}

const scryptAsync = promisify(scrypt) as (pw: string | Buffer, salt: Buffer, len: number, opts: { N: number; r: number; p: number }) => Promise<Buffer>;

export async function hashPassword(p: { password: string }): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(p.password, salt, KEY_BYTES, SCRYPT_PARAMS);
  return formatScryptHash({ ...SCRYPT_PARAMS, salt, key });
}

/** Whether `password` matches `hash`; a malformed hash (an empty or short key, absurd costs:
 * parseScryptHash) matches no password. */
export async function verifyPassword(p: { password: string; hash: string }): Promise<boolean> {
  const h = parseScryptHash(p.hash);
  if (h === null || typeof p.password !== 'string') return false;
  const got = await scryptAsync(p.password, h.salt, h.key.length, { N: h.N, r: h.r, p: h.p });
  return got.length === KEY_BYTES && timingSafeEqual(got, h.key);
}
