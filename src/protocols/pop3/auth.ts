/**
 * protocols/pop3/auth.ts: the AUTHORIZATION state's commands: USER/PASS (seed: "normal
 * login", allowed per connection kind by plainConnAllowLogin / secureConnAllowLogin), AUTH
 * (RFC 5034: PLAIN, LOGIN, CRAM-MD5, each allowed per connection kind by plainConnAuthTypes /
 * secureConnAuthTypes; an initial response, `=` for an empty one; `*` cancels), STLS
 * (RFC 2595, when allowStartTLS and the listener has a certificate), and APOP (not
 * implemented: the store keeps no password equivalent APOP could use).
 *
 * Every login check waits first for the remote IP's failure delay (the service's login throttle,
 * `ctx.loginGate()`, auth/throttle.ts; a banned IP fails at once), runs the scrypt
 * check on the service's pool (skipped for a login the thread's cache has verified), and on
 * success opens the maildrop (a snapshot; with pop3ExclusiveLock a second session gets
 * `-ERR [IN-USE]`). A wrong password, an unknown or disabled account, a bad SASL exchange or a
 * cancelled one is an authentication error (`-ERR [AUTH]`, counted against maxAuthErrors); a
 * store that cannot answer is `-ERR [SYS/TEMP]`, not counted. A SASL response over maxLineLength
 * ends the exchange as an authentication error; the next line is a command again.
 *
 * Exports: `AUTH_ROWS` (USER, PASS, AUTH, STLS, APOP). Throws nothing (handlers return verdicts).
 */
import { randomBytes } from 'node:crypto';
import { PosternError, isPosternError } from '../../errors.ts';
import { noreply, reply, type Verdict } from '../../session/line-session.ts';
import { cramMd5Verify } from '../../store/cram.ts';
import { tlsConfigured } from '../../net/tls.ts';
import type { AccountInfo } from '../../store/types.ts';
import { loginCache } from './guard.ts';
import { Maildrop } from './maildrop.ts';
import { IMPLEMENTED_MECHANISMS, mechanismsFor, userPassAllowed, type Mechanism } from './options.ts';
import { AUTH_STATES, type Pop3Row, type Pop3Session, type Pop3State } from './session.ts';

type V = Verdict<Pop3State>;

const SERVICE = 'pop3';

const authFailed = (): V => reply('-ERR [AUTH] authentication failed\r\n', { error: 'auth' });

async function openMaildrop(s: Pop3Session, account: AccountInfo): Promise<V> {
  const store = s.ctx.store;
  if (store === null) return reply('-ERR [SYS/TEMP] the mail store is not available\r\n');
  let drop: Maildrop;
  try {
    drop = await Maildrop.open(store.mailbox(account.address), s.ctx.log, s.data.opts.exclusiveLock);
  } catch (e) {
    if (isPosternError(e, 'STORE_LOCKED')) return reply('-ERR [IN-USE] maildrop already locked by another session\r\n');
    s.ctx.log.warn({ err: e, account: account.address }, 'pop3: cannot open the maildrop');
    return reply('-ERR [SYS/TEMP] cannot open the maildrop now, try again later\r\n');
  }
  if (s.data.closed) {
    drop.close();
    return noreply();
  }
  s.data.drop = drop;
  s.data.account = account.address;
  const st = drop.stat();
  return reply(`+OK logged in, ${st.messages} messages (${st.octets} octets)\r\n`, { state: 'transaction' });
}

/** Throttle, check, open. `check` rejects STORE_AUTH_FAILED for bad credentials. */
async function login(s: Pop3Session, login: string, check: () => Promise<AccountInfo>): Promise<V> {
  if (!(await s.ctx.loginGate())) return authFailed(); // banned: no check
  if (s.data.closed) return noreply(); // hung up while waiting: its failure stays counted
  let account: AccountInfo;
  try {
    account = await check();
  } catch (e) {
    if (isPosternError(e, 'STORE_AUTH_FAILED')) {
      s.ctx.loginResult(false, login);
      s.ctx.log.debug({ login: login.slice(0, 100), reason: e.details?.reason }, 'pop3: authentication failed');
      return authFailed();
    }
    s.ctx.loginResult(null, login);
    s.ctx.log.warn({ err: e }, 'pop3: cannot check a login');
    return reply('-ERR [SYS/TEMP] cannot check the login now, try again later\r\n');
  }
  s.ctx.loginResult(true, login);
  return openMaildrop(s, account);
}

function checkPassword(s: Pop3Session, user: string, password: string): () => Promise<AccountInfo> {
  return async () => {
    const store = s.ctx.store;
    if (store === null) throw new PosternError('STORE_CLOSED', 'no store');
    const o = s.data.opts;
    return store.authenticate(user, password, SERVICE, (hash, pw) =>
      loginCache.check(user, pw, hash, o, async () => (await s.ctx.runTask('verifyPassword', { password: pw, hash })) === true));
  };
}

/** Strict base64 (RFC 4648, padded), or null. */
function b64(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  return Buffer.from(text, 'base64');
}

/** A client response line: `*` cancels; otherwise base64. */
function response(line: Buffer): Buffer | 'cancel' | null {
  const t = line.toString('latin1');
  return t === '*' ? 'cancel' : b64(t);
}

const cancelled = (): V => reply('-ERR authentication cancelled\r\n', { error: 'auth' });
const badResponse = (): V => reply('-ERR [AUTH] invalid base64 in the authentication exchange\r\n', { error: 'auth' });
const tooLong = (): V => reply('-ERR [AUTH] authentication exchange line is too long\r\n', { error: 'auth' });

