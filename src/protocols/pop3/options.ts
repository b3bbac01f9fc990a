/**
 * protocols/pop3/options.ts: the POP3 service's options, as the config resolved them once
 * (config/options.ts `Pop3Options`: typed, frozen, the greeting defaulted, the Server-level
 * pop3ExclusiveLock as `exclusiveLock`). The per-connection questions asked of them (which SASL
 * mechanisms, whether USER/PASS) are auth/policy.ts's.
 *
 * Exports: `Pop3Options`, `pop3Options(service)`. Throws INTERNAL (`pop3Options` of a service
 * that is not POP3: a programming error).
 */
import { optionsOf, type Pop3Options, type ServiceOptions } from '../../config/options.ts';

export type { Pop3Options };

export function pop3Options(service: ServiceOptions): Pop3Options {
  return optionsOf(service, 'pop3');
}
