/**
 * store/changes.ts: the behaviour of a mailbox actor: every change to one account's folders
 * and messages, turned into a log record, made durable, then applied to the index.
 *
 * Appends are pipelined: the handler checks the folder and the quota (counting appends still
 * in flight), reserves a UID and a modseq, submits the record and returns at once with
 * `{ done }`, so many appends to one mailbox share a group commit; `done` settles once the
 * record is durable and applied. Every other change is a barrier: it waits for the appends in
 * flight, computes against the applied index, and waits for its own record before the actor
 * takes the next message. A failed write applies nothing; its reserved UID is simply never used.
 *
 * `appendMany` (RFC 3502 MULTIAPPEND) checks every message and the quota for their sum before
 * reserving anything, then submits all their APPEND records as one write (one group commit):
 * all are appended or none (a failed write or sync applies none of them; their records carry
 * their place in the group, so recovery after a crash in that write keeps all or none either).
 * `recent` moves a folder's \Recent floor to uidNext and returns the
 * old one (in memory, state.ts). `subscribe` writes an IMAP subscription change. On its first
 * use ('init') a mailbox without INBOX, i.e. a new one, gets DEFAULT_FOLDERS (INBOX, Drafts,
 * Sent, Trash, Junk, Archive, with their special use) all subscribed, in one record; a mailbox
 * that has INBOX already (made before the defaults existed) is left as it is.
 *
 * Each change is published to the account's subscribers (subscriptions.ts) from the callback
 * that applies it, i.e. once it is durable: appends (copies too) as 'append', flag changes as
 * 'flags', expunges (moves too) as 'expunge', each with its modseq; folder changes as
 * 'folders'; subscription changes not at all.
 *
 * Exports: `MailboxCore`, `MailboxMsg`, `MailboxReply`, `Failed`, `Limits`.
 * Fails (handler, as a returned `Failed`): STORE_NO_SUCH_FOLDER, STORE_FOLDER_EXISTS, STORE_BAD_NAME,
 * STORE_BAD_ARGUMENT (also: an unknown special use), STORE_NOT_ALLOWED (also: past MAX_FOLDERS
 * or MAX_SUBSCRIPTIONS), STORE_QUOTA_EXCEEDED;
 * `done` and barrier changes also reject with STORE_NO_SPACE | STORE_IO | STORE_CLOSED from
 * the writer.
 */
import { crc32 } from 'node:zlib';
import { PosternError } from '../errors.ts';
import { FLAG_DELETED, INBOX, bitsToFlags, flagsToBits, folderName, parentNames } from './names.ts';
import { MAX_RECORD_BYTES, encodeAppend, encodeOp, type CopyEntry, type OpRecord } from './record.ts';
import { applyAppend, applyOp, findMsg, nextModseq, nextUid, type Folder, type MailboxState, type Msg } from './state.ts';
import { DEFAULT_FOLDERS, HIERARCHY_SEP, MAX_FOLDERS, MAX_SUBSCRIPTIONS, MAX_UID, SPECIAL_USES } from './types.ts';
import type { Shard } from './shard.ts';
import { encodeStructure, parseStructure, type StructureCache } from './structure.ts';
import { eventTime, type Feeds } from './subscriptions.ts';
import { searchIndexOf } from './search-index.ts';
import type { AppendOptions, AppendResult, CopyResult, ExpungeOptions, ExpungeResult, FlagMode, FlagsResult } from './types.ts';

export interface Limits {
  bytes: number; // Infinity = unlimited
  messages: number;
}

export type MailboxMsg =
  | { op: 'init' }
  | { op: 'append'; folder: string; body: Uint8Array; opts: AppendOptions }
  | { op: 'flags'; folder: string; uids: number[]; flags: string[]; mode: FlagMode; unchangedSince: number | undefined }
  | { op: 'expunge'; folder: string; opts: ExpungeOptions }
  | { op: 'copy'; from: string; uids: number[]; to: string; move: boolean }
  | { op: 'appendMany'; folder: string; messages: Array<{ body: Uint8Array; opts?: AppendOptions }> }
  | { op: 'create'; name: string; use?: string | null }
  | { op: 'subscribe'; name: string; on: boolean }
  | { op: 'recent'; folder: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'delete'; name: string };

