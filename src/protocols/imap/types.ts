/**
 * protocols/imap/types.ts: the shapes the IMAP modules share (RFC 9051, RFC 3501 and the
 * extensions of the service): the parsed command (parser.ts builds it, the command modules take
 * it), the session's data and command rows (index.ts dispatches them), the selected mailbox's
 * view (selected.ts implements it), and the inputs of the FETCH renderer (fetch.ts) and of the
 * SEARCH / SORT / THREAD engine (search.ts).
 *
 * Conventions: command and keyword names are upper case; mailbox names are as the client meant
 * them (modified UTF-7 already decoded, or UTF-8 under UTF8=ACCEPT), with `/` as the hierarchy
 * separator and INBOX in any case given as `INBOX`; flags keep their case ("\\Seen", "$Junk");
 * dates are ms since the epoch; a sequence set's `*` is the string '*'.
 *
 * Exports: the types below. Throws nothing.
 */
import type { LineSession, Verdict } from '../../session/line-session.ts';
import type { MailboxApi, MessageMeta } from '../../store/types.ts';
import type { MessageStructure } from '../../store/structure.ts';

// ---- sequence sets ----

export type SeqNum = number | '*';
/** `a:b` (either order, as the client wrote it) or a single number (from === to). */
export interface SeqRange {
  from: SeqNum;
  to: SeqNum;
}
/** A sequence set, or `$` (RFC 5182 SEARCHRES: the saved search result). */
export type SequenceSet = readonly SeqRange[] | '$';

// ---- FETCH ----

/** A body section (RFC 9051 §6.4.5): `part` [] is the whole message; `text` null with a part is
 * that part's body. */
export interface Section {
  part: number[];
  text: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME' | null;
  /** HEADER.FIELDS(.NOT): field names, upper case, as given. */
  fields: string[];
}

export interface ByteRange {
  offset: number;
  length: number;
}

/** One FETCH attribute; the macros ALL, FAST, FULL are expanded by the parser. */
export type FetchItem =
  | { k: 'FLAGS' | 'UID' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODYSTRUCTURE' | 'BODY' | 'MODSEQ' | 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT' }
  /** BODY[section]<partial> and BODY.PEEK[…]; `peek` does not set \Seen. */
  | { k: 'BODY[]'; section: Section; peek: boolean; partial: ByteRange | null }
  /** RFC 3516 BINARY[part]<partial>, BINARY.PEEK. */
  | { k: 'BINARY'; part: number[]; peek: boolean; partial: ByteRange | null }
  | { k: 'BINARY.SIZE'; part: number[] };

// ---- SEARCH ----

export type SearchKey =
  | { k: 'all' }
  | { k: 'and'; keys: SearchKey[] }
  | { k: 'or'; a: SearchKey; b: SearchKey }
  | { k: 'not'; key: SearchKey }
  | { k: 'seq'; set: SequenceSet } // a bare sequence set ($ included)
  | { k: 'uid'; set: SequenceSet }
  /** ANSWERED DELETED DRAFT FLAGGED SEEN (set true), UN… (false), KEYWORD/UNKEYWORD x. */
  | { k: 'flag'; flag: string; set: boolean }
  | { k: 'recent'; set: boolean } // RECENT / OLD
  | { k: 'new' } // RECENT UNSEEN
  /** FROM TO CC BCC SUBJECT and HEADER name value: `field` upper case; substring, case-insensitive; '' matches any message with the field. */
  | { k: 'header'; field: string; value: string }
  | { k: 'body'; value: string }
  | { k: 'text'; value: string }
  /** BEFORE ON SINCE (internal date) and SENTBEFORE SENTON SENTSINCE (Date: header); `date` is
   * the day's 00:00 UTC in ms (comparisons by day, RFC 9051 §6.4.4). */
  | { k: 'date'; which: 'internal' | 'sent'; op: 'before' | 'on' | 'since'; date: number }
  | { k: 'size'; op: 'larger' | 'smaller'; n: number }
  /** RFC 7162 MODSEQ [entry type] n: messages whose modseq ≥ n. */
  | { k: 'modseq'; modseq: number }
  /** RFC 5032 OLDER / YOUNGER n seconds (not advertised unless implemented). */
  | { k: 'within'; op: 'older' | 'younger'; seconds: number };

