/**
 * store/mailbox.ts: the typed API of one account's mailbox (`MailboxApi`), in the store's thread.
 *
 * Changes go to the account's mailbox actor (kind 'mailbox', started on first use, see
 * changes.ts); reads (folders, status, list, fetch, snapshot, quota) read the applied index
 * directly, which only ever holds durable state, and bodies are read in place with their
 * segment pinned, so readers never wait for writers. A snapshot pins the segments of the
 * bodies it lists until released (or until its owner, e.g. a client port, goes away).
 *
 * `subscribe(folder, sink)` (not part of `MailboxApi`: a sink is a function) opens a feed of
 * the mailbox's changes (subscriptions.ts), registered in the same turn as the folder's state
 * it returns is read, so no change falls between the two.
 *
 * `fetchStructure(folder, uids)` reads each message's MIME structure from its record (one small
 * read just before the body; store/structure.ts); a message stored before structures were is
 * parsed from its body on first request and kept in the store's bounded cache.
 *
 * For IMAP: `folders`/`status` give each folder's RFC 6154 special use; `subscriptions` and
 * `vanished` (RFC 7162 expunge history) read the index; `setSubscribed`, `claimRecent` (the
 * \Recent floor, moved atomically in the actor) and `appendMany` (RFC 3502, all or nothing,
 * one group commit) go through the actor.
 *
 * Exports: `Mailbox`, `MailboxHost` (what the Store provides), `SnapshotRegistry`.
 * Rejects: the codes of changes.ts, STORE_NO_SUCH_MESSAGE (fetch), STORE_LOCKED (an exclusive
 * snapshot of a folder another exclusive snapshot holds), STORE_BAD_ARGUMENT (vanished: a bad
 * modseq), STORE_CORRUPT (a body whose
 * crc32 does not match), ACTOR_BUSY (the actor's queue is full), ACTOR_TIMEOUT, STORE_CLOSED.
 */
import { PosternError } from '../errors.ts';
import { FLAG_DELETED, FLAG_SEEN, INBOX, bitsToFlags } from './names.ts';
import { findMsg, vanishedSince, type Folder, type Msg } from './state.ts';
import type { Actor } from '../actor/actor.ts';
import { Failed, type MailboxCore, type MailboxMsg, type MailboxReply } from './changes.ts';
import type { Shard } from './shard.ts';
import type { AccountInfo } from './directory.ts';
import type { Feed, FeedSink, Feeds } from './subscriptions.ts';
import { readRange } from './bodies.ts';
import { searchIndexOf } from './search-index.ts';
import { decodeStructure, parseStructure, type MessageStructure, type StructureCache } from './structure.ts';
import type {
  AppendOptions, AppendResult, CopyResult, CreateFolderOptions, ExpungeOptions, ExpungeResult, FlagMode, FlagsResult, FolderInfo, ListOptions,
  MailboxApi, MessageMeta, QuotaInfo, SearchIndexView, Snapshot, SnapshotOptions, StructureEntry, SubscribeOptions, SubscriptionStart, VanishedResult,
} from './types.ts';

export interface MailboxHost {
  /** The account's running mailbox actor and its core (started, a new mailbox's default folders made, on first use). */
  openMailbox(account: AccountInfo): Promise<{ actor: Actor<MailboxMsg, MailboxReply>; core: MailboxCore }>;
  /** The account's mailbox actor if it is running (no account lookup): every call's fast path. */
  running(accountId: number): { actor: Actor<MailboxMsg, MailboxReply>; core: MailboxCore } | undefined;
  account(id: number): AccountInfo;
  readonly snapshots: SnapshotRegistry;
  readonly feeds: Feeds;
  /** Structures the store parsed itself, and the cache of old messages' (structure.ts). */
  readonly structures: StructureCache;
  readonly askTimeoutMs: number;
}

