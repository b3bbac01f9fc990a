/**
 * config/schema.ts: the config file's object types and attributes, as data. Names, types,
 * units and defaults follow the seed system (times in seconds, sizes in KB, 0 = unlimited for
 * counts marked `zeroUnlimited`); config/model.ts validates against it and resolves with it,
 * config/write.ts quotes by it.
 *
 * Services are declared in ONE table, `SERVICE_TABLE` (Postfix master.cf as data): each row
 * names the service, its transport (tcp, udp, worker, http), its module, its options schema
 * (the protocol-specific attributes: a protocol adds its own `*_OPTIONS` below and names it in
 * its row, with its `optionsKind`; they are accepted in that service's block and config/resolve.ts
 * resolves them once, by that kind, into the typed `ServiceOptions.protocol` of config/options.ts;
 * every TCP service also takes TCP_OPTIONS, resolved into `ServiceOptions.session`), its default
 * listener and idle timeout, and whether the embedded default runs it. Everything else
 * (`ServiceName`, `SERVICE_NAMES`, `SERVICE_DEFS`, the Server schema's service blocks and
 * `services` choices, config/default.ts, service/table.ts) is derived from it. Tests add their
 * own rows with `registerServices`.
 *
 * Exports: the spec types, `MAX_NAME_LENGTH`, `MAX_VALUE_LENGTH`, `FLOW_FIELDS`,
 * `SERVICE_TABLE`, `ServiceRow`, `ServiceTransport`, `ServiceName`, `listenerKind`, `TCP_OPTIONS`, `HTTP_OPTIONS`,
 * `defineService(name, transport, description, fields)`,
 * `SERVICE_NAMES`, `SERVICES_CHOICES`, `SERVICE_DEFS`, `serviceDefs()`, `registerServices(rows)`,
 * `SERVER_SCHEMA`, `DOCUMENT_SCHEMA`, `IP_RULE`, `TCP_ALLOW_RULE`,
 * `SSL_CONTROL`, `STATUS_CONTROL`, `DNR_SCHEMA`, `LDAP_CONNECTOR`, `USERDB_SCHEMA`, `USER_MAP`, `DNR_NAME_SERVER`, `UDP_LISTENER`, `lookupAttribute`.
 * Throws: CONFIG_DUPLICATE (`registerServices` with a name already taken).
 */
import { PosternError } from '../errors.ts';
import { LOG_LEVEL_CHOICES } from '../net/syslog.ts';

/** A value in the model, as written (seed units). */
export type ModelScalar = string | number | boolean;
export type ModelValue = ModelScalar | ModelScalar[] | ModelObject | ModelObject[];
export interface ModelObject {
  [name: string]: ModelValue;
}

export type ScalarType = 'uint' | 'string' | 'csString' | 'hostname' | 'ip' | 'ipSet' | 'ipPort' | 'ipOptPort' | 'bool' | 'choice';

export interface ScalarSpec {
  type: ScalarType;
  /** `choice`: the allowed words, in their canonical spelling (matched case-insensitively). */
  choices?: readonly string[];
  /** `uint` bounds, in file units. */
  min?: number;
  max?: number;
  /** `uint` unit in the file; resolve converts seconds → ms and kb → bytes. */
  unit?: 'seconds' | 'kb';
  /** `uint`: 0 in the file resolves to UNLIMITED ("no limit"). */
  zeroUnlimited?: boolean;
  /** `uint`: 0 in the file resolves to OFF ("switched off"). */
  zeroOff?: boolean;
}

export interface ScalarAttr extends ScalarSpec {
  default?: ModelScalar;
  required?: boolean;
}

