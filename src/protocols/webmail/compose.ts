/**
 * webmail/compose.ts: WebMail's writing routes:
 *   GET  /compose?mode=new|reply|replyall|forward&f=&uid=   the form, pre-filled for a reply
 *        (reply.ts: recipients, `Re: `, quoting, threading headers) or a forward (the original
 *        attached whole as message/rfc822, nothing of it lost); GET /compose?draft=<uid> reopens
 *        a draft from Drafts with its attachments (each kept unless unticked);
 *   POST /compose  multipart/form-data: to, cc, bcc, subject, body, attachment (files), inReplyTo,
 *        references, draftUid, keep (draft attachments kept), mode/f/uid (the original of a reply
 *        or forward), `_csrf`; `send` or `draft`.
 * The form is read (preValidation, before requireSession sees its `_csrf`) with @fastify/multipart
 * within `uploadMaxSize` (over it: 413), only for a same-origin request with a session, into
 * memory only while the message is built (compose-mime.ts). Sending: addresses checked, at most
 * `maxRcptCount` (the service's option) of them, each resolved (send.ts), the message queued like
 * SMTP's, then a copy with Bcc kept in Sent (\Seen); a draft is sent from Drafts and removed from
 * there. A refused form is shown again with what was typed and the reason (400), never lost
 * (files excepted: a browser cannot be handed them back).
 *
 * Exports: `registerCompose`, `DEFAULT_MAX_RECIPIENTS`, `MAX_ATTACHMENTS`. Throws nothing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import PostalMime, { type Email } from 'postal-mime';
import type { HttpEnv } from '../../http/types.ts';
import type { WebmailOptions } from '../../config/options.ts';
import { isPosternError } from '../../errors.ts';
import { folderName, INBOX } from '../../store/names.ts';
import { MAX_UID } from '../../store/types.ts';
import type { WebmailRoutes } from './types.ts';
import { composeMessage, newMessageId, parseAddresses, type Mbx, type OutgoingFile } from './compose-mime.ts';
import { specialFolder, storeProblem } from './folder-ops.ts';
import { addressList, replyDraft, type DraftFields, type ReplyMode } from './reply.ts';
import { enqueue, keepCopy, removeDraft, resolveRecipients } from './send.ts';
import { layoutModel, sendError, sendPage } from './common.ts';
import { account, seeOther, type Account } from './write-http.ts';

/** Most recipients (To + Cc + Bcc) of one message when the service's options do not say
 * (`maxRcptCount`, config/schema.ts WEBMAIL_OPTIONS). */
export const DEFAULT_MAX_RECIPIENTS = 100;
/** Most files attached to one message. */
export const MAX_ATTACHMENTS = 50;
const MAX_FIELDS = 64;

type Mode = 'new' | ReplyMode | 'draft';

/** The form as read from the multipart body (preValidation). */
interface ComposeForm {
  fields: Record<string, string[]>;
  files: OutgoingFile[];
  /** A limit passed while reading (the reason, for a 413). */
  tooLarge: string | null;
  /** `_csrf` for requireSession, which reads the body's field. */
  _csrf?: string;
}

interface FormModel extends DraftFields {
  mode: Mode;
  f: string;
  uid: string;
  draftUid: string;
  attachments: Array<{ index: number; filename: string; size: number; type: string; kept: boolean }>;
  uploadMaxSize: number;
  error: string;
}

const one = (form: ComposeForm, name: string): string => form.fields[name]?.[0] ?? '';
const uidOf = (s: string): number | null => (/^\d{1,10}$/.test(s) && Number(s) >= 1 && Number(s) <= MAX_UID ? Number(s) : null);
const folderOf = (s: string): string | null => {
  try {
    return folderName(s);
  } catch {
    return null;
  }
};

async function parseMessage(bytes: Uint8Array): Promise<Email> {
  return PostalMime.parse(bytes, { forceRfc822Attachments: true, maxNestingDepth: 64, maxPartCount: 2000 });
}

function emptyModel(uploadMaxSize: number): FormModel {
  return { mode: 'new', f: '', uid: '', draftUid: '', to: '', cc: '', bcc: '', subject: '', body: '', inReplyTo: '', references: '', attachments: [], uploadMaxSize, error: '' };
}

async function render(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, model: FormModel, status = 200): Promise<FastifyReply> {
  try {
    const layout = await layoutModel(env, req, reply, null);
    return await sendPage(env, req, reply, 'compose', { ...layout, ...model, page: 'compose', title: model.subject !== '' ? model.subject : 'New message' }, status);
  } catch (e) {
    return sendError(env, req, reply, e);
  }
}

