/**
 * protocols/imap/selected.ts: the selected-state command rows of the IMAP service (RFC 9051,
 * RFC 3501 and extensions), keyed by `Command['name']`: SELECT and EXAMINE (CONDSTORE and
 * QRESYNC parameters), CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE, FETCH (selected-fetch.ts),
 * STORE (UNCHANGEDSINCE), COPY, MOVE, SEARCH, SORT, THREAD (selected-search.ts), IDLE (also in
 * the authenticated state), CHECK. The UID forms are the same rows (`cmd.uid`).
 *
 * The dispatcher (index.ts) checks the row's states, runs it, and before the tagged reply
 * writes the view's pending updates (`updates(row.expunges || cmd.uid)`); rows that must tell
 * expunges before their own untagged data or tagged reply (EXPUNGE, MOVE) write them
 * themselves. Untagged data is written with `s.write`, the verdict's text is the tagged reply.
 *
 * SELECT answers in Dovecot's order: [CLOSED], FLAGS, PERMANENTFLAGS, EXISTS, RECENT and UNSEEN
 * (IMAP4rev1 only: RFC 9051 dropped them), UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ (CONDSTORE on),
 * then QRESYNC's VANISHED (EARLIER) and FETCHes, and the tagged [READ-WRITE] / [READ-ONLY].
 *
 * IDLE (RFC 2177): `+ idling`, then every update of the view as the store pushes it, until the
 * client's DONE (anything else is BAD); the listener's idleTimeout bounds its silence.
 *
 * Exports: SELECTED_ROWS, [name, row] pairs the dispatcher merges into its table.
 * Throws nothing (store failures become NO replies).
 */
import { noreply, reply, type Verdict } from '../../session/line-session.ts';
import { encodeMailbox, formatSeqSet } from './encode.ts';
import { runFetch, vanishedEarlier } from './selected-fetch.ts';
import { SEARCH_ROWS } from './selected-search.ts';
import { condstoreOn, enableCondstore, inUidSet, printable, resolveSet, storeFailure, viewOf } from './selected-util.ts';
import type { Command, ImapRow, ImapSession, ImapState } from './types.ts';
import { caughtUp, openView, type View } from './view.ts';
import { PosternError } from '../../errors.ts';

type Cmd<N extends Command['name']> = Extract<Command, { name: N }>;
type V = Verdict<ImapState>;

const flagText = (flags: readonly string[]): string => `(${flags.join(' ')})`;

/** Close the selected mailbox (if any); true if one was. */
function deselect(s: ImapSession): boolean {
  const v = s.data.selected;
  if (v === null) return false;
  v.close();
  s.data.selected = null;
  return true;
}

