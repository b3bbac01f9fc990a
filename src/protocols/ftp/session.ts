/**
 * protocols/ftp/session.ts: the state of one FTP session and the pieces its commands share:
 * resolving a path argument, and running a data transfer (`withData`) from the 150 reply to the
 * final one, whatever happens on the data connection (timeouts, ABOR, a client that closes
 * early, an upload past its cap).
 *
 * States: `login` (USER expected) → `password` (PASS expected) → `ready`.
 *
 * Exports: `S`, `FtpData`, `FtpOptions`, `Session`, `Row`, `newData(ctx, localAddress)`, `ftpReply(code,
 * text, error?)`, `resultReply(result)`, `pathOf(s, arg)`, `withData(s, opening, work)`,
 * `closeData(data)`, `endSession(data)`. Throws nothing into the dispatcher: failures are
 * replies.
 */
import { tlsConfigured } from '../../net/tls.ts';
import { optionsOf, type FtpBackupOptions } from '../../config/options.ts';
import { reply, type CommandRow, type LineSession, type Verdict } from '../../session/line-session.ts';
import type { SessionContext } from '../../service/protocol.ts';
import { connectActive, DataError, PassiveListener, plainAddress, secureData, Transfer } from './data.ts';
import { SessionBodies } from './bodies.ts';
import { resolvePath } from './paths.ts';
import type { FtpResult } from './restore.ts';
import type { VirtualTree } from './tree.ts';
import type net from 'node:net';

export type S = 'login' | 'password' | 'ready';

/** The service's options, typed and resolved once by the config (config/options.ts). */
export type FtpOptions = FtpBackupOptions;

export interface FtpData {
  readonly o: FtpOptions;
  /** AUTH TLS can be offered: the listener has a certificate. */
  readonly tlsAvailable: boolean;
  /** The control connection's local and remote addresses (IPv4-mapped forms made plain). */
  readonly local: string;
  readonly peer: string;
  /** `local` as PASV writes it (h1,h2,h3,h4), for an IPv4 control connection. */
  readonly pasvHost: string;
  user: string | null;
  cwd: string[];
  type: 'A' | 'I';
  rest: number;
  pbsz: boolean;
  prot: 'C' | 'P';
  epsvAll: boolean;
  passive: PassiveListener | null;
  active: { host: string; port: number } | null;
  transfer: Transfer | null;
  /** The last transfer ended by ABOR, whose own reply is still to come. */
  abortedTransfer: boolean;
  tree: VirtualTree | null;
  /** The session's body readers, with their read-ahead windows (bodies.ts). */
  bodies: SessionBodies;
  ended: boolean;
}

export type Session = LineSession<S, FtpData>;
export type Row = CommandRow<S, FtpData>;

export function newData(ctx: SessionContext, localAddress: string | undefined): FtpData {
  const local = plainAddress(localAddress);
  return {
    local,
    peer: plainAddress(ctx.remoteAddress),
    pasvHost: local.replace(/\./g, ','),
    o: optionsOf(ctx.service, 'ftpBackup'),
    tlsAvailable: tlsConfigured(ctx.listener),
    user: null, cwd: [], type: 'A', rest: 0, pbsz: false, prot: 'C', epsvAll: false,
    passive: null, active: null, transfer: null, abortedTransfer: false, tree: null, bodies: new SessionBodies(), ended: false,
  };
}

/** One reply line; a multi-line text gets the `NNN-` continuation form. */
export function ftpReply(code: number, text: string, error?: 'command' | 'auth'): Verdict<S> {
  if (!text.includes('\n')) return error === undefined ? { kind: 'reply', text: `${code} ${text}\r\n` } : { kind: 'reply', text: `${code} ${text}\r\n`, error };
  const lines = text.split('\n');
  const body = `${lines.slice(0, -1).map((l, i) => (i === 0 ? `${code}-${l}` : ` ${l}`)).join('\r\n')}\r\n${code} ${lines[lines.length - 1]}\r\n`;
  return error === undefined ? reply(body) : reply(body, { error });
}

export function resultReply(r: FtpResult): Verdict<S> {
  return ftpReply(r.code, r.text, r.error === true ? 'command' : undefined);
}

