/**
 * auth/policy.ts: the login policy of a connection, one for every service that logs users in
 * (POP3, IMAP, SMTP AUTH), asked of the options the config resolved (config/options.ts
 * `AuthPolicy`, `LoginPolicy`): which SASL mechanisms are offered on a plain or a secure
 * connection (the config's auth types, in SASL_MECHANISMS order; digestMd5 and gssapi are
 * accepted by the config but never offered), and whether the plain-text login command (POP3
 * USER/PASS, IMAP LOGIN) is allowed on it.
 *
 * Exports: `mechanismsFor(opts, secure)`, `plainLoginAllowed(opts, secure)`.
 * Throws nothing.
 */
import type { AuthPolicy, LoginPolicy } from '../config/options.ts';
import { mechanismsOf, type SaslMechanism } from './sasl.ts';

/** The built list of each config list (the options are frozen: a reload brings new lists). */
const mechanisms = new WeakMap<readonly string[], readonly SaslMechanism[]>();

/** The mechanisms offered on this connection (frozen; the same array on every call). */
export function mechanismsFor(o: AuthPolicy, secure: boolean): readonly SaslMechanism[] {
  const list = secure ? o.secureConnAuthTypes : o.plainConnAuthTypes;
  let m = mechanisms.get(list);
  if (m === undefined) mechanisms.set(list, (m = Object.freeze(mechanismsOf(list))));
  return m;
}

/** May the plain-text login command (POP3 USER/PASS, IMAP LOGIN) be used on this connection? */
export function plainLoginAllowed(o: LoginPolicy, secure: boolean): boolean {
  return secure ? o.secureConnAllowLogin : o.plainConnAllowLogin;
}
