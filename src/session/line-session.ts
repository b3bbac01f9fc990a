/**
 * session/line-session.ts: the session dispatcher shared by the line protocols (SMTP, POP3,
 * IMAP, FTP, CLI). One session actor per connection; its mailbox holds the client's input.
 *
 * - Reading: a framer (session/framer.ts; default `LineFramer`, lines no longer than
 *   `maxLineLength`) cuts the input into frames and owns what is buffered; a longer line is
 *   discarded as it streams (the buffer never grows past the limit) and answered with the
 *   protocol's "line too long" error, counted against maxErrors. Frames other than lines go
 *   to the protocol's `frames` handler (IMAP literals); `reply` frames (the telnet framer's
 *   refusals of options) are written as they come.
 * - Backpressure: when the mailbox reaches `highWater`, reading from the socket pauses; it
 *   resumes when the mailbox has drained to half. Output is bounded like input, in the one
 *   writer (session/writer.ts): when the socket's unsent output passes the service's
 *   `maxPendingOutput`, the session stops reading and dispatching until the socket drains; a
 *   client that does not drain within the listener's idleTimeout is closed (`idle_timeout`).
 * - Deadlines (session/limits.ts), besides the thread's idleTimeout (socket silence): a whole
 *   command line must arrive within `commandTimeout` of its first byte, and message data
 *   (`expectStream`, `expectBytes`, an IMAP literal's `data` frames from the first chunk to the
 *   last) at `minDataRate` over each `dataRateWindow`, and the byte
 *   runs of one transaction (while the protocol is `busy`: SMTP's BDAT chunks) also on average
 *   over the transaction, one window of grace given, judged at each command between them; either
 *   closes the session with the protocol's reply (`commandTimeout`/`slowData`, else its
 *   idle-timeout reply), counted as `idle_timeout`. In stress mode (`ctx.stressed()`) the
 *   command deadline is capped at `stressTimeout`.
 * - Dispatch: a frozen table keyed by verb, each row with the states it is allowed in (or the
 *   protocol's own `command` dispatcher, given each command line: IMAP parses whole commands
 *   assembled from literal frames; its verdicts are applied and counted here the same way). Handlers
 *   return a verdict (`reply` | `noreply` | `stop` | `upgrade`); only this dispatcher writes
 *   replies and counts errors. Unknown verbs and verbs in the wrong state are protocol errors; reaching
 *   `maxErrors` (wrong commands) or `maxAuthErrors` (failed authentications) closes the session
 *   with the protocol's own message (the Nth error gets the closing reply).
 * - Mode changes: a line the protocol marks as a barrier (DATA, AUTH, STARTTLS, a literal …)
 *   stops splitting until its handler has run, so a handler can switch to continuation lines
 *   (`expectLine`), raw bytes (`expectBytes`) or TLS (the `upgrade` verdict: the reply is
 *   written, then the socket switches to TLS and any pipelined plaintext is dropped), or layer
 *   a stream transform over the socket (`upgrade(text, { wrap })`, IMAP COMPRESS: the reply is
 *   written as before, then input and output go through the wrapper, which is handed the input
 *   already received and not yet framed). A line
 *   over the limit ends a continuation exchange (`expectLine`: the handler is told, the next
 *   line is a command again). End of input (a half-closed socket) is handled
 *   after the complete commands before it: the session then ends (`client_closed`), whatever
 *   partial line was buffered.
 * - Writes: everything written to the socket (replies, bodies, listings) goes through the
 *   writer's one batch (session/writer.ts): what a tick writes leaves in one write at its end;
 *   with `batchReplies` (pipelining) the replies to commands that arrived together leave
 *   together, once the last of them has its verdict (one write, one segment). A lone reply is
 *   one direct write. The batch is flushed before a stop, an upgrade or any wait for the socket.
 * - An unexpected handler error is logged whole and answered with the protocol's temporary
 *   failure; the session carries on.
 * - Streams: `expectStream(feed, done)` hands raw input to `feed` synchronously as it arrives
 *   (SMTP DATA: the protocol's decoder keeps its own bounded buffer), until `feed` reports where
 *   the stream ended; the rest is read as lines again and `done` gives the verdict, in order.
 * - `urgent` sees each command line as it is read, before it waits behind the command in
 *   progress (FTP ABOR during a transfer); the line is still dispatched in its turn.
 * - Shutdown: `shutdown()` says the protocol's goodbye at once to an idle session; a session in
 *   the middle of a transaction (a command running or queued, a stream or byte count being read,
 *   or what the protocol's `busy` says: SMTP between BDAT chunks) gets it when that is over.
 *   `shutdown(true)` (the deadline) says it at once whatever is in hand.
 *
 * Exports: `LineSession`, `Verdict`, `CommandRow`, `ProtocolReplies`, `StreamWrap`, `reply`,
 * `noreply`, `stop`, `upgrade`.
 * Throws nothing into the event loop.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Actor, type ActorOptions } from '../actor/actor.ts';
import { wrapServerSocket } from '../net/tls.ts';
import type { ActorInfo } from '../actor/types.ts';
import type { SessionContext, SessionEndReason, SessionHandle } from '../service/protocol.ts';
import { effectiveTimeout, RateGuard, sessionLimits, type SessionLimits } from './limits.ts';
import type { Frame, Framer } from './framer.ts';
import { LineFramer } from './framer-line.ts';
import { SessionWriter, type SessionWriterOptions } from './writer.ts';
import { OFF } from '../config/options.ts';

export type Verdict<S extends string> =
  | { kind: 'reply'; text: string; state?: S; error?: 'command' | 'auth' }
  | { kind: 'noreply'; state?: S; error?: 'command' | 'auth' }
  | { kind: 'stop'; text: string; reason?: SessionEndReason }
  | { kind: 'upgrade'; text: string; state?: S; wrap?: StreamWrap };

/** A stream transform layered over the socket (IMAP COMPRESS=DEFLATE): given the socket and the
 * input already received but not framed (the new layer's first bytes), the stream the session
 * reads and writes from now on (session/compress.ts `DeflateSocket`). */
