/**
 * webmail/common.ts: what every WebMail route shares: the session's mailbox, the `f` (folder)
 * and `uid` parameters checked, the layout's model (folder tree, flash notice), error pages,
 * and the store's errors mapped to HTTP statuses.
 *
 * Parameters: a query/form value is one string (a repeated one: its first); `f` is 1..1000
 * characters without control characters, `uid` a decimal 1..4294967295: anything else is 400.
 * A folder the mailbox does not have, or a UID the folder does not hold, is 404 (a page).
 * Flash notice: a short text carried to the next page by a cookie (`postern_notice`, HttpOnly,
 * SameSite=Lax, one minute), shown once as `.notice` and cleared.
 * Store errors: STORE_NO_SUCH_FOLDER / _MESSAGE → 404, STORE_BAD_NAME / _ARGUMENT → 400,
 * STORE_NOT_ALLOWED / STORE_FOLDER_EXISTS → 409, STORE_QUOTA_EXCEEDED → 507, anything else → 503
 * (logged whole; the reader sees only that it failed).
 *
 * Exports: `WebError`, `handled`, `str`, `strs`, `folderParam`, `uidParam`, `mailboxOf`, `openFolder`,
 * `layoutModel`, `setNotice`, `takeNotice`, `sendPage`, `sendError`, `errorStatus`,
 * `NOTICE_COOKIE`, `mailUrl`. `WebError` is what route code throws for a page with a status.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isPosternError } from '../../errors.ts';
import type { HttpEnv } from '../../http/types.ts';
import type { FolderInfo, MailboxApi } from '../../store/types.ts';
import { MAX_UID } from '../../store/types.ts';
import { folderTree, type FolderNode } from './model.ts';
import { WebError } from '../../http/web-error.ts';
export { WebError };

/** A route handler whose errors become error pages here (`sendError`), not in fastify's error
 * path: a 4xx is the reader's mistake, not a failure of the service. */
export function handled(env: HttpEnv, fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  return async (req, reply) => {
    try {
      return await fn(req, reply);
    } catch (e) {
      if (reply.sent) throw e;
      return sendError(env, req, reply, e);
    }
  };
}

export const NOTICE_COOKIE = 'postern_notice';
const NOTICE_MAX = 300;

type Bag = Record<string, unknown> | undefined | null;

/** The named value of a query or form body as one string ('' when absent). */
export function str(bag: unknown, name: string): string {
  const v = (bag as Bag)?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  if (one === undefined || one === null) return '';
  if (typeof one === 'string') return one;
  if (typeof one === 'object' && 'value' in (one as object)) return String((one as { value: unknown }).value ?? ''); // a multipart field
  return String(one);
}

/** Every value of a repeated field. */
export function strs(bag: unknown, name: string): string[] {
  const v = (bag as Bag)?.[name];
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'object' && x !== null && 'value' in x ? String((x as { value: unknown }).value) : String(x)));
}

/** The `f` parameter (400 when absent or malformed). */
export function folderParam(bag: unknown, name = 'f'): string {
  const f = str(bag, name);
  if (f === '' || f.length > 1000 || /[\x00-\x1f\x7f]/.test(f)) throw new WebError(400, `bad or missing folder parameter "${name}"`);
  return f;
}

/** The `uid` parameter (400 when absent or malformed). */
export function uidParam(bag: unknown, name = 'uid'): number {
  const v = str(bag, name);
  const n = /^[1-9][0-9]{0,9}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_UID)) throw new WebError(400, `bad or missing message parameter "${name}"`);
  return n;
}

/** The session's mailbox (the route runs after `requireSession`). */
export function mailboxOf(env: HttpEnv, req: FastifyRequest): MailboxApi {
  const user = req.postern.session?.user;
  if (user === undefined) throw new WebError(401, 'not logged in');
  if (env.store === null) throw new WebError(503, 'the mail store is not available');
  return env.store.mailbox(user);
}

/** The mailbox, its folders and the folder `f` names (404 if it has no such folder). */
export async function openFolder(env: HttpEnv, req: FastifyRequest, bag: unknown = req.query): Promise<{ mailbox: MailboxApi; folder: string; info: FolderInfo; folders: FolderInfo[] }> {
  const folder = folderParam(bag);
  const mailbox = mailboxOf(env, req);
  const folders = await mailbox.folders();
  const info = folders.find((x) => x.name === folder) ?? (folder.toUpperCase() === 'INBOX' ? folders.find((x) => x.name === 'INBOX') : undefined);
  if (info === undefined) throw new WebError(404, `no folder "${folder}"`);
  return { mailbox, folder: info.name, info, folders };
}

