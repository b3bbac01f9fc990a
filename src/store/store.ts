/**
 * store/store.ts: the store host: the directory, the shards, and one mailbox actor per open
 * mailbox, in one thread (workers/store-thread.ts runs it in its own; tests and the bench run it
 * in theirs). See src/store/LAYOUT.md for the files under `<dataDir>/store/`.
 *
 *   const store = await new Store({ dataDir }).open();
 *   await store.directory.addDomain('example.org');
 *   await store.directory.addAccount('ann@example.org', { password });
 *   const mb = store.mailbox('ann');           // aliases and bare local parts resolve
 *   await mb.append('INBOX', bytes);           // resolves once durable
 *   await store.close();
 *
 * Accounts are spread over `shards` shards (each its own log, writer and group commit) when
 * created; the shard is kept in the account record. Mailbox actors stop after `mailboxIdleMs`
 * idle and start again on use. A background timer compacts shards with enough dead bytes.
 *
 * Exports: `Store`, `StoreOptions`, `StoreStats`.
 * Throws: STORE_IN_USE (the directory is open elsewhere), STORE_CORRUPT, STORE_CLOSED,
 * STORE_NO_SUCH_ACCOUNT / STORE_NO_SUCH_DOMAIN (`mailbox`), and the codes of its parts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Actor } from '../actor/actor.ts';
import { PosternError } from '../errors.ts';
import { Failed, MailboxCore, type MailboxMsg, type MailboxReply } from './changes.ts';
import { Directory, type AccountInfo, type HashPassword } from './directory.ts';
import { countingFs, syncedFs, type FsCounters, type FsLayer } from './fsio.ts';
import { hashPassword } from './password-hash.ts';
import { Mailbox, SnapshotRegistry, type MailboxHost } from './mailbox.ts';
import { Shard, type CompactResult } from './shard.ts';
import { Queue, type QueueOptions } from './queue.ts';
import { RpopStore } from './rpop.ts';
import { Feeds } from './subscriptions.ts';
import { StructureCache } from './structure.ts';
import { closeSearchIndex, searchIndexOf } from './search-index.ts';
import { TEXT_CAPS } from './search-text.ts';
import type { StoreLog } from './writer.ts';
import type { ActorInfo } from '../actor/types.ts';

export interface StoreOptions {
  /** The store lives in `<dataDir>/store/`. */
  dataDir: string;
  /** Shards for new accounts (default 4). Existing shards are always opened. */
  shards?: number;
  /** Default: fsio.ts `syncedFs` (log writes on O_DSYNC descriptors, one job per group commit). */
  fs?: FsLayer;
  log?: StoreLog;
  /** Hashes passwords for `addAccount`/`setPassword`. Default: password-hash.ts's scrypt,
   * in this thread (node's scrypt runs on the libuv pool). The store thread passes its piscina. */
  hashPassword?: HashPassword;
  maxSegmentBytes?: number; // default 64 MiB
  checkpointBytes?: number; // default 64 MiB of log between checkpoints
  compactIntervalMs?: number; // default 60 s; 0 = only on demand
  compactMinDeadBytes?: number; // default 16 MiB per shard
  mailboxIdleMs?: number; // default 60 s
  mailboxQueue?: number; // actor mailbox capacity, default 1000
  askTimeoutMs?: number; // default 30 s
  /** Structures of messages stored before structures were (parsed on first request) kept in
   * memory, most recently used (default 2000; 0: none). */
  structureCacheSize?: number;
  /** Search index (search-index.ts): body text kept per message, in characters (default 262,144); a message
   * with more is searched from its body when its capped text does not match. */
  searchTextChars?: number;
  /** The configuration's primaryDomain: created if missing and made primary at open, with its
   * postmaster account (random password, logged as created) if that is missing. */
  primaryDomain?: string;
  /** The mail queue's tuning (src/store/queue.ts). */
  queue?: Omit<QueueOptions, 'dir' | 'fs' | 'log'>;
}

export interface StoreStats {
  shards: number;
  segments: number;
  openMailboxes: number;
  snapshots: number;
  /** Open subscriptions to mailbox changes. */
  subscriptions: number;
  pinnedSegments: number;
  deadBytes: number;
  /** MIME structures: given by the appender, parsed by the store at append, parsed on a read
   * (old messages), read from the records. */
  structures: { given: number; parsedOnAppend: number; parsedOnRead: number; readStored: number };
  batches: number;
  records: number;
  fs: FsCounters;
}