export type StreamWrap = (socket: Socket, buffered: Buffer | null) => Socket;

export const reply = <S extends string>(text: string, more: { state?: S; error?: 'command' | 'auth' } = {}): Verdict<S> => ({ kind: 'reply', text, ...more });
export const noreply = <S extends string>(more: { state?: S; error?: 'command' | 'auth' } = {}): Verdict<S> => ({ kind: 'noreply', ...more });
export const stop = <S extends string>(text: string, reason: SessionEndReason = 'normal'): Verdict<S> => ({ kind: 'stop', text, reason });
/** STARTTLS, STLS, AUTH TLS: write `text` (the go-ahead), then switch the socket to TLS; any
 * plaintext the client pipelined after the command is dropped (RFC 3207 §4.2, RFC 2595 §3.1:
 * the command-injection rule). The handler resets what the protocol forgets itself. */
export const upgrade = <S extends string>(text: string, more: { state?: S; wrap?: StreamWrap } = {}): Verdict<S> => ({ kind: 'upgrade', text, ...more });

export interface CommandRow<S extends string, D> {
  readonly states: readonly S[];
  readonly run: (args: string, s: LineSession<S, D>) => Verdict<S> | Promise<Verdict<S>>;
}

/** The protocol's own words for what the dispatcher itself says. Each ends with CRLF. */
export interface ProtocolReplies {
  greeting(): string;
  unknownCommand(verb: string): string;
  wrongState(verb: string): string;
  lineTooLong(limit: number): string;
  tooManyErrors(): string;
  tooManyAuthErrors(): string;
  internalError(): string;
  idleTimeout(): string;
  shutdown(): string;
  /** A command line did not arrive whole within commandTimeout (default: idleTimeout()). */
  commandTimeout?(): string;
  /** Message data came slower than minDataRate (default: idleTimeout()). */
  slowData?(): string;
}

