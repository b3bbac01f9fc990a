/**
 * protocols/smtp/data.ts: the message text of DATA and BDAT, collected with a byte cap.
 *
 * `DotDecoder` reads DATA's dot-stuffed text as it streams in (RFC 5321 §4.1.1.4, §4.5.2):
 * only CRLF "." CRLF ends it; a leading dot is removed from a line that follows a CRLF. A bare
 * LF (one without its CR) is remembered: the session rejects such a message unless configured
 * otherwise (SMTP smuggling: "\n.\n", "\n.\r\n" and "\r\n.\n" never end the text here, and with
 * the default they get the message refused). A bare CR (one not followed by LF) is kept as data
 * and remembered the same way (`bareCr`: "\r.\r\n", "\r\n.\r", "\r.\r" must never reach a
 * later relay, whose receiver might read a CR as a line end). Line length does not
 * matter: nothing is split into lines, so a long line costs no memory. Past `limit` bytes the
 * text is no longer kept (`overflow`), but it is still read to its end, so the session can
 * answer 552 and carry on.
 *
 * `ChunkCollector` gathers BDAT chunks (no stuffing) with the same cap, and remembers a bare LF
 * or a bare CR across chunk edges (a BINARYMIME body is binary: it does not look).
 * `countReceived(body)` counts the `Received:` fields of the header section.
 * Both collect into a 16 KiB scratch buffer taken from a small per-thread free list and given
 * back when the text is taken (copied out to a buffer of its exact size), so a message costs one
 * allocation, not two.
 *
 * Exports: `DotDecoder`, `ChunkCollector`, `countReceived`. Throws nothing.
 */

const SOL = 0; // at the start of a line that followed CRLF (or the first line)
const DOT = 1; // saw "." at SOL
const DOTCR = 2; // saw ".\r" at SOL
const MID = 3;
const CR = 4; // saw "\r" (held back)
const SOLLF = 5; // at the start of a line that followed a bare LF: no dot handling

const SCRATCH_BYTES = 16384;
const SPARE_MAX = 16;
/** Scratch buffers of SCRATCH_BYTES no Output holds (this thread's). */
const spare: Buffer[] = [];

class Output {
  private acc: Buffer;
  /** `acc` is a scratch buffer, to go back to `spare` once done with. */
  private scratch: boolean;
  n = 0;
  overflow = false;
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
    this.scratch = limit >= SCRATCH_BYTES;
    this.acc = this.scratch ? (spare.pop() ?? Buffer.allocUnsafeSlow(SCRATCH_BYTES)) : Buffer.allocUnsafeSlow(limit);
  }

  private release(): void {
    if (this.scratch && spare.length < SPARE_MAX) spare.push(this.acc);
    this.scratch = false;
  }

  room(extra: number): boolean {
    if (this.n + extra > this.limit) {
      this.overflow = true;
      return false;
    }
    if (this.n + extra > this.acc.length) {
      const next = Buffer.allocUnsafeSlow(Math.min(this.limit, Math.max(this.acc.length * 2, this.n + extra)));
      this.acc.copy(next, 0, 0, this.n);
      this.release();
      this.acc = next;
    }
    return true;
  }

  byte(c: number): void {
    if (this.n < this.acc.length) this.acc[this.n++] = c;
    else if (this.room(1)) this.acc[this.n++] = c;
  }

  range(b: Buffer, from: number, to: number): void {
    const len = to - from;
    if (len > 0 && this.room(len)) {
      b.copy(this.acc, this.n, from, to);
      this.n += len;
    }
  }

  bytes(b: Buffer): void {
    if (this.room(b.length)) {
      b.copy(this.acc, this.n);
      this.n += b.length;
    }
  }

  /** The text, in a buffer of its own (its ArrayBuffer can be transferred). */
  take(): Buffer {
    if (this.n === this.acc.length) {
      this.scratch = false; // given away
      return this.acc;
    }
    const out = Buffer.allocUnsafeSlow(this.n);
    this.acc.copy(out, 0, 0, this.n);
    this.release();
    this.acc = out; // a second take gets the same buffer
    return out;
  }
}

export class DotDecoder {
  private st = SOL;
  private readonly out: Output;
  bareLf = false;
  bareCr = false;
  ended = false;

  constructor(limit: number) {
    this.out = new Output(limit);
  }

  get overflow(): boolean {
    return this.out.overflow;
  }

  get size(): number {
    return this.out.n;
  }

