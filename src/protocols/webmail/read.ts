/**
 * webmail/read.ts: WebMail's reading routes (every one behind `requireSession`):
 *   GET /mail?f=&page=&sort=date|from|subject|size&order=asc|desc   the folder tree and one page
 *       (PAGE_SIZE) of the folder's list: flags from `list`, the rest from the cached summaries
 *       (summaries.ts: the store's MIME structures, fetched once per message), so a page of a
 *       big folder costs a `folders` and a `list` call, a sort and a render
 *   GET /mail/search?f=&from=&to=&subject=&text=&since=&before=   the same list, of the matches
 *       (search.ts), newest first
 *   GET /mail/message?f=&uid=&remote=0|1   a message: headers, its text part (#message-text) or its
 *       sanitised HTML part in a sandboxed frame (#message-html, html.ts), attachments; sets \Seen
 *       (while the page is rendered; it is sent once the flag is durable)
 *   GET /mail/message/html?f=&uid=&remote=0|1   the frame's document, under its own CSP
 *   GET /mail/message/cid?f=&uid=&cid=   an inline part by Content-ID (`inline`)
 *   GET /mail/message/part?f=&uid=&part=1.2   a part as a download (`attachment`)
 *   GET /mail/message/raw?f=&uid=   the source, text/plain
 *   GET /mail/thread?f=&uid=        the conversation (model.ts `threadOf`), each message's text
 * Parameters are checked by common.ts (400 garbage, 404 unknown folder or UID). A part served
 * alone (cid, part, raw) carries `X-Content-Type-Options: nosniff` and a CSP that runs nothing
 * (`default-src 'none'; sandbox`), so an HTML or SVG attachment opened in a tab is inert.
 *
 * Exports: `registerRead`, `MAX_THREAD`. Throws nothing (errors become pages, index.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HttpEnv } from '../../http/types.ts';
import type { FolderInfo, MailboxApi, MessageMeta } from '../../store/types.ts';
import type { MessageStructure } from '../../store/structure.ts';
import { decodeWords } from '../../store/charset.ts';
import { fold } from '../../store/search-text.ts';
import { handled, layoutModel, mailUrl, openFolder, sendPage, str, uidParam, WebError } from './common.ts';
import { htmlCsp, htmlDocument, sanitizeMailHtml } from './html.ts';
import { addressText, longDate, matchHeaders, pageOf, pageOfSorted, parseDay, shortDate, shortSize, threadOf, toRow, type Summary } from './model.ts';
import { attachments, contentType, dispositionHeader, fileName, findCid, findPart, leaves, partBytes, partText, shownBodies } from './parts.ts';
import { bodyMatches, MAX_RESULTS } from './search.ts';
import { folderListing, type Listing } from './summaries.ts';
import { SORT_KEYS, type ListRow, type SortKey, type WebmailRoutes } from './types.ts';

const rowsOf = (l: Listing, uids: readonly number[]): ListRow[] => uids.map((u) => toRow(l.metas.get(u)!, l.sums.get(u)));

/** Most messages the conversation view shows (the newest). */
export const MAX_THREAD = 50;
/** Longest text part shown inline (characters); the rest is offered as the raw source. */
const MAX_TEXT_CHARS = 2_000_000;
const INERT_CSP = "default-src 'none'; sandbox";

const FORMATS = { shortDate, longDate, shortSize, url: mailUrl };

/** sort/order/page of the query (400 when malformed). */
function listParams(q: unknown): { sort: SortKey; desc: boolean; page: number } {
  const s = str(q, 'sort');
  const o = str(q, 'order');
  const p = str(q, 'page');
  if (s !== '' && !(SORT_KEYS as readonly string[]).includes(s)) throw new WebError(400, 'sort must be date, from, subject or size');
  if (o !== '' && o !== 'asc' && o !== 'desc') throw new WebError(400, 'order must be asc or desc');
  if (p !== '' && !/^[1-9][0-9]{0,6}$/.test(p)) throw new WebError(400, 'page must be a number');
  const sort = (s === '' ? 'date' : s) as SortKey;
  return { sort, desc: o === '' ? sort === 'date' || sort === 'size' : o === 'desc', page: p === '' ? 1 : Number(p) };
}

/** The message's stored structure (404 when the folder has no such UID). */
async function structureOf(mailbox: MailboxApi, folder: string, uid: number): Promise<MessageStructure> {
  const [e] = await mailbox.fetchStructure(folder, [uid]);
  if (e === undefined) throw new WebError(404, `no message ${uid} in "${folder}"`);
  return e.structure;
}

async function messageOf(env: HttpEnv, req: FastifyRequest): Promise<{ mailbox: MailboxApi; folder: string; folders: FolderInfo[]; uid: number; s: MessageStructure; meta: MessageMeta; body: Uint8Array }> {
  const { mailbox, folder, folders } = await openFolder(env, req);
  const uid = uidParam(req.query);
  const s = await structureOf(mailbox, folder, uid);
  const { meta, body } = await mailbox.fetch(folder, uid);
  return { mailbox, folder, folders, uid, s, meta, body };
}