export type MailboxReply = { done: Promise<AppendResult> } | { done: Promise<AppendResult[]> } | FlagsResult | ExpungeResult | CopyResult | string | number | void | Failed;

/** An expected failure (a store error kind), returned rather than thrown: a throwing handler
 * would end the actor. Anything else (a bug) is thrown, the actor exits, and the next use of
 * the mailbox starts a fresh one. */
export class Failed {
  readonly error: PosternError;
  constructor(error: PosternError) {
    this.error = error;
  }
}

function failed(e: unknown): Failed {
  if (e instanceof PosternError) return new Failed(e);
  throw e;
}

function badArg(msg: string): PosternError {
  return new PosternError('STORE_BAD_ARGUMENT', msg);
}

function uidList(uids: unknown): number[] {
  if (!Array.isArray(uids)) throw badArg('uids must be an array');
  const out = new Set<number>();
  for (const u of uids) {
    if (!Number.isInteger(u) || (u as number) < 1 || (u as number) > 0xffffffff) throw badArg(`bad uid ${String(u)}`);
    out.add(u as number);
  }
  return [...out].sort((a, b) => a - b);
}

/** A createFolder `specialUse`: one of SPECIAL_USES (any case), spelled as there; absent: null. */
function specialUse(use: unknown): string | null {
  if (use === undefined || use === null) return null;
  const hit = typeof use === 'string' ? SPECIAL_USES.find((u) => u.toUpperCase() === use.toUpperCase()) : undefined;
  if (hit === undefined) throw new PosternError('STORE_BAD_ARGUMENT', `unknown special use ${String(use).slice(0, 40)}`, { specialUse: String(use).slice(0, 40) });
  return hit;
}

function sameKeywords(a: string[] | null, b: string[]): boolean {
  const x = a ?? [];
  if (x.length !== b.length) return false;
  const s = new Set(x.map((k) => k.toUpperCase()));
  return b.every((k) => s.has(k.toUpperCase()));
}

export class MailboxCore {
  readonly accountId: number;
  readonly shard: Shard;
  private readonly limits: () => Limits;
  private reservedBytes = 0;
  private reservedCount = 0;
  private inFlight = 0;
  private lastPending: Promise<unknown> = Promise.resolve();
  private readonly feeds: Feeds | null;
  private readonly structures: StructureCache | null;

  constructor(accountId: number, shard: Shard, limits: () => Limits, feeds?: Feeds, structures?: StructureCache) {
    this.accountId = accountId;
    this.shard = shard;
    this.limits = limits;
    this.feeds = feeds ?? null;
    this.structures = structures ?? null;
  }

  /** Appends submitted but not yet durable. */
  get pending(): number {
    return this.inFlight;
  }

  mb(): MailboxState {
    const mb = this.shard.state.mailbox(this.accountId, true);
    if (mb === undefined) throw new PosternError('STORE_NO_SUCH_ACCOUNT', `account ${this.accountId} was removed`);
    return mb;
  }

  folder(name: string): Folder {
    const n = folderName(name);
    const f = this.mb().byName.get(n);
    if (f === undefined) throw new PosternError('STORE_NO_SUCH_FOLDER', `no folder "${n}"`, { folder: n });
    return f;
  }

  handle(m: MailboxMsg): MailboxReply | Promise<MailboxReply> {
    try {
      const r = this.dispatch(m);
      return r instanceof Promise ? r.catch(failed) : r;
    } catch (e) {
      return failed(e);
    }
  }

  private dispatch(m: MailboxMsg): MailboxReply | Promise<MailboxReply> {
    switch (m.op) {
      case 'append':
        return { done: this.append(m.folder, m.body, m.opts) };
      case 'appendMany':
        return { done: this.appendMany(m.folder, m.messages) };
      case 'recent':
        return this.claimRecent(m.folder);
      case 'init':
        return this.barrier(() => this.ensureDefaults());
      case 'flags':
        return this.barrier(() => this.flags(m.folder, m.uids, m.flags, m.mode, m.unchangedSince));
      case 'expunge':
        return this.barrier(() => this.expunge(m.folder, m.opts));
      case 'copy':
        return this.barrier(() => this.copy(m.from, m.uids, m.to, m.move));
      case 'create': {
        const use = specialUse(m.use); // checked before waiting
        return this.barrier(() => this.create(m.name, use));
      }
      case 'subscribe':
        return this.barrier(() => this.subscribe(m.name, m.on));
      case 'rename':
        return this.barrier(() => this.rename(m.from, m.to));
      case 'delete':
        return this.barrier(() => this.remove(m.name));
    }
  }