/** GET /compose: the form, pre-filled from the original or the draft. */
async function showForm(env: HttpEnv, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const who = account(req, env, reply);
  if (who === null) return reply;
  const q = (req.query ?? {}) as Record<string, unknown>;
  const str = (k: string): string => (typeof q[k] === 'string' ? (q[k] as string) : '');
  const model = emptyModel(env.options().uploadMaxSize);
  try {
    if (str('draft') !== '') {
      const uid = uidOf(str('draft'));
      const drafts = await specialFolder(who.mb, '\\Drafts');
      if (uid === null) return seeOther(reply, '/mail', { f: drafts }, 'That draft is not there any more.');
      const e = await parseMessage((await who.mb.fetch(drafts, uid)).body);
      Object.assign(model, {
        mode: 'draft', draftUid: String(uid), to: addressList(e.to), cc: addressList(e.cc), bcc: addressList(e.bcc), subject: e.subject ?? '', body: e.text ?? '',
        inReplyTo: e.inReplyTo ?? '', references: (e.references ?? '').replace(/\s+/g, ' ').trim(),
        attachments: attachmentList(e, null),
      });
      return render(env, req, reply, model);
    }
    const mode = str('mode');
    if (mode === 'reply' || mode === 'replyall' || mode === 'forward') {
      const f = folderOf(str('f'));
      const uid = uidOf(str('uid'));
      if (f === null || uid === null) return seeOther(reply, '/mail', { f: f ?? INBOX }, 'Choose a message to answer or forward first.');
      const e = await parseMessage((await who.mb.fetch(f, uid)).body);
      Object.assign(model, replyDraft(e, mode, who.user), { mode, f, uid: String(uid) });
    }
    return render(env, req, reply, model);
  } catch (e) {
    const known = storeProblem(e);
    if (known === null) env.log.error({ err: e }, 'webmail: could not open the compose form');
    return seeOther(reply, '/mail', { f: INBOX }, known ?? 'Could not open that message: an unexpected error (it was logged).');
  }
}

function byteLength(c: ArrayBuffer | Uint8Array | string): number {
  return typeof c === 'string' ? Buffer.byteLength(c) : c.byteLength;
}

/** A draft's attachments as the form lists them (`keep`: those ticked; null: all). */
function attachmentList(e: Email, keep: Set<number> | null): FormModel['attachments'] {
  return e.attachments.map((a, index) => ({ index, filename: a.filename ?? `attachment-${index + 1}`, size: byteLength(a.content), type: a.mimeType, kept: keep === null || keep.has(index) }));
}

/** The attachments of the draft being edited, for the form shown again after a refusal. */
async function draftAttachments(who: Account, uid: number, keep: Set<number>): Promise<FormModel['attachments']> {
  const drafts = await specialFolder(who.mb, '\\Drafts');
  return attachmentList(await parseMessage((await who.mb.fetch(drafts, uid)).body), keep);
}

/** preValidation of POST /compose: read the multipart form into `req.body` (a ComposeForm), for
 * a request with a session from the same origin only (requireSession then checks `_csrf`). */
function readForm(env: HttpEnv) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (req.postern.session === null || !req.isMultipart()) return undefined; // requireSession answers
    if (!env.sameOrigin(req, reply)) return reply; // 403 sent: a cross-site upload is not even read
    const max = env.options().uploadMaxSize;
    const form: ComposeForm = { fields: Object.create(null) as Record<string, string[]>, files: [], tooLarge: null };
    let total = 0;
    try {
      for await (const part of req.parts({ limits: { fileSize: max, fieldSize: max, files: MAX_ATTACHMENTS, fields: MAX_FIELDS, parts: MAX_ATTACHMENTS + MAX_FIELDS } })) {
        if (part.type === 'file') {
          const buf = await part.toBuffer();
          total += buf.length;
          if (part.fieldname === 'attachment' && (buf.length > 0 || part.filename !== '')) {
            form.files.push({ filename: part.filename, contentType: part.mimetype, content: buf });
          }
        } else {
          const v = typeof part.value === 'string' ? part.value : String(part.value);
          total += Buffer.byteLength(v);
          if (part.valueTruncated) throw Object.assign(new Error('field too large'), { statusCode: 413 });
          (form.fields[part.fieldname] ??= []).push(v);
        }
        if (total > max) throw Object.assign(new Error('upload too large'), { statusCode: 413 });
      }
    } catch (e) {
      const status = (e as { statusCode?: number }).statusCode;
      if (status === 413) form.tooLarge = `The message is larger than the upload limit (${max} bytes).`;
      else if (typeof status === 'number' && status >= 400 && status < 500) form.tooLarge = `The form could not be read: ${(e as Error).message}`;
      else throw e;
    }
    const csrf = form.fields['_csrf']?.[0];
    if (csrf !== undefined) form._csrf = csrf;
    req.body = form;
    return undefined;
  };
}

