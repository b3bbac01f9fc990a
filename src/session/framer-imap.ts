/**
 * session/framer-imap.ts: the IMAP framer: lines as the line framer cuts them, and literals
 * (RFC 9051 §4.3): a line that ends in `{n}` (synchronising), `{n+}` (non-synchronising,
 * RFC 7888 LITERAL+ / LITERAL-) or `~{n}` / `~{n+}` (literal8, RFC 3516) is followed by exactly
 * n bytes, then the command goes on with the next line. A command is its parts up to a line
 * that announces no literal.
 *
 * Frames: `literal` (the part before the marker, the size, sync, binary), then `data` chunks
 * of the literal as they arrive (at least one, `last` on the final one, empty for `{0}`), then
 * the next part; `line` ends the command. A synchronising literal stops the framer until the
 * dispatcher calls `literal(true)` (it sent "+ …": the bytes are read) or `literal(false)`
 * (it refused: the client sends none, the command is over).
 *
 * Limits (each tripping gives one `toobig` frame; its command's remaining input is dropped by
 * the framer, bytes of a non-synchronising literal included, which the client sends unasked;
 * a synchronising literal's bytes are never sent, so nothing is dropped for it):
 *   maxLineLength    each line part (`toolong`, as the line framer; it also ends the command)
 *   maxLiteralBytes  one literal's size                                 (`toobig` 'literal')
 *   nonSyncMaxBytes  one non-synchronising literal's size (LITERAL-: 4096; RFC 7888 §4)
 *                                                                        (`toobig` 'literal')
 *   maxLiterals      literals in one command                            (`toobig` 'count')
 *   maxCommandBytes  a command's line parts and literals together        (`toobig` 'command')
 * The buffer holds at most one line part and one received chunk; literal bytes are handed on
 * as they come, never gathered.
 *
 * (`{n-}` is no IMAP syntax: LITERAL- is the `{n+}` form capped at 4096 bytes; a line ending
 * in `{n-}` is an ordinary line, for the command parser to reject.)
 *
 * Exports: `ImapFramer`, `ImapFramerOptions`. Throws nothing.
 */
import { BufferedInput, type Frame, type Framer, type TooBigLimit } from './framer.ts';

export interface ImapFramerOptions {
  maxLineLength: number;
  maxLiteralBytes: number;
  nonSyncMaxBytes: number;
  maxLiterals: number;
  maxCommandBytes: number;
}

const TOOLONG: Frame = Object.freeze({ kind: 'toolong' });
const NONE = Buffer.alloc(0);
const MAX_DIGITS = 16; // 10^16 > 2^53: a size past Number.MAX_SAFE_INTEGER is refused, not parsed

type Mode =
  | 'line' // reading a line part
  | 'wait' // a synchronising literal was announced: waiting for the dispatcher's answer
  | 'literal' // reading `left` literal bytes
  | 'skip'; // dropping the rest of a refused command: `left` literal bytes, then lines

/** The literal marker at the end of `line` (`{n}`, `{n+}`, `~{n}`, `~{n+}`), or null. */
function marker(line: Buffer): { at: number; size: number; sync: boolean; binary: boolean } | null {
  let i = line.length - 1;
  if (i < 2 || line[i] !== 0x7d) return null; // '}'
  i--;
  const sync = line[i] !== 0x2b; // '+'
  if (!sync) i--;
  const endDigits = i + 1;
  while (i >= 0 && line[i]! >= 0x30 && line[i]! <= 0x39) i--;
  const digits = endDigits - (i + 1);
  if (digits === 0 || i < 0 || line[i] !== 0x7b) return null; // '{'
  const binary = i > 0 && line[i - 1] === 0x7e; // '~'
  const at = binary ? i - 1 : i;
  const size = digits > MAX_DIGITS ? Infinity : Number(line.toString('latin1', i + 1, endDigits));
  return { at, size, sync, binary };
}

export class ImapFramer extends BufferedInput implements Framer {
  private mode: Mode = 'line';
  private left = 0; // literal bytes still to come
  private literals = 0; // in the current command
  private commandBytes = 0;
  private maxLine: number;
  private readonly o: ImapFramerOptions;
  private pendingSize = 0; // of the synchronising literal waiting for an answer
  private zero = false; // a `{0}` literal's empty data frame is due