const OPEN_DIRS = new Set<string>(); // in this thread
const NOLOG: StoreLog = { info() {}, warn() {}, error() {} };

const defaultHash: HashPassword = (password) => hashPassword({ password });

interface Open {
  actor: Actor<MailboxMsg, MailboxReply>;
  core: MailboxCore;
  lastUsed: number;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Store implements MailboxHost {
  readonly dir: string;
  readonly directory: Directory;
  readonly snapshots = new SnapshotRegistry();
  readonly askTimeoutMs: number;
  private readonly o: StoreOptions;
  private readonly fsl: FsLayer;
  private readonly counters: FsCounters;
  private readonly log: StoreLog;
  private shards: Shard[] = [];
  private readonly actors = new Map<number, Open | Promise<Open>>();
  /** MailboxHost: the subscriptions to mailbox changes (subscriptions.ts). */
  readonly feeds = new Feeds();
  /** MailboxHost: structures parsed here, and old messages' cached ones (structure.ts). */
  readonly structures: StructureCache;
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  private timers: NodeJS.Timeout[] = [];
  private q: Queue | null = null;
  /** The accounts' remote POP3 connections (store/rpop.ts). */
  readonly rpop: RpopStore;

  constructor(o: StoreOptions) {
    this.o = o;
    this.dir = path.resolve(o.dataDir, 'store');
    const c = countingFs(o.fs ?? syncedFs);
    this.fsl = c.fs;
    this.counters = c.counters;
    this.log = o.log ?? NOLOG;
    this.askTimeoutMs = o.askTimeoutMs ?? 30_000;
    this.structures = new StructureCache(o.structureCacheSize ?? 2000);
    this.directory = new Directory({
      file: path.join(this.dir, 'directory.mpk'),
      fs: this.fsl,
      hashPassword: o.hashPassword ?? defaultHash,
      shards: Math.max(1, o.shards ?? 4),
      onRemove: (a) => this.dropAccount(a),
    });
    this.rpop = new RpopStore({ dir: this.dir, fs: this.fsl });
  }

  async open(): Promise<this> {
    if (this.state !== 'new') throw new PosternError('STORE_CLOSED', 'a Store opens once');
    fs.mkdirSync(path.join(this.dir, 'shards'), { recursive: true, mode: 0o700 });
    this.lock();
    try {
      this.directory.load();
      const want = Math.max(1, this.o.shards ?? 4);
      const existing = fs.readdirSync(path.join(this.dir, 'shards')).filter((n) => /^\d+$/.test(n)).map(Number);
      const maxAccountShard = Math.max(-1, ...this.directory.listAccounts().map((a) => a.shard));
      const n = Math.max(want, maxAccountShard + 1, ...existing.map((x) => x + 1));
      this.shards = await Promise.all(Array.from({ length: n }, (_, id) => Shard.open({
        id,
        dir: path.join(this.dir, 'shards', String(id)),
        fs: this.fsl,
        maxSegmentBytes: this.o.maxSegmentBytes ?? 64 << 20,
        checkpointBytes: this.o.checkpointBytes ?? 64 << 20,
        log: this.log,
        accountExists: (a) => this.directory.hasAccountId(a),
      })));
      // each shard's search index: read back (or rebuilt) in the background from here
      for (const s of this.shards) searchIndexOf(s, { ...TEXT_CAPS, bodyChars: Math.max(1024, this.o.searchTextChars ?? TEXT_CAPS.bodyChars) });
      this.rpop.load((id) => this.directory.hasAccountId(id));
      this.q = await Queue.open({ ...this.o.queue, dir: path.join(this.dir, 'queue'), fs: this.fsl, log: this.log });
    } catch (e) {
      for (const s of this.shards) closeSearchIndex(s);
      await Promise.all(this.shards.map((s) => s.close().catch(() => {})));
      this.unlock();
      throw e;
    }
    this.state = 'open';
    const primary = this.o.primaryDomain;
    if (primary !== undefined && primary !== '' && this.directory.primaryDomain !== primary.toLowerCase()) {
      const exists = this.directory.listDomains().some((d) => d.name === primary.toLowerCase());
      if (exists) await this.directory.setDomain(primary, { primary: true });
      else await this.directory.addDomain(primary, { primary: true });
    }
    // RFC 5321 §4.5.1: <postmaster> is the primary domain's postmaster, and it must exist
    if (primary !== undefined && primary !== '' && await this.directory.ensurePostmaster(primary)) {
      const pm = `postmaster@${primary.toLowerCase()}`;
      this.log.info({ account: pm }, `store: created ${pm} (RFC 5321 postmaster) with a random password; set one with: postern ctl account passwd ${pm} --password PW`);
    }
    const every = this.o.compactIntervalMs ?? 60_000;
    if (every > 0) this.timers.push(setInterval(() => this.background(), every));
    this.timers.push(setInterval(() => this.sweep(), Math.min(this.o.mailboxIdleMs ?? 60_000, 10_000)));
    for (const t of this.timers) t.unref();
    this.log.info({ dir: this.dir, shards: this.shards.length, accounts: this.directory.listAccounts().length }, 'store open');
    return this;
  }

  private lock(): void {
    if (OPEN_DIRS.has(this.dir)) throw new PosternError('STORE_IN_USE', `store ${this.dir} is already open in this thread`);
    const file = path.join(this.dir, 'LOCK');
    try {
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new PosternError('STORE_IN_USE', `store ${this.dir} is in use by process ${pid}`, { pid });
      }
    } catch (e) {
      if (e instanceof PosternError) throw e;
    }
    fs.writeFileSync(file, `${process.pid}\n`);
    OPEN_DIRS.add(this.dir);
  }