/** The form as the page shows it again after a refusal. */
function modelFromForm(form: ComposeForm, uploadMaxSize: number): FormModel {
  const mode = one(form, 'mode');
  return {
    ...emptyModel(uploadMaxSize),
    mode: mode === 'reply' || mode === 'replyall' || mode === 'forward' || mode === 'draft' ? mode : 'new',
    f: one(form, 'f'), uid: one(form, 'uid'), draftUid: one(form, 'draftUid'),
    to: one(form, 'to'), cc: one(form, 'cc'), bcc: one(form, 'bcc'), subject: one(form, 'subject'), body: one(form, 'body'),
    inReplyTo: one(form, 'inReplyTo'), references: one(form, 'references'),
  };
}

async function submit(env: HttpEnv, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const who = account(req, env, reply);
  if (who === null) return reply;
  const form = req.body as ComposeForm | undefined;
  const uploadMaxSize = env.options().uploadMaxSize;
  if (form === undefined || form === null || !('fields' in form)) {
    return reply.code(415).type('text/plain; charset=utf-8').send('The compose form is sent as multipart/form-data.\n');
  }
  const again = async (status: number, error: string): Promise<FastifyReply> => {
    const model = { ...modelFromForm(form, uploadMaxSize), error: form.files.length > 0 ? `${error} The files must be chosen again.` : error };
    const draftUid = uidOf(model.draftUid);
    if (draftUid !== null) model.attachments = await draftAttachments(who, draftUid, new Set((form.fields['keep'] ?? []).map(Number))).catch(() => []);
    return render(env, req, reply, model, status);
  };
  if (form.tooLarge !== null) return again(413, `${form.tooLarge} Nothing was sent.`);
  const sending = form.fields['send'] !== undefined;
  if (!sending && form.fields['draft'] === undefined) return again(400, 'Choose Send or Save draft.');
  try {
    return await (sending ? send(env, req, reply, who, form, again) : saveDraft(reply, who, form, again));
  } catch (e) {
    const known = storeProblem(e) ?? (isPosternError(e) && e.code === 'QUEUE_FULL' ? 'The mail queue is full: try again in a while.' : null);
    if (known === null) env.log.error({ err: e }, 'webmail: compose failed');
    return again(known !== null ? 503 : 500, `${known ?? 'An unexpected error (it was logged).'} Nothing was sent.`);
  }
}

type Again = (status: number, error: string) => Promise<FastifyReply>;

interface Built {
  to: Mbx[];
  cc: Mbx[];
  bcc: Mbx[];
  message: ReturnType<typeof composeMessage>;
  draftUid: number | null;
}

/** The message of the form (for sending or as a draft); a string: what is wrong with the form. */
async function build(req: FastifyRequest, who: Account, form: ComposeForm): Promise<Built | string> {
  const lists: Mbx[][] = [];
  for (const [name, label] of [['to', 'To'], ['cc', 'Cc'], ['bcc', 'Bcc']] as const) {
    const r = parseAddresses(one(form, name), label);
    if ('error' in r) return r.error;
    lists.push(r.ok);
  }
  const [to, cc, bcc] = lists as [Mbx[], Mbx[], Mbx[]];
  const draftUid = uidOf(one(form, 'draftUid'));
  const files = [...form.files];
  let forwarded: { filename: string; content: Buffer } | null = null;
  if (draftUid !== null) {
    // the draft's own attachments, those still ticked
    const keep = new Set((form.fields['keep'] ?? []).map(Number));
    if (keep.size > 0) {
      const drafts = await specialFolder(who.mb, '\\Drafts');
      const old = await who.mb.fetch(drafts, draftUid).catch((e: unknown) => {
        if (isPosternError(e) && e.code === 'STORE_NO_SUCH_MESSAGE') return null;
        throw e;
      });
      if (old !== null) {
        (await parseMessage(old.body)).attachments.forEach((a, i) => {
          if (!keep.has(i)) return;
          const content = typeof a.content === 'string' ? Buffer.from(a.content) : Buffer.from(a.content instanceof ArrayBuffer ? new Uint8Array(a.content) : a.content);
          files.push({ filename: a.filename ?? `attachment-${i + 1}`, contentType: a.mimeType, content });
        });
      }
    }
  } else if (one(form, 'mode') === 'forward') {
    const f = folderOf(one(form, 'f'));
    const uid = uidOf(one(form, 'uid'));
    if (f !== null && uid !== null) {
      const orig = await who.mb.fetch(f, uid);
      const subject = (await parseMessage(orig.body)).subject ?? 'message';
      forwarded = { filename: `${subject.replace(/[^\p{L}\p{N} ._-]+/gu, '_').slice(0, 80).trim() || 'message'}.eml`, content: Buffer.from(orig.body) };
    }
  }
  if (files.length > MAX_ATTACHMENTS) return `Too many attachments (at most ${MAX_ATTACHMENTS}).`;
  const message = composeMessage({
    from: who.user, to, cc, bcc, subject: one(form, 'subject').slice(0, 998), text: one(form, 'body'),
    inReplyTo: one(form, 'inReplyTo').match(/<[^<>\s]+>/)?.[0] ?? '', references: (one(form, 'references').match(/<[^<>\s]+>/g) ?? []).slice(-20).join(' '),
    attachments: files, forwarded, messageId: newMessageId(req.postern.conn.service.hostname), date: new Date(),
  });
  return { to, cc, bcc, message, draftUid };
}

