/**
 * config/schema.ts: the config file's object types and attributes, as data. Names, types,
 * units and defaults follow the seed system (times in seconds, sizes in KB, 0 = unlimited for
 * counts marked `zeroUnlimited`); config/model.ts validates against it and resolves with it,
 * config/write.ts quotes by it.
 *
 * Services are declared in one table, `SERVICE_DEFS` (transport, embedded default listener,
 * default idle timeout, protocol-specific `extra` attributes). A protocol adds its own
 * attributes in `SERVICE_EXTRA` below; they are accepted in that service's block and land,
 * defaulted and unit-converted (seconds → ms, KB → bytes), in `ServiceOptions.extra` under
 * `as ?? name`.
 *
 * Exports: the spec types, `MAX_NAME_LENGTH`, `MAX_VALUE_LENGTH`, `FLOW_FIELDS`,
 * `SERVICE_NAMES`, `SERVICES_CHOICES`, `SERVICE_DEFS`, `SERVER_EXTRA`, `SERVER_SCHEMA`, `DOCUMENT_SCHEMA`,
 * `IP_RULE`, `TCP_ALLOW_RULE`, `SSL_CONTROL`, `STATUS_CONTROL`, `UDP_LISTENER`, `lookupAttribute`.
 * Throws nothing.
 */
import type { ServiceName } from './options.ts';

/** A value in the model, as written (seed units). */
export type ModelScalar = string | number | boolean;
export type ModelValue = ModelScalar | ModelScalar[] | ModelObject | ModelObject[];
export interface ModelObject {
  [name: string]: ModelValue;
}

export type ScalarType = 'uint' | 'string' | 'csString' | 'hostname' | 'ip' | 'ipSet' | 'ipPort' | 'bool' | 'choice';

export interface ScalarSpec {
  type: ScalarType;
  /** `choice`: the allowed words, in their canonical spelling (matched case-insensitively). */
  choices?: readonly string[];
  /** `uint` bounds, in file units. */
  min?: number;
  max?: number;
  /** `uint` unit in the file; resolve converts seconds → ms and kb → bytes. */
  unit?: 'seconds' | 'kb';
  /** `uint`: 0 in the file resolves to UNLIMITED. */
  zeroUnlimited?: boolean;
}

export interface ScalarAttr extends ScalarSpec {
  default?: ModelScalar;
  required?: boolean;
  /** Key in `ServiceOptions.extra` (extras only); defaults to the attribute name. */
  as?: string;
}

export interface SetAttr {
  type: 'set';
  of: ScalarSpec;
  default?: readonly ModelScalar[];
  required?: boolean;
  as?: string;
}

export interface ObjectAttr {
  type: 'object';
  schema: ObjectSchema;
  required?: boolean;
}

export interface ObjectSetAttr {
  type: 'objectSet';
  schema: ObjectSchema;
  required?: boolean;
}

export type AttrSpec = ScalarAttr | SetAttr | ObjectAttr | ObjectSetAttr;

/** `attr` (defaults applied) must be ≥ `atLeast` (defaults applied). */
export interface AtLeastCheck {
  attr: string;
  atLeast: string;
}

export interface ObjectSchema {
  typeName: string;
  /** Keyed by the canonical (seed) spelling; file names match case-insensitively. */
  attributes: Readonly<Record<string, AttrSpec>>;
  checks?: readonly AtLeastCheck[];
  /** Objects of this type are listeners: their `address` must be unique. */
  listener?: 'tcp' | 'udp';
}

export const MAX_NAME_LENGTH = 64;
export const MAX_VALUE_LENGTH = 8192;

// ---- building blocks -------------------------------------------------------------------------

const uint = (def: number | undefined, more: Partial<ScalarAttr> = {}): ScalarAttr =>
  def === undefined ? { type: 'uint', ...more } : { type: 'uint', default: def, ...more };
const seconds = (def: number, min = 1): ScalarAttr => ({ type: 'uint', unit: 'seconds', min, default: def });
const count = (def: number): ScalarAttr => ({ type: 'uint', default: def, zeroUnlimited: true });
const yesNo = (def: boolean): ScalarAttr => ({ type: 'bool', default: def });
const csString = (): ScalarAttr => ({ type: 'csString' });

