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
import type { CommandRow, LineSession } from '../../session/line-session.ts';
import type { Maildrop } from './maildrop.ts';
import type { Pop3Options } from './options.ts';
import { POP3_REPLIES } from '../../session/protocol-words.ts';

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

/** What the dispatcher says (shared with the POP3 proxy). */
export const REPLIES = POP3_REPLIES;