export interface LineSessionOptions<S extends string, D> {
  socket: Socket;
  ctx: SessionContext;
  table: ReadonlyMap<string, CommandRow<S, D>>;
  initialState: S;
  replies: ProtocolReplies;
  data: D;
  maxLineLength: number;
  highWater?: number;
  /** Does this line possibly change how the next input is read? */
  barrier?: (verb: string, line: Buffer) => boolean;
  /** Split a command line into verb and arguments (default: first word, upper-cased). */
  splitVerb?: (line: string) => [string, string];
  /** Called as each command line is read, before it is queued behind the command in progress
   * (FTP's ABOR must interrupt a running transfer). It must not write or change state. */
  urgent?: (verb: string, line: Buffer) => void;
  /** Is the session in the middle of a transaction the dispatcher cannot see (SMTP between
   * BDAT chunks)? A shutdown waits for it to end. */
  busy?: (s: LineSession<S, D>) => boolean;
  /** Replies to pipelined commands share one write (SMTP PIPELINING, RFC 2920; POP3 RFC
   * 2449): the writer's batch is held past the end of the tick while a command runs or more
   * input waits in the mailbox, and flushed once the mailbox is empty (after the input's
   * verdict). Only for protocols whose handlers never wait for the client's next input (IMAP
   * IDLE would: its continuation would be held). Default false: flushed at the end of the tick. */
  batchReplies?: boolean;
  /** The framer for this session's input (default: `LineFramer`, lines of maxLineLength). */
  framer?: (maxLineLength: number) => Framer;
  /** Frames other than lines (IMAP literals: `literal`, `data`, `toobig`), in order. A
   * synchronising `literal` stops reading until its verdict; the handler answers the framer
   * (`s.framer.literal?.(go)`) and returns the continuation request or the refusal. */
  frames?: (f: Frame, s: LineSession<S, D>) => Verdict<S> | Promise<Verdict<S>>;
  /** The protocol parses and dispatches each command line itself (IMAP: the last part of a
   * command it assembled from literal frames; its own table of parsed commands); `table` and
   * `splitVerb` are then unused. Its verdicts are applied (and their errors counted) here. */
  command?: (line: Buffer, s: LineSession<S, D>) => Verdict<S> | Promise<Verdict<S>>;
}

type Input = { k: 'line'; line: Buffer; barrier: boolean } | { k: 'frame'; frame: Frame; barrier: boolean } | { k: 'toolong' } | { k: 'bytes'; chunk: Buffer; last: boolean } | { k: 'eof' } | { k: 'stream'; done: () => unknown };

const defaultSplit = (line: string): [string, string] => {
  const i = line.indexOf(' ');
  return i < 0 ? [line.toUpperCase(), ''] : [line.slice(0, i).toUpperCase(), line.slice(i + 1)];
};

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}

export class LineSession<S extends string, D> implements SessionHandle {
  state: S;
  readonly data: D;
  readonly ctx: SessionContext;
  socket: Socket;
  errors = 0;
  authErrors = 0;
  secure: boolean;
  private readonly o: LineSessionOptions<S, D>;
  private readonly actor: Actor<Input, void>;
  private readonly highWater: number;
  private maxLine: number;
  /** Cuts the input into frames (lines by default); owns what is buffered. */
  readonly framer: Framer;
  private blocked = false; // a barrier line is waiting for its handler
  private bytesLeft = 0;
  private streamFeed: ((chunk: Buffer) => number) | null = null;
  private streamDone: (() => unknown) | null = null;
  private lineHandler: ((line: Buffer) => Verdict<S> | Promise<Verdict<S>>) | null = null;
  private lineTooLong: (() => Verdict<S>) | null = null;
  private bytesHandler: ((chunk: Buffer, last: boolean) => Verdict<S> | Promise<Verdict<S>> | void) | null = null;
  private paused = false;
  private closed = false;
  private ending = false;
  private readonly limits: SessionLimits;
  private readonly out: SessionWriter; // writes replies; holds the output bound
  private lineTimer: NodeJS.Timeout | null = null; // the deadline of the partial line buffered
  private rate: RateGuard | null = null; // the data rate of a stream or byte run
  private txData: { start: number; bytes: number } | null = null; // byte runs of one transaction
  private readonly onData = (chunk: Buffer): void => {
    this.framer.push(chunk);
    this.pump();
    // a barrier line (AUTH, STARTTLS, DATA …) is waiting for its handler: stop reading until
    // it has run, so a client flooding meanwhile cannot grow the buffer
    if (this.blocked && !this.blockPaused) {
      this.blockPaused = true;
      this.socket.pause();
    }
  };
  private blockPaused = false;
  private readonly onEnd = (): void => {
    this.eof = true;
    this.pump();
  };
  private eof = false;
  private eofQueued = false;
  private running = false; // an input is being handled
  private stopping = false; // shutdown() is waiting for the transaction in hand

