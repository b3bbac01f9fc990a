/**
 * protocols/imap/mailboxes.ts: the mailbox commands of the authenticated and selected states:
 * CREATE (RFC 6154 CREATE-SPECIAL-USE `(USE (\Sent))`; missing parents are created too; a
 * trailing `/` is dropped), DELETE (not INBOX, not the mailbox selected in this session, not
 * one with inferiors: `NO [HASCHILDREN]`; its subscription stays, RFC 9051 §6.3.4), RENAME
 * (children follow; INBOX renamed moves its messages to the new mailbox and leaves it empty,
 * RFC 9051 §6.3.6), SUBSCRIBE / UNSUBSCRIBE (any valid name, existing or not), LIST (patterns
 * with `*` and `%`, the reference, `LIST "" ""` for the delimiter; RFC 5258 LIST-EXTENDED
 * selection SUBSCRIBED, SPECIAL-USE, REMOTE, RECURSIVEMATCH (CHILDINFO) and the return options
 * SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS (RFC 5819: a `* STATUS` line after each selectable
 * mailbox); every LIST line carries \HasChildren or \HasNoChildren and the folder's special-use
 * attribute, \Subscribed when asked, \NonExistent for a subscribed name that does not exist),
 * LSUB (RFC 3501; a parent matched by `%` whose child is subscribed comes with \Noselect) and
 * STATUS (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT;
 * HIGHESTMODSEQ enables CONDSTORE, RFC 7162 §3.1).
 *
 * imapShowAllFolders: LSUB and the SUBSCRIBED selection and return treat every existing folder
 * as subscribed (besides the names really subscribed), for clients that show only subscribed
 * folders. LIST always lists every folder, as RFC 9051 says.
 *
 * RECENT in STATUS counts the messages \Recent to the next session that selects the mailbox
 * (store `FolderInfo.recent`, read without claiming them).
 *
 * Exports: `MAILBOX_ROWS`, `statusItems(info, items, appendLimit)`. Throws nothing.
 */
import { isPosternError } from '../../errors.ts';
import { HIERARCHY_SEP, type FolderInfo } from '../../store/types.ts';
import { encodeMailbox } from './encode.ts';
import { imapOptions } from './options.ts';
import { joinPattern, matcher } from './patterns.ts';
import { bad, no, ok, storeFailure, utf8Names, type Cmd, type V } from './replies.ts';
import type { Command, ImapRow, ImapSession, ImapState, StatusItem } from './types.ts';

const LOGGED_IN: readonly ImapState[] = Object.freeze(['authenticated', 'selected']);
const INBOX = 'INBOX';

const utf8Of = (s: ImapSession): boolean => utf8Names(s.data);

/** `MESSAGES 3 UIDNEXT 4 …` for the items asked, in their order. */
export function statusItems(f: FolderInfo, items: readonly StatusItem[], appendLimit: number): string {
  const out: string[] = [];
  for (const it of items) {
    switch (it) {
      case 'MESSAGES': out.push(`MESSAGES ${f.messages}`); break;
      case 'UIDNEXT': out.push(`UIDNEXT ${f.uidNext}`); break;
      case 'UIDVALIDITY': out.push(`UIDVALIDITY ${f.uidValidity}`); break;
      case 'UNSEEN': out.push(`UNSEEN ${f.unseen}`); break;
      case 'DELETED': out.push(`DELETED ${f.deleted}`); break;
      case 'SIZE': out.push(`SIZE ${f.bytes}`); break;
      case 'RECENT': out.push(`RECENT ${f.recent ?? 0}`); break;
      case 'HIGHESTMODSEQ': out.push(`HIGHESTMODSEQ ${f.highestModseq}`); break;
      case 'APPENDLIMIT': out.push(`APPENDLIMIT ${appendLimit}`); break;
    }
  }
  return out.join(' ');
}

/** A name as the client gave it, without a trailing delimiter (CREATE "a/b/"). */
const trimmed = (name: string): string => (name.endsWith(HIERARCHY_SEP) ? name.replace(/\/+$/, '') : name);

async function create(cmd: Cmd<'CREATE'>, s: ImapSession): Promise<V> {
  const name = trimmed(cmd.mailbox);
  if (name === '') return bad(cmd.tag, 'empty mailbox name');
  if (name === INBOX) return no(cmd.tag, '[ALREADYEXISTS] INBOX always exists');
  if (cmd.use.length > 1) return no(cmd.tag, '[USEATTR] one special-use attribute per mailbox');
  try {
    await s.data.mailbox!.createFolder(name, cmd.use.length === 1 ? { specialUse: cmd.use[0]! } : {});
  } catch (e) {
    if (isPosternError(e, 'STORE_BAD_ARGUMENT') && cmd.use.length > 0) return no(cmd.tag, '[USEATTR] unsupported special-use attribute');
    return storeFailure(s, cmd.tag, e, 'CREATE');
  }
  return ok(cmd.tag, 'CREATE completed');
}