/** Seed flow-control names, in the seed's order. */
export const FLOW_FIELDS = [
  'maxConnections',
  'maxIntervalConnections',
  'timeInterval',
  'peerMaxConnections',
  'peerMaxIntervalConnections',
  'peerTimeInterval',
] as const;

interface FlowDefaults {
  maxConnections: number;
  maxIntervalConnections: number;
  peerMaxConnections: number;
  peerMaxIntervalConnections: number;
}

const UNLIMITED_FLOW: FlowDefaults = { maxConnections: 0, maxIntervalConnections: 0, peerMaxConnections: 0, peerMaxIntervalConnections: 0 };
/** A listener is the one place with finite defaults: an unlimited default is a security risk. */
const LISTENER_FLOW: FlowDefaults = { maxConnections: 1000, maxIntervalConnections: 6000, peerMaxConnections: 100, peerMaxIntervalConnections: 1200 };

function flowAttrs(d: FlowDefaults): Record<string, AttrSpec> {
  return {
    maxConnections: count(d.maxConnections),
    maxIntervalConnections: count(d.maxIntervalConnections),
    timeInterval: seconds(60),
    peerMaxConnections: count(d.peerMaxConnections),
    peerMaxIntervalConnections: count(d.peerMaxIntervalConnections),
    peerTimeInterval: seconds(60),
  };
}

export const IP_RULE: ObjectSchema = {
  typeName: 'IpRule',
  attributes: { ipSet: { type: 'ipSet', required: true }, enable: yesNo(true), priority: uint(100) },
};

export const TCP_ALLOW_RULE: ObjectSchema = {
  typeName: 'TcpAllowRule',
  attributes: { ...IP_RULE.attributes, ...flowAttrs(UNLIMITED_FLOW) },
};

export const SSL_CONTROL: ObjectSchema = {
  typeName: 'SslControl',
  attributes: {
    allowedVersions: { type: 'set', of: { type: 'choice', choices: ['tls1', 'tls1_1', 'tls1_2', 'tls1_3'] }, default: ['tls1_2', 'tls1_3'] },
    certFile: csString(),
    keyFile: csString(),
    caFile: csString(),
    maxChainDepth: uint(9),
    requestClientAuth: yesNo(false),
    cipherSuite: { type: 'string' },
  },
};

function tcpListener(idleTimeout: number): ObjectSchema {
  return {
    typeName: 'TcpListener',
    listener: 'tcp',
    attributes: {
      address: { type: 'ipPort', required: true },
      enable: yesNo(true),
      idleTimeout: seconds(idleTimeout),
      ...flowAttrs(LISTENER_FLOW),
      sslEnable: yesNo(false),
      sslControl: { type: 'object', schema: SSL_CONTROL },
      allowRules: { type: 'objectSet', schema: TCP_ALLOW_RULE },
      denyRules: { type: 'objectSet', schema: IP_RULE },
    },
  };
}

export const UDP_LISTENER: ObjectSchema = {
  typeName: 'IpListener',
  listener: 'udp',
  attributes: {
    address: { type: 'ipPort', required: true },
    enable: yesNo(true),
    allowRules: { type: 'objectSet', schema: IP_RULE },
    denyRules: { type: 'objectSet', schema: IP_RULE },
  },
};

const THREAD_ATTRS: Record<string, AttrSpec> = {
  minConnThreads: uint(1, { min: 1 }),
  maxConnThreads: uint(2, { min: 1 }),
  threadSessions: uint(500, { min: 1 }),
  threadIdleTimeout: seconds(30),
  connThreadHeapSize: uint(262144, { unit: 'kb', min: 4096 }),
  minPoolThreads: uint(0),
  maxPoolThreads: uint(2, { min: 1 }),
};
const THREAD_CHECKS: readonly AtLeastCheck[] = [
  { attr: 'maxConnThreads', atLeast: 'minConnThreads' },
  { attr: 'maxPoolThreads', atLeast: 'minPoolThreads' },
];

// ---- services --------------------------------------------------------------------------------

export const SERVICE_NAMES: readonly ServiceName[] = [
  'smtpIncoming', 'processing', 'smtpOutgoing', 'pop3', 'imap', 'webmail', 'webadmin',
  'cli', 'log', 'report', 'ftpBackup', 'rpop', 'pop3Proxy', 'imapProxy', 'webmailProxy',
];

/** The `services` CHOICE-SET: every service, plus the seed's `smtp` (smtpIncoming + smtpOutgoing +
 * processing, expanded by resolve). */
