/**
 * protocols/smtpOutgoing/bounce.ts: the delivery status notifications of relayed mail
 * (store/dsn.ts builds them, RFC 3464): a failure report for the recipients that failed for
 * good, and one delay notice per message once it has failed `delayNoticeAfter` attempts
 * (processing's option), each to the envelope sender, for the recipients whose NOTIFY asks for
 * it (none for the null sender: a bounce is never bounced). The report is enqueued (durable)
 * before the outcomes are recorded (relay-types.ts's order): a crash between the two may send a
 * DSN twice, never lose one. A local sender's report is delivered to its mailbox; a remote
 * one's waits for smtpOutgoing like any relayed mail.
 *
 * Exports: `notify(q, store, claim, body, kind, outcomes, o)`. Resolves 'queued', 'none' (no
 * DSN is due), or 'error' (it could not be queued: logged; the caller then records the failure
 * as temporary, so it is tried, and bounced, later).
 */
import { isPosternError } from '../../errors.ts';
import { buildDsn, dsnEnvelope, wantsDsn, type DsnKind, type DsnRecipient } from '../../store/dsn.ts';
import type { QueueClient, RetryPolicy } from '../../store/queue-client.ts';
import type { StoreClient } from '../../store/client.ts';
import type { RcptOutcome, RelayClaim } from '../../store/relay-types.ts';
import type { Logger } from '../../log.ts';

/** Give up waiting: the time of the last retry left on the schedule. */
function retryUntil(p: RetryPolicy, att: number, now: number): number {
  let t = now;
  for (let n = att; n <= p.maxRetries && n < att + 1000; n++) t += Math.min(p.baseMs * 2 ** Math.max(0, n - 1), p.maxMs);
  return t;
}

function statusFor(o: RcptOutcome, kind: DsnKind): string {
  const s = o.status3464 ?? /\b([245]\.\d{1,3}\.\d{1,3})\b/.exec(o.why)?.[1] ?? '';
  const cls = kind === 'failure' ? '5' : '4';
  return /^[245]\.\d{1,3}\.\d{1,3}$/.test(s) ? `${cls}${s.slice(1)}` : `${cls}.0.0`;
}

export async function notify(
  q: QueueClient, store: StoreClient, claim: RelayClaim, body: Buffer, kind: 'failure' | 'delay', outcomes: RcptOutcome[],
  o: { policy: RetryPolicy; log: Logger },
): Promise<'queued' | 'none' | 'error'> {
  const env = claim.env;
  const wanted = outcomes.filter((x) => wantsDsn(env.from, env.rcpts[x.index]?.dsn, kind));
  if (wanted.length === 0) return 'none';
  const now = Date.now();
  const recipients: DsnRecipient[] = wanted.map((x) => {
    const r = env.rcpts[x.index]!;
    const remote = x.remoteMta?.replace(/^dns;\s*/, '');
    return { to: r.to, orcpt: r.dsn?.orcpt ?? null, action: kind === 'failure' ? 'failed' : 'delayed', status: statusFor(x, kind), diagnostic: x.why, lastAttempt: now, ...(remote !== undefined ? { remoteMta: remote } : {}) };
  });
  try {
    const dsn = buildDsn({
      kind, reportingMta: env.by, arrivalDate: env.receivedAt, envelope: env, original: body, recipients, now,
      ...(kind === 'delay' ? { willRetryUntil: retryUntil(o.policy, claim.attempts + 1, now) } : {}),
      ...(o.policy.maxReturnBytes !== undefined ? { maxReturnBytes: o.policy.maxReturnBytes } : {}),
    });
    if (dsn === null) return 'none';
    let account: string | null;
    try {
      account = (await store.resolve(dsn.to)).address;
    } catch (err) {
      if (!isPosternError(err, 'STORE_NO_SUCH_DOMAIN')) {
        o.log.warn({ id: claim.id, from: env.from, kind, err }, 'smtpOutgoing: no DSN sent: the sender is not a mailbox here');
        return 'none';
      }
      account = null; // a remote sender: the DSN is relayed too
    }
    const { id } = await q.enqueue(dsnEnvelope(dsn.to, account, env.by, now), dsn.body);
    o.log.info({ id: claim.id, dsn: id, kind, to: dsn.to, rcpts: recipients.map((r) => r.to) }, 'smtpOutgoing: DSN queued');
    return 'queued';
  } catch (err) {
    o.log.error({ id: claim.id, kind, err }, 'smtpOutgoing: could not queue a DSN');
    return 'error';
  }
}
