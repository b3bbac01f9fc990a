/**
 * webmail/actions.ts: WebMail's acting routes (form posts from the list and folder pages):
 *   POST /mail/action      f, uid (repeated), action=read|unread|flag|unflag|move|delete, to:
 *                          flags through `setFlags`, move through `move`; delete moves to the
 *                          account's Trash (the \Trash folder), and in Trash itself sets \Deleted
 *                          and expunges those UIDs;
 *   POST /mail/empty-trash every message of Trash expunged;
 *   POST /folders/create name · /folders/rename from, to · /folders/delete name: names checked
 *                          (folder-ops.ts); INBOX and special-use folders are neither renamed nor
 *                          deleted; a deleted folder's messages go to Trash first.
 * Every route needs a session (`env.requireSession`: CSRF token and same origin) and answers 303
 * back to the list with a flash notice saying what was done or what was wrong; a bad form is
 * never an error page, and nothing is changed by a refused request.
 *
 * Exports: `registerActions`, `ACTIONS`, `MAX_ACTION_UIDS`. Throws nothing (an unexpected store
 * error is logged and shown as a notice).
 */
import type { FastifyRequest } from 'fastify';
import type { HttpEnv } from '../../http/types.ts';
import { folderName, INBOX } from '../../store/names.ts';
import { MAX_UID, type MailboxApi } from '../../store/types.ts';
import type { WebmailRoutes } from './types.ts';
import { checkFolderName, isProtected, specialFolder, storeProblem } from './folder-ops.ts';
import { str, strs } from './common.ts';
import { account, seeOther } from './write-http.ts';

export const ACTIONS = Object.freeze(['read', 'unread', 'flag', 'unflag', 'move', 'delete'] as const);
type Action = (typeof ACTIONS)[number];

/** Most UIDs one action may name (a page shows 50). */
export const MAX_ACTION_UIDS = 10_000;

const FLAG_CHANGES: Record<'read' | 'unread' | 'flag' | 'unflag', { flag: string; mode: 'add' | 'remove'; done: string }> = {
  read: { flag: '\\Seen', mode: 'add', done: 'marked as read' },
  unread: { flag: '\\Seen', mode: 'remove', done: 'marked as unread' },
  flag: { flag: '\\Flagged', mode: 'add', done: 'flagged' },
  unflag: { flag: '\\Flagged', mode: 'remove', done: 'unflagged' },
};

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

/** The list page's own parameters, kept across the redirect. */
function listParams(body: unknown, f: string): Record<string, string> {
  const p: Record<string, string> = { f };
  const page = str(body, 'page');
  if (/^\d{1,6}$/.test(page)) p['page'] = page;
  const sort = str(body, 'sort');
  if (/^(date|from|subject|size)$/.test(sort)) p['sort'] = sort;
  const order = str(body, 'order');
  if (order === 'asc' || order === 'desc') p['order'] = order;
  return p;
}

function parseUids(raw: string[]): number[] | string {
  if (raw.length > MAX_ACTION_UIDS) return `Too many messages at once (at most ${MAX_ACTION_UIDS}).`;
  const out = new Set<number>();
  for (const r of raw) {
    if (!/^\d{1,10}$/.test(r) || Number(r) < 1 || Number(r) > MAX_UID) return 'A message number in the form is not valid.';
    out.add(Number(r));
  }
  if (out.size === 0) return 'Select at least one message first.';
  return [...out].sort((a, b) => a - b);
}

function normalFolder(name: string): string | null {
  try {
    return folderName(name);
  } catch {
    return null;
  }
}

async function act(mb: MailboxApi, f: string, uids: number[], action: Action, to: string): Promise<string> {
  if (action === 'move') {
    const target = normalFolder(to);
    if (target === null) return 'Choose a folder to move the messages to.';
    if (target === f) return `The messages are in ${f} already.`;
    const r = await mb.move(f, uids, target);
    return `${plural(r.map.length, 'message')} moved to ${target}.`;
  }
  if (action === 'delete') {
    const trash = await specialFolder(mb, '\\Trash');
    if (f === trash) {
      await mb.setFlags(f, uids, ['\\Deleted'], 'add');
      const r = await mb.expunge(f, { uids, deletedOnly: true });
      return `${plural(r.uids.length, 'message')} deleted for good.`;
    }
    const r = await mb.move(f, uids, trash);
    return `${plural(r.map.length, 'message')} moved to ${trash}.`;
  }
  const c = FLAG_CHANGES[action];
  const r = await mb.setFlags(f, uids, [c.flag], c.mode);
  const n = r.changed.length;
  return n === 0 ? `Nothing to change: the messages were ${c.done} already.` : `${plural(n, 'message')} ${c.done}.`;
}

function failed(req: FastifyRequest, env: HttpEnv, e: unknown, what: string): string {
  const known = storeProblem(e);
  if (known !== null) return known;
  env.log.error({ err: e, user: req.postern.session?.user }, `webmail: ${what} failed`);
  return `Could not ${what}: an unexpected error (it was logged).`;
}

