/**
 * store/types.ts: the plain data the store hands out and takes in. Everything here is
 * structured-clone safe, so the same shapes cross MessagePorts (src/store/client.ts).
 *
 * Exports: `Locator`, `MessageMeta`, `FolderInfo`, `AppendOptions`, `AppendResult`,
 * `FlagMode`, `FlagsResult`, `ExpungeOptions`, `ExpungeResult`, `CopyResult`, `Snapshot`,
 * `SnapshotEntry`, `SnapshotOptions`, `QuotaInfo`, `ListOptions`, `StructureEntry`, `SearchIndexView`, `VIEW_FIELDS`, `MAX_UID`,
 * `CreateFolderOptions`, `VanishedResult`, `SPECIAL_USES`, `DEFAULT_FOLDERS`, `EXPUNGE_HISTORY_MAX`, `MAX_FOLDERS`, `MAX_SUBSCRIPTIONS`, `MailboxApi` (the one interface both the
 * in-thread mailbox and the cross-thread client implement), `SYSTEM_FLAGS`, `HIERARCHY_SEP`,
 * and the directory's `DomainInfo`, `AccountInfo`, `AuthInfo`, `AccountOptions`,
 * `AccountChanges`, `HashPassword`, `VerifyPassword`, and the backup shapes `DomainBackup`,
 * `AccountBackup`, and the push side: `MailboxEvent`, `SubscribeOptions`, `SubscriptionStart`;
 * and a mailbox's bounds `MAX_FOLDERS`, `MAX_SUBSCRIPTIONS`.
 * Throws nothing.
 */

import type { MessageStructure } from './structure.ts';

/** IMAP hierarchy delimiter of folder names ("Archive/2024"). */
export const HIERARCHY_SEP = '/';

/** The stored system flags (\Recent is per session and never stored). Bit i = SYSTEM_FLAGS[i]. */
export const SYSTEM_FLAGS = Object.freeze(['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'] as const);

/** Where a stored body lies: read `length` bytes at `offset` of `path` (any thread may). The
 * bytes are immutable; `crc` is their crc32 (node:zlib). Valid while a snapshot holds it, or
 * until the message is expunged and the segment compacted. */
export interface Locator {
  path: string;
  offset: number;
  length: number;
  crc: number;
}

export interface MessageMeta {
  uid: number;
  modseq: number;
  flags: string[]; // system flags first, then keywords
  internalDate: number; // ms since the epoch
  size: number;
  locator: Locator;
}

export interface FolderInfo {
  name: string;
  /** RFC 6154 special-use attribute ("\Drafts", "\Sent", "\Trash", "\Junk", "\Archive",
   * …, one of SPECIAL_USES), kept per folder (it follows a rename); null: none. */
  specialUse: string | null;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  messages: number;
  unseen: number;
  deleted: number;
  bytes: number;
  /** RFC 3501 STATUS RECENT: messages \Recent to the next session that claims (`claimRecent`);
   * reading it claims nothing. Optional only so that older shapes still type-check. */
  recent?: number;
}

export interface AppendOptions {
  flags?: string[];
  internalDate?: number; // ms since the epoch; default now
  /** The UID to give it (a restore keeping the original's): at least the folder's next UID and
   * at most MAX_UID, else STORE_BAD_ARGUMENT; default the next UID. */
  uid?: number;
  /** Its MIME structure, parsed by the caller from these very bytes (store/structure.ts's
   * `parseStructure`, e.g. on the caller's pool for a big message). Absent (or not matching the
   * body's size): the store parses it while appending. */
  structure?: MessageStructure;
}

/** RFC 6154 attributes a folder may carry (createFolder's `specialUse`); another is
 * STORE_BAD_ARGUMENT (\All and \Flagged name virtual mailboxes, which the store has not). */
export const SPECIAL_USES = Object.freeze(['\\Archive', '\\Drafts', '\\Junk', '\\Sent', '\\Trash'] as const);

/** The folders a new mailbox starts with (all subscribed), with their special use. A mailbox
 * made before them (it has INBOX) is left as it is. */
