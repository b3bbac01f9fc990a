/**
 * webmail/summaries.ts: what WebMail knows of a folder's messages, kept per thread so that a
 * list page costs one `folders` call (which the folder tree needs anyway), a sort that is
 * usually cached, and a render: no per-message store work while the folder is unchanged.
 *
 * Per (account, folder, UIDVALIDITY), an entry holds:
 * - summaries (model.ts `Summary`): a UID's message never changes (its bytes are immutable), so
 *   its summary is made once, from the store's stored MIME structure (`fetchStructure`, in
 *   batches of FETCH_BATCH UIDs), never by parsing bodies; concurrent requests share one fetch;
 * - the folder's view: each message's flags, size and internal date, labelled with the folder's
 *   HIGHESTMODSEQ it is at least as fresh as. A request whose `FolderInfo` shows the same
 *   modseq and count uses it as it is; a newer modseq is caught up RFC 7162 style (`list` with
 *   `changedSince` for new and changed messages, `vanished` for expunged ones); anything
 *   doubtful (an incomplete expunge history, a count that does not match) reads the folder
 *   again whole. Catch-ups of one entry run one at a time;
 * - sorted UID orders per sort key, valid while the set of UIDs is unchanged (`version`).
 * Bounded: at most MAX_SUMMARIES summaries (and as many view rows) in the thread, whole entries
 * dropped least recently used first; summaries of expunged UIDs are dropped when an entry holds
 * more than twice what the folder has.
 *
 * Exports: `folderListing`, `summariesOf`, `Listing`, `MetaLite`, `MAX_SUMMARIES`,
 * `clearSummaries`. Rejects: the store's codes.
 */
import type { FolderInfo, MailboxApi, MessageMeta } from '../../store/types.ts';
import { sortUids, summarize, type Summary } from './model.ts';
import type { SortKey } from './types.ts';

export const MAX_SUMMARIES = 100_000;
const FETCH_BATCH = 500;

/** A message as the list needs it (a MessageMeta without its locator). */
export type MetaLite = Pick<MessageMeta, 'uid' | 'modseq' | 'flags' | 'internalDate' | 'size'>;

interface Entry {
  map: Map<number, Summary>;
  loading: Promise<void> | null;
  view: { modseq: number; metas: Map<number, MetaLite> } | null;
  syncing: Promise<void> | null;
  /** Bumped whenever the view's set of UIDs changes. */
  version: number;
  orders: Map<SortKey, { version: number; uids: number[] }>;
  /** The version whose every UID has its summary (-1: none yet). */
  filled: number;
}

const cache = new Map<string, Entry>();
let total = 0;

function entryOf(key: string): Entry {
  let e = cache.get(key);
  if (e === undefined) e = { map: new Map(), loading: null, view: null, syncing: null, version: 0, orders: new Map(), filled: -1 };
  else cache.delete(key);
  cache.set(key, e); // most recently used last
  return e;
}

const sizeOf = (e: Entry): number => e.map.size + (e.view?.metas.size ?? 0);

function bound(keep: Entry): void {
  for (const [k, e] of cache) {
    if (total <= MAX_SUMMARIES * 2) break;
    if (e === keep) continue;
    total -= sizeOf(e);
    cache.delete(k);
  }
}

async function load(mailbox: MailboxApi, folder: string, e: Entry, uids: number[]): Promise<void> {
  for (let i = 0; i < uids.length; i += FETCH_BATCH) {
    const got = await mailbox.fetchStructure(folder, uids.slice(i, i + FETCH_BATCH));
    for (const { uid, structure } of got) {
      if (e.map.has(uid)) continue;
      e.map.set(uid, summarize(uid, structure));
      total++;
    }
  }
}

async function fill(mailbox: MailboxApi, folder: string, e: Entry, uids: readonly number[]): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const missing = uids.filter((u) => !e.map.has(u));
    if (missing.length === 0) return;
    if (e.loading !== null) {
      await e.loading.catch(() => {});
      continue;
    }
    const p = load(mailbox, folder, e, missing);
    e.loading = p;
    try {
      await p;
    } finally {
      e.loading = null;
    }
    return;
  }
}

