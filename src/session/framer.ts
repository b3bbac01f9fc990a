/**
 * session/framer.ts: the contract between a framer (how a protocol's input is cut into frames)
 * and the one dispatcher that handles them (session/line-session.ts). A framer owns the bytes
 * received and not yet handed on, and keeps them bounded; it never writes to the socket and
 * never decides a reply (except `reply` frames, bytes the framing itself must answer).
 *
 * Framers: `LineFramer` (framer-line.ts: CRLF or LF lines, SMTP, POP3, FTP), `ImapFramer`
 * (framer-imap.ts: lines with `{n}` / `{n+}` literals, RFC 9051, RFC 7888), `TelnetFramer`
 * (framer-telnet.ts: lines with telnet option negotiation stripped and refused, RFC 854/855).
 *
 * Frames, in input order:
 *   line      a complete line, without its CRLF (IMAP: the last part of a command)
 *   toolong   a line over the line limit ended; its bytes were dropped as they came
 *   literal   IMAP: a command part that announces a literal of `size` bytes (`text`: the part
 *             before the `{`). `sync`: the client waits for a continuation request; the
 *             dispatcher answers `framer.literal(true)` (send "+ …") or `literal(false)` (refuse)
 *   data      IMAP: literal bytes, in chunks as they arrived; `last` on the final chunk
 *   toobig    IMAP: a literal over a limit (`limit`: its size, the literals per command, or the
 *             whole command); the framer drops that command's remaining input itself
 *   reply     bytes the framing answers on its own (telnet: refusals of options)
 *
 * The raw access (`raw`, `skip`) serves the dispatcher's byte modes (SMTP DATA, BDAT), which
 * read the buffered input as it is, and `clear` drops it all (STARTTLS).
 *
 * Exports: `Frame`, `Framer`, `TooBigLimit`, `BufferedInput` (the received-bytes buffer, its raw
 * access and the line cutter, shared by the line and IMAP framers). Throws nothing.
 */

export type TooBigLimit = 'literal' | 'count' | 'command';

export type Frame =
  | { readonly kind: 'line'; readonly line: Buffer }
  | { readonly kind: 'toolong' }
  | { readonly kind: 'literal'; readonly text: Buffer; readonly size: number; readonly sync: boolean; readonly binary: boolean }
  | { readonly kind: 'data'; readonly chunk: Buffer; readonly last: boolean }
  /** `text`: the part before the literal marker (the whole line for 'command' at a last part);
   * `size`: the literal's announced size (0 for 'command' at a last part). */
  | { readonly kind: 'toobig'; readonly limit: TooBigLimit; readonly sync: boolean; readonly text?: Buffer; readonly size?: number }
  | { readonly kind: 'reply'; readonly bytes: Buffer };

export interface Framer {
  /** Append received bytes. Frames are taken with `next`. */
  push(chunk: Buffer): void;
  /** The next whole frame, or null when more input is needed (or the framer waits for the
   * dispatcher's answer to a synchronising literal). */
  next(): Frame | null;
  /** Part of a frame is buffered or being dropped: the command deadline runs. */
  partial(): boolean;
  /** Bytes buffered, not yet framed. */
  buffered(): number;
  /** The buffered bytes as they are (null: none), for the dispatcher's byte modes. */
  raw(): Buffer | null;
  /** Consume `n` bytes of `raw()`. */
  skip(n: number): void;
  /** Drop everything buffered and any frame in progress (STARTTLS: pipelined plaintext). */
  clear(): void;
  setMaxLineLength(n: number): void;
  /** The dispatcher's answer to a synchronising literal (`literal` frame with `sync`): read it
   * (true) or the command is refused and the client sends nothing more for it (false). */
  literal?(go: boolean): void;
}

/** The bytes received and not yet framed, with the raw access of the byte modes and the one
 * line cutter (`cutLine`); a framer extends it and cuts frames from `buf`. */
export abstract class BufferedInput {
  protected buf: Buffer | null = null;
  /** A line over the limit is being dropped as it streams. */
  protected discarding = false;

  push(chunk: Buffer): void {
    this.buf = this.buf === null || this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** The next line (cut at LF, a CR before it dropped), 'toolong' at the LF of a line over
   * `maxLine` (its bytes dropped as they came: the buffer never holds more than the limit and
   * one received chunk), or null when more input is needed. One `indexOf(LF)` per call, one
   * subarray per line. */
  protected cutLine(maxLine: number): Buffer | 'toolong' | null {
    const b = this.buf;
    if (b === null || b.length === 0) return null;
    const lf = b.indexOf(10);
    if (this.discarding) {
      if (lf < 0) {
        this.buf = null;
        return null;
      }
      this.discarding = false;
      this.buf = b.subarray(lf + 1);
      return 'toolong';
    }
    if (lf < 0) {
      if (b.length > maxLine + 1) { // (+1: room for the CR of a line of exactly the limit)
        this.discarding = true;
        this.buf = null;
      }
      return null;
    }
    const end = lf > 0 && b[lf - 1] === 13 ? lf - 1 : lf;
    this.buf = b.subarray(lf + 1);
    return end > maxLine ? 'toolong' : b.subarray(0, end);
  }

  buffered(): number {
    return this.buf?.length ?? 0;
  }

  raw(): Buffer | null {
    return this.buf === null || this.buf.length === 0 ? null : this.buf;
  }

  skip(n: number): void {
    if (this.buf !== null) this.buf = n >= this.buf.length ? null : this.buf.subarray(n);
  }
}
