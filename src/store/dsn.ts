/**
 * store/dsn.ts: delivery status notifications (RFC 3461 parameters, RFC 3464 reports), shared
 * by smtpIncoming (parsing NOTIFY/RET/ENVID/ORCPT), the store's local delivery step
 * (store/queue-deliver.ts: local failures, delay notices, local success) and smtpOutgoing
 * (remote failures). Pure functions: no I/O.
 *
 *   buildDsn({ kind, reportingMta, arrivalDate, envelope, original, recipients, willRetryUntil })
 *     → { from: '', to: <the original sender>, body } or null when no DSN is due
 *
 * The report is `multipart/report; report-type=delivery-status` (RFC 6522): a human-readable
 * text/plain part, the `message/delivery-status` part (per-message and per-recipient fields,
 * RFC 3464 §2.2–2.3), and what is returned of the original message:
 *  - failure: RET=HDRS → its header only (`text/rfc822-headers`); RET=FULL or no RET → the
 *    whole message (`message/rfc822`) when it is at most `maxReturnBytes` (default 256 KiB,
 *    processing's `maxBounceReturnSize`), else its header only (RFC 3461 §4.3 leaves the
 *    default to the MTA);
 *  - delay and success: the header only (the message is still on its way, or has arrived).
 * The report is From `MAILER-DAEMON@<reportingMta>`, `Auto-Submitted: auto-replied`, with a
 * fresh Message-ID, and is sent with the null reverse-path (`from: ''`).
 *
 * Who gets one (`wantsDsn`): NOTIFY=NEVER → none; no NOTIFY → FAILURE and DELAY (the contract,
 * store/queue-record.ts `DsnRcpt`); SUCCESS and DELAY only when asked; never for a message
 * whose envelope sender is '' (a bounce is never bounced). Success DSNs are sent for local
 * delivery only: relayed mail's success DSNs (RFC 3461 §5.2.2 "relayed") are not required.
 *
 * Exports: `buildDsn`, `DsnInput`, `DsnRecipient`, `DsnMessage`, `DsnKind`, `wantsDsn`,
 * `xtextDecode`, `xtextEncode`, `isXtext`, `DSN_MAX_RETURN_BYTES`, `DSN_ENVID_MAX`,
 * `DSN_ORCPT_MAX`, `dsnEnvelope`. Throws nothing.
 */
import { randomBytes } from 'node:crypto';
import type { DsnRcpt, QueueEnvelope } from './queue-record.ts';

export type DsnKind = 'failure' | 'delay' | 'success';

/** The whole original message is returned up to this size (else only its header). */
export const DSN_MAX_RETURN_BYTES = 256 * 1024;
/** RFC 3461 §4.4: ENVID at most 100 characters; §4.2: ORCPT at most 500. */
export const DSN_ENVID_MAX = 100;
export const DSN_ORCPT_MAX = 500;

export interface DsnRecipient {
  to: string;
  /** ORCPT as given at RCPT (`rfc822;user@example.com`), or null. */
  orcpt: string | null;
  action: 'failed' | 'delayed' | 'delivered';
  /** Enhanced status code, e.g. "5.1.1". */
  status: string;
  /** The remote MTA (a host name), if one answered. */
  remoteMta?: string;
  /** The reply or our reason, one line (`550 5.1.1 no such user`). */
  diagnostic?: string;
  lastAttempt?: number; // ms
}

export interface DsnInput {
  kind: DsnKind;
  /** This server's host name. */
  reportingMta: string;
  arrivalDate: number; // ms
  envelope: Pick<QueueEnvelope, 'from' | 'dsn'>;
  original: Buffer;
  recipients: DsnRecipient[];
  /** Delay notices: when we give up (ms). */
  willRetryUntil?: number;
  /** The whole original is returned up to this many bytes (default DSN_MAX_RETURN_BYTES). */
  maxReturnBytes?: number;
  now?: number; // ms, for tests
}

export interface DsnMessage {
  from: '';
  to: string;
  body: Buffer;
}

/** Does this recipient want a DSN of this kind? (never for the null sender's mail) */
export function wantsDsn(envFrom: string, dsn: DsnRcpt | undefined, kind: DsnKind): boolean {
  if (envFrom === '') return false;
  const notify = dsn?.notify ?? null;
  if (notify === null) return kind !== 'success';
  if (notify.includes('NEVER')) return false;
  return notify.includes(kind.toUpperCase());
}

/** RFC 3461 §4: xtext = *( xchar / hexchar ), xchar "!".."~" but "+" and "=", hexchar "+HH". */
export function isXtext(s: string): boolean {
  return /^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$/.test(s);
}

