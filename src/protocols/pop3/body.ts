/**
 * protocols/pop3/body.ts: sending a stored body as a POP3 multi-line response, read through the
 * store's body reader (src/store/bodies.ts) without holding more than one chunk of it.
 *
 * - `sendBody`: pulls the body from the session's `BodyReader` in chunks of at most CHUNK
 *   bytes (synchronous pread: bodies just delivered are in the page cache), optionally cuts it
 *   after the header and `topLines` body lines (TOP), dot-stuffs lines that begin with ".",
 *   writes each chunk and waits for the socket to drain before pulling the next
 *   (backpressure), the terminating "." with the last one. The writes are corked until the end
 *   of the tick: the responses to pipelined RETRs answered in the same tick go out in one write. The reader checks the crc32
 *   before it yields the last chunk: a body of one chunk is checked before the first byte is
 *   sent (the caller answers -ERR); a larger one that fails drops the connection before its
 *   last chunk and the terminator, so a damaged body is never taken for a whole one.
 * - `writeOut(socket, data)`: write and wait for drain when the socket's buffer is full.
 *
 * Exports: `sendBody`, `writeOut`, `SendResult`, `DotStuffer`, `TopCut`. Rejects: STORE_IO (a
 * read failed; if part of the body was sent, the socket has been destroyed first).
 */
import type { Socket } from 'node:net';
import { BODY_CHUNK_BYTES, type BodyReader } from '../../store/bodies.ts';
import type { Locator } from '../../store/types.ts';

const CHUNK = BODY_CHUNK_BYTES;
const DOT = Buffer.from('.');
const END = Buffer.from('.\r\n');
const CRLF_END = Buffer.from('\r\n.\r\n');

/** Sockets corked until the end of the current tick (`corkForTick`). */
const corked = new WeakSet<Socket>();

function uncorkTick(socket: Socket): void {
  corked.delete(socket);
  socket.uncork();
}

/** Hold `socket`'s writes until the current tick's work is done: the responses to pipelined
 * commands that are answered without waiting for I/O (RETRs of bodies in the page cache) go
 * out in one write instead of one each (fewer syscalls here and fewer wake-ups of the client). */
function corkForTick(socket: Socket): void {
  if (corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  process.nextTick(uncorkTick, socket);
}

/** Resolves true once `socket` can take more (false if it closed first). */
function drained(socket: Socket): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(false);
  if (!socket.writableNeedDrain) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

/** Write and, if the socket's buffer is full, wait for it to drain. False: the socket is gone. */
export async function writeOut(socket: Socket, data: string | Buffer): Promise<boolean> {
  if (socket.destroyed || socket.writableEnded) return false;
  if (socket.write(data)) return true;
  return drained(socket);
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
export async function sendBody(getSocket: () => Socket, head: string, reader: BodyReader, loc: Locator, topLines: number | null): Promise<SendResult> {
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
        if (started) getSocket().destroy();
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
      const socket = getSocket();
      if (socket.destroyed) return 'closed';
      corkForTick(socket);
      if (!started) socket.write(head);
      started = true;
      let ok = true;
      for (const p of parts) ok = socket.write(p);
      if (!ok && !(await drained(socket))) return 'closed';
      if (last) return 'sent';
    }
  } catch (e) {
    // part of the body is out: the response cannot be finished, so the connection ends
    if (started) getSocket().destroy();
    throw e;
  } finally {
    void chunks.return(undefined);
  }
}
