/**
 * session/framer-telnet.ts: the telnet framer (the CLI service over telnet, RFC 854/855): the
 * bytes of telnet commands are taken out of the input before it is cut into lines (by an inner
 * `LineFramer`), so the command parser never sees them.
 *
 * - `IAC IAC` is a data byte 255. `CR NUL` (RFC 854's bare CR) is a CR.
 * - Option negotiation: every option is refused. `IAC DO x` is answered `IAC WONT x`, `IAC WILL
 *   x` is answered `IAC DONT x` (a `reply` frame, ahead of the lines); `IAC DONT x` and `IAC
 *   WONT x` ask for what is already so and get no answer (RFC 854: no acknowledgement of a mode
 *   already in force, which is what stops negotiation loops). Each option is refused once per
 *   direction: a client repeating a request gets no second answer, so what the framer writes
 *   is bounded (at most 512 refusals of 3 bytes) whatever it is sent.
 * - Subnegotiation (`IAC SB … IAC SE`) is dropped as it streams (nothing is buffered; an
 *   unterminated one keeps `partial()` true, so the command deadline ends it). Other commands
 *   (NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, a stray SE) are dropped.
 * - A command split across received chunks is followed across them.
 *
 * `telnetEscape` doubles the 255 bytes of output data (RFC 854: data 255 is sent IAC IAC).
 *
 * Exports: `TelnetFramer`, `telnetEscape`, `IAC`, `DONT`, `DO`, `WONT`, `WILL`, `SB`, `SE`.
 * Throws nothing.
 */
import type { Frame, Framer } from './framer.ts';
import { LineFramer } from './framer-line.ts';

export const IAC = 255;
export const DONT = 254;
export const DO = 253;
export const WONT = 252;
export const WILL = 251;
export const SB = 250;
export const SE = 240;

// the parser's states
const St = {
  Data: 0,
  Iac: 1, // after IAC
  Opt: 2, // after IAC DO/DONT/WILL/WONT: the option byte
  Sb: 3, // inside a subnegotiation
  SbIac: 4, // inside a subnegotiation, after IAC
} as const;
type St = (typeof St)[keyof typeof St];

export class TelnetFramer implements Framer {
  private readonly inner: LineFramer;
  private st: St = St.Data;
  private verb = 0; // DO, DONT, WILL or WONT, while St.Opt
  private afterCr = false; // the last data byte was CR: a NUL after it is dropped
  private readonly refused = new Uint8Array(512); // [0, 256): DO answered, [256, 512): WILL
  private replies: number[] = [];

  constructor(maxLineLength: number) {
    this.inner = new LineFramer(maxLineLength);
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    // the usual chunk: plain text, nothing to take out
    if (this.st === St.Data && chunk.indexOf(IAC) < 0 && chunk.indexOf(0) < 0) {
      this.afterCr = chunk[chunk.length - 1] === 13;
      this.inner.push(chunk);
      return;
    }
    const out = Buffer.allocUnsafe(chunk.length);
    let n = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      switch (this.st) {
        case St.Data:
          if (c === IAC) this.st = St.Iac;
          else if (c === 0 && this.afterCr) this.afterCr = false;
          else {
            out[n++] = c;
            this.afterCr = c === 13;
          }
          break;
        case St.Iac:
          if (c === IAC) {
            out[n++] = IAC;
            this.afterCr = false;
            this.st = St.Data;
          } else if (c === DO || c === DONT || c === WILL || c === WONT) {
            this.verb = c;
            this.st = St.Opt;
          } else if (c === SB) this.st = St.Sb;
          else this.st = St.Data; // NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, SE: dropped
          break;
        case St.Opt:
          this.refuse(this.verb, c);
          this.st = St.Data;
          break;
        case St.Sb:
          if (c === IAC) this.st = St.SbIac;
          break;
        case St.SbIac:
          this.st = c === SE ? St.Data : St.Sb; // IAC IAC inside: an escaped 255, still inside
          break;
      }
    }
    if (n > 0) this.inner.push(out.subarray(0, n));
  }

  private refuse(verb: number, opt: number): void {
    if (verb !== DO && verb !== WILL) return; // DONT, WONT: already so
    const slot = verb === DO ? opt : 256 + opt;
    if (this.refused[slot] === 1) return;
    this.refused[slot] = 1;
    this.replies.push(IAC, verb === DO ? WONT : DONT, opt);
  }

  next(): Frame | null {
    if (this.replies.length > 0) {
      const bytes = Buffer.from(this.replies);
      this.replies = [];
      return { kind: 'reply', bytes };
    }
    return this.inner.next();
  }

  partial(): boolean {
    return this.st !== St.Data || this.inner.partial();
  }

  buffered(): number {
    return this.inner.buffered();
  }

  raw(): Buffer | null {
    return this.inner.raw();
  }

  skip(n: number): void {
    this.inner.skip(n);
  }

  clear(): void {
    this.inner.clear();
    this.st = St.Data;
    this.afterCr = false;
    this.replies = [];
  }

  setMaxLineLength(n: number): void {
    this.inner.setMaxLineLength(n);
  }
}

/** Output data with each 255 byte doubled (IAC IAC), as telnet sends a data 255. */
export function telnetEscape(data: string | Buffer): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data) : data;
  if (b.indexOf(IAC) < 0) return b;
  const out: number[] = [];
  for (const c of b) {
    out.push(c);
    if (c === IAC) out.push(IAC);
  }
  return Buffer.from(out);
}
