/**
 * protocols/smtp/auth.ts: AUTH (RFC 4954) with the SASL mechanisms of auth/sasl.ts (PLAIN,
 * LOGIN, CRAM-MD5, SCRAM-SHA-256). Which mechanisms a client may use depends on the connection:
 * `plainConnAuthTypes` before TLS, `secureConnAuthTypes` after. This file only frames the
 * exchange (`334 <base64>` challenges; an initial response, `=` for an empty one) and maps its
 * outcomes to replies; the credential goes through the login pipeline (auth/login.ts: the
 * service's login throttle, the directory, the check on the service's pool, the outcome
 * reported once). A failed authentication counts against maxAuthErrors; continuation lines may
 * be 12288 bytes (RFC 4954 §4): a longer one ends the exchange as a failed authentication
 * (500 5.5.6); "*" cancels (501).
 *
 * Exports: `authCommand(args, s)`. Throws nothing (failures are replies).
 */
import { saslLogin, scramLookup, type SaslDialog } from '../../auth/login.ts';
import { SASL_MECHANISMS, saslServer, type SaslFailure, type SaslMechanism } from '../../auth/sasl.ts';
import { reply, type Verdict } from '../../session/line-session.ts';
import type { S, Session } from './state.ts';

const AUTH_LINE_MAX = 12288;
const SERVICE = 'smtp';

type V = Verdict<S>;

const cannotDecode = (): V => reply('501 5.5.2 Error: cannot decode the response\r\n', { error: 'command' });
// RFC 4954 §6: the exchange ends as a failed authentication; the next line is a command again
const tooLong = (): V => reply(`500 5.5.6 Authentication exchange line is too long (at most ${AUTH_LINE_MAX} bytes)\r\n`, { error: 'auth' });
const failed = (): V => reply('535 5.7.8 Error: authentication failed\r\n', { error: 'auth' });

function failure(reason: SaslFailure, mech: SaslMechanism): V {
  switch (reason) {
    case 'cancelled': return reply('501 5.0.0 Authentication cancelled\r\n', { error: 'command' });
    case 'bad-base64':
    case 'malformed': return cannotDecode();
    case 'initial-response': return reply(`501 5.5.4 ${mech} takes no initial response\r\n`, { error: 'command' });
    case 'unavailable': return reply('454 4.7.0 Temporary authentication failure\r\n');
    case 'refused':
    case 'credentials':
    case 'abandoned': return failed();
  }
}

function dialog(s: Session, mech: SaslMechanism): SaslDialog<V> {
  return {
    ask(challenge, next) {
      s.setMaxLineLength(AUTH_LINE_MAX);
      s.expectLine((line) => {
        s.expectLine(null);
        s.setMaxLineLength(s.data.o.maxLineLength);
        return next(line.toString('latin1').trim());
      }, () => {
        s.setMaxLineLength(s.data.o.maxLineLength);
        return tooLong();
      });
      return reply(`334 ${challenge.toString('base64')}\r\n`);
    },
    fail: (reason) => failure(reason, mech),
    success(account) {
      s.data.auth = account.address;
      return reply('235 2.7.0 Authentication successful\r\n');
    },
  };
}

export function authCommand(args: string, s: Session): V | Promise<V> {
  const d = s.data;
  if (d.auth !== null) return reply('503 5.5.1 Error: already authenticated\r\n', { error: 'command' });
  const words = args.trim().split(/\s+/);
  const mech = (words[0] ?? '').toUpperCase() as SaslMechanism;
  const initial = words[1];
  if (mech === ('' as SaslMechanism) || words.length > 2) return reply('501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n', { error: 'command' });
  const allowed = s.secure ? d.o.secureAuth : d.o.plainAuth;
  if (!SASL_MECHANISMS.includes(mech)) return reply('504 5.5.4 Unrecognized authentication type\r\n', { error: 'command' });
  if (!allowed.includes(mech)) {
    if (!s.secure && d.tlsAvailable && d.o.secureAuth.includes(mech)) return reply('538 5.7.11 Encryption required for requested authentication mechanism\r\n', { error: 'command' });
    return reply('504 5.5.4 Authentication mechanism not allowed on this connection\r\n', { error: 'command' });
  }
  if (s.ctx.store === null) return reply('454 4.7.0 Temporary authentication failure\r\n');
  const server = saslServer(mech, { hostname: d.o.hostname, scramLookup: scramLookup(s.ctx, SERVICE) });
  return saslLogin(s.ctx, server, server.start(initial), { service: SERVICE }, dialog(s, mech));
}
