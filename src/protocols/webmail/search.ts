/**
 * webmail/search.ts: WebMail's search over one folder: from, to, subject (substrings of the
 * decoded header fields, case-folded) and the date range over the cached summaries
 * (summaries.ts, a plain scan); body text through the store's search index
 * (store/search-index.ts, `mailbox.searchIndex`), whose records hold each message's decoded,
 * case-folded text: only the messages the other terms left are read, each record read from
 * the index file and its body part searched. A message without a record yet, a record cut by
 * a cap that does not match, or an index file gone meanwhile (rewritten into its next
 * generation) is answered from the message itself (its stored structure and bytes: the
 * record built uncapped, store/search-text.ts).
 *
 * Exports: `bodyMatches`, `MAX_RESULTS`. Rejects: the store's codes.
 */
import fs from 'node:fs';
import { buildRecord, fold, NO_CAPS, REC_HEAD, TRUNCATED } from '../../store/search-text.ts';
import { VIEW_FIELDS, type MailboxApi } from '../../store/types.ts';

/** Most messages a search page lists (newest first). */
export const MAX_RESULTS = 1000;

/** Does the message's own text contain `needle` (folded)? Built from its bytes. */
async function fromBody(mailbox: MailboxApi, folder: string, uid: number, needle: Buffer): Promise<boolean> {
  const [entry] = await mailbox.fetchStructure(folder, [uid]);
  if (entry === undefined) return false;
  let body: Uint8Array;
  try {
    body = (await mailbox.fetch(folder, uid)).body;
  } catch {
    return false; // expunged meanwhile
  }
  const rec = buildRecord(body, entry.structure, 0, 0, NO_CAPS);
  return rec.indexOf(needle, REC_HEAD + rec.readUInt32LE(24)) >= 0;
}

/** The UIDs of `uids` (of `folder`) whose body text contains `text` (case-insensitive). */
export async function bodyMatches(mailbox: MailboxApi, folder: string, uids: readonly number[], text: string): Promise<Set<number>> {
  const needle = Buffer.from(fold(text), 'utf8');
  const out = new Set<number>();
  if (uids.length === 0 || needle.length === 0) return new Set(uids);
  const slow: number[] = [];
  const rows = new Map<number, { pos: number; len: number; hdr: number; flags: number }>();
  let path: string | null = null;
  if (typeof mailbox.searchIndex === 'function') {
    const v = await mailbox.searchIndex(folder);
    path = v.path;
    const want = new Set(uids);
    for (let o = 0; o < v.data.length; o += VIEW_FIELDS) {
      const uid = v.data[o]!;
      if (want.has(uid) && v.data[o + 1]! >= 0) rows.set(uid, { pos: v.data[o + 1]!, len: v.data[o + 2]!, hdr: v.data[o + 3]!, flags: v.data[o + 5]! });
    }
  }
  for (const u of uids) if (!rows.has(u)) slow.push(u);
  if (path !== null && rows.size > 0) {
    let fh: fs.promises.FileHandle | null = null;
    try {
      fh = await fs.promises.open(path, 'r');
    } catch {
      fh = null;
    }
    if (fh === null) for (const u of rows.keys()) slow.push(u);
    else {
      try {
        const sorted = [...rows.entries()].sort((a, b) => a[1].pos - b[1].pos);
        let buf = Buffer.allocUnsafe(64 * 1024);
        for (const [uid, r] of sorted) {
          if (buf.length < r.len) buf = Buffer.allocUnsafe(r.len);
          const { bytesRead } = await fh.read(buf, 0, r.len, r.pos);
          if (bytesRead < r.len) {
            slow.push(uid);
            continue;
          }
          const rec = buf.subarray(0, r.len);
          const from = REC_HEAD + r.hdr;
          if (from <= rec.length && rec.indexOf(needle, from) >= 0) out.add(uid);
          else if ((r.flags & TRUNCATED) !== 0) slow.push(uid);
        }
      } finally {
        await fh.close();
      }
    }
  }
  for (const uid of slow) if (await fromBody(mailbox, folder, uid, needle)) out.add(uid);
  return out;
}