/** ESEARCH RETURN options (RFC 4731, RFC 5182 SAVE); an empty list means ALL. */
export type ReturnOption = 'MIN' | 'MAX' | 'ALL' | 'COUNT' | 'SAVE';

export type SortCriterion = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';

// ---- STATUS, LIST ----

export type StatusItem = 'MESSAGES' | 'UIDNEXT' | 'UIDVALIDITY' | 'UNSEEN' | 'DELETED' | 'SIZE' | 'RECENT' | 'HIGHESTMODSEQ' | 'APPENDLIMIT';

export interface AppendMessage {
  flags: string[];
  /** INTERNALDATE given (ms), or null: now. */
  date: number | null;
  body: Buffer;
  /** Sent as literal8 (`~{n}`, RFC 3516) or inside UTF8 (…) (RFC 6855). */
  binary: boolean;
  utf8: boolean;
}

// ---- the parsed command ----

export type Command = { tag: string } & (
  | { name: 'CAPABILITY' | 'NOOP' | 'LOGOUT' | 'STARTTLS' | 'CHECK' | 'CLOSE' | 'UNSELECT' | 'EXPUNGE' | 'IDLE' | 'NAMESPACE' }
  | { name: 'LOGIN'; user: string; password: string }
  /** `initial`: the SASL-IR initial response as sent (base64, or "=" for empty), null: none. */
  | { name: 'AUTHENTICATE'; mechanism: string; initial: string | null }
  | { name: 'ENABLE'; caps: string[] }
  /** ID NIL or ID (key value …). */
  | { name: 'ID'; params: Array<[string, string | null]> | null }
  | { name: 'COMPRESS'; mechanism: string }
  | {
      name: 'SELECT' | 'EXAMINE';
      mailbox: string;
      condstore: boolean;
      /** RFC 7162 §3.2.5 QRESYNC parameters. */
      qresync: { uidValidity: number; modseq: number; knownUids: SequenceSet | null; seqMatch: { seqs: SequenceSet; uids: SequenceSet } | null } | null;
    }
  /** `use`: RFC 6154 CREATE-SPECIAL-USE attributes (empty: none). */
  | { name: 'CREATE'; mailbox: string; use: string[] }
  | { name: 'DELETE' | 'SUBSCRIBE' | 'UNSUBSCRIBE' | 'GETQUOTAROOT'; mailbox: string }
  | { name: 'RENAME'; from: string; to: string }
  | {
      name: 'LIST';
      reference: string;
      patterns: string[];
      /** RFC 5258 selection options: SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE. */
      selection: string[];
      /** RFC 5258 / 5819 / 6154 return options. */
      returns: { subscribed: boolean; children: boolean; specialUse: boolean; status: StatusItem[] | null };
      /** Any extended syntax was used (selection, return, or a pattern list). */
      extended: boolean;
    }
  | { name: 'LSUB'; reference: string; pattern: string }
  | { name: 'STATUS'; mailbox: string; items: StatusItem[] }
  /** One or more messages (RFC 3502 MULTIAPPEND). */
  | { name: 'APPEND'; mailbox: string; messages: AppendMessage[] }
  | { name: 'GETQUOTA'; root: string }
  | { name: 'SETQUOTA'; root: string; limits: Array<[string, number]> }
  /** `uid`: UID FETCH. `changedSince` / `vanished`: RFC 7162 FETCH modifiers. */
  | { name: 'FETCH'; uid: boolean; seqs: SequenceSet; items: FetchItem[]; changedSince: number | null; vanished: boolean }
  | { name: 'STORE'; uid: boolean; seqs: SequenceSet; mode: 'set' | 'add' | 'remove'; silent: boolean; flags: string[]; unchangedSince: number | null }
  | { name: 'COPY' | 'MOVE'; uid: boolean; seqs: SequenceSet; mailbox: string }
  /** UID EXPUNGE (RFC 4315). */
  | { name: 'UID EXPUNGE'; seqs: SequenceSet }
  /** `returns` null: a plain SEARCH (untagged SEARCH reply); a list (possibly empty): ESEARCH. */
  | { name: 'SEARCH'; uid: boolean; charset: string | null; key: SearchKey; returns: ReturnOption[] | null }
  | { name: 'SORT'; uid: boolean; criteria: Array<{ key: SortCriterion; reverse: boolean }>; charset: string; key: SearchKey; returns: ReturnOption[] | null }
  | { name: 'THREAD'; uid: boolean; algorithm: 'REFERENCES' | 'ORDEREDSUBJECT'; charset: string; key: SearchKey }
);

