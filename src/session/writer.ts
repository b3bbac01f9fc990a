/**
 * session/writer.ts: the one writer of a session's socket (reply lines and bodies alike), its
 * write batch, and the output bound (issue 11's `maxPendingOutput`).
 *
 * - Batch: the first write of a tick corks the socket; the batch is flushed (one write, one
 *   `writev`, one segment) at the end of the tick, unless the session still answers commands
 *   that arrived together (`holdBatch`: SMTP and POP3 pipelining), in which case the session
 *   flushes it once they are answered (`flush`). A batch never waits for more input, and it is
 *   flushed before anything waits for the socket (`drain`, a hold) and before a close or a TLS
 *   upgrade (the session's `flush`). `writeLast` writes the last piece of a batch and flushes
 *   it; with no batch open it is one direct `socket.write` (a lone reply: no cork at all).
 * - Bound: when the socket's unsent output passes `maxPendingOutputBytes`, the writer is
 *   `blocked` and tells the session (`onHold`: stop reading and dispatching) until the socket
 *   drains (`onRelease`). A client that does not drain within `holdTimeoutMs()` (the
 *   listener's idle timeout, capped in stress mode) is stuck (`onStuck`: the session ends) and
 *   its socket destroyed: it reads nothing, so a farewell or a FIN would only queue.
 *
 * After a STARTTLS the session points `socket` at the TLS socket; a hold in progress waits on
 * the socket it began on, and an open batch is flushed on the socket it corked.
 *
 * Exports: `SessionWriter`, `SessionWriterOptions`. Throws nothing.
 */
import type { Socket } from 'node:net';

/** The hooks are called as methods of the options object (a class instance may be it). */
export interface SessionWriterOptions {
  socket: Socket;
  maxPendingOutputBytes: number;
  /** How long a blocked client may take to drain (≤ 0 or Infinity: no limit). */
  holdTimeoutMs: () => number;
  onHold: () => void;
  onRelease: () => void;
  onStuck: () => void;
  /** At the end of a tick: are replies to commands that arrived together still to come? Then
   * the batch stays open until the session's `flush` (default: never held). */
  holdBatch?: () => boolean;
}

/** The end of the tick in which a batch was opened (one function: no closure per batch). */
function endOfTick(w: SessionWriter): void {
  w.tickEnd();
}

export class SessionWriter {
  socket: Socket;
  /** Unsent output passed the bound: waiting for 'drain'. */
  blocked = false;
  private closed = false;
  private waiters: Array<() => void> | null = null; // (made on the first hold)
  private readonly o: SessionWriterOptions;
  private batch: Socket | null = null; // the socket corked by the open batch
  private tickArmed = false; // endOfTick is scheduled

  constructor(o: SessionWriterOptions) {
    this.o = o;
    this.socket = o.socket;
  }

  /** Write `data` into the batch (opened, the socket corked, if none is); false if the socket
   * is gone or its buffer is full. */
  write(data: string | Buffer): boolean {
    const sock = this.socket;
    if (this.closed || sock.destroyed || sock.writableEnded) return false;
    if (this.batch === null) {
      this.batch = sock;
      sock.cork();
      if (!this.tickArmed) {
        this.tickArmed = true;
        process.nextTick(endOfTick, this);
      }
    }
    const ok = sock.write(data);
    if (!ok && !this.blocked && sock.writableLength > this.o.maxPendingOutputBytes) {
      // the batch is past the bound: it leaves now, and whatever the kernel does not take is
      // the unsent output the bound is about
      this.flush();
      if (sock.writableLength > this.o.maxPendingOutputBytes) this.hold(sock);
    }
    return ok;
  }

  /** Write `data` as the last piece of the batch and flush it; with no batch open, one direct
   * write. False as `write`. */
  writeLast(data: string | Buffer): boolean {
    if (this.batch !== null) {
      const ok = this.write(data);
      this.flush();
      return ok;
    }
    const sock = this.socket;
    if (this.closed || sock.destroyed || sock.writableEnded) return false;
    const ok = sock.write(data);
    if (!ok && !this.blocked && sock.writableLength > this.o.maxPendingOutputBytes) this.hold(sock);
    return ok;
  }

  /** Send what the batch holds now (one write). */
  flush(): void {
    const s = this.batch;
    if (s === null) return;
    this.batch = null;
    s.uncork();
  }

  /** (endOfTick) The tick is over: flush, unless the session holds the batch for more replies. */
  tickEnd(): void {
    this.tickArmed = false;
    if (this.batch !== null && !(this.o.holdBatch?.() ?? false)) this.flush();
  }

  /** Flush, then resolve true once the socket can take more (its buffer under its high-water
   * mark), false if it closed first: a writer of a long response waits here between pieces. */
  drain(): Promise<boolean> {
    this.flush();
    const sock = this.socket;
    if (this.closed || sock.destroyed) return Promise.resolve(false);
    if (!sock.writableNeedDrain) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        sock.off('drain', onDrain);
        sock.off('close', onClose);
        resolve(ok);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      sock.on('drain', onDrain);
      sock.on('close', onClose);
    });
  }

  /** Resolves when the output is under its bound again (at once if it is), or the socket closed. */
  drained(): Promise<void> {
    if (!this.blocked || this.closed) return Promise.resolve();
    return new Promise<void>((r) => (this.waiters ??= []).push(r));
  }

  /** The socket closed: nothing more is written, waiters are let go. */
  close(): void {
    this.closed = true;
    this.batch = null;
    this.letGo();
  }

  private letGo(): void {
    const ws = this.waiters;
    this.waiters = null;
    if (ws !== null) for (const w of ws) w();
  }

  private hold(sock: Socket): void {
    this.blocked = true;
    sock.pause();
    this.o.onHold();
    const ms = this.o.holdTimeoutMs();
    const timer =
      ms > 0 && Number.isFinite(ms)
        ? setTimeout(() => {
            if (!this.blocked || this.closed) return;
            this.o.onStuck();
            sock.destroy();
          }, ms)
        : null;
    timer?.unref();
    const release = (): void => {
      if (timer !== null) clearTimeout(timer);
      sock.off('drain', release);
      sock.off('close', release);
      this.blocked = false;
      this.letGo();
      if (!this.closed) this.o.onRelease();
    };
    sock.on('drain', release);
    sock.on('close', release);
  }
}
