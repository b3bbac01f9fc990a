/**
 * protocols/imap/selected-fetch.ts: FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 7162
 * CHANGEDSINCE / VANISHED), streamed in batches so a FETCH 1:* of a large mailbox holds one
 * batch at a time:
 *
 * - the metadata (flags, modseq, date, size) and the bodies' locators come from the view, which
 *   its subscription keeps in step with the store; only what it does not know (messages
 *   appended since SELECT) costs one `list` per batch, and a locator gone stale (a compaction
 *   moved the body: the read fails) is asked for again the same way;
 * - MIME structures (ENVELOPE, BODYSTRUCTURE, sections of parts), only when `fetchNeeds` says
 *   so, from this thread's cache (a message's never changes; STRUCTURE_CACHE_BYTES, oldest
 *   out first), the others with one `fetchStructure` per batch;
 * - the implicit \Seen (a non-PEEK body section, read-write only): one `setFlags` per batch;
 *   those messages' responses carry FLAGS, and the view records the change as told;
 * - the bodies through one `BodyReader` with a read-ahead window (bodies stored one after
 *   another cost one read), a batch cut where its bodies pass FETCH_BATCH_BYTES;
 * - the batch's responses written as pieces (`renderFetchParts`, the bodies not copied) into
 *   the session's write batch, flushed at once (one writev); when the socket's buffer is full
 *   the next batch waits for it to drain, so a client that reads slowly holds the server's memory to about one batch; a
 *   socket that closes ends the command.
 *
 * Messages expunged elsewhere and not yet told keep their sequence numbers and are skipped. A
 * UID FETCH tells pending expunges before its data.
 *
 * Exports: `runFetch`, `vanishedEarlier`, `FETCH_BATCH`, `FETCH_BATCH_BYTES`,
 * `STRUCTURE_CACHE_BYTES`. Throws nothing (store failures are NO replies).
 */
import { PosternError } from '../../errors.ts';
import { reply, noreply, type Verdict } from '../../session/line-session.ts';
import net from 'node:net';
import tls from 'node:tls';
import { BodyReader, WindowPool } from '../../store/bodies.ts';
import type { MessageMeta } from '../../store/types.ts';
import type { MessageStructure } from '../../store/structure.ts';
import { fetchNeeds, renderFetchParts, setsSeen } from './fetch.ts';
import { formatSeqSet } from './encode.ts';
import type { Command, FetchItem, ImapSession, ImapState } from './types.ts';
import type { View } from './view.ts';
import { condstoreOn, enableCondstore, inUidSet, resolveSet, storeFailure, viewOf } from './selected-util.ts';