  constructor(o: LineSessionOptions<S, D>) {
    this.o = o;
    this.ctx = o.ctx;
    this.socket = o.socket;
    this.state = o.initialState;
    this.data = o.data;
    this.maxLine = o.maxLineLength;
    this.framer = o.framer?.(o.maxLineLength) ?? new LineFramer(o.maxLineLength);
    this.secure = (o.socket as TLSSocket).encrypted === true;
    this.highWater = o.highWater ?? 64;
    this.limits = sessionLimits(o.ctx.service);
    // one object holds the writer's and the actor's hooks (no closure per hook per session)
    const hooks = new LineSession.Hooks(this as unknown as LineSession<string, unknown>, o.socket, this.limits.maxPendingOutputBytes, this.highWater);
    this.out = new SessionWriter(hooks);
    this.actor = new Actor<Input, void>(hooks);
    this.actor.onExit((r) => {
      if (r.kind === 'error') {
        o.ctx.log.error({ err: r.error }, 'session actor failed');
        this.end('error');
      }
    });
    this.attach(o.socket);
    o.socket.on('close', () => {
      this.closed = true;
      this.stopTimers();
      this.out.close();
      void this.actor.stop();
    });
    this.out.writeLast(o.replies.greeting());
  }

  /** The session's writer and actor options, in one object: its methods call the session. */
  private static readonly Hooks = class implements SessionWriterOptions, ActorOptions<Input, void> {
    readonly s: LineSession<string, unknown>;
    readonly socket: Socket;
    readonly maxPendingOutputBytes: number;
    readonly id: string;
    readonly kind = 'session';
    readonly mailboxSize: number;
    readonly highWater: number;
    constructor(s: LineSession<string, unknown>, socket: Socket, maxPendingOutputBytes: number, highWater: number) {
      this.s = s;
      this.socket = socket;
      this.maxPendingOutputBytes = maxPendingOutputBytes;
      this.id = s.ctx.connId;
      this.mailboxSize = highWater + 2;
      this.highWater = highWater;
    }
    // the writer's
    holdTimeoutMs(): number {
      return effectiveTimeout(this.s.ctx.listener.idleTimeoutMs, this.s.limits, this.s.stressed());
    }
    /** Unsent output passed maxPendingOutput: stop reading and dispatching until it drains. */
    onHold(): void {
      this.s.rate?.suspend();
    }
    onRelease(): void {
      const s = this.s;
      if (!s.paused) s.pump();
      if (s.mayRead()) s.socket.resume();
    }
    onStuck(): void {
      this.s.end('idle_timeout');
    }
    /** The replies of commands that arrived together are still being written. */
    holdBatch(): boolean {
      const s = this.s;
      return s.o.batchReplies === true && !s.closed && (s.running || s.actor.depth > 0);
    }
    // the actor's
    handler(m: Input): void | Promise<void> {
      return this.s.handle(m);
    }
    onHighWater(): void {
      this.s.pauseReading();
    }
    onLowWater(): void {
      this.s.resumeReading();
    }
    extra(): Record<string, unknown> {
      const s = this.s;
      return { state: s.state, errors: s.errors, authErrors: s.authErrors, remote: s.ctx.remoteAddress, bufferedBytes: s.framer.buffered() };
    }
  };

