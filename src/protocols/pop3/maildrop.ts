/**
 * protocols/pop3/maildrop.ts: one POP3 session's maildrop (seed 002): the INBOX as it was when
 * the session opened it (a store snapshot, so mail delivered meanwhile shows up only in the
 * next session), kept in typed arrays (about 30 bytes a message, no body), with the session's
 * deletion marks and the \Seen marks it owes the store.
 *
 * - Message numbers are 1-based positions in the snapshot, ascending by UID.
 * - A message marked deleted stays a zombie until QUIT: `status(n)` says 'deleted'; the
 *   counts of `stat()` leave it out (RFC 1939); `update()` at QUIT expunges exactly the marked
 *   UIDs. Nothing else ever deletes: a dropped connection leaves the maildrop as it was.
 * - `markSeen(n)`: \Seen is added in the store (visible to IMAP) once a RETR has sent the
 *   message whole; the writes are batched and not waited for by RETR, and `flushSeen()` (QUIT)
 *   waits for all of them. Messages already \Seen when the snapshot was taken cost nothing.
 * - `body(n)` gives a body's locator, and `bodies` the session's body reader (the store's,
 *   src/store/bodies.ts), which holds the segment files it read until `close()`.
 * - `close()` releases the snapshot (and its lock, with pop3ExclusiveLock) and the files; it
 *   is idempotent and safe in any state. If the thread dies, the store releases the snapshot
 *   when the thread's port closes.
 *
 * Exports: `Maildrop`, `MessageStatus`. Rejects: the store's codes (`open`: STORE_LOCKED with
 * `exclusive`; `update`: STORE_IO, STORE_NO_SPACE, ACTOR_*).
 */
import type { Logger } from '../../log.ts';
import type { Locator, MailboxApi } from '../../store/types.ts';
import { BodyReader } from '../../store/bodies.ts';

export type MessageStatus = 'ok' | 'none' | 'deleted';

const SEEN = 1;
const DELETED = 2;

export class Maildrop {
  readonly count: number;
  readonly uidValidity: number;
  private readonly mb: MailboxApi;
  private readonly log: Logger;
  private readonly snapshotId: number;
  private readonly uids: Uint32Array;
  private readonly sizes: Float64Array;
  private readonly offsets: Float64Array;
  private readonly crcs: Uint32Array;
  private readonly seg: Uint32Array;
  private readonly paths: string[];
  private readonly marks: Uint8Array;
  /** The session's body reader: it holds the segment files it read until `close()`. */
  readonly bodies = new BodyReader();
  private totalBytes = 0;
  private deletedCount = 0;
  private deletedBytes = 0;
  private seenQueue: number[] = [];
  private seenInFlight: Promise<void> | null = null;
  private closed = false;

  private constructor(mb: MailboxApi, log: Logger, snap: Awaited<ReturnType<MailboxApi['snapshot']>>) {
    this.mb = mb;
    this.log = log;
    this.snapshotId = snap.id;
    this.uidValidity = snap.uidValidity;
    const n = snap.messages.length;
    this.count = n;
    this.uids = new Uint32Array(n);
    this.sizes = new Float64Array(n);
    this.offsets = new Float64Array(n);
    this.crcs = new Uint32Array(n);
    this.seg = new Uint32Array(n);
    this.marks = new Uint8Array(n);
    this.paths = [];
    const pathIndex = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const m = snap.messages[i]!;
      this.uids[i] = m.uid;
      this.sizes[i] = m.size;
      this.offsets[i] = m.locator.offset;
      this.crcs[i] = m.locator.crc >>> 0;
      let p = pathIndex.get(m.locator.path);
      if (p === undefined) {
        p = this.paths.length;
        this.paths.push(m.locator.path);
        pathIndex.set(m.locator.path, p);
      }
      this.seg[i] = p;
      if (m.flags.includes('\\Seen')) this.marks[i] = SEEN;
      this.totalBytes += m.size;
    }
  }

  /** Take the snapshot; with `exclusive`, STORE_LOCKED if another session holds the maildrop. */
  static async open(mb: MailboxApi, log: Logger, exclusive: boolean): Promise<Maildrop> {
    const snap = await mb.snapshot('INBOX', exclusive ? { exclusive: true } : undefined);
    return new Maildrop(mb, log, snap);
  }

  /** 1-based message number → its state. */
  status(n: number): MessageStatus {
    if (!Number.isInteger(n) || n < 1 || n > this.count) return 'none';
    return (this.marks[n - 1]! & DELETED) !== 0 ? 'deleted' : 'ok';
  }

  size(n: number): number {
    return this.sizes[n - 1]!;
  }

  /** The unique-id listing (RFC 1939 UIDL): stable across sessions while the folder lives. */
  uniqueId(n: number): string {
    return `${this.uidValidity}.${this.uids[n - 1]!}`;
  }

  /** Messages and octets, deleted ones left out. */
  stat(): { messages: number; octets: number } {
    return { messages: this.count - this.deletedCount, octets: this.totalBytes - this.deletedBytes };
  }

  dele(n: number): void {
    const i = n - 1;
    if ((this.marks[i]! & DELETED) !== 0) return;
    this.marks[i]! |= DELETED;
    this.deletedCount++;
    this.deletedBytes += this.sizes[i]!;
  }

  rset(): void {
    for (let i = 0; i < this.count; i++) this.marks[i]! &= ~DELETED;
    this.deletedCount = 0;
    this.deletedBytes = 0;
  }

  body(n: number): Locator {
    const i = n - 1;
    return { path: this.paths[this.seg[i]!]!, offset: this.offsets[i]!, length: this.sizes[i]!, crc: this.crcs[i]! };
  }

  markSeen(n: number): void {
    const i = n - 1;
    if ((this.marks[i]! & SEEN) !== 0) return;
    this.marks[i]! |= SEEN;
    this.seenQueue.push(this.uids[i]!);
    if (this.seenInFlight === null) this.seenInFlight = this.pumpSeen();
  }

  private async pumpSeen(): Promise<void> {
    while (this.seenQueue.length > 0) {
      const uids = this.seenQueue;
      this.seenQueue = [];
      try {
        await this.mb.setFlags('INBOX', uids, ['\\Seen'], 'add');
      } catch (e) {
        this.log.warn({ err: e, uids: uids.length }, 'pop3: could not mark retrieved messages \\Seen');
      }
    }
    this.seenInFlight = null;
  }

  /** Wait until every \Seen mark owed so far is in the store (or has failed and been logged). */
  async flushSeen(): Promise<void> {
    while (this.seenInFlight !== null) await this.seenInFlight;
  }

  /** UPDATE state (QUIT): expunge the marked UIDs. Resolves with how many were removed. */
  async update(): Promise<number> {
    if (this.deletedCount === 0) return 0;
    const uids: number[] = [];
    for (let i = 0; i < this.count; i++) if ((this.marks[i]! & DELETED) !== 0) uids.push(this.uids[i]!);
    const r = await this.mb.expunge('INBOX', { uids });
    return r.uids.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bodies.close();
    this.mb.release(this.snapshotId).catch((e: unknown) => this.log.warn({ err: e }, 'pop3: snapshot release failed'));
  }
}