  private async barrier<T>(fn: () => Promise<T>): Promise<T> {
    await this.lastPending;
    return fn();
  }

  private commit(op: OpRecord): Promise<unknown> {
    const buf = encodeOp(op);
    return this.shard.submit([buf], buf.length, () => {
      const publish = this.feeds !== null && this.feeds.watched(this.accountId) ? this.eventsOf(op) : null; // names as before the change
      applyOp(this.shard.state, op);
      publish?.();
    });
  }

  /** The events of a durable change, to publish once it is applied. */
  private eventsOf(op: OpRecord): () => void {
    const feeds = this.feeds!;
    const a = this.accountId;
    const mb = this.shard.state.mailbox(a, true);
    const name = (fid: number): string => mb?.folders.get(fid)?.name ?? '';
    switch (op.o) {
      case 'flags': {
        const folder = name(op.f);
        return () => feeds.publish(a, op.f, { kind: 'flags', folder, modseq: op.m, changed: op.ch.map(([uid, b, k]) => ({ uid, flags: bitsToFlags(b, k ?? undefined) })), at: eventTime() });
      }
      case 'expunge': {
        const folder = name(op.f);
        return () => feeds.publish(a, op.f, { kind: 'expunge', folder, modseq: op.m, uids: op.u, at: eventTime() });
      }
      case 'copy': {
        const folder = name(op.f);
        const x = op.x;
        const from = x === undefined ? '' : name(x.f);
        return () => {
          const at = eventTime();
          for (const [uid, fl, kw, date, , , len] of op.e) feeds.publish(a, op.f, { kind: 'append', folder, uid, modseq: op.m, flags: bitsToFlags(fl, kw ?? undefined), size: len, internalDate: date, at });
          if (x !== undefined) feeds.publish(a, x.f, { kind: 'expunge', folder: from, modseq: x.m, uids: x.u, at });
        };
      }
      case 'fdelete':
        return () => feeds.publish(a, op.f, { kind: 'folders', at: eventTime() });
      case 'frename':
        return () => {
          const at = eventTime();
          for (const [fid] of op.rn) feeds.publish(a, fid, { kind: 'folders', at });
        };
      case 'subs':
        return () => {}; // subscriptions are read when asked for (LSUB, LIST)
      default:
        return () => feeds.publish(a, null, { kind: 'folders', at: eventTime() });
    }
  }

  /** A new mailbox gets the default folders (INBOX and the special-use ones), subscribed. A
   * mailbox that has INBOX already is left as it is. */
  private async ensureDefaults(): Promise<void> {
    const mb = this.mb();
    if (mb.byName.has(INBOX)) return;
    await this.createFolders(DEFAULT_FOLDERS.filter(([n]) => !mb.byName.has(n)).map(([n, use]) => [n, use]), true);
  }

  private append(folder: string, body: Uint8Array, opts: AppendOptions): Promise<AppendResult> {
    return this.appendAll(folder, [{ body, opts }]).then((r) => r[0]!);
  }

  private appendMany(folder: string, messages: Array<{ body: Uint8Array; opts?: AppendOptions }>): Promise<AppendResult[]> {
    if (!Array.isArray(messages)) throw badArg('messages must be an array');
    return this.appendAll(folder, messages.map((m) => {
      if (m === null || typeof m !== 'object') throw badArg('each message is { body, opts? }');
      return { body: m.body, opts: m.opts ?? {} };
    }));
  }

