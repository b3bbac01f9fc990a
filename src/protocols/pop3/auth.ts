/**
 * protocols/pop3/auth.ts: the AUTHORIZATION state's commands: USER/PASS (seed: "normal
 * login", allowed per connection kind by plainConnAllowLogin / secureConnAllowLogin), AUTH
 * (RFC 5034: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256, each allowed per connection kind by
 * plainConnAuthTypes / secureConnAuthTypes; an initial response, `=` for an empty one; `*`
 * cancels), STLS
 * (RFC 2595, when allowStartTLS and the listener has a certificate), and APOP (not
 * implemented: the store keeps no password equivalent APOP could use).
 *
 * This is the pre-login half (Dovecot's pop3-login): it frames the SASL exchange of auth/sasl.ts
 * (`+ <base64>` challenges) and hands every credential, USER/PASS's too, to the login pipeline
 * (auth/login.ts: the service's login throttle, the directory, the scrypt check on the service's
 * pool, skipped for a login the thread's cache has verified, the outcome reported once); the
 * resolved account goes to the back end (backend.ts), which opens the maildrop. No storage
 * handle is held before. A wrong password, an unknown or disabled account, a bad SASL exchange
 * or a cancelled one is an authentication error (`-ERR [AUTH]`, counted against maxAuthErrors);
 * a store that cannot answer is `-ERR [SYS/TEMP]`, not counted. A SASL response over
 * maxLineLength ends the exchange as an authentication error; the next line is a command again.
 *
 * Exports: `AUTH_ROWS` (USER, PASS, AUTH, STLS, APOP). Throws nothing (handlers return verdicts).
 */
import { checkLogin, saslLogin, scramLookup, type LoginOptions, type SaslDialog } from '../../auth/login.ts';
import { SASL_MECHANISMS, saslServer, type SaslFailure, type SaslMechanism } from '../../auth/sasl.ts';
import { noreply, reply, upgrade, type Verdict } from '../../session/line-session.ts';
import { tlsConfigured } from '../../net/tls.ts';
import { openMaildrop } from './backend.ts';
import { loginCache } from './guard.ts';
import { mechanismsFor, plainLoginAllowed } from '../../auth/policy.ts';
import { AUTH_STATES, type Pop3Row, type Pop3Session, type Pop3State } from './session.ts';

type V = Verdict<Pop3State>;

const SERVICE = 'pop3';

const authFailed = (): V => reply('-ERR [AUTH] authentication failed\r\n', { error: 'auth' });
const unavailable = (): V => reply('-ERR [SYS/TEMP] cannot check the login now, try again later\r\n');
const tooLong = (): V => reply('-ERR [AUTH] authentication exchange line is too long\r\n', { error: 'auth' });

function failure(reason: SaslFailure, mech: SaslMechanism | null): V {
  switch (reason) {
    case 'cancelled': return reply('-ERR authentication cancelled\r\n', { error: 'auth' });
    case 'bad-base64': return reply('-ERR [AUTH] invalid base64 in the authentication exchange\r\n', { error: 'auth' });
    case 'initial-response': return reply(`-ERR [AUTH] ${mech ?? 'this mechanism'} takes no initial response\r\n`, { error: 'auth' });
    case 'unavailable': return unavailable();
    case 'abandoned': return noreply(); // hung up while waiting: its failure stays counted
    case 'malformed':
    case 'refused':
    case 'credentials': return authFailed();
  }
}

/** The login pipeline's options for this session: the thread's verified-login cache. */
function loginOptions(s: Pop3Session): LoginOptions {
  const o = s.data.opts;
  return {
    service: SERVICE,
    verifyPassword: (login, password, hash, pool) => loginCache.check(login, password, hash, o, pool),
    abandoned: () => s.data.closed,
  };
}

function dialog(s: Pop3Session, mech: SaslMechanism): SaslDialog<V> {
  return {
    ask(challenge, next) {
      s.expectLine((line) => {
        s.expectLine(null);
        return next(line.toString('latin1'));
      }, tooLong);
      return reply(`+ ${challenge.toString('base64')}\r\n`);
    },
    fail: (reason) => failure(reason, mech),
    success: (account) => openMaildrop(s, account),
  };
}

function auth(args: string, s: Pop3Session): V | Promise<V> {
  const allowed = mechanismsFor(s.data.opts, s.secure);
  if (args === '') return reply(`+OK\r\n${allowed.map((m) => `${m}\r\n`).join('')}.\r\n`);
  const words = args.split(' ');
  if (words.length > 2 || words[0] === '') return reply('-ERR syntax: AUTH mechanism [initial-response]\r\n', { error: 'command' });
  const mech = words[0]!.toUpperCase() as SaslMechanism;
  if (!SASL_MECHANISMS.includes(mech)) return reply('-ERR mechanism not supported\r\n', { error: 'command' });
  if (!allowed.includes(mech)) return reply('-ERR mechanism not supported on this connection\r\n', { error: 'command' });
  const server = saslServer(mech, { hostname: s.ctx.service.hostname, scramLookup: scramLookup(s.ctx, SERVICE) });
  return saslLogin(s.ctx, server, server.start(words[1]), loginOptions(s), dialog(s, mech));
}

async function userPass(s: Pop3Session, user: string, password: string): Promise<V> {
  const r = await checkLogin(s.ctx, { kind: 'password', authcid: user, password }, loginOptions(s));
  return r.ok ? openMaildrop(s, r.account) : failure(r.reason, null);
}

const notOnThisConnection = (): V => reply('-ERR [AUTH] USER/PASS not allowed on this connection\r\n', { error: 'auth' });

export const AUTH_ROWS: ReadonlyArray<readonly [string, Pop3Row]> = Object.freeze([
  ['USER', {
    states: AUTH_STATES,
    run: (args: string, s: Pop3Session): V => {
      if (!plainLoginAllowed(s.data.opts, s.secure)) return notOnThisConnection();
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
      if (!plainLoginAllowed(s.data.opts, s.secure)) return notOnThisConnection();
      if (user === null) return reply('-ERR USER first\r\n', { error: 'command' });
      return userPass(s, user, args);
    },
  }],
  ['AUTH', { states: AUTH_STATES, run: auth }],
  ['STLS', {
    states: AUTH_STATES,
    run: (args: string, s: Pop3Session): V => {
      if (args !== '') return reply('-ERR syntax: STLS takes no argument\r\n', { error: 'command' });
      if (s.secure) return reply('-ERR already using TLS\r\n', { error: 'command' });
      if (!s.data.opts.allowStartTLS || !tlsConfigured(s.ctx.listener)) return reply('-ERR STLS not available\r\n', { error: 'command' });
      return upgrade('+OK begin TLS negotiation\r\n');
    },
  }],
  ['APOP', { states: AUTH_STATES, run: (): V => reply('-ERR APOP not implemented\r\n', { error: 'command' }) }],
]);
