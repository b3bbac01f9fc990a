/**
 * store/queue-deliver.ts: local delivery of claimed queue entries, in the store thread: each
 * pending local recipient's copy (the processing service's header prefix + the queued body)
 * is appended to its INBOX (or, for a message quarantined by DMARC, `env.junk`, to its Junk
 * folder when it has one), with the internal date set to when SMTP received it, and the
 * outcomes are recorded in the queue (STATE, or DONE once nothing is left; applied at once,
 * written lazily: queue.ts). The entry leaves the queue only after every local copy is durable.
 *
 * Exactly once across a crash: the copy's bytes are a pure function of the queue entry, so a
 * copy is identified by (INBOX, internal date, size, crc32). An entry recovered after a restart
 * (or whose append timed out) is "maybe attempted": before appending, the recipient's INBOX is
 * searched for that identity, and a copy found there counts as delivered. (Were the user to
 * move or expunge that copy in the moment between a crash and the restart, it would be
 * delivered again: the only window left, and it needs both.)
 *
 * Outcomes: a removed account or domain fails for good (5.1.1); a full mailbox (4.2.2), a full
 * disk and other I/O or busy errors are temporary and retried with the caller's policy: attempt
 * n waits min(baseMs·2^(n-1), maxMs); past maxRetries the recipient fails for good.
 *
 * Bounces (store/dsn.ts): recipients that fail for good get a failure DSN to the envelope
 * sender, enqueued (durable) BEFORE the failure is recorded: a crash between the two may send
 * two, never none; if it cannot be enqueued, the failure is not recorded and the recipient is
 * tried again later. After the `delayNoticeAfter`-th failed attempt (the policy's; 0: never)
 * the still-pending recipients get one delay notice: the attempt count is durable, so it is
 * sent once per entry (twice at most across a crash). Recipients that asked NOTIFY=SUCCESS get
 * a success DSN. NOTIFY is honoured, and mail from the null sender is never bounced. The DSN is
 * an ordinary queue entry: to a local sender it is delivered at once, to a remote one it waits
 * for smtpOutgoing.
 *
 * Exports: `deliver(queue, store, items, policy)`, `DeliverItem`, `DeliverResult`,
 * `RetryPolicy`, `retryDelay`, `checkPolicy`. Rejects: STORE_BAD_ARGUMENT (malformed items); every delivery
 * failure becomes an outcome, never a rejection.
 */
import { crc32 } from 'node:zlib';
import { PosternError, isPosternError } from '../errors.ts';
import { INBOX } from './names.ts';

/** Where a DMARC-quarantined copy goes (QueueEnvelope.junk): the standard folder of that name. */
const JUNK = 'Junk';
import type { Queue, QueueEntry } from './queue.ts';
import type { RcptStatus, StateRecord } from './queue-record.ts';
import type { Store } from './store.ts';
import { shiftStructure, type MessageStructure } from './structure.ts';
import { buildDsn, dsnEnvelope, wantsDsn, type DsnKind, type DsnRecipient } from './dsn.ts';

export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
  maxRetries: number;
  /** A delay notice after this many failed attempts (0 or absent: none). */
  delayNoticeAfter?: number;
  /** Bounces return the whole message up to this size (store/dsn.ts's default when absent). */
  maxReturnBytes?: number;
}

export interface DeliverItem {
  id: string;
  token: number;
  /** Header lines to put above the queued body (Return-Path, Received), CRLF-terminated. */
  prefix?: string;
  /** Processing failed for this entry: a temporary failure of the attempt. */
  defer?: string;
  /** What processing learned (message-id …), for the delivery log line. */
  info?: Record<string, unknown>;
  /** The queued body's MIME structure, parsed by processing (store/structure.ts): kept with
   * each copy (its offsets moved past the prefix), so the store does not parse it again. */
  structure?: MessageStructure;
}

export interface DeliverResult {
  id: string;
  status: 'done' | 'deferred' | 'waiting' | 'stale';
  delivered: number;
  failed: number;
  deferred: number;
  next?: number;
  error?: string;
}

type Outcome = { s: 'delivered' | 'failed' | 'temp'; why: string | null; unsure?: boolean };

/** How long after its n-th failed attempt (n ≥ 1) an entry is tried again. */
export function retryDelay(p: RetryPolicy, n: number): number {
  return Math.min(p.baseMs * 2 ** Math.min(Math.max(0, n - 1), 40), p.maxMs);
}

