/**
 * protocols/imapProxy/index.ts: the IMAP proxy (inventory §19; RFC 9051, 3501, 4959 SASL-IR,
 * 2971 ID, 5530 response codes), a cluster front end: it logs the user in, finds the back end
 * that holds the mailbox, logs in there with the user's credentials and then copies bytes both
 * ways without parsing them (SELECT, FETCH, IDLE, COMPRESS … are the back end's).
 *
 * Before login it is an IMAP server on the shared line-session dispatcher with the IMAP framer
 * (session/framer-imap.ts; before login a command, its literals included, is at most
 * maxLineLength bytes: `BAD [TOOBIG]`), reading the few commands of parse.ts: CAPABILITY, NOOP,
 * LOGOUT, ID (answered; with imapIdEnabled the client's parameters are kept and passed on to the
 * back end before the login), STARTTLS (allowStartTLS and a listener certificate), LOGIN
 * (plainConnAllowLogin / secureConnAllowLogin, else LOGINDISABLED) and AUTHENTICATE PLAIN (the
 * only mechanism: the proxy must learn the password; SASL-IR or after `+ `; `*` cancels). Every
 * command line is a barrier, so whatever the client pipelined after the login goes to the back
 * end untouched. BAD (malformed, unknown, not before login) counts against maxErrors, failed
 * logins against maxAuthErrors (the login throttle applies: auth/login.ts).
 *
 * The login (auth/proxy.ts): check (authenticateOnProxy), route (userMap, else mappingData),
 * connect (connectionData), then on the back end: its greeting (`* OK`, its capabilities), the
 * client's ID (when imapIdEnabled and the back end has ID), `AUTHENTICATE PLAIN` with an initial
 * response when it offers AUTH=PLAIN and SASL-IR, else `LOGIN` with quoted strings. The back
 * end's untagged lines and its tagged OK (with its `[CAPABILITY …]` code when it sent one) are
 * the client's answer under the client's tag; then the session is spliced (session/backend.ts).
 * Failures: wrong credentials `NO [AUTHENTICATIONFAILED]`; a back end down, refusing or silent
 * past rwTimeout, a map that cannot answer, maxConnections reached: `NO [UNAVAILABLE]`, counted
 * (`proxy.backend_failed`, `proxy.busy`); no back end for the user: `NO [UNAVAILABLE]` too
 * (IMAP has no permanent code for it), counted `proxy.no_route`.
 *
 * Exports: `refusal(reason)`, `startSession(socket, ctx)` (ProtocolModule). Throws nothing.
 */
import type { Socket } from 'node:net';
import { mechanismsFor, plainLoginAllowed } from '../../auth/policy.ts';
import { plainExchange, proxyEnv, proxyLogin, type DialectAnswer, type ProxyDialect } from '../../auth/proxy.ts';
import { saslServer } from '../../auth/sasl.ts';
import { optionsOf, type ImapProxyOptions } from '../../config/options.ts';
import { tlsConfigured } from '../../net/tls.ts';
import type { SessionContext, SessionHandle } from '../../service/protocol.ts';
import { ProxyHandle, type BackendConn } from '../../session/backend.ts';
import { ImapFramer } from '../../session/framer-imap.ts';
import type { Frame } from '../../session/framer.ts';
import { LineSession, noreply, reply, stop, upgrade, type CommandRow, type Verdict } from '../../session/line-session.ts';
import { idList, parsePreLogin, quote, type PreLoginCommand } from './parse.ts';
import { imapRefusal } from '../../session/protocol-words.ts';

type State = 'notAuthenticated';
interface Data {
  readonly opts: ImapProxyOptions;
  /** The client's ID parameters (passed on), undefined: it sent none. */
  id: Array<[string, string | null]> | null | undefined;
  closed: boolean;
  handle: ProxyHandle<State, Data>;
  /** The command being assembled from the framer's frames. */
  asm: { parts: Buffer[]; literals: Buffer[]; chunks: Buffer[]; refused: string | null } | null;
}
type S = LineSession<State, Data>;
type V = Verdict<State>;

