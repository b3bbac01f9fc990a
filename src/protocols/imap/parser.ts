/**
 * protocols/imap/parser.ts: an IMAP command's bytes → the typed `Command` of types.ts (RFC 9051
 * §9 and RFC 3501 §9 grammar with the extensions the service offers: UIDPLUS, MOVE, CONDSTORE /
 * QRESYNC, ESEARCH, SEARCHRES, SORT / ESORT, THREAD, LIST-EXTENDED / LIST-STATUS / SPECIAL-USE /
 * CREATE-SPECIAL-USE, MULTIAPPEND, BINARY, UTF8=ACCEPT, ID, ENABLE, COMPRESS, QUOTA, SASL-IR).
 *
 * Input: the command's line parts and literals (reader.ts says how the framer cuts them). A
 * mailbox name is decoded from modified UTF-7 unless `opts.utf8` (UTF8=ACCEPT enabled: UTF-8 as
 * is, RFC 6855 §3); `INBOX` in any case becomes `INBOX`. Keywords and command names are read in
 * any case. System flags are written canonically (`\seen` → `\Seen`); other `\`-flags are BAD.
 * UID FETCH does not add the UID item: the FETCH handler does (RFC 9051 §6.4.9).
 *
 * Never throws: malformed input, or anything unexpected, is `{ ok: false, tag, text }` with the
 * BAD text (`tag` null when no valid tag could be read). Work is linear in the input; nesting
 * and list sizes are bounded (reader.ts `MAX_NESTING`, `MAX_LIST_ITEMS`).
 *
 * Exports: `parseCommand(input, opts)`, `tagOf(line)`.
 */
import { MAX_SEQ_RANGES, decodeMailbox, parseDate, parseDateTime, parseSeqSet } from './encode.ts';
import { ParseError, Reader, TAG_CHAR, show, text } from './reader.ts';
import type {
  AppendMessage, Command, CommandInput, FetchItem, ParseResult, ReturnOption, SearchKey, Section,
  SequenceSet, SortCriterion, StatusItem,
} from './types.ts';