export const DEFAULT_FOLDERS: ReadonlyArray<readonly [string, string | null]> = Object.freeze([
  ['INBOX', null], ['Drafts', '\\Drafts'], ['Sent', '\\Sent'], ['Trash', '\\Trash'], ['Junk', '\\Junk'], ['Archive', '\\Archive'],
] as const);

export interface CreateFolderOptions {
  /** RFC 6154 CREATE-SPECIAL-USE: one of SPECIAL_USES (case-insensitive, stored as spelled there). */
  specialUse?: string;
}

/** RFC 7162 expunge history (`vanished`): UIDs expunged with modseq > the one asked, ascending.
 * `complete` false: the history kept does not reach back that far (older entries were dropped),
 * so `uids` may miss some; the caller reports every UID of the client's range that is gone. */
export interface VanishedResult {
  uids: number[];
  complete: boolean;
}

/** Expunged UIDs kept per folder for `vanished` (RFC 7162); older ones are dropped, oldest first. */
export const EXPUNGE_HISTORY_MAX = 100_000;

/** Most folders one mailbox may have, and most names it may have subscribed (IMAP CREATE and
 * SUBSCRIBE past them: STORE_NOT_ALLOWED), so no client grows the index without bound. */
export const MAX_FOLDERS = 10_000;
export const MAX_SUBSCRIPTIONS = 10_000;

/** The largest UID (RFC 3501: a 32-bit unsigned number). */
export const MAX_UID = 0xffff_ffff;

export interface AppendResult {
  folder: string;
  uid: number;
  uidValidity: number;
  modseq: number;
  size: number;
}

export type FlagMode = 'add' | 'remove' | 'set';

export interface FlagsResult {
  /** The modseq this change was given (0 when nothing changed). */
  modseq: number;
  /** Every message the change touched, with its flags afterwards. */
  changed: Array<{ uid: number; flags: string[]; modseq: number }>;
  /** UIDs skipped by `unchangedSince` (RFC 7162 CONDSTORE MODIFIED). */
  modified: number[];
}

export interface ExpungeOptions {
  /** Only these UIDs (absent ones are ignored). Default: every message. */
  uids?: number[];
  /** Only messages flagged \Deleted. Default: true without `uids`, false with them. */
  deletedOnly?: boolean;
}

export interface ExpungeResult {
  uids: number[];
  modseq: number;
}

export interface CopyResult {
  /** Of the target folder (RFC 4315 COPYUID). */
  uidValidity: number;
  /** [source uid, new uid] pairs, ascending by source uid. */
  map: Array<[number, number]>;
}

export interface ListOptions {
  /** Only UIDs ≥ this. */
  sinceUid?: number;
  /** Only messages whose modseq > this (RFC 7162 CHANGEDSINCE). */
  changedSince?: number;
  /** Only these UIDs. */
  uids?: number[];
}

export interface SnapshotEntry {
  uid: number;
  size: number;
  flags: string[];
  internalDate: number;
  locator: Locator;
}

/** The folder as it was when the snapshot was taken (POP3's view): a stable list, ascending by
 * uid, whose bodies stay readable until `release(id)`, whatever is expunged or compacted. */
export interface Snapshot {
  id: number;
  folder: string;
  uidValidity: number;
  uidNext: number;
  bytes: number;
  messages: SnapshotEntry[];
}

/** `exclusive`: no other exclusive snapshot of the same folder may be open at the same time
 * (POP3's maildrop lock); a second one is refused with STORE_LOCKED until the first is released
 * (or its owner, e.g. a client port, goes away). */
export interface SnapshotOptions {
  exclusive?: boolean;
}

/** Usage and limits; a limit of `Infinity` (UNLIMITED) is no limit. */
export interface QuotaInfo {
  usedBytes: number;
  usedMessages: number;
  limitBytes: number;
  limitMessages: number;
}