  private attach(s: Socket): void {
    s.on('data', this.onData);
    s.on('end', this.onEnd);
  }

  private detach(s: Socket): void {
    s.off('data', this.onData);
    s.off('end', this.onEnd);
  }

  private pauseReading(): void {
    this.paused = true;
    this.socket.pause();
    this.rate?.suspend(); // the server holds the data back, not the client
  }

  private resumeReading(): void {
    this.paused = false;
    this.pump();
    if (this.mayRead()) this.socket.resume();
  }

  /** Nothing holds reading back: the mailbox has room, no barrier waits, output has drained. */
  private mayRead(): boolean {
    return !this.paused && !this.blockPaused && !this.out.blocked && !this.closed;
  }

  private stressed(): boolean {
    return this.ctx.stressed?.() ?? false;
  }

  private stopTimers(): void {
    this.disarmLine();
    this.rate?.stop();
    this.rate = null;
  }

  /** A partial command line is buffered: its deadline runs from now, if not already. */
  private armLine(): void {
    if (this.lineTimer !== null || this.closed || this.ending) return;
    const ms = effectiveTimeout(this.limits.commandTimeoutMs, this.limits, this.stressed());
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    this.lineTimer = setTimeout(() => {
      this.lineTimer = null;
      // reading stopped because the client does not read: the drain deadline decides
      if (this.closed || this.ending || this.out.blocked) return;
      this.write(this.o.replies.commandTimeout?.() ?? this.o.replies.idleTimeout());
      this.end('idle_timeout');
    }, ms);
    this.lineTimer.unref();
  }

  private disarmLine(): void {
    if (this.lineTimer === null) return;
    clearTimeout(this.lineTimer);
    this.lineTimer = null;
  }

  /** Message data begins (a stream or a byte run): guard its rate. */
  private startRate(): void {
    this.rate?.stop();
    const { minDataRateBytesPerSec: r, dataRateWindowMs: w } = this.limits;
    this.rate =
      r !== OFF
        ? new RateGuard(r, w, () => {
            this.rate = null;
            if (this.closed || this.ending) return;
            this.write(this.o.replies.slowData?.() ?? this.o.replies.idleTimeout());
            this.end('idle_timeout');
          }, () => this.out.blocked || this.paused || this.blockPaused)
        : null;
  }

  private stopRate(): void {
    this.rate?.stop();
    this.rate = null;
  }

  private queueEof(): void {
    if (this.eofQueued) return;
    this.eofQueued = true;
    this.actor.tryTell({ k: 'eof' });
  }