export function checkPolicy(p: unknown): RetryPolicy {
  const x = p as RetryPolicy;
  const ok = (v: unknown): boolean => typeof v === 'number' && v >= 0 && !Number.isNaN(v);
  if (x === null || typeof x !== 'object' || !ok(x.baseMs) || !ok(x.maxMs) || !ok(x.maxRetries)) throw new PosternError('STORE_BAD_ARGUMENT', 'malformed retry policy');
  return x;
}

/** Is the copy already in the INBOX? For entries recovered at start, from an index of the
 * INBOX built once per mailbox (nothing appended since can be such a copy); after a timed-out
 * append, from a fresh scan. */
async function alreadyThere(q: Queue, store: Store, address: string, maybe: 'recovered' | 'unsure', date: number, len: number, crc: number, folder: string): Promise<boolean> {
  const key = `${date}:${len}:${crc}`;
  const index = maybe === 'recovered' && folder === INBOX ? q.recoveryIndex.get(address.toLowerCase()) : undefined;
  if (index !== undefined) return index.has(key);
  const { core } = await store.openMailbox(store.directory.resolve(address));
  const msgs = core.mb().byName.get(folder)?.msgs ?? [];
  if (maybe === 'unsure' || folder !== INBOX) return msgs.some((m) => m.date === date && m.len === len && m.crc === crc);
  const built = new Set(msgs.map((m) => `${m.date}:${m.len}:${m.crc}`));
  q.recoveryIndex.set(address.toLowerCase(), built);
  return built.has(key);
}

/** The folder a local copy goes to: INBOX, or Junk for a DMARC quarantine (env.junk) when the
 * account has that folder. */
async function targetFolder(store: Store, address: string, junk: boolean): Promise<string> {
  if (!junk) return INBOX;
  const { core } = await store.openMailbox(store.directory.resolve(address));
  return core.mb().byName.has(JUNK) ? JUNK : INBOX;
}

async function appendOnce(q: Queue, store: Store, address: string, full: Buffer, date: number, maybe: QueueEntry['maybe'], crc: () => number, structure: MessageStructure | undefined, junk: boolean): Promise<Outcome> {
  try {
    const folder = await targetFolder(store, address, junk);
    if (maybe !== false && (await alreadyThere(q, store, address, maybe, date, full.length, crc(), folder))) return { s: 'delivered', why: 'found already delivered after a restart' };
    await store.mailbox(address).append(folder, full, structure === undefined ? { internalDate: date } : { internalDate: date, structure });
    return { s: 'delivered', why: null };
  } catch (e) {
    const code = isPosternError(e) ? e.code : 'INTERNAL';
    const msg = e instanceof Error ? e.message : String(e);
    switch (code) {
      case 'STORE_NO_SUCH_ACCOUNT': case 'STORE_NO_SUCH_DOMAIN': case 'STORE_BAD_NAME':
        return { s: 'failed', why: `5.1.1 mailbox unavailable: ${msg}` };
      case 'STORE_BAD_ARGUMENT':
        return { s: 'failed', why: `5.3.4 message refused by the store: ${msg}` };
      case 'STORE_QUOTA_EXCEEDED':
        return { s: 'temp', why: `4.2.2 mailbox full: ${msg}` };
      case 'ACTOR_TIMEOUT':
        return { s: 'temp', why: `4.3.0 ${code}: ${msg}`, unsure: true };
      default:
        return { s: 'temp', why: `4.3.0 ${code}: ${msg}` };
    }
  }
}

async function deliverOne(q: Queue, store: Store, it: DeliverItem, policy: RetryPolicy): Promise<DeliverResult> {
  const e = q.begin(String(it.id), Number(it.token));
  if (e === null) return { id: String(it.id), status: 'stale', delivered: 0, failed: 0, deferred: 0 };
  try {
    return await attempt(q, store, e, it, policy);
  } finally {
    q.end(e);
  }
}

