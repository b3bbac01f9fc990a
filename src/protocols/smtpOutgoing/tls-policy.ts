/**
 * protocols/smtpOutgoing/tls-policy.ts: what TLS a connection must have. By MX: opportunistic
 * STARTTLS (used when offered, certificate not checked, plain text when it fails); a route's
 * `requireTLS`, an MTA-STS policy in `enforce` mode, or a message asking for REQUIRETLS
 * (RFC 8689): TLS with a certificate valid for the host's name, else nothing is sent. A smart
 * host: implicit TLS (`ssl`), or STARTTLS yes / no / required as configured (`requireTLS` of
 * the route makes it required and checked).
 *
 * Exports: `tlsDemand(dest, opts)`, `TlsDemand`. Throws nothing.
 */
import type { Destination } from './route.ts';

export interface TlsDemand {
  /** TLS from the first byte (smart host `ssl`). */
  implicit: boolean;
  /** STARTTLS: never, when offered (a failed upgrade goes on in plain text), or required. */
  starttls: 'no' | 'opportunistic' | 'required';
  /** The certificate must be valid for the host's name. */
  verify: boolean;
}

export function tlsDemand(dest: Destination, o: { stsEnforce: boolean; requireTlsMessage: boolean }): TlsDemand {
  const strict = dest.requireTLS || o.stsEnforce || o.requireTlsMessage;
  const h = dest.smartHost;
  if (h !== null) {
    if (h.ssl) return { implicit: true, starttls: 'no', verify: strict };
    if (strict) return { implicit: false, starttls: 'required', verify: true };
    return { implicit: false, starttls: h.startTls === 'yes' ? 'opportunistic' : h.startTls, verify: false };
  }
  return strict ? { implicit: false, starttls: 'required', verify: true } : { implicit: false, starttls: 'opportunistic', verify: false };
}
