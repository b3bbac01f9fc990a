/**
 * protocols/imap/index.ts: the IMAP service (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1 on one
 * listener, with the extensions options.ts advertises), as a protocol module the connection
 * threads load (service/protocol.ts).
 *
 * One session per connection on the shared line-session dispatcher, its input cut by the IMAP
 * framer (session/framer-imap.ts) with this service's limits: maxLineLength per line part,
 * maxLiteralSize per literal (APPENDLIMIT), maxCommandSize per command (parts and literals),
 * maxLiterals per command, and LITERAL- (nonSyncLiterals = minus: a non-synchronising literal
 * over 4096 bytes). A command is assembled here from the framer's frames: each `literal` part
 * (a synchronising one is answered `+ Ready` once within the limits), its `data` chunks
 * gathered into the literal's bytes, and the final `line`; then parsed (parser.ts), looked up
 * by name in one frozen table (auth.ts, general.ts, mailboxes.ts, append.ts, selected.ts),
 * checked against the state, and run (the parser bounded by maxNesting and maxListItems). A literal over a limit is refused before its bytes are
 * read (`tag NO [TOOBIG]`; a `{n+}` one the client sends anyway is read and dropped by the
 * framer, then NO; a non-synchronising literal over 4096 bytes under LITERAL- is `BAD
 * [TOOBIG]`); before login a command with literals may have at most maxLineLength bytes, its
 * parts and literals together, else `BAD` (nothing large is gathered for a client that has not
 * logged in).
 *
 * Before every reply to a command in the selected state, the selected mailbox's pending
 * updates are written (`MailboxView.updates`, expunges held back for the commands that may
 * not send them, RFC 9051 §7.5.1). Replies carry the command's tag; BAD counts against
 * maxErrors and failed logins against maxAuthErrors (the line session counts the verdicts'
 * errors and closes the session at the limit with `* BYE`). An over-long line is `* BAD`
 * (its tag was never read). Untagged `* BYE` on idle timeout, shutdown and too many errors.
 * AUTHENTICATE, STARTTLS, COMPRESS and IDLE are barriers: what the client pipelined after
 * them is read only once they have switched the input mode.
 *
 * When the socket closes, for whatever reason, the selected mailbox's view is released.
 *
 * Exports: `refusal(reason)`, `startSession(socket, ctx)` (ProtocolModule), `IMAP_TABLE`.
 * Throws nothing.
 */
import type { Socket } from 'node:net';
import { tlsConfigured } from '../../net/tls.ts';
import type { SessionContext, SessionHandle } from '../../service/protocol.ts';
import { ImapFramer } from '../../session/framer-imap.ts';
import type { Frame } from '../../session/framer.ts';
import { LineSession, noreply, reply, type CommandRow } from '../../session/line-session.ts';
import { APPEND_ROWS } from './append.ts';
import { AUTH_ROWS } from './auth.ts';
import { GENERAL_ROWS } from './general.ts';
import { MAILBOX_ROWS } from './mailboxes.ts';
import { NON_SYNC_MAX_BYTES, imapOptions, preLoginCapabilities, type ImapOptions } from './options.ts';
import { parseCommand, tagOf } from './parser.ts';
import { bad, no, sessionReplies, utf8Names, type V } from './replies.ts';
import { SELECTED_ROWS } from './selected.ts';
import type { Command, ImapData, ImapRow, ImapSession, ImapState } from './types.ts';
import { imapRefusal } from '../../session/protocol-words.ts';

export const refusal = imapRefusal;

export const IMAP_TABLE: ReadonlyMap<string, ImapRow> = new Map<string, ImapRow>([...GENERAL_ROWS, ...AUTH_ROWS, ...MAILBOX_ROWS, ...APPEND_ROWS, ...SELECTED_ROWS]);
Object.freeze(IMAP_TABLE);

/** The line session's own table is unused: commands are dispatched here (`command`). */
const NO_ROWS: ReadonlyMap<string, CommandRow<ImapState, ImapData>> = Object.freeze(new Map<string, CommandRow<ImapState, ImapData>>());

const BARRIERS = new Set(['AUTHENTICATE', 'STARTTLS', 'COMPRESS', 'IDLE']);

/** Is the command name (the word after the tag) one that changes how input is read? */
function barrier(_verb: string, line: Buffer): boolean {
  const sp = line.indexOf(32);
  if (sp < 0) return false;
  let end = line.indexOf(32, sp + 1);
  if (end < 0) end = line.length;
  if (end - sp - 1 > 12) return false;
  return BARRIERS.has(line.toString('latin1', sp + 1, end).toUpperCase());
}

const WRONG_STATE: Readonly<Record<ImapState, string>> = Object.freeze({
  notAuthenticated: 'log in first',
  authenticated: 'not valid in the authenticated state (no mailbox selected, or already logged in)',
  selected: 'not valid in the selected state',
});

/** A command being assembled from the framer's frames. */
interface Assembly {
  lines: Buffer[];
  literals: Array<{ bytes: Buffer; binary: boolean }>;
  /** The chunks of the literal being read. */
  chunks: Buffer[];
  binary: boolean;
  /** The bytes of the parts read and the literals announced so far. */
  size: number;
  /** Refused while its non-synchronising literal still comes: the bytes are dropped and this
   * is the reply once the command ends. */
  refused: V | null;
}

/** One session's command assembly and dispatch. */
class Dispatcher {
  private asm: Assembly | null = null;
  private readonly o: ImapOptions;
  private readonly data: ImapData;

  constructor(o: ImapOptions, data: ImapData) {
    this.o = o;
    this.data = data;
  }

  /** The framer dropped what was being assembled (a line over maxLineLength). */
  reset(): void {
    this.asm = null;
  }

