/**
 * store/queue-admin.ts: the operators' view of the mail queue (`postern ctl queue list|show|
 * retry|delete`, through src/store/admin.ts): one line per message, one message in full (its
 * envelope, each recipient's status, its header lines), make one due now, take one out
 * undelivered. Retry and delete are durable before they are answered.
 *
 * Exports: `queueList(q)`, `queueShow(q, id)`, `queueRetry(q, id)`, `queueRemove(q, id)`, and
 * `AdminQueue` (what they need of the queue).
 * Rejects: QUEUE_NO_SUCH_ENTRY, QUEUE_ENTRY_BUSY (being delivered right now), STORE_NO_SPACE |
 * STORE_IO (the change could not be written).
 */
import { PosternError } from '../errors.ts';
import { entryStatus, type DoneRecord, type QueueEntry, type QueueListItem, type StateRecord } from './queue-record.ts';
import type { StoreLog } from './writer.ts';

/** What these views need of the queue (queue.ts's `Queue` is one), named here so that only
 * queue.ts imports the other. */
export interface AdminQueue {
  get(id: string): QueueEntry | undefined;
  all(): IterableIterator<QueueEntry>;
  body(e: QueueEntry): Promise<Buffer>;
  commit(e: QueueEntry, rec: StateRecord | DoneRecord): Promise<void>;
  makeDue(e: QueueEntry): void;
  now(): number; // the queue's clock, ms since the epoch
  readonly log: StoreLog;
}

function must(q: AdminQueue, id: unknown): QueueEntry {
  const e = typeof id === 'string' ? q.get(id.toUpperCase()) : undefined;
  if (e === undefined) throw new PosternError('QUEUE_NO_SUCH_ENTRY', `no queued message ${String(id)}`, { id });
  return e;
}

function item(e: QueueEntry): QueueListItem {
  const pending = e.st.r.some((r) => r.s === 'pending');
  const relay = !pending && e.st.r.some((r) => r.s === 'relay');
  return {
    id: e.id, from: e.env.from === '' ? '<>' : e.env.from, rcpts: e.env.rcpts.length, size: e.size, receivedAt: new Date(e.env.receivedAt).toISOString(),
    status: entryStatus(e), attempts: relay ? (e.st.ra ?? 0) : e.st.att, nextAttempt: pending ? new Date(e.st.next).toISOString() : relay ? new Date(Math.max(e.st.rn ?? 0, e.env.receivedAt)).toISOString() : null, lastError: e.st.err,
  };
}

export function queueList(q: AdminQueue): QueueListItem[] {
  return [...q.all()].sort((a, b) => a.env.receivedAt - b.env.receivedAt || (a.id < b.id ? -1 : 1)).map(item);
}

export async function queueShow(q: AdminQueue, id: unknown): Promise<Record<string, unknown>> {
  const e = must(q, id);
  let headers: string[] = [];
  try {
    const b = await q.body(e);
    const head = b.subarray(0, Math.min(b.length, 16384)).toString('utf8');
    const end = head.search(/\r?\n\r?\n/);
    headers = (end < 0 ? head : head.slice(0, end)).split(/\r?\n/).slice(0, 40);
  } catch (err) {
    headers = [`(body unreadable: ${(err as Error).message})`];
  }
  const { rcpts, ...env } = e.env;
  return {
    ...item(e), envelope: { ...env, receivedAt: new Date(env.receivedAt).toISOString() },
    recipients: rcpts.map((r, i) => ({ to: r.to, mailbox: r.account, status: e.st.r[i]?.s, detail: e.st.r[i]?.why ?? null, ...(r.dsn !== undefined ? { dsn: r.dsn } : {}), ...(r.hop !== undefined ? { hop: `${r.hop.host}:${r.hop.port}` } : {}), ...(e.st.rb?.includes(i) === true ? { bounced: true } : {}) })),
    relayAttempts: e.st.ra ?? 0, delayNotices: e.st.dn ?? 0, headers,
  };
}

/** Make an entry due now (durably). */
export async function queueRetry(q: AdminQueue, id: unknown): Promise<QueueListItem> {
  const e = must(q, id);
  if (e.busy) throw new PosternError('QUEUE_ENTRY_BUSY', `message ${e.id} is being delivered right now`, { id: e.id });
  await q.commit(e, { id: e.id, r: [], att: e.st.att, next: q.now(), err: e.st.err, rn: q.now() });
  q.makeDue(e);
  return item(e);
}

/** Take an entry out of the queue without delivering it (durably). */
export async function queueRemove(q: AdminQueue, id: unknown): Promise<{ id: string }> {
  const e = must(q, id);
  if (e.busy) throw new PosternError('QUEUE_ENTRY_BUSY', `message ${e.id} is being delivered right now`, { id: e.id });
  e.busy = true; // no claim or delivery may start meanwhile
  try {
    await q.commit(e, { id: e.id, why: 'deleted' });
  } finally {
    e.busy = false;
  }
  q.log.info({ id: e.id, from: e.env.from, rcpts: e.env.rcpts.map((r) => r.to) }, 'queue: message deleted by the operator');
  return { id: e.id };
}
