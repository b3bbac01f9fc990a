/**
 * protocols/rpop/index.ts: the `rpop` service (a `WorkerModule`, seed 3.2.11): it polls each
 * enabled remote POP3 connection of every account (store/rpop.ts) on its interval and pulls
 * the new mail into the account's target folder.
 *
 * A poll: take the connection's lease and password from the store; connect (TLS none, implicit
 * or STLS), USER/PASS, UIDL and LIST (pop3-client.ts); hand the store the listing, which
 * forgets the seen UIDLs no longer listed and writes, synced, the intents of the new ones (at
 * most `maxMessagesPerPoll`; the rest wait for the next poll, which then comes at once); RETR
 * each, put a `Received:` line above it and have the store append it to the folder (durable
 * when the call resolves) and record its UIDL seen; only THEN, when the connection does not
 * leave mail on the server, DELE it (and any listed message already seen: a poll that stopped
 * between its append and its QUIT); QUIT. Messages over `maxMessageSize` (by LIST) stay on the
 * remote, counted and logged. So a crash loses nothing and duplicates nothing (store/rpop.ts).
 *
 * Schedule: each connection every max(interval, minInterval); after a failed poll (counted,
 * logged, and kept with its error for `ctl account rpop list`) the wait doubles per failure in
 * a row, up to max(maxRetryInterval, interval); a good poll resets it. At most
 * `maxConnections` polls run at once, over all the service's threads (the store counts the
 * leases).
 *
 * Exports: `startWorker(ctx)`, `startRpop(ctx, hooks?)` (tests: `afterDeliver` runs after each
 * durable copy, before its DELE), `RpopHooks`, `retryDelayMs`. Throws (startWorker)
 * SERVICE_NOT_RUNNING when the thread has no store, CONFIG_READ when caFile cannot be read.
 */
import fs from 'node:fs';
import { PosternError, errorToData, isPosternError } from '../../errors.ts';
import { optionsOf } from '../../config/options.ts';
import type { WorkerContext } from '../../service/protocol.ts';
import type { ActorInfo } from '../../actor/types.ts';
import type { StoreClient } from '../../store/client.ts';
import type { RpopClaim, RpopReport, RpopTls } from '../../store/rpop.ts';
import { Pop3Client } from './pop3-client.ts';

export interface RpopHooks {
  /** After a message's copy is durable and its UIDL seen, before its DELE. */
  afterDeliver?(info: { id: number; uidl: string }): void | Promise<void>;
}

/** The wait after `failures` failed polls in a row (0: the interval). */
export function retryDelayMs(intervalMs: number, failures: number, maxRetryMs: number): number {
  if (failures <= 0) return intervalMs;
  return Math.min(intervalMs * 2 ** Math.min(failures, 40), Math.max(maxRetryMs, intervalMs));
}

interface Sched {
  due: number;
  failures: number;
}

type Lease = { token: number; host: string; port: number; tls: RpopTls; username: string; password: string; interval: number };

const rpc = (store: StoreClient, method: 'schedule' | 'lease' | 'plan' | 'deliver' | 'finish', args: unknown[], transfer?: ArrayBuffer[]): Promise<unknown> =>
  store.call({ t: 'rpop', method, args }, transfer);

function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()];
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${day}, ${d.getUTCDate()} ${mon} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function startWorker(ctx: WorkerContext) {
  return startRpop(ctx);
}

