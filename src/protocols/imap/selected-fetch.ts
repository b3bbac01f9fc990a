/**
 * protocols/imap/selected-fetch.ts: FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 7162
 * CHANGEDSINCE / VANISHED), streamed in batches so a FETCH 1:* of a large mailbox holds one
 * batch at a time:
 *
 * - per batch of at most FETCH_BATCH messages: one `list(folder, { uids })` for the metadata
 *   and, only when `fetchNeeds` says so, one `fetchStructure` (in parallel with it); one
 *   `setFlags` for the implicit \Seen (a non-PEEK body section, read-write only); the bodies
 *   (when needed) read through one `BodyReader` with a read-ahead window, so bodies lying one
 *   after another in a segment cost one read; the batch is cut where its bodies pass
 *   FETCH_BATCH_BYTES;
 * - the batch's responses are written with one `s.write`; when it returns false (the socket's
 *   buffer is full) the next batch waits for 'drain', so a client that reads slowly holds the
 *   server's memory to about one batch; a socket that closes ends the command.
 *
 * Messages expunged elsewhere and not yet told keep their sequence numbers and are skipped
 * (the store no longer has them). Messages whose \Seen was set implicitly carry FLAGS in their
 * response, and the view records the change as told.
 *
 * Exports: `runFetch`, `FETCH_BATCH`, `FETCH_BATCH_BYTES`. Throws nothing (store failures are
 * NO replies).
 */
import { reply, noreply, type Verdict } from '../../session/line-session.ts';
import { BodyReader } from '../../store/bodies.ts';
import type { MessageMeta, StructureEntry } from '../../store/types.ts';
import type { MessageStructure } from '../../store/structure.ts';
import { fetchNeeds, renderFetch, setsSeen } from './fetch.ts';
import { formatSeqSet } from './encode.ts';
import type { Command, FetchItem, ImapSession, ImapState } from './types.ts';
import { condstoreOn, drained, enableCondstore, inUidSet, resolveSet, storeFailure, viewOf } from './selected-util.ts';

/** Messages per batch (one list, one fetchStructure, one write). */
export const FETCH_BATCH = 250;
/** Body bytes per batch: a batch is cut once its bodies reach this. */
export const FETCH_BATCH_BYTES = 4 << 20;
/** The read-ahead of the FETCH's body reader (bodies stored one after another). */
const READ_AHEAD = 1 << 20;
/** VANISHED (EARLIER) from an incomplete history enumerates at most this many UIDs. */
const MAX_ENUMERATED_UIDS = 1_000_000;

type FetchCmd = Extract<Command, { name: 'FETCH' }>;

