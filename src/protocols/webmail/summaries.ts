/**
 * webmail/summaries.ts: the message summaries (model.ts `Summary`) of a folder, as the list,
 * the thread view and the search need them, kept per thread so a list page costs one `list`
 * call, not a structure fetch per message.
 *
 * A UID's message never changes (its bytes are immutable), so its summary is cached for good
 * under (account, folder, UIDVALIDITY); flags are not part of it (they come from `list` on every
 * page). Missing ones are made from the store's stored MIME structures (`fetchStructure`, in
 * batches of FETCH_BATCH UIDs), never by parsing bodies. Concurrent requests for the same folder
 * share one fetch. Bounded: at most `MAX_SUMMARIES` summaries in the thread, whole folders
 * dropped least recently used first; entries of expunged UIDs are dropped when a folder's entry
 * holds more than twice what the folder has.
 *
 * Exports: `summariesOf`, `MAX_SUMMARIES`, `clearSummaries`. Rejects: the store's codes.
 */
import type { MailboxApi } from '../../store/types.ts';
import { summarize, type Summary } from './model.ts';

export const MAX_SUMMARIES = 100_000;
const FETCH_BATCH = 500;

interface Entry {
  map: Map<number, Summary>;
  loading: Promise<void> | null;
}

const cache = new Map<string, Entry>();
let total = 0;

function entryOf(key: string): Entry {
  let e = cache.get(key);
  if (e === undefined) e = { map: new Map(), loading: null };
  else cache.delete(key);
  cache.set(key, e); // most recently used last
  return e;
}

function bound(keep: Entry): void {
  for (const [k, e] of cache) {
    if (total <= MAX_SUMMARIES) break;
    if (e === keep) continue;
    total -= e.map.size;
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

/** The summaries of `uids` (of `folder`, whose UIDVALIDITY is `uidValidity`; `whole`: they are
 * all the folder holds); a UID the store no longer has is absent from the map. */
export async function summariesOf(mailbox: MailboxApi, folder: string, uidValidity: number, uids: readonly number[], whole = true): Promise<Map<number, Summary>> {
  const e = entryOf(`${mailbox.address}\n${folder}\n${uidValidity}`);
  for (let round = 0; round < 3; round++) {
    const missing = uids.filter((u) => !e.map.has(u));
    if (missing.length === 0) break;
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
    break;
  }
  if (whole && e.map.size > 2 * uids.length + 1000 && e.loading === null) {
    // drop what the folder no longer holds (uids is the whole folder on a list page)
    const keep = new Set(uids);
    for (const u of e.map.keys()) if (!keep.has(u)) {
      e.map.delete(u);
      total--;
    }
  }
  bound(e);
  const out = new Map<number, Summary>();
  for (const u of uids) {
    const s = e.map.get(u);
    if (s !== undefined) out.set(u, s);
  }
  return out;
}

/** Forget every cached summary (tests). */
export function clearSummaries(): void {
  cache.clear();
  total = 0;
}
