/**
 * store/protocol.ts: what a service thread's `StoreClient` asks the store thread, over a
 * MessagePort, on the port-RPC (actor/rpc.ts: ids, deadlines, errors as data, cleanup when the
 * port closes), and the serving side. The calls (`StoreCall`):
 *   `{ t: 'mb', account, method, args }`    a `MailboxApi` method of `account`'s mailbox
 *   `{ t: 'dir', method, args }`            a directory call (resolve, authInfo, …, and the
 *                                           FTP backup's export/restore)
 *   `{ t: 'q', method, args }`              the mail queue (enqueue, claim, deliver,
 *                                           deliverAndClaim, release; smtpOutgoing's
 *                                           claimRelay, relayOutcome, makeDueFor; SMTP's
 *                                           deliverAtReceipt, store/local-delivery.ts)
 *   `{ t: 'sub', account, folder, opts }`   watch a folder (null: all) of a mailbox; the reply
 *                                           is its `SubscriptionStart`
 *   `{ t: 'unsub', sub }`                   stop watching
 *   `{ t: 'rpop', method, args }`           the rpop service (store/rpop.ts: schedule, lease,
 *                                           plan, deliver, finish)
 * a note (`StoreNote`, no reply): `{ t: 'subAck', sub }`, the subscriber has taken a batch;
 * and pushes (`StorePush`): `{ sub, events }`, a subscription's changes
 * (store/subscriptions.ts), in order, at most two batches unacknowledged.
 *
 * Methods come from frozen tables; a name not in them is answered STORE_BAD_ARGUMENT (a name
 * is never looked up on an object). Fetched bodies are transferred, not copied. Snapshots and
 * subscriptions taken through a port belong to it and end when the port closes.
 *
 * Exports: `MAILBOX_METHODS`, `DIRECTORY_METHODS`, `QUEUE_METHODS`, `StoreCall`, `StoreNote`,
 * `StorePush`, `serveStoreClient(store, port, owner)`. Throws nothing: every failure becomes a reply.
 */
import { PosternError } from '../errors.ts';
import { serveRpc, transferring } from '../actor/rpc.ts';
import { rpopDeliver } from './rpop-deliver.ts';
import type { MessagePort } from 'node:worker_threads';
import type { Store } from './store.ts';
import type { AccountBackup, DomainBackup, MailboxApi, MailboxEvent, SubscribeOptions } from './types.ts';
import type { Feed } from './subscriptions.ts';
import type { Mailbox } from './mailbox.ts';
import { exportAccount, restoreAccount } from './backup.ts';
import { deliver } from './queue-deliver.ts';
import { relayOutcome } from './queue-relay.ts';
import { deliverAtReceipt } from './local-delivery.ts';

export const MAILBOX_METHODS = Object.freeze([
  'append', 'folders', 'status', 'list', 'fetch', 'setFlags', 'expunge', 'copy', 'move',
  'createFolder', 'renameFolder', 'deleteFolder', 'snapshot', 'release', 'quota', 'fetchStructure',
  // IMAP (RFC 3502 MULTIAPPEND, subscriptions, RFC 7162 expunge history, RFC 3501 \Recent)
  'appendMany', 'subscriptions', 'setSubscribed', 'vanished', 'claimRecent',
  'searchIndex',
] as const);
export type MailboxMethod = (typeof MAILBOX_METHODS)[number];

export const DIRECTORY_METHODS = Object.freeze([
  'resolve', 'authInfo', 'primaryDomain', 'listDomains', 'listAccounts', 'usage',
  // the FTP backup service (src/store/backup.ts): the admin login, export and restore
  'adminHash', 'exportAccount', 'restoreDomain', 'restoreAccount',
  // smtpOutgoing: a domain's DKIM key (src/store/dkim.ts)
  'dkimKey',
] as const);
export type DirectoryMethod = (typeof DIRECTORY_METHODS)[number];

export const QUEUE_METHODS = Object.freeze(['enqueue', 'claim', 'deliver', 'deliverAndClaim', 'release', 'claimRelay', 'relayOutcome', 'makeDueFor', 'deliverAtReceipt'] as const);
export type QueueMethod = (typeof QUEUE_METHODS)[number];

/** The rpop service's calls (store/rpop.ts, store/rpop-deliver.ts). */
export const RPOP_METHODS = Object.freeze(['schedule', 'lease', 'plan', 'deliver', 'finish'] as const);
export type RpopMethod = (typeof RPOP_METHODS)[number];

