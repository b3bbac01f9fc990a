/**
 * webmail/reply.ts: what a reply, a reply-all or a forward takes from the original message,
 * as pure functions of the parsed original (postal-mime's `Email`): the subject with one
 * `Re: ` / `Fwd: ` (never stacked), the recipients (To = Reply-To, else From; reply-all adds
 * the original's other To and Cc, minus the user and duplicates), the threading headers
 * (`In-Reply-To` = the original's Message-ID, `References` = its References + its Message-ID,
 * bounded), and the quoted text (`> ` lines under an "On <date>, <from> wrote:" line).
 *
 *   const d = replyDraft(email, 'replyall', 'me@example.org');
 *   // { to: 'A <a@x>', cc: 'b@y', subject: 'Re: hi', body: '\n\nOn …, A <a@x> wrote:\n> hello', inReplyTo, references }
 *
 * A forward attaches the original whole (message/rfc822, built by compose-mime.ts) and starts
 * the body with a short "Forwarded message" header block, so nothing of it is lost.
 *
 * Exports: `ReplyMode`, `DraftFields`, `replySubject`, `forwardSubject`, `formatAddress`,
 * `addressList`, `replyRecipients`, `threadHeaders`, `quoteText`, `replyDraft`,
 * `MAX_REFERENCES`, `MAX_QUOTED_CHARS`. Throws nothing.
 */
import type { Address, Email } from 'postal-mime';

export type ReplyMode = 'reply' | 'replyall' | 'forward';

/** The compose form's fields as a reply/forward pre-fills them. */
export interface DraftFields {
  to: string;
  cc: string;
  bcc: string;
  subject: string;
  body: string;
  inReplyTo: string;
  references: string;
}

/** Most message ids kept in `References` (the first and the latest ones, RFC 5322 §3.6.4). */
export const MAX_REFERENCES = 20;
/** The original's text quoted into a reply is cut at this many characters. */
export const MAX_QUOTED_CHARS = 200_000;

const RE_PREFIX = /^\s*(?:re|aw|sv|antw)(?:\s*\[\d+\])?\s*:\s*/i;
const FWD_PREFIX = /^\s*(?:fwd?|wg|tr)(?:\s*\[\d+\])?\s*:\s*/i;

function strip(subject: string, prefix: RegExp): string {
  let s = subject.trim();
  for (let i = 0; i < 100; i++) {
    const m = prefix.exec(s);
    if (m === null) break;
    s = s.slice(m[0].length);
  }
  return s;
}

/** "Re: " once: "Re: RE: Re[2]: hi" → "Re: hi". */
export function replySubject(subject: string | undefined): string {
  return `Re: ${strip(subject ?? '', RE_PREFIX)}`;
}

/** "Fwd: " once: "Fwd: FW: hi" → "Fwd: hi" ("Fwd: Re: hi" stays as it is). */
export function forwardSubject(subject: string | undefined): string {
  return `Fwd: ${strip(subject ?? '', FWD_PREFIX)}`;
}

interface Mbx {
  name: string;
  address: string;
}

/** Groups flattened, entries without an address dropped. */
function mailboxes(list: Address[] | Address | undefined): Mbx[] {
  if (list === undefined) return [];
  const out: Mbx[] = [];
  for (const a of Array.isArray(list) ? list : [list]) {
    if (a.group !== undefined) out.push(...a.group.filter((m) => m.address !== ''));
    else if (a.address !== '') out.push({ name: a.name, address: a.address });
  }
  return out;
}

