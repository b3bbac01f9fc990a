/**
 * protocols/pop3/body.ts: sending a stored body as a POP3 multi-line response, straight from
 * its segment file, without holding more than one chunk of it.
 *
 * - `SegmentFiles`: this thread's open segment files, reference-counted by the sessions that
 *   read them (a session's snapshot pins its segments in the store, so a file cannot be
 *   deleted while a session holds it); a file nobody holds is closed after a short linger.
 * - `sendBody`: reads the body (synchronous pread, see readFully) in chunks of at most CHUNK
 *   bytes, optionally cuts it after the header and `topLines` body lines (TOP), dot-stuffs
 *   lines that begin with ".", writes each chunk (corked: one write) and waits for the socket
 *   to drain before reading the next (backpressure), the terminating "." with the last one.
 *   A body of one chunk is read and checked against its crc32 before the first byte is sent;
 *   a larger one is checked as it streams, and a mismatch drops the connection before its
 *   last chunk and the terminator, so a damaged body is never taken for a whole one.
 * - `writeOut(socket, data)`: write and wait for drain when the socket's buffer is full.
 *
 * Exports: `SegmentFiles`, `segmentFiles` (this thread's), `sendBody`, `writeOut`,
 * `BodyRef`, `SendResult`, `DotStuffer`, `TopCut`. Rejects: STORE_IO (a read failed),
 * STORE_CORRUPT (a short file).
 */
import fs from 'node:fs';
import type { Socket } from 'node:net';
import { crc32 } from 'node:zlib';
import { PosternError } from '../../errors.ts';

const CHUNK = 64 * 1024;
const SMALL = CHUNK;
const LINGER_MS = 2000;
const DOT = Buffer.from('.');
const END = Buffer.from('.\r\n');
const CRLF_END = Buffer.from('\r\n.\r\n');

export class SegmentFiles {
  private readonly files = new Map<string, { fd: Promise<number>; refs: number; timer: NodeJS.Timeout | null }>();

  acquire(path: string): Promise<number> {
    let f = this.files.get(path);
    if (f === undefined) {
      const fd = new Promise<number>((resolve, reject) => fs.open(path, 'r', (e, n) => (e !== null ? reject(new PosternError('STORE_IO', `cannot open a segment: ${e.message}`)) : resolve(n))));
      const entry = { fd, refs: 0, timer: null };
      fd.catch(() => {
        if (this.files.get(path) === entry) this.files.delete(path);
      });
      f = entry;
      this.files.set(path, f);
    }
    if (f.timer !== null) {
      clearTimeout(f.timer);
      f.timer = null;
    }
    f.refs++;
    return f.fd;
  }

  release(path: string): void {
    const f = this.files.get(path);
    if (f === undefined || --f.refs > 0) return;
    f.timer = setTimeout(() => {
      if (f.refs > 0 || this.files.get(path) !== f) return;
      this.files.delete(path);
      f.fd.then((fd) => fs.close(fd, () => {}), () => {});
    }, LINGER_MS);
    f.timer.unref();
  }

  get open(): number {
    return this.files.size;
  }
}

export const segmentFiles = new SegmentFiles();

/** pread, synchronously: at most CHUNK bytes of a file that was just written or read, so from
 * the page cache this costs ~2 µs, where a read through the libuv pool costs ~30 µs of CPU in
 * thread hand-offs (a cold read blocks this thread for one disk read). */
function readFully(fd: number, buf: Buffer, length: number, position: number): void {
  let got = 0;
  while (got < length) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, got, length - got, position + got);
    } catch (e) {
      throw new PosternError('STORE_IO', `reading a body: ${(e as Error).message}`);
    }
    if (n === 0) throw new PosternError('STORE_CORRUPT', `short body at ${position}`);
    got += n;
  }
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

export interface BodyRef {
  fd: number;
  offset: number;
  length: number;
  crc: number;
}

export type SendResult = 'sent' | 'closed' | 'corrupt';

/**
 * Send `head` (the +OK line), the body (cut by TOP when `topLines` is a number), and ".".
 * 'corrupt' before anything was written: the caller answers -ERR; 'corrupt' after: the
 * socket has been destroyed. A read error rejects; if part of the body was already sent, the
 * socket has been destroyed first.
 */
export async function sendBody(getSocket: () => Socket, head: string, b: BodyRef, topLines: number | null): Promise<SendResult> {
  const stuffer = new DotStuffer();
  const top = topLines === null ? null : new TopCut(topLines);
  if (b.length <= SMALL) {
    const buf = Buffer.allocUnsafe(b.length);
    readFully(b.fd, buf, b.length, b.offset);
    if (crc32(buf) >>> 0 !== b.crc >>> 0) return 'corrupt';
    const parts: Buffer[] = [];
    stuffer.stuff(top === null ? buf : top.cut(buf).out, parts);
    const socket = getSocket();
    if (socket.destroyed) return 'closed';
    socket.cork();
    socket.write(head);
    for (const p of parts) socket.write(p);
    const ok = socket.write(stuffer.end());
    socket.uncork();
    if (!ok && !(await drained(socket))) return 'closed';
    return 'sent';
  }
  if (!(await writeOut(getSocket(), head))) return 'closed';
  try {
    return await streamLarge(getSocket, b, stuffer, top);
  } catch (e) {
    // part of the body is out: the response cannot be finished, so the connection ends
    getSocket().destroy();
    throw e;
  }
}

async function streamLarge(getSocket: () => Socket, b: BodyRef, stuffer: DotStuffer, top: TopCut | null): Promise<SendResult> {
  let crc = 0;
  let pos = 0;
  for (;;) {
    const n = Math.min(CHUNK, b.length - pos);
    // a fresh buffer per chunk: the previous one may still sit in the socket's queue
    const chunk = Buffer.allocUnsafe(n);
    readFully(b.fd, chunk, n, b.offset + pos);
    crc = crc32(chunk, crc);
    pos += n;
    let piece: Buffer = chunk;
    let cut = false;
    if (top !== null) ({ out: piece, done: cut } = top.cut(chunk));
    const last = cut || pos >= b.length;
    // the whole body has been read: check it before its last bytes go out
    if (last && !cut && crc >>> 0 !== b.crc >>> 0) {
      getSocket().destroy();
      return 'corrupt';
    }
    const parts: Buffer[] = [];
    stuffer.stuff(piece, parts);
    if (last) parts.push(stuffer.end());
    const socket = getSocket();
    if (socket.destroyed) return 'closed';
    socket.cork();
    let ok = true;
    for (const p of parts) ok = socket.write(p);
    socket.uncork();
    if (!ok && !(await drained(socket))) return 'closed';
    if (last) return 'sent';
  }
}
