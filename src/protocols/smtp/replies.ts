/**
 * protocols/smtp/replies.ts: what the SMTP server says, in one place: the dispatcher's own
 * replies (`ProtocolReplies`), the refusal before a session, multi-line replies, and the
 * mapping of store error kinds to SMTP replies (RFC 5321 codes with RFC 3463 enhanced codes).
 *
 * Exports: `smtpReplies(o)`, `refusalText(reason, host)`, `multiline(code, lines)`,
 * `storeErrorReply(e)`. Throws nothing.
 */
import { isPosternError } from '../../errors.ts';
import type { ProtocolReplies } from '../../session/line-session.ts';
import type { RefusalReason } from '../../service/protocol.ts';
import type { SmtpOptions } from './options.ts';

const cache = new WeakMap<SmtpOptions, ProtocolReplies>();

export function smtpReplies(o: SmtpOptions): ProtocolReplies {
  let r = cache.get(o);
  if (r === undefined) {
    const h = o.hostname;
    r = Object.freeze({
      greeting: () => o.greeting,
      unknownCommand: () => '500 5.5.2 Error: command not recognized\r\n',
      wrongState: (verb: string) => `503 5.5.1 Error: bad sequence of commands (${verb.replace(/[^A-Z]/g, '').slice(0, 16)})\r\n`,
      lineTooLong: (n: number) => `500 5.5.2 Error: line too long (the limit is ${n} bytes)\r\n`,
      tooManyErrors: () => `421 4.7.0 ${h} Error: too many errors; closing the connection\r\n`,
      tooManyAuthErrors: () => `421 4.7.0 ${h} Error: too many failed authentications; closing the connection\r\n`,
      internalError: () => '451 4.3.0 Error: internal error; try again later\r\n',
      idleTimeout: () => `421 4.4.2 ${h} Error: timeout exceeded; closing the connection\r\n`,
      commandTimeout: () => `421 4.4.2 ${h} Error: command line not completed in time; closing the connection\r\n`,
      slowData: () => `421 4.4.2 ${h} Error: message data too slow; closing the connection\r\n`,
      shutdown: () => `421 4.3.2 ${h} Service shutting down; closing the connection\r\n`,
    });
    cache.set(o, r);
  }
  return r;
}

/** `host`: the server's name (the Server-level `hostname`). */
export function refusalText(reason: RefusalReason, host: string): string {
  const h = host;
  switch (reason) {
    case 'deny_rule':
      return `554 5.7.1 ${h} Access denied\r\n`;
    case 'shutting_down':
      return `421 4.3.2 ${h} Service shutting down\r\n`;
    case 'auth_ban':
      return `421 4.7.0 ${h} Too many failed logins from your address (auth_ban); try again later\r\n`;
    default:
      return `421 4.7.0 ${h} Too many connections (${reason}); try again later\r\n`;
  }
}

/** `250-a\r\n250-b\r\n250 c\r\n` */
export function multiline(code: number, lines: readonly string[]): string {
  let out = '';
  for (let i = 0; i < lines.length; i++) out += `${code}${i === lines.length - 1 ? ' ' : '-'}${lines[i]}\r\n`;
  return out;
}

/** A store or queue failure while accepting a message, as the client should hear it. */
export function storeErrorReply(e: unknown): string {
  const code = isPosternError(e) ? e.code : 'INTERNAL';
  switch (code) {
    case 'QUEUE_FULL':
    case 'STORE_NO_SPACE':
      return '452 4.3.1 Insufficient system storage; try again later\r\n';
    case 'STORE_BAD_ARGUMENT':
      return '552 5.3.4 Message refused by the queue\r\n';
    default:
      return '451 4.3.0 Error: queue file write error; try again later\r\n';
  }
}
