/**
 * store/client.ts: what a service thread (pop3, imap, smtp delivery, ftpBackup…) holds to use
 * the store living in the store thread: a typed client over a MessagePort (from
 * `StoreThread.connect()`, actors/store-thread.ts). The same `MailboxApi` as in the store thread,
 * every method async. Errors come back as PosternErrors rebuilt from their code.
 *
 *   const store = new StoreClient(port);
 *   const who = await store.authenticate(login, pw, 'pop3', (h, p) => pool.run(verify…));
 *   const snap = await store.mailbox(who.address).snapshot();     // POP3's view
 *   const body = await readBody(snap.messages[0].locator);         // straight from the file
 *
 *   const sub = await store.subscribe(who.address, 'INBOX');       // pushed changes (IDLE)
 *   for await (const e of sub) …                                   // sub.close() at session end
 *
 * Password checks run where the caller says (`verify`, on its own piscina pool); an unknown
 * login is checked against DUMMY_HASH so it costs the same.
 *
 * A `Subscription` holds what the store pushed until its session takes it, and acknowledges
 * each batch once taken, so the store (store/subscriptions.ts) never has more than two batches
 * in this thread per subscription; a session that does not keep up gets a 'resync' event.
 *
 * Exports: `StoreClient`, `Subscription`, `readBody` and `BodyReader` (re-exported from bodies.ts). Rejects: the store's codes,
 * ACTOR_TIMEOUT (no reply in `timeoutMs`), STORE_CLOSED (the client or port was closed).
 */
import { PosternError } from '../errors.ts';
import { RpcClient, type PortLike } from '../actor/rpc.ts';
import { DUMMY_HASH, type AccountInfo, type AuthInfo, type DomainInfo, type VerifyPassword } from './directory.ts';
import type { DkimKey } from './dkim.ts';
import type { DirectoryMethod, MailboxMethod, QueueMethod, StoreCall, StoreNote, StorePush } from './protocol.ts';
import type {
  AccountBackup, AppendOptions, AppendResult, CopyResult, CreateFolderOptions, DomainBackup, ExpungeOptions, ExpungeResult, FlagMode, FlagsResult, FolderInfo, ListOptions,
  MailboxApi, MailboxEvent, MessageMeta, QuotaInfo, SearchIndexView, Snapshot, SnapshotOptions, StructureEntry, SubscribeOptions, SubscriptionStart, VanishedResult,
} from './types.ts';

export { readBody, BodyReader } from './bodies.ts';

type Req = StoreCall;

/** A watch on a mailbox's changes (StoreClient.subscribe): take events with `next()` or
 * `for await`; `close()` when the session ends. */
export class Subscription implements AsyncIterableIterator<MailboxEvent> {
  readonly start: SubscriptionStart;
  private readonly ack: () => void;
  private readonly onClose: () => void;
  private readonly batches: MailboxEvent[][] = [];
  private taken = 0; // of batches[0]
  private waiter: ((r: IteratorResult<MailboxEvent>) => void) | null = null;
  private closed = false;
  private last = false; // a 'gone' event was received: nothing follows it

  constructor(start: SubscriptionStart, ack: () => void, onClose: () => void) {
    this.start = start;
    this.ack = ack;
    this.onClose = onClose;
  }

