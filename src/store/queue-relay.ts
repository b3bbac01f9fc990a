/**
 * store/queue-relay.ts: smtpOutgoing's outcomes for relayed recipients (relay-types.ts), in the
 * store thread. `relayOutcome` records, for each leased entry, what happened to each of its
 * remote recipients, durably: a STATE record (or DONE once no recipient is relay or pending)
 * written and fdatasynced before the promise resolves. Unlike local delivery (queue-deliver.ts,
 * where the mailbox copy is the durable fact and the queue's record may follow lazily), the
 * remote 250 is the only trace of a relayed copy: until this record is durable a crash makes
 * the recipient due again, so it may be sent twice, never lost.
 *
 * Per entry (its relay fields: `EntryState.ra/rn/dn/rb`, kept across restarts and compaction):
 * - delivered / failed: the recipient's final state, with `why` (the remote's reply);
 * - temp: the recipient stays 'relay' with `why` as its last error; the entry's relay attempts
 *   `ra` grow by one per call that has a temp outcome and the next attempt `rn` is
 *   now + min(baseMs·2^(ra-1), maxMs) (processing's schedule, `retryDelay`). When `ra` would
 *   pass `policy.maxRetries`, the queue turns those temp outcomes into 'failed' ("gave up after
 *   N attempts") without a bounce and says so in `RelayResult.gaveUp`. A caller that bounces
 *   expired mail therefore records, on the attempt where `claim.attempts >= maxRetries`, its
 *   temp failures as 'failed' itself, after enqueueing the DSN (relay-types.ts's order), with
 *   `bounced: true`.
 * - `bounced: true` marks this call's failed recipients as bounced (`rb`); `delayNotice: true`
 *   counts a delay notice sent (`dn`, seen by the next claim as `delayNotices`).
 * - Recipients of the claim without an outcome stay 'relay' and keep the entry's schedule (due
 *   at once if no temp outcome moved it). Outcomes for recipients no longer 'relay' (already
 *   recorded) are ignored, so a call that failed (STORE_IO) may be repeated with the same token.
 * - The lease ends with the call; a token that is no longer the entry's (the lease expired and
 *   the entry was claimed again, or an operator deleted it) gets 'stale' and records nothing.
 *   The lease (`claimRelay`'s leaseMs) should cover the whole attempt. Calls for one entry are
 *   applied one after the other.
 *
 * Exports: `relayOutcome(queue, items, policy)`.
 * Rejects: STORE_BAD_ARGUMENT (malformed items or policy: nothing recorded); STORE_NO_SPACE |
 * STORE_IO | STORE_CLOSED (a record could not be written: that item is not recorded, others
 * may be; repeat the call).
 */
import { PosternError } from '../errors.ts';
import { checkPolicy, retryDelay, type RetryPolicy } from './queue-deliver.ts';
import type { Queue, QueueEntry } from './queue.ts';
import type { RcptStatus, StateRecord } from './queue-record.ts';
import type { RcptOutcome, RelayOutcome, RelayResult } from './relay-types.ts';

const STATUSES = new Set(['delivered', 'failed', 'temp']);

function checkItems(items: unknown): RelayOutcome[] {
  if (!Array.isArray(items)) throw new PosternError('STORE_BAD_ARGUMENT', 'relayOutcome: items must be an array');
  for (const it of items as RelayOutcome[]) {
    const ok = it !== null && typeof it === 'object' && typeof it.id === 'string' && typeof it.token === 'number' && Array.isArray(it.outcomes) &&
      it.outcomes.every((o: RcptOutcome) => o !== null && typeof o === 'object' && Number.isInteger(o.index) && STATUSES.has(o.status) && typeof o.why === 'string');
    if (!ok) throw new PosternError('STORE_BAD_ARGUMENT', 'relayOutcome: malformed item');
  }
  return items as RelayOutcome[];
}

const line = (s: string): string => s.replace(/[\r\n]+/g, ' ').slice(0, 1000);

/** Calls for one entry run one after the other (a second call with the same token waits for the
 * first rather than finding the entry busy). */
const chains = new WeakMap<Queue, Map<string, Promise<unknown>>>();