export type CommandName = Command['name'];

/** What the parser is given: a command's line parts and the literals between them, in order
 * (`lines.length === literals.length + 1`; line i ended with the literal marker, already cut
 * off by the framer, and literal i follows it). */
export interface CommandInput {
  lines: Buffer[];
  literals: Array<{ bytes: Buffer; binary: boolean }>;
}

/** The parser's answer: a command, or why not (`tag` null: none could be read, answer "* BAD"). */
export type ParseResult = { ok: true; cmd: Command } | { ok: false; tag: string | null; text: string };

// ---- the session ----

export type ImapState = 'notAuthenticated' | 'authenticated' | 'selected';

/** Capabilities the client turned on with ENABLE (or implied: a CONDSTORE-enabling command). */
export type Enabled = 'CONDSTORE' | 'QRESYNC' | 'IMAP4REV2' | 'UTF8=ACCEPT';

/** The selected mailbox as this session sees it (selected.ts): sequence numbers, \Recent, and
 * the changes made elsewhere not yet told to the client. */
export interface MailboxView {
  readonly name: string;
  readonly readOnly: boolean;
  /** Untagged updates to send now (EXISTS, RECENT, EXPUNGE or VANISHED, FETCH FLAGS [MODSEQ]),
   * as wire text, and the view updated to match. `expunges` false: hold back expunges (during a
   * non-UID FETCH, STORE, SEARCH, RFC 9051 §7.5.1). Empty string when nothing changed. */
  updates(expunges: boolean): string;
  /** Stop watching the mailbox (the subscription closes). Idempotent. */
  close(): void;
}

export interface ImapData {
  /** The tag of the command being dispatched ('*' before one was read). */
  tag: string;
  /** The account logged in to (its address), null before. */
  account: string | null;
  mailbox: MailboxApi | null;
  selected: MailboxView | null;
  enabled: Set<Enabled>;
  /** RFC 5182: the UIDs the last SEARCH … RETURN (SAVE) saved; `$` refers to them. */
  saved: number[];
  /** The socket has closed: whatever resolves later must be released at once. */
  closed: boolean;
}

export type ImapSession = LineSession<ImapState, ImapData>;

export interface ImapRow {
  readonly states: readonly ImapState[];
  /** May pending EXPUNGE responses be sent before this command's tagged reply? (false for
   * non-UID FETCH, STORE, SEARCH, SORT, THREAD). */
  readonly expunges: boolean;
  /** Returns the verdict whose text is the tagged reply (untagged data may be written first
   * with `s.write`). */
  readonly run: (cmd: Command, s: ImapSession) => Verdict<ImapState> | Promise<Verdict<ImapState>>;
}

// ---- FETCH rendering (fetch.ts) and SEARCH (search.ts) inputs ----

/** What fetch.ts is given for one message: what it asked for (`needs`) is present. */
export interface FetchSource {
  seq: number;
  meta: MessageMeta;
  structure: MessageStructure | null;
  body: Buffer | null;
}

/** One message of the selected mailbox, as SEARCH / SORT / THREAD see it. */
export interface SearchMessage {
  seq: number;
  uid: number;
  modseq: number;
  flags: readonly string[];
  internalDate: number;
  size: number;
  recent: boolean;
}

/** What the search engine may use to answer. */
export interface SearchScope {
  mailbox: MailboxApi;
  folder: string;
  /** The folder's UIDVALIDITY (an index may be keyed on it). */
  uidValidity: number;
  /** In sequence order. */
  messages: readonly SearchMessage[];
  /** RFC 5182 `$` (UIDs). */
  saved: readonly number[];
}