async function send(env: HttpEnv, req: FastifyRequest, reply: FastifyReply, who: Account, form: ComposeForm, again: Again): Promise<FastifyReply> {
  const b = await build(req, who, form);
  if (typeof b === 'string') return again(400, b);
  const all = [...b.to, ...b.cc, ...b.bcc].map((m) => m.address);
  if (all.length === 0) return again(400, 'Add at least one recipient.');
  const max = (env.options() as Partial<WebmailOptions>).maxRcptCount ?? DEFAULT_MAX_RECIPIENTS;
  if (all.length > max) return again(400, `Too many recipients (at most ${max}).`);
  const resolved = await resolveRecipients(who.store, all);
  if ('error' in resolved) return again(400, resolved.error);
  const wire = await b.message.build(false);
  const conn = req.postern.conn;
  const tls = req.postern.secure ? tlsOf(req) : null;
  const { id } = await enqueue(who.store, { from: who.user, rcpts: resolved.rcpts, ip: conn.remoteAddress, by: conn.service.hostname, tls }, wire);
  env.log.info({ user: who.user, queueId: id, rcpts: resolved.rcpts.length, size: wire.length }, 'webmail: message queued');
  const notes: string[] = [`Message sent (queued as ${id}).`];
  try {
    await keepCopy(who.mb, '\\Sent', await b.message.build(true), ['\\Seen']);
  } catch (e) {
    env.log.warn({ err: e, user: who.user }, 'webmail: the Sent copy could not be saved');
    notes.push(`The copy in Sent could not be saved (${storeProblem(e) ?? 'an unexpected error'}).`);
  }
  await afterSend(env, who, form, b.draftUid);
  return seeOther(reply, '/mail', { f: INBOX }, notes.join(' '));
}

/** After sending: the draft leaves Drafts; the original of a reply is marked \Answered. */
async function afterSend(env: HttpEnv, who: Account, form: ComposeForm, draftUid: number | null): Promise<void> {
  try {
    if (draftUid !== null) await removeDraft(who.mb, draftUid);
    const mode = one(form, 'mode');
    const f = folderOf(one(form, 'f'));
    const uid = uidOf(one(form, 'uid'));
    if ((mode === 'reply' || mode === 'replyall' || mode === 'forward') && f !== null && uid !== null) {
      await who.mb.setFlags(f, [uid], [mode === 'forward' ? '$Forwarded' : '\\Answered'], 'add');
    }
  } catch (e) {
    env.log.warn({ err: e, user: who.user }, 'webmail: after sending, the draft or the original could not be updated');
  }
}

async function saveDraft(reply: FastifyReply, who: Account, form: ComposeForm, again: Again): Promise<FastifyReply> {
  const b = await build(reply.request, who, form);
  if (typeof b === 'string') return again(400, b);
  const r = await keepCopy(who.mb, '\\Drafts', await b.message.build(true), ['\\Draft', '\\Seen']);
  if (b.draftUid !== null && b.draftUid !== r.uid) await removeDraft(who.mb, b.draftUid);
  return seeOther(reply, '/mail', { f: INBOX }, `Draft saved in ${r.folder}.`);
}

function tlsOf(req: FastifyRequest): string | null {
  const t = req.raw.socket as { getProtocol?: () => string | null; getCipher?: () => { name: string } | undefined };
  const proto = typeof t.getProtocol === 'function' ? t.getProtocol() : null;
  const cipher = typeof t.getCipher === 'function' ? t.getCipher()?.name : undefined;
  return `${proto ?? 'TLS'}${cipher !== undefined ? ` with cipher ${cipher}` : ''}`;
}

export const registerCompose: WebmailRoutes = async (app: FastifyInstance, env: HttpEnv) => {
  await app.register(async (scope) => {
    // the multipart parser in this scope only (the host may have one already)
    if (!scope.hasContentTypeParser('multipart/form-data')) await scope.register(multipart, { throwFileSizeLimit: true });
    scope.get('/compose', { preHandler: env.requireSession }, (req, reply) => showForm(env, req, reply));
    scope.post('/compose', { preValidation: readForm(env), preHandler: env.requireSession }, (req, reply) => submit(env, req, reply));
  });
};