export function startRpop(ctx: WorkerContext, hooks: RpopHooks = {}) {
  if (ctx.store === null) throw new PosternError('SERVICE_NOT_RUNNING', 'rpop needs the store');
  const store = ctx.store;
  const o = optionsOf(ctx.service, 'rpop');
  let ca: Buffer | undefined;
  if (o.caFile !== null) {
    try {
      ca = fs.readFileSync(o.caFile);
    } catch (e) {
      throw new PosternError('CONFIG_READ', `rpop caFile ${o.caFile}: ${(e as Error).message}`);
    }
  }
  const sched = new Map<number, Sched>();
  const running = new Map<number, Pop3Client | null>();
  const counts = { polls: 0, failed: 0, fetched: 0, deleted: 0, tooBig: 0 };
  let stopping = false;
  let wake: (() => void) | null = null;
  const tickMs = Math.max(50, Math.min(1000, o.minIntervalMs));

  async function poll(id: number, s: Sched): Promise<void> {
    const started = Date.now();
    let lease: Lease;
    try {
      lease = (await rpc(store, 'lease', [id, o.maxConnections])) as Lease;
    } catch (e) {
      const limit = isPosternError(e, 'RPOP_BUSY') && e.details?.reason === 'limit';
      if (!isPosternError(e, 'RPOP_BUSY')) ctx.log.warn({ err: e, rpop: id }, 'rpop: could not take the connection');
      s.due = Date.now() + (limit ? tickMs : o.minIntervalMs); // at the limit: tried again at the next tick
      running.delete(id);
      return;
    }
    const intervalMs = Math.max(lease.interval * 1000, o.minIntervalMs);
    const got = { fetched: 0, deleted: 0 };
    let more = false;
    const c = new Pop3Client({
      host: lease.host, port: lease.port, tls: lease.tls, connectTimeoutMs: o.connectTimeoutMs, rwTimeoutMs: o.rwTimeoutMs,
      maxLineLength: o.maxLineLength, maxMessageBytes: o.maxMessageBytes, maxListing: 1_000_000, ...(ca === undefined ? {} : { ca }),
    });
    running.set(id, c);
    let report: Partial<RpopReport>;
    try {
      if (stopping) throw new PosternError('SERVICE_NOT_RUNNING', 'rpop is stopping');
      await c.connect();
      await c.login(lease.username, lease.password);
      const all = await c.messages();
      const fits = all.filter((m) => m.size <= o.maxMessageBytes);
      if (fits.length < all.length) {
        counts.tooBig += all.length - fits.length;
        ctx.log.warn({ rpop: id, host: lease.host, messages: all.length - fits.length, maxMessageSize: o.maxMessageBytes }, 'rpop: messages over maxMessageSize are left on the remote');
      }
      const byUidl = new Map(fits.map((m) => [m.uidl, m]));
      const plan = (await rpc(store, 'plan', [id, lease.token, fits.map((m) => m.uidl), o.maxMessagesPerPoll])) as Omit<RpopClaim, 'password'>;
      more = plan.fetch.length >= o.maxMessagesPerPoll && fits.length - plan.seen.length > plan.fetch.length;
      for (const f of plan.fetch) {
        if (stopping) break;
        const m = byUidl.get(f.uidl)!;
        const raw = await c.retr(m.n);
        const head = Buffer.from(`Received: from ${lease.host} by ${ctx.service.hostname} with POP3 id ${f.uidl}\r\n\tfor <${plan.address}>; ${rfc5322Date(f.date)}\r\n`, 'latin1');
        const body = new Uint8Array(head.length + raw.length);
        body.set(head, 0);
        body.set(raw, head.length);
        const r = (await rpc(store, 'deliver', [id, lease.token, f.uidl, body, f.maybe], [body.buffer])) as { found: boolean };
        if (!r.found) got.fetched++;
        await hooks.afterDeliver?.({ id, uidl: f.uidl });
        if (!plan.leaveOnServer) {
          await c.dele(m.n);
          got.deleted++;
        }
      }
      if (!plan.leaveOnServer && !stopping) {
        for (const u of plan.seen) {
          await c.dele(byUidl.get(u)!.n);
          got.deleted++;
        }
      }
      await c.quit();
      s.failures = 0;
      s.due = more ? Date.now() : started + intervalMs;
      report = { lastPollAt: started, lastError: null, failures: 0, nextPollAt: s.due, ...got };
      counts.polls++;
      counts.fetched += got.fetched;
      counts.deleted += got.deleted;
    } catch (e) {
      c.close();
      s.failures++;
      s.due = Date.now() + retryDelayMs(intervalMs, s.failures, o.maxRetryIntervalMs);
      const d = errorToData(e);
      report = { lastPollAt: started, lastError: { code: d.code, message: d.message }, failures: s.failures, nextPollAt: s.due, fetched: got.fetched };
      counts.polls++;
      counts.failed++;
      counts.fetched += got.fetched;
      // a DELE that was sent before the failure is not committed (no QUIT): not counted
      ctx.log.warn({ rpop: id, host: lease.host, port: lease.port, code: d.code, failures: s.failures, retryInMs: s.due - Date.now() }, `rpop: poll of connection ${id} failed: ${d.message}`);
    } finally {
      running.delete(id);
    }
    await rpc(store, 'finish', [id, lease.token, report]).catch((e: unknown) => ctx.log.warn({ err: e, rpop: id }, 'rpop: could not report a poll'));
  }

  async function loop(): Promise<void> {
    while (!stopping) {
      try {
        const list = (await rpc(store, 'schedule', [])) as Array<{ id: number; interval: number }>;
        const ids = new Set(list.map((x) => x.id));
        for (const id of sched.keys()) if (!ids.has(id)) sched.delete(id);
        const now = Date.now();
        for (const x of list) if (!sched.has(x.id)) sched.set(x.id, { due: now, failures: 0 });
        const due = [...sched].filter(([id, s]) => s.due <= now && !running.has(id)).sort((a, b) => a[1].due - b[1].due);
        for (const [id, s] of due) {
          if (running.size >= o.maxConnections || stopping) break;
          running.set(id, null);
          void poll(id, s).catch((e: unknown) => {
            running.delete(id);
            ctx.log.error({ err: e, rpop: id }, 'rpop: poll crashed');
          });
        }
      } catch (e) {
        if (stopping) break;
        ctx.log.warn({ err: e }, 'rpop: could not read the connections from the store');
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, tickMs);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
      wake = null;
    }
  }

  const main = loop();
  ctx.log.info({ maxConnections: o.maxConnections, minIntervalMs: o.minIntervalMs }, 'rpop: polling remote POP3 connections');
  return {
    info: (): ActorInfo[] => [{
      id: `${ctx.threadId}.rpop`, kind: 'rpop', state: stopping ? 'stopping' : 'running', mailboxDepth: running.size,
      mailboxCapacity: o.maxConnections, restarts: 0, extra: { connections: sched.size, ...counts },
    }],
    stop: async (): Promise<void> => {
      stopping = true;
      wake?.();
      for (const c of running.values()) c?.close();
      await main;
      const until = Date.now() + 5000;
      while (running.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    },
  };
}
