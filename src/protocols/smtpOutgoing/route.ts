/**
 * protocols/smtpOutgoing/route.ts: which way a relayed recipient leaves (seed §6 routing
 * rules). The configured routes (smtpOutgoing `routes`) are tried in order; the first whose
 * recipient-domain pattern and sender pattern both match wins; none matches: by MX, with
 * opportunistic TLS. A destination (`Destination`) is what one connection may carry: the same
 * smart host, or the same recipient domain by MX, under the same TLS demand.
 *
 * Patterns: a recipient domain is `example.com` (exactly) or `*.example.com` (any subdomain,
 * not the domain itself); a sender is `user@example.com` (exactly) or `@example.com` (any sender
 * of the domain); '' matches anything, the null sender included. Matching ignores case.
 *
 * A recipient the cluster's SMTP routing fixed a next hop for at RCPT (QueueRcpt.hop) skips the
 * routes: it goes to that back end as to a smart host (`hopDestination`: no MX lookup,
 * opportunistic STARTTLS, no AUTH).
 *
 * Exports: `routeFor(routes, from, to)`, `hopDestination(hop)`, `domainOf(address)`,
 * `domainMatches`, `senderMatches`, `Destination`. Throws nothing.
 */
import type { OutgoingRoute, SmartHostOptions } from '../../config/options.ts';
import type { NextHop } from '../../store/queue-record.ts';

export interface Destination {
  /** Groups recipients that may share connections: `mx:<domain>` or `smart:<host>:<port>`, plus
   * `:tls` when the route requires TLS. */
  key: string;
  /** The recipient domain (MX), or the smart host's name. */
  domain: string;
  smartHost: SmartHostOptions | null;
  requireTLS: boolean;
}

/** The domain of an address, lower case ('' when it has none). */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase().replace(/\.$/, '');
}

export function domainMatches(pattern: string, domain: string): boolean {
  if (pattern === '') return true;
  const p = pattern.toLowerCase();
  const d = domain.toLowerCase();
  if (p.startsWith('*.')) return d.endsWith(p.slice(1)) && d.length > p.length - 1;
  return p === d;
}

export function senderMatches(pattern: string, from: string): boolean {
  if (pattern === '') return true;
  const p = pattern.toLowerCase();
  const f = from.toLowerCase();
  if (p.startsWith('@')) return f !== '' && domainOf(f) === p.slice(1);
  return p === f;
}

export function routeFor(routes: readonly OutgoingRoute[], from: string, to: string): Destination {
  const domain = domainOf(to);
  const r = routes.find((x) => domainMatches(x.rcptDomain, domain) && senderMatches(x.sender, from));
  const requireTLS = r?.requireTLS ?? false;
  const tls = requireTLS ? ':tls' : '';
  if (r?.smartHost) {
    const h = r.smartHost;
    return { key: `smart:${h.host.toLowerCase()}:${h.port}:${h.authUser ?? ''}${tls}`, domain: h.host.toLowerCase(), smartHost: h, requireTLS };
  }
  return { key: `mx:${domain}${tls}`, domain, smartHost: null, requireTLS };
}

/** The back end SMTP routing chose for a recipient (QueueRcpt.hop), as a smart host. */
export function hopDestination(hop: NextHop): Destination {
  const host = hop.host.toLowerCase();
  const smartHost: SmartHostOptions = { host, port: hop.port, ssl: false, startTls: 'yes', authUser: null, authPassword: null, authMethod: 'PLAIN' };
  return { key: `hop:${host}:${hop.port}`, domain: host, smartHost, requireTLS: false };
}
