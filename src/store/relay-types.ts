/**
 * store/relay-types.ts: the contract between the mail queue (store/queue*.ts) and the services
 * that move relayed mail out: smtpOutgoing (src/protocols/smtpOutgoing/) and the bounces (DSN)
 * that processing and smtpOutgoing send. Types only; the queue implements them
 * (QueueClient.claimRelay / relayOutcome / makeDueFor).
 *
 * A queue entry's remote recipients (`QueueRcpt.account === null`, state 'relay') wait for
 * smtpOutgoing. smtpOutgoing leases due entries that have relay recipients (`claimRelay`), tries
 * them, and records each recipient's outcome durably (`relayOutcome`): delivered (the remote
 * 250), failed (a 5xx, a null MX, a loop: permanent), or temp (retried on processing's schedule:
 * the entry's `att`/`next`). The entry leaves the queue only when every recipient is delivered,
 * failed (and bounced, if asked) or removed by an operator. A message may be sent twice only in
 * the window between the remote 250 and `relayOutcome`'s durable record.
 *
 * Bounces: before recording `failed` outcomes (or the delay notice after `delayNoticeAfter`
 * failed attempts), the caller enqueues the DSN itself (`QueueClient.enqueue` with `from: ''`),
 * then records the outcome with `bounced: true`; a crash between the two may send a DSN twice,
 * never lose one. A message from the null sender is never bounced.
 */
import type { ClaimedEntry } from './queue-record.ts';

/** One remote recipient of a claimed entry, as smtpOutgoing sees it. */
export interface RelayRcpt {
  /** Index in `env.rcpts`. */
  index: number;
  to: string;
}

/** An entry leased to smtpOutgoing: its due relay recipients. */
export interface RelayClaim extends ClaimedEntry {
  rcpts: RelayRcpt[];
  /** Delay notices already sent for this entry (0 or 1). */
  delayNotices: number;
}

/** What happened to one recipient in one attempt. */
export interface RcptOutcome {
  index: number;
  status: 'delivered' | 'failed' | 'temp';
  /** The remote's reply or our reason, one line (`550 5.1.1 no such user`). */
  why: string;
  /** RFC 3464 fields for the DSN: the remote MTA (`dns; mx.example.com`), enhanced status. */
  remoteMta?: string;
  status3464?: string; // e.g. "5.1.1"
}

export interface RelayOutcome {
  id: string;
  token: number;
  outcomes: RcptOutcome[];
  /** A DSN (failure) for the failed ones was enqueued before this record. */
  bounced?: boolean;
  /** A delay notice was enqueued before this record. */
  delayNotice?: boolean;
}

export interface RelayResult {
  id: string;
  status: 'done' | 'deferred' | 'stale';
  /** Next attempt (ms) when deferred. */
  next?: number;
  /** Failed attempts so far. */
  attempts: number;
  /** Recipients whose temp outcome came past the policy's maxRetries: the queue recorded them
   * as failed ("gave up"), without a bounce (see store/queue-relay.ts). */
  gaveUp?: number[];
}

export type { DsnEnvelope, DsnRcpt } from './queue-record.ts';
