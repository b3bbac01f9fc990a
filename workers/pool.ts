/**
 * workers/pool.ts: the piscina task runner of every service's pool (CPU work off the event
 * loops: password hashing and checks, message processing (header and MIME parse, Received:),
 * later search and compression).
 *
 * A task is `{ task, payload }`; `task` selects a row of the frozen table below (never a name
 * built from client input). Unknown tasks throw NOT_IMPLEMENTED as plain error data, which the
 * service host rebuilds. Exports: the default task function, `TASKS`.
 */
import { errorToData, PosternError } from '../src/errors.ts';
import { processMessages } from '../src/processing/task.ts';
import { parseStructure } from '../src/store/structure.ts';
import { hashPassword, verifyPassword } from '../src/store/password-hash.ts';

export const TASKS: Readonly<Record<string, (payload: never) => unknown>> = Object.freeze({
  echo: (p: unknown) => p,
  hashPassword,
  verifyPassword,
  processMessages, // src/processing/task.ts: parse, Received:, for local delivery
  parseStructure: (p: { body: Uint8Array }) => parseStructure(p.body), // a big message's MIME structure, before its append
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