export const registerActions: WebmailRoutes = (app, env) => {
  const guarded = { preHandler: env.requireSession };

  app.post('/mail/action', guarded, async (req, reply) => {
    const who = account(req, env, reply);
    if (who === null) return reply;
    const body = req.body;
    const f = normalFolder(str(body, 'f'));
    if (f === null) return seeOther(reply, '/mail', { f: INBOX }, 'The folder in the form is not valid.');
    const back = listParams(body, f);
    const action = str(body, 'action');
    if (!(ACTIONS as readonly string[]).includes(action)) return seeOther(reply, '/mail', back, 'Choose what to do with the selected messages.');
    const uids = parseUids(strs(body, 'uid'));
    if (typeof uids === 'string') return seeOther(reply, '/mail', back, uids);
    try {
      return seeOther(reply, '/mail', back, await act(who.mb, f, uids, action as Action, str(body, 'to')));
    } catch (e) {
      return seeOther(reply, '/mail', back, failed(req, env, e, action === 'move' ? 'move the messages' : action === 'delete' ? 'delete the messages' : 'change the messages'));
    }
  });

  app.post('/mail/empty-trash', guarded, async (req, reply) => {
    const who = account(req, env, reply);
    if (who === null) return reply;
    let trash = INBOX;
    try {
      trash = await specialFolder(who.mb, '\\Trash');
      const uids = (await who.mb.list(trash)).map((m) => m.uid);
      if (uids.length === 0) return seeOther(reply, '/mail', { f: trash }, `${trash} is empty already.`);
      await who.mb.setFlags(trash, uids, ['\\Deleted'], 'add');
      const r = await who.mb.expunge(trash, { uids, deletedOnly: true });
      return seeOther(reply, '/mail', { f: trash }, `${trash} emptied: ${plural(r.uids.length, 'message')} deleted for good.`);
    } catch (e) {
      return seeOther(reply, '/mail', { f: trash }, failed(req, env, e, 'empty the trash'));
    }
  });

  app.post('/folders/create', guarded, async (req, reply) => {
    const who = account(req, env, reply);
    if (who === null) return reply;
    const back = { f: normalFolder(str(req.body, 'f')) ?? INBOX };
    const name = checkFolderName(str(req.body, 'name'));
    if ('error' in name) return seeOther(reply, '/mail', back, name.error);
    try {
      const info = await who.mb.createFolder(name.ok);
      await who.mb.setSubscribed(info.name, true);
      return seeOther(reply, '/mail', { f: info.name }, `Folder ${info.name} created.`);
    } catch (e) {
      return seeOther(reply, '/mail', back, failed(req, env, e, 'create the folder'));
    }
  });

  app.post('/folders/rename', guarded, async (req, reply) => {
    const who = account(req, env, reply);
    if (who === null) return reply;
    const from = normalFolder(str(req.body, 'from'));
    const back = { f: from ?? INBOX };
    if (from === null) return seeOther(reply, '/mail', back, 'Choose a folder to rename.');
    const to = checkFolderName(str(req.body, 'to'));
    if ('error' in to) return seeOther(reply, '/mail', back, to.error);
    if (to.ok === from) return seeOther(reply, '/mail', back, 'The new name is the same as the old one.');
    try {
      const folder = (await who.mb.folders()).find((x) => x.name === from);
      if (folder === undefined) return seeOther(reply, '/mail', { f: INBOX }, 'That folder does not exist (any more).');
      if (isProtected(folder)) return seeOther(reply, '/mail', back, `${from} cannot be renamed.`);
      await who.mb.renameFolder(from, to.ok);
      return seeOther(reply, '/mail', { f: to.ok }, `Folder ${from} renamed to ${to.ok}.`);
    } catch (e) {
      return seeOther(reply, '/mail', back, failed(req, env, e, 'rename the folder'));
    }
  });

  app.post('/folders/delete', guarded, async (req, reply) => {
    const who = account(req, env, reply);
    if (who === null) return reply;
    const name = normalFolder(str(req.body, 'name'));
    if (name === null) return seeOther(reply, '/mail', { f: INBOX }, 'Choose a folder to delete.');
    try {
      const folder = (await who.mb.folders()).find((x) => x.name === name);
      if (folder === undefined) return seeOther(reply, '/mail', { f: INBOX }, 'That folder does not exist (any more).');
      if (isProtected(folder)) return seeOther(reply, '/mail', { f: name }, `${name} cannot be deleted.`);
      let moved = 0;
      if (folder.messages > 0) {
        const uids = (await who.mb.list(name)).map((m) => m.uid);
        if (uids.length > 0) moved = (await who.mb.move(name, uids, await specialFolder(who.mb, '\\Trash'))).map.length;
      }
      await who.mb.deleteFolder(name);
      await who.mb.setSubscribed(name, false).catch(() => {});
      return seeOther(reply, '/mail', { f: INBOX }, `Folder ${name} deleted${moved > 0 ? `; its ${plural(moved, 'message')} went to the Trash` : ''}.`);
    } catch (e) {
      return seeOther(reply, '/mail', { f: name }, failed(req, env, e, 'delete the folder'));
    }
  });
};
