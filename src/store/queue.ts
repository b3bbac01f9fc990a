/**
 * store/queue.ts: the mail queue, inside the store thread. A message SMTP accepted is written
 * here (ENQUEUE record, fdatasync, group commit shared by concurrent sessions) before SMTP
 * answers 250; the processing service claims due entries, and delivery (queue-deliver.ts)
 * appends them to mailboxes and records each recipient's outcome; an entry leaves the queue
 * (DONE record) only once every local recipient's copy is durable or has failed for good.
 *
 * Log: `<store>/queue/seg-*.log`, the store's segment writer and record framing
 * (queue-record.ts). Recovery at open replays every segment, cuts each at its first torn record,
 * and marks every entry still pending as "maybe attempted": before appending for it again,
 * delivery looks for the copy a killed process may already have written (queue-deliver.ts).
 * Compaction: once a sealed segment is mostly dead (its live bodies under half its size), its
 * still-live entries are copied forward (ENQUEUE with their state) and the segment is deleted;
 * segments go oldest first, so a STATE record is never lost while its ENQUEUE survives.
 *
 * Claims are leases (memory only): `claim` hands out due entries with a token (and the body,
 * when it is still in memory and small); an entry whose worker vanished is handed out again
 * when the lease ends. `claim` waits up to `waitMs` for work (woken by enqueues, retries and
 * due times). Processing's `claim` takes entries with a pending local recipient; smtpOutgoing's
 * `claimRelay` takes entries with relay recipients and no pending local one (locals first), due
 * at their relay time (`st.rn`); `makeDueFor(domain)` makes those waiting for a domain due now.
 * Relay outcomes (queue-relay.ts) are durable before they are answered. Leases are not kept
 * across a restart: an entry leased when the server died is due again at start.
 *
 * Time: every lease, due time, retry schedule and age reads `opts.clock` (default `Date.now`), so
 * tests drive leases and the retry schedule on a manual clock; the wait timers stay real (a
 * waiting claim re-reads the clock when it wakes). Ids keep the wall clock.
 *
 * Delivery outcomes (`record`) change the index at once and are written lazily: they ride
 * along with the next ENQUEUE's write and sync, or go out within `lazyMs`. Losing them in a
 * crash loses nothing: the copies they record are already durable in the mailboxes, and the
 * entries come back "maybe attempted", so the copies are found rather than written again.
 * Operators' changes (`retry`, `remove`) are durable before they are answered.
 *
 * Delivery at receipt (local-delivery.ts) bypasses the queue for local mail while processing
 * runs (`processingLive`, from processing's claims); it takes its ids from `newId`, and, when a
 * copy cannot be appended, enqueues the message under that id with the recipients already
 * delivered recorded (`enqueue`'s `as`).
 *
 * Exports: `Queue`, `QueueOptions`, `QueueMetrics` (and re-exports the entry types of queue-record.ts).
 * Rejects: QUEUE_FULL, QUEUE_NO_SUCH_ENTRY, QUEUE_ENTRY_BUSY, STORE_BAD_ARGUMENT,
 * STORE_NO_SPACE | STORE_IO (the write failed: nothing was accepted), STORE_CLOSED.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { PosternError } from '../errors.ts';
import { fsyncDir, type FsLayer } from './fsio.ts';
import { readBody } from './bodies.ts';
import { SegmentWriter, segmentFile, type StoreLog } from './writer.ts';
import {
  QREC_ENQUEUE, QREC_STATE, checkEnvelope, encodeDone, encodeEnqueue, encodeState, initialState, replayQueueLog,
  RELAY_WAIT, RELAY_DEFERRED, entryStatus, type ClaimedEntry, type DoneRecord, type EnqueueMeta, type EntryState, type QueueEntry, type QueueListItem, type QueueStats, type StateRecord,
} from './queue-record.ts';
import { queueList, queueRemove, queueRetry, queueShow } from './queue-admin.ts';
import type { Locator } from './types.ts';
import type { RelayClaim } from './relay-types.ts';

export type { ClaimedEntry, QueueEntry, QueueListItem, QueueStats } from './queue-record.ts';

/** processing counts as running this long after its last claim (its lanes claim at least once
 * a second: processing/index.ts WAIT_MS). */
const LIVE_MS = 2000;