export const SERVICES_CHOICES: readonly string[] = [...SERVICE_NAMES, 'smtp'];

/** Extras every TCP service accepts. */
const TCP_EXTRA: Record<string, AttrSpec> = {
  maxLineLength: uint(8192, { min: 64 }), // bytes, one protocol line
  // (Postern) the hostile-client bounds of session/line-session.ts:
  maxPendingOutput: uint(256, { unit: 'kb', min: 16, as: 'maxPendingOutputBytes' }), // unsent replies before reading stops, KB
  commandTimeout: { ...seconds(60), as: 'commandTimeoutMs' }, // one whole command line, from its first byte
  minDataRate: uint(1, { unit: 'kb', as: 'minDataRateBytes' }), // message and file data, KB/s over dataRateWindow; 0 = off
  dataRateWindow: { ...seconds(30), as: 'dataRateWindowMs' },
  stressTimeout: { ...seconds(10), as: 'stressTimeoutMs' }, // idle and command deadline while a listener is over 80 % full
  // (Postern) the service's login-failure tracker, per remote IP, on every login path (auth/throttle.ts)
  authFailureDelay: seconds(1, 0), // first delay before a login check after a failure; 0 = off
  authFailureMaxDelay: seconds(16),
  authFailureWindow: seconds(300), // failures are forgotten this long after the last one
  authFailureTrackedIps: uint(10000, { min: 1 }),
  authBanThreshold: count(20), // failures within authFailureWindow that ban the IP; 0 = never
  authBanTime: seconds(600),
};

/** SASL mechanisms by the seed's names (`normal login` is the separate *ConnAllowLogin). */
const AUTH_TYPES = ['plain', 'login', 'cramMd5', 'digestMd5', 'gssapi'] as const;
const authTypes = (): AttrSpec => ({ type: 'set', of: { type: 'choice', choices: AUTH_TYPES }, default: ['plain', 'login', 'cramMd5'] });

/** POP3 (seed 002; src/protocols/pop3/options.ts reads them). digestMd5 and gssapi are accepted
 * but not implemented: AUTH answers "mechanism not supported" and CAPA does not list them. */
const POP3_EXTRA: Record<string, AttrSpec> = {
  plainConnAllowLogin: yesNo(true),
  secureConnAllowLogin: yesNo(true),
  plainConnAuthTypes: authTypes(),
  secureConnAuthTypes: authTypes(),
  allowStartTLS: yesNo(true),
  greetingsText: { type: 'csString' }, // the +OK greeting; default "<hostname> Postern POP3 server ready"
  authCacheSize: uint(10000), // (Postern) verified logins kept per thread; 0 = no cache
  authCacheTtl: seconds(3600),
};

/** Server-level attributes a service also receives in its `extra` (the seed keeps them in the
 * SERVER context): pop3ExclusiveLock. */
export const SERVER_EXTRA: Readonly<Partial<Record<ServiceName, readonly string[]>>> = { pop3: ['pop3ExclusiveLock'] };

/** FTP backup (seed 003; src/protocols/ftp/index.ts reads them). Passive data listeners bind on
 * the control connection's local address, on a free port of [passivePortMin, passivePortMax]. */
const FTP_EXTRA: Record<string, AttrSpec> = {
  passivePortMin: uint(21000, { min: 1, max: 65535 }),
  passivePortMax: uint(21999, { min: 1, max: 65535 }),
  dataTimeout: { ...seconds(60), as: 'dataTimeoutMs' }, // (Postern) data connection setup and stalls
  maxUploadSize: uint(51200, { unit: 'kb', min: 1, as: 'maxUploadBytes' }), // (Postern) one STOR, KB
};
/** SMTP receiving (inventory §4; src/protocols/smtp/options.ts reads them). Sizes in KB. */
const SMTP_IN_EXTRA: Record<string, AttrSpec> = {
  maxLineLength: uint(2048, { min: 512 }), // a command line, bytes (RFC 5321: at least 512)
  maxDataSize: uint(10240, { unit: 'kb', min: 1, max: 4194304, as: 'maxMessageBytes' }), // one message
  maxRcptCount: uint(100, { min: 1, max: 1000 }),
  maxReceivedHeaders: uint(30, { min: 1, max: 999 }), // loop protection
  greetingsText: { type: 'string' }, // the 220 banner after the code; default "<host> ESMTP Postern"
  plainConnAuthTypes: authTypes(),
  secureConnAuthTypes: authTypes(),
  allowStartTLS: yesNo(true), // offered when the listener has a certificate
  allowPipelining: yesNo(true),
  allow8BitMime: yesNo(true),
  allowBinaryMime: yesNo(true), // BODY=BINARYMIME, with CHUNKING
  allowChunking: yesNo(true), // BDAT
  allowSmtpUtf8: yesNo(true),
  allowBareLineFeed: yesNo(false), // (Postern) accept DATA lines ending in a bare LF (SMTP smuggling)
  allowBareCarriageReturn: yesNo(false), // (Postern) accept a CR not followed by LF in DATA/BDAT (SMTP smuggling)
  relayNetworks: { type: 'set', of: { type: 'ipSet' }, default: [] }, // may relay without AUTH
};

