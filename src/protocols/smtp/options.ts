/**
 * protocols/smtp/options.ts: the command code's view of the smtpIncoming service's options,
 * which the config resolved once (config/options.ts SmtpIncomingOptions: typed, in bytes, the
 * banner defaulted): renamed, with the relay networks compiled. Built once per ServiceOptions
 * object (a reload hands the threads a new one); nothing is parsed or defaulted here.
 *
 * Exports: `smtpOptions(service, listener)`, `SmtpOptions`.
 * Throws INTERNAL (options of a service that is not smtpIncoming: a programming error).
 */
import { parseIpSet, parseIp, type IpSet } from '../../net/ipset.ts';
import { tlsConfigured } from '../../net/tls.ts';
import { optionsOf, type ServiceOptions, type SmtpMappingData, type TcpListenerOptions } from '../../config/options.ts';
import { mechanismsFor } from '../../auth/policy.ts';
import type { SaslMechanism } from '../../auth/sasl.ts';

export interface SmtpOptions {
  hostname: string;
  greeting: string; // the 220 line, CRLF included
  maxLineLength: number;
  maxMessageBytes: number;
  maxRcpt: number;
  maxReceived: number;
  plainAuth: readonly SaslMechanism[];
  secureAuth: readonly SaslMechanism[];
  allowStartTls: boolean; // offered (also needs a certificate on the listener)
  pipelining: boolean;
  eightBitMime: boolean;
  binaryMime: boolean;
  chunking: boolean;
  smtpUtf8: boolean;
  allowBareLf: boolean;
  allowBareCr: boolean;
  relayNets: readonly IpSet[];
  /** Mail authentication (mailauth.ts): on; its time limit (at most the command timeout); the
   * DMARC policy mode, service-wide and per author domain. */
  mailAuth: boolean;
  mailAuthTimeoutMs: number;
  dmarcMode: 'enforce' | 'monitor';
  dmarcRules: ReadonlyMap<string, 'enforce' | 'monitor'>;
  /** Cluster SMTP routing (routing.ts): the map and back-end defaults; null: off. */
  routing: SmtpMappingData | null;
  /** Local mail up to this size is delivered at receipt (store/local-delivery.ts): processing's
   * `poolMessageSize` when processing is among the services; 0: never (every message queued). */
  atReceiptBytes: number;
  /** May this client relay without authenticating? */
  relayAllowed(ip: string): boolean;
}

const cache = new WeakMap<ServiceOptions, SmtpOptions>();

/** The protocol's view of the typed options the config resolved (config/options.ts
 * SmtpIncomingOptions): renamed for the command code, the relay networks compiled. */
function build(service: ServiceOptions): SmtpOptions {
  const x = optionsOf(service, 'smtpIncoming');
  const relayNets = x.relayNetworks.map((s) => parseIpSet(s));
  return {
    hostname: service.hostname,
    greeting: `220 ${x.greetingsText}\r\n`,
    maxLineLength: service.session.maxLineLength,
    maxMessageBytes: x.maxMessageBytes,
    maxRcpt: x.maxRcptCount,
    maxReceived: x.maxReceivedHeaders,
    plainAuth: mechanismsFor(x, false),
    secureAuth: mechanismsFor(x, true),
    allowStartTls: x.allowStartTLS,
    pipelining: x.allowPipelining,
    eightBitMime: x.allow8BitMime,
    binaryMime: x.allowBinaryMime && x.allowChunking,
    chunking: x.allowChunking,
    smtpUtf8: x.allowSmtpUtf8,
    allowBareLf: x.allowBareLineFeed,
    allowBareCr: x.allowBareCarriageReturn,
    relayNets,
    mailAuth: x.mailAuth,
    mailAuthTimeoutMs: Math.min(x.mailAuthTimeoutMs, service.session.commandTimeoutMs),
    dmarcMode: x.dmarcPolicy,
    dmarcRules: new Map(x.dmarcDomainPolicies.map((p) => [p.domain, p.policy])),
    routing: x.enableSmtpRouting ? x.mappingData : null,
    atReceiptBytes: x.processing?.poolMessageBytes ?? 0,
    relayAllowed(ip: string): boolean {
      if (relayNets.length === 0) return false;
      const a = parseIp(ip);
      return a !== null && relayNets.some((n) => n.containsAddr(a));
    },
  };
}

/** The options, and whether STARTTLS can be offered on this listener. */
export function smtpOptions(service: ServiceOptions, listener: TcpListenerOptions): { o: SmtpOptions; tls: boolean } {
  let o = cache.get(service);
  if (o === undefined) cache.set(service, (o = build(service)));
  return { o, tls: o.allowStartTls && !listener.sslEnable && tlsConfigured(listener) };
}