export interface SetAttr {
  type: 'set';
  of: ScalarSpec;
  default?: readonly ModelScalar[];
  required?: boolean;
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

/** Every service's logging (inventory §8; net/syslog.ts, net/log-sink.ts; resolved into
 * `ServiceOptions.logging`): the levels sent (a word: it and every more severe level; or the
 * seed's bitmask, critical 1 error 2 warning 4 info 8 protocol 16), where (internal: this
 * server's Log service; remote: the Log service at logHost; system: syslog, facility mail, at
 * logHost or 127.0.0.1:514), and the datagrams a thread lets wait before dropping records. */
const LOG_ATTRS: Record<string, AttrSpec> = {
  logLevel: { type: 'choice', choices: LOG_LEVEL_CHOICES, default: 'warning' },
  logType: { type: 'choice', choices: ['internal', 'remote', 'system'], default: 'internal' },
  logHost: { type: 'ipPort' },
  logQueueSize: uint(1000, { min: 1 }), // (Postern) datagrams waiting for their send, per thread
};

// ---- services --------------------------------------------------------------------------------

/** What every TCP service accepts besides listeners and limits: resolved into
 * `ServiceOptions.session` (config/options.ts SessionOptions). */
export const TCP_OPTIONS: Readonly<Record<string, AttrSpec>> = {
  maxLineLength: uint(8192, { min: 64 }), // bytes, one protocol line
  // (Postern) the hostile-client bounds of session/line-session.ts:
  maxPendingOutput: uint(256, { unit: 'kb', min: 64 }), // unsent replies before reading stops, KB; at least the socket's own 64 KiB buffer (Node's highWaterMark), below which write() cannot report it
  commandTimeout: seconds(60), // one whole command line, from its first byte
  minDataRate: uint(1, { unit: 'kb', zeroOff: true }), // message and file data, KB/s over dataRateWindow; 0 = OFF
  dataRateWindow: seconds(30),
  stressTimeout: seconds(10), // idle and command deadline while a listener is over 80 % full
  // (Postern) the service's login-failure tracker, per remote IP, on every login path (auth/throttle.ts)
  authFailureDelay: { ...seconds(1, 0), zeroOff: true }, // first delay before a login check after a failure; 0 = OFF
  authFailureMaxDelay: seconds(16),
  authFailureWindow: seconds(300), // failures are forgotten this long after the last one
  authFailureTrackedIps: uint(10000, { min: 1 }),
  authBanThreshold: count(20), // failures within authFailureWindow that ban the IP; 0 = never
  authBanTime: seconds(600),
};

/** SASL mechanisms by the seed's names (`normal login` is the separate *ConnAllowLogin), plus
 * (Postern) scramSha256 (auth/sasl.ts builds plain, login, cramMd5 and scramSha256). */
const AUTH_TYPES = ['plain', 'login', 'cramMd5', 'digestMd5', 'gssapi', 'scramSha256'] as const;
const authTypes = (): AttrSpec => ({ type: 'set', of: { type: 'choice', choices: AUTH_TYPES }, default: ['plain', 'login', 'cramMd5', 'scramSha256'] });

/** (issue 16) Where a service with logins checks passwords: `local` (the store's directory) or
 * `ldap` (LDAP Bind against the Server's `userdb.ldapConnectors` entry named
 * `userdbConnectorName`; the account must still exist in the store). Owner: cl-ldap. */
const USERDB_LOGIN: Record<string, AttrSpec> = {
  userdbConnectorType: { type: 'choice', choices: ['local', 'ldap'], default: 'local' },
  userdbConnectorName: { type: 'csString' }, // required with userdbConnectorType ldap
};

/** POP3 (seed 002; resolved into config/options.ts Pop3Options). digestMd5 and gssapi are accepted
 * but not implemented: AUTH answers "mechanism not supported" and CAPA does not list them. */
const POP3_OPTIONS: Record<string, AttrSpec> = {
  plainConnAllowLogin: yesNo(true),
  secureConnAllowLogin: yesNo(true),
  plainConnAuthTypes: authTypes(),
  secureConnAuthTypes: authTypes(),
  allowStartTLS: yesNo(true),
  greetingsText: { type: 'csString' }, // the +OK greeting; default "<hostname> Postern POP3 server ready"
  authCacheSize: uint(10000, { zeroOff: true }), // (Postern) verified logins kept per thread; 0 = OFF (no cache)
  authCacheTtl: seconds(3600), // (Postern) how long a verified login is kept
  ...USERDB_LOGIN,
};

/** IMAP (inventory §7, seed names; resolved into config/options.ts ImapOptions). digestMd5 and gssapi
 * are accepted but not implemented, as for POP3. Sizes in KB. */
const IMAP_OPTIONS: Record<string, AttrSpec> = {
  maxLineLength: uint(65536, { min: 64 }), // one line part of a command, bytes (long UID sets; Dovecot's 64 KB)
  plainConnAllowLogin: yesNo(true), // LOGIN without TLS (no: LOGINDISABLED)
  secureConnAllowLogin: yesNo(true),
  plainConnAuthTypes: authTypes(),
  secureConnAuthTypes: authTypes(),
  allowStartTLS: yesNo(true),
  greetingsText: { type: 'csString' }, // the * OK greeting; default "<hostname> Postern IMAP4rev2 server ready"
  imapIdEnabled: yesNo(true), // RFC 2971 ID advertised and answered with the server's name
  imapShowAllFolders: yesNo(false), // LSUB and LIST (SUBSCRIBED) show every folder as subscribed
  maxLiteralSize: uint(51200, { unit: 'kb', min: 1 }), // (Postern) one literal (APPENDLIMIT), KB
  maxCommandSize: uint(65536, { unit: 'kb', min: 1 }), // (Postern) one command's parts and literals together, KB
  maxLiterals: uint(100, { min: 1 }), // (Postern) literals in one command (MULTIAPPEND messages …)
  nonSyncLiterals: { type: 'choice', choices: ['plus', 'minus'], default: 'plus' }, // (Postern) LITERAL+ or LITERAL- (non-sync literals ≤ 4096 bytes)
  maxNesting: uint(64, { min: 2, max: 1000 }), // (Postern) parentheses (and SEARCH OR / NOT) nested in one command
  maxListItems: uint(10000, { min: 16 }), // (Postern) items in one list of a command (FETCH items, flags, search keys, sequence ranges)
  authCacheSize: uint(10000, { zeroOff: true }), // (Postern) verified logins kept per thread; 0 = OFF (no cache)
  authCacheTtl: seconds(3600), // (Postern) how long a verified login is kept
  ...USERDB_LOGIN,
};

/** FTP backup (seed 003; resolved into config/options.ts FtpBackupOptions). Passive data listeners bind on
 * the control connection's local address, on a free port of [passivePortMin, passivePortMax]. */
const FTP_OPTIONS: Record<string, AttrSpec> = {
  passivePortMin: uint(21000, { min: 1, max: 65535 }),
  passivePortMax: uint(21999, { min: 1, max: 65535 }),
  dataTimeout: seconds(60), // (Postern) data connection setup and stalls
  maxUploadSize: uint(51200, { unit: 'kb', min: 1 }), // (Postern) one STOR, KB
};
/** SMTP receiving (inventory §4; resolved into config/options.ts SmtpIncomingOptions). Sizes in KB. */
/** smtpIncoming's SMTP routing target (inventory §19): the user map (a name of the Server's
 * `userMaps`; none: every recipient goes to mappingHost), the default back end, and the back
 * ends' SMTP port when the map names a host alone. */
const SMTP_MAPPING_DATA: ObjectSchema = {
  typeName: 'SmtpMappingData',
  attributes: {
    userMap: { type: 'string' },
    mappingHost: { type: 'string' },
    mappingPort: uint(25, { min: 1, max: 65535 }),
  },
};
const SMTP_IN_OPTIONS: Record<string, AttrSpec> = {
  ...USERDB_LOGIN,
  maxLineLength: uint(2048, { min: 512 }), // a command line, bytes (RFC 5321: at least 512)
  maxDataSize: uint(10240, { unit: 'kb', min: 1, max: 4194304 }), // one message
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
  // (Postern) mail authentication of mail from outside (protocols/smtp/mailauth.ts): SPF, DKIM, DMARC, ARC
  mailAuth: yesNo(true), // check and add Authentication-Results (not for AUTH clients or relayNetworks)
  mailAuthTimeout: seconds(20), // all DNS queries for one message; then temperror
  dmarcPolicy: { type: 'choice', choices: ['enforce', 'monitor'], default: 'enforce' }, // enforce: p=reject → 550 5.7.1, p=quarantine → Junk; monitor: headers only
  dmarcDomainPolicies: { type: 'objectSet', schema: { typeName: 'DmarcDomainPolicy', attributes: { domain: { type: 'string', required: true }, policy: { type: 'choice', choices: ['enforce', 'monitor'], required: true } } } }, // per author (From) domain and its subdomains
  // cluster SMTP routing (inventory §19, issue 16 §4): a front end relays mail for users found in the map to their back end
  enableSmtpRouting: yesNo(false),
  mappingData: { type: 'object', schema: SMTP_MAPPING_DATA },
};

/** Processing (inventory §5): the retry schedule of the queue (config/options.ts ProcessingOptions). */
const PROCESSING_OPTIONS: Record<string, AttrSpec> = {
  maxRetryCount: uint(20, { max: 1000 }), // retries after the first attempt; then the recipient fails
  schedInterval: seconds(300), // first retry; doubles each time
  maxSchedInterval: seconds(28800), // where the doubling stops
  deliveryThreads: uint(4, { min: 1, max: 64 }), // (Postern) delivery batches in flight per thread
  poolMessageSize: uint(64, { unit: 'kb' }), // (Postern) larger messages are parsed on the pool; 0 = all of them
  delayNoticeAfter: uint(4, { max: 1000 }), // a delay notice (DSN) after this many failed attempts; 0 = none
  maxBounceReturnSize: uint(256, { unit: 'kb' }), // (Postern) a bounce returns the whole message up to this size, else its header
};

/** RPOP (inventory §13; resolved into config/options.ts RpopOptions): the remote POP3 polls. */
const RPOP_OPTIONS: Record<string, AttrSpec> = {
  maxConnections: uint(10, { min: 1, max: 10000 }), // (Postern) polls in progress at once, over all the service's threads
  minInterval: seconds(60), // (Postern) a connection's interval is at least this
  maxRetryInterval: seconds(3600), // (Postern) after failures the interval doubles up to this
  connectTimeout: seconds(30), // (Postern) TCP connect and TLS handshake
  rwTimeout: seconds(60), // (Postern) each answer of the remote
  maxMessageSize: uint(10240, { unit: 'kb', min: 1, max: 4194304 }), // (Postern) bigger messages stay on the remote
  maxMessagesPerPoll: uint(500, { min: 1, max: 100000 }), // (Postern) the rest waits for the next poll
  maxLineLength: uint(8192, { min: 512 }), // (Postern) a status or listing line of the remote, bytes
  caFile: csString(), // (Postern) PEM CAs trusted for the remotes' certificates; default Node's bundled roots
};

/** SMTP sending (inventory §6; resolved into config/options.ts SmtpOutgoingOptions). A route
 * (first match wins; none matches: MX) picks mail by recipient domain (`example.com`,
 * `*.example.com`) and/or sender (`user@example.com`, `@example.com`) and sends it by MX or to a
 * smart host. Times in seconds. */
const SMART_HOST: ObjectSchema = {
  typeName: 'SmartHost',
  attributes: {
    host: { type: 'string', required: true },
    port: uint(25, { min: 1, max: 65535 }),
    ssl: yesNo(false), // implicit TLS (port 465)
    startTls: { type: 'choice', choices: ['yes', 'no', 'required'], default: 'yes' },
    authUser: { type: 'string' },
    authPassword: { type: 'string' },
    authMethod: { type: 'choice', choices: ['PLAIN', 'LOGIN', 'CRAM-MD5'], default: 'PLAIN' },
  },
};
const OUT_ROUTE: ObjectSchema = {
  typeName: 'OutgoingRoute',
  attributes: {
    rcptDomain: { type: 'string', default: '' }, // '' : any; `example.com` or `*.example.com`
    sender: { type: 'string', default: '' }, // '' : any; `user@example.com` or `@example.com`
    action: { type: 'choice', choices: ['mx', 'smartHost'], default: 'mx' },
    smartHost: { type: 'object', schema: SMART_HOST },
    requireTLS: yesNo(false), // no TLS with a valid certificate: deferred, never sent in clear
  },
};
const SMTP_OUT_OPTIONS: Record<string, AttrSpec> = {
  maxConnectionsPerDomain: uint(5, { min: 1, max: 1000 }), // (Postern) open connections to one destination, per thread
  maxMessagesPerConnection: uint(100, { min: 1 }), // (Postern) then the connection is closed and a new one opened
  connectTimeout: seconds(30),
  rwTimeout: seconds(300), // one reply or one write
  enableIPv6: yesNo(false),
  heloName: { type: 'hostname' }, // default: the server's hostname
  routes: { type: 'objectSet', schema: OUT_ROUTE },
  mtaSts: yesNo(true), // RFC 8461 policies fetched, cached and enforced
  mxPort: uint(25, { min: 1, max: 65535 }), // (Postern) the port MX and A hosts are reached on (tests)
  tlsCaFile: csString(), // (Postern) PEM CAs trusted besides Node's, to verify remote certificates
  mtaStsPolicyAddress: { type: 'string', default: '' }, // (Postern, tests) host:port the MTA-STS policy is fetched from instead of mta-sts.<domain>:443
};

/** The seed's HTTP options (inventory §10, §18; resolved into config/options.ts HttpOptions), for
 * every HTTP service (WebMail, WebAdmin, the WebMail proxy). Sizes in KB, times in seconds. */
export const HTTP_OPTIONS: Readonly<Record<string, AttrSpec>> = {
  allowKeepAlive: yesNo(true), // no: every answer carries `Connection: close`
  httpHeadersMaxSize: uint(16, { unit: 'kb', min: 1, max: 1024 }), // request line + headers: over it, 431 and close
  httpBodyMaxSize: uint(1024, { unit: 'kb', min: 1 }), // a request body other than an upload: over it, 413
  uploadMaxSize: uint(25600, { unit: 'kb', min: 1 }), // a multipart/form-data body: over it, 413
  allowLargeIncomingData: yesNo(false), // a body over its limit: no: close at once; yes: read and discard it, then 413
  maxPipelinedRequests: uint(16, { min: 1, max: 10000 }), // (Postern) requests a client may send ahead of their answers on one connection: more, and the connection is closed
  sessionIdleTimeout: seconds(1800), // a web session unused this long ends
  sessionActivityTimeout: seconds(43200), // the longest a web session may live
  path: { type: 'csString', default: '' }, // the template root; '': the built-in templates
  virtualHosts: { type: 'objectSet', schema: { typeName: 'VirtualHost', attributes: { host: { type: 'string', required: true }, template: { type: 'csString', required: true } } } },
  UrlRedirect: {
    type: 'object',
    schema: {
      typeName: 'UrlRedirect',
      attributes: { address: { type: 'ipPort', required: true }, host: { type: 'string', default: '' }, port: uint(0, { max: 65535 }), auto: yesNo(false) },
    },
  },
};

/** WebMail (inventory §10): the HTTP options, plus the login's domain helpers. */
const WEBMAIL_OPTIONS: Record<string, AttrSpec> = {
  ...HTTP_OPTIONS,
  showDomainList: yesNo(false), // the login form offers the server's domains
  maxRcptCount: uint(100, { min: 1, max: 1000 }), // recipients (To + Cc + Bcc) of one message sent from WebMail
  hostNameResolver: { type: 'objectSet', schema: { typeName: 'HostNameResolver', attributes: { host: { type: 'string', required: true }, domain: { type: 'string', required: true } } } }, // a login without @domain on `host` gets `domain`
  authCacheSize: uint(10000, { zeroOff: true }), // (Postern) verified logins kept per thread; 0 = OFF (no cache)
  authCacheTtl: seconds(3600), // (Postern) how long a verified login is kept
  ...USERDB_LOGIN,
};

// ---- cluster (issue 16): each block is its owner's; keep edits inside it -----------------

/** What the POP3 and IMAP proxies share (inventory §19; resolved into config/options.ts
 * ProxyOptions): the login policy as POP3/IMAP have it (only PLAIN is offered: the proxy must
 * learn the password to log in on the back end), where a user is routed, and the connections to
 * the back ends (`connectionData`). */
function proxyOptions(mappingPort: number): Record<string, AttrSpec> {
  const plainOnly = (): AttrSpec => ({ type: 'set', of: { type: 'choice', choices: ['plain'] }, default: ['plain'] });
  return {
    ...USERDB_LOGIN, // the proxy's own check (authenticateOnProxy with no LDAP map): local or an LDAP connector
    plainConnAllowLogin: yesNo(true),
    secureConnAllowLogin: yesNo(true),
    plainConnAuthTypes: plainOnly(),
    secureConnAuthTypes: plainOnly(),
    allowStartTLS: yesNo(true),
    greetingsText: { type: 'csString' }, // default "<hostname> Postern POP3 proxy ready" / "… IMAP proxy ready"
    authCacheSize: uint(10000, { zeroOff: true }), // (Postern) logins verified on the proxy (its own directory or an LDAP user map), kept per thread; 0 = OFF
    authCacheTtl: seconds(3600),
    authenticateOnProxy: yesNo(true), // yes: the proxy checks the password (the user map's LDAP, else its own directory); no: the back end does
    userMap: { type: 'string' }, // the name of a Server userMaps entry; absent: every user goes to mappingData
    mappingData: {
      type: 'object',
      schema: { typeName: 'MappingData', attributes: { mappingHost: { type: 'string', default: '' }, mappingPort: uint(mappingPort, { min: 1, max: 65535 }) } },
    }, // the back end of users the map has no entry for ('' : none, a permanent error)
    connectionData: {
      type: 'object',
      schema: {
        typeName: 'ConnectionData',
        attributes: {
          rwTimeout: seconds(30), // connect, TLS handshake, greeting and each login step on the back end
          maxConnections: uint(1000, { min: 1 }), // open connections to the back ends, over the service's threads
          sslEnable: yesNo(false), // implicit TLS to the back end
          caFile: csString(), // (Postern) PEM CAs trusted for the back ends' certificates; default Node's bundled roots
          sslVerify: yesNo(true), // (Postern) no: any certificate is accepted (a private network)
          localInterface: { type: 'string', default: '' }, // source address of the connections; '' : any
        },
      },
    },
  };
}

/** POP3 proxy (inventory §19; config/options.ts Pop3ProxyOptions). Owner: the proxies. */
const POP3_PROXY_OPTIONS: Record<string, AttrSpec> = {
  ...proxyOptions(110),
};

/** IMAP proxy (inventory §19; config/options.ts ImapProxyOptions). Owner: the proxies. */
const IMAP_PROXY_OPTIONS: Record<string, AttrSpec> = {
  ...proxyOptions(143),
  imapIdEnabled: yesNo(true), // the client's ID is passed on to the back end (and answered before login)
};

/** WebMail proxy (seed 001, inventory §19; config/options.ts WebmailProxyOptions). Owner: the WebMail proxy. */
const WEBMAIL_PROXY_MAPPING: ObjectSchema = {
  typeName: 'WebmailProxyMappingData',
  attributes: {
    mappingHost: { type: 'string', default: '127.0.0.1' }, // the back end of a user the map does not know (or of every user without a map)
    mappingPort: uint(8080, { min: 1, max: 65535 }), // its WebMail port; also the port of a map entry that names a host alone
  },
};
const WEBMAIL_PROXY_CONNECTION: ObjectSchema = {
  typeName: 'WebmailProxyConnectionData',
  attributes: {
    connectTimeout: seconds(10), // TCP connect (and TLS handshake) to a back end: past it, a 502 page
    rwTimeout: seconds(60), // a back end's answer (its headers, then each piece of its body): past it, a 504 page
    maxConnections: uint(16, { min: 1, max: 10000 }), // parallel requests to one back end (per thread); the rest wait in its queue
    localInterface: { type: 'ip' }, // the source address of connections to the back ends; default the system's choice
    sslEnable: yesNo(false), // HTTPS to the back ends
    caFile: csString(), // PEM CAs trusted for the back ends' certificates (sslEnable); default Node's bundled roots
    verify: yesNo(true), // check the back end's certificate (sslEnable)
  },
};
const WEBMAIL_PROXY_OPTIONS: Record<string, AttrSpec> = {
  ...HTTP_OPTIONS,
  userMap: { type: 'string' }, // the name of a Server-level user map; unset: every user goes to mappingData
  mappingData: { type: 'object', schema: WEBMAIL_PROXY_MAPPING },
  authenticateOnProxy: yesNo(false), // yes: the user map checks the password (LDAP Password or LDAP Bind) before any back end is asked
  requestQueueSize: uint(256, { max: 100000 }), // requests waiting for one back end (per thread) beyond maxConnections: more, and 503 at once
  connectionData: { type: 'object', schema: WEBMAIL_PROXY_CONNECTION },
};

// ---- operators' services (issue 17): each block is its owner's ---------------------------

/** The telnet CLI (inventory §17; config/options.ts CliOptions). Owner: the CLI. */
const CLI_OPTIONS: Record<string, AttrSpec> = {
  maxCommandLength: uint(1024, { min: 64, max: 65536 }), // (Postern) bytes, one command line (the smaller of it and maxLineLength applies): over it, -ERR: and one error
  maxAuthCommands: count(20), // seed: commands a client may send before it has logged in; then the session is closed (0 = unlimited)
  greetingsText: { type: 'csString' }, // the banner's +OK text; default "Welcome to Postern's command line interface (<hostname>)"
};

/** WebAdmin (inventory §18; config/options.ts WebadminOptions). Owner: WebAdmin. */
const WEBADMIN_OPTIONS: Record<string, AttrSpec> = {
  ...HTTP_OPTIONS,
  sseInterval: seconds(1), // (Postern) the dashboard's live snapshot (/events): one every this many seconds
  maxEventStreams: uint(4, { min: 1, max: 64 }), // (Postern) live streams one session may hold open; one more: 429
  maxLogLines: uint(500, { min: 1, max: 5000 }), // (Postern) most log lines the logs page asks for
};

/** A Log service rule (seed `CONFIG LOG` → `ADD Rule priority P`): records of the hostname,
 * module and levels go to fileName (under <dataDir>/log/ unless absolute), rotated when it
 * reaches fileSize (KB) or has been written fileTime seconds, or at a rotatePeriod boundary;
 * fileCount old files are kept (name.1 newest … name.N). 0: no size / time limit. */
export const LOG_RULE: ObjectSchema = {
  typeName: 'LogRule',
  attributes: {
    priority: uint(undefined, { required: true }),
    hostname: { type: 'string', default: '*' }, // exact (case-insensitive) or *
    module: { type: 'string', default: '*' }, // SMTP-IN, POP3, … (net/syslog.ts MODULES), a syslog tag, or *
    logLevel: { type: 'choice', choices: LOG_LEVEL_CHOICES, default: 'protocol' },
    fileName: { type: 'csString', required: true },
    fileSize: uint(10240, { unit: 'kb', zeroUnlimited: true }),
    fileTime: uint(0, { unit: 'seconds', zeroUnlimited: true }),
    fileCount: uint(5, { max: 1000 }),
    rotatePeriod: { type: 'choice', choices: ['none', 'day', 'week', 'month'], default: 'none' },
  },
};

/** The Log service (inventory §8; config/options.ts LogServiceOptions). Owner: the Log service. */
const LOG_OPTIONS: Record<string, AttrSpec> = {
  rules: { type: 'objectSet', schema: LOG_RULE }, // none: one catch-all rule, everything.txt
  maxRecordSize: uint(8192, { min: 64, max: 65507 }), // (Postern) bytes; a longer datagram is ignored and counted
  writeBufferSize: uint(1024, { unit: 'kb', min: 1 }), // (Postern) lines waiting for the disk; beyond, lines are dropped and counted
};

/** The Report service (inventory §9; config/options.ts ReportOptions). Owner: the Report service. */
const REPORT_OPTIONS: Record<string, AttrSpec> = {
  DomainEnable: yesNo(false), // samples also per domain
  DomainObjectEnable: yesNo(false), // samples also per account (the seed's "domain object")
  reportingInterval: uint(4, { min: 1, max: 520 }), // weeks of samples kept; lowering it deletes the older ones
  sampleInterval: { ...seconds(60), max: 3600 }, // (Postern) a sample every this many seconds (the seed: every minute)
  maxScopeKeys: uint(1000, { min: 1, max: 100000 }), // (Postern) distinct domains, and accounts, in one sample: the rest are summed under `other`
  maxNodes: uint(64, { min: 1, max: 10000 }), // (Postern) distinct nodes whose datagrams a Report thread keeps: datagrams of more are dropped and counted
  reportHost: { type: 'ipPort' }, // (Postern) also send this node's samples to the Report service at host:port (a cluster's front end)
};

/** Which typed options a row's `options` resolve to (config/options.ts `ProtocolOptions`, one
 * per kind; config/resolve.ts `PROTOCOL_RESOLVERS`); `none`: no protocol options. */
export type ProtocolKind = 'none' | 'pop3' | 'imap' | 'smtpIncoming' | 'smtpOutgoing' | 'ftpBackup' | 'processing' | 'http' | 'webmail' | 'rpop'
  | 'pop3Proxy' | 'imapProxy' | 'webmailProxy' | 'cli' | 'webadmin' | 'log' | 'report';

/** How a service meets the world: `tcp` (line protocols over TCP listeners), `http` (HTTP over
 * TCP listeners), `udp` (datagram listeners), `worker` (no listener: queue workers, clients). */
export type ServiceTransport = 'tcp' | 'udp' | 'worker' | 'http';

/** One row of the services table (Postfix master.cf as data). */
export interface ServiceRow<N extends string = string> {
  readonly name: N;
  readonly transport: ServiceTransport;
  readonly description: string;
  /** URL of the module run in the service's threads; null: not implemented yet (refuses to
   * start with NOT_IMPLEMENTED, still listed on /status). */
  readonly module: string | null;
  /** The protocol-specific attributes of the service's block; config/resolve.ts resolves them,
   * by `optionsKind`, into the typed `ServiceOptions.protocol`. */
  readonly options: Readonly<Record<string, AttrSpec>>;
  /** Which typed options `options` resolve to (config/options.ts ProtocolOptions); `none`: none. */
  readonly optionsKind: ProtocolKind;
  readonly checks?: readonly AtLeastCheck[];
  /** Server-level attributes the service's options also read (the seed keeps them in the
   * SERVER context, e.g. pop3ExclusiveLock). */
  readonly serverOptions?: readonly string[];
  /** `host:port`, used when the service block has no `listeners`; null for workers. */
  readonly defaultListener: string | null;
  /** Seconds; the TcpListener `idleTimeout` default (null: no TCP listeners). */
  readonly idleTimeout: number | null;
  /** The embedded default (config/default.ts) runs it. */
  readonly embedded: boolean;
  /** The service's sessions may run admin commands (SessionContext.admin: cli, webadmin). */
  readonly admin: boolean;
}

const mod = (path: string): string => new URL(path, import.meta.url).href;
/** A frozen row; unspecified fields: no module, no options, no listener, not embedded. */
export function defineService<N extends string>(name: N, transport: ServiceTransport, description: string, o: Partial<Omit<ServiceRow, 'name' | 'transport' | 'description'>> = {}): ServiceRow<N> {
  return Object.freeze({ name, transport, description, module: o.module ?? null, options: o.options ?? {}, optionsKind: o.optionsKind ?? 'none', checks: o.checks ?? [], serverOptions: o.serverOptions ?? [], defaultListener: o.defaultListener ?? null, idleTimeout: o.idleTimeout ?? null, embedded: o.embedded ?? false, admin: o.admin ?? false });
}

/** THE services table: every service the seed system documents, in /status and README order.
 * The config schema, the embedded default, /status, `ctl service …` and the README's services
 * table are derived from it (test/config/services-table.test.ts checks that they agree). */
export const SERVICE_TABLE = Object.freeze([
  defineService('smtpIncoming', 'tcp', 'SMTP receiving (RFC 5321)', { module: mod('../protocols/smtp/index.ts'), options: SMTP_IN_OPTIONS, optionsKind: 'smtpIncoming', defaultListener: '127.0.0.1:2525', idleTimeout: 300, embedded: true }),
  defineService('processing', 'worker', 'queue processing and local delivery', { module: mod('../processing/index.ts'), options: PROCESSING_OPTIONS, optionsKind: 'processing', checks: [{ attr: 'maxSchedInterval', atLeast: 'schedInterval' }], embedded: true }),
  defineService('smtpOutgoing', 'worker', 'SMTP sending', { module: mod('../protocols/smtpOutgoing/index.ts'), options: SMTP_OUT_OPTIONS, optionsKind: 'smtpOutgoing', embedded: true }),
  defineService('pop3', 'tcp', 'POP3 (RFC 1939)', { module: mod('../protocols/pop3/index.ts'), options: POP3_OPTIONS, optionsKind: 'pop3', serverOptions: ['pop3ExclusiveLock'], defaultListener: '127.0.0.1:1110', idleTimeout: 600, embedded: true }),
  defineService('imap', 'tcp', 'IMAP (RFC 9051)', { module: mod('../protocols/imap/index.ts'), options: IMAP_OPTIONS, optionsKind: 'imap', checks: [{ attr: 'maxCommandSize', atLeast: 'maxLiteralSize' }], defaultListener: '127.0.0.1:1143', idleTimeout: 1800, embedded: true }),
  defineService('webmail', 'http', 'WebMail (HTTP)', { module: mod('../protocols/webmail/index.ts'), options: WEBMAIL_OPTIONS, optionsKind: 'webmail', defaultListener: '127.0.0.1:8080', idleTimeout: 300, embedded: true }),
  defineService('webadmin', 'http', 'WebAdmin (HTTP)', { module: mod('../protocols/webadmin/index.ts'), options: WEBADMIN_OPTIONS, optionsKind: 'webadmin', admin: true, defaultListener: '127.0.0.1:9000', idleTimeout: 300, embedded: true }),
  defineService('cli', 'tcp', 'telnet-style administration CLI', { module: mod('../protocols/cli/index.ts'), options: CLI_OPTIONS, optionsKind: 'cli', admin: true, defaultListener: '127.0.0.1:7000', idleTimeout: 300, embedded: true }),
  defineService('log', 'udp', 'remote logging (UDP)', { module: mod('../protocols/log/index.ts'), options: LOG_OPTIONS, optionsKind: 'log', defaultListener: '127.0.0.1:2000', embedded: true }),
  defineService('report', 'udp', 'reporting (UDP)', { module: mod('../protocols/report/index.ts'), options: REPORT_OPTIONS, optionsKind: 'report', defaultListener: '127.0.0.1:2001' }),
  defineService('ftpBackup', 'tcp', 'FTP backup and restore', { module: mod('../protocols/ftp/index.ts'), options: FTP_OPTIONS, optionsKind: 'ftpBackup', checks: [{ attr: 'passivePortMax', atLeast: 'passivePortMin' }], defaultListener: '127.0.0.1:2121', idleTimeout: 900, embedded: true }),
  defineService('rpop', 'worker', 'remote POP3 retrieval', { module: mod('../protocols/rpop/index.ts'), options: RPOP_OPTIONS, optionsKind: 'rpop' }),
  defineService('pop3Proxy', 'tcp', 'POP3 proxy (cluster front end)', { module: mod('../protocols/pop3Proxy/index.ts'), options: POP3_PROXY_OPTIONS, optionsKind: 'pop3Proxy', defaultListener: '127.0.0.1:8110', idleTimeout: 600 }),
  defineService('imapProxy', 'tcp', 'IMAP proxy (cluster front end)', { module: mod('../protocols/imapProxy/index.ts'), options: IMAP_PROXY_OPTIONS, optionsKind: 'imapProxy', defaultListener: '127.0.0.1:8143', idleTimeout: 1800 }),
  defineService('webmailProxy', 'http', 'WebMail proxy (cluster front end)', { module: mod('../protocols/webmailProxy/index.ts'), options: WEBMAIL_PROXY_OPTIONS, optionsKind: 'webmailProxy', defaultListener: '127.0.0.1:8800', idleTimeout: 300 }),
] as const);

/** A service of the table. */
export type ServiceName = (typeof SERVICE_TABLE)[number]['name'];

export const SERVICE_NAMES: readonly ServiceName[] = Object.freeze(SERVICE_TABLE.map((r) => r.name));

/** The `services` CHOICE-SET: every service, plus the seed's `smtp` (smtpIncoming + smtpOutgoing +
 * processing, expanded by resolve), plus registered test rows. */
const serviceChoices: string[] = [...SERVICE_NAMES, 'smtp'];
export const SERVICES_CHOICES: readonly string[] = serviceChoices;

/** The listeners a transport has: http services listen on TCP, workers on nothing. */
export const listenerKind = (t: ServiceTransport): 'tcp' | 'udp' | 'none' => (t === 'http' ? 'tcp' : t === 'worker' ? 'none' : t);

export interface ServiceDef {
  name: ServiceName;
  /** The listener kind (`listenerKind(row.transport)`). */
  transport: 'tcp' | 'udp' | 'none';
  row: ServiceRow;
  /** Used when the service block has no `listeners` attribute. */
  defaultListener: string | null;
  /** Seconds; the TcpListener `idleTimeout` default (null: no TCP listeners). */
  idleTimeout: number | null;
  /** The option attributes of the block (TCP_OPTIONS for a TCP service, then the row's):
   * resolved into `ServiceOptions.session` and `.protocol`. */
  optionAttrs: Readonly<Record<string, AttrSpec>>;
  schema: ObjectSchema;
}

function serviceDef(r: ServiceRow): ServiceDef {
  const transport = listenerKind(r.transport);
  const { idleTimeout, defaultListener } = r;
  const optionAttrs = { ...(transport === 'tcp' ? TCP_OPTIONS : {}), ...r.options };
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
      ...LOG_ATTRS,
    };
  } else if (transport === 'udp') {
    attributes = {
      listeners: { type: 'objectSet', schema: UDP_LISTENER },
      allowRules: { type: 'objectSet', schema: IP_RULE },
      denyRules: { type: 'objectSet', schema: IP_RULE },
      ...THREAD_ATTRS,
      ...LOG_ATTRS,
    };
  } else {
    attributes = { ...THREAD_ATTRS, ...LOG_ATTRS };
  }
  const schema: ObjectSchema = { typeName: `${r.name}Service`, attributes: { ...attributes, ...optionAttrs }, checks: [...THREAD_CHECKS, ...(r.checks ?? [])] };
  return { name: r.name as ServiceName, transport, row: r, defaultListener, idleTimeout, optionAttrs, schema };
}