/** The queue as /metrics shows it (`queue.stats`). */
export interface QueueMetrics {
  entries: number; // messages in the queue
  pending: number; // with a local recipient still to deliver
  deferred: number; // of those, tried at least once
  waiting: number; // only remote recipients left (waiting for smtpOutgoing)
  oldestAgeSec: number; // age of the oldest message (0 when empty)
  received: number; // counters since the store opened
  delivered: number; // recipients
  deferrals: number; // delivery attempts that left a local recipient pending
  failed: number; // recipients failed for good
}

export interface QueueOptions {
  dir: string;
  fs: FsLayer;
  log: StoreLog;
  maxSegmentBytes?: number; // default 8 MiB
  cacheBytes?: number; // bodies kept in memory for delivery, default 32 MiB
  maxEntries?: number; // default 200,000
  compactIntervalMs?: number; // default 5 s; 0 = only after a segment rolls
  lazyMs?: number; // delivery outcomes are written within this long, default 50 ms
  claimBodyBytes?: number; // bodies up to this size travel with the claim, default 256 KiB
  clock?: { now(): number }; // ms since the epoch, default Date.now (tests pass a manual clock)
}

export class Queue {
  readonly dir: string;
  private readonly o: QueueOptions;
  private writer!: SegmentWriter;
  private readonly entries = new Map<string, QueueEntry>();
  /** Entries with a pending local recipient, in arrival order. */
  private readonly active = new Set<string>();
  /** Entries with a relay recipient and no pending local one (smtpOutgoing's, queue-relay.ts). */
  private readonly relayable = new Set<string>();
  private relayWaiters: Array<() => void> = [];
  private segs: number[] = [];
  private readonly cache = new Map<string, Buffer>();
  private cachedBytes = 0;
  private waiters: Array<() => void> = [];
  private seq = Math.floor(Math.random() * 1_679_616);
  private tokens = 0;
  private compacting: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private idle: Array<() => void> = [];
  private lazy: Buffer[] = [];
  /** Entries still 'recovered' (see `maybe`), and the INBOX index built to check them. */
  recoveredLeft = 0;
  readonly recoveryIndex = new Map<string, Set<string>>();
  private lazyTimer: NodeJS.Timeout | null = null;
  /** processing's claims (`processingLive`): waiting now; the last one (performance.now()); the
   * last `release`. */
  private claimsWaiting = 0;
  private claimedAt = -Infinity;
  private releasedAt = -Infinity;

  private constructor(o: QueueOptions) {
    this.o = o;
    this.dir = o.dir;
  }

  /** The queue's clock (`opts.clock`): ms since the epoch. */
  now(): number {
    return this.o.clock?.now() ?? Date.now();
  }

  static async open(o: QueueOptions): Promise<Queue> {
    const q = new Queue(o);
    await q.recover();
    return q;
  }

  private async recover(): Promise<void> {
    const t0 = performance.now();
    const { segs, records, tornBytes: torn, activeSize } = replayQueueLog(this.dir, this.o.log, (seg, rec) => {
      if (rec.type === QREC_ENQUEUE) this.applyEnqueue(rec.meta, seg, rec.bodyStart, rec.bodyLen);
      else if (rec.type === QREC_STATE) this.applyState(rec.rec);
      else this.applyDone(rec.rec);
    });
    const active = segs[segs.length - 1] ?? 1;
    this.segs = segs.length > 0 ? segs : [active];
    this.writer = await SegmentWriter.open(
      { dir: this.dir, fs: this.o.fs, maxSegmentBytes: this.o.maxSegmentBytes ?? 8 << 20, log: this.o.log, onRoll: (n) => this.onRoll(n) },
      active,
      segs.length > 0 ? activeSize : 0,
    );
    for (const id of this.active) this.entries.get(id)!.maybe = 'recovered';
    this.recoveredLeft = this.active.size;
    this.o.log.info({ entries: this.entries.size, pending: this.active.size, segments: segs.length, records, tornBytes: torn, ms: Math.round(performance.now() - t0) }, 'queue recovery: opened');
    const every = this.o.compactIntervalMs ?? 5000;
    if (every > 0) {
      this.timer = setInterval(() => void this.compact(), every);
      this.timer.unref();
    }
  }

  // ---- applying records (live once durable, and at recovery) ----

