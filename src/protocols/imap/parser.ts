/**
 * protocols/imap/parser.ts: an IMAP command's bytes → the typed `Command` of types.ts (RFC 9051
 * §9 and RFC 3501 §9 grammar with the extensions the service offers: UIDPLUS, MOVE, CONDSTORE /
 * QRESYNC, ESEARCH, SEARCHRES, SORT / ESORT, THREAD, LIST-EXTENDED / LIST-STATUS / SPECIAL-USE /
 * CREATE-SPECIAL-USE, MULTIAPPEND, BINARY, UTF8=ACCEPT, ID, ENABLE, COMPRESS, QUOTA, SASL-IR).
 *
 * Input: the command's line parts and literals (reader.ts says how the framer cuts them). A
 * mailbox name is decoded from modified UTF-7 unless `opts.utf8` (UTF8=ACCEPT enabled: UTF-8 as
 * is, RFC 6855 §3); `INBOX` in any case becomes `INBOX`. Keywords and command names are read in
 * any case. System flags are written canonically (`\seen` → `\Seen`); other `\`-flags are BAD;
 * special-use attributes (CREATE … USE) are written canonically too.
 * UID FETCH does not add the UID item: the FETCH handler does (RFC 9051 §6.4.9).
 *
 * Never throws: malformed input, or anything unexpected, is `{ ok: false, tag, text }` with the
 * BAD text (`tag` null when no valid tag could be read). Work is linear in the input; nesting
 * and list sizes are bounded (reader.ts `MAX_NESTING`, `MAX_LIST_ITEMS`).
 *
 * FETCH and STORE are parsed in parser-fetch.ts; SEARCH, SORT and THREAD in parser-search.ts.
 *
 * Exports: `parseCommand(input, opts)`, `tagOf(line)`, `ParseOptions`.
 */
import { decodeMailbox, parseDateTime } from './encode.ts';
import { fetch, store } from './parser-fetch.ts';
import { search, sort, thread } from './parser-search.ts';
import { ParseError, Reader, TAG_CHAR, show, text } from './reader.ts';
import type { AppendMessage, Command, CommandInput, ParseResult, SequenceSet, StatusItem } from './types.ts';

export interface ParseOptions {
  /** UTF8=ACCEPT is enabled: mailbox names are UTF-8, not modified UTF-7. */
  utf8: boolean;
  /** Deepest nesting of parentheses (and of OR / NOT in SEARCH); default reader.ts MAX_NESTING (64). */
  maxNesting?: number;
  /** Most items in one list (FETCH attributes, flags, search keys, …); default MAX_LIST_ITEMS (10,000). */
  maxListItems?: number;
  /** Longest mailbox name or pattern as sent; default MAX_MAILBOX_NAME_BYTES (4,096). */
  maxMailboxNameBytes?: number;
}

/** The tag of a command line (a valid tag followed by SP or the line's end), else null. */
export function tagOf(line: Buffer): string | null {
  let i = 0;
  const n = line.length;
  while (i < n && TAG_CHAR[line[i]!] === 1) i++;
  if (i === 0) return null;
  if (i < n && line[i] !== 0x20 && line[i] !== 0x0d && line[i] !== 0x0a) return null;
  return line.toString('latin1', 0, i);
}

export function parseCommand(input: CommandInput, opts: ParseOptions): ParseResult {
  let tag: string | null = null;
  try {
    if (input.lines.length !== input.literals.length + 1) return { ok: false, tag: null, text: 'Malformed command input' };
    const r = new Reader(input, opts);
    const s = r.s;
    let i = 0;
    while (i < s.length && TAG_CHAR[s.charCodeAt(i)] === 1) i++;
    if (i === 0 || (i < s.length && s.charCodeAt(i) !== 0x20)) return { ok: false, tag: null, text: i === 0 && s.length === 0 ? 'Empty command' : 'Invalid tag' };
    tag = s.slice(0, i);
    r.p = i;
    if (r.end()) return { ok: false, tag, text: 'Missing command' };
    r.sp('command name');
    const cmd = command(r, tag, opts.utf8);
    if (!r.end()) r.fail(`Unexpected characters after the ${cmd.name} command`);
    return { ok: true, cmd };
  } catch (e) {
    if (e instanceof ParseError) return { ok: false, tag, text: e.message };
    return { ok: false, tag, text: 'Invalid command' };
  }
}

// ---- commands ----

/** RFC 6154 and RFC 8457 mailbox attributes, written canonically (others are kept as sent). */
const SPECIAL_USE = new Map(['\\All', '\\Archive', '\\Drafts', '\\Flagged', '\\Junk', '\\Sent', '\\Trash', '\\Important'].map((a) => [a.toUpperCase(), a]));

