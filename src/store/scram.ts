/**
 * store/scram.ts: SCRAM-SHA-256 keys (RFC 5802, RFC 7677) as the directory keeps them: not the
 * password, but the salt, the iteration count, StoredKey = SHA-256(ClientKey) and ServerKey,
 * where SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, i), ClientKey =
 * HMAC(SaltedPassword, "Client Key"), ServerKey = HMAC(SaltedPassword, "Server Key"). From
 * those a server checks a client's proof and proves itself, without the password; unlike the
 * CRAM-MD5 pads they do not let a thief log in (a thief who also records an exchange could), so
 * every account with a password set here has them (no per-account switch).
 *
 * One text form, written and read here only (PostgreSQL's): `SCRAM-SHA-256$<i>:<salt b64>$<StoredKey
 * b64>:<ServerKey b64>`. `parseScramKeys` accepts only what is safe to use: i within
 * ITERATIONS_MIN..ITERATIONS_MAX, a salt of 16 to 64 bytes, 32-byte keys, canonical base64;
 * anything else is null (a restore refuses it). The password is used as given (no SASLprep:
 * non-ASCII passwords work only with clients that send them unchanged).
 *
 * Exports: `SCRAM_ITERATIONS`, `SCRAM_FORMAT`, `ScramKeys`, `scramSha256Keys(password, o?)`
 * (async: PBKDF2 runs on libuv's pool, not the event loop), `formatScramKeys`,
 * `parseScramKeys`. Throws nothing (rejects only on a crypto failure).
 */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';

/** RFC 7677 §4: at least 4096. */
export const SCRAM_ITERATIONS = 4096;
const ITERATIONS_MIN = 4096;
const ITERATIONS_MAX = 1_000_000;
const SALT_BYTES = 16;
const SALT_MIN_BYTES = 16;
const SALT_MAX_BYTES = 64;
const KEY_BYTES = 32;
const PREFIX = 'SCRAM-SHA-256$';
/** What a well-formed key string looks like, for error messages. */
export const SCRAM_FORMAT = `SCRAM-SHA-256$i:salt$StoredKey:ServerKey: i from ${ITERATIONS_MIN} to ${ITERATIONS_MAX}, a ${SALT_MIN_BYTES}- to ${SALT_MAX_BYTES}-byte salt and ${KEY_BYTES}-byte keys, in base64`;

export interface ScramKeys {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();

/** The keys for `password` (a fresh salt unless one is given), in their text form. */
export async function scramSha256Keys(password: string, o: { salt?: Buffer; iterations?: number } = {}): Promise<string> {
  const salt = o.salt ?? randomBytes(SALT_BYTES);
  const iterations = o.iterations ?? SCRAM_ITERATIONS;
  const salted = await new Promise<Buffer>((resolve, reject) => {
    pbkdf2(Buffer.from(password, 'utf8'), salt, iterations, KEY_BYTES, 'sha256', (e, k) => (e === null ? resolve(k) : reject(e)));
  });
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  return formatScramKeys({ iterations, salt, storedKey, serverKey: hmac(salted, 'Server Key') });
}

export function formatScramKeys(k: ScramKeys): string {
  return `${PREFIX}${k.iterations}:${k.salt.toString('base64')}$${k.storedKey.toString('base64')}:${k.serverKey.toString('base64')}`;
}

function b64(s: string, min: number, max: number): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return null;
  const b = Buffer.from(s, 'base64');
  return b.length >= min && b.length <= max && b.toString('base64') === s ? b : null;
}

/** The parts of a well-formed key string, or null (see the contract above). */
export function parseScramKeys(text: unknown): ScramKeys | null {
  if (typeof text !== 'string' || text.length > 512 || !text.startsWith(PREFIX)) return null;
  const m = /^(\d{1,7}):([^:$]+)\$([^:$]+):([^:$]+)$/.exec(text.slice(PREFIX.length));
  if (m === null || m[1]!.startsWith('0')) return null;
  const iterations = Number(m[1]);
  if (iterations < ITERATIONS_MIN || iterations > ITERATIONS_MAX) return null;
  const salt = b64(m[2]!, SALT_MIN_BYTES, SALT_MAX_BYTES);
  const storedKey = b64(m[3]!, KEY_BYTES, KEY_BYTES);
  const serverKey = b64(m[4]!, KEY_BYTES, KEY_BYTES);
  return salt === null || storedKey === null || serverKey === null ? null : { iterations, salt, storedKey, serverKey };
}
