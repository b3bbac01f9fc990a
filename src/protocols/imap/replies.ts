/**
 * protocols/imap/replies.ts: the IMAP service's words: the tagged replies its command rows
 * return (`ok`, `no`, `bad`, each a verdict; `bad` counts against maxErrors), the store's
 * protocol-neutral failures mapped to IMAP response codes (RFC 5530: `storeFailure`), and what
 * the dispatcher itself says (`sessionReplies`: untagged BYE on idle timeout, shutdown and too
 * many errors; the tagged temporary failure of a command that failed unexpectedly).
 *
 * Exports: `ok`, `no`, `bad`, `storeFailure`, `sessionReplies`, `utf8Names`, `V`, `Cmd`. Throws nothing.
 */
import { isPosternError } from '../../errors.ts';
import { reply, type ProtocolReplies, type Verdict } from '../../session/line-session.ts';
import type { Command, ImapData, ImapSession, ImapState } from './types.ts';

export type V = Verdict<ImapState>;

/** The parsed command of that name (the union member whose names include it). */
export type Cmd<N extends Command['name']> = Command extends infer T ? (T extends { name: infer M } ? (N extends M ? T : never) : never) : never;

/** Mailbox names are UTF-8 on the wire (RFC 6855 UTF8=ACCEPT, or IMAP4rev2 enabled, RFC 9051
 * §5.1), else modified UTF-7. */
export function utf8Names(data: ImapData): boolean {
  return data.enabled.has('UTF8=ACCEPT') || data.enabled.has('IMAP4REV2');
}

/** `tag OK [code] text`; `untagged` (complete lines) written before it. */
export function ok(tag: string, text: string, more: { state?: ImapState; untagged?: string } = {}): V {
  const text2 = `${more.untagged ?? ''}${tag} OK ${text}\r\n`;
  return more.state === undefined ? reply(text2) : reply(text2, { state: more.state });
}

/** `tag NO [code] text`; `error` 'auth' for a failed login (counted against maxAuthErrors). */
export function no(tag: string, text: string, error?: 'auth' | 'command'): V {
  return reply(`${tag} NO ${text}\r\n`, error === undefined ? {} : { error });
}

/** `tag BAD text`, counted against maxErrors (a malformed or misplaced command). */
export function bad(tag: string, text: string): V {
  return reply(`${tag} BAD ${text}\r\n`, { error: 'command' });
}

/** A store failure as the tagged NO (RFC 5530 codes); an unexpected one is logged whole and
 * answered as a server problem. `what`: the operation, for the text and the log. */
export function storeFailure(s: ImapSession, tag: string, e: unknown, what: string): V {
  if (!isPosternError(e)) {
    s.ctx.log.error({ err: e }, `imap: ${what} failed`);
    return no(tag, `[SERVERBUG] ${what} failed, try again later`);
  }
  switch (e.code) {
    case 'STORE_NO_SUCH_FOLDER': return no(tag, '[NONEXISTENT] no such mailbox');
    case 'STORE_FOLDER_EXISTS': return no(tag, '[ALREADYEXISTS] mailbox already exists');
    case 'STORE_BAD_NAME': return no(tag, '[CANNOT] invalid mailbox name');
    case 'STORE_NOT_ALLOWED': return no(tag, `[CANNOT] ${what} not allowed`);
    case 'STORE_QUOTA_EXCEEDED': return no(tag, '[OVERQUOTA] quota exceeded');
    case 'STORE_BAD_ARGUMENT': return no(tag, `[CANNOT] ${what}: invalid argument`);
    case 'STORE_NO_SUCH_MESSAGE': return no(tag, '[EXPUNGEISSUED] some messages were expunged');
    case 'STORE_LOCKED':
    case 'STORE_IN_USE': return no(tag, '[INUSE] mailbox in use, try again later');
    case 'STORE_NO_SPACE':
    case 'STORE_IO':
    case 'STORE_CLOSED': return no(tag, `[UNAVAILABLE] ${what} failed, try again later`);
    default:
      s.ctx.log.error({ err: e }, `imap: ${what} failed`);
      return no(tag, `[SERVERBUG] ${what} failed, try again later`);
  }
}

/** What the dispatcher says; `greeting` is built per session (its capabilities). */
export function sessionReplies(data: ImapData, greeting: () => string, onTooLong: () => void): ProtocolReplies {
  return {
    greeting,
    unknownCommand: () => `${data.tag} BAD unknown command\r\n`,
    wrongState: () => `${data.tag} BAD command not valid in this state\r\n`,
    lineTooLong: (n: number) => {
      onTooLong();
      return `* BAD [TOOBIG] command line too long (at most ${n} octets)\r\n`;
    },
    tooManyErrors: () => '* BYE too many errors, closing the connection\r\n',
    tooManyAuthErrors: () => '* BYE [AUTHENTICATIONFAILED] too many authentication failures, closing the connection\r\n',
    internalError: () => `${data.tag} NO [SERVERBUG] internal error, try again later\r\n`,
    idleTimeout: () => '* BYE autologout; idle for too long\r\n',
    shutdown: () => '* BYE [UNAVAILABLE] server shutting down\r\n',
    commandTimeout: () => '* BYE command not received in time\r\n',
    slowData: () => '* BYE literal data too slow\r\n',
  };
}