/** `/mail?f=…` and friends, with parameters encoded. */
export function mailUrl(path: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? path : `${path}?${s}`;
}

function cookies(req: FastifyRequest): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

const cookieAttrs = (req: FastifyRequest): string => `Path=/; HttpOnly; SameSite=Lax${req.postern.secure ? '; Secure' : ''}`;

/** Carry `text` to the next page (after a redirect). */
export function setNotice(req: FastifyRequest, reply: FastifyReply, text: string): void {
  reply.header('set-cookie', `${NOTICE_COOKIE}=${encodeURIComponent(text.slice(0, NOTICE_MAX))}; Max-Age=60; ${cookieAttrs(req)}`);
}

/** The notice carried to this page, cleared (null: none). */
export function takeNotice(req: FastifyRequest, reply: FastifyReply): string | null {
  const v = cookies(req).get(NOTICE_COOKIE);
  if (v === undefined) return null;
  reply.header('set-cookie', `${NOTICE_COOKIE}=; Max-Age=0; ${cookieAttrs(req)}`);
  try {
    return decodeURIComponent(v).slice(0, NOTICE_MAX) || null;
  } catch {
    return null;
  }
}

/** What the layout shows around every page of a logged-in reader. */
export async function layoutModel(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, current: string | null, folders?: FolderInfo[]): Promise<{ folders: FolderNode[]; current: string | null; notice: string | null; user: string }> {
  const list = folders ?? (await mailboxOf(env, req).folders());
  return { folders: folderTree(list), current, notice: takeNotice(req, reply), user: req.postern.session?.user ?? '' };
}

/** Render `name` and send it as HTML with `status` (once `ready`, if given, has settled well:
 * work the page waits for, done while it renders). */
export async function sendPage(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, name: string, model: Record<string, unknown>, status = 200, ready?: Promise<unknown>): Promise<FastifyReply> {
  const html = await env.views.render(req, name, model);
  await ready;
  return reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html);
}

/** The HTTP status for an error a route threw. */
export function errorStatus(e: unknown): number {
  if (e instanceof WebError) return e.status;
  if (isPosternError(e, 'STORE_NO_SUCH_FOLDER') || isPosternError(e, 'STORE_NO_SUCH_MESSAGE')) return 404;
  if (isPosternError(e, 'STORE_BAD_NAME') || isPosternError(e, 'STORE_BAD_ARGUMENT')) return 400;
  if (isPosternError(e, 'STORE_NOT_ALLOWED') || isPosternError(e, 'STORE_FOLDER_EXISTS')) return 409;
  if (isPosternError(e, 'STORE_QUOTA_EXCEEDED')) return 507;
  const sc = (e as { statusCode?: unknown } | null)?.statusCode;
  if (typeof sc === 'number' && sc >= 400 && sc < 600) return sc; // fastify's own (body limits, bad JSON …)
  return 503;
}

const PLAIN: Record<number, string> = { 400: 'Bad request', 401: 'Not logged in', 403: 'Forbidden', 404: 'Not found', 409: 'Not possible', 413: 'Too large', 507: 'Mailbox full', 503: 'Temporarily unavailable' };

/** An error page (error.eta; plain text if even that fails). */
export async function sendError(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, e: unknown): Promise<FastifyReply> {
  const status = errorStatus(e);
  const shown = e instanceof WebError || (status >= 400 && status < 500) ? (e as Error).message : 'The mail store could not do that now; try again later.';
  if (status >= 500) env.log.warn({ err: e, url: req.url.slice(0, 200) }, 'webmail: request failed');
  try {
    return await sendPage(env, req, reply, 'error', { status, title: PLAIN[status] ?? 'Error', message: shown, user: req.postern?.session?.user ?? '' }, status);
  } catch (e2) {
    env.log.warn({ err: e2 }, 'webmail: cannot render the error page');
    return reply.code(status).type('text/plain; charset=utf-8').send(`${status} ${PLAIN[status] ?? 'Error'}: ${shown}\n`);
  }
}
