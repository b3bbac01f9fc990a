/**
 * session/compress.ts: a socket seen through raw DEFLATE in both directions (RFC 1951 without
 * a zlib header, as IMAP COMPRESS=DEFLATE, RFC 4978, wants), for the line session's stream
 * transform upgrade (line-session.ts `upgrade(text, { wrap })`).
 *
 * Reading: the socket's bytes (and those already received before the switch) are inflated and
 * handed on as this stream's data. Backpressure holds end to end: when the reader does not
 * take the inflated data, the inflater and the socket under it pause, so a small compressed
 * input cannot inflate into an unbounded buffer. Bad compressed data destroys the stream.
 * Writing: each write is deflated and sent with a sync flush in the same tick (the client can
 * decode every reply as it arrives); when the socket under it is full, the deflater pauses
 * and writes here wait (this stream's writableLength grows, so the session's output bound sees
 * them). `end()` finishes the deflate stream, then ends the socket; `destroy()` destroys both.
 *
 * Exports: `DeflateSocket`, `deflateWrap` (the `StreamWrap` for the upgrade verdict).
 * Throws nothing (stream errors destroy the stream).
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import zlib from 'node:zlib';

export class DeflateSocket extends Duplex {
  private readonly under: Socket;
  private readonly inflate = zlib.createInflateRaw();
  private readonly deflate = zlib.createDeflateRaw();
  private flushQueued = false;

  constructor(under: Socket, buffered: Buffer | null) {
    super({ allowHalfOpen: true });
    this.under = under;
    const inf = this.inflate;
    const def = this.deflate;
    inf.on('data', (d: Buffer) => {
      if (!this.push(d)) {
        inf.pause();
        under.pause();
      }
    });
    inf.on('end', () => this.push(null));
    inf.on('error', (e) => this.destroy(e));
    def.on('data', (d: Buffer) => {
      if (under.destroyed) return;
      if (!under.write(d)) {
        def.pause();
        under.once('drain', () => def.resume());
      }
    });
    def.on('error', (e) => this.destroy(e));
    under.on('data', (chunk: Buffer) => inf.write(chunk));
    under.on('end', () => inf.end());
    under.on('close', () => this.destroy());
    if (buffered !== null && buffered.length > 0) inf.write(Buffer.from(buffered));
  }

  override _read(): void {
    this.inflate.resume();
    this.under.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.deflate.write(chunk, () => cb());
    this.queueFlush();
  }

  /** The writes made while the deflater was busy, as one (a FETCH of many messages). */
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (e?: Error | null) => void): void {
    this.deflate.write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), () => cb());
    this.queueFlush();
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // one sync flush after the writes of this tick (a reply written in pieces is one flush)
    setImmediate(() => {
      this.flushQueued = false;
      if (!this.deflate.destroyed) this.deflate.flush(zlib.constants.Z_SYNC_FLUSH);
    });
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.deflate.once('end', () => {
      if (!this.under.destroyed) this.under.end();
      cb();
    });
    this.deflate.end();
  }

  override _destroy(e: Error | null, cb: (e?: Error | null) => void): void {
    this.inflate.destroy();
    this.deflate.destroy();
    this.under.destroy();
    cb(e);
  }
}

/** The line session's `StreamWrap` for COMPRESS DEFLATE. */
export function deflateWrap(socket: Socket, buffered: Buffer | null): Socket {
  return new DeflateSocket(socket, buffered) as unknown as Socket;
}
