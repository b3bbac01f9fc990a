/**
 * protocols/pop3/options.ts: the POP3 service's options, as the config resolved them once
 * (config/options.ts `Pop3Options`: typed, frozen, the greeting defaulted, the Server-level
 * pop3ExclusiveLock as `exclusiveLock`), and the two per-connection questions asked of them:
 * which SASL mechanisms, and whether USER/PASS, on a plain or a secure connection.
 *
 * Exports: `Pop3Options`, `pop3Options(service)`, `Mechanism` (auth/sasl.ts's), `IMPLEMENTED_MECHANISMS`,
 * `mechanismsFor(opts, secure)`, `userPassAllowed(opts, secure)`. Throws INTERNAL
 * (`pop3Options` of a service that is not POP3: a programming error).
 */
import { optionsOf, type Pop3Options, type ServiceOptions } from '../../config/options.ts';
import { SASL_MECHANISMS, mechanismsOf, type SaslMechanism } from '../../auth/sasl.ts';

export type { Pop3Options };

/** SASL mechanism names on the wire (digestMd5 and gssapi are accepted in the config but not
 * implemented, never advertised). */
export type Mechanism = SaslMechanism;
export const IMPLEMENTED_MECHANISMS: readonly Mechanism[] = SASL_MECHANISMS;

export function pop3Options(service: ServiceOptions): Pop3Options {
  return optionsOf(service, 'pop3');
}

const mechanisms = new WeakMap<readonly string[], readonly Mechanism[]>();

/** The mechanisms offered on this connection (the config's auth types built here, in
 * SASL_MECHANISMS order). */
export function mechanismsFor(o: Pop3Options, secure: boolean): readonly Mechanism[] {
  const list = secure ? o.secureConnAuthTypes : o.plainConnAuthTypes;
  let m = mechanisms.get(list);
  if (m === undefined) mechanisms.set(list, (m = Object.freeze(mechanismsOf(list))));
  return m;
}

export function userPassAllowed(o: Pop3Options, secure: boolean): boolean {
  return secure ? o.secureConnAllowLogin : o.plainConnAllowLogin;
}