/** Processing (inventory §5): the retry schedule of the queue. */
const PROCESSING_EXTRA: Record<string, AttrSpec> = {
  maxRetryCount: uint(20, { max: 1000 }), // retries after the first attempt; then the recipient fails
  schedInterval: { ...seconds(300), as: 'schedIntervalMs' }, // first retry; doubles each time
  maxSchedInterval: { ...seconds(28800), as: 'maxSchedIntervalMs' }, // where the doubling stops
  deliveryThreads: uint(4, { min: 1, max: 64 }), // (Postern) delivery batches in flight per thread
  poolMessageSize: uint(64, { unit: 'kb', as: 'poolMessageBytes' }), // (Postern) larger messages are parsed on the pool; 0 = all
};

const SERVICE_CHECKS: Readonly<Partial<Record<ServiceName, readonly AtLeastCheck[]>>> = {
  ftpBackup: [{ attr: 'passivePortMax', atLeast: 'passivePortMin' }],
  processing: [{ attr: 'maxSchedInterval', atLeast: 'schedInterval' }],
};

/** Protocol-specific attributes, per service: each protocol issue adds its own here. */
const SERVICE_EXTRA: Readonly<Record<ServiceName, Record<string, AttrSpec>>> = {
  smtpIncoming: SMTP_IN_EXTRA, processing: PROCESSING_EXTRA, smtpOutgoing: {}, pop3: POP3_EXTRA, imap: {}, webmail: {},
  webadmin: {}, cli: {}, log: {}, report: {}, ftpBackup: FTP_EXTRA, rpop: {}, pop3Proxy: {},
  imapProxy: {}, webmailProxy: {},
};

export interface ServiceDef {
  name: ServiceName;
  transport: 'tcp' | 'udp' | 'none';
  /** Used when the service block has no `listeners` attribute. */
  defaultListener: string | null;
  /** Seconds; the TcpListener `idleTimeout` default (null: no TCP listeners). */
  idleTimeout: number | null;
  /** Attributes that resolve into `ServiceOptions.extra`. */
  extra: Readonly<Record<string, AttrSpec>>;
  schema: ObjectSchema;
}

function serviceDef(name: ServiceName, transport: 'tcp' | 'udp' | 'none', defaultListener: string | null, idleTimeout: number | null): ServiceDef {
  const extra = { ...(transport === 'tcp' ? TCP_EXTRA : {}), ...SERVICE_EXTRA[name] };
  let attributes: Record<string, AttrSpec>;
  if (transport === 'tcp') {
    attributes = {
      listeners: { type: 'objectSet', schema: tcpListener(idleTimeout ?? 300) },
      allowRules: { type: 'objectSet', schema: TCP_ALLOW_RULE },
      denyRules: { type: 'objectSet', schema: IP_RULE },
      ...flowAttrs(UNLIMITED_FLOW),
      maxErrors: count(10),
      maxAuthErrors: count(3),
      ...THREAD_ATTRS,
    };
  } else if (transport === 'udp') {
    attributes = {
      listeners: { type: 'objectSet', schema: UDP_LISTENER },
      allowRules: { type: 'objectSet', schema: IP_RULE },
      denyRules: { type: 'objectSet', schema: IP_RULE },
      ...THREAD_ATTRS,
    };
  } else {
    attributes = { ...THREAD_ATTRS };
  }
  const schema: ObjectSchema = { typeName: `${name}Service`, attributes: { ...attributes, ...extra }, checks: [...THREAD_CHECKS, ...(SERVICE_CHECKS[name] ?? [])] };
  return { name, transport, defaultListener, idleTimeout, extra, schema };
}