  /** Take frames from the framer into the mailbox, up to the high-water mark or a barrier.
   * In a byte mode (a stream, a byte count) the buffered input is read as it is. */
  private pump(): void {
    const fr = this.framer;
    while (!this.blocked && !this.closed && this.actor.depth < this.highWater) {
      if (this.streamFeed !== null || this.bytesLeft > 0) {
        const b = fr.raw();
        if (b === null) {
          this.disarmLine();
          if (this.eof) this.queueEof();
          return;
        }
        this.disarmLine();
        if (this.streamFeed !== null) {
          const used = this.streamFeed(b);
          this.rate?.add(used < 0 ? b.length : used);
          if (used < 0) {
            fr.skip(b.length);
            continue;
          }
          this.stopRate();
          const done = this.streamDone!;
          this.streamFeed = null;
          this.streamDone = null;
          fr.skip(used);
          this.actor.tryTell({ k: 'stream', done });
          continue;
        }
        const n = Math.min(this.bytesLeft, b.length);
        this.bytesLeft -= n;
        this.rate?.add(n);
        if (this.txData !== null) this.txData.bytes += n;
        if (this.bytesLeft === 0) this.stopRate();
        fr.skip(n);
        this.actor.tryTell({ k: 'bytes', chunk: b.subarray(0, n), last: this.bytesLeft === 0 });
        continue;
      }
      const f = fr.next();
      if (f === null) {
        if (this.eof) {
          fr.clear(); // end of input after a partial line: the session ends without it
          this.disarmLine();
          this.queueEof();
        } else if (fr.partial()) this.armLine();
        else this.disarmLine();
        return;
      }
      this.disarmLine();
      if (f.kind === 'line') {
        if (this.rate !== null && this.streamFeed === null && this.bytesLeft === 0) this.stopRate(); // (a literal's guard)
        const line = f.line;
        if (this.o.urgent !== undefined && this.lineHandler === null && this.bytesHandler === null) this.o.urgent(this.verbOf(line), line);
        const barrier = this.lineHandler !== null || this.bytesHandler !== null || (this.o.barrier?.(this.verbOf(line), line) ?? false);
        if (barrier) this.blocked = true;
        this.actor.tryTell({ k: 'line', line, barrier });
      } else if (f.kind === 'toolong') this.actor.tryTell({ k: 'toolong' });
      else if (f.kind === 'reply') this.write(f.bytes); // the framing's own answer (telnet refusals)
      else {
        // IMAP literal bytes are message data: minDataRate from their first chunk to their last
        if (f.kind === 'data') {
          if (f.last) this.stopRate();
          else {
            if (this.rate === null) this.startRate();
            this.rate?.add(f.chunk.length);
          }
        } else if (f.kind === 'toobig') this.stopRate();
        // IMAP literals: a synchronising one waits for the protocol's answer
        const barrier = f.kind === 'literal' && f.sync;
        if (barrier) this.blocked = true;
        this.actor.tryTell({ k: 'frame', frame: f, barrier });
      }
    }
  }

  private verbOf(line: Buffer): string {
    const sp = line.indexOf(32);
    return line.subarray(0, sp < 0 ? Math.min(line.length, 16) : Math.min(sp, 16)).toString('latin1').toUpperCase();
  }

  /** One input, in mailbox order. A handler that answers at once is applied at once (no
   * promise, no microtask: most commands are synchronous); one that returns a promise is
   * applied when it settles, and the actor waits for it. */
  private handle(m: Input): void | Promise<void> {
    // unsent output is over its bound: nothing more is dispatched until the client reads
    if (this.out.blocked && !this.closed) return this.out.drained().then(() => this.run(m));
    return this.run(m);
  }

  private run(m: Input): void | Promise<void> {
    if (this.closed || this.ending) return;
    this.running = true;
    let v: Verdict<S> | void | Promise<Verdict<S> | void>;
    try {
      v = this.verdict(m);
    } catch (e) {
      v = this.failed(e);
    }
    if (isPromise(v)) return v.then((r) => this.after(m, r), (e: unknown) => this.after(m, this.failed(e)));
    this.after(m, v);
  }

  private verdict(m: Input): Verdict<S> | void | Promise<Verdict<S> | void> {
    if (m.k === 'toolong') return this.tooLong();
    if (m.k === 'eof') return stop('', 'client_closed');
    if (m.k === 'stream') return m.done() as Verdict<S> | Promise<Verdict<S>>;
    if (m.k === 'frame') return this.o.frames !== undefined ? this.o.frames(m.frame, this) : reply(this.o.replies.internalError());
    if (m.k === 'bytes') return this.bytesHandler !== null ? this.bytesHandler(m.chunk, m.last) : undefined;
    if (this.lineHandler !== null) return this.lineHandler(m.line);
    if (this.slowTransaction()) return stop(this.o.replies.slowData?.() ?? this.o.replies.idleTimeout(), 'idle_timeout');
    if (this.o.command !== undefined) return this.o.command(m.line, this);
    return this.dispatch(m.line.toString('utf8'));
  }

  private failed(e: unknown): Verdict<S> {
    this.ctx.log.error({ err: e }, 'command failed unexpectedly');
    return reply(this.o.replies.internalError());
  }

