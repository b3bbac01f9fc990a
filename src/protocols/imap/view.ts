/**
 * protocols/imap/view.ts: the selected mailbox as one IMAP session sees it (SELECT / EXAMINE):
 * the UIDs in sequence order, each message's flags and modseq as last told to the client, the
 * session's \Recent messages, and a subscription to the folder whose events are folded in as
 * they arrive.
 *
 * Two layers are kept: what the store holds (as far as the events and this session's own
 * results say) and what the client was told. `updates(expunges)` renders the difference as
 * untagged responses and makes the told layer match: `* n EXPUNGE` (highest sequence number
 * first, so the numbers still to come are not shifted) or `* VANISHED uids` once QRESYNC is
 * enabled, `* n EXISTS`, `* n RECENT` (IMAP4rev1 sessions only), and `* n FETCH (FLAGS (…)
 * [UID u] [MODSEQ (m)])` for flags changed elsewhere. With `expunges` false the expunged
 * messages keep their sequence numbers until a command that may tell them.
 *
 * Folding is idempotent, so the subscription's events may overlap what a read of the folder
 * showed (the store's rule: compare modseqs): an append with a UID at or below the highest
 * known is already known; a flag change with a modseq at or below the message's is already
 * known; an expunge of a UID not held is already done. This session's own changes (STORE,
 * EXPUNGE, MOVE) are applied from their results with the same rules (`ownFlags`,
 * `ownExpunge`), so the client is told of each once whichever comes first. A 'resync' event
 * (the subscriber fell behind) re-reads the folder and diffs; 'folders' checks the folder still
 * exists; 'gone' (the account was removed) and a folder deleted empty the view.
 *
 * \Recent: a read-write IMAP4rev1 session claims the folder's recent messages
 * (`MailboxApi.claimRecent`) at SELECT and again when appends arrive, before they are told.
 *
 * Exports: `openView`, `View`, `ViewOptions`, `uidSetText`, `caughtUp(view, uid)`. `openView` rejects with the
 * store's codes (STORE_NO_SUCH_FOLDER …); the view itself throws nothing.
 */
import { PosternError } from '../../errors.ts';
import type { Subscription } from '../../store/client.ts';
import type { Locator, MailboxApi, MailboxEvent, MessageMeta } from '../../store/types.ts';
import type { Enabled, MailboxView, SearchMessage } from './types.ts';

export interface ViewOptions {
  mailbox: MailboxApi;
  /** Opens the folder's subscription (`StoreClient.subscribe(address, folder)`). */
  subscribe: (folder: string) => Promise<Subscription>;
  folder: string;
  /** EXAMINE (or a read-only SELECT): no \Recent claimed, no flag changes. */
  readOnly: boolean;
  /** The session's ENABLEd set (read live: CONDSTORE, QRESYNC, IMAP4REV2). */
  enabled: ReadonlySet<Enabled>;
}

/** One message as the view holds it. */
interface Msg {
  flags: string[];
  modseq: number;
  internalDate: number;
  size: number;
  /** Where its body lies as last read from the store (null: not known yet, e.g. an append
   * event's); a compaction may move it, so a failed read asks the store again. */
  loc: Locator | null;
  /** Expunged in the store, its sequence number not yet given up to the client. */
  gone: boolean;
}