export const SERVICE_DEFS: Readonly<Record<ServiceName, ServiceDef>> = Object.fromEntries(SERVICE_TABLE.map((r) => [r.name, serviceDef(r)])) as Record<ServiceName, ServiceDef>;

/** Test-only rows (registered by `registerServices`), after the table's. */
const registered: ServiceDef[] = [];

/** The table's services, then the registered test rows. */
export function serviceDefs(): readonly ServiceDef[] {
  return [...SERVICE_NAMES.map((n) => SERVICE_DEFS[n]), ...registered];
}

// ---- the server and the document -------------------------------------------------------------

/** The status endpoint's connection limits (the listener flow fields, finite defaults, and
 * idleTimeout), counted by the same admission code as every service's listeners. */
const STATUS_FLOW: FlowDefaults = { maxConnections: 64, maxIntervalConnections: 600, peerMaxConnections: 16, peerMaxIntervalConnections: 300 };
export const STATUS_CONTROL: ObjectSchema = {
  typeName: 'StatusControl',
  // requestTimeout: (Postern) a request must arrive whole within it (a slowloris holds no slot)
  attributes: { idleTimeout: seconds(30), requestTimeout: seconds(10), ...flowAttrs(STATUS_FLOW) },
};

/** The Server's resolver (seed DNR, net/dnr.ts): name servers by priority (lowest first; none:
 * the OS's), the whole lookup's time bound, retries, the answer cache. */
