/**
 * store/queue-client.ts: the mail queue as a service thread sees it, over its StoreClient's
 * port to the store thread (SMTP receiving enqueues; processing claims and delivers; smtpOutgoing
 * claims relayed mail and records its outcomes).
 *
 *   const q = new QueueClient(ctx.store);
 *   const { id } = await q.enqueue(envelope, body);          // durable when it resolves
 *   const r = await q.deliverAtReceipt(env, body, prepared); // in the mailboxes, or queued (local-delivery.ts)
 *   const due = await q.claim(16, 60_000, 1000);             // leases; waits ≤ 1 s for work
 *   const results = await q.deliver(items, policy);          // the copies are durable when it resolves
 *   const out = await q.claimRelay(16, 120_000, 1000);       // smtpOutgoing: relay-due entries (relay-types.ts)
 *   const res = await q.relayOutcome(outcomes, policy);      // recorded durably when it resolves
 *   await q.makeDueFor('example.com');                       // its waiting entries are due now
 *
 * `enqueue` and `deliverAtReceipt` move the body's memory to the store thread when the body
 * owns its whole ArrayBuffer (the caller must not use it afterwards); otherwise it is copied.
 *
 * Exports: `QueueClient`, and re-exports the queue's data types.
 * Rejects: the codes of src/store/queue.ts and queue-deliver.ts, ACTOR_TIMEOUT, STORE_CLOSED.
 */
import type { StoreClient } from './client.ts';
import type { ClaimedEntry } from './queue.ts';
import type { DeliverItem, DeliverResult, RetryPolicy } from './queue-deliver.ts';
import type { QueueEnvelope } from './queue-record.ts';
import type { RelayClaim, RelayOutcome, RelayResult } from './relay-types.ts';
import type { AtReceiptResult, PreparedCopy } from './local-delivery.ts';

/** The body's memory, to transfer when the body owns its whole ArrayBuffer. */
const movable = (body: Uint8Array): ArrayBuffer[] | undefined =>
  body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer ? [body.buffer] : undefined;

export type { ClaimedEntry } from './queue.ts';
export type { AtReceiptResult, PreparedCopy } from './local-delivery.ts';
export type { DeliverItem, DeliverResult, RetryPolicy } from './queue-deliver.ts';
export type { QueueEnvelope, QueueRcpt } from './queue-record.ts';

export class QueueClient {
  private readonly c: StoreClient;

  constructor(c: StoreClient) {
    this.c = c;
  }

  enqueue(env: QueueEnvelope, body: Uint8Array): Promise<{ id: string }> {
    return this.c.call({ t: 'q', method: 'enqueue', args: [env, body] }, movable(body)) as Promise<{ id: string }>;
  }

  /** SMTP: the copies in their mailboxes (durable) when it resolves with `delivered`, else the
   * message in the queue (store/local-delivery.ts). */
  deliverAtReceipt(env: QueueEnvelope, body: Uint8Array, prepared: PreparedCopy): Promise<AtReceiptResult> {
    return this.c.call({ t: 'q', method: 'deliverAtReceipt', args: [env, body, prepared] }, movable(body)) as Promise<AtReceiptResult>;
  }

  claim(max: number, leaseMs: number, waitMs: number): Promise<ClaimedEntry[]> {
    return this.c.call({ t: 'q', method: 'claim', args: [max, leaseMs, waitMs] }, undefined, waitMs + 30_000) as Promise<ClaimedEntry[]>;
  }

  deliver(items: DeliverItem[], policy: RetryPolicy): Promise<DeliverResult[]> {
    return this.c.call({ t: 'q', method: 'deliver', args: [items, policy] }, undefined, 120_000) as Promise<DeliverResult[]>;
  }

  /** Deliver `items`, then lease up to `max` more due entries, in one round trip. */
  deliverAndClaim(items: DeliverItem[], policy: RetryPolicy, max: number, leaseMs: number): Promise<{ results: DeliverResult[]; claimed: ClaimedEntry[] }> {
    return this.c.call({ t: 'q', method: 'deliverAndClaim', args: [items, policy, max, leaseMs] }, undefined, 120_000) as Promise<{ results: DeliverResult[]; claimed: ClaimedEntry[] }>;
  }

  release(items: Array<{ id: string; token: number }>): Promise<void> {
    return this.c.call({ t: 'q', method: 'release', args: [items] }) as Promise<void>;
  }

  /** smtpOutgoing: lease up to `max` relay-due entries (store/queue.ts `claimRelay`). */
  claimRelay(max: number, leaseMs: number, waitMs: number): Promise<RelayClaim[]> {
    return this.c.call({ t: 'q', method: 'claimRelay', args: [max, leaseMs, waitMs] }, undefined, waitMs + 30_000) as Promise<RelayClaim[]>;
  }

  /** smtpOutgoing: record recipients' outcomes; durable when it resolves (store/queue-relay.ts). */
  relayOutcome(items: RelayOutcome[], policy: RetryPolicy): Promise<RelayResult[]> {
    return this.c.call({ t: 'q', method: 'relayOutcome', args: [items, policy] }, undefined, 120_000) as Promise<RelayResult[]>;
  }

  /** Entries waiting for a recipient in `domain` are due now; resolves with how many. */
  makeDueFor(domain: string): Promise<number> {
    return this.c.call({ t: 'q', method: 'makeDueFor', args: [domain] }) as Promise<number>;
  }
}
