/**
 * protocols/pop3/body.ts: sending a stored body as a POP3 multi-line response, read through the
 * store's body reader (src/store/bodies.ts) without holding more than one chunk of it.
 *
 * - `sendBody`: pulls the body from the session's `BodyReader` in chunks of at most CHUNK
 *   bytes (synchronous pread: bodies just delivered are in the page cache), optionally cuts it
 *   after the header and `topLines` body lines (TOP), dot-stuffs lines that begin with ".",
 *   writes each chunk through the session's writer (`ResponseOut`: its batch, so the head, the
 *   body and the responses to pipelined RETRs leave in one write) and waits for the socket to
 *   drain before pulling the next when its buffer is full (backpressure), the terminating "."
 *   with the last one. The reader checks the crc32
 *   before it yields the last chunk: a body of one chunk is checked before the first byte is
 *   sent (the caller answers -ERR); a larger one that fails drops the connection before its
 *   last chunk and the terminator, so a damaged body is never taken for a whole one.
 * - `writeOut(out, data)`: write and wait for drain when the socket's buffer is full.
 *
 * Exports: `sendBody`, `writeOut`, `ResponseOut`, `SendResult`, `DotStuffer`, `TopCut`. Rejects: STORE_IO (a
 * read failed; if part of the body was sent, the socket has been destroyed first).
 */
import type { Socket } from 'node:net';
import { BODY_CHUNK_BYTES, type BodyReader } from '../../store/bodies.ts';
import type { Locator } from '../../store/types.ts';

const CHUNK = BODY_CHUNK_BYTES;
const DOT = Buffer.from('.');
const END = Buffer.from('.\r\n');
const CRLF_END = Buffer.from('\r\n.\r\n');

/** Where a response is written: the session (LineSession) or its writer (SessionWriter). */
export interface ResponseOut {
  readonly socket: Socket;
  /** Into the session's write batch; false: the socket's buffer is full (or it is gone). */
  write(data: string | Buffer): boolean;
  /** Flush the batch; true once the socket can take more, false if it closed. */
  drain(): Promise<boolean>;
}

/** Write and, if the socket's buffer is full, wait for it to drain. False: the socket is gone. */
export async function writeOut(out: ResponseOut, data: string | Buffer): Promise<boolean> {
  const sock = out.socket;
  if (sock.destroyed || sock.writableEnded) return false;
  if (out.write(data)) return true;
  return out.drain();
}

/** Byte-stuffing of lines that begin with "." (RFC 1939 §3), across chunk boundaries. */
export class DotStuffer {
  atLineStart = true;
  lastByte = -1;

  stuff(chunk: Buffer, out: Buffer[]): void {
    if (chunk.length === 0) return;
    let start = 0;
    if (this.atLineStart && chunk[0] === 0x2e) out.push(DOT);
    let i = chunk.indexOf('\n.');
    while (i >= 0) {
      out.push(chunk.subarray(start, i + 1), DOT);
      start = i + 1;
      i = chunk.indexOf('\n.', start);
    }
    out.push(start === 0 ? chunk : chunk.subarray(start));
    this.lastByte = chunk[chunk.length - 1]!;
    this.atLineStart = this.lastByte === 0x0a;
  }

  /** The terminator: ".", on a line of its own. */
  end(): Buffer {
    return this.lastByte === -1 || this.lastByte === 0x0a ? END : CRLF_END;
  }
}

/** TOP: the header, the blank line, then `lines` lines of the body. */
export class TopCut {
  private inHeader = true;
  private cur: 0 | 1 | 2 = 0; // the current header line so far: empty, one CR, other bytes
  private remaining: number;

  constructor(lines: number) {
    this.remaining = lines;
  }

  private seen(piece: Buffer, from: number, to: number): void {
    const n = to - from;
    if (n === 0) return;
    this.cur = this.cur === 0 && n === 1 && piece[from] === 13 ? 1 : 2;
  }

  /** The part of `chunk` to send; `done` once the cut is reached. */
  cut(chunk: Buffer): { out: Buffer; done: boolean } {
    let i = 0;
    while (i <= chunk.length) {
      if (!this.inHeader) {
        while (this.remaining > 0) {
          const lf = chunk.indexOf(10, i);
          if (lf < 0) return { out: chunk, done: false };
          i = lf + 1;
          this.remaining--;
        }
        return { out: chunk.subarray(0, i), done: true };
      }
      const lf = chunk.indexOf(10, i);
      if (lf < 0) {
        this.seen(chunk, i, chunk.length);
        return { out: chunk, done: false };
      }
      this.seen(chunk, i, lf);
      const blank = this.cur !== 2;
      this.cur = 0;
      i = lf + 1;
      if (blank) this.inHeader = false;
    }
    return { out: chunk, done: false };
  }
}

export type SendResult = 'sent' | 'closed' | 'corrupt';

/**
 * Send `head` (the +OK line), the body (cut by TOP when `topLines` is a number), and ".".
 * 'corrupt' before anything was written: the caller answers -ERR; 'corrupt' after: the
 * socket has been destroyed. A read error rejects; if part of the body was already sent, the
 * socket has been destroyed first.
 */
export async function sendBody(out: ResponseOut, head: string, reader: BodyReader, loc: Locator, topLines: number | null): Promise<SendResult> {
  const stuffer = new DotStuffer();
  const top = topLines === null ? null : new TopCut(topLines);
  let started = false; // the head is out
  const chunks = reader.chunks(loc, { chunkBytes: CHUNK, sync: true });
  let pos = 0;
  try {
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (e) {
        if ((e as { code?: string }).code !== 'STORE_CORRUPT') throw e;
        if (started) out.socket.destroy();
        return 'corrupt';
      }
      const chunk = next.done === true ? Buffer.alloc(0) : next.value; // done: an empty body
      pos += chunk.length;
      let piece: Buffer = chunk;
      let cut = false;
      if (top !== null) ({ out: piece, done: cut } = top.cut(chunk));
      const last = cut || pos >= loc.length || next.done === true;
      const parts: Buffer[] = [];
      stuffer.stuff(piece, parts);
      if (last) parts.push(stuffer.end());
      if (out.socket.destroyed) return 'closed';
      if (!started) out.write(head);
      started = true;
      let ok = true;
      for (const p of parts) ok = out.write(p);
      if (!ok && !(await out.drain())) return 'closed';
      if (last) return 'sent';
    }
  } catch (e) {
    // part of the body is out: the response cannot be finished, so the connection ends
    if (started) out.socket.destroy();
    throw e;
  } finally {
    void chunks.return(undefined);
  }
}
