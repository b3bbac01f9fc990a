/**
 * protocols/imap/auth.ts: the not-authenticated state's commands (the pre-login half, Dovecot's
 * imap-login): LOGIN (allowed per connection kind by plainConnAllowLogin /
 * secureConnAllowLogin; else LOGINDISABLED is advertised and LOGIN refused), AUTHENTICATE
 * (RFC 9051 §6.2.2 with SASL-IR, RFC 4959: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256 through the
 * shared SASL machines and login pipeline, each allowed per connection kind by
 * plainConnAuthTypes / secureConnAuthTypes; challenges `+ <base64>`, `*` cancels) and
 * STARTTLS (allowStartTLS and a listener certificate, not on a secure connection).
 *
 * Every credential goes to the login pipeline (auth/login.ts: the service's login throttle,
 * the directory, the scrypt check skipped for a login this thread's cache has verified, the
 * outcome reported once); the resolved account goes to `openAccount`, which binds the
 * account's mailbox and enters the authenticated state (`OK [CAPABILITY …]`). No storage
 * handle is held before.
 *
 * Replies: a wrong password, an unknown or disabled account, a refused exchange:
 * `NO [AUTHENTICATIONFAILED]` (counted against maxAuthErrors); LOGIN where it is not allowed:
 * `NO [PRIVACYREQUIRED]` on a plain connection, `NO [CANNOT]` on a secure one (counted too);
 * a store that cannot answer: `NO [UNAVAILABLE]`, not counted; a cancelled exchange, bad
 * base64 or an initial response to a mechanism that takes none: `BAD` (counted against
 * maxErrors); a response line over maxLineLength ends the exchange as a failed
 * authentication.
 *
 * Exports: `AUTH_ROWS` (LOGIN, AUTHENTICATE, STARTTLS), `openAccount(s, tag, account)`.
 * Throws nothing (handlers return verdicts).
 */
import { LoginCache } from '../../auth/cache.ts';
import { checkLogin, saslLogin, scramLookup, type LoginOptions, type SaslDialog } from '../../auth/login.ts';
import { SASL_MECHANISMS, saslServer, type SaslFailure, type SaslMechanism } from '../../auth/sasl.ts';
import { tlsConfigured } from '../../net/tls.ts';
import { noreply, reply, upgrade } from '../../session/line-session.ts';
import type { AccountInfo } from '../../store/types.ts';
import { imapOptions, postLoginCapabilities } from './options.ts';
import { mechanismsFor, plainLoginAllowed } from '../../auth/policy.ts';
import { bad, no, ok, type Cmd, type V } from './replies.ts';
import type { Command, ImapRow, ImapSession, ImapState } from './types.ts';

const SERVICE = 'imap';
const PRE_LOGIN: readonly ImapState[] = Object.freeze(['notAuthenticated']);

/** This thread's verified logins (auth/cache.ts), sized by authCacheSize / authCacheTtl. */
export const loginCache = new LoginCache();

const authFailed = (tag: string): V => no(tag, '[AUTHENTICATIONFAILED] authentication failed', 'auth');

function failure(tag: string, reason: SaslFailure, mech: SaslMechanism | null): V {
  switch (reason) {
    case 'cancelled': return bad(tag, 'authentication cancelled');
    case 'bad-base64': return bad(tag, 'invalid base64 in the authentication exchange');
    case 'initial-response': return bad(tag, `${mech ?? 'this mechanism'} takes no initial response`);
    case 'unavailable': return no(tag, '[UNAVAILABLE] cannot check the login now, try again later');
    case 'abandoned': return noreply(); // hung up while waiting: its failure stays counted
    case 'malformed':
    case 'refused':
    case 'credentials': return authFailed(tag);
  }
}

/** The login pipeline's options for this session: the thread's verified-login cache. */
function loginOptions(s: ImapSession): LoginOptions {
  const o = imapOptions(s.ctx.service);
  return {
    service: SERVICE,
    verifyPassword: (login, password, hash, pool) => loginCache.check(login, password, hash, o, pool),
    abandoned: () => s.data.closed,
  };
}