export const DNR_NAME_SERVER: ObjectSchema = {
  typeName: 'NameServer',
  attributes: { address: { type: 'ipOptPort', required: true }, priority: uint(10, { max: 1000 }) }, // address: ip, ip:port, [ip6]:port (port 53)
};
export const DNR_SCHEMA: ObjectSchema = {
  typeName: 'Dnr',
  attributes: {
    nameServers: { type: 'objectSet', schema: DNR_NAME_SERVER },
    timeout: { ...seconds(10), max: 300 }, // the longest one lookup takes, from its first query
    retries: uint(2, { max: 10 }), // rounds over the name servers after the first
    cacheSize: uint(10000, { max: 1000000 }), // answers kept per query type; 0: nothing cached
    maxCacheTtl: { ...seconds(300), max: 86400 }, // (Postern) an answer is kept at most this long (MX/TXT/PTR: exactly this)
    negativeCacheTtl: { ...seconds(60, 0), max: 3600 }, // (Postern) how long "no such name/record" is kept
  },
};

/** (issue 16) The Server's user databases (`userdb`) and user maps (`userMaps`); resolved into
 * config/options.ts LdapConnectorOptions / UserMapOptions; checked across (unique names, known
 * connectors and maps) by config/model.ts. Owner: cl-ldap. */