/** A UID list (any order) as an IMAP sequence set text: "1:3,7". */
export function uidSetText(uids: readonly number[]): string {
  const a = [...uids].sort((x, y) => x - y);
  const parts: string[] = [];
  for (let i = 0; i < a.length; ) {
    let j = i;
    while (j + 1 < a.length && a[j + 1]! <= a[j]! + 1) j++;
    parts.push(a[i] === a[j] ? String(a[i]) : `${a[i]}:${a[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** In a flood of events, \Recent is claimed and IDLE told at least once per this many. */
const FLOOD_EVENTS = 256;

const NO_LOCATOR: Locator = Object.freeze({ path: '', offset: 0, length: 0, crc: 0 });

/** Segment paths are shared by many locators: one string each in this thread. */
const paths = new Map<string, string>();
function intern(loc: Locator): Locator {
  let p = paths.get(loc.path);
  if (p === undefined) {
    if (paths.size >= 10_000) paths.clear();
    paths.set(loc.path, (p = loc.path));
  }
  loc.path = p;
  return loc;
}

const flagText = (flags: readonly string[]): string => `(${flags.join(' ')})`;

export class View implements MailboxView {
  readonly name: string;
  readonly readOnly: boolean;
  readonly uidValidity: number;
  private readonly mailbox: MailboxApi;
  private readonly sub: Subscription;
  private readonly enabled: ReadonlySet<Enabled>;
  /** UIDs as the client knows them, ascending: index + 1 is the sequence number. */
  private seq: number[] = [];
  private readonly msgs = new Map<number, Msg>();
  /** Appended in the store, not yet told (ascending). */
  private fresh: number[] = [];
  /** Appended, waiting for their \Recent claim before they are told. */
  private claiming: number[] = [];
  /** Flags changed and not told. */
  private readonly dirty = new Set<number>();
  private goneCount = 0;
  private readonly recent = new Set<number>();
  private toldRecent = 0;
  /** recentCount, or -1 when the sequence or \Recent changed since it was counted. */
  private recentKnown = -1;
  /** The highest UID ever known (an append at or below it is already known). */
  private maxUid = 0;
  /** The store's uidNext and highest modseq, as far as known. */
  uidNext: number;
  highestModseq: number;
  /** The folder (or account) is gone: every command on it fails. */
  dead = false;
  private closed = false;
  private listener: (() => void) | null = null;
  private claimBusy = false;
  private folding = false;

  constructor(o: ViewOptions, sub: Subscription, metas: MessageMeta[], recentFrom: number) {
    this.name = sub.start.folder ?? o.folder;
    this.readOnly = o.readOnly;
    this.mailbox = o.mailbox;
    this.sub = sub;
    this.enabled = o.enabled;
    this.uidValidity = sub.start.uidValidity;
    this.uidNext = sub.start.uidNext;
    this.highestModseq = sub.start.highestModseq;
    for (const m of metas) {
      this.seq.push(m.uid);
      this.msgs.set(m.uid, { flags: m.flags, modseq: m.modseq, internalDate: m.internalDate, size: m.size, loc: intern(m.locator), gone: false });
      if (m.uid >= recentFrom) this.recent.add(m.uid);
      this.note(m.uid, m.modseq);
    }
    this.toldRecent = this.recent.size;
    void this.pump();
  }

  private note(uid: number, modseq: number): void {
    if (uid > this.maxUid) this.maxUid = uid;
    if (uid >= this.uidNext) this.uidNext = uid + 1;
    if (modseq > this.highestModseq) this.highestModseq = modseq;
  }

  private get rev2(): boolean {
    return this.enabled.has('IMAP4REV2');
  }

  /** Does this session claim \Recent? */
  private get claims(): boolean {
    return !this.readOnly && !this.rev2;
  }

  // ---- what the client knows ----

  /** Messages the client knows of (EXISTS as last told). */
  get exists(): number {
    return this.seq.length;
  }

  /** The UID at sequence number `n` (1-based), or undefined. */
  uidAt(n: number): number | undefined {
    return this.seq[n - 1];
  }

  /** The sequence number of `uid`, or 0 when the client does not know it. */
  seqOf(uid: number): number {
    const a = this.seq;
    let lo = 0;
    let hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = a[mid]!;
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /** The UIDs the client knows, in sequence order (a copy is not made: do not change it). */
  get uids(): readonly number[] {
    return this.seq;
  }

  /** Is `uid` expunged in the store (its number kept until told)? */
  isGone(uid: number): boolean {
    return this.msgs.get(uid)?.gone ?? true;
  }

  flagsOf(uid: number): readonly string[] | undefined {
    return this.msgs.get(uid)?.flags;
  }

  /** The message as the view knows it, or null when it is expunged; its locator is a dummy
   * when not known (`hasLocator`). */
  metaOf(uid: number): MessageMeta | null {
    const m = this.msgs.get(uid);
    if (m === undefined || m.gone) return null;
    return { uid, modseq: m.modseq, flags: m.flags, internalDate: m.internalDate, size: m.size, locator: m.loc ?? NO_LOCATOR };
  }

  hasLocator(uid: number): boolean {
    return (this.msgs.get(uid)?.loc ?? null) !== null;
  }

  /** Locators read from the store (FETCH's `list`): kept for the next FETCH. */
  setLocators(metas: readonly MessageMeta[]): void {
    for (const meta of metas) {
      const m = this.msgs.get(meta.uid);
      if (m !== undefined) m.loc = intern(meta.locator);
    }
  }

  modseqOf(uid: number): number {
    return this.msgs.get(uid)?.modseq ?? 0;
  }

  isRecent(uid: number): boolean {
    return !this.rev2 && this.recent.has(uid);
  }

  /** Flags as the client sees them: with \Recent for a rev1 session's recent message. */
  shownFlags(uid: number, flags: readonly string[]): string[] {
    return this.isRecent(uid) ? [...flags, '\\Recent'] : [...flags];
  }

  /** The messages the client knows and that still exist, for SEARCH / SORT / THREAD. */
  searchMessages(): SearchMessage[] {
    const out: SearchMessage[] = [];
    for (let i = 0; i < this.seq.length; i++) {
      const uid = this.seq[i]!;
      const m = this.msgs.get(uid);
      if (m === undefined || m.gone) continue;
      out.push({ seq: i + 1, uid, modseq: m.modseq, flags: m.flags, internalDate: m.internalDate, size: m.size, recent: this.isRecent(uid) });
    }
    return out;
  }

  /** Count of \Recent messages the client knows of. */
  get recentCount(): number {
    if (this.rev2) return 0;
    if (this.recentKnown < 0) {
      let n = 0;
      for (const uid of this.recent) if (this.seqOf(uid) > 0) n++;
      this.recentKnown = n;
    }
    return this.recentKnown;
  }

  /** Keywords in use (for FLAGS / PERMANENTFLAGS). */
  keywords(): string[] {
    const kw = new Set<string>();
    for (const m of this.msgs.values()) for (const f of m.flags) if (!f.startsWith('\\')) kw.add(f);
    return [...kw].sort();
  }

  /** Sequence number of the first unseen message the client knows (0: none). */
  firstUnseen(): number {
    for (let i = 0; i < this.seq.length; i++) {
      const m = this.msgs.get(this.seq[i]!);
      if (m !== undefined && !m.gone && !m.flags.includes('\\Seen')) return i + 1;
    }
    return 0;
  }

  // ---- this session's own changes ----

  /** Apply a flag change this session made (setFlags' result); the caller tells the client
   * (`told` true) or not. Returns the messages whose state now matches `changed`. */
  ownFlags(changed: ReadonlyArray<{ uid: number; flags: string[]; modseq: number }>, told: boolean): void {
    for (const c of changed) {
      const m = this.msgs.get(c.uid);
      if (m === undefined || m.gone) continue;
      if (c.modseq >= m.modseq) {
        m.flags = c.flags;
        m.modseq = c.modseq;
        if (told) this.dirty.delete(c.uid);
      }
      this.note(c.uid, c.modseq);
    }
  }

  /** Apply an expunge this session made; `updates(true)` then tells it. */
  ownExpunge(uids: readonly number[], modseq: number): void {
    for (const uid of uids) this.expunged(uid);
    if (modseq > this.highestModseq) this.highestModseq = modseq;
  }

  /** The caller has told the client the flags of `uid` (FETCH FLAGS). */
  told(uid: number): void {
    this.dirty.delete(uid);
  }

  private expunged(uid: number): void {
    const m = this.msgs.get(uid);
    if (m === undefined || m.gone) return;
    if (this.seqOf(uid) === 0) {
      // appended and not yet told: the client never hears of it
      this.msgs.delete(uid);
      this.recent.delete(uid);
      this.recentKnown = -1;
      this.fresh = this.fresh.filter((u) => u !== uid);
      this.claiming = this.claiming.filter((u) => u !== uid);
      return;
    }
    m.gone = true;
    this.goneCount++;
    this.dirty.delete(uid);
  }

  // ---- the client is told ----

  updates(expunges: boolean): string {
    if (this.closed) return '';
    let out = '';
    if (expunges && this.goneCount > 0) {
      const keep: number[] = [];
      const gone: number[] = [];
      for (const uid of this.seq) (this.msgs.get(uid)?.gone === true ? gone : keep).push(uid);
      if (this.enabled.has('QRESYNC')) out += `* VANISHED ${uidSetText(gone)}\r\n`;
      else for (let i = this.seq.length - 1; i >= 0; i--) if (this.msgs.get(this.seq[i]!)?.gone === true) out += `* ${i + 1} EXPUNGE\r\n`;
      for (const uid of gone) {
        this.msgs.delete(uid);
        this.recent.delete(uid);
      }
      this.seq = keep;
      this.recentKnown = -1;
      this.goneCount = 0;
    }
    if (this.fresh.length > 0) {
      for (const uid of this.fresh) {
        this.seq.push(uid);
        this.dirty.delete(uid);
      }
      this.recentKnown = -1;
      this.fresh = [];
      out += `* ${this.seq.length} EXISTS\r\n`;
    }
    if (!this.rev2) {
      const r = this.recentCount;
      if (r !== this.toldRecent) {
        this.toldRecent = r;
        out += `* ${r} RECENT\r\n`;
      }
    }
    if (this.dirty.size > 0) {
      const modseq = this.enabled.has('CONDSTORE') || this.enabled.has('QRESYNC');
      const uid = this.enabled.has('QRESYNC');
      for (const u of [...this.dirty].sort((a, b) => a - b)) {
        const m = this.msgs.get(u);
        const n = this.seqOf(u);
        if (m === undefined || m.gone || n === 0) continue;
        this.dirty.delete(u);
        out += `* ${n} FETCH (${uid ? `UID ${u} ` : ''}FLAGS ${flagText(this.shownFlags(u, m.flags))}${modseq ? ` MODSEQ (${m.modseq})` : ''})\r\n`;
      }
    }
    return out;
  }

  /** Has something changed that `updates` would tell? */
  get pending(): boolean {
    return this.goneCount > 0 || this.fresh.length > 0 || this.dirty.size > 0 || (!this.rev2 && this.recentCount !== this.toldRecent);
  }

  /** Every event received is folded in and told appends claimed (tests, IDLE's first look). */
  get quiet(): boolean {
    return this.sub.buffered === 0 && this.claiming.length === 0 && !this.folding;
  }

  /** Call `fn` whenever events were folded in (IDLE); null: stop. */
  onChange(fn: (() => void) | null): void {
    this.listener = fn;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener = null;
    this.sub.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---- the events ----

  private async pump(): Promise<void> {
    let since = 0; // events folded since the listener was last told
    for (;;) {
      const r = await this.sub.next();
      if (r.done === true || this.closed) return;
      this.folding = true;
      // at the end of what arrived, or now and then in a flood (IDLE hears of it meanwhile)
      const now = this.sub.buffered === 0 || ++since >= FLOOD_EVENTS;
      try {
        await this.fold(r.value);
        if (now && this.claims && this.claiming.length > 0) await this.claim();
      } catch {
        // a failed re-read: the next 'resync' or event tries again
      } finally {
        this.folding = false;
      }
      if (now) {
        since = 0;
        this.listener?.();
      }
    }
  }

  private async fold(e: MailboxEvent): Promise<void> {
    switch (e.kind) {
      case 'append':
        if (e.modseq > this.highestModseq) this.highestModseq = e.modseq;
        if (e.uid <= this.maxUid || this.msgs.has(e.uid)) return;
        this.msgs.set(e.uid, { flags: e.flags, modseq: e.modseq, internalDate: e.internalDate, size: e.size, loc: null, gone: false });
        this.note(e.uid, e.modseq);
        (this.claims ? this.claiming : this.fresh).push(e.uid);
        return;
      case 'flags':
        for (const c of e.changed) {
          const m = this.msgs.get(c.uid);
          if (m === undefined || m.gone || m.modseq >= e.modseq) continue;
          m.flags = c.flags;
          m.modseq = e.modseq;
          if (this.seqOf(c.uid) > 0) this.dirty.add(c.uid);
        }
        if (e.modseq > this.highestModseq) this.highestModseq = e.modseq;
        return;
      case 'expunge':
        for (const uid of e.uids) this.expunged(uid);
        if (e.modseq > this.highestModseq) this.highestModseq = e.modseq;
        return;
      case 'resync':
        return this.resync();
      case 'folders':
        try {
          await this.mailbox.status(this.name);
        } catch (err) {
          if (err instanceof PosternError && (err.code === 'STORE_NO_SUCH_FOLDER' || err.code === 'STORE_NO_SUCH_ACCOUNT')) this.die();
        }
        return;
      case 'gone':
        this.die();
        return;
    }
  }

  /** The folder or the account is gone: every message is expunged. */
  private die(): void {
    this.dead = true;
    for (const uid of [...this.msgs.keys()]) this.expunged(uid);
  }

  /** Events were dropped: read the folder again and fold the difference in. */
  private async resync(): Promise<void> {
    let metas: MessageMeta[];
    try {
      metas = await this.mailbox.list(this.name);
    } catch (err) {
      if (err instanceof PosternError && (err.code === 'STORE_NO_SUCH_FOLDER' || err.code === 'STORE_NO_SUCH_ACCOUNT')) this.die();
      return;
    }
    const present = new Set<number>();
    for (const m of metas) {
      present.add(m.uid);
      const v = this.msgs.get(m.uid);
      if (v === undefined) {
        if (m.uid <= this.maxUid) continue; // known and already expunged
        this.msgs.set(m.uid, { flags: m.flags, modseq: m.modseq, internalDate: m.internalDate, size: m.size, loc: intern(m.locator), gone: false });
        (this.claims ? this.claiming : this.fresh).push(m.uid);
      } else if (!v.gone && m.modseq > v.modseq) {
        v.flags = m.flags;
        v.modseq = m.modseq;
        if (this.seqOf(m.uid) > 0) this.dirty.add(m.uid);
      }
      this.note(m.uid, m.modseq);
    }
    for (const uid of [...this.msgs.keys()]) if (!present.has(uid)) this.expunged(uid);
  }

  /** Claim \Recent for the appends waiting, then tell them as fresh. */
  private async claim(): Promise<void> {
    if (this.claimBusy) return;
    this.claimBusy = true;
    try {
      const from = await this.mailbox.claimRecent(this.name).catch(() => Infinity);
      const batch = this.claiming;
      this.claiming = [];
      for (const uid of batch) {
        if (uid >= from) this.recent.add(uid);
        this.fresh.push(uid);
      }
      this.recentKnown = -1;
    } finally {
      this.claimBusy = false;
    }
  }
}

/** Open the view of `folder`: subscribe, claim \Recent (read-write rev1) or read it without
 * claiming (read-only rev1: RFC 3501 §2.3.2, "if the session is read-only, subsequent sessions
 * will also see \Recent set for this message"), read the folder. */
export async function openView(o: ViewOptions): Promise<View> {
  const rev1 = !o.enabled.has('IMAP4REV2');
  const claims = !o.readOnly && rev1;
  const peeks = o.readOnly && rev1;
  const [subR, recentR, peekR] = await Promise.allSettled([
    o.subscribe(o.folder),
    claims ? o.mailbox.claimRecent(o.folder) : Promise.resolve(Infinity),
    peeks ? o.mailbox.status(o.folder).then((f) => f.recent ?? 0) : Promise.resolve(0),
  ]);
  if (subR.status === 'rejected') throw subR.reason;
  const sub = subR.value;
  // a store without \Recent claims (or a failed claim) leaves nothing recent
  let recentFrom = recentR.status === 'fulfilled' ? recentR.value : Infinity;
  let metas: MessageMeta[];
  try {
    metas = await o.mailbox.list(sub.start.folder ?? o.folder);
  } catch (e) {
    sub.close();
    throw e;
  }
  // peeked: the last n messages (those at or above the folder's recent floor) are recent
  const peeked = peekR.status === 'fulfilled' ? Math.min(peekR.value, metas.length) : 0;
  if (peeked > 0) recentFrom = metas[metas.length - peeked]!.uid;
  return new View(o, sub, metas, recentFrom);
}

/** The selected mailbox's view has folded in the append of `uid` (its event arrives from the
 * store's subscription about when the append resolves), so the dispatcher's updates tell the
 * client `* n EXISTS` before the tagged OK (APPEND, RFC 9051 §6.3.12: SHOULD; COPY and MOVE
 * into the selected mailbox). Waits at most 1 s. */
export function caughtUp(view: View, uid: number): Promise<void> {
  const done = (): boolean => view.isClosed || (view.uidNext > uid && view.quiet);
  if (done()) return Promise.resolve();
  return new Promise((resolve) => {
    const end = (): void => {
      clearTimeout(timer);
      view.onChange(null);
      resolve();
    };
    const timer = setTimeout(end, CATCH_UP_MS);
    view.onChange(() => {
      if (done()) end();
    });
  });
}

const CATCH_UP_MS = 1000;
