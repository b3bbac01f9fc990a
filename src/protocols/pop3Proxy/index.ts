/**
 * protocols/pop3Proxy/index.ts: the POP3 proxy (inventory §19; RFC 1939, 2449, 2595, 3206,
 * 5034), a cluster front end: it logs the user in, finds the back end that holds the mailbox,
 * logs in there with the user's credentials and then copies bytes both ways without parsing.
 *
 * Before login it is a POP3 server on the shared line-session dispatcher (a frozen table keyed
 * by verb): CAPA, USER/PASS (plainConnAllowLogin / secureConnAllowLogin), AUTH PLAIN (the only
 * mechanism: the proxy must learn the password; with an initial response or after `+ `; `*`
 * cancels), STLS (allowStartTLS and a listener certificate), QUIT. Unknown verbs, verbs in the
 * wrong state and over-long lines are `-ERR`, counted against maxErrors; failed logins against
 * maxAuthErrors (the login throttle applies: auth/login.ts). PASS and AUTH are barriers, so
 * whatever the client pipelined after them goes to the back end untouched.
 *
 * The login (auth/proxy.ts): check (authenticateOnProxy), route (userMap, else mappingData),
 * connect (connectionData), back-end `USER`/`PASS` (in one write when the back end's CAPA, asked
 * once a minute per back end and thread, says PIPELINING). The back end's `+OK` line is the client's
 * answer, then the session is spliced (session/backend.ts). Failures: wrong credentials
 * `-ERR [AUTH]`; a back end down, refusing or silent past rwTimeout, a map that cannot answer,
 * maxConnections reached: `-ERR [SYS/TEMP]` (RFC 3206), each counted (`proxy.backend_failed`,
 * `proxy.busy`); no back end for the user: `-ERR [SYS/PERM]`.
 *
 * Exports: `refusal(reason)`, `startSession(socket, ctx)` (ProtocolModule). Throws nothing.
 */
import type { Socket } from 'node:net';
import { mechanismsFor, plainLoginAllowed } from '../../auth/policy.ts';
import { plainExchange, proxyEnv, proxyLogin, type DialectAnswer, type ProxyDialect } from '../../auth/proxy.ts';
import { saslServer } from '../../auth/sasl.ts';
import { optionsOf, type Pop3ProxyOptions } from '../../config/options.ts';
import { tlsConfigured } from '../../net/tls.ts';
import type { SessionContext, SessionHandle } from '../../service/protocol.ts';
import { ProxyHandle, type BackendConn } from '../../session/backend.ts';
import { PosternError } from '../../errors.ts';
import { LineSession, noreply, reply, stop, upgrade, type CommandRow, type Verdict } from '../../session/line-session.ts';
import { POP3_REPLIES, pop3Refusal } from '../../session/protocol-words.ts';

type State = 'authorization';
interface Data {
  readonly opts: Pop3ProxyOptions;
  user: string | null;
  closed: boolean;
  handle: ProxyHandle<State, Data>;
}
type S = LineSession<State, Data>;
type V = Verdict<State>;
type Row = CommandRow<State, Data>;

export const refusal = pop3Refusal;

const REPLIES = POP3_REPLIES;

/** Whether a back end (host:port) said PIPELINING in its CAPA, learnt at the first login to it
 * in this thread and asked again after PIPELINING_TTL_MS (a back end reconfigured). */
const pipelining = new Map<string, { yes: boolean; until: number }>();
const PIPELINING_TTL_MS = 60_000;
const MAX_CAPA_LINES = 100;

/** The back end's CAPA: whether it offers PIPELINING (RFC 2449 §6.6); -ERR: no. */
async function offersPipelining(conn: BackendConn, timeoutMs: number): Promise<boolean> {
  const key = `${conn.target.host}:${conn.target.port}`;
  const known = pipelining.get(key);
  if (known !== undefined && known.until > Date.now()) return known.yes;
  conn.write('CAPA\r\n');
  let yes = false;
  if ((await conn.readLine(timeoutMs)).startsWith('+OK')) {
    for (let i = 0; ; i++) {
      const l = await conn.readLine(timeoutMs);
      if (l === '.') break;
      if (i >= MAX_CAPA_LINES) throw new PosternError('PROXY_BACKEND', `back end ${key}: a CAPA answer over ${MAX_CAPA_LINES} lines`);
      if (l.toUpperCase() === 'PIPELINING') yes = true;
    }
  }
  pipelining.set(key, { yes, until: Date.now() + PIPELINING_TTL_MS });
  if (pipelining.size > 1000) pipelining.delete(pipelining.keys().next().value!);
  return yes;
}