export const LDAP_CONNECTOR: ObjectSchema = {
  typeName: 'LdapConnector',
  attributes: {
    name: { type: 'csString', required: true }, // no spaces
    urls: { type: 'set', of: { type: 'csString' }, required: true }, // ldap://host[:port] or ldaps://host[:port], tried in order (failover)
    bindDn: { type: 'csString' }, // the service account; none: anonymous
    bindPassword: { type: 'csString', default: '' },
    baseDn: { type: 'csString', required: true },
    searchFilter: { type: 'csString', default: '(mail=%u)' }, // %u: the full address, %d: its domain (RFC 4515 escaped)
    mailHostAttribute: { type: 'csString', default: 'mailHost' }, // the routing attribute: host or host:port
    startTls: yesNo(false), // STARTTLS on ldap:// URLs (ldaps:// is TLS from the first byte)
    caFile: csString(), // PEM CA to verify the directory's certificate; none: the system's
    timeout: { ...seconds(5), max: 300 }, // one connect or one operation; then USERDB_UNAVAILABLE
    poolSize: uint(4, { min: 1, max: 256 }), // connections per connector per thread
    cacheTtl: { ...seconds(60, 0), zeroOff: true, max: 86400 }, // how long an answer is kept; 0 = no cache
    cacheSize: uint(10000, { max: 1000000 }), // answers kept (least recently used dropped first); 0 = no cache
  },
};
export const USERDB_SCHEMA: ObjectSchema = {
  typeName: 'Userdb',
  attributes: { ldapConnectors: { type: 'objectSet', schema: LDAP_CONNECTOR } },
};
export const USER_MAP: ObjectSchema = {
  typeName: 'UserMap',
  attributes: {
    name: { type: 'csString', required: true }, // no spaces; "none" is reserved (no map)
    type: { type: 'choice', choices: ['file', 'ldapPassword', 'ldapBind'], required: true },
    path: csString(), // type file: the map file (README "User maps")
    ldapConnector: csString(), // type ldapPassword / ldapBind: a userdb.ldapConnectors name
  },
};