  /** Append `items` all or nothing: each is checked, the quota for their sum, then their records
   * go to the log in one submission (one write, one group commit); resolves once all are durable
   * and applied. Throws (before anything is reserved) what any one of them fails with. */
  private appendAll(folder: string, items: Array<{ body: Uint8Array; opts: AppendOptions }>): Promise<AppendResult[]> {
    const f = this.folder(folder);
    if (items.length === 0) return Promise.resolve([]);
    const mb = this.mb();
    const lim = this.limits();
    let total = 0;
    let floor = Math.max(f.uidNext, f.reservedUid); // the next UID as the checks go
    const checked = items.map(({ body, opts }) => {
      if (!(body instanceof Uint8Array)) throw badArg('body must be bytes');
      if (body.byteLength > MAX_RECORD_BYTES - 1024) throw badArg(`message of ${body.byteLength} bytes is over the store's record limit`);
      const { bits, keywords } = flagsToBits(opts.flags);
      const date = opts.internalDate ?? Date.now();
      if (!Number.isFinite(date) || date < 0) throw badArg('bad internalDate');
      // a restore may ask for the UID the message had (never one the folder gave out already)
      if (opts.uid !== undefined && (!Number.isInteger(opts.uid) || opts.uid < floor || opts.uid > MAX_UID)) throw badArg(`uid ${String(opts.uid)} is not above the folder's last one`);
      floor = (opts.uid ?? floor) + 1;
      if (floor > MAX_UID + 1) throw badArg('the folder has no UID left');
      total += body.byteLength;
      return { body, opts, bits, keywords, date: Math.floor(date) };
    });
    if (mb.usedBytes + this.reservedBytes + total > lim.bytes || mb.usedCount + this.reservedCount + items.length > lim.messages) {
      throw new PosternError('STORE_QUOTA_EXCEEDED', 'mailbox quota exceeded', { usedBytes: mb.usedBytes, usedMessages: mb.usedCount, size: total, messages: items.length, limitBytes: lim.bytes, limitMessages: lim.messages });
    }
    // the MIME structure goes into the same record: parsed by the caller, or here, once
    const parsed = checked.map(({ body, opts }) => {
      const size = body.byteLength;
      const given = opts.structure !== undefined && opts.structure !== null && typeof opts.structure === 'object' && opts.structure.v === 1 && opts.structure.size === size;
      if (this.structures !== null) this.structures.counters[given ? 'given' : 'parsedOnAppend']++;
      return given ? opts.structure! : parseStructure(body);
    });
    const encoded = parsed.map((s) => encodeStructure(s));
    // nothing can fail from here on but the write: reserve
    const bufs: Uint8Array[] = [];
    let bytes = 0;
    const recs = checked.map((c, i) => {
      if (c.opts.uid !== undefined) f.reservedUid = c.opts.uid;
      const meta = { a: this.accountId, f: f.id, u: nextUid(f), m: nextModseq(f), fl: c.bits, d: c.date, c: crc32(c.body), ...(checked.length > 1 ? { g: [i, checked.length] } : {}) } as Parameters<typeof encodeAppend>[0];
      if (c.keywords.length > 0) meta.k = c.keywords;
      const rec = encodeAppend(meta, c.body, encoded[i]!);
      const at = bytes;
      bufs.push(...rec.bufs);
      bytes += rec.bytes;
      return { meta, size: c.body.byteLength, bodyAt: at + rec.bodyOffset, flags: bitsToFlags(c.bits, c.keywords.length === 0 ? undefined : c.keywords), body: c.body, structure: parsed[i]! };
    });
    this.reservedBytes += total;
    this.reservedCount += items.length;
    this.inFlight++;
    const state = this.shard.state;
    const release = (): void => {
      this.reservedBytes -= total;
      this.reservedCount -= items.length;
      this.inFlight--;
    };
    const feeds = this.feeds;
    const done = this.shard.submit(bufs, bytes, (pos) => {
      const publish = feeds !== null && feeds.watched(this.accountId);
      for (const r of recs) {
        if (applyAppend(state, r.meta, pos.seg, pos.off + r.bodyAt, r.size)) searchIndexOf(this.shard).add(pos.seg, pos.off + r.bodyAt, r.body, r.structure);
        if (publish) feeds.publish(r.meta.a, r.meta.f, { kind: 'append', folder: f.name, uid: r.meta.u, modseq: r.meta.m, flags: r.flags, size: r.size, internalDate: r.meta.d, at: eventTime() });
      }
    }).then(
      (): AppendResult[] => {
        release();
        return recs.map((r) => ({ folder: f.name, uid: r.meta.u, uidValidity: f.uidValidity, modseq: r.meta.m, size: r.size }));
      },
      (e: unknown) => {
        release();
        throw e;
      },
    );
    this.lastPending = done.catch(() => {});
    return done;
  }