async function attempt(q: Queue, store: Store, e: QueueEntry, it: DeliverItem, policy: RetryPolicy): Promise<DeliverResult> {
  const pending = e.st.r.flatMap((r, i) => (r.s === 'pending' ? [i] : []));
  const outcomes = new Map<number, Outcome>();
  if (typeof it.defer === 'string') {
    for (const i of pending) outcomes.set(i, { s: 'temp', why: `4.3.0 processing failed: ${it.defer}` });
  } else {
    let full: Buffer;
    let structure: MessageStructure | undefined;
    try {
      const body = await q.body(e);
      const prefix = Buffer.from(typeof it.prefix === 'string' ? it.prefix : '', 'utf8');
      full = Buffer.allocUnsafeSlow(prefix.length + body.length);
      prefix.copy(full, 0);
      body.copy(full, prefix.length);
      const s = it.structure;
      if (s !== undefined && s !== null && typeof s === 'object' && s.v === 1 && s.size === body.length) structure = shiftStructure(s, prefix);
    } catch (err) {
      full = Buffer.alloc(0);
      for (const i of pending) outcomes.set(i, { s: 'temp', why: `4.3.0 queued body unreadable: ${(err as Error).message}` });
    }
    if (outcomes.size === 0) {
      let c: number | null = null;
      const crc = (): number => (c ??= crc32(full));
      const perAccount = new Map<string, Promise<Outcome>>(); // two recipients, one mailbox: one copy
      await Promise.all(pending.map(async (i) => {
        const address = e.env.rcpts[i]!.account!;
        const key = address.toLowerCase();
        let p = perAccount.get(key);
        if (p === undefined) perAccount.set(key, (p = appendOnce(q, store, address, full, e.env.receivedAt, e.maybe, crc, structure, e.env.junk === true)));
        outcomes.set(i, await p);
      }));
    }
  }
  const changes: StateRecord['r'] = [];
  let tempWhy: string | null = null;
  let unsure = false;
  for (const [i, o] of outcomes) {
    if (o.s === 'temp') {
      tempWhy ??= o.why;
      unsure ||= o.unsure === true;
    } else changes.push([i, o.s, o.why]);
  }
  let att = e.st.att;
  let next = e.st.next;
  if (tempWhy !== null) {
    att++;
    if (att > policy.maxRetries) {
      for (const [i, o] of outcomes) if (o.s === 'temp') changes.push([i, 'failed', `gave up after ${att} attempts: ${o.why ?? ''}`]);
    } else next = q.now() + retryDelay(policy, att);
  }
  // the DSNs, durable before the outcomes they report are recorded
  const failedNow = changes.filter(([, s]) => s === 'failed').map(([i, , why]) => ({ i, why: why ?? '' }));
  if (failedNow.length > 0 && !(await notify(q, store, e, policy, 'failure', failedNow, att))) {
    const held = new Set(failedNow.map((f) => f.i));
    for (let k = changes.length - 1; k >= 0; k--) if (held.has(changes[k]![0])) changes.splice(k, 1); // stay pending: tried (and bounced) again later
    tempWhy ??= '4.3.0 the bounce could not be queued';
    next = q.now() + retryDelay(policy, Math.max(1, att));
  }
  const delayAfter = policy.delayNoticeAfter ?? 0;
  if (tempWhy !== null && delayAfter > 0 && att === delayAfter && att <= policy.maxRetries) {
    const delayed = [...outcomes].filter(([, o]) => o.s === 'temp').map(([i, o]) => ({ i, why: o.why ?? '' }));
    if (delayed.length > 0) await notify(q, store, e, policy, 'delay', delayed, att);
  }
  const deliveredNow = changes.filter(([, s]) => s === 'delivered').map(([i]) => ({ i, why: '' }));
  if (deliveredNow.length > 0) await notify(q, store, e, policy, 'success', deliveredNow, att);
  const after = e.st.r.map((r) => r.s);
  for (const [i, s] of changes) after[i] = s as RcptStatus;
  const count = (s: RcptStatus): number => after.filter((x) => x === s).length;
  const stillPending = count('pending') > 0;
  const waiting = count('relay') > 0;
  const env = e.env;
  const logged = { id: e.id, from: env.from, to: env.rcpts.map((r) => r.to), size: e.size, attempt: att + (tempWhy === null ? 1 : 0), ...(it.info ?? {}) };
  // the copies are durable: the queue's record of them may follow lazily (queue.ts)
  if (!stillPending && !waiting) q.record({ id: e.id, why: count('failed') > 0 ? 'failed' : 'delivered' });
  else q.record({ id: e.id, r: changes, att, next, err: tempWhy ?? e.st.err });
  if (e.maybe === 'recovered') q.dropRecovered();
  e.maybe = unsure ? 'unsure' : false; // every outcome is now known, except an append that timed out
  const failed = changes.filter(([, s]) => s === 'failed');
  if (failed.length > 0) q.log.warn({ ...logged, failed: failed.map(([i, , why]) => ({ to: env.rcpts[i]!.to, why })) }, 'queue: delivery failed for good');
  if (tempWhy !== null && stillPending) q.log.warn({ ...logged, error: tempWhy, next: new Date(next).toISOString() }, 'queue: delivery deferred');
  const delivered = changes.filter(([, s]) => s === 'delivered').length;
  q.counters.delivered += delivered;
  q.counters.failed += failed.length;
  if (tempWhy !== null && stillPending) q.counters.deferrals++;
  const found = changes.filter(([, st, why]) => st === 'delivered' && why !== null).length;
  if (delivered > 0) q.log.info({ ...logged, delivered, ...(found > 0 ? { foundAfterRestart: found } : {}) }, 'queue: delivered');
  const res: DeliverResult = {
    id: e.id, status: stillPending ? 'deferred' : waiting ? 'waiting' : 'done',
    delivered, failed: failed.length, deferred: stillPending ? count('pending') : 0,
  };
  if (stillPending) res.next = next;
  if (tempWhy !== null) res.error = tempWhy;
  return res;
}

