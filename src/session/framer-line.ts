/**
 * session/framer-line.ts: the line framer (SMTP, POP3, FTP): input cut at LF, a CR before it
 * dropped. A line longer than `maxLineLength` (without its CRLF) is dropped as it streams (the
 * buffer never holds more than the limit and one received chunk) and reported once, at its LF,
 * as `toolong`.
 *
 * This is the hot path of every line protocol: one `indexOf(LF)` per line over the received
 * chunk, one subarray per line, a concat only when a line spans chunks.
 *
 * Exports: `LineFramer`. Throws nothing.
 */
import { BufferedInput, type Frame, type Framer } from './framer.ts';

const TOOLONG: Frame = Object.freeze({ kind: 'toolong' });

export class LineFramer extends BufferedInput implements Framer {
  private maxLine: number;

  constructor(maxLineLength: number) {
    super();
    this.maxLine = maxLineLength;
  }

  next(): Frame | null {
    const l = this.cutLine(this.maxLine);
    return l === null ? null : l === 'toolong' ? TOOLONG : { kind: 'line', line: l };
  }

  partial(): boolean {
    return this.discarding || (this.buf !== null && this.buf.length > 0);
  }

  clear(): void {
    this.buf = null;
    this.discarding = false;
  }

  setMaxLineLength(n: number): void {
    this.maxLine = n;
  }
}