/** The back end's entry: bind the account's mailbox and enter the authenticated state. */
export function openAccount(s: ImapSession, tag: string, account: AccountInfo): V {
  const store = s.ctx.store;
  if (store === null) return no(tag, '[UNAVAILABLE] the mail store is not available');
  if (s.data.closed) return noreply();
  s.data.account = account.address;
  s.data.mailbox = store.mailbox(account.address);
  return ok(tag, `[CAPABILITY ${postLoginCapabilities(imapOptions(s.ctx.service))}] logged in`, { state: 'authenticated' });
}

function dialog(s: ImapSession, tag: string, mech: SaslMechanism): SaslDialog<V> {
  return {
    ask(challenge, next) {
      s.expectLine((line) => {
        s.expectLine(null);
        return next(line.toString('latin1'));
      }, () => no(tag, '[AUTHENTICATIONFAILED] authentication exchange line too long', 'auth'));
      return reply(`+ ${challenge.toString('base64')}\r\n`);
    },
    fail: (reason) => failure(tag, reason, mech),
    success: (account) => openAccount(s, tag, account),
  };
}

function authenticate(cmd: Cmd<'AUTHENTICATE'>, s: ImapSession): V | Promise<V> {
  const o = imapOptions(s.ctx.service);
  const mech = cmd.mechanism.toUpperCase() as SaslMechanism;
  if (!SASL_MECHANISMS.includes(mech)) return no(cmd.tag, 'unsupported authentication mechanism', 'command');
  if (!mechanismsFor(o, s.secure).includes(mech)) {
    const tls = !s.secure && mechanismsFor(o, true).includes(mech);
    return no(cmd.tag, `${tls ? '[PRIVACYREQUIRED]' : '[CANNOT]'} mechanism not allowed on this connection`, 'command');
  }
  const server = saslServer(mech, { hostname: s.ctx.service.hostname, scramLookup: scramLookup(s.ctx, SERVICE) });
  return saslLogin(s.ctx, server, server.start(cmd.initial ?? undefined), loginOptions(s), dialog(s, cmd.tag, mech));
}

async function login(cmd: Cmd<'LOGIN'>, s: ImapSession): Promise<V> {
  const r = await checkLogin(s.ctx, { kind: 'password', authcid: cmd.user, password: cmd.password }, loginOptions(s));
  return r.ok ? openAccount(s, cmd.tag, r.account) : failure(cmd.tag, r.reason, null);
}

export const AUTH_ROWS: ReadonlyArray<readonly [string, ImapRow]> = Object.freeze([
  ['LOGIN', {
    states: PRE_LOGIN,
    expunges: true,
    run: (cmd: Command, s: ImapSession): V | Promise<V> => {
      const c = cmd as Cmd<'LOGIN'>;
      if (!plainLoginAllowed(imapOptions(s.ctx.service), s.secure)) {
        return no(c.tag, s.secure ? '[CANNOT] LOGIN is disabled, use AUTHENTICATE' : '[PRIVACYREQUIRED] LOGIN is disabled on an unencrypted connection', 'auth');
      }
      return login(c, s);
    },
  }],
  ['AUTHENTICATE', { states: PRE_LOGIN, expunges: true, run: (cmd: Command, s: ImapSession) => authenticate(cmd as Cmd<'AUTHENTICATE'>, s) }],
  ['STARTTLS', {
    states: PRE_LOGIN,
    expunges: true,
    run: (cmd: Command, s: ImapSession): V => {
      if (s.secure) return bad(cmd.tag, 'already using TLS');
      if (!imapOptions(s.ctx.service).allowStartTLS || !tlsConfigured(s.ctx.listener)) return bad(cmd.tag, 'STARTTLS not available');
      return upgrade(`${cmd.tag} OK begin TLS negotiation now\r\n`);
    },
  }],
]);
