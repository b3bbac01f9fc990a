/**
 * protocols/smtpOutgoing/index.ts: the `smtpOutgoing` service (a `WorkerModule`, run in the
 * service's threads; seed SMTP Sending, inventory §6): it leases queued messages with remote
 * recipients (`QueueClient.claimRelay`), sends each recipient's copy the way its route says
 * (route.ts: by MX or a smart host; engine.ts: per-destination queues and connections), and
 * records every recipient's outcome durably (`relayOutcome`) once all the message's
 * destinations have answered: delivered (the remote 250), failed (5xx, null MX, loop), or
 * temp (retried on processing's schedule: `schedInterval` doubling up to `maxSchedInterval`,
 * at most `maxRetryCount` retries; on the last allowed attempt a temporary failure is recorded
 * as failed). Failures are bounced and a delay notice goes out after processing's
 * `delayNoticeAfter` failed attempts (bounce.ts, store/dsn.ts: the DSN is queued before the
 * outcome is recorded). A recipient the cluster's SMTP routing gave a next hop (QueueRcpt.hop)
 * goes to that back end, whatever the routes say (route.ts hopDestination); when a back end
 * that was failing accepts a message, its other waiting mail is made due at once too. When a destination whose mail was deferred accepts a message, the rest of its
 * waiting mail is made due at once (`makeDueFor`, seed §6).
 *
 * Stop: no more claims; messages not started are handed back to the queue (released, due at
 * once); each connection finishes the message in hand, then its outcomes are recorded.
 *
 * Duplicates: a recipient is sent twice only if the server dies between the remote 250 and
 * the durable record of `relayOutcome` (the lease then ends and the entry is claimed again).
 *
 * DKIM: a message whose author domain (its From: field's; else the envelope sender's) is a
 * local domain with a key (`ctl domain dkim DOMAIN`, store/dkim.ts) is signed with it before it
 * leaves; keys are looked up in the store and kept a minute per thread.
 *
 * Exports: `startWorker(ctx)`, `relayRetryPolicy(options)`. Throws (startWorker)
 * SERVICE_NOT_RUNNING when the thread has no store.
 */
import fs from 'node:fs';
import { PosternError, isPosternError } from '../../errors.ts';
import { optionsOf, type SmtpOutgoingOptions } from '../../config/options.ts';
import { QueueClient, type RetryPolicy } from '../../store/queue-client.ts';
import { readBody } from '../../store/bodies.ts';
import type { RcptOutcome, RelayClaim, RelayOutcome } from '../../store/relay-types.ts';
import type { WorkerContext } from '../../service/protocol.ts';
import type { ActorInfo } from '../../actor/types.ts';
import type { Dnr } from '../../net/dnr-types.ts';
import { Engine, type Signer } from './engine.ts';
import { notify } from './bounce.ts';
import { MtaSts } from './mta-sts.ts';
import { domainOf, hopDestination, routeFor, type Destination } from './route.ts';
import { authorDomain, signMessage, type DkimKey } from '../../store/dkim.ts';
import type { StoreClient } from '../../store/client.ts';
import { createDnr } from '../../net/dnr.ts';
import { defaultDnrOptions } from '../../config/resolve.ts';

const BATCH = 32;
const WAIT_MS = 1000;
/** Messages in hand per thread (claimed, not yet recorded). */
const MAX_IN_HAND = 256;

const KEY_TTL_MS = 60_000;
/** A back end of SMTP routing that accepts: its waiting mail is made due at most this often
 * (besides at once when this thread saw it fail). */
const HOP_WAKE_MS = 5000;

