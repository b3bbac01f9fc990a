/**
 * workers/pool.ts: the piscina task runner of every service's pool (CPU work off the event
 * loops: password hashing and checks, message processing (header and MIME parse, Received:),
 * later search and compression).
 *
 * A task is `{ task, payload }`; `task` selects a row of the frozen table below (never a name
 * built from client input). Unknown tasks throw NOT_IMPLEMENTED as plain error data, which the
 * service host rebuilds. Exports: the default task function, `TASKS`.
 */
import { scrypt, timingSafeEqual, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { errorToData, PosternError } from '../src/errors.ts';
import { processMessages } from '../src/processing/task.ts';
import { formatScryptHash, KEY_BYTES, parseScryptHash, SALT_BYTES, SCRYPT_PARAMS } from '../src/store/password-hash.ts';

const scryptAsync = promisify(scrypt) as (pw: string | Buffer, salt: Buffer, len: number, opts: { N: number; r: number; p: number }) => Promise<Buffer>;

async function hashPassword(p: { password: string }): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scryptAsync(p.password, salt, KEY_BYTES, SCRYPT_PARAMS);
  return formatScryptHash({ ...SCRYPT_PARAMS, salt, key });
}

/** Whether `password` matches `hash`; a malformed hash (an empty or short key, absurd costs:
 * src/store/password-hash.ts) matches no password. */
async function verifyPassword(p: { password: string; hash: string }): Promise<boolean> {
  const h = parseScryptHash(p.hash);
  if (h === null || typeof p.password !== 'string') return false;
  const got = await scryptAsync(p.password, h.salt, h.key.length, { N: h.N, r: h.r, p: h.p });
  return got.length === KEY_BYTES && timingSafeEqual(got, h.key);
}

export const TASKS: Readonly<Record<string, (payload: never) => unknown>> = Object.freeze({
  echo: (p: unknown) => p,
  hashPassword,
  verifyPassword,
  processMessages, // src/processing/task.ts: parse, Received:, for local delivery
});

export default async function run(msg: { task: string; payload: unknown }): Promise<unknown> {
  const fn = Object.hasOwn(TASKS, msg.task) ? TASKS[msg.task] : undefined;
  if (fn === undefined) return { __error: errorToData(new PosternError('NOT_IMPLEMENTED', `pool task "${msg.task}" is not implemented`)) };
  try {
    return await (fn as (p: unknown) => unknown)(msg.payload);
  } catch (e) {
    return { __error: errorToData(e) };
  }
}
