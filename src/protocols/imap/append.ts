/**
 * protocols/imap/append.ts: APPEND (RFC 9051 §6.3.12) with its extensions: flags and an
 * internal date per message, literal8 (RFC 3516 `~{n}`), UTF8 (…) (RFC 6855), MULTIAPPEND
 * (RFC 3502: several messages in one command, all or nothing, through the store's
 * `appendMany`), UIDPLUS (RFC 4315: `OK [APPENDUID uidvalidity uid-set]`), APPENDLIMIT
 * (RFC 7889: a literal over maxLiteralSize is refused by the framer before its bytes are read,
 * `NO [TOOBIG]`, in index.ts), and the account's quota (`NO [OVERQUOTA]`, nothing appended).
 *
 * The tagged OK is written only once the store has resolved the append, i.e. the message is
 * durable (the store's group commit has synced it); when the mailbox is the one selected, after
 * its view has seen the append too (at most 1 s more), so `* n EXISTS` comes first. A mailbox that does not exist is
 * `NO [TRYCREATE]` (RFC 9051: the client may CREATE it and try again). \Recent cannot be set
 * by a client and is dropped from the flags.
 *
 * Also the QUOTA commands (RFC 9208): GETQUOTAROOT (every mailbox has the one root "", the
 * account's), GETQUOTA "" (STORAGE in KiB, MESSAGE in messages, from `mailbox.quota()`; an
 * unlimited resource is left out, and an account without limits has no quota root at all),
 * SETQUOTA (`NO [NOPERM]`: quotas are the administrator's).
 *
 * Exports: `APPEND_ROWS` (APPEND, GETQUOTA, GETQUOTAROOT, SETQUOTA). Throws nothing.
 */
import { isPosternError } from '../../errors.ts';
import type { AppendOptions, AppendResult, QuotaInfo } from '../../store/types.ts';
import { encodeMailbox, formatSeqSet } from './encode.ts';
import { no, ok, storeFailure, utf8Names, type Cmd, type V } from './replies.ts';
import type { AppendMessage, Command, ImapRow, ImapSession, ImapState } from './types.ts';
import { View, caughtUp } from './view.ts';

const LOGGED_IN: readonly ImapState[] = Object.freeze(['authenticated', 'selected']);

function optionsOf(m: AppendMessage): AppendOptions {
  const flags = m.flags.filter((f) => f.toUpperCase() !== '\\RECENT');
  const o: AppendOptions = { flags };
  if (m.date !== null) o.internalDate = m.date;
  return o;
}

async function append(cmd: Cmd<'APPEND'>, s: ImapSession): Promise<V> {
  const mb = s.data.mailbox!;
  let results: AppendResult[];
  try {
    if (cmd.messages.length === 1) {
      const m = cmd.messages[0]!;
      results = [await mb.append(cmd.mailbox, m.body, optionsOf(m))];
    } else {
      results = await mb.appendMany(cmd.mailbox, cmd.messages.map((m) => ({ body: m.body, opts: optionsOf(m) })));
    }
  } catch (e) {
    if (isPosternError(e, 'STORE_NO_SUCH_FOLDER')) return no(cmd.tag, '[TRYCREATE] no such mailbox');
    return storeFailure(s, cmd.tag, e, 'APPEND');
  }
  s.ctx.count('IMAP_AppendRequests', results.length, s.data.account ?? undefined); // the Report service's (service/report.ts)
  if (results.length === 0) return ok(cmd.tag, 'APPEND completed');
  const uids = results.map((r) => r.uid).sort((a, b) => a - b);
  const view = s.data.selected;
  if (view instanceof View && view.name === results[0]!.folder) await caughtUp(view, uids[uids.length - 1]!);
  return ok(cmd.tag, `[APPENDUID ${results[0]!.uidValidity} ${formatSeqSet(uids)}] APPEND completed`);
}


/** `(STORAGE used limit MESSAGE used limit)`: STORAGE in units of 1024 octets (RFC 9208 §5.1);
 * null when neither resource is limited (RFC 9208's quota-list needs one resource at least:
 * an account without limits has no quota root, as with Dovecot). */
function quotaList(q: QuotaInfo): string | null {
  const parts: string[] = [];
  if (Number.isFinite(q.limitBytes)) parts.push(`STORAGE ${Math.ceil(q.usedBytes / 1024)} ${Math.floor(q.limitBytes / 1024)}`);
  if (Number.isFinite(q.limitMessages)) parts.push(`MESSAGE ${q.usedMessages} ${q.limitMessages}`);
  return parts.length === 0 ? null : `(${parts.join(' ')})`;
}

async function getQuotaRoot(cmd: Cmd<'GETQUOTAROOT'>, s: ImapSession): Promise<V> {
  const mb = s.data.mailbox!;
  let q: QuotaInfo;
  try {
    await mb.status(cmd.mailbox); // the mailbox must exist
    q = await mb.quota();
  } catch (e) {
    return storeFailure(s, cmd.tag, e, 'GETQUOTAROOT');
  }
  const name = encodeMailbox(cmd.mailbox, utf8Names(s.data));
  const list = quotaList(q);
  const untagged = list === null ? `* QUOTAROOT ${name}\r\n` : `* QUOTAROOT ${name} ""\r\n* QUOTA "" ${list}\r\n`;
  return ok(cmd.tag, 'GETQUOTAROOT completed', { untagged });
}

async function getQuota(cmd: Cmd<'GETQUOTA'>, s: ImapSession): Promise<V> {
  if (cmd.root !== '') return no(cmd.tag, '[NONEXISTENT] no such quota root');
  let q: QuotaInfo;
  try {
    q = await s.data.mailbox!.quota();
  } catch (e) {
    return storeFailure(s, cmd.tag, e, 'GETQUOTA');
  }
  const list = quotaList(q);
  if (list === null) return no(cmd.tag, '[NONEXISTENT] no quota set for this account');
  return ok(cmd.tag, 'GETQUOTA completed', { untagged: `* QUOTA "" ${list}\r\n` });
}

export const APPEND_ROWS: ReadonlyArray<readonly [string, ImapRow]> = Object.freeze([
  ['APPEND', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => append(cmd as Cmd<'APPEND'>, s) }],
  ['GETQUOTAROOT', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => getQuotaRoot(cmd as Cmd<'GETQUOTAROOT'>, s) }],
  ['GETQUOTA', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => getQuota(cmd as Cmd<'GETQUOTA'>, s) }],
  ['SETQUOTA', { states: LOGGED_IN, expunges: true, run: (cmd: Command): V => no(cmd.tag, '[NOPERM] quotas are set by the administrator') }],
]);