/** DKIM signing with the store's per-domain keys (store/dkim.ts): the DKIM-Signature lines. */
function storeSigner(store: StoreClient): Signer {
  const keys = new Map<string, { key: DkimKey | null; until: number }>();
  const keyOf = async (domain: string): Promise<DkimKey | null> => {
    const c = keys.get(domain);
    if (c !== undefined && c.until > Date.now()) return c.key;
    const key = await store.dkimKey(domain).catch((e: unknown) => {
      if (isPosternError(e, 'STORE_NO_SUCH_DOMAIN')) return null;
      throw e;
    });
    if (keys.size > 10_000) keys.clear();
    keys.set(domain, { key, until: Date.now() + KEY_TTL_MS });
    return key;
  };
  return async (from, body) => {
    const domain = authorDomain(body) ?? domainOf(from);
    if (domain === '') return null;
    const key = await keyOf(domain);
    if (key === null) return null;
    const signed = await signMessage(key, body);
    return signed.subarray(0, signed.length - body.length).toString('utf8');
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What `makeDueFor` wakes when a failing destination accepts again: an MX domain, or a back end
 * of SMTP routing (`hop:<host>:<port>`, its Destination key); a smart host: nothing. */
const failKey = (d: Destination): string | null => (d.key.startsWith('hop:') ? d.key : d.smartHost === null ? d.domain : null);

/** processing's schedule (defaults when processing is not configured). */
export function relayRetryPolicy(o: SmtpOutgoingOptions): RetryPolicy {
  const p = o.processing;
  return {
    baseMs: p?.schedIntervalMs ?? 300_000, maxMs: p?.maxSchedIntervalMs ?? 28_800_000, maxRetries: p?.maxRetryCount ?? 20,
    delayNoticeAfter: p?.delayNoticeAfter ?? 4, ...(p !== null ? { maxReturnBytes: p.maxBounceReturnBytes } : {}),
  };
}

/** The lease covers a whole attempt: every host's connect and a slow conversation. */
const leaseMs = (o: SmtpOutgoingOptions): number => Math.max(10 * 60_000, 4 * (o.connectTimeoutMs + 4 * o.rwTimeoutMs));

export async function startWorker(ctx: WorkerContext, deps: { dnr?: Dnr } = {}) {
  if (ctx.store === null) throw new PosternError('SERVICE_NOT_RUNNING', 'smtpOutgoing needs the store');
  const o = optionsOf(ctx.service, 'smtpOutgoing');
  const store = ctx.store;
  const q = new QueueClient(store);
  const dnr = deps.dnr ?? createDnr(ctx.service.dnr ?? defaultDnrOptions());
  const ca = o.tlsCaFile !== null ? fs.readFileSync(o.tlsCaFile, 'utf8') : null;
  const sts = o.mtaSts ? new MtaSts(dnr, { policyAddress: o.mtaStsPolicyAddress, ca, timeoutMs: o.connectTimeoutMs }) : null;
  const policy = relayRetryPolicy(o);
  const lease = leaseMs(o);
  /** MX destinations and back ends whose last attempt was deferred. */
  const failing = new Set<string>();
  /** Back ends (hop keys) and when their waiting mail was last made due. */
  const hopWoken = new Map<string, number>();
  const counts = { claims: 0, recorded: 0, stale: 0, inHand: 0 };
  let stopping = false;
  let wake: (() => void) | null = null;

  const engine = new Engine({
    dnr, opts: o, sts, ca, log: ctx.log, sign: storeSigner(ctx.store), count: (e: string) => ctx.count?.(e),
    accepted: (dest: Destination) => {
      const k = failKey(dest);
      if (k === null) return;
      // a back end's failures may have been seen by another thread of this service: its
      // waiting mail is also woken every HOP_WAKE_MS while it accepts (one cheap store call)
      const hopDue = k.startsWith('hop:') && (hopWoken.get(k) ?? 0) + HOP_WAKE_MS <= Date.now();
      if (!failing.delete(k) && !hopDue) return;
      if (k.startsWith('hop:')) {
        if (hopWoken.size >= 10_000) hopWoken.clear();
        hopWoken.set(k, Date.now());
      }
      q.makeDueFor(k).catch((e: unknown) => ctx.log.warn({ err: e, domain: k }, 'smtpOutgoing: makeDueFor failed'));
    },
  });

  /** Bounce and delay-notice as due (the DSN queued first), then record the outcomes durably. */
  async function record(claim: RelayClaim, body: Buffer | null, outcomes: RcptOutcome[]): Promise<void> {
    if (outcomes.length === 0) {
      // nothing was tried (stopping): handed back, due again at once
      await q.release([{ id: claim.id, token: claim.token }]).catch(() => {});
      return;
    }
    const last = claim.attempts >= policy.maxRetries;
    let final = outcomes.map((x) => (x.status === 'temp' && last ? { ...x, status: 'failed' as const, why: `${x.why} (gave up after ${claim.attempts + 1} attempts)` } : x));
    let bounced = false;
    let delayNotice = false;
    if (body !== null && final.some((x) => x.status === 'failed')) {
      const r = await notify(q, store, claim, body, 'failure', final.filter((x) => x.status === 'failed'), { policy, log: ctx.log });
      if (r === 'queued') bounced = true;
      if (r === 'error') final = final.map((x) => (x.status === 'failed' ? { ...x, status: 'temp' as const, why: `${x.why} (its bounce could not be queued yet)` } : x));
    }
    const temps = final.filter((x) => x.status === 'temp');
    const after = policy.delayNoticeAfter ?? 0;
    if (body !== null && temps.length > 0 && after > 0 && claim.delayNotices === 0 && claim.attempts + 1 >= after) {
      delayNotice = (await notify(q, store, claim, body, 'delay', temps, { policy, log: ctx.log })) === 'queued';
    }
    const item: RelayOutcome = { id: claim.id, token: claim.token, outcomes: final, ...(bounced ? { bounced } : {}), ...(delayNotice ? { delayNotice } : {}) };
    for (let i = 0; ; i++) {
      try {
        const [res] = await q.relayOutcome([item], policy);
        counts.recorded++;
        if (res?.status === 'stale') counts.stale++;
        return;
      } catch (e) {
        // the remote has answered: keep trying to record it (a crash now may send it twice)
        ctx.log.error({ err: e, id: claim.id }, 'smtpOutgoing: could not record relay outcomes; trying again');
        if (i >= 30) return; // the lease ends; the entry is tried again
        await sleep(Math.min(5000, 100 * 2 ** i));
      }
    }
  }

  async function handle(claim: RelayClaim): Promise<void> {
    let body: Buffer;
    try {
      body = claim.body !== undefined ? Buffer.from(claim.body.buffer, claim.body.byteOffset, claim.body.byteLength) : await readBody(claim.locator);
    } catch (e) {
      await record(claim, null, claim.rcpts.map((r) => ({ index: r.index, status: 'temp', why: `451 4.3.0 the queued message could not be read: ${e instanceof Error ? e.message : String(e)}` })));
      return;
    }
    const requireTls = claim.env.requireTls === true;
    const groups = new Map<string, { dest: Destination; rcpts: RelayClaim['rcpts'] }>();
    for (const r of claim.rcpts) {
      const hop = claim.env.rcpts[r.index]?.hop;
      const dest = hop !== undefined ? hopDestination(hop) : routeFor(o.routes, claim.env.from, r.to);
      const g = groups.get(dest.key) ?? { dest, rcpts: [] };
      g.rcpts.push(r);
      groups.set(dest.key, g);
    }
    const outcomes: RcptOutcome[] = [];
    await new Promise<void>((resolve) => {
      let left = groups.size;
      if (left === 0) resolve();
      for (const g of groups.values()) {
        engine.submit({
          id: claim.id, env: claim.env, body, rcpts: g.rcpts, dest: g.dest, requireTls,
          done: (res) => {
            outcomes.push(...res);
            const k = failKey(g.dest);
            if (k !== null && res.some((x) => x.status === 'temp')) {
              if (failing.size >= 10_000) failing.clear(); // bounded: forgetting one only loses the early retry
              failing.add(k);
            }
            if (--left === 0) resolve();
          },
        });
      }
    });
    await record(claim, body, outcomes);
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      if (counts.inHand >= MAX_IN_HAND) {
        await new Promise<void>((r) => { wake = r; });
        continue;
      }
      let claims: RelayClaim[];
      try {
        claims = await q.claimRelay(Math.min(BATCH, MAX_IN_HAND - counts.inHand), lease, WAIT_MS);
      } catch (e) {
        if (stopping) break;
        ctx.log.warn({ err: e }, 'smtpOutgoing: could not claim from the queue; trying again in 1 s');
        await sleep(1000);
        continue;
      }
      counts.claims += claims.length;
      for (const c of claims) {
        counts.inHand++;
        void handle(c).catch((e: unknown) => ctx.log.error({ err: e, id: c.id }, 'smtpOutgoing: delivery failed; the message stays queued')).finally(() => {
          counts.inHand--;
          const w = wake;
          wake = null;
          w?.();
        });
      }
    }
  }

  const running = loop();
  ctx.log.info({ routes: o.routes.length, maxConnectionsPerDomain: o.maxConnectionsPerDomain }, 'smtpOutgoing: sending from the queue');
  return {
    info: (): ActorInfo[] => [{
      id: `${ctx.threadId}.smtpOutgoing`, kind: 'delivery', state: stopping ? 'stopping' : 'running', mailboxDepth: counts.inHand,
      mailboxCapacity: MAX_IN_HAND, restarts: 0, extra: { ...counts, ...engine.counts },
    }],
    stop: async (): Promise<void> => {
      stopping = true;
      const w = wake;
      wake = null;
      w?.();
      await running;
      engine.stop(); // what has not started is handed back to the queue
      await engine.idle(); // the messages in hand are finished and recorded (bounded by rwTimeout)
      while (counts.inHand > 0) await new Promise<void>((r) => { wake = r; });
    },
  };
}