  private tagOf(line: Buffer | undefined): string {
    return (line === undefined ? null : tagOf(line)) ?? '*';
  }

  frame(f: Frame, s: ImapSession): V {
    switch (f.kind) {
      case 'literal': {
        const a = (this.asm ??= { lines: [], literals: [], chunks: [], binary: false, size: 0, refused: null });
        a.lines.push(Buffer.from(f.text));
        a.chunks = [];
        a.binary = f.binary;
        a.size += f.text.length + f.size;
        const tag = this.tagOf(a.lines[0]);
        this.data.tag = tag;
        if (a.refused === null && s.state === 'notAuthenticated' && a.size > s.ctx.service.session.maxLineLength) {
          a.refused = bad(tag, `[TOOBIG] command with literals over ${s.ctx.service.session.maxLineLength} octets before login`);
        }
        if (a.refused !== null) {
          if (!f.sync) return noreply(); // its bytes come anyway: dropped as they come
          s.framer.literal?.(false); // the client sends nothing more for this command
          const v = a.refused;
          this.asm = null;
          return v;
        }
        if (!f.sync) return noreply();
        s.framer.literal?.(true);
        return reply('+ Ready for literal data\r\n');
      }
      case 'data': {
        const a = this.asm;
        if (a === null) return noreply();
        if (a.refused === null) a.chunks.push(f.chunk);
        if (f.last) {
          if (a.refused === null) a.literals.push({ bytes: a.chunks.length === 1 ? a.chunks[0]! : Buffer.concat(a.chunks), binary: a.binary });
          a.chunks = [];
        }
        return noreply();
      }
      case 'toobig': {
        const tag = this.tagOf(this.asm?.lines[0] ?? f.text);
        this.asm = null;
        this.data.tag = tag;
        const o = this.o;
        if (f.limit === 'literal' && !f.sync && (f.size ?? Infinity) <= o.maxLiteralBytes) {
          return bad(tag, `[TOOBIG] a non-synchronizing literal may have at most ${NON_SYNC_MAX_BYTES} octets (LITERAL-)`);
        }
        if (f.limit === 'literal') return no(tag, `[TOOBIG] literal over the size limit (${o.maxLiteralBytes} octets)`);
        if (f.limit === 'count') return no(tag, `[TOOBIG] too many literals in one command (at most ${o.maxLiterals})`);
        return no(tag, `[TOOBIG] command over the size limit (${o.maxCommandBytes} octets)`);
      }
      default:
        return noreply();
    }
  }

  /** The last part of a command: parse, look up, check the state, run. */
  command(line: Buffer, s: ImapSession): V | Promise<V> {
    const a = this.asm;
    this.asm = null;
    if (a?.refused != null) return this.updated(a.refused, false);
    const input = a === null ? { lines: [line], literals: [] } : { lines: [...a.lines, line], literals: a.literals };
    const r = parseCommand(input, { utf8: utf8Names(this.data), maxNesting: this.o.maxNesting, maxListItems: this.o.maxListItems });
    if (!r.ok) {
      this.data.tag = r.tag ?? '*';
      return this.updated(r.tag === null ? reply(`* BAD ${r.text}\r\n`, { error: 'command' }) : bad(r.tag, r.text), false);
    }
    const cmd = r.cmd;
    this.data.tag = cmd.tag;
    const row = IMAP_TABLE.get(cmd.name);
    if (row === undefined) return this.updated(bad(cmd.tag, `${cmd.name} not implemented`), false);
    if (!row.states.includes(s.state)) return this.updated(bad(cmd.tag, `${cmd.name} ${WRONG_STATE[s.state]}`), true);
    const expunges = row.expunges || (cmd as Command & { uid?: boolean }).uid === true;
    const v = row.run(cmd, s);
    if (v instanceof Promise) return v.then((x) => this.updated(x, expunges));
    return this.updated(v, expunges);
  }

  /** The selected mailbox's pending updates before the tagged reply. */
  private updated(v: V, expunges: boolean): V {
    const view = this.data.selected;
    if (view === null || v.kind !== 'reply' || this.data.closed) return v;
    const u = view.updates(expunges);
    return u === '' ? v : { ...v, text: u + v.text };
  }
}

export function startSession(socket: Socket, ctx: SessionContext): SessionHandle {
  const o = imapOptions(ctx.service);
  const data: ImapData = { tag: '*', account: null, mailbox: null, selected: null, enabled: new Set(), saved: [], closed: false };
  const d = new Dispatcher(o, data);
  // every reply is written whole, so Nagle would only hold back the last segment
  socket.setNoDelay(true);
  socket.once('close', () => {
    data.closed = true;
    data.selected?.close();
    data.selected = null;
  });
  const greeting = (): string => `* OK [CAPABILITY ${preLoginCapabilities(o, ctx.secure, o.allowStartTLS && tlsConfigured(ctx.listener))}] ${o.greetingsText}\r\n`;
  return new LineSession<ImapState, ImapData>({
    socket,
    ctx,
    table: NO_ROWS,
    initialState: 'notAuthenticated',
    replies: sessionReplies(data, greeting, () => d.reset()),
    data,
    maxLineLength: ctx.service.session.maxLineLength,
    barrier,
    framer: (maxLineLength) =>
      new ImapFramer({
        maxLineLength,
        maxLiteralBytes: o.maxLiteralBytes,
        nonSyncMaxBytes: o.nonSyncLiterals === 'minus' ? NON_SYNC_MAX_BYTES : o.maxLiteralBytes,
        maxLiterals: o.maxLiterals,
        maxCommandBytes: o.maxCommandBytes,
      }),
    frames: (f, s) => d.frame(f, s),
    command: (line, s) => d.command(line, s),
  });
}
