/**
 * protocols/smtp/index.ts: the smtpIncoming protocol module (a `ProtocolModule`, run in the
 * service's connection threads): one LineSession per connection with the SMTP command table
 * (commands.ts), the service's options (options.ts) and its replies (replies.ts). Accepted
 * messages go to the store thread's durable queue through the thread's StoreClient.
 *
 * Exports: `refusal(reason)`, `startSession(socket, ctx)`. Throws nothing.
 */
import type { Socket } from 'node:net';
import { LineSession } from '../../session/line-session.ts';
import { QueueClient } from '../../store/queue-client.ts';
import { BARRIER_VERBS, COMMANDS } from './commands.ts';
import { smtpOptions } from './options.ts';
import { refusalText, smtpReplies } from './replies.ts';
import { dropTx } from './txlog.ts';
import type { RefusalReason, SessionContext, SessionHandle } from '../../service/protocol.ts';
import type { ServiceOptions } from '../../config/options.ts';
import type { D, S } from './state.ts';

export function refusal(reason: RefusalReason, service?: ServiceOptions): string {
  return refusalText(reason, service?.hostname ?? 'localhost');
}

export function startSession(socket: Socket, ctx: SessionContext): SessionHandle {
  const { o, tls } = smtpOptions(ctx.service, ctx.listener);
  const data: D = { o, tlsAvailable: tls, queue: ctx.store === null ? null : new QueueClient(ctx.store), helo: null, esmtp: false, auth: null, tx: null };
  // a transaction the client leaves (QUIT, a closed connection) is logged as abandoned
  socket.once('close', () => dropTx(session));
  // replies are written whole (a pipelined group's in one write): Nagle would only hold back
  // the reply after a client's small write, for its delayed ACK
  socket.setNoDelay(true);
  const session = new LineSession<S, D>({
    socket,
    ctx,
    table: COMMANDS,
    initialState: 'fresh',
    replies: smtpReplies(o),
    data,
    maxLineLength: o.maxLineLength,
    highWater: 64,
    batchReplies: true,
    barrier: (verb) => BARRIER_VERBS.has(verb),
    busy: (s) => s.state === 'bdat', // between BDAT chunks: a shutdown lets the LAST one come
  });
  return session;
}
