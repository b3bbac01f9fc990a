/**
 * processing/index.ts: the `processing` service (a `WorkerModule`, run in the service's
 * threads): it takes due messages from the store thread's queue and delivers them locally.
 *
 * Each thread runs `deliveryThreads` lanes; a lane loops: claim up to 16 due entries (a lease;
 * the claim waits up to a second for work, woken by new mail), run the processing steps for
 * them (processing/task.ts: parse the header and MIME structure once, which the store keeps
 * with each copy (store/structure.ts) so no reader parses it again; build Return-Path and
 * Received:) on the service's piscina pool for messages over `poolMessageSize` (default 64 KB;
 * 0: all), and in this thread for smaller ones (measured here: the pool's round trip costs
 * ~0.5 ms of CPU across three threads, parsing 4 KiB ~20 µs; this thread serves no socket, so
 * its own parsing delays no client), then hand them to the store for delivery
 * (src/store/queue-deliver.ts), which appends each local recipient's copy, records every
 * outcome durably, and removes the entry only when nothing is left to do. A temporary failure
 * is retried on the seed's schedule: `schedInterval` (default 5 min) doubling up to
 * `maxSchedInterval` (default 8 h), at most `maxRetryCount` retries. Recipients that fail for
 * good are bounced (an RFC 3464 DSN to the sender, enqueued before the failure is recorded), and
 * a delay notice goes out after `delayNoticeAfter` (default 4) failed attempts, once per entry
 * (store/queue-deliver.ts, store/dsn.ts). Remote recipients are not
 * handled here: they wait in the queue for smtpOutgoing (src/protocols/smtpOutgoing/). While
 * this service runs (its claims tell the store so), SMTP delivers local mail of up to
 * `poolMessageSize` at receipt instead (store/local-delivery.ts); a lane that stops gives its
 * leases back, which tells the store it stops.
 *
 * Exports: `startWorker(ctx)`, `retryPolicy(service)`. Throws (startWorker) SERVICE_NOT_RUNNING
 * when the thread has no store.
 */
import { PosternError } from '../errors.ts';
import { QueueClient, type ClaimedEntry, type RetryPolicy } from '../store/queue-client.ts';
import { optionsOf, type ServiceOptions } from '../config/options.ts';
import type { WorkerContext } from '../service/protocol.ts';
import type { ActorInfo } from '../actor/types.ts';
import { processMessages, type ProcessInput, type ProcessOutput } from './task.ts';

const BATCH = 16;
const LEASE_MS = 60_000;
const WAIT_MS = 1000;

/** The retry schedule (the config's typed options; it checked maxSchedInterval ≥ schedInterval). */
export function retryPolicy(service: ServiceOptions): RetryPolicy {
  const x = optionsOf(service, 'processing');
  return { baseMs: x.schedIntervalMs, maxMs: x.maxSchedIntervalMs, maxRetries: x.maxRetryCount, delayNoticeAfter: x.delayNoticeAfter, maxReturnBytes: x.maxBounceReturnBytes };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startWorker(ctx: WorkerContext) {
  if (ctx.store === null) throw new PosternError('SERVICE_NOT_RUNNING', 'processing needs the store');
  const q = new QueueClient(ctx.store);
  const policy = retryPolicy(ctx.service);
  const { deliveryThreads: lanes, poolMessageBytes: poolAbove } = optionsOf(ctx.service, 'processing');
  const counts = { batches: 0, delivered: 0, deferred: 0, failed: 0, waiting: 0, inFlight: 0, onPool: 0 };
  let stopping = false;

  async function onPool(batch: ClaimedEntry[]): Promise<ProcessOutput> {
    if (batch.length === 0) return [];
    const input: ProcessInput = { entries: batch.map(({ id, env, locator }) => ({ id, env, locator })) };
    try {
      return (await ctx.runTask('processMessages', input, 60_000)) as ProcessOutput;
    } catch (e) {
      ctx.log.error({ err: e }, 'processing: the pool task failed');
      return batch.map((b) => ({ id: b.id, error: e instanceof Error ? e.message : String(e) }));
    }
  }

  /** Process a batch and deliver it; resolves with the next batch the store leased meanwhile. */
  async function process(batch: ClaimedEntry[]): Promise<ClaimedEntry[]> {
    const inline = (b: ClaimedEntry): boolean => poolAbove > 0 && b.size <= poolAbove;
    const large = batch.filter((b) => !inline(b));
    const [a, b] = await Promise.all([processMessages({ entries: batch.filter(inline) }), onPool(large)]);
    counts.onPool += large.length;
    const byId = new Map([...a, ...b].map((o) => [o.id, o]));
    const items = batch.map((x) => {
      const o = byId.get(x.id);
      return o !== undefined && 'prefix' in o ? { id: x.id, token: x.token, prefix: o.prefix, info: o.info, structure: o.structure } : { id: x.id, token: x.token, defer: o !== undefined && 'error' in o ? o.error : 'not processed' };
    });
    const { results, claimed } = await q.deliverAndClaim(items, policy, stopping ? 0 : BATCH, LEASE_MS);
    counts.batches++;
    for (const r of results) {
      counts.delivered += r.delivered;
      counts.failed += r.failed;
      if (r.status === 'deferred') counts.deferred++;
      if (r.status === 'waiting') counts.waiting++;
    }
    return claimed;
  }

  async function lane(): Promise<void> {
    let batch: ClaimedEntry[] = [];
    while (!stopping || batch.length > 0) {
      if (batch.length === 0) {
        try {
          batch = await q.claim(BATCH, LEASE_MS, WAIT_MS);
        } catch (e) {
          if (stopping) break;
          ctx.log.warn({ err: e }, 'processing: could not claim from the queue; trying again in 1 s');
          await sleep(1000);
          continue;
        }
        if (batch.length === 0) continue;
      }
      if (stopping) break;
      counts.inFlight += batch.length;
      const size = batch.length;
      try {
        batch = await process(batch);
      } catch (e) {
        // the entries stay leased until LEASE_MS passes, then they are claimed again
        ctx.log.error({ err: e }, 'processing: delivery call failed; the messages stay queued');
        batch = [];
        await sleep(250);
      } finally {
        counts.inFlight -= size;
      }
    }
    // handed out again at once, not after the lease; and the store learns that processing
    // stops (no delivery at receipt while it is stopped: store/local-delivery.ts)
    await q.release(batch).catch(() => {});
  }

  const running = Array.from({ length: lanes }, () => lane());
  ctx.log.info({ lanes, policy }, 'processing: delivering from the queue');
  return {
    info: (): ActorInfo[] => [{
      id: `${ctx.threadId}.delivery`, kind: 'delivery', state: stopping ? 'stopping' : 'running', mailboxDepth: counts.inFlight,
      mailboxCapacity: lanes * BATCH, restarts: 0, extra: { lanes, ...counts },
    }],
    stop: async (): Promise<void> => {
      stopping = true;
      await Promise.all(running);
    },
  };
}