export const refusal = imapRefusal;

const ok = (tag: string, text: string, untagged = ''): V => reply(`${untagged}${tag} OK ${text}\r\n`);
const no = (tag: string, text: string, error?: 'auth' | 'command'): V => reply(`${tag} NO ${text}\r\n`, error === undefined ? {} : { error });
const bad = (tag: string, text: string): V => reply(`${tag} BAD ${text}\r\n`, { error: 'command' });

/** The capabilities before login, on a plain or a secure connection. */
function capabilities(o: ImapProxyOptions, secure: boolean, ctx: SessionContext): string {
  const caps = ['IMAP4rev1', 'SASL-IR'];
  if (o.imapIdEnabled) caps.push('ID');
  if (!secure && o.allowStartTLS && tlsConfigured(ctx.listener)) caps.push('STARTTLS');
  for (const m of mechanismsFor(o, secure)) caps.push(`AUTH=${m}`);
  if (!plainLoginAllowed(o, secure)) caps.push('LOGINDISABLED');
  return caps.join(' ');
}

/** Read the back end's lines up to the one tagged `tag`: the untagged ones and the tagged one. */
async function untilTagged(conn: BackendConn, tag: string, timeoutMs: number): Promise<{ untagged: string[]; tagged: string }> {
  const untagged: string[] = [];
  for (let n = 0; n < 1000; n++) {
    const l = await conn.readLine(timeoutMs);
    if (l.startsWith(`${tag} `)) return { untagged, tagged: l.slice(tag.length + 1) };
    if (l.startsWith('+')) {
      conn.write('*\r\n'); // a challenge the proxy did not ask for: cancel
      continue;
    }
    untagged.push(l);
  }
  return { untagged, tagged: 'BAD too many lines' };
}

/** The back end's words, for a client whose command is tagged `clientTag`. */
function dialect(clientTag: string, id: Array<[string, string | null]> | null | undefined, passId: boolean): ProxyDialect {
  return {
    async login(conn: BackendConn, user: string, password: string, timeoutMs: number): Promise<DialectAnswer> {
      const greeting = await conn.readLine(timeoutMs);
      if (!/^\* OK\b/i.test(greeting)) return { ok: false, temporary: true, text: greeting };
      let caps = /\[CAPABILITY ([^\]]*)\]/i.exec(greeting)?.[1];
      if (caps === undefined) {
        conn.write('P0 CAPABILITY\r\n');
        const r = await untilTagged(conn, 'P0', timeoutMs);
        caps = r.untagged.find((l) => /^\* CAPABILITY /i.test(l))?.slice(13) ?? '';
      }
      const has = new Set(caps.toUpperCase().split(' '));
      if (passId && id !== undefined && has.has('ID')) {
        conn.write(`P1 ID ${idList(id)}\r\n`);
        await untilTagged(conn, 'P1', timeoutMs);
      }
      if (has.has('AUTH=PLAIN') && has.has('SASL-IR')) {
        conn.write(`P2 AUTHENTICATE PLAIN ${Buffer.from(`\0${user}\0${password}`, 'utf8').toString('base64')}\r\n`);
      } else {
        conn.write(`P2 LOGIN ${quote(user)} ${quote(password)}\r\n`);
      }
      const r = await untilTagged(conn, 'P2', timeoutMs);
      const lines = r.untagged.map((l) => `${l}\r\n`).join('');
      if (/^OK\b/i.test(r.tagged)) return { ok: true, text: `${lines}${clientTag} ${r.tagged}\r\n` };
      const temporary = !/^NO\b/i.test(r.tagged) || /^NO \[UNAVAILABLE\]/i.test(r.tagged);
      return { ok: false, temporary, text: r.tagged };
    },
  };
}