  private unlock(): void {
    OPEN_DIRS.delete(this.dir);
    fs.rmSync(path.join(this.dir, 'LOCK'), { force: true });
  }

  private check(): void {
    if (this.state !== 'open') throw new PosternError('STORE_CLOSED', 'the store is not open');
  }

  /** The mail queue (src/store/queue.ts). */
  get queue(): Queue {
    this.check();
    return this.q!;
  }

  /** The mailbox an address (alias, bare local part) delivers to. `owner` tags its snapshots. */
  mailbox(address: string, owner?: string): Mailbox {
    this.check();
    return new Mailbox(this, this.directory.resolve(address), owner);
  }

  account(id: number): AccountInfo {
    this.check();
    const a = this.directory.accountById(id);
    if (a === undefined) throw new PosternError('STORE_NO_SUCH_ACCOUNT', `account ${id} was removed`);
    return a;
  }

  /** MailboxHost: the account's actor if it is running (its account exists: a removed
   * account's actor is dropped with it). */
  running(accountId: number): Open | undefined {
    if (this.state !== 'open') return undefined;
    const o = this.actors.get(accountId);
    if (o === undefined || o instanceof Promise || o.actor.state !== 'running') return undefined;
    o.lastUsed = Date.now();
    return o;
  }

  /** MailboxHost: the account's running actor, started (and a new mailbox's default folders made) on first use. */
  async openMailbox(account: AccountInfo): Promise<{ actor: Actor<MailboxMsg, MailboxReply>; core: MailboxCore }> {
    this.check();
    const cur = this.actors.get(account.id);
    if (cur !== undefined) {
      const o = await cur;
      if (o.actor.state === 'running') {
        o.lastUsed = Date.now();
        return o;
      }
    }
    const starting = this.startActor(account);
    this.actors.set(account.id, starting);
    try {
      const o = await starting;
      this.actors.set(account.id, o);
      return o;
    } catch (e) {
      this.actors.delete(account.id);
      throw e;
    }
  }

  private async startActor(account: AccountInfo): Promise<Open> {
    const shard = this.shards[account.shard];
    if (shard === undefined) throw new PosternError('STORE_CORRUPT', `account ${account.address} is on missing shard ${account.shard}`);
    const core = new MailboxCore(account.id, shard, () => this.directory.limitsOf(account.id), this.feeds, this.structures);
    const actor = await Actor.start<MailboxMsg, MailboxReply>({
      id: `mailbox:${account.address}`,
      kind: 'mailbox',
      mailboxSize: this.o.mailboxQueue ?? 1000,
      handler: (m) => core.handle(m),
      init: async () => {
        const r = await core.handle({ op: 'init' });
        if (r instanceof Failed) throw r.error;
      },
      extra: () => ({ account: account.address, shard: shard.id, pendingAppends: core.pending }),
    });
    return { actor, core, lastUsed: Date.now() };
  }

