/**
 * protocols/pop3/index.ts: the POP3 service (seed 002; RFC 1939, 2449, 2595, 3206, 5034), as a
 * protocol module the connection threads load (service/protocol.ts).
 *
 * One session per connection on the shared line-session dispatcher: a frozen command table
 * keyed by verb with the states each verb is allowed in (auth.ts: USER PASS AUTH STLS APOP;
 * commands.ts: STAT LIST RETR TOP DELE UIDL NOOP RSET, QUIT and CAPA). Unknown verbs, verbs in
 * the wrong state, over-long lines and -ERR answers to wrong commands count against maxErrors;
 * failed authentications against maxAuthErrors; the Nth closes the session with the
 * protocol's error. Pipelined commands are answered in order; AUTH and STLS are barriers
 * (what follows them is read only once they have switched the input mode).
 *
 * When the socket closes, for whatever reason, the session's snapshot (and maildrop lock) and
 * segment files are released; nothing is expunged unless QUIT ran.
 *
 * Exports: `refusal(reason)`, `startSession(socket, ctx)` (ProtocolModule), `POP3_TABLE`.
 * Throws nothing.
 */
import type { Socket } from 'node:net';
import { LineSession, type ProtocolReplies } from '../../session/line-session.ts';
import type { SessionContext, SessionHandle } from '../../service/protocol.ts';
import { AUTH_ROWS } from './auth.ts';
import { CAPA_ROW, QUIT_ROW, TRANSACTION_ROWS } from './commands.ts';
import { pop3Options } from './options.ts';
import { REPLIES, type Pop3Data, type Pop3Row, type Pop3State } from './session.ts';
import { pop3Refusal } from '../../session/protocol-words.ts';

export const refusal = pop3Refusal;

/** RFC 1939: PASS must follow USER at once; any other command forgets the USER name. */
function forgetsUser(row: Pop3Row): Pop3Row {
  return {
    states: row.states,
    run: (args, s) => {
      s.data.user = null;
      return row.run(args, s);
    },
  };
}

export const POP3_TABLE: ReadonlyMap<string, Pop3Row> = new Map<string, Pop3Row>([
  ...AUTH_ROWS.map(([verb, row]): [string, Pop3Row] => [verb, verb === 'PASS' || verb === 'USER' ? row : forgetsUser(row)]),
  ...TRANSACTION_ROWS.map(([verb, row]): [string, Pop3Row] => [verb, row]),
  ['QUIT', QUIT_ROW],
  ['CAPA', forgetsUser(CAPA_ROW)],
]);
Object.freeze(POP3_TABLE);

const BARRIERS = new Set(['AUTH', 'STLS']);

export function startSession(socket: Socket, ctx: SessionContext): SessionHandle {
  const opts = pop3Options(ctx.service);
  const data: Pop3Data = { opts, user: null, account: null, drop: null, closed: false };
  // every reply is written whole (a batch per tick or pipelined group), so Nagle would only
  // hold back the last segment of a long response until the client's delayed ACK
  socket.setNoDelay(true);
  socket.once('close', () => {
    data.closed = true;
    data.drop?.close();
    data.drop = null;
  });
  const replies: ProtocolReplies = { ...REPLIES, greeting: () => `+OK ${opts.greetingsText}\r\n` };
  return new LineSession<Pop3State, Pop3Data>({
    socket,
    ctx,
    table: POP3_TABLE,
    initialState: 'authorization',
    replies,
    data,
    maxLineLength: ctx.service.session.maxLineLength,
    barrier: (verb) => BARRIERS.has(verb),
    batchReplies: true, // pipelined commands (RFC 2449): their responses leave in one write
  });
}