/** One account's mailbox. Every change passes through the account's mailbox actor. */
export interface MailboxApi {
  readonly address: string;
  append(folder: string, body: Uint8Array, opts?: AppendOptions): Promise<AppendResult>;
  folders(): Promise<FolderInfo[]>;
  status(folder: string): Promise<FolderInfo>;
  list(folder: string, opts?: ListOptions): Promise<MessageMeta[]>;
  /** The body's bytes (checked against its crc32: STORE_CORRUPT on mismatch). */
  fetch(folder: string, uid: number): Promise<{ meta: MessageMeta; body: Uint8Array }>;
  setFlags(folder: string, uids: number[], flags: string[], mode: FlagMode, unchangedSince?: number): Promise<FlagsResult>;
  expunge(folder: string, opts?: ExpungeOptions): Promise<ExpungeResult>;
  copy(from: string, uids: number[], to: string): Promise<CopyResult>;
  move(from: string, uids: number[], to: string): Promise<CopyResult>;
  /** Parents missing are created too (without a special use). STORE_BAD_ARGUMENT: an unknown
   * `specialUse`; STORE_NOT_ALLOWED: past MAX_FOLDERS. */
  createFolder(name: string, opts?: CreateFolderOptions): Promise<FolderInfo>;
  renameFolder(from: string, to: string): Promise<void>;
  deleteFolder(name: string): Promise<void>;
  snapshot(folder?: string, opts?: SnapshotOptions): Promise<Snapshot>;
  release(snapshotId: number): Promise<void>;
  quota(): Promise<QuotaInfo>;
  /** The stored MIME structures (BODYSTRUCTURE, ENVELOPE, sort keys, search fields) of these
   * UIDs, ascending; absent UIDs are skipped. Read from the message records, not parsed again
   * (a message stored before structures were is parsed once and cached). */
  fetchStructure(folder: string, uids: number[]): Promise<StructureEntry[]>;
  /** RFC 3502 MULTIAPPEND: all or nothing. Every message and the quota for the sum are checked
   * first (STORE_QUOTA_EXCEEDED or any other failure: none appended, no UID used), the records
   * go in one write and one sync, and it resolves once all are durable, in order, with
   * consecutive UIDs (unless `opts.uid` says otherwise); subscribers see each as an 'append'. */
  appendMany(folder: string, messages: Array<{ body: Uint8Array; opts?: AppendOptions }>): Promise<AppendResult[]>;
  /** IMAP subscriptions (LSUB, LIST (SUBSCRIBED)): the subscribed names, sorted. A name may be
   * subscribed whether or not the folder exists (RFC 9051 §6.3.7). */
  subscriptions(): Promise<string[]>;
  /** Subscribe (`on`) or unsubscribe a name (normalised like a folder name: STORE_BAD_NAME);
   * durable when it resolves; doing what is already so is not an error; past MAX_SUBSCRIPTIONS
   * names, STORE_NOT_ALLOWED. A rename moves the
   * subscriptions of the folder and its children; a delete leaves them. */
  setSubscribed(name: string, on: boolean): Promise<void>;
  /** RFC 7162 QRESYNC: the UIDs of `folder` expunged (expunge, move) with modseq > `sinceModseq`,
   * ascending, from a bounded history (EXPUNGE_HISTORY_MAX per folder) kept across restarts. */
  vanished(folder: string, sinceModseq: number): Promise<VanishedResult>;
  /** RFC 3501 \Recent: the lowest UID that is \Recent for the caller (messages with uid ≥ it;
   * uidNext when none), and the folder's recent floor moved to uidNext, atomically: the first
   * session to claim after a delivery gets the new messages. In memory only: after a restart (or
   * the mailbox actor's restart) the messages already there are not \Recent to anyone. */
  claimRecent(folder: string): Promise<number>;
  /** Where the search index's records of the folder's messages lie (SearchIndexView). */
  searchIndex?(folder: string): Promise<SearchIndexView>;
}

/** Where the search index's records of a folder's messages lie (store/search-index.ts): per
 * message, ascending by uid, VIEW_FIELDS numbers: uid, record position in `path` (-1: no
 * record yet: read the body), record length, header text length, sent day (NaN: none), flags
 * (store/search-text.ts TRUNCATED). */