async function remove(cmd: Cmd<'DELETE'>, s: ImapSession): Promise<V> {
  const name = cmd.mailbox;
  if (name === INBOX) return no(cmd.tag, '[CANNOT] INBOX cannot be deleted');
  if (s.data.selected?.name === name) return no(cmd.tag, '[CANNOT] cannot delete the selected mailbox; close it first');
  const mb = s.data.mailbox!;
  try {
    const folders = await mb.folders();
    if (!folders.some((f) => f.name === name)) return no(cmd.tag, '[NONEXISTENT] no such mailbox');
    if (folders.some((f) => f.name.startsWith(name + HIERARCHY_SEP))) return no(cmd.tag, '[HASCHILDREN] mailbox has inferior mailboxes; delete them first');
    await mb.deleteFolder(name);
  } catch (e) {
    return storeFailure(s, cmd.tag, e, 'DELETE');
  }
  return ok(cmd.tag, 'DELETE completed');
}

async function rename(cmd: Cmd<'RENAME'>, s: ImapSession): Promise<V> {
  const from = cmd.from;
  const to = trimmed(cmd.to);
  const mb = s.data.mailbox!;
  if (to === INBOX) return no(cmd.tag, '[ALREADYEXISTS] INBOX always exists');
  const sel = s.data.selected?.name;
  if (sel !== undefined && from !== INBOX && (sel === from || sel.startsWith(from + HIERARCHY_SEP))) return no(cmd.tag, '[CANNOT] cannot rename the selected mailbox; close it first');
  try {
    if (from !== INBOX) {
      await mb.renameFolder(from, to);
      return ok(cmd.tag, 'RENAME completed');
    }
    // RFC 9051 §6.3.6: INBOX's messages move to the new mailbox; INBOX stays, empty; its
    // inferiors stay where they are
    await mb.createFolder(to);
    const uids = (await mb.list(INBOX)).map((m) => m.uid);
    if (uids.length > 0) await mb.move(INBOX, uids, to);
  } catch (e) {
    return storeFailure(s, cmd.tag, e, 'RENAME');
  }
  return ok(cmd.tag, 'RENAME completed');
}

async function subscribe(cmd: Cmd<'SUBSCRIBE' | 'UNSUBSCRIBE'>, s: ImapSession): Promise<V> {
  try {
    await s.data.mailbox!.setSubscribed(trimmed(cmd.mailbox), cmd.name === 'SUBSCRIBE');
  } catch (e) {
    return storeFailure(s, cmd.tag, e, cmd.name);
  }
  return ok(cmd.tag, `${cmd.name} completed`);
}

/** What LIST and LSUB work from: the folders, the subscribed names, who has children. */
interface Tree {
  folders: Map<string, FolderInfo>;
  subscribed: Set<string>;
  /** Names with at least one existing inferior. */
  parents: Set<string>;
}

async function tree(s: ImapSession, needSubs: boolean): Promise<Tree> {
  const mb = s.data.mailbox!;
  const [list, subs] = await Promise.all([mb.folders(), needSubs ? mb.subscriptions() : Promise.resolve([] as string[])]);
  const folders = new Map(list.map((f) => [f.name, f]));
  const subscribed = new Set(subs);
  if (needSubs && imapOptions(s.ctx.service).imapShowAllFolders) for (const n of folders.keys()) subscribed.add(n);
  const parents = new Set<string>();
  for (const n of folders.keys()) {
    for (let i = n.indexOf(HIERARCHY_SEP); i >= 0; i = n.indexOf(HIERARCHY_SEP, i + 1)) parents.add(n.slice(0, i));
  }
  return { folders, subscribed, parents };
}

function ancestors(name: string): string[] {
  const out: string[] = [];
  for (let i = name.indexOf(HIERARCHY_SEP); i >= 0; i = name.indexOf(HIERARCHY_SEP, i + 1)) out.push(name.slice(0, i));
  return out;
}

function byName(a: string, b: string): number {
  if (a === b) return 0;
  if (a === INBOX) return -1;
  if (b === INBOX) return 1;
  return a < b ? -1 : 1;
}