async function select(cmd: Cmd<'SELECT' | 'EXAMINE'>, s: ImapSession): Promise<V> {
  const tag = cmd.tag;
  const had = deselect(s);
  const back: ImapState = 'authenticated';
  // the mailbox selected before is closed whatever comes of this one (RFC 7162 §3.2.11)
  const closed = had ? '* OK [CLOSED] Previous mailbox closed.\r\n' : '';
  const failed = (v: V): V => (v.kind === 'reply' ? { ...v, text: closed + v.text, state: back } : v);
  if (cmd.qresync !== null && !s.data.enabled.has('QRESYNC')) return failed(reply(`${tag} BAD QRESYNC is not enabled\r\n`, { error: 'command' }));
  if (cmd.condstore || cmd.qresync !== null) s.data.enabled.add('CONDSTORE');
  const readOnly = cmd.name === 'EXAMINE';
  const account = s.data.account!;
  const store = s.ctx.store;
  const mb = s.data.mailbox;
  if (store === null || mb === null) return failed(reply(`${tag} NO [UNAVAILABLE] The mailbox store is not available\r\n`));
  let view: View;
  try {
    view = await openView({ mailbox: mb, subscribe: (f) => store.subscribe(account, f), folder: cmd.mailbox, readOnly, enabled: s.data.enabled });
  } catch (e) {
    if (e instanceof PosternError && e.code === 'STORE_NO_SUCH_FOLDER') return failed(reply(`${tag} NO [NONEXISTENT] Mailbox doesn't exist: ${printable(cmd.mailbox)}\r\n`));
    if (e instanceof PosternError && e.code === 'STORE_BAD_NAME') return failed(reply(`${tag} NO [CANNOT] Invalid mailbox name\r\n`));
    return failed(storeFailure(tag, e, s));
  }
  if (s.data.closed) {
    view.close();
    return noreply();
  }
  const rev2 = s.data.enabled.has('IMAP4REV2');
  const flags = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', ...view.keywords()];
  let out = closed;
  out += `* FLAGS ${flagText(flags)}\r\n`;
  out += readOnly ? '* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n' : `* OK [PERMANENTFLAGS ${flagText([...flags, '\\*'])}] Flags permitted.\r\n`;
  out += `* ${view.exists} EXISTS\r\n`;
  if (!rev2) {
    out += `* ${view.recentCount} RECENT\r\n`;
    const unseen = view.firstUnseen();
    if (unseen > 0) out += `* OK [UNSEEN ${unseen}] First unseen.\r\n`;
  }
  out += `* OK [UIDVALIDITY ${view.uidValidity}] UIDs valid\r\n`;
  out += `* OK [UIDNEXT ${view.uidNext}] Predicted next UID\r\n`;
  // RFC 7162 §3.1.2.1: a server that keeps mod-sequences sends it with every SELECT / EXAMINE
  out += `* OK [HIGHESTMODSEQ ${view.highestModseq}] Highest\r\n`;
  if (rev2) out += `* LIST () "/" ${encodeMailbox(view.name, s.data.enabled.has('UTF8=ACCEPT'))}\r\n`;
  s.data.selected = view;
  const q = cmd.qresync;
  if (q !== null && q.uidValidity === view.uidValidity) {
    const known = q.knownUids ?? [{ from: 1, to: '*' as const }];
    const gone = await vanishedEarlier(s, known, q.modseq);
    if (gone.length > 0) out += `* VANISHED (EARLIER) ${formatSeqSet(gone)}\r\n`;
    const all = view.uids;
    const max = all.length > 0 ? all[all.length - 1]! : 0;
    for (let i = 0; i < all.length; i++) {
      const uid = all[i]!;
      if (view.modseqOf(uid) <= q.modseq || !inUidSet(uid, known, max, s.data.saved)) continue;
      out += `* ${i + 1} FETCH (UID ${uid} FLAGS ${flagText(view.shownFlags(uid, view.flagsOf(uid) ?? []))} MODSEQ (${view.modseqOf(uid)}))\r\n`;
      view.told(uid);
    }
  }
  s.write(out);
  return reply(readOnly ? `${tag} OK [READ-ONLY] Examine completed\r\n` : `${tag} OK [READ-WRITE] Select completed\r\n`, { state: 'selected' });
}

async function close(cmd: Command, s: ImapSession): Promise<V> {
  const view = viewOf(s);
  if (!view.readOnly && !view.dead) {
    try {
      await s.data.mailbox!.expunge(view.name); // silently (RFC 9051 §6.4.1)
    } catch {
      // the mailbox is closed anyway; what could not be expunged stays \Deleted
    }
  }
  deselect(s);
  return reply(`${cmd.tag} OK Close completed\r\n`, { state: 'authenticated' });
}

function unselect(cmd: Command, s: ImapSession): V {
  deselect(s);
  return reply(`${cmd.tag} OK Unselect completed\r\n`, { state: 'authenticated' });
}

const readOnlyNo = (tag: string): V => reply(`${tag} NO [READ-ONLY] Mailbox is read-only\r\n`);