/** The back end's words: `+OK` greeting, `USER`, `PASS`; USER and PASS in one write when the
 * back end offers PIPELINING (one round trip less per login). */
const DIALECT: ProxyDialect = {
  async login(conn: BackendConn, user: string, password: string, timeoutMs: number): Promise<DialectAnswer> {
    const greeting = await conn.readLine(timeoutMs);
    if (!greeting.startsWith('+OK')) return { ok: false, temporary: true, text: greeting };
    if (await offersPipelining(conn, timeoutMs)) {
      conn.write(`USER ${user}\r\nPASS ${password}\r\n`);
      const u = await conn.readLine(timeoutMs);
      if (!u.startsWith('+OK')) return answer(u); // the PASS answer is not waited for: closed
      const p = await conn.readLine(timeoutMs);
      return p.startsWith('+OK') ? { ok: true, text: p } : answer(p);
    }
    conn.write(`USER ${user}\r\n`);
    const u = await conn.readLine(timeoutMs);
    if (!u.startsWith('+OK')) return answer(u);
    conn.write(`PASS ${password}\r\n`);
    const p = await conn.readLine(timeoutMs);
    return p.startsWith('+OK') ? { ok: true, text: p } : answer(p);
  },
};

/** A back end's -ERR: temporary when it says so (RFC 3206 SYS/TEMP, RFC 2449 IN-USE). */
function answer(line: string): DialectAnswer {
  return { ok: false, temporary: /^-ERR \[(SYS\/TEMP|IN-USE)\]/i.test(line) || !line.startsWith('-ERR'), text: line };
}

const authFailed = (): V => reply('-ERR [AUTH] authentication failed\r\n', { error: 'auth' });

/** Log in through the proxy; on success the session is handed to the back end. */
async function login(s: S, user: string, password: string): Promise<V> {
  const o = s.data.opts;
  const env = proxyEnv(s.ctx, o, 'pop3', () => s.data.closed);
  const r = await proxyLogin(s.ctx, o, env, user, password, DIALECT);
  if (r.ok) {
    s.ctx.count('proxy.login');
    s.ctx.log.info({ user: user.slice(0, 100), backend: `${r.target.host}:${r.target.port}` }, 'pop3 proxy: logged in');
    return upgrade(`${r.text}\r\n`, { wrap: s.data.handle.handOff(r.conn) });
  }
  switch (r.reason) {
    case 'credentials': return authFailed();
    case 'abandoned': return noreply();
    case 'noroute':
      s.ctx.count('proxy.no_route');
      return reply('-ERR [SYS/PERM] no mail server for this user\r\n');
    case 'busy':
      s.ctx.count('proxy.busy');
      return reply('-ERR [SYS/TEMP] too many connections to the mail servers, try again later\r\n');
    case 'unavailable':
      s.ctx.count('proxy.backend_failed');
      return reply('-ERR [SYS/TEMP] the mail server is not available, try again later\r\n');
  }
}

const notHere = (): V => reply('-ERR [AUTH] USER/PASS not allowed on this connection\r\n', { error: 'auth' });