  /** Take `chunk`; returns -1 if the text goes on, else how many of its bytes the text used.
   * Whole lines are copied at once (indexOf to the next LF); the state machine only runs at
   * line starts and chunk edges. */
  feed(chunk: Buffer): number {
    const out = this.out;
    const n = chunk.length;
    let st = this.st;
    let i = 0;
    while (i < n) {
      switch (st) {
        case MID: {
          const lf = chunk.indexOf(10, i);
          if (lf < 0) {
            const end = chunk[n - 1] === 13 ? n - 1 : n; // a CR at the edge may start a CRLF
            this.crIn(chunk, i, end);
            out.range(chunk, i, end);
            st = end < n ? CR : MID;
            i = n;
          } else if (lf > i && chunk[lf - 1] === 13) {
            this.crIn(chunk, i, lf - 1);
            out.range(chunk, i, lf + 1);
            st = SOL;
            i = lf + 1;
          } else {
            this.crIn(chunk, i, lf);
            out.range(chunk, i, lf + 1); // a bare LF ends this line
            this.bareLf = true;
            st = SOLLF;
            i = lf + 1;
          }
          break;
        }
        case SOL:
          if (chunk[i] === 46) {
            st = DOT;
            i++;
          } else st = MID;
          break;
        case DOT:
          if (chunk[i] === 13) {
            st = DOTCR;
            i++;
          } else st = MID; // the stuffed dot is dropped
          break;
        case DOTCR:
          if (chunk[i] === 10) {
            this.ended = true;
            this.st = SOL;
            return i + 1;
          }
          out.byte(13); // "." CR x: the dot was stuffing, the CR is data (bare)
          this.bareCr = true;
          st = MID;
          break;
        case CR:
          if (chunk[i] === 10) {
            out.byte(13);
            out.byte(10);
            st = SOL;
            i++;
          } else {
            out.byte(13); // a bare CR is data
            this.bareCr = true;
            st = MID;
          }
          break;
        default: // SOLLF: no dot handling after a bare LF
          st = MID;
      }
    }
    this.st = st;
    return -1;
  }

  /** Note a CR in chunk[from, to): none there may end a line. */
  private crIn(chunk: Buffer, from: number, to: number): void {
    if (this.bareCr || to <= from) return;
    // a CRLF line (the usual case): the line's own CR at `to` bounds the search
    const at = chunk[to] === 13 ? chunk.indexOf(13, from) : chunk.subarray(from, to).indexOf(13);
    if (chunk[to] === 13 ? at < to : at >= 0) this.bareCr = true;
  }

  body(): Buffer {
    return this.out.take();
  }
}

export class ChunkCollector {
  private readonly out: Output;
  private readonly binary: boolean;
  private last = -1; // the previous chunk's last byte
  private crSeen = false;
  bareLf = false;

  constructor(limit: number, binary = false) {
    this.out = new Output(limit);
    this.binary = binary;
  }

  get overflow(): boolean {
    return this.out.overflow;
  }

  get size(): number {
    return this.out.n;
  }

  add(chunk: Buffer): void {
    if (!this.binary && chunk.length > 0) this.lineEnds(chunk);
    this.out.bytes(chunk);
  }

  /** Every LF must follow a CR and every CR precede an LF, across chunk edges too. */
  private lineEnds(chunk: Buffer): void {
    if (this.last === 13 && chunk[0] !== 10) this.crSeen = true;
    for (let i = chunk.indexOf(10); i >= 0 && !this.bareLf; i = chunk.indexOf(10, i + 1)) {
      if ((i > 0 ? chunk[i - 1] : this.last) !== 13) this.bareLf = true;
    }
    for (let i = chunk.indexOf(13); i >= 0 && !this.crSeen; i = chunk.indexOf(13, i + 1)) {
      if (i + 1 < chunk.length && chunk[i + 1] !== 10) this.crSeen = true;
    }
    this.last = chunk[chunk.length - 1]!;
  }

  /** Read at the end of the text, where a CR as the last byte was bare too. */
  get bareCr(): boolean {
    return this.crSeen || this.last === 13;
  }

  body(): Buffer {
    return this.out.take();
  }
}

const RECEIVED = Buffer.from('received:');

/** How many `Received:` fields the header section (up to the first empty line) holds. */
export function countReceived(body: Buffer): number {
  let n = 0;
  let i = 0;
  while (i < body.length) {
    if (body[i] === 13 && body[i + 1] === 10) break; // the empty line
    if (body[i] === 10) break;
    if (body.length - i >= RECEIVED.length) {
      let match = true;
      for (let k = 0; k < RECEIVED.length; k++) {
        const c = body[i + k]!;
        if ((c >= 65 && c <= 90 ? c + 32 : c) !== RECEIVED[k]) {
          match = false;
          break;
        }
      }
      if (match) n++;
    }
    const lf = body.indexOf(10, i);
    if (lf < 0) break;
    i = lf + 1;
  }
  return n;
}
