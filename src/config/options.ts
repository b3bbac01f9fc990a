/**
 * config/options.ts: the resolved, frozen, unit-named options that actors receive.
 *
 * The config file uses the seed system's names and units (seconds, KB); `resolve()` in
 * config/model.ts turns the validated model into these types. Each service actor gets only its
 * own `ServiceOptions`, never the whole config. Unlimited is spelled one way: `UNLIMITED`
 * (written as 0 in the config file). Throws nothing.
 */

/** The one spelling of "no limit" in resolved options (a 0 in the config file). */
export const UNLIMITED = Number.POSITIVE_INFINITY;

/** A service of the services table (config/schema.ts `SERVICE_TABLE`). */
export type { ServiceName } from './schema.ts';
import type { ServiceName } from './schema.ts';

export interface Endpoint {
  host: string; // '127.0.0.1', '::1' (no brackets)
  port: number;
  family: 4 | 6;
}

/** Connection limits; each is a count or UNLIMITED. Intervals in ms. */
export interface FlowLimits {
  maxConnections: number;
  maxIntervalConnections: number;
  timeIntervalMs: number;
  peerMaxConnections: number;
  peerMaxIntervalConnections: number;
  peerTimeIntervalMs: number;
}

export interface DenyRuleOptions {
  ipSet: string; // as written: '10.0.0.1', '10.0.0.1-10.0.0.20', '10.0.0.0/8', '10.0.0.0/255.0.0.0', IPv6 forms
  enable: boolean;
  priority: number;
}

export interface AllowRuleOptions extends DenyRuleOptions {
  flow: FlowLimits;
}

export interface SslOptions {
  allowedVersions: Array<'tls1' | 'tls1_1' | 'tls1_2' | 'tls1_3'>;
  certFile: string | null;
  keyFile: string | null;
  caFile: string | null;
  maxChainDepth: number;
  requestClientAuth: boolean;
  cipherSuite: string | null;
}

export interface TcpListenerOptions {
  /** `host:port` as written, the listener's identity. */
  key: string;
  address: Endpoint;
  enable: boolean;
  idleTimeoutMs: number;
  flow: FlowLimits;
  sslEnable: boolean;
  ssl: SslOptions;
  allowRules: AllowRuleOptions[];
  denyRules: DenyRuleOptions[];
}

export interface UdpListenerOptions {
  key: string;
  address: Endpoint;
  enable: boolean;
  allowRules: DenyRuleOptions[];
  denyRules: DenyRuleOptions[];
}

export interface ServiceOptions {
  name: ServiceName;
  /** The Server-level `hostname` (default: the OS's fully qualified name): greetings, EHLO,
   * `Received:`, Message-IDs, DSNs. */
  hostname: string;
  transport: 'tcp' | 'udp' | 'none';
  listeners: TcpListenerOptions[];
  udpListeners: UdpListenerOptions[];
  allowRules: AllowRuleOptions[];
  denyRules: DenyRuleOptions[];
  /** Service-level flow limits (seed: service AccessControl). */
  flow: FlowLimits;
  maxErrors: number;
  maxAuthErrors: number;
  minConnThreads: number;
  maxConnThreads: number;
  /** Postern: sessions per connection thread above which the service adds a thread. */
  threadSessions: number;
  /** Postern: an extra thread idle this long is drained and stopped. */
  threadIdleTimeoutMs: number;
  /** Postern: heap cap of one connection thread (worker resourceLimits), bytes. */
  connThreadHeapBytes: number;
  /** Postern: the service's piscina pool for CPU work. */
  minPoolThreads: number;
  maxPoolThreads: number;
  /** Protocol-specific attributes, by their seed names, values already unit-converted where the
   * schema says so. Each protocol issue adds its own. */
  extra: Readonly<Record<string, unknown>>;
}

export interface ResolvedConfig {
  services: ServiceName[]; // which services run (the `services` set, `smtp` expanded)
  primaryDomain: string;
  /** This server's name (config `hostname`, else the OS's fully qualified name). */
  hostname: string;
  statusListener: Endpoint;
  /** The status endpoint's connection limits (Server `statusControl`). */
  statusLimits: { flow: FlowLimits; idleTimeoutMs: number; requestTimeoutMs: number };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  dataDir: string | null; // null: the command line or the default decides
  enableFaultInjection: boolean;
  shutdownTimeoutMs: number;
  allowRules: AllowRuleOptions[]; // global
  denyRules: DenyRuleOptions[]; // global
  serviceOptions: Readonly<Record<ServiceName, ServiceOptions>>;
}