export interface ParseOptions {
  /** UTF8=ACCEPT is enabled: mailbox names are UTF-8, not modified UTF-7. */
  utf8: boolean;
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
    const r = new Reader(input);
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

const NO_ARGS = new Set(['CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'CHECK', 'CLOSE', 'UNSELECT', 'EXPUNGE', 'IDLE', 'NAMESPACE']);

function command(r: Reader, tag: string, utf8: boolean): Command {
  const name = r.word('command name');
  if (NO_ARGS.has(name)) return { tag, name } as Command;
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
        for (let n = 0; ; n++) {
          const p = r.word('CREATE parameter');
          if (p !== 'USE') r.fail(`Unknown CREATE parameter ${show(p)}`);
          r.sp('USE attributes');
          r.open('USE attributes');
          if (r.peek() !== 0x29) {
            do {
              r.expect(0x5c, 'a special-use attribute (\\Name)');
              use.push(`\\${r.atom('special-use attribute')}`);
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
    case 'FETCH':
      return fetch(r, tag, false);
    case 'STORE':
      return store(r, tag, false);
    case 'COPY':
    case 'MOVE': {
      const seqs = seqSet(r, 'sequence set');
      return { tag, name, uid: false, seqs, mailbox: mbox(r, utf8) };
    }
    case 'SEARCH':
      return search(r, tag, false);
    case 'SORT':
      return sort(r, tag, false);
    case 'THREAD':
      return thread(r, tag, false);
    case 'UID':
      return uid(r, tag, utf8);
    default:
      return r.fail(`Unknown command ${show(name)}`);
  }
}

function uid(r: Reader, tag: string, utf8: boolean): Command {
  r.sp('UID command');
  const name = r.word('UID command');
  switch (name) {
    case 'FETCH':
      return fetch(r, tag, true);
    case 'STORE':
      return store(r, tag, true);
    case 'COPY':
    case 'MOVE': {
      const seqs = seqSet(r, 'UID set');
      return { tag, name, uid: true, seqs, mailbox: mbox(r, utf8) };
    }
    case 'SEARCH':
      return search(r, tag, true);
    case 'SORT':
      return sort(r, tag, true);
    case 'THREAD':
      return thread(r, tag, true);
    case 'EXPUNGE':
      return { tag, name: 'UID EXPUNGE', seqs: seqSet(r, 'UID set') };
    default:
      return r.fail(`Unknown UID command ${show(name)}`);
  }
}

// ---- mailboxes, sequence sets, flags ----

function mailboxName(r: Reader, raw: string, utf8: boolean): string {
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
function seqSet(r: Reader, what: string): SequenceSet {
  r.sp(what);
  return seqSetHere(r, what);
}

function seqSetHere(r: Reader, what: string): SequenceSet {
  const t = r.seqText();
  if (t === '') r.fail(r.end() ? `Missing ${what}` : `Invalid ${what}`);
  const set = parseSeqSet(t);
  if (set === null) {
    let ranges = 1;
    for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) === 0x2c) ranges++;
    r.fail(ranges > MAX_SEQ_RANGES ? `Too many ranges in ${what} (more than ${MAX_SEQ_RANGES})` : `Invalid ${what} ${show(t)}`);
  }
  return set;
}

const SYSTEM_FLAGS = new Map(['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'].map((f) => [f.toUpperCase(), f]));

/** flag = system flag / keyword (an atom). */
function flag(r: Reader): string {
  if (r.peek() === 0x5c) {
    r.skip(1);
    const f = `\\${r.atom('flag')}`;
    const sys = SYSTEM_FLAGS.get(f.toUpperCase());
    if (sys === undefined) r.fail(`Invalid system flag ${show(f)}`);
    return sys;
  }
  return r.atom('flag');
}

/** "(" [flag *(SP flag)] ")" */
function flagListArg(r: Reader): string[] {
  const flags: string[] = [];
  r.open('flags');
  if (r.peek() !== 0x29) {
    do {
      flags.push(flag(r));
      r.count(flags.length, 'flags');
    } while (r.trySp());
  }
  r.close('flags');
  return flags;
}

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
              knownUids = seqSetHere(r, 'known UIDs');
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
  const seqs = seqSetHere(r, 'known sequence set');
  const uids = seqSet(r, 'known UID set');
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
  const reference = mailboxName(r, r.astring('reference name'), utf8);
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
      flags = flagListArg(r);
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

// ---- FETCH ----

const SIMPLE_ITEMS = new Set(['FLAGS', 'UID', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODYSTRUCTURE', 'MODSEQ', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);
const FAST: FetchItem[] = [{ k: 'FLAGS' }, { k: 'INTERNALDATE' }, { k: 'RFC822.SIZE' }];
const MACROS: Record<string, FetchItem[]> = {
  FAST,
  ALL: [...FAST, { k: 'ENVELOPE' }],
  FULL: [...FAST, { k: 'ENVELOPE' }, { k: 'BODY' }],
};

/** Fetch attribute name characters: letters, digits, `.`, `-`. */
function fetchName(r: Reader, what = 'FETCH attribute'): string {
  const s = r.s;
  const start = r.p;
  let i = start;
  while (i < s.length) {
    const c = s.charCodeAt(i) | 0x20;
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d)) break;
    i++;
  }
  r.p = i;
  if (i === start) r.fail(r.end() ? `Missing ${what}` : `Invalid ${what}`);
  return s.slice(start, i).toUpperCase();
}

/** section-part: nz-number *("." nz-number); stops before a "." that is not followed by a digit. */
function partNumbers(r: Reader, part: number[]): void {
  for (;;) {
    part.push(r.nz32('section part'));
    r.count(part.length, 'section parts');
    const c = r.peek();
    if (c !== 0x2e) return;
    const d = r.s.charCodeAt(r.p + 1);
    if (!(d >= 0x30 && d <= 0x39)) return;
    r.skip(1);
  }
}

function section(r: Reader): Section {
  r.expect(0x5b, '[');
  const part: number[] = [];
  let textPart: Section['text'] = null;
  const fields: string[] = [];
  let c = r.peek();
  if (c >= 0x30 && c <= 0x39) {
    partNumbers(r, part);
    if (r.peek() === 0x2e) {
      r.skip(1);
      c = -2; // a section-text must follow
    }
  }
  if (r.peek() !== 0x5d || c === -2) {
    const t = fetchName(r, 'section');
    if (t === 'HEADER' || t === 'TEXT' || (t === 'MIME' && part.length > 0)) textPart = t;
    else if (t === 'HEADER.FIELDS' || t === 'HEADER.FIELDS.NOT') {
      textPart = t;
      r.sp('header field names');
      r.open('header field names');
      do {
        fields.push(text(r.astring('header field name')).toUpperCase());
        r.count(fields.length, 'header field names');
      } while (r.trySp());
      r.close('header field names');
    } else r.fail(`Invalid section ${show(t)}`);
  }
  r.expect(0x5d, ']');
  return { part, text: textPart, fields };
}

function partial(r: Reader): { offset: number; length: number } | null {
  if (r.peek() !== 0x3c) return null;
  r.skip(1);
  const offset = r.number('partial offset');
  r.expect(0x2e, '. in partial');
  const length = r.number('partial length');
  r.expect(0x3e, '> after partial');
  return { offset, length };
}

function binaryPart(r: Reader): number[] {
  r.expect(0x5b, '[');
  const part: number[] = [];
  if (r.peek() !== 0x5d) partNumbers(r, part);
  r.expect(0x5d, ']');
  return part;
}

function fetchAtt(r: Reader): FetchItem {
  const n = fetchName(r);
  if (SIMPLE_ITEMS.has(n)) return { k: n } as FetchItem;
  switch (n) {
    case 'BODY':
      if (r.peek() !== 0x5b) return { k: 'BODY' };
      return { k: 'BODY[]', section: section(r), peek: false, partial: partial(r) };
    case 'BODY.PEEK':
      return { k: 'BODY[]', section: section(r), peek: true, partial: partial(r) };
    case 'BINARY':
    case 'BINARY.PEEK':
      return { k: 'BINARY', part: binaryPart(r), peek: n === 'BINARY.PEEK', partial: partial(r) };
    case 'BINARY.SIZE':
      return { k: 'BINARY.SIZE', part: binaryPart(r) };
    default:
      return r.fail(`Unknown FETCH attribute ${show(n)}`);
  }
}

function fetch(r: Reader, tag: string, isUid: boolean): Command {
  const seqs = seqSet(r, isUid ? 'UID set' : 'sequence set');
  r.sp('FETCH attributes');
  let items: FetchItem[];
  if (r.peek() === 0x28) {
    r.open('FETCH attributes');
    items = [];
    do {
      items.push(fetchAtt(r));
      r.count(items.length, 'FETCH attributes');
    } while (r.trySp());
    r.close('FETCH attributes');
  } else {
    const macro = MACROS[r.peekWord()];
    if (macro !== undefined) {
      r.word('FETCH macro');
      items = macro.slice();
    } else items = [fetchAtt(r)];
  }
  let changedSince: number | null = null;
  let vanished = false;
  if (r.trySp()) {
    r.open('FETCH modifiers');
    do {
      const m = r.word('FETCH modifier');
      if (m === 'CHANGEDSINCE') {
        r.sp('mod-sequence');
        changedSince = r.modseq();
      } else if (m === 'VANISHED') vanished = true;
      else r.fail(`Unknown FETCH modifier ${show(m)}`);
    } while (r.trySp());
    r.close('FETCH modifiers');
    if (vanished && (!isUid || changedSince === null)) r.fail('VANISHED needs UID FETCH and CHANGEDSINCE');
  }
  return { tag, name: 'FETCH', uid: isUid, seqs, items, changedSince, vanished };
}

// ---- STORE ----

function store(r: Reader, tag: string, isUid: boolean): Command {
  const seqs = seqSet(r, isUid ? 'UID set' : 'sequence set');
  r.sp('STORE attribute');
  let unchangedSince: number | null = null;
  if (r.peek() === 0x28) {
    r.open('STORE modifiers');
    do {
      const m = r.word('STORE modifier');
      if (m !== 'UNCHANGEDSINCE') r.fail(`Unknown STORE modifier ${show(m)}`);
      r.sp('mod-sequence');
      unchangedSince = r.modseq();
    } while (r.trySp());
    r.close('STORE modifiers');
    r.sp('STORE attribute');
  }
  let mode: 'set' | 'add' | 'remove' = 'set';
  const c = r.peek();
  if (c === 0x2b || c === 0x2d) {
    mode = c === 0x2b ? 'add' : 'remove';
    r.skip(1);
  }
  const att = r.word('STORE attribute');
  if (att !== 'FLAGS' && att !== 'FLAGS.SILENT') r.fail(`Invalid STORE attribute ${show(att)}`);
  r.sp('flags');
  let flags: string[];
  if (r.peek() === 0x28) flags = flagListArg(r);
  else {
    flags = [];
    do {
      flags.push(flag(r));
      r.count(flags.length, 'flags');
    } while (r.trySp());
  }
  return { tag, name: 'STORE', uid: isUid, seqs, mode, silent: att === 'FLAGS.SILENT', flags, unchangedSince };
}

// ---- SEARCH, SORT, THREAD ----

const RETURN_OPTIONS = new Set(['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE']);

/** RETURN SP "(" [opt *(SP opt)] ")" (the word RETURN is next). */
function returnOptions(r: Reader): ReturnOption[] {
  r.word('RETURN');
  r.sp('return options');
  r.open('return options');
  const out: ReturnOption[] = [];
  if (r.peek() !== 0x29) {
    do {
      const o = r.word('return option');
      if (!RETURN_OPTIONS.has(o)) r.fail(`Unknown SEARCH return option ${show(o)}`);
      if (!out.includes(o as ReturnOption)) out.push(o as ReturnOption);
    } while (r.trySp());
  }
  r.close('return options');
  return out;
}

/** search-key *(SP search-key) to the command's end (the SP before the first is read), ANDed. */
function searchProgram(r: Reader): SearchKey {
  const keys: SearchKey[] = [];
  for (;;) {
    keys.push(searchKey(r));
    r.count(keys.length, 'search keys');
    if (r.end()) break;
    r.sp('search key');
  }
  return keys.length === 1 ? keys[0]! : { k: 'and', keys };
}

function search(r: Reader, tag: string, isUid: boolean): Command {
  let returns: ReturnOption[] | null = null;
  let charset: string | null = null;
  r.sp('search key');
  if (r.peekWord() === 'RETURN') {
    returns = returnOptions(r);
    r.sp('search key');
  }
  if (r.peekWord() === 'CHARSET') {
    r.word('CHARSET');
    r.sp('charset');
    charset = text(r.astring('charset')).toUpperCase();
    r.sp('search key');
  }
  return { tag, name: 'SEARCH', uid: isUid, charset, key: searchProgram(r), returns };
}

const SORT_KEYS = new Set(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);

function sort(r: Reader, tag: string, isUid: boolean): Command {
  r.sp('sort criteria');
  let returns: ReturnOption[] | null = null;
  if (r.peekWord() === 'RETURN') {
    returns = returnOptions(r);
    r.sp('sort criteria');
  }
  r.open('sort criteria');
  const criteria: Array<{ key: SortCriterion; reverse: boolean }> = [];
  do {
    let k = r.word('sort criterion');
    let reverse = false;
    if (k === 'REVERSE') {
      reverse = true;
      r.sp('sort criterion');
      k = r.word('sort criterion');
    }
    if (!SORT_KEYS.has(k)) r.fail(`Unknown sort criterion ${show(k)}`);
    criteria.push({ key: k as SortCriterion, reverse });
    r.count(criteria.length, 'sort criteria');
  } while (r.trySp());
  r.close('sort criteria');
  r.sp('charset');
  const charset = text(r.astring('charset')).toUpperCase();
  r.sp('search key');
  return { tag, name: 'SORT', uid: isUid, criteria, charset, key: searchProgram(r), returns };
}

function thread(r: Reader, tag: string, isUid: boolean): Command {
  r.sp('thread algorithm');
  const algorithm = r.word('thread algorithm');
  if (algorithm !== 'REFERENCES' && algorithm !== 'ORDEREDSUBJECT') r.fail(`Unknown thread algorithm ${show(algorithm)}`);
  r.sp('charset');
  const charset = text(r.astring('charset')).toUpperCase();
  r.sp('search key');
  return { tag, name: 'THREAD', uid: isUid, algorithm, charset, key: searchProgram(r) };
}

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
};
const HEADER_KEYS = new Set(['FROM', 'TO', 'CC', 'BCC', 'SUBJECT']);
const DATE_KEYS: Record<string, ['internal' | 'sent', 'before' | 'on' | 'since']> = {
  BEFORE: ['internal', 'before'],
  ON: ['internal', 'on'],
  SINCE: ['internal', 'since'],
  SENTBEFORE: ['sent', 'before'],
  SENTON: ['sent', 'on'],
  SENTSINCE: ['sent', 'since'],
};

function searchString(r: Reader, what: string): string {
  r.sp(what);
  return text(r.astring(what));
}

function searchKey(r: Reader): SearchKey {
  const c = r.peek();
  if (c === 0x28 && !r.litHere()) {
    r.open('search keys');
    const keys: SearchKey[] = [];
    for (;;) {
      keys.push(searchKey(r));
      r.count(keys.length, 'search keys');
      if (!r.trySp()) break;
    }
    r.close('search keys');
    return keys.length === 1 ? keys[0]! : { k: 'and', keys };
  }
  if ((c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24) return { k: 'seq', set: seqSetHere(r, 'sequence set') };
  const w = r.word('search key');
  const fk = FLAG_KEYS[w];
  if (fk !== undefined) return { k: 'flag', flag: fk[0], set: fk[1] };
  if (HEADER_KEYS.has(w)) return { k: 'header', field: w, value: searchString(r, `${w} value`) };
  const dk = DATE_KEYS[w];
  if (dk !== undefined) {
    r.sp('date');
    const raw = r.astring('date');
    const date = parseDate(raw);
    if (date === null) r.fail(`Invalid date ${show(raw)}`);
    return { k: 'date', which: dk[0], op: dk[1], date };
  }
  switch (w) {
    case 'ALL':
      return { k: 'all' };
    case 'NEW':
      return { k: 'new' };
    case 'OLD':
      return { k: 'recent', set: false };
    case 'RECENT':
      return { k: 'recent', set: true };
    case 'KEYWORD':
    case 'UNKEYWORD': {
      r.sp('keyword');
      const f = flag(r);
      return { k: 'flag', flag: f, set: w === 'KEYWORD' };
    }
    case 'HEADER': {
      const field = searchString(r, 'header field name').toUpperCase();
      return { k: 'header', field, value: searchString(r, 'header value') };
    }
    case 'BODY':
      return { k: 'body', value: searchString(r, 'BODY value') };
    case 'TEXT':
      return { k: 'text', value: searchString(r, 'TEXT value') };
    case 'LARGER':
    case 'SMALLER':
      r.sp('size');
      return { k: 'size', op: w === 'LARGER' ? 'larger' : 'smaller', n: r.number('size') };
    case 'UID':
      r.sp('UID set');
      return { k: 'uid', set: seqSetHere(r, 'UID set') };
    case 'NOT': {
      r.sp('search key after NOT');
      r.enter();
      const key = searchKey(r);
      r.leave();
      return { k: 'not', key };
    }
    case 'OR': {
      r.sp('search key after OR');
      r.enter();
      const a = searchKey(r);
      r.sp('second search key after OR');
      const b = searchKey(r);
      r.leave();
      return { k: 'or', a, b };
    }
    case 'MODSEQ': {
      r.sp('mod-sequence');
      if (r.peek() === 0x22 || r.litHere()) {
        r.string('MODSEQ entry name');
        r.sp('MODSEQ entry type');
        const t = r.word('MODSEQ entry type');
        if (t !== 'PRIV' && t !== 'SHARED' && t !== 'ALL') r.fail(`Invalid MODSEQ entry type ${show(t)}`);
        r.sp('mod-sequence');
      }
      return { k: 'modseq', modseq: r.modseq() };
    }
    case 'OLDER':
    case 'YOUNGER':
      r.sp('interval');
      return { k: 'within', op: w === 'OLDER' ? 'older' : 'younger', seconds: r.nz32('interval') };
    default:
      return r.fail(`Unknown search key ${show(w)}`);
  }
}