export function xtextDecode(s: string): string {
  return s.replace(/\+([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

export function xtextEncode(s: string): string {
  let out = '';
  for (const ch of Buffer.from(s, 'utf8')) {
    out += ch >= 0x21 && ch <= 0x7e && ch !== 0x2b && ch !== 0x3d ? String.fromCharCode(ch) : `+${ch.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** RFC 5322 date-time in UTC. */
function date(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, '+0000');
}

/** One header-safe line: no CR/LF, no other controls, bounded. */
function line(s: string, max = 900): string {
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, max);
}

/** The original's header block (up to the first empty line), CRLF line ends. */
function headerOf(b: Buffer): Buffer {
  let end = b.indexOf('\r\n\r\n');
  if (end >= 0) return b.subarray(0, end + 2);
  end = b.indexOf('\n\n');
  return end >= 0 ? b.subarray(0, end + 1) : b;
}

/** ORCPT as `addr-type; xtext-decoded address` (RFC 3464 §2.3.1), or null when unusable. */
function originalRecipient(orcpt: string | null): string | null {
  if (orcpt === null) return null;
  const semi = orcpt.indexOf(';');
  if (semi <= 0) return null;
  return `${orcpt.slice(0, semi)}; ${line(xtextDecode(orcpt.slice(semi + 1)), 500)}`;
}

const WHAT: Record<DsnKind, { subject: string; text: (n: number) => string }> = {
  failure: { subject: 'Undelivered Mail Returned to Sender', text: (n) => `Your message could not be delivered to ${n === 1 ? 'one recipient' : `${n} recipients`}. This is permanent: it will not be tried again.` },
  delay: { subject: 'Delayed Mail (still being retried)', text: (n) => `Your message has not yet been delivered to ${n === 1 ? 'one recipient' : `${n} recipients`}. Delivery will be tried again; you need not send it again.` },
  success: { subject: 'Successful Mail Delivery Report', text: (n) => `Your message was delivered to ${n === 1 ? 'its recipient' : `${n} recipients`}.` },
};

/** The report for `recipients`, or null when no DSN is due (null sender, nobody). */
export function buildDsn(d: DsnInput): DsnMessage | null {
  if (d.envelope.from === '' || d.recipients.length === 0) return null;
  const now = d.now ?? Date.now();
  const host = line(d.reportingMta, 255);
  const boundary = `=_dsn_${randomBytes(12).toString('hex')}`;
  const envid = d.envelope.dsn?.envid ?? null;
  const ret = d.envelope.dsn?.ret ?? null;
  const maxFull = d.maxReturnBytes ?? DSN_MAX_RETURN_BYTES;
  const full = d.kind === 'failure' && ret !== 'HDRS' && d.original.length <= maxFull;

  const human = [WHAT[d.kind].text(d.recipients.length), ''];
  for (const r of d.recipients) human.push(`  <${line(r.to, 500)}>: ${line(r.diagnostic ?? r.status, 500)}`);
  if (d.kind === 'delay' && d.willRetryUntil !== undefined) human.push('', `Delivery will be tried until ${date(d.willRetryUntil)}.`);
  human.push('', full ? 'The message is attached.' : "The message's header is attached.", '', `-- The mail system at ${host}`);

  const perMessage = [`Reporting-MTA: dns; ${host}`];
  if (envid !== null) perMessage.push(`Original-Envelope-Id: ${line(envid, 100)}`);
  perMessage.push(`Arrival-Date: ${date(d.arrivalDate)}`);
  const status = [perMessage.join('\r\n')];
  for (const r of d.recipients) {
    const f: string[] = [];
    const orcpt = originalRecipient(r.orcpt);
    if (orcpt !== null) f.push(`Original-Recipient: ${orcpt}`);
    f.push(`Final-Recipient: rfc822; ${line(r.to, 500)}`, `Action: ${r.action}`, `Status: ${/^[245]\.\d{1,3}\.\d{1,3}$/.test(r.status) ? r.status : r.action === 'delivered' ? '2.0.0' : r.action === 'delayed' ? '4.0.0' : '5.0.0'}`);
    if (r.remoteMta !== undefined) f.push(`Remote-MTA: dns; ${line(r.remoteMta, 255)}`);
    if (r.diagnostic !== undefined) f.push(`Diagnostic-Code: smtp; ${line(r.diagnostic)}`);
    f.push(`Last-Attempt-Date: ${date(r.lastAttempt ?? now)}`);
    if (d.kind === 'delay' && d.willRetryUntil !== undefined) f.push(`Will-Retry-Until: ${date(d.willRetryUntil)}`);
    status.push(f.join('\r\n'));
  }

  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${host}>`,
    `To: <${line(d.envelope.from, 500)}>`,
    `Subject: ${WHAT[d.kind].subject}`,
    `Date: ${date(now)}`,
    `Message-ID: <${now.toString(36)}.${randomBytes(8).toString('hex')}@${host}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Description: Notification',
    'Content-Transfer-Encoding: 8bit',
    '',
    human.join('\r\n'),
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    'Content-Description: Delivery report',
    '',
    status.join('\r\n\r\n'),
    '',
    `--${boundary}`,
    full ? 'Content-Type: message/rfc822' : 'Content-Type: text/rfc822-headers',
    full ? 'Content-Description: Undelivered Message' : 'Content-Description: Message header',
    '',
    '',
  ].join('\r\n');
  let returned = full ? d.original : headerOf(d.original);
  if (returned.length > 0 && returned[returned.length - 1] !== 0x0a) returned = Buffer.concat([returned, Buffer.from('\r\n')]);
  const body = Buffer.concat([Buffer.from(head, 'utf8'), returned, Buffer.from(`\r\n--${boundary}--\r\n`)]);
  return { from: '', to: d.envelope.from, body };
}

/** The queue envelope of a DSN to `to` (`account`: its local mailbox, null for a remote sender,
 * whose DSN is relayed), from the null sender, made by this server (`by`) at `now`. */
export function dsnEnvelope(to: string, account: string | null, by: string, now: number): QueueEnvelope {
  return { from: '', rcpts: [{ to, account }], receivedAt: now, helo: by, ip: '127.0.0.1', by, with: 'LOCAL', tls: null, auth: null, body: '8BITMIME', utf8: false };
}
