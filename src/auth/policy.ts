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
import type { AuthPolicy, LoginPolicy, UserdbLogin } from '../config/options.ts';
import { mechanismsOf, type SaslMechanism } from './sasl.ts';

/** The built list of each config list (the options are frozen: a reload brings new lists). */
const mechanisms = new WeakMap<readonly string[], readonly SaslMechanism[]>();

/** The same, for a service whose passwords live in an LDAP directory (no stored secrets). */
const ldapMechanisms = new WeakMap<readonly string[], readonly SaslMechanism[]>();
/** The config auth types that need a secret stored by Postern (not offered with an LDAP connector). */
const STORED_SECRET: readonly string[] = ['cramMd5', 'scramSha256', 'digestMd5'];

/** The mechanisms offered on this connection (frozen; the same array on every call). A service
 * with `userdbConnectorType ldap` (issue 16) offers only those that carry the password (PLAIN,
 * LOGIN): CRAM-MD5 and SCRAM need a secret the directory does not give. */
export function mechanismsFor(o: AuthPolicy & Partial<UserdbLogin>, secure: boolean): readonly SaslMechanism[] {
  const list = secure ? o.secureConnAuthTypes : o.plainConnAuthTypes;
  const ldap = (o.userdbConnector ?? null) !== null;
  const cache = ldap ? ldapMechanisms : mechanisms;
  let m = cache.get(list);
  if (m === undefined) cache.set(list, (m = Object.freeze(mechanismsOf(ldap ? list.filter((t) => !STORED_SECRET.includes(t)) : list))));
  return m;
}

/** May the plain-text login command (POP3 USER/PASS, IMAP LOGIN) be used on this connection? */
export function plainLoginAllowed(o: LoginPolicy, secure: boolean): boolean {
  return secure ? o.secureConnAllowLogin : o.plainConnAllowLogin;
}
