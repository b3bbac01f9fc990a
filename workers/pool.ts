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

const scryptAsync = promisify(scrypt) as (pw: string | Buffer, salt: Buffer, len: number, opts: { N: number; r: number; p: number }) => Promise<Buffer>;

const SCRYPT = { N: 16384, r: 8, p: 1 } as const;

async function hashPassword(p: { password: string }): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(p.password, salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

async function verifyPassword(p: { password: string; hash: string }): Promise<boolean> {
  const parts = p.hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, par, salt, key] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(key, 'base64');
  const got = await scryptAsync(p.password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(par) });
  return got.length === expected.length && timingSafeEqual(got, expected);
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