export async function runFetch(cmd: FetchCmd, s: ImapSession): Promise<Verdict<ImapState>> {
  const tag = cmd.tag;
  const view = viewOf(s);
  const mb = s.data.mailbox!;
  // a UID FETCH may tell expunges: before its data, so its sequence numbers are the new ones
  let head = cmd.uid ? view.updates(true) : '';
  if (cmd.vanished && !(cmd.uid && cmd.changedSince !== null && s.data.enabled.has('QRESYNC'))) {
    return reply(`${tag} BAD VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC\r\n`, { error: 'command' });
  }
  if (cmd.changedSince !== null || cmd.items.some((it) => it.k === 'MODSEQ')) head += enableCondstore(s);
  const r = resolveSet(view, cmd.seqs, cmd.uid, s.data.saved);
  if (!r.ok) return reply(`${tag} BAD Error in IMAP command FETCH: ${r.text}\r\n`, { error: 'command' });
  const modseq = condstoreOn(s);
  const utf8 = s.data.enabled.has('UTF8=ACCEPT');
  const needs = fetchNeeds(cmd.items);
  const seen = setsSeen(cmd.items) && !view.readOnly;
  const wantsFlags = cmd.items.some((it) => it.k === 'FLAGS');
  const withFlags: FetchItem[] = wantsFlags ? cmd.items : [...cmd.items, { k: 'FLAGS' }];
  // RFC 7162 §3.1: under CONDSTORE a FETCH that sets \Seen answers with UID and MODSEQ too
  const opts = { uid: cmd.uid || (modseq && seen), modseq: modseq || cmd.changedSince !== null, utf8 };

  if (cmd.vanished) {
    const gone = await vanishedEarlier(s, cmd.seqs, cmd.changedSince!);
    if (gone.length > 0) head += `* VANISHED (EARLIER) ${formatSeqSet(gone)}\r\n`;
  }
  if (head !== '') s.write(head);

  const reader = needs.body ? new BodyReader({ readAheadBytes: READ_AHEAD }) : null;
  let cte: string | null = null;
  try {
    const uids = r.uids;
    for (let at = 0; at < uids.length; ) {
      if (s.data.closed || s.socket.destroyed) return noreply();
      const batch = uids.slice(at, at + FETCH_BATCH);
      const listOpts = cmd.changedSince !== null ? { uids: batch, changedSince: cmd.changedSince } : { uids: batch };
      const [metas, structs] = await Promise.all([
        mb.list(view.name, listOpts),
        needs.structure ? mb.fetchStructure(view.name, batch) : Promise.resolve([] as StructureEntry[]),
      ]);
      // cut where the bodies pass the byte budget (at least one message per batch)
      let take = metas.length;
      let used = batch.length;
      if (reader !== null) {
        let bytes = 0;
        for (let i = 0; i < metas.length; i++) {
          bytes += metas[i]!.size;
          if (bytes >= FETCH_BATCH_BYTES && i + 1 < metas.length) {
            take = i + 1;
            const next = metas[i + 1]!.uid;
            used = batch.indexOf(next);
            break;
          }
        }
      }
      at += used;
      const part = take < metas.length ? metas.slice(0, take) : metas;
      const structure = new Map<number, MessageStructure>();
      for (const e of structs) structure.set(e.uid, e.structure);

      const flagged = new Set<number>();
      if (seen) {
        const unseen = part.filter((m) => !m.flags.includes('\\Seen')).map((m) => m.uid);
        if (unseen.length > 0) {
          const res = await mb.setFlags(view.name, unseen, ['\\Seen'], 'add');
          view.ownFlags(res.changed, true);
          const by = new Map(res.changed.map((c) => [c.uid, c]));
          for (const m of part) {
            const c = by.get(m.uid);
            if (c === undefined) continue;
            m.flags = c.flags;
            m.modseq = c.modseq;
            flagged.add(m.uid);
          }
        }
      }

      const bodies = reader !== null ? await readBodies(reader, part) : null;
      const out: Buffer[] = [];
      for (let i = 0; i < part.length; i++) {
        const meta = part[i]!;
        const n = view.seqOf(meta.uid);
        if (n === 0) continue;
        const changed = flagged.has(meta.uid);
        const items = changed ? withFlags : cmd.items;
        const flags = wantsFlags || changed ? view.shownFlags(meta.uid, meta.flags) : undefined;
        const b = renderFetch({ seq: n, meta, structure: structure.get(meta.uid) ?? null, body: bodies?.[i] ?? null }, items, flags === undefined ? opts : { ...opts, flags });
        if (!Buffer.isBuffer(b)) {
          cte ??= b.text;
          continue;
        }
        if (flags !== undefined && meta.modseq >= view.modseqOf(meta.uid)) view.told(meta.uid);
        out.push(b);
      }
      if (out.length > 0 && !s.write(out.length === 1 ? out[0]! : Buffer.concat(out))) await drained(s);
    }
  } catch (e) {
    return storeFailure(tag, e, s);
  } finally {
    reader?.close();
  }
  if (cte !== null) return reply(`${tag} NO [UNKNOWN-CTE] ${cte}\r\n`);
  return reply(`${tag} OK Fetch completed\r\n`);
}

/** The bodies of `metas`, in order, through the reader's read-ahead window. */
async function readBodies(reader: BodyReader, metas: readonly MessageMeta[]): Promise<Buffer[]> {
  const out: Buffer[] = new Array(metas.length);
  // in locator order (one window read serves the bodies after it), then back in place
  const order = metas.map((_, i) => i).sort((a, b) => {
    const x = metas[a]!.locator;
    const y = metas[b]!.locator;
    return x.path === y.path ? x.offset - y.offset : x.path < y.path ? -1 : 1;
  });
  for (const i of order) out[i] = await reader.read(metas[i]!.locator);
  return out;
}

/** UIDs of the set expunged with a modseq above `since` (RFC 7162 §3.2.6); from an incomplete
 * history, every UID of the set (up to the highest assigned) the mailbox does not hold. */
export async function vanishedEarlier(s: ImapSession, set: Parameters<typeof inUidSet>[1], since: number): Promise<number[]> {
  const view = viewOf(s);
  const mb = s.data.mailbox!;
  const all = view.uids;
  const max = Math.max(view.uidNext - 1, all.length > 0 ? all[all.length - 1]! : 0);
  let v: { uids: number[]; complete: boolean };
  try {
    v = await mb.vanished(view.name, since);
  } catch {
    v = { uids: [], complete: false };
  }
  const out = v.uids.filter((u) => inUidSet(u, set, max, s.data.saved) && (view.seqOf(u) === 0 || view.isGone(u)));
  if (v.complete || max > MAX_ENUMERATED_UIDS) return out;
  const have = new Set(out);
  for (let u = 1; u <= max; u++) if (!have.has(u) && inUidSet(u, set, max, s.data.saved) && (view.seqOf(u) === 0 || view.isGone(u))) out.push(u);
  return out.sort((a, b) => a - b);
}