const keyOf = (mailbox: MailboxApi, folder: string, uidValidity: number): string => `${mailbox.address}\n${folder}\n${uidValidity}`;

/** The summaries of `uids` (of `folder`, whose UIDVALIDITY is `uidValidity`); a UID the store
 * no longer has is absent from the map. */
export async function summariesOf(mailbox: MailboxApi, folder: string, uidValidity: number, uids: readonly number[]): Promise<Map<number, Summary>> {
  const e = entryOf(keyOf(mailbox, folder, uidValidity));
  await fill(mailbox, folder, e, uids);
  bound(e);
  const out = new Map<number, Summary>();
  for (const u of uids) {
    const s = e.map.get(u);
    if (s !== undefined) out.set(u, s);
  }
  return out;
}

const lite = (m: MetaLite): MetaLite => ({ uid: m.uid, modseq: m.modseq, flags: m.flags, internalDate: m.internalDate, size: m.size });

async function reload(mailbox: MailboxApi, folder: string, info: FolderInfo, e: Entry): Promise<void> {
  const all = await mailbox.list(folder);
  total -= e.view?.metas.size ?? 0;
  e.view = { modseq: info.highestModseq, metas: new Map(all.map((m) => [m.uid, lite(m)])) };
  total += e.view.metas.size;
  e.version++;
}

/** Bring the entry's view up to `info` (see the contract above). */
async function sync(mailbox: MailboxApi, folder: string, info: FolderInfo, e: Entry): Promise<void> {
  const v = e.view;
  if (v !== null && v.modseq === info.highestModseq && v.metas.size === info.messages) return;
  if (v !== null && v.modseq < info.highestModseq) {
    const [changed, gone] = await Promise.all([mailbox.list(folder, { changedSince: v.modseq }), mailbox.vanished(folder, v.modseq)]);
    if (gone.complete) {
      const before = v.metas.size;
      let moved = false;
      for (const u of gone.uids) moved = v.metas.delete(u) || moved;
      for (const m of changed) {
        moved = moved || !v.metas.has(m.uid);
        v.metas.set(m.uid, lite(m));
      }
      total += v.metas.size - before;
      if (moved) e.version++;
      v.modseq = info.highestModseq;
      if (v.metas.size === info.messages) return;
    }
  }
  await reload(mailbox, folder, info, e);
}

export interface Listing {
  /** Every message of the folder, by UID. */
  metas: Map<number, MetaLite>;
  sums: Map<number, Summary>;
  /** The UIDs ascending by `key` (ties by UID); the caller must not change it. */
  sorted(key: SortKey): number[];
}

/** The folder `info` names, as the list shows it (see the contract above). */
export async function folderListing(mailbox: MailboxApi, info: FolderInfo): Promise<Listing> {
  const folder = info.name;
  const e = entryOf(keyOf(mailbox, folder, info.uidValidity));
  for (let round = 0; round < 3 && e.syncing !== null; round++) await e.syncing.catch(() => {});
  const p = sync(mailbox, folder, info, e);
  e.syncing = p;
  try {
    await p;
  } finally {
    if (e.syncing === p) e.syncing = null;
  }
  const metas = e.view!.metas;
  const version = e.version;
  if (e.filled !== version) {
    await fill(mailbox, folder, e, [...metas.keys()]);
    if (e.version === version && [...metas.keys()].every((u) => e.map.has(u))) e.filled = version;
  }
  if (e.map.size > 2 * metas.size + 1000 && e.loading === null) {
    for (const u of e.map.keys()) if (!metas.has(u)) {
      e.map.delete(u);
      total--;
    }
  }
  bound(e);
  const sums = e.map;
  const sorted = (key: SortKey): number[] => {
    const hit = e.orders.get(key);
    if (hit !== undefined && hit.version === e.version && hit.uids.length === metas.size) return hit.uids;
    const order = sortUids(metas.values(), key, sums);
    e.orders.set(key, { version: e.version, uids: order });
    return order;
  };
  return { metas, sums, sorted };
}

/** Forget everything cached (tests). */
export function clearSummaries(): void {
  cache.clear();
  total = 0;
}
