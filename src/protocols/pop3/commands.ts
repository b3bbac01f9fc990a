/**
 * protocols/pop3/commands.ts: the TRANSACTION state's commands (RFC 1939: STAT, LIST, RETR,
 * DELE, NOOP, RSET, TOP, UIDL), QUIT in both states (its UPDATE step), and CAPA (RFC 2449).
 *
 * Seed 002's zombies, and the wording chosen (RFC 1939 and 2449 conformant):
 * - a message marked by DELE stays listed by LIST with size 0 (seed: "shows them as zero size
 *   messages"; `LIST n` answers `+OK n 0`), while STAT leaves it out of both totals and UIDL
 *   leaves it out of its listing (RFC 1939: "messages marked as deleted are not counted" /
 *   "not listed");
 * - RETR, TOP, DELE and `UIDL n` of a zombie answer `-ERR message N already deleted` (the
 *   wording of RFC 1939's own DELE example), counted against maxErrors like every -ERR answer
 *   to a wrong command;
 * - RSET brings the zombies back; only QUIT expunges them, and a dropped connection nothing.
 * Long listings (LIST, UIDL of 100,000 messages) are written in batches, waiting for the
 * socket to drain between them.
 *
 * Exports: `TRANSACTION_ROWS`, `QUIT_ROW`, `CAPA_ROW`. Throws nothing.
 */
import { noreply, reply, stop, type Verdict } from '../../session/line-session.ts';
import { tlsConfigured } from '../../net/tls.ts';
import { sendBody, writeOut } from './body.ts';
import { mechanismsFor, plainLoginAllowed } from '../../auth/policy.ts';
import { BOTH, TRANSACTION, type Pop3Row, type Pop3Session, type Pop3State } from './session.ts';
import type { Maildrop } from './maildrop.ts';

type V = Verdict<Pop3State>;

const BATCH = 2048; // listing lines per write

const bad = (text: string): V => reply(`-ERR ${text}\r\n`, { error: 'command' });
const noSuch = (): V => bad('no such message');
const alreadyDeleted = (n: number): V => bad(`message ${n} already deleted`);

/** A message number (RFC 1939: decimal, 1-based), or null. */
function number(word: string | undefined): number | null {
  return word !== undefined && /^\d{1,10}$/.test(word) ? Number(word) : null;
}

function drop(s: Pop3Session): Maildrop {
  return s.data.drop!;
}

/** Argument `n` of a command that needs an existing, undeleted message. */
function target(s: Pop3Session, word: string | undefined): number | V {
  const n = number(word);
  if (n === null) return bad('syntax: a message number is needed');
  const st = drop(s).status(n);
  if (st === 'none') return noSuch();
  if (st === 'deleted') return alreadyDeleted(n);
  return n;
}

async function listing(s: Pop3Session, head: string, line: (n: number) => string | null): Promise<V> {
  const d = drop(s);
  let out = head;
  let lines = 0;
  for (let n = 1; n <= d.count; n++) {
    const l = line(n);
    if (l === null) continue;
    out += l;
    if (++lines % BATCH === 0) {
      if (!(await writeOut(s, out))) return noreply();
      out = '';
    }
  }
  await writeOut(s, `${out}.\r\n`);
  return noreply();
}

function list(args: string, s: Pop3Session): V | Promise<V> {
  const d = drop(s);
  if (args === '') return listing(s, '+OK scan listing follows\r\n', (n) => `${n} ${d.status(n) === 'deleted' ? 0 : d.size(n)}\r\n`);
  const words = args.split(' ');
  const n = number(words[0]);
  if (words.length > 1 || n === null) return bad('syntax: LIST [message]');
  const st = d.status(n);
  if (st === 'none') return noSuch();
  return reply(`+OK ${n} ${st === 'deleted' ? 0 : d.size(n)}\r\n`);
}

function uidl(args: string, s: Pop3Session): V | Promise<V> {
  const d = drop(s);
  if (args === '') return listing(s, '+OK unique-id listing follows\r\n', (n) => (d.status(n) === 'deleted' ? null : `${n} ${d.uniqueId(n)}\r\n`));
  const words = args.split(' ');
  if (words.length > 1) return bad('syntax: UIDL [message]');
  const n = target(s, words[0]);
  return typeof n === 'number' ? reply(`+OK ${n} ${d.uniqueId(n)}\r\n`) : n;
}