async function expunge(cmd: Command, s: ImapSession): Promise<V> {
  const view = viewOf(s);
  if (view.readOnly) return readOnlyNo(cmd.tag);
  let uids: number[] | undefined;
  if (cmd.name === 'UID EXPUNGE') {
    const r = resolveSet(view, cmd.seqs, true, s.data.saved);
    if (!r.ok) return reply(`${cmd.tag} BAD ${r.text}\r\n`, { error: 'command' });
    if (r.uids.length === 0) return reply(`${cmd.tag} OK Expunge completed\r\n`);
    uids = r.uids;
  }
  try {
    const res = await s.data.mailbox!.expunge(view.name, uids === undefined ? {} : { uids, deletedOnly: true });
    view.ownExpunge(res.uids, res.modseq);
  } catch (e) {
    return storeFailure(cmd.tag, e, s);
  }
  s.write(view.updates(true));
  const hm = s.data.enabled.has('QRESYNC') ? `[HIGHESTMODSEQ ${view.highestModseq}] ` : '';
  return reply(`${cmd.tag} OK ${hm}Expunge completed\r\n`);
}

async function store(cmd: Cmd<'STORE'>, s: ImapSession): Promise<V> {
  const tag = cmd.tag;
  const view = viewOf(s);
  if (view.readOnly) return readOnlyNo(tag);
  const head = (cmd.uid ? view.updates(true) : '') + (cmd.unchangedSince !== null ? enableCondstore(s) : '');
  const r = resolveSet(view, cmd.seqs, cmd.uid, s.data.saved);
  if (!r.ok) return reply(`${head}${tag} BAD Error in IMAP command STORE: ${r.text}\r\n`, { error: 'command' });
  const flags = cmd.flags.filter((f) => f.toLowerCase() !== '\\recent');
  const uids = r.uids.filter((u) => !view.isGone(u));
  if (head !== '') s.write(head);
  if (uids.length === 0) return reply(`${tag} OK Store completed\r\n`);
  const modseq = condstoreOn(s);
  let res;
  try {
    res = await s.data.mailbox!.setFlags(view.name, uids, flags, cmd.mode, cmd.unchangedSince ?? undefined);
  } catch (e) {
    return storeFailure(tag, e, s);
  }
  view.ownFlags(res.changed, true); // the client asked for these: told by this reply (or not at all, .SILENT)
  const changed = new Map(res.changed.map((c) => [c.uid, c]));
  const modified = new Set(res.modified);
  let out = '';
  for (const uid of uids) {
    if (modified.has(uid)) continue;
    const n = view.seqOf(uid);
    const f = view.flagsOf(uid);
    if (n === 0 || f === undefined) continue;
    // RFC 7162 §3.1: once CONDSTORE is on, every untagged FETCH a STORE causes carries UID and MODSEQ
    const uidText = cmd.uid || modseq ? ` UID ${uid}` : '';
    const ms = modseq ? ` MODSEQ (${view.modseqOf(uid)})` : '';
    if (cmd.silent) {
      // RFC 7162 §3.1.3: under CONDSTORE the new modseq is told even with .SILENT
      if (modseq && changed.has(uid)) out += `* ${n} FETCH (UID ${uid} MODSEQ (${view.modseqOf(uid)}))\r\n`;
      continue;
    }
    out += `* ${n} FETCH (FLAGS ${flagText(view.shownFlags(uid, f))}${uidText}${ms})\r\n`;
    view.told(uid);
  }
  if (out !== '') s.write(out);
  if (modified.size > 0) {
    const set = cmd.uid ? [...modified].sort((a, b) => a - b) : [...modified].map((u) => view.seqOf(u)).filter((n) => n > 0).sort((a, b) => a - b);
    return reply(`${tag} OK [MODIFIED ${formatSeqSet(set)}] Conditional STORE failed\r\n`);
  }
  return reply(`${tag} OK Store completed\r\n`);
}

