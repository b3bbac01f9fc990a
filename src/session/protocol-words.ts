/**
 * session/protocol-words.ts: the fixed words of POP3 and IMAP that a service and its cluster
 * proxy both say (protocols do not import each other): the refusal of a connection before its
 * session starts, and POP3's dispatcher replies.
 *
 * Exports: `pop3Refusal(reason)`, `POP3_REPLIES`, `imapRefusal(reason)`. Throws nothing.
 */
import type { RefusalReason } from '../service/protocol.ts';
import type { ProtocolReplies } from './line-session.ts';

/** POP3's refusal (RFC 3206 response codes). */
export function pop3Refusal(reason: RefusalReason): string {
  switch (reason) {
    case 'deny_rule':
      return '-ERR [SYS/PERM] access denied\r\n';
    case 'shutting_down':
      return '-ERR [SYS/TEMP] server shutting down, try again later\r\n';
    case 'auth_ban':
      return '-ERR [SYS/TEMP] too many failed logins from your address, try again later\r\n';
    default:
      return '-ERR [SYS/TEMP] too many connections, try again later\r\n';
  }
}

/** What POP3's dispatcher says; `greeting` is built per session from greetingsText. */
export const POP3_REPLIES: Omit<ProtocolReplies, 'greeting'> = Object.freeze({
  unknownCommand: () => '-ERR unknown command\r\n',
  wrongState: () => '-ERR command not valid in this state\r\n',
  lineTooLong: (n: number) => `-ERR line too long (at most ${n} octets)\r\n`,
  tooManyErrors: () => '-ERR too many errors, closing the connection\r\n',
  tooManyAuthErrors: () => '-ERR [AUTH] too many authentication failures, closing the connection\r\n',
  internalError: () => '-ERR [SYS/TEMP] internal error, try again later\r\n',
  idleTimeout: () => '-ERR idle timeout, closing the connection\r\n',
  shutdown: () => '-ERR [SYS/TEMP] server shutting down\r\n',
});

/** IMAP's refusal: an untagged BYE (RFC 9051 §7.1.5). */
export function imapRefusal(reason: RefusalReason): string {
  switch (reason) {
    case 'deny_rule':
      return '* BYE access denied\r\n';
    case 'shutting_down':
      return '* BYE [UNAVAILABLE] server shutting down, try again later\r\n';
    case 'auth_ban':
      return '* BYE [UNAVAILABLE] too many failed logins from your address, try again later\r\n';
    default:
      return '* BYE [UNAVAILABLE] too many connections, try again later\r\n';
  }
}
