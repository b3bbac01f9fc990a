/**
 * protocols/ftp/index.ts: the FTP backup and restore service (`ftpBackup`, seed 003; RFC 959,
 * 2389, 2428, 3659, 4217), as a protocol module for the connection threads.
 *
 * Only the server admin logs in (`admin`, password set with `postern ctl admin passwd`; until
 * one is set every login is refused). After login the client sees the virtual tree of the
 * store (tree.ts) and restores by uploading into it (restore.ts). Commands come from one frozen
 * table (commands-control.ts, commands-files.ts) run by the shared LineSession, which counts
 * wrong commands against maxErrors and failed logins against maxAuthErrors. Data connections
 * (data.ts) belong to their session in this thread. ABOR is seen as its line arrives (Telnet
 * IP/Synch bytes before it are skipped) and stops the running transfer at once.
 *
 * Exports: `refusal(reason)`, `startSession(socket, ctx)` (ProtocolModule), `COMMANDS`.
 * Throws nothing.
 */
import type { Socket } from 'node:net';
import { LineSession, type ProtocolReplies } from '../../session/line-session.ts';
import type { RefusalReason, SessionContext, SessionHandle } from '../../service/protocol.ts';
import { CONTROL_ROWS } from './commands-control.ts';
import { FILE_ROWS } from './commands-files.ts';
import { endSession, newData, type FtpData, type Row, type S } from './session.ts';

export const COMMANDS: ReadonlyMap<string, Row> = Object.freeze(new Map<string, Row>([...CONTROL_ROWS, ...FILE_ROWS]));

const REPLIES: ProtocolReplies = Object.freeze({
  greeting: () => '220 Postern FTP backup service ready.\r\n',
  unknownCommand: () => '500 Unknown command.\r\n',
  wrongState: () => '530 Please login with USER and PASS.\r\n',
  lineTooLong: (n: number) => `500 Command line too long (more than ${n} bytes).\r\n`,
  tooManyErrors: () => '421 Too many errors; closing the control connection.\r\n',
  tooManyAuthErrors: () => '421 Too many failed logins; closing the control connection.\r\n',
  internalError: () => '451 Local error in processing.\r\n',
  idleTimeout: () => '421 Idle timeout; closing the control connection.\r\n',
  commandTimeout: () => '421 Command line not completed in time; closing the control connection.\r\n',
  shutdown: () => '421 Server shutting down; closing the control connection.\r\n',
});

export function refusal(reason: RefusalReason): string {
  if (reason === 'auth_ban') return '421 Too many failed logins from your address; try again later (auth_ban).\r\n';
  return `421 Service not available (${reason}); closing the control connection.\r\n`;
}

/** Telnet IAC sequences (IP, Synch) that clients send before ABOR arrive as bytes ≥ 0xF0,
 * decoded as U+FFFD; they and other leading control bytes are not part of the verb. */
// eslint-disable-next-line no-control-regex
const LEADING_JUNK = /^[\uFFFD\u0000-\u001F\u00F0-\u00FF]+/;

function splitVerb(line: string): [string, string] {
  const c = line.charCodeAt(0);
  // (a line that starts with a letter has no junk to strip: no regex run for it)
  const l = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ? line : line.replace(LEADING_JUNK, '');
  const i = l.indexOf(' ');
  return i < 0 ? [l.toUpperCase(), ''] : [l.slice(0, i).toUpperCase(), l.slice(i + 1)];
}

export function startSession(socket: Socket, ctx: SessionContext): SessionHandle {
  // replies come in pairs (150 … 226) with no client byte between them: without NODELAY the
  // second waits for the client's delayed ACK (~40 ms a file)
  socket.setNoDelay(true);
  const data: FtpData = newData(ctx, socket.localAddress);
  const session = new LineSession<S, FtpData>({
    socket,
    ctx,
    table: COMMANDS,
    initialState: 'login',
    replies: { ...REPLIES, greeting: () => `220 ${ctx.service.hostname} Postern FTP backup service ready.\r\n` },
    data,
    maxLineLength: ctx.service.session.maxLineLength,
    highWater: 32,
    barrier: (verb) => verb === 'AUTH',
    splitVerb,
    urgent: (verb) => {
      if (verb.endsWith('ABOR')) data.transfer?.abort();
    },
  });
  socket.once('close', () => endSession(data));
  return {
    info: () => session.info(),
    // a running transfer may finish (the session says goodbye after it); at the deadline it is cut
    shutdown: (now?: boolean) => {
      if (now === true) endSession(data);
      session.shutdown(now);
    },
    // a long transfer keeps the control connection quiet: that is not idleness
    idleTimeout: () => {
      if (data.transfer === null) session.idleTimeout();
    },
  };
}