/** Log in through the proxy; on success the session is handed to the back end. */
async function login(s: S, tag: string, user: string, password: string): Promise<V> {
  const o = s.data.opts;
  const env = proxyEnv(s.ctx, o, 'imap', () => s.data.closed);
  const r = await proxyLogin(s.ctx, o, env, user, password, dialect(tag, s.data.id, o.imapIdEnabled));
  if (r.ok) {
    s.ctx.count('proxy.login');
    s.ctx.log.info({ user: user.slice(0, 100), backend: `${r.target.host}:${r.target.port}` }, 'imap proxy: logged in');
    return upgrade(r.text, { wrap: s.data.handle.handOff(r.conn) });
  }
  switch (r.reason) {
    case 'credentials': return no(tag, '[AUTHENTICATIONFAILED] authentication failed', 'auth');
    case 'abandoned': return noreply();
    case 'noroute':
      s.ctx.count('proxy.no_route');
      return no(tag, '[UNAVAILABLE] no mail server for this user');
    case 'busy':
      s.ctx.count('proxy.busy');
      return no(tag, '[UNAVAILABLE] too many connections to the mail servers, try again later');
    case 'unavailable':
      s.ctx.count('proxy.backend_failed');
      return no(tag, '[UNAVAILABLE] the mail server is not available, try again later');
  }
}

function authenticate(s: S, tag: string, mechanism: string, initial: string | null): V | Promise<V> {
  if (mechanism !== 'PLAIN') return no(tag, 'unsupported authentication mechanism', 'command');
  if (!mechanismsFor(s.data.opts, s.secure).includes('PLAIN')) return no(tag, `${s.secure ? '[CANNOT]' : '[PRIVACYREQUIRED]'} mechanism not allowed on this connection`, 'command');
  const m = saslServer('PLAIN', { hostname: s.ctx.service.hostname, scramLookup: async () => null });
  return plainExchange<V>(m, m.start(initial ?? undefined), {
    ask(next) {
      s.expectLine((line) => {
        s.expectLine(null);
        return next(line.toString('latin1'));
      }, () => no(tag, '[AUTHENTICATIONFAILED] authentication exchange line too long', 'auth'));
      return reply('+ \r\n');
    },
    password: (user, password) => login(s, tag, user, password),
    fail(reason) {
      if (reason === 'cancelled') return bad(tag, 'authentication cancelled');
      if (reason === 'bad-base64') return bad(tag, 'invalid base64 in the authentication exchange');
      return no(tag, '[AUTHENTICATIONFAILED] authentication failed', 'auth');
    },
  });
}

function run(cmd: PreLoginCommand, s: S): V | Promise<V> {
  const o = s.data.opts;
  const tag = cmd.tag;
  switch (cmd.name) {
    case 'CAPABILITY': return ok(tag, 'CAPABILITY completed', `* CAPABILITY ${capabilities(o, s.secure, s.ctx)}\r\n`);
    case 'NOOP': return ok(tag, 'NOOP completed');
    case 'LOGOUT': return stop(`* BYE logging out\r\n${tag} OK LOGOUT completed\r\n`);
    case 'ID':
      if (o.imapIdEnabled) s.data.id = cmd.params;
      return ok(tag, 'ID completed', o.imapIdEnabled ? '* ID ("name" "Postern" "vendor" "Postern")\r\n' : '* ID NIL\r\n');
    case 'STARTTLS':
      if (s.secure) return bad(tag, 'already using TLS');
      if (!o.allowStartTLS || !tlsConfigured(s.ctx.listener)) return bad(tag, 'STARTTLS not available');
      return upgrade(`${tag} OK begin TLS negotiation now\r\n`);
    case 'LOGIN':
      if (!plainLoginAllowed(o, s.secure)) return no(tag, s.secure ? '[CANNOT] LOGIN is disabled, use AUTHENTICATE' : '[PRIVACYREQUIRED] LOGIN is disabled on an unencrypted connection', 'auth');
      return login(s, tag, cmd.user, cmd.password);
    case 'AUTHENTICATE': return authenticate(s, tag, cmd.mechanism, cmd.initial);
    case 'OTHER': return bad(tag, `${cmd.verb} unknown or not valid before login`);
  }
}