export type StoreCall =
  | { t: 'mb'; account: string; method: MailboxMethod; args: unknown[] }
  | { t: 'dir'; method: DirectoryMethod; args: unknown[] }
  | { t: 'q'; method: QueueMethod; args: unknown[] }
  | { t: 'rpop'; method: RpopMethod; args: unknown[] }
  | { t: 'sub'; method: 'subscribe'; account: string; folder: string | null; opts?: SubscribeOptions }
  | { t: 'unsub'; method: 'unsubscribe'; sub: number };

/** One-way, client → store: the subscriber has taken a batch. */
export interface StoreNote {
  t: 'subAck';
  sub: number;
}

/** Pushed without a request: a subscription's events. */
export interface StorePush {
  sub: number;
  events: MailboxEvent[];
}

type Fn = (...args: any[]) => unknown;

const MB = new Set<string>(MAILBOX_METHODS);

function directoryTable(store: Store): ReadonlyMap<string, Fn> {
  const d = store.directory;
  return new Map<string, Fn>([
    ['resolve', (a: string) => d.resolve(a)],
    ['authInfo', (login: string, service: string) => d.authInfo(login, service)],
    ['primaryDomain', () => d.primaryDomain],
    ['listDomains', () => d.listDomains()],
    ['listAccounts', (domain?: string) => d.listAccounts(domain)],
    ['usage', (a: string) => store.usage(d.resolve(a))],
    ['adminHash', () => d.adminHash],
    ['dkimKey', (domain: string) => d.dkimKey(domain)],
    ['exportAccount', (a: string) => exportAccount(store, a)],
    ['restoreDomain', (b: DomainBackup) => d.restoreDomain(b)],
    ['restoreAccount', (b: AccountBackup) => restoreAccount(store, b)],
  ]);
}

/** `v` clamped to [lo, hi] when it is a number, else `d` (never `||`: a 0 stays 0). */
const clampOr = (v: unknown, lo: number, hi: number, d: number): number => (typeof v === 'number' && !Number.isNaN(v) ? Math.min(hi, Math.max(lo, v)) : d);
/** A lease of `leaseMs` (0: none, the entries may be claimed again at once); default 60 s. */
const leaseOf = (v: unknown): number => clampOr(v, 0, 86_400_000, 60_000);

function queueTable(store: Store): ReadonlyMap<string, Fn> {
  return new Map<string, Fn>([
    ['enqueue', (env: unknown, body: Uint8Array) => store.queue.enqueue(env, body)],
    ['claim', (max: number, leaseMs: number, waitMs: number) => store.queue.claim(clampOr(max, 1, 1000, 1), leaseOf(leaseMs), clampOr(waitMs, 0, 60_000, 0))],
    ['deliver', (items: unknown, policy: unknown) => deliver(store.queue, store, items, policy)],
    // one round trip per batch: deliver these, then lease the next ones (without waiting)
    ['deliverAndClaim', async (items: unknown, policy: unknown, max: number, leaseMs: number) => ({
      results: await deliver(store.queue, store, items, policy),
      claimed: await store.queue.claim(clampOr(max, 1, 1000, 1), leaseOf(leaseMs), 0),
    })],
    ['release', (items: Array<{ id: string; token: number }>) => store.queue.release(Array.isArray(items) ? items : [])],
    // smtpOutgoing (relay-types.ts, queue-relay.ts)
    ['claimRelay', (max: number, leaseMs: number, waitMs: number) => store.queue.claimRelay(clampOr(max, 1, 1000, 1), leaseOf(leaseMs), clampOr(waitMs, 0, 60_000, 0))],
    ['relayOutcome', (items: unknown, policy: unknown) => relayOutcome(store.queue, items, policy)],
    ['makeDueFor', (domain: unknown) => store.queue.makeDueFor(domain)],
    // SMTP: local mail straight to the mailboxes (local-delivery.ts), else queued
    ['deliverAtReceipt', (env: unknown, body: unknown, prepared: unknown) => deliverAtReceipt(store.queue, store, env, body, prepared)],
  ]);
}

function rpopTable(store: Store): ReadonlyMap<string, Fn> {
  const r = store.rpop;
  const addressOf = (id: number): string => store.account(id).address;
  return new Map<string, Fn>([
    ['schedule', () => r.schedule()],
    ['lease', (id: number, maxLeases?: number) => r.lease(id, clampOr(maxLeases, 1, Infinity, Infinity))],
    ['plan', (id: number, token: number, listed: string[], max: number) => r.plan(id, token, listed, clampOr(max, 1, 100_000, 1), addressOf)],
    ['deliver', (id: number, token: number, uidl: string, body: Uint8Array, maybe: boolean) => rpopDeliver(store, id, token, uidl, body, maybe === true)],
    ['finish', (id: number, token: number, report: Record<string, unknown>) => r.finish(id, token, report ?? {})],
  ]);
}

