/**
 * protocols/pop3/session.ts: the types one POP3 session shares between its command modules,
 * and the protocol's words for what the dispatcher itself says.
 *
 * States (RFC 1939): 'authorization' → (USER/PASS, AUTH) → 'transaction' → QUIT (the UPDATE
 * state is the QUIT handler itself: expunge, release, close).
 *
 * Exports: `Pop3State`, `Pop3Data`, `Pop3Session`, `Pop3Row`, `REPLIES`, `AUTH_STATES`,
 * `TRANSACTION`, `BOTH`. Throws nothing.
 */
import type { CommandRow, LineSession, ProtocolReplies } from '../../session/line-session.ts';
import type { Maildrop } from './maildrop.ts';
import type { Pop3Options } from './options.ts';

export type Pop3State = 'authorization' | 'transaction';

export interface Pop3Data {
  readonly opts: Pop3Options;
  /** The name given by USER, waiting for PASS. */
  user: string | null;
  /** The account logged in to. */
  account: string | null;
  drop: Maildrop | null;
  /** The socket has closed: whatever resolves later must be released at once. */
  closed: boolean;
}

export type Pop3Session = LineSession<Pop3State, Pop3Data>;
export type Pop3Row = CommandRow<Pop3State, Pop3Data>;

export const AUTH_STATES: readonly Pop3State[] = Object.freeze(['authorization']);
export const TRANSACTION: readonly Pop3State[] = Object.freeze(['transaction']);
export const BOTH: readonly Pop3State[] = Object.freeze(['authorization', 'transaction']);

/** What the dispatcher says; `greeting` is built per session from greetingsText. */
export const REPLIES: Omit<ProtocolReplies, 'greeting'> = Object.freeze({
  unknownCommand: () => '-ERR unknown command\r\n',
  wrongState: () => '-ERR command not valid in this state\r\n',
  lineTooLong: (n: number) => `-ERR line too long (at most ${n} octets)\r\n`,
  tooManyErrors: () => '-ERR too many errors, closing the connection\r\n',
  tooManyAuthErrors: () => '-ERR [AUTH] too many authentication failures, closing the connection\r\n',
  internalError: () => '-ERR [SYS/TEMP] internal error, try again later\r\n',
  idleTimeout: () => '-ERR idle timeout, closing the connection\r\n',
  shutdown: () => '-ERR [SYS/TEMP] server shutting down\r\n',
});
