/**
 * store/subscriptions.ts: pushing mailbox changes to the sessions that watch them (IMAP IDLE,
 * WebMail live updates), in the store thread.
 *
 * Mailbox actors (changes.ts) `publish` each change from the callback that applies it once its
 * record is durable, so an event never runs ahead of what a read would show. `Feeds` hands it
 * to every `Feed` of that account (one folder, or all of them). A feed queues events and hands
 * them to its sink in batches (one per microtask checkpoint: the appends of one group commit
 * travel together), with at most WINDOW batches unacknowledged: the sink's consumer (a
 * `StoreClient` subscription in a connection thread) acknowledges a batch once its session has
 * taken it, so a slow session holds at most WINDOW batches there and the rest waits here.
 *
 * Bounded: a feed holds at most `maxQueuedEvents` events; past that its queue is replaced by
 * one 'resync' event (with the count dropped), and events after it queue again. A feed is
 * closed by its subscriber, or with every feed of its port when the port closes; when its
 * account is removed it sends a last 'gone' event and closes.
 *
 * Exports: `Feeds`, `Feed`, `FeedSink`, `eventTime()`. Throws nothing (a sink that throws closes its feed).
 */
import type { MailboxEvent } from './types.ts';

const DEFAULT_MAX_QUEUED_EVENTS = 1000;
const MAX_QUEUED_EVENTS = 10_000;
/** Batches handed to a sink and not yet acknowledged. */
const WINDOW = 2;

/** The wall-clock time with sub-millisecond precision, comparable across threads. */
export function eventTime(): number {
  return performance.timeOrigin + performance.now();
}

export type FeedSink = (events: MailboxEvent[], feed: Feed) => void;

export class Feed {
  readonly id: number;
  readonly accountId: number;
  /** The folder watched (its id: the watch follows a rename); null: all of them. */
  readonly folderId: number | null;
  private readonly sink: FeedSink;
  private readonly maxQueued: number;
  private readonly onClose: (f: Feed) => void;
  private queue: MailboxEvent[] = [];
  private inFlight = 0;
  private scheduled = false;
  private closed = false;
  private ending = false; // close once the queue is handed over

  constructor(id: number, accountId: number, folderId: number | null, sink: FeedSink, maxQueued: number, onClose: (f: Feed) => void) {
    this.id = id;
    this.accountId = accountId;
    this.folderId = folderId;
    this.sink = sink;
    this.maxQueued = maxQueued;
    this.onClose = onClose;
  }

  push(e: MailboxEvent): void {
    if (this.closed || this.ending) return;
    if (this.queue.length >= this.maxQueued) {
      const head = this.queue[0];
      // one 'resync' stands for everything dropped since the last one was taken
      const carried = head?.kind === 'resync' ? head.dropped : 0;
      const n = this.queue.length - (head?.kind === 'resync' ? 1 : 0) + 1;
      this.queue = [{ kind: 'resync', reason: 'overflow', dropped: carried + n, at: e.at }];
    } else this.queue.push(e);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** Send `e` as the last event, then close. */
  finish(e: MailboxEvent): void {
    if (this.closed || this.ending) return;
    if (this.queue.length >= this.maxQueued) this.queue = [{ kind: 'resync', reason: 'overflow', dropped: this.queue.length, at: e.at }];
    this.queue.push(e);
    this.ending = true;
    this.flush();
  }

  /** The consumer has taken a batch. */
  ack(): void {
    if (this.inFlight > 0) this.inFlight--;
    this.flush();
  }

  private flush(): void {
    while (!this.closed && this.inFlight < WINDOW && this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      this.inFlight++;
      try {
        this.sink(batch, this);
      } catch {
        this.close();
      }
    }
    if (this.ending && this.queue.length === 0) this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.onClose(this);
  }
}

/** Every open feed, by account. */
export class Feeds {
  private next = 1;
  private readonly byAccount = new Map<number, Set<Feed>>();
  private readonly byId = new Map<number, Feed>();

  open(accountId: number, folderId: number | null, sink: FeedSink, maxQueuedEvents?: number): Feed {
    const asked = Math.floor(Number(maxQueuedEvents ?? DEFAULT_MAX_QUEUED_EVENTS));
    const max = Number.isFinite(asked) ? Math.max(1, Math.min(MAX_QUEUED_EVENTS, asked)) : DEFAULT_MAX_QUEUED_EVENTS;
    const f = new Feed(this.next++, accountId, folderId, sink, max, (x) => this.forget(x));
    let set = this.byAccount.get(accountId);
    if (set === undefined) this.byAccount.set(accountId, (set = new Set()));
    set.add(f);
    this.byId.set(f.id, f);
    return f;
  }

  get(id: number): Feed | undefined {
    return this.byId.get(id);
  }

  private forget(f: Feed): void {
    this.byId.delete(f.id);
    const set = this.byAccount.get(f.accountId);
    if (set === undefined) return;
    set.delete(f);
    if (set.size === 0) this.byAccount.delete(f.accountId);
  }

  /** Whether anyone watches `accountId` (publishers skip building events otherwise). */
  watched(accountId: number): boolean {
    return this.byAccount.has(accountId);
  }

  /** Hand `e` to the feeds of `accountId` that watch `folderId` or every folder (null: only those). */
  publish(accountId: number, folderId: number | null, e: MailboxEvent): void {
    const set = this.byAccount.get(accountId);
    if (set === undefined) return;
    for (const f of set) if (f.folderId === null || f.folderId === folderId) f.push(e);
  }

  /** End every feed of an account (it was removed) with a 'gone' event. */
  closeAccount(accountId: number): void {
    const at = eventTime();
    for (const f of [...(this.byAccount.get(accountId) ?? [])]) f.finish({ kind: 'gone', reason: 'account_removed', at });
  }

  get size(): number {
    return this.byId.size;
  }
}