  private applyEnqueue(meta: EnqueueMeta, seg: number, off: number, size: number): void {
    const prev = this.entries.get(meta.id);
    const e: QueueEntry = prev ?? { id: meta.id, env: meta.env, crc: meta.crc, size, seg, off, st: meta.st ?? initialState(meta.env), token: 0, leasedUntil: 0, busy: false, writes: 0, maybe: false };
    e.seg = seg;
    e.off = off;
    if (meta.st !== undefined) e.st = meta.st;
    this.entries.set(meta.id, e);
    this.track(e);
  }

  private applyState(r: StateRecord): void {
    const e = this.entries.get(r.id);
    if (e === undefined) return;
    for (const [i, s, why] of r.r) if (e.st.r[i] !== undefined) e.st.r[i] = { s, why };
    e.st.att = r.att;
    e.st.next = r.next;
    e.st.err = r.err;
    if (r.ra !== undefined) e.st.ra = r.ra;
    if (r.rn !== undefined) e.st.rn = r.rn;
    if (r.dn !== undefined) e.st.dn = r.dn;
    if (r.rb !== undefined) e.st.rb = [...new Set([...(e.st.rb ?? []), ...r.rb])];
    this.track(e);
  }

  private applyDone(r: DoneRecord): void {
    const e = this.entries.get(r.id);
    if (e === undefined) return;
    if (e.maybe === 'recovered') {
      e.maybe = false;
      this.dropRecovered();
    }
    this.entries.delete(r.id);
    this.active.delete(r.id);
    this.relayable.delete(r.id);
    this.uncache(r.id);
  }

  private track(e: QueueEntry): void {
    const pending = e.st.r.some((r) => r.s === 'pending');
    if (pending) this.active.add(e.id);
    else this.active.delete(e.id);
    if (pending || !e.st.r.some((r) => r.s === 'relay')) this.relayable.delete(e.id);
    else if (!this.relayable.has(e.id)) {
      this.relayable.add(e.id);
      this.wakeRelay(); // relay-due now (new mail, or its local recipients are done)
    }
  }

  // ---- bodies ----

  locator(e: QueueEntry): Locator {
    return { path: this.writer.pathOf(e.seg), offset: e.off, length: e.size, crc: e.crc };
  }

  async body(e: QueueEntry): Promise<Buffer> {
    return this.cache.get(e.id) ?? readBody(this.locator(e));
  }

  private uncache(id: string): void {
    const b = this.cache.get(id);
    if (b === undefined) return;
    this.cache.delete(id);
    this.cachedBytes -= b.length;
  }

  private remember(id: string, body: Buffer): void {
    const max = this.o.cacheBytes ?? 32 << 20;
    if (body.length > max / 4) return;
    this.cache.set(id, body);
    this.cachedBytes += body.length;
    for (const [k, b] of this.cache) {
      if (this.cachedBytes <= max) break;
      this.cache.delete(k);
      this.cachedBytes -= b.length;
    }
  }

  // ---- enqueue and claim ----

  /** A new queue id (also delivery at receipt's, store/local-delivery.ts: one namespace). */
  newId(): string {
    for (;;) {
      this.seq = (this.seq + 1) % 1_679_616;
      const id = `${Date.now().toString(36)}${this.seq.toString(36).padStart(4, '0')}`.toUpperCase();
      if (!this.entries.has(id)) return id;
    }
  }

  private check(): void {
    if (this.closed) throw new PosternError('STORE_CLOSED', 'the queue is closed');
  }

  /** Write a message to the queue; resolves with its id once it is durable. `as`: the id and
   * recipients' state of a message delivery at receipt could not finish (local-delivery.ts). */
  async enqueue(envIn: unknown, bodyIn: Uint8Array, as?: { id: string; st: EntryState }): Promise<{ id: string }> {
    this.check();
    const env = checkEnvelope(envIn);
    if (!(bodyIn instanceof Uint8Array)) throw new PosternError('STORE_BAD_ARGUMENT', 'the body must be bytes');
    const max = this.o.maxEntries ?? 200_000;
    if (this.entries.size >= max) throw new PosternError('QUEUE_FULL', `the queue holds its maximum of ${max} messages`, { maxEntries: max });
    const body = Buffer.isBuffer(bodyIn) ? bodyIn : Buffer.from(bodyIn.buffer, bodyIn.byteOffset, bodyIn.byteLength);
    const meta: EnqueueMeta = as === undefined ? { id: this.newId(), env, crc: crc32(body) } : { id: as.id, env, crc: crc32(body), st: as.st };
    const rec = encodeEnqueue(meta, body);
    this.flushLazy(); // outcomes waiting to be written share this write and its sync
    await this.writer.submit(rec.bufs, rec.bytes, (pos) => this.applyEnqueue(meta, pos.seg, pos.off + rec.bodyOffset, body.length));
    this.remember(meta.id, body);
    this.counters.received++;
    this.wakeOne(); // one new entry: one waiting worker is enough
    return { id: meta.id };
  }