async function copyMove(cmd: Cmd<'COPY' | 'MOVE'>, s: ImapSession): Promise<V> {
  const tag = cmd.tag;
  const view = viewOf(s);
  const move = cmd.name === 'MOVE';
  if (move && view.readOnly) return readOnlyNo(tag);
  const r = resolveSet(view, cmd.seqs, cmd.uid, s.data.saved);
  if (!r.ok) return reply(`${tag} BAD Error in IMAP command ${cmd.name}: ${r.text}\r\n`, { error: 'command' });
  const uids = r.uids.filter((u) => !view.isGone(u));
  const mb = s.data.mailbox!;
  let res;
  try {
    if (uids.length === 0) {
      await mb.status(cmd.mailbox); // the target must exist all the same
      return reply(`${tag} OK No messages found\r\n`);
    }
    res = move ? await mb.move(view.name, uids, cmd.mailbox) : await mb.copy(view.name, uids, cmd.mailbox);
  } catch (e) {
    return storeFailure(tag, e, s, cmd.mailbox);
  }
  const src = res.map.map(([a]) => a);
  const dst = res.map.map(([, b]) => b);
  const code = res.map.length > 0 ? `[COPYUID ${res.uidValidity} ${formatSeqSet(src)} ${formatSeqSet(dst)}] ` : '';
  // into the selected mailbox itself: its view folds in the copies first, so the client hears
  // `* n EXISTS` before the tagged OK (as for APPEND)
  if (cmd.mailbox === view.name && dst.length > 0) await caughtUp(view, Math.max(...dst));
  if (!move) return reply(`${tag} OK ${code}Copy completed\r\n`);
  // RFC 6851 §4.3: COPYUID in an untagged OK, then the expunges, then the tagged OK
  if (code !== '') s.write(`* OK ${code}Moved UIDs.\r\n`);
  view.ownExpunge(src, 0);
  s.write(view.updates(true));
  return reply(`${tag} OK Move completed\r\n`);
}

function idle(cmd: Command, s: ImapSession): V {
  const tag = cmd.tag;
  const view = s.data.selected as View | null;
  s.write('+ idling\r\n');
  const push = (): void => {
    if (view === null || s.data.closed) return;
    const t = view.updates(true);
    if (t !== '') s.write(t);
  };
  const stop = (): void => {
    s.expectLine(null);
    view?.onChange(null);
  };
  view?.onChange(push);
  push();
  s.expectLine(
    (line) => {
      stop();
      if (line.toString('latin1').trim().toUpperCase() !== 'DONE') return reply(`${tag} BAD Expected DONE\r\n`, { error: 'command' });
      return reply(`${tag} OK Idle completed\r\n`);
    },
    () => {
      stop();
      return reply(`${tag} BAD Expected DONE\r\n`, { error: 'command' });
    },
  );
  return noreply();
}

const SELECTED: readonly ImapState[] = Object.freeze(['selected']);
const AUTHED: readonly ImapState[] = Object.freeze(['authenticated', 'selected']);

const row = (states: readonly ImapState[], expunges: boolean, run: ImapRow['run']): ImapRow => Object.freeze({ states, expunges, run });

export const SELECTED_ROWS: ReadonlyArray<readonly [string, ImapRow]> = Object.freeze([
  ['SELECT', row(AUTHED, true, (c, s) => select(c as Cmd<'SELECT'>, s))],
  ['EXAMINE', row(AUTHED, true, (c, s) => select(c as Cmd<'EXAMINE'>, s))],
  ['CLOSE', row(SELECTED, true, close)],
  ['UNSELECT', row(SELECTED, true, unselect)],
  ['EXPUNGE', row(SELECTED, true, expunge)],
  ['UID EXPUNGE', row(SELECTED, true, expunge)],
  ['FETCH', row(SELECTED, false, (c, s) => runFetch(c as Cmd<'FETCH'>, s))],
  ['STORE', row(SELECTED, false, (c, s) => store(c as Cmd<'STORE'>, s))],
  ['COPY', row(SELECTED, true, (c, s) => copyMove(c as Cmd<'COPY'>, s))],
  ['MOVE', row(SELECTED, true, (c, s) => copyMove(c as Cmd<'MOVE'>, s))],
  ['IDLE', row(AUTHED, true, idle)],
  ['CHECK', row(SELECTED, true, (c) => reply(`${c.tag} OK Check completed\r\n`))],
  ...SEARCH_ROWS,
]);