function auth(args: string, s: S): V | Promise<V> {
  const o = s.data.opts;
  const mechs = mechanismsFor(o, s.secure);
  if (args === '') return reply(`+OK\r\n${mechs.map((m) => `${m}\r\n`).join('')}.\r\n`);
  const words = args.split(' ');
  if (words.length > 2 || words[0] === '') return reply('-ERR syntax: AUTH mechanism [initial-response]\r\n', { error: 'command' });
  if (words[0]!.toUpperCase() !== 'PLAIN' || !mechs.includes('PLAIN')) return reply('-ERR mechanism not supported\r\n', { error: 'command' });
  const m = saslServer('PLAIN', { hostname: s.ctx.service.hostname, scramLookup: async () => null });
  return plainExchange<V>(m, m.start(words[1]), {
    ask(next) {
      s.expectLine((line) => {
        s.expectLine(null);
        return next(line.toString('latin1'));
      }, () => reply('-ERR [AUTH] authentication exchange line is too long\r\n', { error: 'auth' }));
      return reply('+ \r\n');
    },
    password: (user, password) => login(s, user, password),
    fail(reason) {
      if (reason === 'cancelled') return reply('-ERR authentication cancelled\r\n', { error: 'auth' });
      if (reason === 'bad-base64') return reply('-ERR [AUTH] invalid base64 in the authentication exchange\r\n', { error: 'auth' });
      return authFailed();
    },
  });
}

const BEFORE: readonly State[] = Object.freeze(['authorization']);

/** RFC 1939: PASS must follow USER at once; any other command forgets the USER name. */
const forgets = (row: Row): Row => ({ states: row.states, run: (args, s) => ((s.data.user = null), row.run(args, s)) });

const TABLE: ReadonlyMap<string, Row> = Object.freeze(new Map<string, Row>([
  ['CAPA', forgets({
    states: BEFORE,
    run: (_args, s) => {
      const o = s.data.opts;
      const caps = ['RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
      if (plainLoginAllowed(o, s.secure)) caps.push('USER');
      const mechs = mechanismsFor(o, s.secure);
      if (mechs.length > 0) caps.push(`SASL ${mechs.join(' ')}`);
      if (!s.secure && o.allowStartTLS && tlsConfigured(s.ctx.listener)) caps.push('STLS');
      caps.push('IMPLEMENTATION Postern-proxy');
      return reply(`+OK capability list follows\r\n${caps.map((c) => `${c}\r\n`).join('')}.\r\n`);
    },
  })],
  ['USER', {
    states: BEFORE,
    run: (args, s) => {
      if (!plainLoginAllowed(s.data.opts, s.secure)) return notHere();
      if (args === '') return reply('-ERR syntax: USER name\r\n', { error: 'command' });
      s.data.user = args;
      return reply('+OK send PASS\r\n');
    },
  }],
  ['PASS', {
    states: BEFORE,
    run: (args, s) => {
      const user = s.data.user;
      s.data.user = null;
      if (!plainLoginAllowed(s.data.opts, s.secure)) return notHere();
      if (user === null) return reply('-ERR USER first\r\n', { error: 'command' });
      return login(s, user, args);
    },
  }],
  ['AUTH', forgets({ states: BEFORE, run: auth })],
  ['STLS', forgets({
    states: BEFORE,
    run: (args, s) => {
      if (args !== '') return reply('-ERR syntax: STLS takes no argument\r\n', { error: 'command' });
      if (s.secure) return reply('-ERR already using TLS\r\n', { error: 'command' });
      if (!s.data.opts.allowStartTLS || !tlsConfigured(s.ctx.listener)) return reply('-ERR STLS not available\r\n', { error: 'command' });
      return upgrade('+OK begin TLS negotiation\r\n');
    },
  })],
  ['QUIT', { states: BEFORE, run: () => stop('+OK Postern POP3 proxy signing off\r\n') }],
]));

const BARRIERS = new Set(['AUTH', 'STLS', 'PASS']);

export function startSession(socket: Socket, ctx: SessionContext): SessionHandle {
  const opts = optionsOf(ctx.service, 'pop3Proxy');
  const handle = new ProxyHandle<State, Data>(ctx);
  const data: Data = { opts, user: null, closed: false, handle };
  socket.setNoDelay(true);
  socket.once('close', () => {
    data.closed = true;
  });
  handle.session = new LineSession<State, Data>({
    socket,
    ctx,
    table: TABLE,
    initialState: 'authorization',
    replies: { ...REPLIES, greeting: () => `+OK ${opts.greetingsText}\r\n` },
    data,
    maxLineLength: ctx.service.session.maxLineLength,
    barrier: (verb) => BARRIERS.has(verb),
  });
  return handle;
}