/** Messages per batch (one list, one fetchStructure, one write). */
export const FETCH_BATCH = 250;
/** Body bytes per batch: a batch is cut once its bodies reach this. */
export const FETCH_BATCH_BYTES = 4 << 20;
/** Bytes (estimated) of MIME structures this thread keeps for FETCH. */
export const STRUCTURE_CACHE_BYTES = 16 << 20;
/** The read-ahead of the FETCH's body reader (bodies stored one after another). */
const READ_AHEAD = 1 << 20;
/** Spare read-ahead windows kept per thread. */
const WINDOW_POOL = 4;
/** This thread's spare read-ahead windows (READ_AHEAD each), shared by its FETCHes. */
const windows = new WindowPool(WINDOW_POOL);

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
  if (!r.ok) return reply(`${head}${tag} BAD Error in IMAP command FETCH: ${r.text}\r\n`, { error: 'command' });
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

  const reader = needs.body ? new BodyReader({ readAheadBytes: READ_AHEAD, pool: windows }) : null;
  let cte: string | null = null;
  try {
    const uids = r.uids;
    for (let at = 0; at < uids.length; ) {
      if (s.data.closed || s.socket.destroyed) return noreply();
      const batch = uids.slice(at, at + FETCH_BATCH);
      // the metadata as the view holds it (with the bodies' locators when they are read)
      const [metas, structure] = await Promise.all([
        reader !== null ? bodyMetas(s, batch, cmd.changedSince) : Promise.resolve(viewMetas(view, batch, cmd.changedSince)),
        needs.structure ? structuresOf(s, batch) : Promise.resolve(NO_STRUCTURES),
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
            used = batch.indexOf(metas[i + 1]!.uid);
            break;
          }
        }
      }
      at += used;
      let part = take < metas.length ? metas.slice(0, take) : metas;

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

      let bodies: Buffer[] | null = null;
      if (reader !== null) {
        try {
          bodies = await readBodies(reader, part);
        } catch (e) {
          if (!(e instanceof PosternError) || (e.code !== 'STORE_IO' && e.code !== 'STORE_CORRUPT')) throw e;
          // a locator the view kept went stale (a compaction moved the body): ask the store
          const fresh = await mb.list(view.name, { uids: part.map((m) => m.uid) });
          view.setLocators(fresh);
          const loc = new Map(fresh.map((m) => [m.uid, m.locator]));
          part = part.filter((m) => loc.has(m.uid));
          for (const m of part) m.locator = loc.get(m.uid)!;
          bodies = await readBodies(reader, part);
        }
      }
      const out: Buffer[] = [];
      for (let i = 0; i < part.length; i++) {
        const meta = part[i]!;
        const n = view.seqOf(meta.uid);
        if (n === 0) continue;
        const changed = flagged.has(meta.uid);
        const items = changed ? withFlags : cmd.items;
        const flags = wantsFlags || changed ? view.shownFlags(meta.uid, meta.flags) : undefined;
        const b = renderFetchParts({ seq: n, meta, structure: structure.get(meta.uid) ?? null, body: bodies?.[i] ?? null }, items, flags === undefined ? opts : { ...opts, flags });
        if (!Array.isArray(b)) {
          cte ??= b.text;
          continue;
        }
        if (flags !== undefined && meta.modseq >= view.modseqOf(meta.uid)) view.told(meta.uid);
        for (const x of b) out.push(x);
      }
      if (out.length > 0 && !writeAll(s, out)) await s.drain();
      if (reader !== null && sent(s)) reader.recycle();
    }
  } catch (e) {
    return storeFailure(tag, e, s);
  } finally {
    if (reader !== null && sent(s)) reader.recycleAll();
    reader?.close();
  }
  if (cte !== null) return reply(`${tag} NO [UNKNOWN-CTE] ${cte}\r\n`);
  return reply(`${tag} OK Fetch completed\r\n`);
}

/** Everything written to the session is in the kernel: no body handed to the socket is still
 * referenced (a plain TCP socket copies synchronously what it can and keeps the rest counted in
 * writableLength; TLS and COMPRESS streams may hold buffers past that, so they never say so). */
function sent(s: ImapSession): boolean {
  const sock = s.socket;
  return sock instanceof net.Socket && !(sock instanceof tls.TLSSocket) && sock.writableLength === 0;
}

/** Pieces shorter than this are joined with their neighbours before writing. */
const SMALL_PIECE = 2048;

/** The batch's responses in one go: into the session's write batch, flushed before this
 * returns (one writev, and `sent` can tell what the kernel took); runs of small pieces
 * (response text between bodies) are joined first, bodies are not copied. False: the socket's
 * buffer is full. */
function writeAll(s: ImapSession, bufs: readonly Buffer[]): boolean {
  let ok = true;
  let run: Buffer[] = [];
  let runBytes = 0;
  const flush = (): void => {
    if (run.length === 0) return;
    ok = s.write(run.length === 1 ? run[0]! : Buffer.concat(run, runBytes)) && ok;
    run = [];
    runBytes = 0;
  };
  for (const b of bufs) {
    if (b.length < SMALL_PIECE) {
      run.push(b);
      runBytes += b.length;
      if (runBytes >= 64 * 1024) flush();
    } else {
      flush();
      ok = s.write(b) && ok;
    }
  }
  flush();
  s.flush();
  const sock = s.socket;
  return ok && !sock.writableNeedDrain;
}

/** The batch's metadata with locators: as the view holds them, the ones it does not know (new
 * messages) from one `list`. */
