/**
 * protocols/cli/admin.ts: the CLI's calls into the one command registry (admin/commands.ts)
 * through `SessionContext.admin`, and the -ERR answer for a failed one.
 *
 * A failure the operator caused (a bad value, an unknown domain, a queue id that is not there:
 * PosternError codes that are not retryable) is a wrong command: counted toward maxErrors. A
 * failure of the server (retryable codes, e.g. the store not answering) is answered the same
 * way but not counted; anything not a PosternError is logged whole and answered as an internal
 * error.
 *
 * Exports: `AdminResult`, `adminCall(s, verb, args)`, `failure(s, error)`.
 * Throws nothing.
 */
import { isPosternError } from '../../errors.ts';
import type { Verdict } from '../../session/line-session.ts';
import { err, type CliSession, type CliState } from './session.ts';

export type AdminResult = { ok: true; value: unknown } | { ok: false; error: unknown };

export async function adminCall(s: CliSession, verb: string, args: Record<string, unknown>): Promise<AdminResult> {
  const admin = s.ctx.admin;
  if (admin === undefined) return { ok: false, error: new Error('this service may not run admin commands') };
  try {
    return { ok: true, value: await admin(verb, args) };
  } catch (e) {
    return { ok: false, error: e };
  }
}

export function failure(s: CliSession, e: unknown): Verdict<CliState> {
  if (isPosternError(e)) return err(s, e.message, e.retryable ? null : 'command');
  s.ctx.log.error({ err: e }, 'cli: command failed unexpectedly');
  return err(s, 'internal error, try again later', null);
}