  /** A batch from the store (StoreClient only). */
  deliver(events: MailboxEvent[]): void {
    if (this.closed) return;
    if (events.length === 0) {
      this.ack();
      return;
    }
    this.batches.push(events);
    if (events[events.length - 1]!.kind === 'gone') this.last = true; // the store has closed it
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w({ value: this.take()!, done: false });
    }
  }

  private take(): MailboxEvent | undefined {
    const b = this.batches[0];
    if (b === undefined) return undefined;
    const e = b[this.taken++]!;
    if (this.taken >= b.length) {
      this.batches.shift();
      this.taken = 0;
      this.ack();
    }
    return e;
  }

  /** The next event, waiting for one; done once closed. */
  next(): Promise<IteratorResult<MailboxEvent>> {
    const e = this.take();
    if (e !== undefined) return Promise.resolve({ value: e, done: false });
    if (this.last) this.close();
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    this.waiter?.({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** Events received and not yet taken. */
  get buffered(): number {
    let n = 0;
    for (const b of this.batches) n += b.length;
    return n - this.taken;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stop watching (idempotent); a pending `next()` resolves done. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.batches.length = 0;
    const w = this.waiter;
    this.waiter = null;
    w?.({ value: undefined, done: true });
    this.onClose();
  }

  return(): Promise<IteratorResult<MailboxEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export class StoreClient {
  private readonly rpc: RpcClient<StoreCall | StoreNote, StorePush>;
  private closed = false;
  private readonly subs = new Map<number, Subscription>();
  /** Events of a subscription whose reply has not arrived yet (at most two batches each). */
  private readonly early = new Map<number, MailboxEvent[][]>();
  private subscribing = 0; // subscribe calls in flight
  private readonly gone = new Set<number>(); // closed, their unsubscribe not yet answered
  private readonly onPush = (r: StorePush): void => {
    const sub = this.subs.get(r.sub);
    if (sub !== undefined) sub.deliver(r.events);
    else if (this.subscribing > 0 && !this.gone.has(r.sub)) this.early.set(r.sub, [...(this.early.get(r.sub) ?? []), r.events]);
  };

  /** Over `port` (actor/rpc.ts); when the port closes (the store thread ended) the client is
   * closed: calls in flight reject STORE_CLOSED, subscriptions end. */
  constructor(port: PortLike, opts: { timeoutMs?: number } = {}) {
    this.rpc = new RpcClient<StoreCall | StoreNote, StorePush>(port, {
      name: 'store',
      timeoutMs: opts.timeoutMs ?? 30_000,
      closedCode: 'STORE_CLOSED',
      flat: true,
      onPush: this.onPush,
      onPortClose: () => this.close(),
    });
  }

  /** One request; `transfer` lists ArrayBuffers to move, not copy (the caller gives them up). */
  call(req: Req, transfer?: ArrayBuffer[], timeoutMs?: number): Promise<unknown> {
    return this.rpc.call(req, timeoutMs, transfer);
  }

  /** Watch `folder` of `address`'s mailbox (null: every folder) for changes. */
  async subscribe(address: string, folder: string | null = 'INBOX', opts: SubscribeOptions = {}): Promise<Subscription> {
    let start: SubscriptionStart;
    this.subscribing++;
    try {
      start = (await this.call({ t: 'sub', method: 'subscribe', account: address, folder, opts })) as SubscriptionStart;
    } catch (e) {
      if (--this.subscribing === 0) this.early.clear();
      throw e;
    }
    const id = start.id;
    const early = this.early.get(id) ?? [];
    this.early.delete(id);
    if (--this.subscribing === 0) this.early.clear();
    const sub = new Subscription(
      start,
      () => {
        if (!this.closed) this.rpc.notify({ t: 'subAck', sub: id });
      },
      () => {
        this.subs.delete(id);
        if (this.closed) return;
        this.gone.add(id); // events already on their way are dropped
        this.call({ t: 'unsub', method: 'unsubscribe', sub: id }).catch(() => {}).finally(() => this.gone.delete(id));
      },
    );
    if (this.closed) {
      sub.close();
      return sub;
    }
    this.subs.set(id, sub);
    for (const b of early) sub.deliver(b);
    return sub;
  }

  mailbox(address: string): MailboxApi {
    return new MailboxClient(this, address);
  }

  resolve(address: string): Promise<AccountInfo> {
    return this.call({ t: 'dir', method: 'resolve', args: [address] }) as Promise<AccountInfo>;
  }

  authInfo(login: string, service: string): Promise<AuthInfo> {
    return this.call({ t: 'dir', method: 'authInfo', args: [login, service] }) as Promise<AuthInfo>;
  }

  primaryDomain(): Promise<string | null> {
    return this.call({ t: 'dir', method: 'primaryDomain', args: [] }) as Promise<string | null>;
  }

  listDomains(): Promise<DomainInfo[]> {
    return this.call({ t: 'dir', method: 'listDomains', args: [] }) as Promise<DomainInfo[]>;
  }

  listAccounts(domain?: string): Promise<AccountInfo[]> {
    return this.call({ t: 'dir', method: 'listAccounts', args: domain === undefined ? [] : [domain] }) as Promise<AccountInfo[]>;
  }

  usage(address: string): Promise<{ messages: number; bytes: number }> {
    return this.call({ t: 'dir', method: 'usage', args: [address] }) as Promise<{ messages: number; bytes: number }>;
  }

  /** The server admin's password hash; null until `admin.passwd` sets one. */
  adminHash(): Promise<string | null> {
    return this.call({ t: 'dir', method: 'adminHash', args: [] }) as Promise<string | null>;
  }

  /** A local domain's DKIM key (src/store/dkim.ts), null if it has none; STORE_NO_SUCH_DOMAIN
   * for a domain that is not local. */
  dkimKey(domain: string): Promise<DkimKey | null> {
    return this.call({ t: 'dir', method: 'dkimKey', args: [domain] }) as Promise<DkimKey | null>;
  }

  /** An account as a backup holds it (src/store/backup.ts). */
  exportAccount(address: string): Promise<AccountBackup> {
    return this.call({ t: 'dir', method: 'exportAccount', args: [address] }) as Promise<AccountBackup>;
  }

  /** Create or update a domain from a backup. */
  restoreDomain(b: Partial<DomainBackup> & { name: string }): Promise<DomainInfo> {
    return this.call({ t: 'dir', method: 'restoreDomain', args: [b] }) as Promise<DomainInfo>;
  }

  /** Create or update an account (and its missing folders) from a backup. */
  restoreAccount(b: AccountBackup): Promise<{ account: AccountInfo; created: boolean; foldersCreated: string[] }> {
    return this.call({ t: 'dir', method: 'restoreAccount', args: [b] }) as Promise<{ account: AccountInfo; created: boolean; foldersCreated: string[] }>;
  }

  /** Check a login; `verify(hash, password)` runs where the caller wants. Rejects STORE_AUTH_FAILED. */
  async authenticate(login: string, password: string, service: string, verify: VerifyPassword): Promise<AccountInfo> {
    let info: AuthInfo;
    try {
      info = await this.authInfo(login, service);
    } catch (e) {
      if (e instanceof PosternError && e.code === 'STORE_AUTH_FAILED') await verify(DUMMY_HASH, password).catch(() => false);
      throw e;
    }
    if (!(await verify(info.passwordHash, password))) throw new PosternError('STORE_AUTH_FAILED', 'authentication failed', { reason: 'password' });
    return info.account;
  }

  /** Stop listening; calls in flight reject with STORE_CLOSED; the port is closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.rpc.close('store client closed');
    for (const sub of [...this.subs.values()]) sub.close();
    this.early.clear();
  }
}

class MailboxClient implements MailboxApi {
  readonly address: string;
  private readonly c: StoreClient;

  constructor(c: StoreClient, address: string) {
    this.c = c;
    this.address = address;
  }

  private mb<T>(method: MailboxMethod, ...args: unknown[]): Promise<T> {
    while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
    return this.c.call({ t: 'mb', account: this.address, method, args }) as Promise<T>;
  }

  append(folder: string, body: Uint8Array, opts?: AppendOptions): Promise<AppendResult> {
    return this.mb('append', folder, body, opts);
  }
  folders(): Promise<FolderInfo[]> {
    return this.mb('folders');
  }
  status(folder: string): Promise<FolderInfo> {
    return this.mb('status', folder);
  }
  list(folder: string, opts?: ListOptions): Promise<MessageMeta[]> {
    return this.mb('list', folder, opts);
  }
  fetch(folder: string, uid: number): Promise<{ meta: MessageMeta; body: Uint8Array }> {
    return this.mb('fetch', folder, uid);
  }
  setFlags(folder: string, uids: number[], flags: string[], mode: FlagMode, unchangedSince?: number): Promise<FlagsResult> {
    return this.mb('setFlags', folder, uids, flags, mode, unchangedSince);
  }
  expunge(folder: string, opts?: ExpungeOptions): Promise<ExpungeResult> {
    return this.mb('expunge', folder, opts);
  }
  copy(from: string, uids: number[], to: string): Promise<CopyResult> {
    return this.mb('copy', from, uids, to);
  }
  move(from: string, uids: number[], to: string): Promise<CopyResult> {
    return this.mb('move', from, uids, to);
  }
  createFolder(name: string, opts?: CreateFolderOptions): Promise<FolderInfo> {
    return this.mb('createFolder', name, opts);
  }
  renameFolder(from: string, to: string): Promise<void> {
    return this.mb('renameFolder', from, to);
  }
  deleteFolder(name: string): Promise<void> {
    return this.mb('deleteFolder', name);
  }
  snapshot(folder?: string, opts?: SnapshotOptions): Promise<Snapshot> {
    return this.mb('snapshot', folder, opts);
  }
  release(snapshotId: number): Promise<void> {
    return this.mb('release', snapshotId);
  }
  quota(): Promise<QuotaInfo> {
    return this.mb('quota');
  }
  fetchStructure(folder: string, uids: number[]): Promise<StructureEntry[]> {
    return this.mb('fetchStructure', folder, uids);
  }
  appendMany(folder: string, messages: Array<{ body: Uint8Array; opts?: AppendOptions }>): Promise<AppendResult[]> {
    return this.mb('appendMany', folder, messages);
  }
  subscriptions(): Promise<string[]> {
    return this.mb('subscriptions');
  }
  setSubscribed(name: string, on: boolean): Promise<void> {
    return this.mb('setSubscribed', name, on);
  }
  vanished(folder: string, sinceModseq: number): Promise<VanishedResult> {
    return this.mb('vanished', folder, sinceModseq);
  }
  claimRecent(folder: string): Promise<number> {
    return this.mb('claimRecent', folder);
  }
  searchIndex(folder: string): Promise<SearchIndexView> {
    return this.mb('searchIndex', folder);
  }
}
