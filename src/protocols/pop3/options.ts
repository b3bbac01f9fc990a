/**
 * protocols/pop3/options.ts: the POP3 service's own settings, read once per ServiceOptions from
 * its `extra` (config/schema.ts POP3_EXTRA and the Server-level pop3ExclusiveLock, already
 * unit-converted: seconds → ms) into a typed, frozen object, plus the SASL mechanisms allowed on
 * a connection.
 *
 * Exports: `Pop3Options`, `pop3Options(service)`, `Mechanism` (auth/sasl.ts's), `IMPLEMENTED_MECHANISMS`,
 * `mechanismsFor(opts, secure)`, `userPassAllowed(opts, secure)`. Throws nothing (a missing
 * value takes the schema's default).
 */
import type { ServiceOptions } from '../../config/options.ts';
import { SASL_MECHANISMS, mechanismsOf, type SaslMechanism } from '../../auth/sasl.ts';

/** SASL mechanism names on the wire (digestMd5 and gssapi are accepted in the config but not
 * implemented, never advertised). */
export type Mechanism = SaslMechanism;
export const IMPLEMENTED_MECHANISMS: readonly Mechanism[] = SASL_MECHANISMS;

export interface Pop3Options {
  readonly plainConnAllowLogin: boolean;
  readonly secureConnAllowLogin: boolean;
  readonly plainMechanisms: readonly Mechanism[];
  readonly secureMechanisms: readonly Mechanism[];
  readonly allowStartTLS: boolean;
  readonly greetingsText: string;
  readonly exclusiveLock: boolean;
  readonly maxLineLength: number;
  readonly authCacheSize: number;
  readonly authCacheTtlMs: number;
}

const cache = new WeakMap<ServiceOptions, Pop3Options>();

const bool = (v: unknown, d: boolean): boolean => (typeof v === 'boolean' ? v : d);
const num = (v: unknown, d: number): number => (typeof v === 'number' && !Number.isNaN(v) ? v : d);

/** One line of text, no control characters (the greeting is sent as `+OK <text>`). */
function oneLine(v: unknown, d: string): string {
  const s = typeof v === 'string' ? v.replace(/[\x00-\x1f\x7f]+/g, ' ').trim() : '';
  return s === '' ? d : s.slice(0, 400);
}

export function pop3Options(service: ServiceOptions): Pop3Options {
  let o = cache.get(service);
  if (o !== undefined) return o;
  const x = service.extra;
  o = Object.freeze({
    plainConnAllowLogin: bool(x.plainConnAllowLogin, true),
    secureConnAllowLogin: bool(x.secureConnAllowLogin, true),
    plainMechanisms: Object.freeze(mechanismsOf(x.plainConnAuthTypes)),
    secureMechanisms: Object.freeze(mechanismsOf(x.secureConnAuthTypes)),
    allowStartTLS: bool(x.allowStartTLS, true),
    greetingsText: oneLine(x.greetingsText, `${service.hostname} Postern POP3 server ready`),
    exclusiveLock: bool(x.pop3ExclusiveLock, false),
    maxLineLength: num(x.maxLineLength, 8192),
    authCacheSize: num(x.authCacheSize, 10_000),
    authCacheTtlMs: num(x.authCacheTtl, 3_600_000),
  });
  cache.set(service, o);
  return o;
}

export function mechanismsFor(o: Pop3Options, secure: boolean): readonly Mechanism[] {
  return secure ? o.secureMechanisms : o.plainMechanisms;
}

export function userPassAllowed(o: Pop3Options, secure: boolean): boolean {
  return secure ? o.secureConnAllowLogin : o.plainConnAllowLogin;
}
