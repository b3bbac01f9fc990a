/**
 * webmail/compose-mime.ts: a message written in WebMail, checked and built: the address fields
 * parsed with nodemailer's addressparser (every entry must be a plain `local@domain`), and the
 * MIME text built with nodemailer's MailComposer (CRLF lines, `From` = the session's account,
 * a `Message-ID` on this server's host name, `Date`, the threading headers of a reply, the
 * uploaded files as attachments and a forwarded original whole as message/rfc822).
 *
 *   const to = parseAddresses(form.to, 'To');                 // { ok: [...] } | { error }
 *   const m = composeMessage({ from: user, to, …, messageId: newMessageId(hostname) });
 *   const wire = await m.build(false);                         // Bcc left out (what is sent)
 *   const sent = await m.build(true);                          // the same bytes plus Bcc (the Sent copy, a draft)
 *
 * Exports: `Mbx`, `OutgoingFile`, `Outgoing`, `parseAddresses`, `newMessageId`,
 * `composeMessage`, `MAX_ADDRESS_FIELD`. Throws nothing itself (`build` rejects on a
 * MailComposer failure).
 */
import { randomBytes } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';

export interface Mbx {
  name: string;
  address: string;
}

export interface OutgoingFile {
  filename: string;
  contentType: string;
  content: Buffer;
}

export interface Outgoing {
  from: string;
  to: Mbx[];
  cc: Mbx[];
  bcc: Mbx[];
  subject: string;
  text: string;
  inReplyTo: string;
  references: string;
  attachments: OutgoingFile[];
  /** A forwarded original, attached whole as message/rfc822. */
  forwarded: { filename: string; content: Buffer } | null;
  messageId: string;
  date: Date;
}

/** The longest To, Cc or Bcc field accepted, characters. */
export const MAX_ADDRESS_FIELD = 64 * 1024;

// a dot-atom or quoted local part, and a domain of labels (an IDN is allowed in UTF-8)
const ADDRESS = /^(?:[^\s@"()<>,;:\\[\]]+|"(?:[^"\\\r\n]|\\.)+")@(?:[^\s@"()<>,;:\\[\].]+\.)*[^\s@"()<>,;:\\[\].]+$/u;

/** Parse an address field ("A <a@x>, b@y"); '' gives no addresses. An entry without a valid
 * `local@domain` (or a group) is an error naming it. */
export function parseAddresses(field: string, label: string): { ok: Mbx[] } | { error: string } {
  if (field.length > MAX_ADDRESS_FIELD) return { error: `${label}: the field is too long (at most ${MAX_ADDRESS_FIELD} characters)` };
  if (/[\r\n]/.test(field)) field = field.replace(/[\r\n]+/g, ' ');
  if (field.trim() === '') return { ok: [] };
  const out: Mbx[] = [];
  for (const a of addressparser(field, { flatten: true })) {
    const address = a.address.trim();
    if (!ADDRESS.test(address) || address.length > 254) {
      const shown = (address !== '' ? address : a.name).slice(0, 80);
      return { error: `${label}: "${shown}" is not a valid e-mail address` };
    }
    out.push({ name: a.name.replace(/[\u0000-\u001f\u007f]/g, ' ').trim(), address });
  }
  return { ok: out };
}

/** A new Message-ID on `hostname`: `<random.time@hostname>`. */
export function newMessageId(hostname: string): string {
  const host = /^[A-Za-z0-9.-]+$/.test(hostname) && hostname !== '' ? hostname : 'localhost';
  return `<${randomBytes(12).toString('base64url')}.${Date.now().toString(36)}@${host}>`;
}

const clean = (s: string): string => s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');

/** The message, built once into a MIME tree; `build(keepBcc)` writes its bytes. */
export function composeMessage(o: Outgoing): { build(keepBcc: boolean): Promise<Buffer> } {
  const text = clean(o.text).replace(/\r\n?/g, '\n');
  const attachments: Array<{ filename: string; contentType: string; content: Buffer; contentDisposition: string }> = o.attachments.map((a) => ({
    filename: clean(a.filename).replace(/[\r\n]/g, ' ').slice(0, 255) || 'attachment',
    contentType: /^[\w.+-]+\/[\w.+-]+$/.test(a.contentType) ? a.contentType : 'application/octet-stream',
    content: a.content,
    contentDisposition: 'attachment',
  }));
  if (o.forwarded !== null) {
    attachments.push({ filename: o.forwarded.filename, contentType: 'message/rfc822', content: o.forwarded.content, contentDisposition: 'attachment' });
  }
  const node = new MailComposer({
    from: o.from,
    to: o.to.length > 0 ? o.to : undefined,
    cc: o.cc.length > 0 ? o.cc : undefined,
    bcc: o.bcc.length > 0 ? o.bcc : undefined,
    subject: clean(o.subject).replace(/[\r\n]+/g, ' '),
    text,
    inReplyTo: o.inReplyTo !== '' ? o.inReplyTo : undefined,
    references: o.references !== '' ? o.references : undefined,
    messageId: o.messageId,
    date: o.date,
    attachments,
    newline: 'windows',
    disableFileAccess: true,
    disableUrlAccess: true,
  }).compile();
  return {
    build(keepBcc: boolean): Promise<Buffer> {
      node.keepBcc = keepBcc;
      return node.build();
    },
  };
}