async function retrieve(s: Pop3Session, n: number, topLines: number | null): Promise<V> {
  const d = drop(s);
  const size = d.size(n);
  const head = topLines === null ? `+OK ${size} octets\r\n` : '+OK top of message follows\r\n';
  const r = await sendBody(s, head, d.bodies, d.body(n), topLines);
  if (r === 'corrupt') {
    s.ctx.log.error({ account: s.data.account, message: n }, 'pop3: a stored body does not match its checksum');
    return reply(`-ERR [SYS/PERM] message ${n} is damaged and cannot be retrieved\r\n`);
  }
  if (r === 'sent' && topLines === null) d.markSeen(n);
  return noreply();
}

function retr(args: string, s: Pop3Session): V | Promise<V> {
  const words = args.split(' ');
  if (words.length > 1) return bad('syntax: RETR message');
  const n = target(s, words[0]);
  return typeof n === 'number' ? retrieve(s, n, null) : n;
}

function top(args: string, s: Pop3Session): V | Promise<V> {
  const words = args.split(' ');
  const lines = number(words[1]);
  if (words.length !== 2 || lines === null) return bad('syntax: TOP message lines');
  const n = target(s, words[0]);
  return typeof n === 'number' ? retrieve(s, n, lines) : n;
}

function dele(args: string, s: Pop3Session): V {
  const words = args.split(' ');
  if (words.length > 1) return bad('syntax: DELE message');
  const n = target(s, words[0]);
  if (typeof n !== 'number') return n;
  drop(s).dele(n);
  return reply(`+OK message ${n} deleted\r\n`);
}

function noArgs(verb: string, run: (s: Pop3Session) => V | Promise<V>): Pop3Row {
  return { states: TRANSACTION, run: (args, s) => (args === '' ? run(s) : bad(`syntax: ${verb} takes no argument`)) };
}

export const TRANSACTION_ROWS: ReadonlyArray<readonly [string, Pop3Row]> = Object.freeze([
  ['STAT', noArgs('STAT', (s) => {
    const st = drop(s).stat();
    return reply(`+OK ${st.messages} ${st.octets}\r\n`);
  })],
  ['LIST', { states: TRANSACTION, run: list }],
  ['RETR', { states: TRANSACTION, run: retr }],
  ['TOP', { states: TRANSACTION, run: top }],
  ['DELE', { states: TRANSACTION, run: dele }],
  ['UIDL', { states: TRANSACTION, run: uidl }],
  ['NOOP', noArgs('NOOP', () => reply('+OK\r\n'))],
  ['RSET', noArgs('RSET', (s) => {
    const d = drop(s);
    d.rset();
    const st = d.stat();
    return reply(`+OK maildrop has ${st.messages} messages (${st.octets} octets)\r\n`);
  })],
]);

/** QUIT: in TRANSACTION this is the UPDATE state: \Seen marks written, zombies expunged. */
export const QUIT_ROW: Pop3Row = {
  states: BOTH,
  run: async (_args, s) => {
    const d = s.data.drop;
    if (d === null) return stop('+OK Postern POP3 server signing off\r\n');
    await d.flushSeen();
    let text: string;
    try {
      await d.update();
      text = `+OK Postern POP3 server signing off (${d.stat().messages} messages left)\r\n`;
    } catch (e) {
      s.ctx.log.error({ err: e, account: s.data.account }, 'pop3: deleted messages could not be expunged');
      text = '-ERR [SYS/TEMP] some deleted messages not removed\r\n';
    }
    d.close();
    s.data.drop = null;
    return stop(text);
  },
};

/** CAPA (RFC 2449): what this connection, in this state, may use. */
export const CAPA_ROW: Pop3Row = {
  states: BOTH,
  run: (_args, s) => {
    const o = s.data.opts;
    const caps = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
    if (s.state === 'authorization') {
      if (plainLoginAllowed(o, s.secure)) caps.push('USER');
      const mechs = mechanismsFor(o, s.secure);
      if (mechs.length > 0) caps.push(`SASL ${mechs.join(' ')}`);
      if (!s.secure && o.allowStartTLS && tlsConfigured(s.ctx.listener)) caps.push('STLS');
    }
    caps.push('IMPLEMENTATION Postern');
    return reply(`+OK capability list follows\r\n${caps.map((c) => `${c}\r\n`).join('')}.\r\n`);
  },
};
