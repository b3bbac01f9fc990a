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
  private discarding = false;
  private maxLine: number;

  constructor(maxLineLength: number) {
    super();
    this.maxLine = maxLineLength;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf === null || this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  next(): Frame | null {
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
      return TOOLONG;
    }
    if (lf < 0) {
      if (b.length > this.maxLine + 1) { // (+1: room for the CR of a line of exactly the limit)
        this.discarding = true;
        this.buf = null;
      }
      return null;
    }
    const end = lf > 0 && b[lf - 1] === 13 ? lf - 1 : lf;
    this.buf = b.subarray(lf + 1);
    if (end > this.maxLine) return TOOLONG;
    return { kind: 'line', line: b.subarray(0, end) };
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
