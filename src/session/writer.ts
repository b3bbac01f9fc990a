/**
 * session/writer.ts: the one writer of a session's replies, and the output bound (issue 11's
 * `maxPendingOutput`): when the socket's unsent output passes `maxPendingOutputBytes`, the
 * writer is `blocked` and tells the session (`onHold`: stop reading and dispatching) until the
 * socket drains (`onRelease`). A client that does not drain within `holdTimeoutMs()` (the
 * listener's idle timeout, capped in stress mode) is stuck (`onStuck`: the session ends) and
 * its socket destroyed: it reads nothing, so a farewell or a FIN would only queue.
 *
 * After a STARTTLS the session points `socket` at the TLS socket; a hold in progress waits on
 * the socket it began on.
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
}

export class SessionWriter {
  socket: Socket;
  /** Unsent output passed the bound: waiting for 'drain'. */
  blocked = false;
  private closed = false;
  private waiters: Array<() => void> | null = null; // (made on the first hold)
  private readonly o: SessionWriterOptions;

  constructor(o: SessionWriterOptions) {
    this.o = o;
    this.socket = o.socket;
  }

  /** Write `text`; false if the socket is gone or its buffer is full. */
  write(text: string | Buffer): boolean {
    const sock = this.socket;
    if (this.closed || sock.destroyed || sock.writableEnded) return false;
    const ok = sock.write(text);
    if (!ok && !this.blocked && sock.writableLength > this.o.maxPendingOutputBytes) this.hold(sock);
    return ok;
  }

  /** Resolves when the output is under its bound again (at once if it is), or the socket closed. */
  drained(): Promise<void> {
    if (!this.blocked || this.closed) return Promise.resolve();
    return new Promise<void>((r) => (this.waiters ??= []).push(r));
  }

  /** The socket closed: nothing more is written, waiters are let go. */
  close(): void {
    this.closed = true;
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