  /** Lease up to `max` due entries for `leaseMs`; wait up to `waitMs` when none is due. */
  async claim(max: number, leaseMs: number, waitMs: number): Promise<ClaimedEntry[]> {
    this.check();
    this.claimedAt = performance.now();
    const out = this.take(max, leaseMs);
    if (out.length > 0 || waitMs <= 0) return out;
    this.claimsWaiting++;
    try {
      await this.waitForWork(waitMs);
    } finally {
      this.claimsWaiting--;
      this.claimedAt = performance.now();
    }
    return this.closed ? [] : this.take(max, leaseMs);
  }

  /** Is processing running now? One of its lanes waits in `claim`, or one claimed within
   * LIVE_MS and none has given its leases back since (a stopping lane does: `release`).
   * Delivery at receipt (local-delivery.ts) is only for a server whose processing runs. */
  processingLive(): boolean {
    if (this.claimsWaiting > 0) return true;
    return this.claimedAt > this.releasedAt && performance.now() - this.claimedAt < LIVE_MS;
  }

  /** Processing's claims come from `active` (a pending local recipient), smtpOutgoing's from
   * `relayable` (relay recipients, no pending one): the two sets never share an entry, so
   * neither hands out an entry the other holds. */
  private take(max: number, leaseMs: number, from = this.active, due = (e: QueueEntry): number => e.st.next): ClaimedEntry[] {
    const now = this.now();
    const out: ClaimedEntry[] = [];
    for (const id of from) {
      if (out.length >= max) break;
      const e = this.entries.get(id)!;
      if (e.busy || e.leasedUntil > now || due(e) > now) continue;
      e.token = ++this.tokens;
      e.leasedUntil = now + leaseMs;
      const c: ClaimedEntry = { id, token: e.token, env: e.env, size: e.size, locator: this.locator(e), attempts: from === this.active ? e.st.att : (e.st.ra ?? 0) };
      const body = this.cache.get(id);
      if (body !== undefined && body.length <= (this.o.claimBodyBytes ?? 256 << 10)) c.body = body;
      out.push(c);
    }
    return out;
  }

