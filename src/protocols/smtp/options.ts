/**
 * protocols/smtp/options.ts: the smtpIncoming service's resolved options (config/schema.ts
 * SMTP_IN_EXTRA, already unit-converted), typed, with the relay networks compiled. Computed once
 * per ServiceOptions object (a reload hands the threads a new one).
 *
 * Exports: `smtpOptions(service, listener)`, `SmtpOptions`, `Mechanism` (auth/sasl.ts's).
 * Throws nothing (the config was validated when it was loaded).
 */
import { parseIpSet, parseIp, type IpSet } from '../../net/ipset.ts';
import { tlsConfigured } from '../../net/tls.ts';
import type { ServiceOptions, TcpListenerOptions } from '../../config/options.ts';
import { mechanismsOf, type SaslMechanism } from '../../auth/sasl.ts';

export type Mechanism = SaslMechanism;

export interface SmtpOptions {
  hostname: string;
  greeting: string; // the 220 line, CRLF included
  maxLineLength: number;
  maxMessageBytes: number;
  maxRcpt: number;
  maxReceived: number;
  plainAuth: readonly Mechanism[];
  secureAuth: readonly Mechanism[];
  allowStartTls: boolean; // offered (also needs a certificate on the listener)
  pipelining: boolean;
  eightBitMime: boolean;
  binaryMime: boolean;
  chunking: boolean;
  smtpUtf8: boolean;
  allowBareLf: boolean;
  allowBareCr: boolean;
  relayNets: readonly IpSet[];
  /** May this client relay without authenticating? */
  relayAllowed(ip: string): boolean;
}

const cache = new WeakMap<ServiceOptions, SmtpOptions>();

function cleanBanner(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 400);
}

function build(service: ServiceOptions): SmtpOptions {
  const x = service.extra;
  const bool = (k: string, d: boolean): boolean => (typeof x[k] === 'boolean' ? (x[k] as boolean) : d);
  const num = (k: string, d: number): number => (typeof x[k] === 'number' ? (x[k] as number) : d);
  const relayNets = (Array.isArray(x.relayNetworks) ? x.relayNetworks : []).map((s) => parseIpSet(String(s)));
  const banner = typeof x.greetingsText === 'string' && x.greetingsText !== '' ? cleanBanner(x.greetingsText) : `${service.hostname} ESMTP Postern`;
  return {
    hostname: service.hostname,
    greeting: `220 ${banner}\r\n`,
    maxLineLength: num('maxLineLength', 2048),
    maxMessageBytes: num('maxMessageBytes', 10 << 20),
    maxRcpt: num('maxRcptCount', 100),
    maxReceived: num('maxReceivedHeaders', 30),
    plainAuth: mechanismsOf(x.plainConnAuthTypes),
    secureAuth: mechanismsOf(x.secureConnAuthTypes),
    allowStartTls: bool('allowStartTLS', true),
    pipelining: bool('allowPipelining', true),
    eightBitMime: bool('allow8BitMime', true),
    binaryMime: bool('allowBinaryMime', true) && bool('allowChunking', true),
    chunking: bool('allowChunking', true),
    smtpUtf8: bool('allowSmtpUtf8', true),
    allowBareLf: bool('allowBareLineFeed', false),
    allowBareCr: bool('allowBareCarriageReturn', false),
    relayNets,
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