async function list(cmd: Cmd<'LIST'>, s: ImapSession): Promise<V> {
  const utf8 = utf8Of(s);
  if (!cmd.extended && cmd.patterns.length === 1 && cmd.patterns[0] === '') {
    return ok(cmd.tag, 'LIST completed', { untagged: '* LIST (\\Noselect) "/" ""\r\n' });
  }
  const sel = new Set(cmd.selection.map((x) => x.toUpperCase()));
  const subscribedSel = sel.has('SUBSCRIBED');
  const specialSel = sel.has('SPECIAL-USE');
  const recursive = sel.has('RECURSIVEMATCH');
  if (recursive && !subscribedSel && !specialSel) return bad(cmd.tag, 'RECURSIVEMATCH needs another selection option');
  const showSubscribed = cmd.returns.subscribed || subscribedSel;
  let t: Tree;
  try {
    t = await tree(s, showSubscribed);
  } catch (e) {
    return storeFailure(s, cmd.tag, e, 'LIST');
  }
  const tests = cmd.patterns.map((p) => matcher(joinPattern(cmd.reference, p)));
  const matches = (n: string): boolean => tests.some((m) => m(n));
  /** Does a name qualify by the selection options (before RECURSIVEMATCH)? */
  const selected = (n: string): boolean => {
    if (subscribedSel && !t.subscribed.has(n)) return false;
    if (specialSel && (t.folders.get(n)?.specialUse ?? null) === null) return false;
    return true;
  };
  const names = new Set<string>();
  const childInfo = new Set<string>(); // RECURSIVEMATCH: has a descendant that qualifies
  const pool = subscribedSel ? [...t.subscribed, ...t.folders.keys()] : [...t.folders.keys()];
  for (const n of pool) {
    if (!selected(n)) continue;
    if (matches(n)) names.add(n);
    if (recursive) {
      for (const a of ancestors(n)) {
        if (!matches(a)) continue;
        childInfo.add(a);
        names.add(a);
      }
    }
  }
  const status = cmd.returns.status;
  const appendLimit = imapOptions(s.ctx.service).maxLiteralBytes;
  let out = '';
  for (const n of [...names].sort(byName)) {
    const f = t.folders.get(n);
    const attrs: string[] = [];
    if (f === undefined) attrs.push('\\NonExistent');
    attrs.push(t.parents.has(n) ? '\\HasChildren' : '\\HasNoChildren');
    if (showSubscribed && t.subscribed.has(n)) attrs.push('\\Subscribed');
    if (f?.specialUse != null) attrs.push(f.specialUse);
    const wire = encodeMailbox(n, utf8);
    const ext = recursive && childInfo.has(n) ? ` ("CHILDINFO" (${subscribedSel ? '"SUBSCRIBED"' : '"SPECIAL-USE"'}))` : '';
    out += `* LIST (${attrs.join(' ')}) "/" ${wire}${ext}\r\n`;
    if (status !== null && f !== undefined) out += `* STATUS ${wire} (${statusItems(f, status, appendLimit)})\r\n`;
  }
  if (status?.includes('HIGHESTMODSEQ') === true) s.data.enabled.add('CONDSTORE');
  return ok(cmd.tag, 'LIST completed', { untagged: out });
}

async function lsub(cmd: Cmd<'LSUB'>, s: ImapSession): Promise<V> {
  let t: Tree;
  try {
    t = await tree(s, true);
  } catch (e) {
    return storeFailure(s, cmd.tag, e, 'LSUB');
  }
  const pattern = joinPattern(cmd.reference, cmd.pattern);
  const m = matcher(pattern);
  const parents = pattern.includes('%'); // RFC 3501 §6.3.9: levels a % skipped over
  const found = new Map<string, boolean>(); // name → \Noselect (a parent shown for its child)
  for (const n of t.subscribed) {
    if (m(n)) {
      found.set(n, false);
      continue;
    }
    if (parents) for (const a of ancestors(n)) if (m(a) && !t.subscribed.has(a) && !found.has(a)) found.set(a, true);
  }
  const utf8 = utf8Of(s);
  let out = '';
  for (const n of [...found.keys()].sort(byName)) out += `* LSUB (${found.get(n) === true ? '\\Noselect' : ''}) "/" ${encodeMailbox(n, utf8)}\r\n`;
  return ok(cmd.tag, 'LSUB completed', { untagged: out });
}

async function status(cmd: Cmd<'STATUS'>, s: ImapSession): Promise<V> {
  let f: FolderInfo;
  try {
    f = await s.data.mailbox!.status(cmd.mailbox);
  } catch (e) {
    return storeFailure(s, cmd.tag, e, 'STATUS');
  }
  if (cmd.items.includes('HIGHESTMODSEQ')) s.data.enabled.add('CONDSTORE');
  const line = `* STATUS ${encodeMailbox(f.name, utf8Of(s))} (${statusItems(f, cmd.items, imapOptions(s.ctx.service).maxLiteralBytes)})\r\n`;
  return ok(cmd.tag, 'STATUS completed', { untagged: line });
}

export const MAILBOX_ROWS: ReadonlyArray<readonly [string, ImapRow]> = Object.freeze([
  ['CREATE', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => create(cmd as Cmd<'CREATE'>, s) }],
  ['DELETE', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => remove(cmd as Cmd<'DELETE'>, s) }],
  ['RENAME', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => rename(cmd as Cmd<'RENAME'>, s) }],
  ['SUBSCRIBE', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => subscribe(cmd as Cmd<'SUBSCRIBE'>, s) }],
  ['UNSUBSCRIBE', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => subscribe(cmd as Cmd<'UNSUBSCRIBE'>, s) }],
  ['LIST', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => list(cmd as Cmd<'LIST'>, s) }],
  ['LSUB', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => lsub(cmd as Cmd<'LSUB'>, s) }],
  ['STATUS', { states: LOGGED_IN, expunges: true, run: (cmd: Command, s: ImapSession) => status(cmd as Cmd<'STATUS'>, s) }],
]);