/** The enhanced status of an outcome's reason, in the class its action needs. */
function statusOf(why: string, kind: DsnKind): string {
  const m = /\b[245]\.(\d{1,3})\.(\d{1,3})\b/.exec(why);
  const cls = kind === 'failure' ? 5 : kind === 'delay' ? 4 : 2;
  return m === null ? `${cls}.0.0` : `${cls}.${m[1]}.${m[2]}`;
}

/** Our reason as an SMTP-style reply line for Diagnostic-Code (local delivery has no remote). */
function diagnosticOf(why: string, status: string): string {
  const text = why.replace(/\b[245]\.\d{1,3}\.\d{1,3}\s*/, '').trim();
  const code = status.startsWith('2.') ? 250 : status.startsWith('4.') ? 451 : status.startsWith('5.1.') ? 550 : status.startsWith('5.2.') ? 552 : 554;
  return `${code} ${status} ${text}`.trim();
}

/** Give up waiting: the time of the last retry left on the schedule. */
function retryUntil(p: RetryPolicy, att: number, now: number): number {
  let t = now;
  for (let n = att; n <= p.maxRetries && n < att + 1000; n++) t += retryDelay(p, n);
  return t;
}

/** Enqueue a DSN of `kind` for these recipients (those that want one) to the entry's sender.
 * True when it is queued or none is due; false when it could not be queued (logged). */
async function notify(q: Queue, store: Store, e: QueueEntry, policy: RetryPolicy, kind: DsnKind, rcpts: Array<{ i: number; why: string }>, att: number): Promise<boolean> {
  const env = e.env;
  const wanted = rcpts.filter(({ i }) => wantsDsn(env.from, env.rcpts[i]!.dsn, kind));
  if (wanted.length === 0) return true;
  const now = q.now();
  const action = kind === 'failure' ? 'failed' : kind === 'delay' ? 'delayed' : 'delivered';
  const recipients: DsnRecipient[] = wanted.map(({ i, why }) => {
    const r = env.rcpts[i]!;
    const status = statusOf(why, kind);
    return kind === 'success'
      ? { to: r.to, orcpt: r.dsn?.orcpt ?? null, action, status, lastAttempt: now }
      : { to: r.to, orcpt: r.dsn?.orcpt ?? null, action, status, diagnostic: diagnosticOf(why, status), lastAttempt: now };
  });
  try {
    const original = await q.body(e);
    const dsn = buildDsn({
      kind, reportingMta: env.by, arrivalDate: env.receivedAt, envelope: env, original, recipients,
      ...(kind === 'delay' ? { willRetryUntil: retryUntil(policy, att, now) } : {}),
      ...(policy.maxReturnBytes !== undefined ? { maxReturnBytes: policy.maxReturnBytes } : {}),
      now,
    });
    if (dsn === null) return true;
    let account: string | null;
    try {
      account = store.directory.resolve(dsn.to).address;
    } catch (err) {
      if (!isPosternError(err, 'STORE_NO_SUCH_DOMAIN')) {
        q.log.warn({ id: e.id, from: env.from, kind, err }, 'queue: no DSN sent: the sender is not a mailbox here');
        return true;
      }
      account = null; // a remote sender: the DSN waits for smtpOutgoing
    }
    const { id } = await q.enqueue(dsnEnvelope(dsn.to, account, env.by, now), dsn.body);
    q.log.info({ id: e.id, dsn: id, kind, to: dsn.to, rcpts: recipients.map((r) => r.to) }, 'queue: DSN queued');
    return true;
  } catch (err) {
    q.log.error({ id: e.id, kind, err }, 'queue: could not queue a DSN');
    return false;
  }
}

/** Deliver claimed entries (in parallel: their appends share group commits). */
export async function deliver(q: Queue, store: Store, items: unknown, policyIn: unknown): Promise<DeliverResult[]> {
  if (!Array.isArray(items)) throw new PosternError('STORE_BAD_ARGUMENT', 'items must be an array');
  const policy = checkPolicy(policyIn);
  return Promise.all((items as DeliverItem[]).map((it) => deliverOne(q, store, it, policy)));
}