const NO_ARGS = new Set(['CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'CHECK', 'CLOSE', 'UNSELECT', 'EXPUNGE', 'IDLE', 'NAMESPACE']);

function command(r: Reader, tag: string, utf8: boolean): Command {
  const name = r.word('command name');
  if (NO_ARGS.has(name)) return { tag, name } as Command;
  if (isNumbered(name)) return numbered(r, tag, name, false, utf8);
  switch (name) {
    case 'LOGIN': {
      r.sp('user name');
      const user = text(r.astring('user name'));
      r.sp('password');
      return { tag, name, user, password: text(r.astring('password')) };
    }
    case 'AUTHENTICATE': {
      r.sp('SASL mechanism');
      const mechanism = r.word('SASL mechanism');
      let initial: string | null = null;
      if (r.trySp()) {
        initial = r.atom('initial response');
        if (!/^(?:[A-Za-z0-9+/]*={0,2}|=)$/.test(initial)) r.fail('Invalid initial response (base64 or =)');
      }
      return { tag, name, mechanism, initial };
    }
    case 'ENABLE': {
      const caps: string[] = [];
      r.sp('capability');
      do {
        caps.push(r.word('capability'));
        r.count(caps.length, 'capabilities');
      } while (r.trySp());
      return { tag, name, caps };
    }
    case 'ID':
      r.sp('ID parameters');
      return { tag, name, params: idParams(r) };
    case 'COMPRESS':
      r.sp('compression mechanism');
      return { tag, name, mechanism: r.word('compression mechanism') };
    case 'SELECT':
    case 'EXAMINE':
      return select(r, tag, name, utf8);
    case 'CREATE': {
      const mailbox = mbox(r, utf8);
      const use: string[] = [];
      if (r.trySp()) {
        r.open('CREATE parameters');
        for (let n = 0; r.peek() !== 0x29; n++) {
          const p = r.word('CREATE parameter');
          if (p !== 'USE') r.fail(`Unknown CREATE parameter ${show(p)}`);
          r.sp('USE attributes');
          r.open('USE attributes');
          if (r.peek() !== 0x29) {
            do {
              r.expect(0x5c, 'a special-use attribute (\\Name)');
              const a = `\\${r.atom('special-use attribute')}`;
              use.push(SPECIAL_USE.get(a.toUpperCase()) ?? a);
              r.count(use.length, 'attributes');
            } while (r.trySp());
          }
          r.close('USE attributes');
          r.count(n, 'CREATE parameters');
          if (!r.trySp()) break;
        }
        r.close('CREATE parameters');
      }
      return { tag, name, mailbox, use };
    }
    case 'DELETE':
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE':
    case 'GETQUOTAROOT':
      return { tag, name, mailbox: mbox(r, utf8) };
    case 'RENAME': {
      const from = mbox(r, utf8);
      return { tag, name, from, to: mbox(r, utf8, 'new mailbox name') };
    }
    case 'LIST':
      return list(r, tag, utf8);
    case 'LSUB': {
      r.sp('reference name');
      const reference = mailboxName(r, r.astring('reference name'), utf8);
      r.sp('mailbox pattern');
      return { tag, name, reference, pattern: mailboxName(r, r.listMailbox('mailbox pattern'), utf8) };
    }
    case 'STATUS': {
      const mailbox = mbox(r, utf8);
      r.sp('status items');
      return { tag, name, mailbox, items: statusItems(r) };
    }
    case 'APPEND':
      return append(r, tag, utf8);
    case 'GETQUOTA':
      r.sp('quota root');
      return { tag, name, root: text(r.astring('quota root')) };
    case 'SETQUOTA': {
      r.sp('quota root');
      const root = text(r.astring('quota root'));
      r.sp('resource limits');
      r.open('resource limits');
      const limits: Array<[string, number]> = [];
      if (r.peek() !== 0x29) {
        do {
          const res = r.word('resource name');
          r.sp('resource limit');
          limits.push([res, r.number('resource limit')]);
          r.count(limits.length, 'resource limits');
        } while (r.trySp());
      }
      r.close('resource limits');
      return { tag, name, root, limits };
    }
    case 'UID':
      return uid(r, tag, utf8);
    default:
      return r.fail(`Unknown command ${show(name)}`);
  }
}

/** The commands that name messages, by sequence number or (after UID) by UID. */
const NUMBERED = ['FETCH', 'STORE', 'COPY', 'MOVE', 'SEARCH', 'SORT', 'THREAD'] as const;
type Numbered = (typeof NUMBERED)[number];
const isNumbered = (name: string): name is Numbered => (NUMBERED as readonly string[]).includes(name);

/** A command of NUMBERED, by sequence number or (`uid`) by UID. */
function numbered(r: Reader, tag: string, name: Numbered, uid: boolean, utf8: boolean): Command {
  switch (name) {
    case 'FETCH':
      return fetch(r, tag, uid);
    case 'STORE':
      return store(r, tag, uid);
    case 'COPY':
    case 'MOVE': {
      const seqs = r.seqSet(uid ? 'UID set' : 'sequence set');
      return { tag, name, uid, seqs, mailbox: mbox(r, utf8) };
    }
    case 'SEARCH':
      return search(r, tag, uid);
    case 'SORT':
      return sort(r, tag, uid);
    case 'THREAD':
      return thread(r, tag, uid);
  }
}

function uid(r: Reader, tag: string, utf8: boolean): Command {
  r.sp('UID command');
  const name = r.word('UID command');
  if (isNumbered(name)) return numbered(r, tag, name, true, utf8);
  switch (name) {
    case 'EXPUNGE':
      return { tag, name: 'UID EXPUNGE', seqs: r.seqSet('UID set') };
    default:
      return r.fail(`Unknown UID command ${show(name)}`);
  }
}

// ---- mailboxes, sequence sets, flags ----

function mailboxName(r: Reader, raw: string, utf8: boolean): string {
  if (raw.length > r.maxMailboxNameBytes) r.fail(`Mailbox name too long (more than ${r.maxMailboxNameBytes} octets)`);
  const name = decodeMailbox(raw, utf8);
  if (name === null) r.fail(utf8 ? 'Invalid mailbox name (not UTF-8, or a control character)' : 'Invalid mailbox name (not modified UTF-7)');
  return name;
}

/** SP mailbox. */
function mbox(r: Reader, utf8: boolean, what = 'mailbox name'): string {
  r.sp(what);
  return mailboxName(r, r.astring(what), utf8);
}

/** sequence-set (or `$`); the SP before it is read here. */
// ---- SELECT / EXAMINE ----

function select(r: Reader, tag: string, name: 'SELECT' | 'EXAMINE', utf8: boolean): Command {
  const mailbox = mbox(r, utf8);
  let condstore = false;
  let qresync: Extract<Command, { name: 'SELECT' | 'EXAMINE' }>['qresync'] = null;
  if (r.trySp()) {
    r.open('SELECT parameters');
    if (r.peek() !== 0x29) {
      do {
        const p = r.word('SELECT parameter');
        if (p === 'CONDSTORE') condstore = true;
        else if (p === 'QRESYNC') {
          r.sp('QRESYNC parameters');
          r.open('QRESYNC parameters');
          const uidValidity = r.nz32('UIDVALIDITY');
          r.sp('mod-sequence');
          const modseq = r.modseq();
          let knownUids: SequenceSet | null = null;
          let seqMatch: { seqs: SequenceSet; uids: SequenceSet } | null = null;
          if (r.trySp()) {
            if (r.peek() !== 0x28) {
              knownUids = r.seqSetHere('known UIDs');
              if (r.trySp()) seqMatch = seqMatchData(r);
            } else seqMatch = seqMatchData(r);
          }
          r.close('QRESYNC parameters');
          qresync = { uidValidity, modseq, knownUids, seqMatch };
        } else r.fail(`Unknown ${name} parameter ${show(p)}`);
      } while (r.trySp());
    }
    r.close('SELECT parameters');
  }
  return { tag, name, mailbox, condstore, qresync };
}

function seqMatchData(r: Reader): { seqs: SequenceSet; uids: SequenceSet } {
  r.open('sequence match data');
  const seqs = r.seqSetHere('known sequence set');
  const uids = r.seqSet('known UID set');
  r.close('sequence match data');
  return { seqs, uids };
}

// ---- LIST, STATUS ----

const STATUS_ITEMS = new Set<string>(['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'RECENT', 'HIGHESTMODSEQ', 'APPENDLIMIT']);

function statusItems(r: Reader): StatusItem[] {
  const items: StatusItem[] = [];
  r.open('status items');
  do {
    const it = r.word('status item');
    if (!STATUS_ITEMS.has(it)) r.fail(`Unknown status item ${show(it)}`);
    if (!items.includes(it as StatusItem)) items.push(it as StatusItem);
    r.count(items.length, 'status items');
  } while (r.trySp());
  r.close('status items');
  return items;
}

const SELECTION_OPTIONS = new Set(['SUBSCRIBED', 'REMOTE', 'RECURSIVEMATCH', 'SPECIAL-USE']);

function list(r: Reader, tag: string, utf8: boolean): Command {
  let extended = false;
  const selection: string[] = [];
  r.sp('reference name');
  if (r.peek() === 0x28 && !r.litHere()) {
    extended = true;
    r.open('selection options');
    if (r.peek() !== 0x29) {
      do {
        const o = r.word('selection option');
        if (!SELECTION_OPTIONS.has(o)) r.fail(`Unknown LIST selection option ${show(o)}`);
        if (!selection.includes(o)) selection.push(o);
      } while (r.trySp());
    }
    r.close('selection options');
    if (selection.includes('RECURSIVEMATCH') && !selection.some((o) => o !== 'RECURSIVEMATCH' && o !== 'REMOTE')) {
      r.fail('RECURSIVEMATCH needs another selection option');
    }
    r.sp('reference name');
  }
  // (the reference read as a list-mailbox: `LIST * ""` is taken, as Dovecot takes it)
  const reference = mailboxName(r, r.listMailbox('reference name'), utf8);
  r.sp('mailbox pattern');
  const patterns: string[] = [];
  if (r.peek() === 0x28 && !r.litHere()) {
    extended = true;
    r.open('mailbox patterns');
    do {
      patterns.push(mailboxName(r, r.listMailbox('mailbox pattern'), utf8));
      r.count(patterns.length, 'mailbox patterns');
    } while (r.trySp());
    r.close('mailbox patterns');
  } else patterns.push(mailboxName(r, r.listMailbox('mailbox pattern'), utf8));
  const returns = { subscribed: false, children: false, specialUse: false, status: null as StatusItem[] | null };
  if (r.trySp()) {
    if (r.word('RETURN') !== 'RETURN') r.fail('Expected RETURN');
    extended = true;
    r.sp('return options');
    r.open('return options');
    if (r.peek() !== 0x29) {
      do {
        const o = r.word('return option');
        if (o === 'SUBSCRIBED') returns.subscribed = true;
        else if (o === 'CHILDREN') returns.children = true;
        else if (o === 'SPECIAL-USE') returns.specialUse = true;
        else if (o === 'STATUS') {
          r.sp('status items');
          returns.status = statusItems(r);
        } else r.fail(`Unknown LIST return option ${show(o)}`);
      } while (r.trySp());
    }
    r.close('return options');
  }
  if (selection.includes('SUBSCRIBED')) returns.subscribed = true; // RFC 5258 §3.1: implied
  return { tag, name: 'LIST', reference, patterns, selection, returns, extended };
}

// ---- APPEND ----

function append(r: Reader, tag: string, utf8: boolean): Command {
  const mailbox = mbox(r, utf8);
  const messages: AppendMessage[] = [];
  do {
    r.sp('message literal');
    let flags: string[] = [];
    let date: number | null = null;
    if (r.peek() === 0x28 && !r.litHere()) {
      flags = r.flagList();
      r.sp('message literal');
    }
    if (r.peek() === 0x22 && !r.litHere()) {
      const d = parseDateTime(r.string('date-time'));
      if (d === null) r.fail('Invalid date-time');
      date = d;
      r.sp('message literal');
    }
    if (r.litHere()) {
      const lit = r.takeLit();
      messages.push({ flags, date, body: lit.bytes, binary: lit.binary, utf8: false });
    } else {
      const w = r.word('message literal');
      if (w !== 'UTF8') r.fail(`Expected a message literal, not ${show(w)}`);
      r.sp('UTF8 literal');
      r.open('UTF8 literal');
      if (!r.litHere()) r.fail('Expected a literal8 inside UTF8 ( )');
      const lit = r.takeLit();
      r.close('UTF8 literal');
      messages.push({ flags, date, body: lit.bytes, binary: lit.binary, utf8: true });
    }
    r.count(messages.length, 'messages');
  } while (!r.end());
  return { tag, name: 'APPEND', mailbox, messages };
}

// ---- ID ----

function idParams(r: Reader): Array<[string, string | null]> | null {
  if (r.peek() !== 0x28) {
    if (r.word('ID parameters') !== 'NIL') r.fail('Expected NIL or a parameter list');
    return null;
  }
  r.open('ID parameters');
  const params: Array<[string, string | null]> = [];
  if (r.peek() !== 0x29) {
    do {
      const k = text(r.string('ID field name'));
      r.sp('ID field value');
      const v = r.nstring('ID field value');
      params.push([k, v === null ? null : text(v)]);
      r.count(params.length, 'ID parameters');
    } while (r.trySp());
  }
  r.close('ID parameters');
  return params;
}
