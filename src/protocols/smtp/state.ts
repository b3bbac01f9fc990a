/**
 * protocols/smtp/state.ts: an SMTP session's state. The protocol state is one of
 *   fresh  (greeted, no EHLO/HELO yet; also right after STARTTLS)
 *   ready  (EHLO/HELO done, no mail transaction)
 *   mail   (MAIL accepted, no recipient yet)
 *   rcpt   (at least one recipient accepted)
 *   bdat   (BDAT chunks under way: only BDAT, RSET, NOOP, QUIT … until the LAST chunk)
 * and the rest lives in `D`: the HELO name, the authenticated account, the transaction.
 *
 * Exports: `S`, `D`, `Tx`, `Session`, `newTx`, `withType`, `tlsDescription`. Throws nothing.
 */
import type { TLSSocket } from 'node:tls';
import type { LineSession } from '../../session/line-session.ts';
import type { QueueClient, QueueRcpt } from '../../store/queue-client.ts';
import type { DsnEnvelope } from '../../store/queue-record.ts';
import type { ChunkCollector } from './data.ts';
import type { SmtpOptions } from './options.ts';

export type S = 'fresh' | 'ready' | 'mail' | 'rcpt' | 'bdat';

export interface Tx {
  from: string;
  body: '7BIT' | '8BITMIME' | 'BINARYMIME';
  utf8: boolean;
  rcpts: QueueRcpt[];
  /** Mailboxes already among the recipients (two addresses of one mailbox: one copy). */
  mailboxes: Set<string>;
  chunks: ChunkCollector | null; // BDAT
  /** Recipients refused, with why (for the transaction's log line, txlog.ts). */
  refused: Array<{ to: string; reason: string }>;
  /** RFC 3461 RET/ENVID given at MAIL. */
  dsn?: DsnEnvelope;
}

export interface D {
  readonly o: SmtpOptions;
  /** STARTTLS can be offered on this listener. */
  readonly tlsAvailable: boolean;
  readonly queue: QueueClient | null;
  helo: string | null;
  esmtp: boolean;
  auth: string | null; // the authenticated account's address
  tx: Tx | null;
}

export type Session = LineSession<S, D>;

export function newTx(from: string, body: Tx['body'], utf8: boolean): Tx {
  return { from, body, utf8, rcpts: [], mailboxes: new Set(), chunks: null, refused: [] };
}

/** The `with` protocol of the Received: field (RFC 3848; RFC 6531 for SMTPUTF8). */
export function withType(esmtp: boolean, secure: boolean, authed: boolean, utf8: boolean): string {
  if (!esmtp) return 'SMTP';
  return `${utf8 ? 'UTF8SMTP' : 'ESMTP'}${secure ? 'S' : ''}${authed ? 'A' : ''}`;
}

/** "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384", or null on a plain connection. */
export function tlsDescription(s: Session): string | null {
  if (!s.secure) return null;
  const t = s.socket as TLSSocket;
  const proto = typeof t.getProtocol === 'function' ? t.getProtocol() : null;
  const cipher = typeof t.getCipher === 'function' ? t.getCipher()?.name : undefined;
  return `${proto ?? 'TLS'}${cipher !== undefined ? ` with cipher ${cipher}` : ''}`;
}