export interface SearchIndexView {
  path: string;
  data: Float64Array;
}
export const VIEW_FIELDS = 6;

export interface StructureEntry {
  uid: number;
  structure: MessageStructure;
}

// ---- the directory (src/store/directory.ts) ----

export type HashPassword = (password: string) => Promise<string>;
export type VerifyPassword = (hash: string, password: string) => Promise<boolean>;

export interface DomainInfo {
  name: string;
  enabled: boolean;
  primary: boolean;
  accounts: number;
  createdAt: number;
}

export interface AccountInfo {
  id: number;
  address: string;
  domain: string;
  enabled: boolean;
  quotaBytes: number;
  quotaMessages: number;
  services: 'all' | string[];
  cramMd5: boolean;
  shard: number;
  createdAt: number;
}

export interface AuthInfo {
  account: AccountInfo;
  passwordHash: string;
  /** HMAC-MD5 pads (32 bytes) if CRAM-MD5 is on for the account and was keyed. */
  cramMd5Pads: Uint8Array | null;
  /** SCRAM-SHA-256 keys in store/scram.ts's text form; null: none (its password was set before them). */
  scramSha256: string | null;
}

export interface AccountOptions {
  password: string;
  enabled?: boolean;
  quotaBytes?: number;
  quotaMessages?: number;
  services?: 'all' | string[];
  /** Keep the CRAM-MD5 key (default true: every advertised mechanism works for the account). */
  cramMd5?: boolean;
}

export type AccountChanges = Partial<Pick<AccountInfo, 'enabled' | 'quotaBytes' | 'quotaMessages' | 'services'>>;

/** A domain as a backup holds it (the FTP backup tree's domainRegistry.bin). */
export interface DomainBackup {
  name: string;
  enabled: boolean;
  primary: boolean;
  createdAt: number;
}

/** An account as a backup holds it (Registry.bin): settings, the password's scrypt hash, the
 * CRAM-MD5 pads (if keyed), the SCRAM-SHA-256 keys (if any), the aliases that deliver to it,
 * and its folders. */
export interface AccountBackup {
  address: string;
  enabled: boolean;
  quotaBytes: number;
  quotaMessages: number;
  services: 'all' | string[];
  cramMd5: boolean;
  passwordHash: string;
  cramMd5Pads: Uint8Array | null;
  /** store/scram.ts's text form; null or absent: none (a backup made before them). */
  scramSha256?: string | null;
  aliases: string[];
  folders: string[];
  createdAt: number;
}

/**
 * A change pushed to a subscriber (store/subscriptions.ts), sent once the change is durable
 * and applied. `at` is when that happened (epoch ms, fractional: `performance.timeOrigin +
 * performance.now()` in the store thread). 'folders': a folder was created, renamed or deleted
 * (list them again). 'resync': the subscriber fell behind and events were dropped: read the
 * folder again (events after it may repeat what that read shows; compare modseqs). 'gone': the
 * mailbox was removed; it is the subscription's last event.
 */
export type MailboxEvent =
  | { kind: 'append'; folder: string; uid: number; modseq: number; flags: string[]; size: number; internalDate: number; at: number }
  | { kind: 'flags'; folder: string; modseq: number; changed: Array<{ uid: number; flags: string[] }>; at: number }
  | { kind: 'expunge'; folder: string; modseq: number; uids: number[]; at: number }
  | { kind: 'folders'; at: number }
  | { kind: 'resync'; reason: 'overflow'; dropped: number; at: number }
  | { kind: 'gone'; reason: 'account_removed'; at: number };

export interface SubscribeOptions {
  /** Events held for a subscriber that has not taken them (default 1000, at most 10,000);
   * past it they are dropped for one 'resync' event. */
  maxQueuedEvents?: number;
}

/** What a subscription starts from: events carry modseqs above `highestModseq`. */
export interface SubscriptionStart {
  id: number;
  /** The folder watched; null: every folder of the mailbox. */
  folder: string | null;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
}