  /** RFC 3501 \Recent: the folder's floor (lowest recent UID) for this caller, moved to uidNext. */
  private claimRecent(folder: string): number {
    const f = this.folder(folder);
    const from = Math.min(f.recent, f.uidNext);
    f.recent = f.uidNext;
    return from;
  }

  private async subscribe(nameIn: string, on: boolean): Promise<void> {
    const name = folderName(nameIn);
    if (typeof on !== 'boolean') throw badArg('on must be a boolean');
    const subs = this.mb().subs;
    if (subs.has(name) === on) return;
    if (on && subs.size >= MAX_SUBSCRIPTIONS) throw new PosternError('STORE_NOT_ALLOWED', `more than ${MAX_SUBSCRIPTIONS} subscriptions`, { limit: MAX_SUBSCRIPTIONS });
    await this.commit({ o: 'subs', a: this.accountId, on, n: [name] });
  }

  private async flags(folder: string, uidsIn: number[], flagsIn: string[], mode: FlagMode, unchangedSince: number | undefined): Promise<FlagsResult> {
    const f = this.folder(folder);
    const uids = uidList(uidsIn);
    if (mode !== 'add' && mode !== 'remove' && mode !== 'set') throw badArg(`bad flag mode ${String(mode)}`);
    const { bits, keywords } = flagsToBits(flagsIn);
    const upper = new Set(keywords.map((k) => k.toUpperCase()));
    const ch: Array<[number, number, string[] | null]> = [];
    const modified: number[] = [];
    for (const uid of uids) {
      const m = findMsg(f, uid);
      if (m === undefined) continue;
      if (unchangedSince !== undefined && m.modseq > unchangedSince) {
        modified.push(uid);
        continue;
      }
      let nb: number;
      let nk: string[];
      if (mode === 'set') [nb, nk] = [bits, keywords];
      else if (mode === 'add') {
        nb = m.fl | bits;
        nk = [...(m.kw ?? [])];
        const have = new Set(nk.map((k) => k.toUpperCase()));
        for (const k of keywords) if (!have.has(k.toUpperCase())) nk.push(k);
      } else {
        nb = m.fl & ~bits;
        nk = (m.kw ?? []).filter((k) => !upper.has(k.toUpperCase()));
      }
      if (nb === m.fl && sameKeywords(m.kw, nk)) continue;
      ch.push([uid, nb, nk.length === 0 ? null : nk]);
    }
    if (ch.length === 0) return { modseq: 0, changed: [], modified };
    const modseq = nextModseq(f);
    await this.commit({ o: 'flags', a: this.accountId, f: f.id, m: modseq, ch });
    return { modseq, changed: ch.map(([uid, b, k]) => ({ uid, flags: bitsToFlags(b, k ?? undefined), modseq })), modified };
  }

  private async expunge(folder: string, opts: ExpungeOptions): Promise<ExpungeResult> {
    const f = this.folder(folder);
    const only = opts.uids === undefined ? null : new Set(uidList(opts.uids));
    const deletedOnly = opts.deletedOnly ?? only === null;
    const uids = f.msgs.filter((m) => (only === null || only.has(m.uid)) && (!deletedOnly || (m.fl & FLAG_DELETED) !== 0)).map((m) => m.uid);
    if (uids.length === 0) return { uids, modseq: 0 };
    const modseq = nextModseq(f);
    await this.commit({ o: 'expunge', a: this.accountId, f: f.id, m: modseq, u: uids });
    return { uids, modseq };
  }

