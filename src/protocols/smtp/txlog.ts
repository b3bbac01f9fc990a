/**
 * protocols/smtp/txlog.ts: what an operator sees of SMTP transactions: one info line per
 * transaction (client IP, HELO name, authenticated user, envelope sender, each recipient with
 * its result, size, queue id, and the outcome: queued, refused with its reason, or abandoned
 * by RSET/QUIT/a closed connection), and a count per refusal reason (`refused.<stage>.<reason>`,
 * summed by the service host for /status and /metrics as postern_smtp_refused_total).
 *
 * Exports: `SmtpRefusal`, `refuse(s, stage, reason)`, `refuseRcpt(s, tx, to, reason)`,
 * `logTx(s, tx, outcome)`. Throws nothing.
 */
import type { Session, Tx } from './state.ts';

/** Why SMTP said no, as counted and logged (stable names: they are metric labels). */
export type SmtpRefusal =
  | 'unknown_user' | 'bad_address' | 'relay_denied' | 'too_many_rcpts' | 'lookup_failed' | 'no_store'
  | 'size' | 'bare_lf' | 'bare_cr' | 'too_many_hops' | 'queue_unavailable' | 'queue_full' | 'no_space' | 'queue_refused' | 'queue_error';

/** Count one refusal at `stage` (mail, rcpt, data). */
export function refuse(s: Session, stage: 'mail' | 'rcpt' | 'data', reason: SmtpRefusal): void {
  s.ctx.count(`refused.${stage}.${reason}`);
}

/** A recipient refused: counted, and remembered for the transaction's log line. */
export function refuseRcpt(s: Session, tx: Tx, to: string, reason: SmtpRefusal): void {
  refuse(s, 'rcpt', reason);
  if (tx.refused.length < 100) tx.refused.push({ to: to.slice(0, 256), reason });
}

export type TxOutcome =
  | { result: 'queued'; queueId: string; size: number }
  | { result: 'refused'; reason: SmtpRefusal; size: number | null }
  | { result: 'abandoned' };

/** The transaction's one info line. */
export function logTx(s: Session, tx: Tx, o: TxOutcome): void {
  const d = s.data;
  const rcpts = [
    ...tx.rcpts.map((r) => ({ to: r.to, result: o.result === 'queued' ? (r.account === null ? 'queued_relay' : 'queued') : 'accepted' })),
    ...tx.refused.map((r) => ({ to: r.to, result: 'refused', reason: r.reason })),
  ];
  s.ctx.log.info({
    client: s.ctx.remoteAddress, helo: d.helo, user: d.auth, tls: s.secure, from: tx.from, rcpts,
    result: o.result,
    ...(o.result === 'queued' ? { queueId: o.queueId, size: o.size } : {}),
    ...(o.result === 'refused' ? { reason: o.reason, size: o.size } : {}),
  }, `smtp: message ${o.result}`);
}