function remoteParam(q: unknown): boolean {
  const r = str(q, 'remote');
  if (r !== '' && r !== '0' && r !== '1') throw new WebError(400, 'remote must be 0 or 1');
  return r === '1';
}

const cidUrlFor = (folder: string, uid: number) => (cid: string): string => mailUrl('/mail/message/cid', { f: folder, uid, cid });

function sendPart(reply: FastifyReply, bytes: Buffer, type: string, disposition: string): FastifyReply {
  return reply
    .header('content-type', type)
    .header('content-disposition', disposition)
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', INERT_CSP)
    .header('cache-control', 'private, no-store')
    .send(bytes);
}

export const registerRead: WebmailRoutes = (app, env) => {
  const guard = { preHandler: async (req: FastifyRequest, reply: FastifyReply): Promise<void> => env.requireSession(req, reply) };

  app.get('/mail', guard, handled(env, async (req, reply) => {
    const { mailbox, folder, info, folders } = await openFolder(env, req);
    const { sort, desc, page } = listParams(req.query);
    const l = await folderListing(mailbox, info);
    const pg = pageOfSorted(l.sorted(sort), desc, page);
    return sendPage(env, req, reply, 'list', {
      ...(await layoutModel(env, req, reply, folder, folders)),
      ...FORMATS,
      title: `${folder} (${info.unseen})`,
      folder, info, rows: rowsOf(l, pg.items), page: pg.page, pages: pg.pages, total: l.metas.size, sort, order: desc ? 'desc' : 'asc',
      search: null, isTrash: info.specialUse === '\\Trash', targets: folders.map((x) => x.name).filter((n) => n !== folder),
    });
  }));

  app.get('/mail/search', guard, handled(env, async (req, reply) => {
    const { mailbox, folder, info, folders } = await openFolder(env, req);
    const q = req.query;
    const terms = { from: str(q, 'from').slice(0, 200), to: str(q, 'to').slice(0, 200), subject: str(q, 'subject').slice(0, 200), text: str(q, 'text').slice(0, 200), since: str(q, 'since'), before: str(q, 'before') };
    const since = parseDay(terms.since);
    const before = parseDay(terms.before);
    if (since === null || before === null) throw new WebError(400, 'dates are written YYYY-MM-DD');
    const { page } = listParams({ page: str(q, 'page') });
    const l = await folderListing(mailbox, info);
    const hq = { from: fold(terms.from.trim()), to: fold(terms.to.trim()), subject: fold(terms.subject.trim()), since, before };
    let hits = [...l.sorted('date')].reverse().filter((u) => {
      const s = l.sums.get(u);
      return s !== undefined && matchHeaders(s, s.date ?? l.metas.get(u)!.internalDate, hq);
    });
    if (terms.text.trim() !== '') {
      const ok = await bodyMatches(mailbox, folder, hits, terms.text.trim());
      hits = hits.filter((u) => ok.has(u));
    }
    const pg = pageOf(hits.slice(0, MAX_RESULTS), page);
    return sendPage(env, req, reply, 'list', {
      ...(await layoutModel(env, req, reply, folder, folders)),
      ...FORMATS,
      title: `Search in ${folder}`,
      folder, info, rows: rowsOf(l, pg.items), page: pg.page, pages: pg.pages, total: hits.length, sort: 'date', order: 'desc',
      search: terms, isTrash: info.specialUse === '\\Trash', targets: folders.map((x) => x.name).filter((n) => n !== folder),
    });
  }));

  app.get('/mail/message', guard, handled(env, async (req, reply) => {
    const { mailbox, folder, folders, uid, s, meta, body } = await messageOf(env, req);
    const remote = remoteParam(req.query);
    // \Seen is set while the page is made; the page goes out once the flag is durable
    let seen: Promise<unknown> = Promise.resolve();
    if (!meta.flags.includes('\\Seen')) {
      seen = mailbox.setFlags(folder, [uid], ['\\Seen'], 'add');
      seen.catch(() => {}); // awaited by sendPage
      const f = folders.find((x) => x.name === folder);
      if (f !== undefined) folders[folders.indexOf(f)] = { ...f, unseen: Math.max(0, f.unseen - 1) };
    }
    const all = leaves(s);
    const { text, html } = shownBodies(s, all);
    let shownText: string | null = null;
    let blocked = false;
    if (html !== null) blocked = sanitizeMailHtml(partText(body, html.p), { remote: false, cidUrl: cidUrlFor(folder, uid) }).blocked;
    else if (text !== null) shownText = partText(body, text.p).slice(0, MAX_TEXT_CHARS);
    const files = attachments(s, all).map((l) => ({
      name: fileName(l.p) ?? `part-${l.part}${l.p.type === 'message' ? '.eml' : ''}`,
      type: contentType(l.p),
      size: l.p.encoding === 'base64' ? Math.floor(((l.p.end - l.p.bodyStart) * 3) / 4 * 0.98) : l.p.end - l.p.bodyStart,
      url: mailUrl('/mail/message/part', { f: folder, uid, part: l.part }),
    }));
    const e = s.envelope;
    return sendPage(env, req, reply, 'message', {
      ...(await layoutModel(env, req, reply, folder, folders)),
      ...FORMATS,
      title: decodeWords(e.subject ?? '') || '(no subject)',
      folder, uid,
      subject: decodeWords(e.subject ?? '').trim(),
      from: addressText(e.from), to: addressText(e.to), cc: addressText(e.cc),
      date: s.sort.date ?? meta.internalDate,
      flags: meta.flags,
      text: shownText,
      htmlUrl: html === null ? null : mailUrl('/mail/message/html', { f: folder, uid }),
      remoteUrl: html === null ? null : mailUrl('/mail/message/html', { f: folder, uid, remote: 1 }),
      blocked, remote,
      attachments: files,
      truncated: s.truncated,
      targets: folders.map((x) => x.name).filter((n) => n !== folder),
    }, 200, seen);
  }));

  app.get('/mail/message/html', guard, handled(env, async (req, reply) => {
    const { folder, uid, s, body } = await messageOf(env, req);
    const remote = remoteParam(req.query);
    const { html } = shownBodies(s);
    if (html === null) throw new WebError(404, 'this message has no HTML part');
    const out = sanitizeMailHtml(partText(body, html.p), { remote, cidUrl: cidUrlFor(folder, uid) });
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', htmlCsp(remote))
      .header('x-frame-options', 'SAMEORIGIN')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'private, no-store')
      .send(htmlDocument(out.html));
  }));

  app.get('/mail/message/cid', guard, handled(env, async (req, reply) => {
    const { s, body } = await messageOf(env, req);
    const cid = str(req.query, 'cid');
    if (cid === '' || cid.length > 1000) throw new WebError(400, 'bad or missing cid');
    const l = findCid(s, cid);
    if (l === null) throw new WebError(404, 'no part with that Content-ID');
    return sendPart(reply, partBytes(body, l.p), contentType(l.p), dispositionHeader('inline', fileName(l.p), `part-${l.part}`));
  }));

  app.get('/mail/message/part', guard, handled(env, async (req, reply) => {
    const part = str(req.query, 'part');
    if (!/^[1-9][0-9]{0,4}(?:\.[1-9][0-9]{0,4}){0,30}$/.test(part)) throw new WebError(400, 'bad or missing part number');
    const { s, body } = await messageOf(env, req);
    const l = findPart(s, part);
    if (l === null) throw new WebError(404, `no part ${part}`);
    const bytes = l.p.type === 'message' ? Buffer.from(body.subarray(l.p.bodyStart, l.p.end)) : partBytes(body, l.p);
    return sendPart(reply, bytes, contentType(l.p), dispositionHeader('attachment', fileName(l.p), `part-${part}${l.p.type === 'message' ? '.eml' : ''}`));
  }));

  app.get('/mail/message/raw', guard, handled(env, async (req, reply) => {
    const { body, uid } = await messageOf(env, req);
    return sendPart(reply, Buffer.from(body.buffer, body.byteOffset, body.byteLength), 'text/plain; charset=utf-8', dispositionHeader('inline', null, `message-${uid}.eml`));
  }));

  app.get('/mail/thread', guard, handled(env, async (req, reply) => {
    const { mailbox, folder, info, folders } = await openFolder(env, req);
    const uid = uidParam(req.query);
    const { metas: byUid, sums } = await folderListing(mailbox, info);
    if (!byUid.has(uid)) throw new WebError(404, `no message ${uid} in "${folder}"`);
    const dateOf = (x: Summary): number => x.date ?? byUid.get(x.uid)?.internalDate ?? 0;
    const uids = threadOf(uid, [...sums.values()].filter((x) => byUid.has(x.uid)), dateOf).slice(-MAX_THREAD);
    const structures = new Map((await mailbox.fetchStructure(folder, uids)).map((e) => [e.uid, e.structure]));
    const messages = [];
    for (const u of uids) {
      const st = structures.get(u);
      const meta = byUid.get(u);
      if (st === undefined || meta === undefined) continue;
      const { text, html } = shownBodies(st);
      let t: string | null = null;
      if (text !== null) {
        try {
          t = partText((await mailbox.fetch(folder, u)).body, text.p).slice(0, MAX_TEXT_CHARS);
        } catch {
          continue; // expunged meanwhile
        }
      }
      messages.push({
        uid: u, current: u === uid,
        subject: decodeWords(st.envelope.subject ?? '').trim(), from: addressText(st.envelope.from), to: addressText(st.envelope.to),
        date: st.sort.date ?? meta.internalDate, seen: meta.flags.includes('\\Seen'), text: t, hasHtml: html !== null,
        url: mailUrl('/mail/message', { f: folder, uid: u }),
      });
    }
    return sendPage(env, req, reply, 'thread', {
      ...(await layoutModel(env, req, reply, folder, folders)),
      ...FORMATS,
      title: messages.find((m) => m.current)?.subject || 'Conversation',
      folder, uid, messages,
    });
  }));
};