/** Open snapshots, the segments each one pins, and the exclusive ones' locks. */
export class SnapshotRegistry {
  private next = 1;
  private readonly open = new Map<number, { shard: Shard; segs: number[]; owner: string | undefined; lock: string | undefined }>();
  private readonly locks = new Map<string, number>(); // lock key → snapshot id

  /** Throws STORE_LOCKED when `lock` is given and held by another open snapshot. */
  add(shard: Shard, segs: number[], owner: string | undefined, lock?: string): number {
    if (lock !== undefined && this.locks.has(lock)) throw new PosternError('STORE_LOCKED', 'the folder is locked by another session', { lock });
    const id = this.next++;
    shard.pin(segs);
    this.open.set(id, { shard, segs, owner, lock });
    if (lock !== undefined) this.locks.set(lock, id);
    return id;
  }

  release(id: number): boolean {
    const s = this.open.get(id);
    if (s === undefined) return false;
    this.open.delete(id);
    if (s.lock !== undefined && this.locks.get(s.lock) === id) this.locks.delete(s.lock);
    s.shard.unpin(s.segs);
    return true;
  }

  releaseOwner(owner: string): number {
    let n = 0;
    for (const [id, s] of this.open) if (s.owner === owner && this.release(id)) n++;
    return n;
  }

  locked(lock: string): boolean {
    return this.locks.has(lock);
  }

  releaseAll(): void {
    for (const id of [...this.open.keys()]) this.release(id);
  }

  get size(): number {
    return this.open.size;
  }
}

function folderInfo(f: Folder): FolderInfo {
  let unseen = 0;
  let deleted = 0;
  let recent = 0;
  for (const m of f.msgs) {
    if ((m.fl & FLAG_SEEN) === 0) unseen++;
    if ((m.fl & FLAG_DELETED) !== 0) deleted++;
    if (m.uid >= f.recent) recent++;
  }
  return { name: f.name, specialUse: f.use ?? null, uidValidity: f.uidValidity, uidNext: f.uidNext, highestModseq: f.highestModseq, messages: f.msgs.length, unseen, deleted, bytes: f.bytes, recent };
}

export class Mailbox implements MailboxApi {
  readonly address: string;
  private readonly host: MailboxHost;
  private readonly accountId: number;
  private readonly owner: string | undefined;

  constructor(host: MailboxHost, account: AccountInfo, owner?: string) {
    this.host = host;
    this.address = account.address;
    this.accountId = account.id;
    this.owner = owner;
  }

  private opened(): Promise<{ actor: Actor<MailboxMsg, MailboxReply>; core: MailboxCore }> {
    const o = this.host.running(this.accountId);
    return o !== undefined ? Promise.resolve(o) : this.host.openMailbox(this.host.account(this.accountId));
  }

  private async change(m: MailboxMsg): Promise<MailboxReply> {
    const { actor } = await this.opened();
    const r = await actor.ask(m, this.host.askTimeoutMs);
    if (r instanceof Failed) throw r.error;
    return r;
  }

  private meta(core: MailboxCore, m: Msg): MessageMeta {
    return { uid: m.uid, modseq: m.modseq, flags: bitsToFlags(m.fl, m.kw ?? undefined), internalDate: m.date, size: m.len, locator: core.shard.locator(m) };
  }

  async append(folder: string, body: Uint8Array, opts: AppendOptions = {}): Promise<AppendResult> {
    const r = (await this.change({ op: 'append', folder, body, opts })) as { done: Promise<AppendResult> };
    return r.done;
  }

  async folders(): Promise<FolderInfo[]> {
    const { core } = await this.opened();
    return [...core.mb().folders.values()].map(folderInfo).sort((a, b) => (a.name === INBOX ? -1 : b.name === INBOX ? 1 : a.name < b.name ? -1 : 1));
  }

  async status(folder: string): Promise<FolderInfo> {
    const { core } = await this.opened();
    return folderInfo(core.folder(folder));
  }