function recordOne(q: Queue, it: RelayOutcome, policy: RetryPolicy): Promise<RelayResult> {
  let m = chains.get(q);
  if (m === undefined) chains.set(q, (m = new Map()));
  const p = (m.get(it.id) ?? Promise.resolve()).then(() => recordNow(q, it, policy));
  const tail = p.catch(() => {});
  m.set(it.id, tail);
  void tail.then(() => {
    if (m.get(it.id) === tail) m.delete(it.id);
  });
  return p;
}

async function recordNow(q: Queue, it: RelayOutcome, policy: RetryPolicy): Promise<RelayResult> {
  const e = q.begin(it.id, it.token);
  if (e === null) return { id: it.id, status: 'stale', attempts: q.get(it.id)?.st.ra ?? 0 };
  try {
    return await recordIn(q, e, it, policy);
  } finally {
    q.end(e);
  }
}

async function recordIn(q: Queue, e: QueueEntry, it: RelayOutcome, policy: RetryPolicy): Promise<RelayResult> {
  const changes: StateRecord['r'] = [];
  const temps: RcptOutcome[] = [];
  const seen = new Set<number>();
  for (const o of it.outcomes) {
    if (e.st.r[o.index]?.s !== 'relay' || seen.has(o.index)) continue; // already recorded, or not a relay recipient
    seen.add(o.index);
    if (o.status === 'temp') temps.push(o);
    else changes.push([o.index, o.status, line(o.why)]);
  }
  const bounced = it.bounced === true ? changes.filter(([, s]) => s === 'failed').map(([i]) => i) : [];
  let ra = e.st.ra ?? 0;
  let rn = e.st.rn ?? 0;
  let err = e.st.err;
  const gaveUp: number[] = [];
  if (temps.length > 0) {
    ra++;
    err = line(temps[0]!.why);
    if (ra > policy.maxRetries) {
      for (const o of temps) changes.push([o.index, 'failed', `gave up after ${ra} attempts: ${line(o.why)}`]), gaveUp.push(o.index);
    } else {
      rn = q.now() + retryDelay(policy, ra);
      for (const o of temps) changes.push([o.index, 'relay', line(o.why)]);
    }
  }
  const after: RcptStatus[] = e.st.r.map((r) => r.s);
  for (const [i, s] of changes) after[i] = s;
  const left = after.some((s) => s === 'relay' || s === 'pending');
  const failed = changes.filter(([, s]) => s === 'failed');
  const delivered = changes.filter(([, s]) => s === 'delivered').length;
  if (!left) await q.commit(e, { id: e.id, why: after.includes('failed') ? 'failed' : 'delivered' });
  else {
    const rec: StateRecord = { id: e.id, r: changes, att: e.st.att, next: e.st.next, err, ra, rn };
    if (it.delayNotice === true) rec.dn = (e.st.dn ?? 0) + 1;
    if (bounced.length > 0) rec.rb = bounced;
    await q.commit(e, rec);
  }
  q.counters.delivered += delivered;
  q.counters.failed += failed.length;
  if (temps.length > 0 && gaveUp.length === 0) q.counters.deferrals++;
  const logged = { id: e.id, from: e.env.from, size: e.size, attempt: ra + (temps.length === 0 ? 1 : 0) };
  if (delivered > 0) q.log.info({ ...logged, delivered: changes.filter(([, s]) => s === 'delivered').map(([i, , why]) => ({ to: e.env.rcpts[i]!.to, why })) }, 'queue: relayed');
  if (failed.length > 0) q.log.warn({ ...logged, bounced: bounced.length > 0, failed: failed.map(([i, , why]) => ({ to: e.env.rcpts[i]!.to, why })) }, 'queue: relay failed for good');
  if (temps.length > 0 && gaveUp.length === 0) q.log.warn({ ...logged, error: err, next: new Date(rn).toISOString() }, 'queue: relay deferred');
  const res: RelayResult = { id: e.id, status: left ? 'deferred' : 'done', attempts: ra };
  if (left) res.next = Math.max(rn, q.now());
  if (gaveUp.length > 0) res.gaveUp = gaveUp;
  return res;
}

/** Record smtpOutgoing's outcomes durably (in parallel: their records share group commits). */
export async function relayOutcome(q: Queue, items: unknown, policyIn: unknown): Promise<RelayResult[]> {
  const policy = checkPolicy(policyIn);
  return Promise.all(checkItems(items).map((it) => recordOne(q, it, policy)));
}
