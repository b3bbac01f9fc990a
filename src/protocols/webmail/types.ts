/**
 * webmail/types.ts: WebMail's contract: its routes, the names and selectors its pages promise
 * (browser tests and the cluster's WebMail proxy rely on them), and the shapes its modules share.
 *
 * Routes (every folder is a query parameter `f`, so names with "/" need no path escaping;
 * `uid` is the message's IMAP UID in that folder):
 *   GET  /                      login form (logged in: 303 → /mail?f=INBOX)
 *   POST /login                 form-encoded `username`, `password` → 303 /mail?f=INBOX + cookie;
 *                               failure: 200 the form again, username kept, `.error` message
 *   POST /logout                → 303 /
 *   GET  /mail?f=&page=&sort=date|from|subject|size&order=asc|desc   folder tree + list (50 a page)
 *   GET  /mail/search?f=&from=&to=&subject=&text=&since=YYYY-MM-DD&before=YYYY-MM-DD   results page
 *   GET  /mail/message?f=&uid=  read a message (sets \Seen)
 *   GET  /mail/message/html?f=&uid=&remote=0|1   the sanitised HTML part as a document, for the
 *                               sandboxed iframe; CSP `default-src 'none'` + images from self
 *                               (cid: rewritten to /mail/message/cid) and, with remote=1, https:/http:
 *   GET  /mail/message/cid?f=&uid=&cid=    an inline part by Content-ID (`inline`)
 *   GET  /mail/message/part?f=&uid=&part=1.2   an attachment (`Content-Disposition: attachment`)
 *   GET  /mail/message/raw?f=&uid=         the source, text/plain
 *   GET  /mail/thread?f=&uid=   the conversation the message belongs to (References/In-Reply-To/subject)
 *   POST /mail/action           f, uid (repeated), action=read|unread|flag|unflag|move|delete, to (move)
 *                               delete moves to Trash; in Trash it expunges
 *   POST /mail/empty-trash
 *   POST /folders/create name · /folders/rename from,to · /folders/delete name
 *   GET  /events?f=             server-sent events for the open folder (store subscription):
 *                               `event: exists` data {uid}, `event: flags` {uid, flags},
 *                               `event: expunge` {uid}, `event: counts` {folder, messages, unseen}
 *   GET  /compose?mode=new|reply|replyall|forward&f=&uid=   · GET /compose?draft=<uid> (from Drafts)
 *   POST /compose               multipart/form-data: to, cc, bcc, subject, body, attachment (files,
 *                               repeated), inReplyTo, references, draftUid, `_csrf`, and
 *                               `send` (send it) or `draft` (save to Drafts) → 303 /mail?f=INBOX
 *   GET  /static/<file>         CSS, scripts, icons from the template dirs
 * Every POST carries `_csrf` (form field) or `x-csrf-token` (header).
 *
 * Page contract (selectors the browser tests use; templates may restyle, not rename):
 *   login:    form#login [name=username] [name=password] button[type=submit]; .error
 *             a#secure-login (UrlRedirect link)
 *   layout:   body.mobile on the mobile templates; nav#folders a[data-folder] with
 *             span.unread (count when > 0); a#new-message (Compose); form#logout; .notice (flash message)
 *   list:     form#list table#messages tr.msg[data-uid] (.unseen .flagged classes),
 *             a.subject, .from, .date, .size, .attachment-mark; input[name=uid] checkboxes;
 *             select[name=to]; button[name=action][value=read|unread|flag|unflag|move|delete];
 *             a.page-next a.page-prev; th a[data-sort=date|from|subject|size];
 *             form#search [name=from|to|subject|text|since|before]; button#empty-trash (in Trash)
 *   message:  h1#subject, #from, #to, #date; #message-text (text part) or
 *             iframe#message-html (sandbox, no allow-scripts); button#show-remote when remote
 *             content was blocked; ul#attachments a.attachment; a#reply a#reply-all a#forward
 *             a#raw; a#thread
 *   compose:  form#compose [name=to|cc|bcc|subject|body] input[type=file][name=attachment]
 *             button[name=send] button[name=draft]
 *   folders:  form#folder-create [name=name]; form.folder-rename; form.folder-delete
 *
 * Exports: `PAGE_SIZE`, `SORT_KEYS`, `SortKey`, `ListRow`, `WebmailRoutes`. Types only otherwise.
 */
import type { FastifyInstance } from 'fastify';
import type { HttpEnv } from '../../http/types.ts';

export const PAGE_SIZE = 50;
export const SORT_KEYS = Object.freeze(['date', 'from', 'subject', 'size'] as const);
export type SortKey = (typeof SORT_KEYS)[number];

/** One row of the message list. */
export interface ListRow {
  uid: number;
  from: string; // display name, else address
  fromAddress: string;
  subject: string;
  date: number; // ms: the Date: header, else the internal date
  size: number;
  seen: boolean;
  flagged: boolean;
  answered: boolean;
  hasAttachment: boolean;
}

/** A module's routes (read.ts, actions.ts, compose.ts …), registered by index.ts. */
export type WebmailRoutes = (app: FastifyInstance, env: HttpEnv) => void | Promise<void>;
