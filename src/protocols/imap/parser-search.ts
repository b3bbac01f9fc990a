/**
 * protocols/imap/parser-search.ts: SEARCH, SORT and THREAD for the IMAP parser (parser.ts): every
 * RFC 9051 / RFC 3501 search key, MODSEQ (RFC 7162; the entry name and type are read and
 * ignored), OLDER / YOUNGER (RFC 5032), `$` (RFC 5182), ESEARCH RETURN options (RFC 4731),
 * SORT criteria with REVERSE (RFC 5256, DISPLAYFROM / DISPLAYTO RFC 5957), ESORT's RETURN
 * (RFC 5267), THREAD REFERENCES / ORDEREDSUBJECT. Keys in sequence are ANDed; a parenthesised
 * list of one key is that key. Dates are that day's 00:00 UTC in ms.
 *
 * Exports: `search(r, tag, uid)`, `sort(r, tag, uid)`, `thread(r, tag, uid)` (the reader is just
 * past the command name).
 * Throws: `ParseError` (reader.ts) on malformed input.
 */
import { parseDate } from './encode.ts';
import { show, text, type Reader } from './reader.ts';
import type { Command, ReturnOption, SearchKey, SortCriterion } from './types.ts';

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

export function search(r: Reader, tag: string, isUid: boolean): Command {
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

export function sort(r: Reader, tag: string, isUid: boolean): Command {
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

export function thread(r: Reader, tag: string, isUid: boolean): Command {
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
  if ((c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24) return { k: 'seq', set: r.seqSetHere('sequence set') };
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
      const f = r.flag();
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
      return { k: 'uid', set: r.seqSetHere('UID set') };
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