  private dropAccount(a: AccountInfo): void {
    const cur = this.actors.get(a.id);
    this.actors.delete(a.id);
    if (cur !== undefined) void Promise.resolve(cur).then((o) => o.actor.stop(), () => {});
    this.feeds.closeAccount(a.id);
    this.shards[a.shard]?.state.drop(a.id);
    this.rpop.dropAccount(a.id).catch((e: unknown) => this.log.error({ err: e, account: a.address }, 'store: could not drop the account\'s rpop connections'));
    this.log.info({ account: a.address, id: a.id }, 'store: account removed; its mail is reclaimed by compaction');
  }

  /** An account's usage, from the index (no actor started). */
  usage(a: AccountInfo): { messages: number; bytes: number } {
    const mb = this.shards[a.shard]?.state.mailboxes.get(a.id);
    return { messages: mb?.usedCount ?? 0, bytes: mb?.usedBytes ?? 0 };
  }

  /** Stop mailbox actors idle for mailboxIdleMs (their index stays in memory). */
  private sweep(): void {
    const idle = this.o.mailboxIdleMs ?? 60_000;
    const now = Date.now();
    for (const [id, o] of this.actors) {
      if (o instanceof Promise) continue;
      if (now - o.lastUsed >= idle && o.actor.depth === 0 && o.core.pending === 0) {
        this.actors.delete(id);
        void o.actor.stop();
      }
    }
  }

  private background(): void {
    const min = this.o.compactMinDeadBytes ?? 16 << 20;
    for (const s of this.shards) {
      if (s.state.deadBytes >= min) {
        s.compact(false).catch((e: unknown) => this.log.error({ shard: s.id, err: e }, 'store: background compaction failed'));
      }
    }
  }

  /** Compact every shard now (`force`: any segment with a dead byte; default true). */
  async compact(opts: { force?: boolean } = {}): Promise<CompactResult> {
    this.check();
    const rs = await Promise.all(this.shards.map((s) => s.compact(opts.force ?? true)));
    return rs.reduce((a, r) => ({ segmentsRemoved: a.segmentsRemoved + r.segmentsRemoved, bytesCopied: a.bytesCopied + r.bytesCopied, bytesFreed: a.bytesFreed + r.bytesFreed }), { segmentsRemoved: 0, bytesCopied: 0, bytesFreed: 0 });
  }

  async checkpoint(): Promise<void> {
    this.check();
    await Promise.all(this.shards.map((s) => s.checkpoint()));
  }

  stats(): StoreStats {
    const out: StoreStats = { shards: this.shards.length, segments: 0, openMailboxes: this.actors.size, snapshots: this.snapshots.size, subscriptions: this.feeds.size, pinnedSegments: 0, deadBytes: 0, structures: { ...this.structures.counters }, batches: 0, records: 0, fs: { ...this.counters } };
    for (const s of this.shards) {
      const x = s.stats();
      out.segments += x.segments;
      out.pinnedSegments += x.pinned;
      out.deadBytes += x.deadBytes;
      out.batches += x.batches;
      out.records += x.records;
    }
    return out;
  }

  /** The store and its mailbox actors, for the supervision tree. */
  info(): ActorInfo {
    const children: ActorInfo[] = [];
    for (const o of this.actors.values()) if (!(o instanceof Promise)) children.push(o.actor.info());
    const st = this.state === 'open' ? 'running' : this.state === 'new' ? 'starting' : this.state === 'closing' ? 'stopping' : 'stopped';
    return { id: 'store', kind: 'store', state: st, mailboxDepth: 0, mailboxCapacity: 0, restarts: 0, extra: { ...this.stats(), queue: this.q?.stats() ?? null }, children };
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    for (const t of this.timers) clearInterval(t);
    await this.q?.close().catch((e: unknown) => this.log.error({ err: e }, 'queue close failed'));
    await this.rpop.close();
    const opened = [...this.actors.values()];
    this.actors.clear();
    await Promise.all(opened.map(async (o) => (await Promise.resolve(o).catch(() => null))?.actor.stop()));
    this.snapshots.releaseAll();
    for (const s of this.shards) closeSearchIndex(s);
    await Promise.all(this.shards.map((s) => s.close()));
    this.unlock();
    this.state = 'closed';
    this.log.info({ dir: this.dir }, 'store closed');
  }
}