  private after(m: Input, v: Verdict<S> | void): void {
    try {
      if (m.k === 'bytes' && m.last) this.bytesHandler = null;
      if (v !== undefined) this.apply(v);
      if ((m.k === 'line' || m.k === 'frame') && m.barrier) {
        this.blocked = false;
        if (!this.paused) this.pump();
        if (this.blockPaused && !this.blocked) {
          this.blockPaused = false;
          if (this.mayRead()) this.socket.resume();
        }
      }
    } finally {
      this.running = false;
    }
    if (this.stopping) this.shutdown();
    // the commands that arrived together are answered: their replies leave in one write
    if (this.actor.depth === 0) this.out.flush();
  }

  private dispatch(line: string): Verdict<S> | Promise<Verdict<S>> {
    const [verb, args] = (this.o.splitVerb ?? defaultSplit)(line);
    const row = Object.hasOwn(Object(this.o.table), verb) ? undefined : this.o.table.get(verb);
    if (row === undefined) return reply(this.o.replies.unknownCommand(verb), { error: 'command' });
    if (!row.states.includes(this.state)) return reply(this.o.replies.wrongState(verb), { error: 'command' });
    return row.run(args, this);
  }

  private apply(v: Verdict<S>): void {
    if (v.kind === 'stop') {
      if (v.text !== '') this.out.write(v.text);
      this.end(v.reason ?? 'normal'); // (flushes)
      return;
    }
    if (v.state !== undefined) this.state = v.state;
    if (v.kind === 'upgrade') {
      this.out.writeLast(v.text);
      if (v.wrap !== undefined) this.startWrap(v.wrap);
      else this.startTls();
      return;
    }
    if (v.error === 'auth' && ++this.authErrors >= this.ctx.service.maxAuthErrors) {
      this.write(this.o.replies.tooManyAuthErrors());
      this.end('error_limit');
      return;
    }
    if (v.error === 'command' && ++this.errors >= this.ctx.service.maxErrors) {
      this.write(this.o.replies.tooManyErrors());
      this.end('error_limit');
      return;
    }
    if (v.kind !== 'reply') return;
    // the last reply of its group (or a lone one) goes out now; others wait in the batch
    if (this.actor.depth === 0) this.out.writeLast(v.text);
    else this.out.write(v.text);
  }

  /** Write into the session's batch (session/writer.ts); false if the socket is gone or its
   * buffer is full (then `drain` before writing more of a long response). */
  write(data: string | Buffer): boolean {
    return this.out.write(data);
  }

  /** Send what the batch holds now (one write): a writer that must know what the kernel took
   * (IMAP FETCH recycles its read windows once the socket holds none of their bytes). */
  flush(): void {
    this.out.flush();
  }

  /** Flush the batch, then resolve true once the socket can take more (false: it closed). */
  drain(): Promise<boolean> {
    return this.out.drain();
  }

  /** Until cleared with null, each next line goes to `h` instead of the command table. A line
   * over the limit ends the exchange: the handler is cleared (the next line is a command again)
   * and `onTooLong` gives the verdict (default: the protocol's line-too-long error). */
  expectLine(h: ((line: Buffer) => Verdict<S> | Promise<Verdict<S>>) | null, onTooLong?: () => Verdict<S>): void {
    this.lineHandler = h;
    this.lineTooLong = h === null ? null : onTooLong ?? null;
  }

  private tooLong(): Verdict<S> {
    const inExchange = this.lineHandler !== null;
    const f = this.lineTooLong;
    this.lineHandler = null;
    this.lineTooLong = null;
    return (inExchange ? f?.() : undefined) ?? reply(this.o.replies.lineTooLong(this.maxLine), { error: 'command' });
  }