export interface ServeHandle {
  close(): void;
}

/** Answer a `StoreClient` on `port`. */
export function serveStoreClient(store: Store, port: MessagePort, owner: string): ServeHandle {
  const dir = directoryTable(store);
  const queue = queueTable(store);
  const rpop = rpopTable(store);
  const mailboxes = new Map<string, MailboxApi>(); // by the address the client used
  const feeds = new Map<number, Feed>(); // this port's subscriptions
  const subscribe = async (account: string, folder: string | null, opts: SubscribeOptions | undefined): Promise<unknown> => {
    if (typeof account !== 'string' || (folder !== null && typeof folder !== 'string')) throw new PosternError('STORE_BAD_ARGUMENT', 'sub: account and folder must be strings');
    const mb = store.mailbox(account, owner) as Mailbox;
    const { start, feed } = await mb.subscribe(folder, (events, f) => {
      if (!server.push({ sub: f.id, events })) f.close(); // the port is gone
    }, { maxQueuedEvents: typeof opts?.maxQueuedEvents === 'number' ? opts.maxQueuedEvents : undefined });
    feeds.set(feed.id, feed);
    return start;
  };
  const forget = (account: string) => (e: unknown): never => {
    if ((e as PosternError).code === 'STORE_NO_SUCH_ACCOUNT') mailboxes.delete(account);
    throw e;
  };
  const mailboxCall = (req: Extract<StoreCall, { t: 'mb' }>): unknown => {
    if (!MB.has(req.method)) throw new PosternError('STORE_BAD_ARGUMENT', `unknown mailbox method ${String(req.method)}`);
    let mb = mailboxes.get(req.account);
    if (mb === undefined) {
      mb = store.mailbox(req.account, owner);
      if (mailboxes.size > 1000) mailboxes.clear();
      mailboxes.set(req.account, mb);
    }
    const p = (mb[req.method] as Fn).apply(mb, req.args) as Promise<unknown>;
    if (req.method === 'fetch') return p.then((v) => transferring(v, [(v as { body: Uint8Array }).body.buffer as ArrayBuffer]), forget(req.account));
    return p.then(undefined, forget(req.account));
  };
  /** Sync throws and rejections alike become error replies (actor/rpc.ts); not async itself,
   * so a mailbox call's promise is answered without an extra hop. */
  const run = (req: StoreCall): unknown => {
    if (req === null || typeof req !== 'object') throw new PosternError('STORE_BAD_ARGUMENT', 'a store call is an object');
    if (req.t === 'sub') return subscribe(req.account, req.folder ?? null, req.opts);
    if (req.t === 'unsub') {
      feeds.get(req.sub)?.close();
      feeds.delete(req.sub);
      return undefined;
    }
    if (!Array.isArray(req.args)) throw new PosternError('STORE_BAD_ARGUMENT', 'args must be an array');
    if (req.t === 'dir') {
      const fn = dir.get(req.method);
      if (fn === undefined) throw new PosternError('STORE_BAD_ARGUMENT', `unknown directory method ${String(req.method)}`);
      return fn(...req.args);
    }
    if (req.t === 'q') {
      const fn = queue.get(req.method);
      if (fn === undefined) throw new PosternError('STORE_BAD_ARGUMENT', `unknown queue method ${String(req.method)}`);
      return fn(...req.args);
    }
    if (req.t === 'rpop') {
      const fn = rpop.get(req.method);
      if (fn === undefined) throw new PosternError('STORE_BAD_ARGUMENT', `unknown rpop method ${String(req.method)}`);
      return fn(...req.args);
    }
    return mailboxCall(req);
  };
  const endFeeds = (): void => {
    for (const f of feeds.values()) f.close();
    feeds.clear();
  };
  const server = serveRpc<StoreCall, StorePush, StoreNote>(port, run, {
    onNote: (n) => {
      if (n?.t === 'subAck' && typeof n.sub === 'number') feeds.get(n.sub)?.ack();
    },
    onPortClose: () => {
      store.snapshots.releaseOwner(owner);
      endFeeds();
    },
  });
  return {
    close(): void {
      server.close();
      store.snapshots.releaseOwner(owner);
      endFeeds();
      port.close();
    },
  };
}