const serviceAttrs: Record<string, AttrSpec> = {};
for (const name of SERVICE_NAMES) serviceAttrs[name] = { type: 'object', schema: SERVICE_DEFS[name].schema };
const serverAttributes: Record<string, AttrSpec> = {};

export const SERVER_SCHEMA: ObjectSchema = {
  typeName: 'Server',
  attributes: Object.assign(serverAttributes, {
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
    dnr: { type: 'object', schema: DNR_SCHEMA }, // the server's resolver (net/dnr.ts)
    allowRules: { type: 'objectSet', schema: TCP_ALLOW_RULE },
    denyRules: { type: 'objectSet', schema: IP_RULE },
    userdb: { type: 'object', schema: USERDB_SCHEMA }, // (issue 16) user databases: LDAP connectors
    userMaps: { type: 'objectSet', schema: USER_MAP }, // (issue 16) user maps, by name
    ...serviceAttrs,
  }),
};

/**
 * Test hook: add test-only service rows (a test server's fixtures, which must not borrow the
 * slots of services to come). Each is accepted in `services` and as a block of the Server,
 * resolved like a table row, shown on /status after the table's rows. Registering the same
 * row again does nothing; a name already taken by another row throws CONFIG_DUPLICATE.
 */
export function registerServices(rows: readonly ServiceRow[]): void {
  for (const r of rows) {
    const taken = serviceDefs().find((d) => d.name === r.name) ?? (r.name === 'smtp' || serverAttributes[r.name] !== undefined ? { row: null } : undefined);
    if (taken?.row === r) continue;
    if (taken !== undefined) throw new PosternError('CONFIG_DUPLICATE', `service name "${r.name}" is already taken`, { name: r.name });
    const d = serviceDef(r);
    registered.push(d);
    serviceChoices.push(r.name);
    serverAttributes[r.name] = { type: 'object', schema: d.schema };
    lookups.delete(SERVER_SCHEMA);
  }
}

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