/** The names an argument points at, or the 501 verdict that refuses it. */
export function pathOf(s: Session, arg: string): { names: string[] } | { verdict: Verdict<S> } {
  const r = resolvePath(s.data.cwd, arg);
  return r.ok ? { names: r.names } : { verdict: ftpReply(501, `Refused: ${r.why}.`, 'command') };
}

/** Close the data endpoints (the passive listener, a PORT address). */
export function closeData(d: FtpData): void {
  d.passive?.close();
  d.passive = null;
  d.active = null;
}

/** The session is over: abort a transfer, close listeners, release snapshots. */
export function endSession(d: FtpData): void {
  d.ended = true;
  d.bodies.close();
  d.transfer?.abort();
  closeData(d);
  d.tree?.close();
}

/**
 * Run one transfer: 150, open the data connection (passive accept or active connect, then TLS
 * with PROT P), `work`, and the final reply (`work`'s, or 425/426/552/451 when the data
 * connection fails). A PASV or PORT serves one transfer.
 *
 * `sending` (RETR, LIST, NLST, MLSD) with a plain passive data connection the client has
 * already made: the 150 is held back and goes out with the final reply, one write (and one
 * wake-up of the client) fewer per file, unless the data cannot be handed to the network at
 * once (`Transfer.release`: a client may read nothing before its 150). An upload, a
 * connection still to come, or TLS (the client may start its handshake only after the 150)
 * get the 150 at once.
 */
export async function withData(s: Session, opening: string, work: (sock: net.Socket, t: Transfer) => Promise<Verdict<S>>, sending = false): Promise<Verdict<S>> {
  const d = s.data;
  const passive = d.passive !== null && d.passive.isArmed ? d.passive : null;
  if (passive === null && d.active === null) return ftpReply(425, 'Use PORT, EPRT, PASV or EPSV first.', 'command');
  const t = new Transfer();
  let held: string | null = null;
  if (sending && passive !== null && passive.connected && d.prot === 'C') {
    held = `150 ${opening}\r\n`;
    t.hold(() => {
      if (held !== null) s.write(held);
      held = null;
    });
  } else s.write(`150 ${opening}\r\n`);
  const final = (v: Verdict<S>): Verdict<S> => (held === null || v.kind !== 'reply' ? v : { ...v, text: `${held}${v.text}` });
  d.transfer = t;
  d.abortedTransfer = false;
  let connected = false;
  try {
    let sock: net.Socket = passive !== null
      ? await passive.accept(d.o.dataTimeoutMs, t)
      : await connectActive(d.active!.host, d.active!.port, d.local, d.o.dataTimeoutMs, t);
    // (both come with an 'error' listener that ignores errors: the watchers report them)
    t.socket = sock;
    if (t.aborted) throw new DataError('aborted', 'aborted');
    if (d.prot === 'P') sock = await secureData(sock, s.ctx.listener, d.o.dataTimeoutMs, t);
    connected = true;
    return final(await work(sock, t));
  } catch (e) {
    t.socket?.destroy();
    if (!(e instanceof DataError)) {
      s.ctx.log.error({ err: e }, 'ftp: transfer failed unexpectedly');
      return final(ftpReply(451, 'Local error in processing; transfer aborted.'));
    }
    if (e.why === 'aborted' || t.aborted) {
      d.abortedTransfer = true;
      return final(ftpReply(426, 'Connection closed; transfer aborted.'));
    }
    if (e.why === 'too_large') return final(ftpReply(552, `${e.message}; nothing was stored.`, 'command'));
    if (e.why === 'corrupt') {
      s.ctx.log.error({ err: e }, 'ftp: a stored body failed its checksum');
      return final(ftpReply(451, 'Stored data failed its checksum; transfer aborted.'));
    }
    if (!connected) return final(ftpReply(425, `Can't open data connection: ${e.message}.`));
    return final(ftpReply(426, `Connection closed; transfer aborted (${e.message}).`));
  } finally {
    if (d.transfer === t) d.transfer = null;
    d.active = null; // a PORT serves one transfer; the passive listener waits for the next PASV
    d.rest = 0;
  }
}