  private async copy(from: string, uidsIn: number[], to: string, move: boolean): Promise<CopyResult> {
    const src = this.folder(from);
    const dst = this.folder(to);
    const msgs: Msg[] = [];
    for (const uid of uidList(uidsIn)) {
      const m = findMsg(src, uid);
      if (m !== undefined) msgs.push(m);
    }
    if (msgs.length === 0) return { uidValidity: dst.uidValidity, map: [] };
    if (!move) {
      const mb = this.mb();
      const lim = this.limits();
      let bytes = 0;
      for (const m of msgs) bytes += m.len;
      if (mb.usedBytes + this.reservedBytes + bytes > lim.bytes || mb.usedCount + this.reservedCount + msgs.length > lim.messages) {
        throw new PosternError('STORE_QUOTA_EXCEEDED', 'mailbox quota exceeded', { usedBytes: mb.usedBytes, usedMessages: mb.usedCount, size: bytes, limitBytes: lim.bytes, limitMessages: lim.messages });
      }
    }
    const map: Array<[number, number]> = [];
    const e: CopyEntry[] = [];
    const dm = nextModseq(dst);
    for (const m of msgs) {
      const uid = nextUid(dst);
      map.push([m.uid, uid]);
      e.push(m.sl === 0 ? [uid, m.fl, m.kw, m.date, m.seg, m.off, m.len, m.crc] : [uid, m.fl, m.kw, m.date, m.seg, m.off, m.len, m.crc, m.sl]);
    }
    const op: OpRecord = { o: 'copy', a: this.accountId, f: dst.id, m: dm, e };
    if (move) op.x = { f: src.id, m: nextModseq(src), u: msgs.map((m) => m.uid) };
    await this.commit(op);
    return { uidValidity: dst.uidValidity, map };
  }

  /** Entries are names, or [name, special use]; `subscribe`: subscribe them too (one record). */
  private async createFolders(names: Array<string | [string, string | null]>, subscribe = false): Promise<void> {
    const mb = this.mb();
    if (mb.folders.size + names.length > MAX_FOLDERS) throw new PosternError('STORE_NOT_ALLOWED', `more than ${MAX_FOLDERS} folders`, { limit: MAX_FOLDERS });
    const fs: Array<[number, string, number, (string | null)?]> = [];
    for (const e of names) {
      const [n, use] = typeof e === 'string' ? [e, null] : e;
      const v = Math.max(mb.lastUidValidity + 1, Math.floor(Date.now() / 1000)) >>> 0;
      mb.lastUidValidity = v;
      fs.push(use === null ? [mb.nextFolderId++, n, v] : [mb.nextFolderId++, n, v, use]);
    }
    const op: OpRecord = { o: 'fcreate', a: this.accountId, fs };
    if (subscribe) op.s = 1;
    await this.commit(op);
  }

  private async create(name: string, use: string | null): Promise<string> {
    const n = folderName(name);
    const mb = this.mb();
    if (mb.byName.has(n)) throw new PosternError('STORE_FOLDER_EXISTS', `folder "${n}" exists`, { folder: n });
    await this.createFolders([...parentNames(n).filter((p) => !mb.byName.has(p)), [n, use]]);
    return n;
  }

  private async rename(fromIn: string, toIn: string): Promise<void> {
    const from = this.folder(fromIn);
    const to = folderName(toIn);
    const mb = this.mb();
    if (from.name === INBOX) throw new PosternError('STORE_NOT_ALLOWED', 'INBOX cannot be renamed');
    if (mb.byName.has(to)) throw new PosternError('STORE_FOLDER_EXISTS', `folder "${to}" exists`, { folder: to });
    if (to.startsWith(from.name + HIERARCHY_SEP)) throw new PosternError('STORE_BAD_NAME', `cannot move "${from.name}" under itself`, { name: to });
    const rn: Array<[number, string]> = [[from.id, to]];
    for (const f of mb.folders.values()) {
      if (!f.name.startsWith(from.name + HIERARCHY_SEP)) continue;
      const nn = to + f.name.slice(from.name.length);
      folderName(nn); // the longer name must still be valid
      if (mb.byName.has(nn)) throw new PosternError('STORE_FOLDER_EXISTS', `folder "${nn}" exists`, { folder: nn });
      rn.push([f.id, nn]);
    }
    const parents = parentNames(to).filter((p) => !mb.byName.has(p) && p !== from.name && !p.startsWith(from.name + HIERARCHY_SEP));
    if (parents.length > 0) await this.createFolders(parents);
    await this.commit({ o: 'frename', a: this.accountId, rn });
  }

  private async remove(name: string): Promise<void> {
    const f = this.folder(name);
    if (f.name === INBOX) throw new PosternError('STORE_NOT_ALLOWED', 'INBOX cannot be deleted');
    await this.commit({ o: 'fdelete', a: this.accountId, f: f.id });
  }
}