async function bodyMetas(s: ImapSession, uids: readonly number[], changedSince: number | null): Promise<MessageMeta[]> {
  const view = viewOf(s);
  const unknown = uids.filter((u) => !view.hasLocator(u) && !view.isGone(u));
  if (unknown.length > 0) view.setLocators(await s.data.mailbox!.list(view.name, { uids: unknown }));
  return viewMetas(view, uids, changedSince).filter((m) => m.locator.path !== '');
}

function viewMetas(view: View, uids: readonly number[], changedSince: number | null): MessageMeta[] {
  const out: MessageMeta[] = [];
  for (const uid of uids) {
    const m = view.metaOf(uid);
    if (m !== null && (changedSince === null || m.modseq > changedSince)) out.push(m);
  }
  return out;
}

const NO_STRUCTURES: ReadonlyMap<number, MessageStructure> = new Map();

/** This thread's cache of MIME structures (a message's never changes): per folder (account,
 * folder, UIDVALIDITY) a map by UID, the oldest entries out first when past
 * STRUCTURE_CACHE_BYTES. A client fetching the same headers again (a message list refreshed,
 * another session of the same user) costs no store request. */
const folders = new Map<string, Map<number, MessageStructure>>();
/** Insertion order, for eviction: [folder map, uid, weight]. */
const fifo: Array<[Map<number, MessageStructure>, number, number]> = [];
let fifoHead = 0;
let cached = 0;

/** About what a structure costs in memory: its parts and the text it holds. */
function weigh(st: MessageStructure): number {
  const e = st.envelope;
  let n = 256 + st.parts * 320;
  for (const v of [e.date, e.subject, e.messageId, e.inReplyTo]) n += 2 * (v?.length ?? 0);
  for (const list of [e.from, e.sender, e.replyTo, e.to, e.cc, e.bcc]) for (const a of list ?? []) n += 96 + 2 * ((a.name?.length ?? 0) + (a.mailbox?.length ?? 0) + (a.host?.length ?? 0));
  return n;
}

/** What FETCH uses of a structure (not the search and sort fields). */
const NO_FIELDS = Object.freeze({ date: null, subject: null, from: null, to: null, cc: null, bcc: null, messageId: null, references: null, inReplyTo: null });

/** The structures of `uids`: from the cache, the others with one `fetchStructure`. */
async function structuresOf(s: ImapSession, uids: readonly number[]): Promise<ReadonlyMap<number, MessageStructure>> {
  const view = viewOf(s);
  const key = `${s.data.account ?? ''}\0${view.name}\0${view.uidValidity}`;
  let mine = folders.get(key);
  const out = new Map<number, MessageStructure>();
  const missing: number[] = [];
  for (const uid of uids) {
    const hit = mine?.get(uid);
    if (hit === undefined) missing.push(uid);
    else out.set(uid, hit);
  }
  if (missing.length === 0) return out;
  const got = await s.data.mailbox!.fetchStructure(view.name, missing);
  mine = folders.get(key);
  if (mine === undefined) folders.set(key, (mine = new Map()));
  for (const e of got) {
    out.set(e.uid, e.structure);
    if (mine.has(e.uid)) continue;
    const st = { ...e.structure, fields: NO_FIELDS };
    const weight = weigh(st);
    if (weight > STRUCTURE_CACHE_BYTES / 64) continue; // a huge one is not kept
    mine.set(e.uid, st);
    fifo.push([mine, e.uid, weight]);
    cached += weight;
  }
  while (cached > STRUCTURE_CACHE_BYTES && fifoHead < fifo.length) {
    const [m, uid, w] = fifo[fifoHead]!;
    fifo[fifoHead++] = undefined as never;
    m.delete(uid);
    cached -= w;
    if (m.size === 0) for (const [k, v] of folders) if (v === m) folders.delete(k);
  }
  if (fifoHead > 4096 && fifoHead * 2 > fifo.length) {
    fifo.splice(0, fifoHead);
    fifoHead = 0;
  }
  return out;
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