  private waitForWork(ms: number, from = this.active, due = (e: QueueEntry): number => e.st.next, waiters = this.waiters): Promise<void> {
    const now = this.now();
    let soonest = now + ms;
    for (const id of from) {
      const e = this.entries.get(id)!;
      if (!e.busy) soonest = Math.min(soonest, Math.max(due(e), e.leasedUntil));
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        const i = waiters.indexOf(done);
        if (i >= 0) waiters.splice(i, 1);
        resolve();
      };
      const t = setTimeout(done, Math.max(1, soonest - now));
      waiters.push(done);
    });
  }

  // ---- relayed mail, for smtpOutgoing (queue-relay.ts records the outcomes) ----

  private readonly relayDue = (e: QueueEntry): number => e.st.rn ?? 0;

  /** Lease up to `max` relay-due entries (relay recipients, no pending local one) for
   * `leaseMs`; wait up to `waitMs` when none is due. */
  async claimRelay(max: number, leaseMs: number, waitMs: number): Promise<RelayClaim[]> {
    this.check();
    const until = performance.now() + waitMs;
    let out = this.take(max, leaseMs, this.relayable, this.relayDue);
    for (let left = waitMs; out.length === 0 && left > 0 && !this.closed; left = until - performance.now()) {
      await this.waitForWork(left, this.relayable, this.relayDue, this.relayWaiters);
      if (!this.closed) out = this.take(max, leaseMs, this.relayable, this.relayDue); // (woken by an entry still busy: wait on)
    }
    return out.map((c) => {
      const e = this.entries.get(c.id)!;
      return { ...c, rcpts: e.st.r.flatMap((r, index) => (r.s === 'relay' ? [{ index, to: e.env.rcpts[index]!.to }] : [])), delayNotices: e.st.dn ?? 0 };
    });
  }

  /** Entries waiting (after a temporary failure) for a recipient in `domain` are due now (a
   * destination that was failing accepted a message); `hop:<host>:<port>`: for a recipient
   * routed to that back end. In memory: a restart keeps their time. */
  makeDueFor(domain: unknown): number {
    if (typeof domain !== 'string' || domain === '') throw new PosternError('STORE_BAD_ARGUMENT', 'makeDueFor: a domain name');
    const d = domain.toLowerCase().replace(/\.$/, '');
    // `hop:<host>:<port>`: the recipients SMTP routing sent to that back end (QueueRcpt.hop)
    const hop = d.startsWith('hop:') ? d : null;
    const now = this.now();
    let n = 0;
    for (const id of this.relayable) {
      const e = this.entries.get(id)!;
      if (this.relayDue(e) <= now) continue;
      const waits = (i: number): boolean => {
        const rc = e.env.rcpts[i]!;
        if (hop !== null) return rc.hop !== undefined && `hop:${rc.hop.host.toLowerCase()}:${rc.hop.port}` === hop;
        return rc.hop === undefined && rc.to.slice(rc.to.lastIndexOf('@') + 1).toLowerCase() === d;
      };
      if (!e.st.r.some((r, i) => r.s === 'relay' && waits(i))) continue;
      e.st.rn = now;
      n++;
    }
    if (n > 0) this.wakeRelay();
    return n;
  }

  private wakeRelay(): void {
    for (const w of [...this.relayWaiters]) w();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
    this.wakeRelay();
  }

  private wakeOne(): void {
    this.waiters.shift()?.();
  }

  /** Give leased entries back unprocessed (a stopping worker: processing is not live until
   * its next claim, `processingLive`). */
  release(items: Array<{ id: string; token: number }>): void {
    this.releasedAt = performance.now();
    for (const it of items) {
      const e = this.entries.get(it.id);
      if (e !== undefined && e.token === it.token && !e.busy) e.leasedUntil = 0;
    }
    this.wake();
  }

  // ---- for delivery (queue-deliver.ts) ----

  /** Start delivering a claimed entry: null if the lease is no longer this token's. */
  begin(id: string, token: number): QueueEntry | null {
    const e = this.entries.get(id);
    if (e === undefined || e.token !== token || e.busy || this.closed) return null;
    e.busy = true;
    e.leasedUntil = 0;
    return e;
  }

  end(e: QueueEntry): void {
    e.busy = false;
    if (this.relayable.has(e.id)) this.wakeRelay(); // may have become relay-due while busy
    if (this.closed && [...this.entries.values()].every((x) => !x.busy)) for (const f of this.idle.splice(0)) f();
  }

  /** Write a STATE or DONE record for `e`; applied once durable. */
  async commit(e: QueueEntry, rec: StateRecord | DoneRecord): Promise<void> {
    this.flushLazy(); // records of this entry applied earlier go first
    const isDone = !('att' in rec);
    const buf = isDone ? encodeDone(rec as DoneRecord) : encodeState(rec as StateRecord);
    e.writes++;
    try {
      await this.writer.submit([buf], buf.length, () => (isDone ? this.applyDone(rec as DoneRecord) : this.applyState(rec as StateRecord)));
    } finally {
      e.writes--;
    }
  }

  /** One fewer entry left from recovery; the INBOX index is dropped with the last. */
  dropRecovered(): void {
    if (--this.recoveredLeft <= 0) this.recoveryIndex.clear();
  }

  /** A delivery outcome: applied now, written lazily (see the contract above). */
  record(rec: StateRecord | DoneRecord): void {
    if ('att' in rec) this.applyState(rec);
    else this.applyDone(rec);
    this.lazy.push('att' in rec ? encodeState(rec) : encodeDone(rec));
    if (this.lazy.length >= 512) this.flushLazy();
    else this.lazyTimer ??= setTimeout(() => this.flushLazy(), this.o.lazyMs ?? 50);
  }

  private flushLazy(): void {
    if (this.lazyTimer !== null) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    if (this.lazy.length === 0) return;
    const bufs = this.lazy;
    this.lazy = [];
    let bytes = 0;
    for (const b of bufs) bytes += b.length;
    this.writer.submit(bufs, bytes).catch((e: unknown) => this.o.log.warn({ err: e, records: bufs.length }, 'queue: delivery outcomes not written (they will be found again after a restart)'));
  }

  get(id: string): QueueEntry | undefined {
    return this.entries.get(id);
  }

  get log(): StoreLog {
    return this.o.log;
  }

  // ---- operators (`postern ctl queue …`, queue-admin.ts) ----

  list(): QueueListItem[] {
    return queueList(this);
  }

  show(id: unknown): Promise<Record<string, unknown>> {
    return queueShow(this, id);
  }

  retry(id: unknown): Promise<QueueListItem> {
    return queueRetry(this, id);
  }

  remove(id: unknown): Promise<{ id: string }> {
    return queueRemove(this, id);
  }

  /** Every entry, for the operators' views. */
  all(): IterableIterator<QueueEntry> {
    return this.entries.values();
  }

  /** Due now (after an operator's retry): handed out at the next claim. */
  makeDue(e: QueueEntry): void {
    e.leasedUntil = 0;
    this.wake();
  }

  stats(): QueueStats {
    return { entries: this.entries.size, pending: this.active.size, segments: this.segs.length, cachedBytes: this.cachedBytes };
  }

  /** Since this queue was opened: messages enqueued, recipients delivered, delivery attempts
   * deferred, recipients failed for good (delivery, queue-deliver.ts, counts the last three). */
  readonly counters = { received: 0, delivered: 0, deferrals: 0, failed: 0 };

  /** For /metrics: the queue now (a walk over the entries) and the counters. */
  metrics(now = this.now()): QueueMetrics {
    let deferred = 0;
    let waiting = 0;
    let oldest = now;
    for (const e of this.entries.values()) {
      const st = entryStatus(e);
      if (st === 'deferred') deferred++;
      else if (st === RELAY_WAIT || st === RELAY_DEFERRED) waiting++;
      if (e.env.receivedAt < oldest) oldest = e.env.receivedAt;
    }
    return { entries: this.entries.size, pending: this.active.size, deferred, waiting, oldestAgeSec: Math.max(0, (now - oldest) / 1000), ...this.counters };
  }

  // ---- compaction ----

  private onRoll(n: number): void {
    this.segs.push(n);
    setImmediate(() => void this.compact());
  }

  /** Copy live entries out of sealed segments (oldest first) and delete those segments. */
  compact(): Promise<void> {
    this.compacting ??= this.compactNow()
      .catch((e: unknown) => this.o.log.error({ err: e }, 'queue: compaction failed'))
      .finally(() => (this.compacting = null));
    return this.compacting;
  }

  private async compactNow(): Promise<void> {
    this.flushLazy(); // outcomes already applied go to the log before any copy that includes them
    while (!this.closed) {
      const oldest = this.segs[0];
      if (oldest === undefined || oldest >= this.writer.activeSegment) return;
      const now = this.now();
      const live = [...this.entries.values()].filter((e) => e.seg === oldest);
      if (live.some((e) => e.busy || e.writes > 0 || e.leasedUntil > now)) return; // next round
      let segBytes = 0;
      try {
        segBytes = fs.statSync(path.join(this.dir, segmentFile(oldest))).size;
      } catch {
        // gone already: nothing to keep from it
      }
      if (live.reduce((n, e) => n + e.size, 0) * 2 > segBytes && segBytes > 0) return; // mostly live: copying would only churn
      for (const e of live) e.busy = true;
      try {
        await Promise.all(live.map(async (e) => {
          const body = await this.body(e);
          const meta: EnqueueMeta = { id: e.id, env: e.env, crc: e.crc, st: structuredClone(e.st) };
          const rec = encodeEnqueue(meta, body);
          await this.writer.submit(rec.bufs, rec.bytes, (pos) => {
            e.seg = pos.seg;
            e.off = pos.off + rec.bodyOffset;
          });
        }));
      } finally {
        for (const e of live) e.busy = false;
      }
      if ([...this.entries.values()].some((e) => e.seg === oldest)) return;
      fs.rmSync(path.join(this.dir, segmentFile(oldest)), { force: true });
      await fsyncDir(this.o.fs, this.dir);
      this.segs.shift();
      if (live.length > 0) this.o.log.info({ seg: oldest, moved: live.length }, 'queue: segment compacted');
    }
  }

  async close(timeoutMs = 10_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.wake();
    if ([...this.entries.values()].some((e) => e.busy)) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.idle.push(() => (clearTimeout(t), resolve()));
      });
    }
    await this.compacting;
    this.flushLazy();
    await this.writer.close();
  }
}
