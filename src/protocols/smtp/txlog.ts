/**
 * protocols/smtp/txlog.ts: what an operator sees of SMTP transactions: one info line per
 * transaction (client IP, HELO name, authenticated user, envelope sender, each recipient with
 * its result, size, queue id, and the outcome: queued, refused with its reason, or abandoned
 * by RSET, EHLO/HELO, STARTTLS, QUIT or a closed connection: `dropTx`), and a count per refusal reason (`refused.<stage>.<reason>`,
 * summed by the service host for /status and /metrics as postern_smtp_refused_total).
 *
 * Exports: `SmtpRefusal`, `refuse(s, stage, reason)`, `refuseRcpt(s, tx, to, reason)`,
 * `logTx(s, tx, outcome)`, `dropTx(s)`, `countQueued(s, tx, size)`. Throws nothing.
 */
import type { Session, Tx } from './state.ts';

/** Why SMTP said no, as counted and logged (stable names: they are metric labels). */
export type SmtpRefusal =
  | 'unknown_user' | 'bad_address' | 'relay_denied' | 'too_many_rcpts' | 'lookup_failed' | 'no_store'
  | 'size' | 'bare_lf' | 'bare_cr' | 'too_many_hops' | 'queue_unavailable' | 'queue_full' | 'no_space' | 'queue_refused' | 'queue_error'
  | 'dmarc_reject' | 'map_unavailable';

/** Count one refusal at `stage` (mail, rcpt, data). */
export function refuse(s: Session, stage: 'mail' | 'rcpt' | 'data', reason: SmtpRefusal): void {
  s.ctx.count(`refused.${stage}.${reason}`);
}

/** A recipient refused: counted, and remembered for the transaction's log line. */
export function refuseRcpt(s: Session, tx: Tx, to: string, reason: SmtpRefusal): void {
  refuse(s, 'rcpt', reason);
  s.ctx.count('SMTP_InboundMessageTOcommandsRejected');
  if (tx.refused.length < 100) tx.refused.push({ to: to.slice(0, 256), reason });
}

export type TxOutcome =
  | { result: 'queued'; queueId: string; size: number }
  | { result: 'refused'; reason: SmtpRefusal; size: number | null }
  | { result: 'abandoned' };

/** The transaction's one info line (built plainly: it is written for every message). */
export function logTx(s: Session, tx: Tx, o: TxOutcome): void {
  if (!s.ctx.log.isLevelEnabled('info')) return; // (nothing built for a line not written)
  const d = s.data;
  const accepted = o.result === 'queued' ? null : 'accepted';
  const rcpts: Array<{ to: string; result: string; reason?: string }> = [];
  for (const r of tx.rcpts) rcpts.push({ to: r.to, result: accepted ?? (r.account === null ? 'queued_relay' : 'queued') });
  for (const r of tx.refused) rcpts.push({ to: r.to, result: 'refused', reason: r.reason });
  const line: Record<string, unknown> = { client: s.ctx.remoteAddress, helo: d.helo, user: d.auth, tls: s.secure, from: tx.from, rcpts, result: o.result };
  if (o.result === 'queued') {
    line.queueId = o.queueId;
    line.size = o.size;
  } else if (o.result === 'refused') {
    line.reason = o.reason;
    line.size = o.size;
  }
  s.ctx.log.info(line, o.result === 'queued' ? 'smtp: message queued' : o.result === 'refused' ? 'smtp: message refused' : 'smtp: message abandoned');
}

/** The Report service's counters of an accepted message (service/report.ts): the server's
 * once, and per local recipient's account (DomainEnable / DomainObjectEnable); `size`: the
 * bytes the client sent (DATA's text, dot-unstuffed, or BDAT's chunks). */
export function countQueued(s: Session, tx: Tx, size: number): void {
  const accounts: string[] = [];
  for (const r of tx.rcpts) if (r.account !== null) accounts.push(r.account);
  s.ctx.count('SMTP_InboundMessage', 1, accounts);
  s.ctx.count('SMTP_InboundMessageBytes', size, accounts);
}

/** The session leaves its transaction (RSET, EHLO/HELO, STARTTLS, QUIT, a closed connection):
 * logged as abandoned if there is one, then cleared. */
export function dropTx(s: Session): void {
  const tx = s.data.tx;
  if (tx === null) return;
  s.data.tx = null;
  logTx(s, tx, { result: 'abandoned' });
}