  constructor(o: ImapFramerOptions) {
    super();
    this.o = o;
    this.maxLine = o.maxLineLength;
  }

  private endCommand(): void {
    this.literals = 0;
    this.commandBytes = 0;
    this.mode = 'line';
  }

  private tooBig(limit: TooBigLimit, size: number, sync: boolean, text: Buffer): Frame {
    // a synchronising literal is never sent once refused; a non-synchronising one comes anyway
    if (sync) this.endCommand();
    else {
      this.literals = 0;
      this.commandBytes = 0;
      this.mode = 'skip';
      this.left = size;
    }
    return { kind: 'toobig', limit, sync, text, size };
  }

  next(): Frame | null {
    for (;;) {
      if (this.zero) {
        this.zero = false; // `{0}`: its one (empty) data frame comes before the next part
        this.mode = 'line';
        return { kind: 'data', chunk: NONE, last: true };
      }
      if (this.mode === 'wait') return null;
      const b = this.buf;
      if (b === null || b.length === 0) return null;
      if (this.mode === 'literal' || (this.mode === 'skip' && this.left > 0)) {
        const n = Math.min(this.left, b.length);
        this.left -= n;
        this.buf = n === b.length ? null : b.subarray(n);
        if (this.mode === 'skip') continue;
        if (this.left === 0) this.mode = 'line';
        return { kind: 'data', chunk: b.subarray(0, n), last: this.left === 0 };
      }
      const line = this.cutLine(this.maxLine);
      if (line === null) return null;
      if (line === 'toolong') {
        if (this.mode === 'skip') {
          this.mode = 'line'; // (a long line ends a skipped command too)
          continue;
        }
        this.endCommand();
        return TOOLONG;
      }
      const end = line.length;
      const m = marker(line);
      if (this.mode === 'skip') {
        // the rest of a refused command: its literals are dropped too, their size unchecked
        // (a synchronising literal: the client waits for a "+" that never comes)
        if (m === null || m.sync) this.mode = 'line';
        else this.left = m.size;
        continue;
      }
      if (m === null) {
        const over = this.literals > 0 && this.commandBytes + end > this.o.maxCommandBytes;
        this.endCommand();
        return over ? { kind: 'toobig', limit: 'command', sync: true, text: line, size: 0 } : { kind: 'line', line };
      }
      if (!(m.size <= this.o.maxLiteralBytes) || (!m.sync && !(m.size <= this.o.nonSyncMaxBytes))) return this.tooBig('literal', m.size, m.sync, line.subarray(0, m.at));
      if (this.literals + 1 > this.o.maxLiterals) return this.tooBig('count', m.size, m.sync, line.subarray(0, m.at));
      if (this.commandBytes + end + m.size > this.o.maxCommandBytes) return this.tooBig('command', m.size, m.sync, line.subarray(0, m.at));
      this.literals++;
      this.commandBytes += end + m.size;
      if (m.sync) {
        this.mode = 'wait';
        this.pendingSize = m.size;
      } else this.startLiteral(m.size);
      return { kind: 'literal', text: line.subarray(0, m.at), size: m.size, sync: m.sync, binary: m.binary };
    }
  }

  private startLiteral(size: number): void {
    this.left = size;
    this.mode = 'literal';
    this.zero = size === 0;
  }

  /** The dispatcher sent the continuation request (true) or refused the command (false). */
  literal(go: boolean): void {
    if (this.mode !== 'wait') return;
    if (go) this.startLiteral(this.pendingSize);
    else this.endCommand();
  }

  /** A line part is begun (or being dropped), or a refused command's literal is being
   * dropped. Not while a literal is read: its pace is the data-rate guard's, not the command
   * deadline's; nor while a synchronising literal waits for the server. */
  partial(): boolean {
    if (this.discarding || (this.mode === 'skip' && this.left > 0)) return true;
    return (this.mode === 'line' || this.mode === 'skip') && this.buf !== null && this.buf.length > 0;
  }

  clear(): void {
    this.buf = null;
    this.discarding = false;
    this.zero = false;
    this.left = 0;
    this.endCommand();
  }

  setMaxLineLength(n: number): void {
    this.maxLine = n;
  }
}