  async list(folder: string, opts: ListOptions = {}): Promise<MessageMeta[]> {
    const { core } = await this.opened();
    const f = core.folder(folder);
    const only = opts.uids === undefined ? null : new Set(opts.uids);
    const out: MessageMeta[] = [];
    for (const m of f.msgs) {
      if (opts.sinceUid !== undefined && m.uid < opts.sinceUid) continue;
      if (opts.changedSince !== undefined && m.modseq <= opts.changedSince) continue;
      if (only !== null && !only.has(m.uid)) continue;
      out.push(this.meta(core, m));
    }
    return out;
  }

  async fetch(folder: string, uid: number): Promise<{ meta: MessageMeta; body: Uint8Array }> {
    const { core } = await this.opened();
    const f = core.folder(folder);
    const m = findMsg(f, uid);
    if (m === undefined) throw new PosternError('STORE_NO_SUCH_MESSAGE', `no message with uid ${uid} in "${f.name}"`, { folder: f.name, uid });
    const meta = this.meta(core, m);
    const body = await core.shard.read(m);
    return { meta, body };
  }

  async setFlags(folder: string, uids: number[], flags: string[], mode: FlagMode, unchangedSince?: number): Promise<FlagsResult> {
    return (await this.change({ op: 'flags', folder, uids, flags, mode, unchangedSince })) as FlagsResult;
  }

  async expunge(folder: string, opts: ExpungeOptions = {}): Promise<ExpungeResult> {
    return (await this.change({ op: 'expunge', folder, opts })) as ExpungeResult;
  }

  async copy(from: string, uids: number[], to: string): Promise<CopyResult> {
    return (await this.change({ op: 'copy', from, uids, to, move: false })) as CopyResult;
  }

  async move(from: string, uids: number[], to: string): Promise<CopyResult> {
    return (await this.change({ op: 'copy', from, uids, to, move: true })) as CopyResult;
  }

  async createFolder(name: string, opts: CreateFolderOptions = {}): Promise<FolderInfo> {
    const n = (await this.change({ op: 'create', name, use: opts?.specialUse ?? null })) as string;
    return this.status(n);
  }

  async renameFolder(from: string, to: string): Promise<void> {
    await this.change({ op: 'rename', from, to });
  }

  async deleteFolder(name: string): Promise<void> {
    await this.change({ op: 'delete', name });
  }

  async snapshot(folder: string = INBOX, opts: SnapshotOptions = {}): Promise<Snapshot> {
    const { core } = await this.opened();
    const f = core.folder(folder);
    const lock = opts.exclusive === true ? `${this.accountId}/${f.name}` : undefined;
    if (lock !== undefined && this.host.snapshots.locked(lock)) throw new PosternError('STORE_LOCKED', `"${f.name}" is locked by another session`, { folder: f.name });
    const segs = new Set<number>();
    let bytes = 0;
    const messages = f.msgs.map((m) => {
      segs.add(m.seg);
      bytes += m.len;
      return { uid: m.uid, size: m.len, flags: bitsToFlags(m.fl, m.kw ?? undefined), internalDate: m.date, locator: core.shard.locator(m) };
    });
    const id = this.host.snapshots.add(core.shard, [...segs], this.owner, lock);
    return { id, folder: f.name, uidValidity: f.uidValidity, uidNext: f.uidNext, bytes, messages };
  }

  async release(snapshotId: number): Promise<void> {
    this.host.snapshots.release(snapshotId);
  }