/** A literal, its bytes, or a refusal of the framer (before login: at most maxLineLength). */
function frame(f: Frame, s: S): V {
  const d = s.data;
  switch (f.kind) {
    case 'literal': {
      const a = (d.asm ??= { parts: [], literals: [], chunks: [], refused: null });
      a.parts.push(Buffer.from(f.text));
      a.chunks = [];
      if (f.sync) {
        s.framer.literal?.(true);
        return reply('+ Ready for literal data\r\n');
      }
      return noreply();
    }
    case 'data': {
      const a = d.asm;
      if (a === null) return noreply();
      a.chunks.push(f.chunk);
      if (f.last) {
        a.literals.push(Buffer.concat(a.chunks));
        a.chunks = [];
      }
      return noreply();
    }
    case 'toobig': {
      const text = d.asm?.parts[0] ?? f.text ?? Buffer.alloc(0);
      d.asm = null;
      if (f.sync) s.framer.literal?.(false);
      const tag = /^[^\x00-\x20\x7f(){%*"\\\]+]+(?= |$)/.exec(text.toString('latin1'))?.[0] ?? '*';
      return bad(tag, `[TOOBIG] a command before login is at most ${s.ctx.service.session.maxLineLength} octets, its literals included`);
    }
    default:
      return noreply();
  }
}

function command(line: Buffer, s: S): V | Promise<V> {
  const a = s.data.asm;
  s.data.asm = null;
  const r = a === null ? parsePreLogin([line], []) : parsePreLogin([...a.parts, line], a.literals);
  if (!r.ok) return r.tag === null ? reply(`* BAD ${r.text}\r\n`, { error: 'command' }) : bad(r.tag, r.text);
  return run(r.cmd, s);
}

const NO_ROWS: ReadonlyMap<string, CommandRow<State, Data>> = Object.freeze(new Map<string, CommandRow<State, Data>>());

export function startSession(socket: Socket, ctx: SessionContext): SessionHandle {
  const opts = optionsOf(ctx.service, 'imapProxy');
  const handle = new ProxyHandle<State, Data>(ctx);
  const data: Data = { opts, id: undefined, closed: false, handle, asm: null };
  socket.setNoDelay(true);
  socket.once('close', () => {
    data.closed = true;
  });
  const max = ctx.service.session.maxLineLength;
  const session: S = new LineSession<State, Data>({
    socket,
    ctx,
    table: NO_ROWS,
    initialState: 'notAuthenticated',
    replies: {
      greeting: () => `* OK [CAPABILITY ${capabilities(opts, ctx.secure, ctx)}] ${opts.greetingsText}\r\n`,
      unknownCommand: () => '* BAD unknown command\r\n',
      wrongState: () => '* BAD not valid before login\r\n',
      lineTooLong: (n: number) => {
        data.asm = null;
        return `* BAD line too long (at most ${n} octets)\r\n`;
      },
      tooManyErrors: () => '* BYE too many errors, closing the connection\r\n',
      tooManyAuthErrors: () => '* BYE too many authentication failures, closing the connection\r\n',
      internalError: () => '* BAD [UNAVAILABLE] internal error, try again later\r\n',
      idleTimeout: () => '* BYE idle timeout, closing the connection\r\n',
      shutdown: () => '* BYE [UNAVAILABLE] server shutting down\r\n',
    },
    data,
    maxLineLength: max,
    // every command line waits for its handler: after the login nothing more is framed here
    barrier: () => true,
    framer: (maxLineLength) => new ImapFramer({ maxLineLength, maxLiteralBytes: maxLineLength, nonSyncMaxBytes: maxLineLength, maxLiterals: 8, maxCommandBytes: maxLineLength }),
    frames: (f, s) => frame(f, s),
    command: (line, s) => command(line, s),
  });
  handle.session = session;
  return handle;
}