  /** Between the byte runs of one transaction (the protocol's `busy`: SMTP between BDAT
   * chunks), are the message data so far slower than minDataRate on average, one
   * dataRateWindow of grace given? Each run has its own RateGuard, but a client sending a tiny
   * chunk now and then (`BDAT 1`, `BDAT 0`, NOOP) would pass every run's guard. */
  private slowTransaction(): boolean {
    const { minDataRateBytesPerSec: r, dataRateWindowMs: w } = this.limits;
    if (r === OFF || !(w > 0) || !Number.isFinite(w)) return false; // (no work per command when off)
    const tx = this.txData;
    if (!(this.o.busy?.(this) ?? false)) {
      this.txData = null; // the transaction is over (or none)
      return false;
    }
    if (tx === null) {
      this.txData = { start: Date.now(), bytes: 0 }; // (begun with empty chunks: BDAT 0)
      return false;
    }
    const elapsed = Date.now() - tx.start;
    return elapsed > w && tx.bytes < (r * (elapsed - w)) / 1000;
  }

  /** The next `n` bytes go to `h` in chunks, the last one flagged. Runs while the protocol is
   * `busy` (one transaction's chunks) are also judged together (`slowTransaction`). */
  expectBytes(n: number, h: (chunk: Buffer, last: boolean) => Verdict<S> | Promise<Verdict<S>> | void): void {
    if (!(this.o.busy?.(this) ?? false)) this.txData = null;
    this.txData ??= { start: Date.now(), bytes: 0 };
    this.bytesLeft = n;
    this.bytesHandler = n > 0 ? h : null;
    if (n > 0) this.startRate();
  }

  /** Until `feed` returns a byte count ≥ 0 (where in the chunk it was given the stream ended),
   * every input byte goes to `feed`, synchronously, as it arrives (-1: it took the whole chunk).
   * The bytes after the end are read as lines again; `done` runs in the session actor, in
   * order, and its verdict is applied. Call it from a barrier line's handler. */
  expectStream(feed: (chunk: Buffer) => number, done: () => Verdict<S> | Promise<Verdict<S>>): void {
    this.streamFeed = feed;
    this.streamDone = done;
    this.startRate();
  }

  setMaxLineLength(n: number): void {
    this.maxLine = n;
    this.framer.setMaxLineLength(n);
  }

  /** Upgrade to TLS (the `upgrade` verdict): pipelined plaintext after the command is dropped. */
  private startTls(): void {
    const plain = this.socket;
    this.detach(plain);
    this.framer.clear();
    if (this.blockPaused) plain.resume(); // the TLS layer reads from the plain socket now
    const t = wrapServerSocket(plain, this.ctx.listener);
    t.on('error', () => t.destroy());
    this.socket = t;
    this.out.socket = t;
    this.secure = true;
    this.attach(t);
  }

  /** Layer a stream transform over the socket (the `upgrade` verdict's `wrap`): the input
   * buffered and not yet framed is the new layer's, handed to it. */
  private startWrap(wrap: StreamWrap): void {
    const under = this.socket;
    this.detach(under);
    const buffered = this.framer.raw();
    if (buffered !== null) this.framer.skip(buffered.length);
    if (this.blockPaused) under.resume(); // the new layer reads from the socket under it now
    const w = wrap(under, buffered);
    w.on('error', () => w.destroy());
    this.socket = w;
    this.out.socket = w;
    this.attach(w);
  }

  end(reason: SessionEndReason): void {
    this.ending = true;
    this.out.flush();
    this.stopTimers();
    this.ctx.end(reason, this.socket);
  }

  info(): ActorInfo {
    return this.actor.info();
  }

  idleTimeout(): void {
    this.write(this.o.replies.idleTimeout());
    this.end('idle_timeout');
  }

  /** In the middle of a transaction: a command running or queued, a stream or a byte count
   * being read, or what the protocol says. */
  private busy(): boolean {
    return this.running || this.actor.depth > 0 || this.streamFeed !== null || this.bytesHandler !== null || (this.o.busy?.(this) ?? false);
  }

  /** Say goodbye and close: at once if idle (or `now`), else when the transaction ends. */
  shutdown(now = false): void {
    if (this.closed || this.ending) return;
    this.stopping = true;
    if (!now && this.busy()) return; // handle() calls again after each input
    this.write(this.o.replies.shutdown());
    this.end('shutdown');
  }
}