/** Send a `+ ` challenge; the client's next line (decoded) goes to `next`: `*` cancels, bad
 * base64 or a line over maxLineLength ends the exchange as a failed authentication. */
function ask(s: Pop3Session, challenge: string, next: (resp: Buffer) => V | Promise<V>): V {
  s.expectLine(async (line) => {
    s.expectLine(null);
    const r = response(line);
    if (r === 'cancel') return cancelled();
    if (r === null) return badResponse();
    return next(r);
  }, tooLong);
  return reply(`+ ${challenge}\r\n`);
}

function plain(s: Pop3Session, resp: Buffer): Promise<V> | V {
  const parts = resp.toString('utf8').split('\0');
  if (parts.length !== 3) return authFailed();
  const [authz, authc, password] = parts as [string, string, string];
  if (authc === '' || (authz !== '' && authz !== authc)) return authFailed(); // no proxy logins
  return login(s, authc, checkPassword(s, authc, password));
}

function loginPassword(s: Pop3Session, user: string): V {
  return ask(s, 'UGFzc3dvcmQ6', (r) => login(s, user, checkPassword(s, user, r.toString('utf8')))); // "Password:"
}

function cramMd5(s: Pop3Session): V {
  const challenge = `<${randomBytes(8).toString('hex')}.${Date.now()}@${s.ctx.service.hostname}>`;
  return ask(s, Buffer.from(challenge).toString('base64'), (r) => {
    const text = r.toString('utf8');
    const sp = text.lastIndexOf(' ');
    if (sp <= 0) return authFailed();
    const user = text.slice(0, sp);
    const digest = text.slice(sp + 1);
    return login(s, user, async () => {
      const store = s.ctx.store;
      if (store === null) throw new PosternError('STORE_CLOSED', 'no store');
      const info = await store.authInfo(user, SERVICE);
      if (!cramMd5Verify(info.cramMd5Pads, challenge, digest)) throw new PosternError('STORE_AUTH_FAILED', 'authentication failed', { reason: info.cramMd5Pads === null ? 'cram-md5 off' : 'password' });
      return info.account;
    });
  });
}

function auth(args: string, s: Pop3Session): V | Promise<V> {
  const allowed = mechanismsFor(s.data.opts, s.secure);
  if (args === '') return reply(`+OK\r\n${allowed.map((m) => `${m}\r\n`).join('')}.\r\n`);
  const words = args.split(' ');
  if (words.length > 2 || words[0] === '') return reply('-ERR syntax: AUTH mechanism [initial-response]\r\n', { error: 'command' });
  const mech = words[0]!.toUpperCase() as Mechanism;
  const initial = words[1];
  if (!IMPLEMENTED_MECHANISMS.includes(mech)) return reply('-ERR mechanism not supported\r\n', { error: 'command' });
  if (!allowed.includes(mech)) return reply('-ERR mechanism not supported on this connection\r\n', { error: 'command' });
  const first = initial === undefined ? undefined : initial === '=' ? Buffer.alloc(0) : b64(initial);
  if (first === null) return badResponse();
  if (mech === 'PLAIN') {
    return first !== undefined ? plain(s, first) : ask(s, '', (r) => plain(s, r));
  }
  if (mech === 'LOGIN') {
    if (first !== undefined) return loginPassword(s, first.toString('utf8'));
    return ask(s, 'VXNlcm5hbWU6', (r) => loginPassword(s, r.toString('utf8'))); // "Username:"
  }
  if (first !== undefined) return reply('-ERR [AUTH] CRAM-MD5 takes no initial response\r\n', { error: 'auth' });
  return cramMd5(s);
}

const notOnThisConnection = (): V => reply('-ERR [AUTH] USER/PASS not allowed on this connection\r\n', { error: 'auth' });

export const AUTH_ROWS: ReadonlyArray<readonly [string, Pop3Row]> = Object.freeze([
  ['USER', {
    states: AUTH_STATES,
    run: (args: string, s: Pop3Session): V => {
      if (!userPassAllowed(s.data.opts, s.secure)) return notOnThisConnection();
      if (args === '') return reply('-ERR syntax: USER name\r\n', { error: 'command' });
      s.data.user = args;
      return reply('+OK send PASS\r\n');
    },
  }],
  ['PASS', {
    states: AUTH_STATES,
    run: (args: string, s: Pop3Session): V | Promise<V> => {
      const user = s.data.user;
      s.data.user = null;
      if (!userPassAllowed(s.data.opts, s.secure)) return notOnThisConnection();
      if (user === null) return reply('-ERR USER first\r\n', { error: 'command' });
      return login(s, user, checkPassword(s, user, args));
    },
  }],
  ['AUTH', { states: AUTH_STATES, run: auth }],
  ['STLS', {
    states: AUTH_STATES,
    run: (args: string, s: Pop3Session): V => {
      if (args !== '') return reply('-ERR syntax: STLS takes no argument\r\n', { error: 'command' });
      if (s.secure) return reply('-ERR already using TLS\r\n', { error: 'command' });
      if (!s.data.opts.allowStartTLS || !tlsConfigured(s.ctx.listener)) return reply('-ERR STLS not available\r\n', { error: 'command' });
      s.write('+OK begin TLS negotiation\r\n');
      s.startTls();
      return noreply();
    },
  }],
  ['APOP', { states: AUTH_STATES, run: (): V => reply('-ERR APOP not implemented\r\n', { error: 'command' }) }],
]);