export const SERVICE_DEFS: Readonly<Record<ServiceName, ServiceDef>> = {
  smtpIncoming: serviceDef('smtpIncoming', 'tcp', '127.0.0.1:2525', 300),
  processing: serviceDef('processing', 'none', null, null),
  smtpOutgoing: serviceDef('smtpOutgoing', 'none', null, null),
  pop3: serviceDef('pop3', 'tcp', '127.0.0.1:1110', 600),
  imap: serviceDef('imap', 'tcp', '127.0.0.1:1143', 1800),
  webmail: serviceDef('webmail', 'tcp', '127.0.0.1:8080', 300),
  webadmin: serviceDef('webadmin', 'tcp', '127.0.0.1:9000', 300),
  cli: serviceDef('cli', 'tcp', '127.0.0.1:7000', 300),
  log: serviceDef('log', 'udp', '127.0.0.1:2000', null),
  report: serviceDef('report', 'udp', '127.0.0.1:2001', null),
  ftpBackup: serviceDef('ftpBackup', 'tcp', '127.0.0.1:2121', 900),
  rpop: serviceDef('rpop', 'none', null, null),
  pop3Proxy: serviceDef('pop3Proxy', 'tcp', '127.0.0.1:8110', 600),
  imapProxy: serviceDef('imapProxy', 'tcp', '127.0.0.1:8143', 1800),
  webmailProxy: serviceDef('webmailProxy', 'tcp', '127.0.0.1:8800', 300),
};

// ---- the server and the document -------------------------------------------------------------

/** The status endpoint's connection limits (the listener flow fields, finite defaults, and
 * idleTimeout), counted by the same admission code as every service's listeners. */
const STATUS_FLOW: FlowDefaults = { maxConnections: 64, maxIntervalConnections: 600, peerMaxConnections: 16, peerMaxIntervalConnections: 300 };
export const STATUS_CONTROL: ObjectSchema = {
  typeName: 'StatusControl',
  // requestTimeout: (Postern) a request must arrive whole within it (a slowloris holds no slot)
  attributes: { idleTimeout: seconds(30), requestTimeout: seconds(10), ...flowAttrs(STATUS_FLOW) },
};

const serviceAttrs: Record<string, AttrSpec> = {};
for (const name of SERVICE_NAMES) serviceAttrs[name] = { type: 'object', schema: SERVICE_DEFS[name].schema };

export const SERVER_SCHEMA: ObjectSchema = {
  typeName: 'Server',
  attributes: {
    services: { type: 'set', of: { type: 'choice', choices: SERVICES_CHOICES }, default: [] },
    primaryDomain: { type: 'string', default: 'localdomain' },
    hostname: { type: 'hostname' }, // (Postern) this server's name; default: the OS's fully qualified name
    statusListener: { type: 'ipPort', default: '127.0.0.1:9100' },
    statusControl: { type: 'object', schema: STATUS_CONTROL }, // its connection limits
    logLevel: { type: 'choice', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    dataDir: csString(),
    enableFaultInjection: yesNo(false),
    shutdownTimeout: seconds(30, 0),
    pop3ExclusiveLock: yesNo(false), // seed SERVER context: one POP3 session per maildrop
    allowRules: { type: 'objectSet', schema: TCP_ALLOW_RULE },
    denyRules: { type: 'objectSet', schema: IP_RULE },
    ...serviceAttrs,
  },
};

/** The whole file: one `Server` object. */
export const DOCUMENT_SCHEMA: ObjectSchema = {
  typeName: 'document',
  attributes: { Server: { type: 'object', schema: SERVER_SCHEMA, required: true } },
};

const lookups = new WeakMap<ObjectSchema, Map<string, string>>();

/** The canonical spelling of `name` in `schema`, matched case-insensitively; undefined if unknown. */
export function lookupAttribute(schema: ObjectSchema, name: string): string | undefined {
  let map = lookups.get(schema);
  if (map === undefined) {
    map = new Map(Object.keys(schema.attributes).map((k) => [k.toLowerCase(), k]));
    lookups.set(schema, map);
  }
  return map.get(name.toLowerCase());
}