/** `Name <a@b>` (the name quoted when it needs to be), or the bare address. */
export function formatAddress(m: Mbx): string {
  const name = m.name.replace(/[\r\n]+/g, ' ').trim();
  if (name === '' || name === m.address) return m.address;
  const quoted = /^[\w !#$%&'*+\-/=?^`{|}~.]+$/.test(name) ? name : `"${name.replace(/(["\\])/g, '\\$1')}"`;
  return `${quoted} <${m.address}>`;
}

/** The header field's addresses as the form shows them: "A <a@x>, b@y". */
export function addressList(list: Address[] | Address | undefined): string {
  return mailboxes(list).map(formatAddress).join(', ');
}

/** To and Cc of a reply (`user`, the replying account, is never among them). */
export function replyRecipients(email: Email, mode: 'reply' | 'replyall', user: string): { to: string; cc: string } {
  const seen = new Set<string>([user.toLowerCase()]);
  const take = (list: Mbx[]): Mbx[] => list.filter((m) => {
    const k = m.address.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const replyTo = mailboxes(email.replyTo);
  let to = take(replyTo.length > 0 ? replyTo : mailboxes(email.from));
  let cc: Mbx[] = [];
  if (mode === 'replyall') {
    const others = take([...mailboxes(email.to), ...mailboxes(email.cc)]);
    if (to.length === 0) to = others; // replying to one's own message: its recipients
    else cc = others;
  } else if (to.length === 0) {
    // the user's own message (From = user): reply to its recipients
    to = take(mailboxes(email.to));
  }
  return { to: to.map(formatAddress).join(', '), cc: cc.map(formatAddress).join(', ') };
}

const MSGID = /<[^<>\s]+>/g;

/** In-Reply-To and References for a reply to a message with these headers ('' when it had no
 * Message-ID: then nothing can point at it, and References stays the original's). */
export function threadHeaders(messageId: string | undefined, references: string | undefined): { inReplyTo: string; references: string } {
  const id = (messageId ?? '').match(MSGID)?.[0] ?? '';
  const refs: string[] = [...((references ?? '').match(MSGID) ?? [])];
  if (id !== '' && !refs.includes(id)) refs.push(id);
  // keep the thread's root and the latest ones
  const kept = refs.length > MAX_REFERENCES ? [refs[0]!, ...refs.slice(refs.length - MAX_REFERENCES + 1)] : refs;
  return { inReplyTo: id, references: kept.join(' ') };
}

/** "Tue, 01 Jul 2025 10:52" in UTC; the raw value when it is not a date. */
function shownDate(date: string | undefined): string {
  if (date === undefined || date === '') return 'an unknown date';
  const t = Date.parse(date);
  if (Number.isNaN(t)) return date.slice(0, 100);
  return new Date(t).toUTCString().replace(/:\d\d GMT$/, ' UTC');
}

/** The original's text as a reply quotes it: the "wrote:" line, then each line under `> `
 * (a line already quoted gets one more `>`), cut at MAX_QUOTED_CHARS. */
export function quoteText(text: string, date: string | undefined, from: string): string {
  let t = text.replace(/\r\n?/g, '\n').replace(/\n+$/, '');
  let cut = false;
  if (t.length > MAX_QUOTED_CHARS) {
    t = t.slice(0, MAX_QUOTED_CHARS);
    cut = true;
  }
  const lines = t.split('\n').map((l) => (l.startsWith('>') ? `>${l}` : l === '' ? '>' : `> ${l}`));
  if (cut) lines.push('> [...]');
  return `On ${shownDate(date)}, ${from === '' ? 'someone' : from} wrote:\n${lines.join('\n')}\n`;
}

/** The text of an HTML-only original, roughly: tags dropped, entities of the common kind decoded. */
function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<br\s*\/?>|<\/(p|div|li|tr|h\d)\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')
    .replace(/\n{3,}/g, '\n\n');
}

/** The body text of the original, for quoting. */
export function originalText(email: Email): string {
  return email.text ?? (email.html !== undefined ? htmlToText(email.html) : '');
}

/** The compose form pre-filled for a reply, reply-all or forward of `email`. */
export function replyDraft(email: Email, mode: ReplyMode, user: string): DraftFields {
  const from = addressList(email.from);
  if (mode === 'forward') {
    const head = [
      '---------- Forwarded message ----------',
      `From: ${from}`,
      `Date: ${shownDate(email.date)}`,
      `Subject: ${email.subject ?? ''}`,
      `To: ${addressList(email.to)}`,
    ];
    const cc = addressList(email.cc);
    if (cc !== '') head.push(`Cc: ${cc}`);
    head.push('(the original message is attached)');
    return { to: '', cc: '', bcc: '', subject: forwardSubject(email.subject), body: `\n\n${head.join('\n')}\n`, inReplyTo: '', references: '' };
  }
  const { to, cc } = replyRecipients(email, mode, user);
  const { inReplyTo, references } = threadHeaders(email.messageId, email.references);
  return { to, cc, bcc: '', subject: replySubject(email.subject), body: `\n\n${quoteText(originalText(email), email.date, from)}`, inReplyTo, references };
}