  /** Watch `folder` (null: every folder) for changes; close the feed to stop. */
  async subscribe(folder: string | null, sink: FeedSink, opts: SubscribeOptions = {}): Promise<{ start: SubscriptionStart; feed: Feed }> {
    const { core } = await this.opened();
    // synchronous from here: no change is applied between reading the state and registering
    if (folder === null) {
      let highestModseq = 0;
      for (const f of core.mb().folders.values()) highestModseq = Math.max(highestModseq, f.highestModseq);
      const feed = this.host.feeds.open(this.accountId, null, sink, opts.maxQueuedEvents);
      return { feed, start: { id: feed.id, folder: null, uidValidity: 0, uidNext: 0, highestModseq } };
    }
    const f = core.folder(folder);
    const feed = this.host.feeds.open(this.accountId, f.id, sink, opts.maxQueuedEvents);
    return { feed, start: { id: feed.id, folder: f.name, uidValidity: f.uidValidity, uidNext: f.uidNext, highestModseq: f.highestModseq } };
  }

  async fetchStructure(folder: string, uids: number[]): Promise<StructureEntry[]> {
    const { core } = await this.opened();
    const f = core.folder(folder);
    if (!Array.isArray(uids)) throw new PosternError('STORE_BAD_ARGUMENT', 'uids must be an array');
    const msgs: Msg[] = [];
    for (const uid of [...new Set(uids)].sort((a, b) => a - b)) {
      const m = typeof uid === 'number' ? findMsg(f, uid) : undefined;
      if (m !== undefined) msgs.push(m);
    }
    const shard = core.shard;
    const segs = [...new Set(msgs.map((m) => m.seg))];
    shard.pin(segs); // read in place: no compaction removes them meanwhile
    try {
      return await Promise.all(msgs.map(async (m) => ({ uid: m.uid, structure: await this.structureOf(core, m) })));
    } finally {
      shard.unpin(segs);
    }
  }

  /** Stored with the body (one read of its bytes), else parsed from the body once and cached. */
  private async structureOf(core: MailboxCore, m: Msg): Promise<MessageStructure> {
    const cache = this.host.structures;
    if (m.sl > 0) {
      const s = decodeStructure(await readRange(core.shard.pathOf(m.seg), m.off - m.sl, m.sl));
      if (s !== null && s.size === m.len) {
        cache.counters.readStored++;
        return s;
      }
    }
    const key = `${core.shard.id}:${m.seg}:${m.off}:${m.crc}`;
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const s = parseStructure(await core.shard.read(m));
    cache.counters.parsedOnRead++;
    cache.set(key, s);
    return s;
  }

  async appendMany(folder: string, messages: Array<{ body: Uint8Array; opts?: AppendOptions }>): Promise<AppendResult[]> {
    const r = (await this.change({ op: 'appendMany', folder, messages })) as { done: Promise<AppendResult[]> };
    return r.done;
  }

  async subscriptions(): Promise<string[]> {
    const { core } = await this.opened();
    return [...core.mb().subs].sort((a, b) => (a === INBOX ? -1 : b === INBOX ? 1 : a < b ? -1 : a > b ? 1 : 0));
  }

  async setSubscribed(name: string, on: boolean): Promise<void> {
    await this.change({ op: 'subscribe', name, on });
  }

  async vanished(folder: string, sinceModseq: number): Promise<VanishedResult> {
    const { core } = await this.opened();
    const f = core.folder(folder);
    if (typeof sinceModseq !== 'number' || !Number.isFinite(sinceModseq) || sinceModseq < 0) throw new PosternError('STORE_BAD_ARGUMENT', 'sinceModseq must be a number ≥ 0');
    return vanishedSince(f, sinceModseq);
  }

  async claimRecent(folder: string): Promise<number> {
    return (await this.change({ op: 'recent', folder })) as number;
  }

  /** The search index's records of the folder's messages (store/search-index.ts). */
  async searchIndex(folder: string): Promise<SearchIndexView> {
    const { core } = await this.opened();
    return searchIndexOf(core.shard).view(core.folder(folder));
  }

  async quota(): Promise<QuotaInfo> {
    const { core } = await this.opened();
    const mb = core.mb();
    const a = this.host.account(this.accountId);
    return { usedBytes: mb.usedBytes, usedMessages: mb.usedCount, limitBytes: a.quotaBytes, limitMessages: a.quotaMessages };
  }
}
