/**
 * config/options.ts: the resolved, frozen, unit-named options that actors receive.
 *
 * The config file uses the seed system's names and units (seconds, KB); `resolve()` in
 * config/model.ts turns the validated model into these types. Each service actor gets only its
 * own `ServiceOptions`, never the whole config: the common fields, its TCP session bounds
 * (`session`, `SessionOptions`) and its protocol's options (`protocol`, one of
 * `ProtocolOptions`, told apart by `kind`, the row's `optionsKind` in config/schema.ts
 * `SERVICE_TABLE`). Every field is resolved once, by config/resolve.ts, from the row's schema:
 * typed, defaulted, frozen, and named with its unit (`…Ms`, `…Bytes`, `…BytesPerSec`).
 * Protocol code reads these fields (`optionsOf(service, 'pop3')`) and never parses.
 *
 * A 0 in the config file means one of three things, each spelled one way here:
 * - "no limit" (counts marked `zeroUnlimited`: maxErrors, flow counts, authBanThreshold):
 *   `UNLIMITED` (+Infinity, so `n < limit` needs no special case);
 * - "switched off" (attributes marked `zeroOff`: minDataRate, authFailureDelay,
 *   authCacheSize): `OFF` (null, so the type says a reader must check for it);
 * - otherwise just zero (minPoolThreads, maxRetryCount, poolMessageSize: "every message").
 *
 * Exports: `UNLIMITED`, `OFF`, `Off`, the option types, `optionsOf(service, kind)`.
 * Throws: INTERNAL (`optionsOf` asked for another protocol's options: a programming error).
 */
import { PosternError } from '../errors.ts';

/** The one spelling of "no limit" in resolved options (a 0 in the config file). */
export const UNLIMITED = Number.POSITIVE_INFINITY;

/** The one spelling of "switched off" in resolved options (a 0 in the config file, for the
 * attributes whose 0 turns a mechanism off rather than lifting a limit). */
export const OFF = null;
export type Off = typeof OFF;

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
  /** The bounds every TCP session keeps (config/schema.ts TCP_OPTIONS); services without TCP
   * sessions carry the defaults, which nothing enforces. */
  session: SessionOptions;
  /** The protocol's own options (the row's `options`, resolved by its `optionsKind`). */
  protocol: ProtocolOptions;
  /** Where and what the service logs besides stdout (the Log service; always set by
   * config/resolve.ts, absent in options built by hand: stdout only). */
  logging?: ServiceLogging;
  /** The Server-level `dnr` block, for `createDnr` (net/dnr.ts) in the service's threads
   * (always set by config/resolve.ts; absent in options built by hand: the defaults). */
  dnr?: DnrOptions;
}

/** One name server of the Server's `dnr` block. */
export interface NameServerOptions {
  /** As c-ares takes it: `ip`, `ip:port`, `[ip6]:port` (port 53 when not written). */
  readonly address: string;
  readonly priority: number;
}

/** The Server-level `dnr` block (seed DNR), resolved. */
export interface DnrOptions {
  /** Lowest priority first (stable for equal ones); empty: the OS's servers. */
  readonly nameServers: readonly NameServerOptions[];
  /** The longest one lookup takes, from its first query. */
  readonly timeoutMs: number;
  /** Rounds over the name servers after the first. */
  readonly retries: number;
  /** Answers kept per query type (least recently used dropped first); 0: nothing cached. */
  readonly cacheSize: number;
  /** An answer is kept at most this long (its TTL when shorter; MX/TXT/PTR: exactly this). */
  readonly maxCacheTtlMs: number;
  /** How long a "no such name" / "no such record" answer is kept. */
  readonly negativeCacheTtlMs: number;
}

/** TCP session bounds (session/limits.ts, session/line-session.ts) and the service's login
 * throttle (auth/throttle.ts). */
export interface SessionOptions {
  /** Longest command line, bytes. */
  readonly maxLineLength: number;
  readonly maxPendingOutputBytes: number;
  readonly commandTimeoutMs: number;
  /** Message and file data must come at least this fast over each window; OFF: no minimum. */
  readonly minDataRateBytesPerSec: number | Off;
  readonly dataRateWindowMs: number;
  readonly stressTimeoutMs: number;
  /** First delay before a login check after a failure; OFF: no delay. */
  readonly authFailureDelayMs: number | Off;
  readonly authFailureMaxDelayMs: number;
  readonly authFailureWindowMs: number;
  readonly authFailureTrackedIps: number;
  /** Failures within the window that ban an IP; UNLIMITED: never. */
  readonly authBanThreshold: number;
  readonly authBanTimeMs: number;
}

/** The config's SASL mechanism names (plainConnAuthTypes, secureConnAuthTypes); auth/sasl.ts
 * `mechanismsOf` maps them to the mechanisms built. */
export type AuthType = 'plain' | 'login' | 'cramMd5' | 'digestMd5' | 'gssapi' | 'scramSha256';

/** How a service's clients may authenticate (SMTP AUTH, POP3, IMAP): the SASL mechanisms on a
 * plain and on a secure connection (auth/policy.ts `mechanismsFor`), and whether STARTTLS (STLS)
 * is offered. */
export interface AuthPolicy {
  readonly plainConnAuthTypes: readonly AuthType[];
  readonly secureConnAuthTypes: readonly AuthType[];
  readonly allowStartTLS: boolean;
}

// ---- user databases and user maps (issue 16; Server `userdb`, `userMaps`). Owner: cl-ldap ----

/** One LDAP connector of the Server's `userdb.ldapConnectors` (src/userdb/ldap.ts). */
export interface LdapConnectorOptions {
  readonly name: string;
  /** `ldap://host[:port]` / `ldaps://host[:port]`, tried in this order (failover). */
  readonly urls: readonly string[];
  /** The service account; null: anonymous. */
  readonly bindDn: string | null;
  readonly bindPassword: string;
  readonly baseDn: string;
  /** `%u`: the full address, `%d`: its domain, each escaped per RFC 4515. Default `(mail=%u)`. */
  readonly searchFilter: string;
  /** The routing attribute (`host` or `host:port`). Default `mailHost`. */
  readonly mailHostAttribute: string;
  /** STARTTLS on ldap:// URLs. */
  readonly startTls: boolean;
  /** PEM CA file for the directory's certificate; null: the system's. */
  readonly caFile: string | null;
  /** One connect or one operation; past it: USERDB_UNAVAILABLE. */
  readonly timeoutMs: number;
  /** Connections to the directory per connector (per thread), at most. */
  readonly poolSize: number;
  /** How long an answer is kept; OFF: no cache. */
  readonly cacheTtlMs: number | Off;
  /** Answers kept (LRU); 0: no cache. */
  readonly cacheSize: number;
}

/** One user map of the Server's `userMaps`, its connector embedded (src/userdb/index.ts). */
export type UserMapOptions =
  | { readonly name: string; readonly type: 'file'; readonly path: string }
  | { readonly name: string; readonly type: 'ldapPassword' | 'ldapBind'; readonly connector: LdapConnectorOptions };

/** Where a service with logins checks passwords (`userdbConnectorType/Name`): null: the store's
 * own directory (`local`); a connector: LDAP Bind against it (the account must still exist in
 * the store: the mailbox lives there). */
export interface UserdbLogin {
  readonly userdbConnector: LdapConnectorOptions | null;
}

/** A service with a login of its own (POP3, IMAP): its AuthPolicy, whether the plain-text login
 * command is allowed on a plain and on a secure connection (auth/policy.ts `plainLoginAllowed`),
 * and the cache of verified logins. */
export interface LoginPolicy extends AuthPolicy, UserdbLogin {
  readonly plainConnAllowLogin: boolean;
  readonly secureConnAllowLogin: boolean;
  /** Verified logins kept per thread; OFF: no cache. */
  readonly authCacheSize: number | Off;
  readonly authCacheTtlMs: number;
}

/** POP3 (config/schema.ts POP3_OPTIONS, plus the Server-level pop3ExclusiveLock). */
export interface Pop3Options extends LoginPolicy {
  readonly kind: 'pop3';
  /** The `+OK` greeting's text: one line, default `<hostname> Postern POP3 server ready`. */
  readonly greetingsText: string;
  /** Server pop3ExclusiveLock: one session per maildrop. */
  readonly exclusiveLock: boolean;
}

/** IMAP (config/schema.ts IMAP_OPTIONS). */
export interface ImapOptions extends LoginPolicy {
  readonly kind: 'imap';
  /** The `* OK` greeting's text: one line, default `<hostname> Postern IMAP4rev2 server ready`. */
  readonly greetingsText: string;
  readonly imapIdEnabled: boolean;
  /** LSUB and LIST (SUBSCRIBED) treat every folder as subscribed. */
  readonly imapShowAllFolders: boolean;
  /** One literal (APPENDLIMIT), bytes. */
  readonly maxLiteralBytes: number;
  /** One command's line parts and literals together, bytes. */
  readonly maxCommandBytes: number;
  /** Literals in one command. */
  readonly maxLiterals: number;
  /** 'plus': LITERAL+ (RFC 7888); 'minus': LITERAL- (non-synchronising literals ≤ 4096 bytes). */
  readonly nonSyncLiterals: 'plus' | 'minus';
  /** Parentheses (and SEARCH OR / NOT) nested in one command. */
  readonly maxNesting: number;
  /** Items in one list of a command (FETCH items, flags, search keys, sequence-set ranges). */
  readonly maxListItems: number;
}

/** SMTP receiving (config/schema.ts SMTP_IN_OPTIONS). */
export interface SmtpIncomingOptions extends AuthPolicy, UserdbLogin {
  readonly kind: 'smtpIncoming';
  readonly maxMessageBytes: number;
  readonly maxRcptCount: number;
  readonly maxReceivedHeaders: number;
  /** The 220 banner after the code: one line, default `<hostname> ESMTP Postern`. */
  readonly greetingsText: string;
  readonly allowPipelining: boolean;
  readonly allow8BitMime: boolean;
  readonly allowBinaryMime: boolean;
  readonly allowChunking: boolean;
  readonly allowSmtpUtf8: boolean;
  readonly allowBareLineFeed: boolean;
  readonly allowBareCarriageReturn: boolean;
  /** IP sets, as written (checked by the config), that may relay without AUTH. */
  readonly relayNetworks: readonly string[];
  /** SPF, DKIM, DMARC, ARC checks of mail from outside (protocols/smtp/mailauth.ts). */
  readonly mailAuth: boolean;
  /** All DNS queries of one message's checks; then temperror. */
  readonly mailAuthTimeoutMs: number;
  /** enforce: DMARC p=reject failures refused, p=quarantine to Junk; monitor: fields only. */
  readonly dmarcPolicy: 'enforce' | 'monitor';
  /** Per author domain (and its subdomains), lower case; overrides dmarcPolicy. */
  readonly dmarcDomainPolicies: ReadonlyArray<{ readonly domain: string; readonly policy: 'enforce' | 'monitor' }>;
  /** Cluster SMTP routing (a front end): recipients found in the map are accepted and relayed
   * to their back end through smtpOutgoing. */
  readonly enableSmtpRouting: boolean;
  readonly mappingData: SmtpMappingData;
  /** processing's options when processing is among the `services` (filled by resolve()), else
   * null: local mail of up to its `poolMessageBytes` is delivered at receipt while it runs
   * (protocols/smtp/commands.ts, store/local-delivery.ts). */
  readonly processing: ProcessingOptions | null;
}

/** smtpIncoming's routing target (config/schema.ts SMTP_MAPPING_DATA). */
export interface SmtpMappingData {
  /** The map's resolved definition (the Server's `userMaps` entry it names), passed to
   * userdb's `openUserMap`; null: none (every recipient goes to `mappingHost`). */
  readonly userMap: UserMapOptions | null;
  /** The default back end (used when `userMap` is none); null: none. */
  readonly mappingHost: string | null;
  /** The back ends' SMTP port, for a map entry naming a host alone. */
  readonly mappingPort: number;
}


/** A smart host of an outgoing route (config/schema.ts SMART_HOST). */
export interface SmartHostOptions {
  readonly host: string;
  readonly port: number;
  /** Implicit TLS from the first byte. */
  readonly ssl: boolean;
  /** STARTTLS: 'yes' opportunistic, 'no' never, 'required' (no TLS: deferred). */
  readonly startTls: 'yes' | 'no' | 'required';
  readonly authUser: string | null;
  readonly authPassword: string | null;
  readonly authMethod: 'PLAIN' | 'LOGIN' | 'CRAM-MD5';
}

/** An outgoing route (config/schema.ts OUT_ROUTE): '' matches anything. */
export interface OutgoingRoute {
  /** `example.com` or `*.example.com` (lower case); '' : any. */
  readonly rcptDomain: string;
  /** `user@example.com` or `@example.com` (lower case); '' : any. */
  readonly sender: string;
  /** null: by MX. */
  readonly smartHost: SmartHostOptions | null;
  readonly requireTLS: boolean;
}

/** SMTP sending (config/schema.ts SMTP_OUT_OPTIONS). */
export interface SmtpOutgoingOptions {
  readonly kind: 'smtpOutgoing';
  readonly maxConnectionsPerDomain: number;
  readonly maxMessagesPerConnection: number;
  readonly connectTimeoutMs: number;
  readonly rwTimeoutMs: number;
  readonly enableIPv6: boolean;
  readonly heloName: string;
  readonly routes: readonly OutgoingRoute[];
  readonly mtaSts: boolean;
  readonly mxPort: number;
  readonly tlsCaFile: string | null;
  /** `host:port` the MTA-STS policy is fetched from ('' : `mta-sts.<domain>:443`). */
  readonly mtaStsPolicyAddress: string;
  /** smtpIncoming's listeners (`host:port`): an MX that resolves to one of them is a loop. */
  readonly localSmtp: readonly string[];
  /** processing's options (its retry schedule, which relayed mail follows too). */
  readonly processing: ProcessingOptions | null;
}

/** FTP backup (config/schema.ts FTP_OPTIONS). */
export interface FtpBackupOptions {
  readonly kind: 'ftpBackup';
  readonly passivePortMin: number;
  readonly passivePortMax: number;
  readonly dataTimeoutMs: number;
  readonly maxUploadBytes: number;
}

/** Queue processing (config/schema.ts PROCESSING_OPTIONS). */
export interface ProcessingOptions {
  readonly kind: 'processing';
  readonly maxRetryCount: number;
  readonly schedIntervalMs: number;
  readonly maxSchedIntervalMs: number;
  readonly deliveryThreads: number;
  /** Messages larger than this are parsed on the pool, smaller in the thread; 0: all on the pool. */
  readonly poolMessageBytes: number;
  /** A delay notice (DSN) after this many failed attempts; 0: none. */
  readonly delayNoticeAfter: number;
  /** A bounce returns the whole message up to this size, else only its header. */
  readonly maxBounceReturnBytes: number;
}

/** RPOP (config/schema.ts RPOP_OPTIONS). */
export interface RpopOptions {
  readonly kind: 'rpop';
  /** Polls in progress at once, over all the service's threads (the store counts them). */
  readonly maxConnections: number;
  /** A connection's interval is raised to at least this. */
  readonly minIntervalMs: number;
  /** After failures the interval doubles, up to this (or the connection's interval if longer). */
  readonly maxRetryIntervalMs: number;
  readonly connectTimeoutMs: number;
  readonly rwTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly maxMessagesPerPoll: number;
  readonly maxLineLength: number;
  /** PEM file of CAs trusted for the remotes' certificates; null: Node's bundled roots. */
  readonly caFile: string | null;
}

/** The seed's HTTP options (inventory §10, §18), resolved (config/options.ts), as every HTTP
 * service has them (`ServiceOptions.protocol` of kind 'http' or 'webmail'; src/http/types.ts re-exports it). */
export interface HttpOptions {
  /** no: every response carries `Connection: close` and the connection ends after it. */
  readonly allowKeepAlive: boolean;
  /** Request line + headers, bytes (Node's maxHeaderSize): over it, 431 and close. */
  readonly httpHeadersMaxSize: number;
  /** A request body other than a multipart upload, bytes. */
  readonly httpBodyMaxSize: number;
  /** A multipart/form-data body (attachments), bytes. */
  readonly uploadMaxSize: number;
  /** A body over its limit: false: close the connection at once (no reply once the body has
   * started; a declared Content-Length over the limit gets 413 + close before any body is read);
   * true: read and discard the rest, then answer 413 and keep the connection. */
  readonly allowLargeIncomingData: boolean;
  /** (Postern) Requests a client may send ahead of their answers (pipelined) on one connection;
   * one more, and the connection is closed. They are answered one at a time. Always resolved by
   * the config; optional for options built by hand (absent: 16). */
  readonly maxPipelinedRequests?: number;
  /** A web session unused this long ends, ms. */
  readonly sessionIdleTimeoutMs: number;
  /** The longest a web session may live, however busy, ms. */
  readonly sessionActivityTimeoutMs: number;
  /** The template root; '' : the service's built-in templates. */
  readonly path: string;
  /** Host name (exact, lower case, or `*.example.com`) → template directory under `path`. */
  readonly virtualHosts: ReadonlyArray<{ readonly host: string; readonly template: string }>;
  /** Secure login (seed `UrlRedirect`): with a TLS listener, a plain login page links to it
   * (auto false) or answers 301 to it (auto true). null: no TLS listener and no redirect given. */
  readonly urlRedirect: UrlRedirect | null;
}

export interface UrlRedirect {
  /** The TLS listener's address (`ip:port`) it points at. */
  readonly address: string;
  /** Host name put in the URL; '' : the request's own Host name. */
  readonly host: string;
  /** Port put in the URL; 0: the TLS listener's port. */
  readonly port: number;
  readonly auto: boolean;
}

/** An HTTP service's options (config/schema.ts HTTP_OPTIONS): the contract's `HttpOptions`
 * (src/http/types.ts), kind 'http' for a service with no options of its own beside them. */
export interface HttpServiceOptions extends HttpOptions {
  readonly kind: 'http';
}

/** WebMail (config/schema.ts WEBMAIL_OPTIONS): the HTTP options and the login's domain helpers. */
export interface WebmailOptions extends HttpOptions, UserdbLogin {
  readonly kind: 'webmail';
  /** The login form offers the server's domains. */
  readonly showDomainList: boolean;
  /** Most recipients (To + Cc + Bcc) of one message sent from WebMail. */
  readonly maxRcptCount: number;
  /** A login without `@domain` arriving on `host` (the request's Host name, lower case) gets `domain`. */
  readonly hostNameResolver: ReadonlyArray<{ readonly host: string; readonly domain: string }>;
  /** Verified logins kept per thread (as POP3's and IMAP's); OFF: no cache. */
  readonly authCacheSize: number | Off;
  readonly authCacheTtlMs: number;
}

// ---- cluster (issue 16): each interface is its owner's ------------------------------------

/** The connections of a proxy to its back ends (config/schema.ts `connectionData`). */
export interface ProxyConnectionOptions {
  /** Connect, TLS handshake, greeting and each login step on the back end, ms. */
  readonly rwTimeoutMs: number;
  /** Open connections to the back ends at once, over the service's threads. */
  readonly maxConnections: number;
  /** Implicit TLS to the back end. */
  readonly sslEnable: boolean;
  /** PEM CAs trusted for the back ends' certificates; null: Node's bundled roots. */
  readonly caFile: string | null;
  /** false: any back-end certificate is accepted. */
  readonly sslVerify: boolean;
  /** Source address of the connections; '' : any. */
  readonly localInterface: string;
}

/** What the POP3 and IMAP proxies share (config/schema.ts proxyOptions). */
export interface ProxyOptions extends LoginPolicy {
  /** The greeting's text: one line. */
  readonly greetingsText: string;
  /** true: the proxy checks the password (the user map's, else its own directory); false: the back end. */
  readonly authenticateOnProxy: boolean;
  /** The user map (Server userMaps, resolved by name); null: none, every user goes to mappingHost. */
  readonly userMap: UserMapOptions | null;
  /** The back end of users the map has no entry for; '' : none. */
  readonly mappingHost: string;
  readonly mappingPort: number;
  readonly connection: ProxyConnectionOptions;
}

/** POP3 proxy (config/schema.ts POP3_PROXY_OPTIONS). */
export interface Pop3ProxyOptions extends ProxyOptions {
  readonly kind: 'pop3Proxy';
}

/** IMAP proxy (config/schema.ts IMAP_PROXY_OPTIONS). */
export interface ImapProxyOptions extends ProxyOptions {
  readonly kind: 'imapProxy';
  /** The client's ID is passed on to the back end before the login (and answered before it). */
  readonly imapIdEnabled: boolean;
}

/** WebMail proxy (config/schema.ts WEBMAIL_PROXY_OPTIONS): the HTTP options and the back ends'. */
export interface WebmailProxyOptions extends HttpOptions {
  readonly kind: 'webmailProxy';
  /** The user map (Server `userMaps`, by the name the service gives), for userdb's
   * `openUserMap`; null: no map, every user goes to mappingHost:mappingPort. */
  readonly userMap: UserMapOptions | null;
  readonly mappingHost: string;
  readonly mappingPort: number;
  /** The map checks the password before any back end is asked. */
  readonly authenticateOnProxy: boolean;
  /** Requests waiting for one back end beyond `maxConnections` (per thread): more → 503 at once. */
  readonly requestQueueSize: number;
  readonly connectionData: WebmailProxyConnection;
}

/** The WebMail proxy's back-end connection settings (`connectionData`). */
export interface WebmailProxyConnection {
  readonly connectTimeoutMs: number;
  /** Each answer of a back end: its headers, then each piece of its body. */
  readonly rwTimeoutMs: number;
  /** Parallel requests to one back end (per thread). */
  readonly maxConnections: number;
  /** Source address of the connections; null: the system's choice. */
  readonly localInterface: string | null;
  readonly sslEnable: boolean;
  readonly caFile: string | null;
  readonly verify: boolean;
}

// ---- operators' services (issue 17): each interface is its owner's ------------------------

/** The telnet CLI (config/schema.ts CLI_OPTIONS). */
export interface CliOptions {
  readonly kind: 'cli';
  /** One command line, bytes (`maxCommandLength`; the session's line limit is the smaller of
   * it and the session's maxLineLength). */
  readonly maxCommandBytes: number;
  /** Commands before login (`maxAuthCommands`); UNLIMITED when 0. */
  readonly maxAuthCommands: number;
  /** The banner's text (`greetingsText`, one line). */
  readonly greetingsText: string;
}

/** WebAdmin (config/schema.ts WEBADMIN_OPTIONS): the HTTP options. */
export interface WebadminOptions extends HttpOptions {
  readonly kind: 'webadmin';
  /** The dashboard's live snapshot period (sseInterval), ms. */
  readonly sseIntervalMs: number;
  /** Live streams (/events) one session may hold open at once. */
  readonly maxEventStreams: number;
  /** Most log lines the logs page asks for. */
  readonly maxLogLines: number;
}

/** The Log service (config/schema.ts LOG_OPTIONS). */
/** One Log service rule (config/schema.ts LOG_RULE), resolved. */
export interface LogRuleOptions {
  readonly priority: number;
  /** Lower-case host name, or '*'. */
  readonly hostname: string;
  /** A module (SMTP-IN, POP3, …, a syslog tag), or '*'. */
  readonly module: string;
  /** The levels it takes (net/syslog.ts bitmask). */
  readonly levels: number;
  /** As written: relative names live under <dataDir>/log/. */
  readonly fileName: string;
  readonly fileSizeBytes: number; // UNLIMITED: no size limit
  readonly fileTimeMs: number; // UNLIMITED: no time limit
  readonly fileCount: number;
  readonly rotatePeriod: 'none' | 'day' | 'week' | 'month';
}

export interface LogServiceOptions {
  readonly kind: 'log';
  /** By priority (lowest first); none written: one catch-all rule to everything.txt. */
  readonly rules: readonly LogRuleOptions[];
  /** A longer datagram is ignored (and counted). */
  readonly maxRecordBytes: number;
  /** Lines waiting for the disk, at most; beyond, lines are dropped (and counted). */
  readonly writeBufferBytes: number;
}

/** A service's logging (config/schema.ts LOG_ATTRS), resolved. */
export interface ServiceLogging {
  /** The levels sent (net/syslog.ts bitmask). */
  readonly levels: number;
  readonly type: 'internal' | 'remote' | 'system';
  /** Where the datagrams go: internal, this server's Log service (its first enabled UDP
   * listener; null when the Log service is not in `services` or listens on port 0); remote,
   * logHost (null when not written); system, logHost or else 127.0.0.1:514. */
  readonly target: Endpoint | null;
  /** Datagrams a thread lets wait for their send before dropping records. */
  readonly queueSize: number;
}

/** The Report service (config/schema.ts REPORT_OPTIONS). */
export interface ReportOptions {
  readonly kind: 'report';
  /** Samples also per domain (seed DomainEnable). */
  readonly domainEnable: boolean;
  /** Samples also per account (seed DomainObjectEnable). */
  readonly domainObjectEnable: boolean;
  /** How long samples are kept (seed reportingInterval, in weeks). */
  readonly reportingIntervalMs: number;
  /** A sample every … (the seed: a minute). */
  readonly sampleIntervalMs: number;
  /** Distinct domains, and accounts, in one sample; the rest under `other`. */
  readonly maxScopeKeys: number;
  /** Distinct reporting nodes a Report thread keeps (datagrams of more are dropped). */
  readonly maxNodes: number;
  /** Where this node's samples are also sent (another node's Report service); null: nowhere. */
  readonly reportHost: Endpoint | null;
}

/** A service with no protocol options of its own (not built yet, test rows). */
export interface NoProtocolOptions {
  readonly kind: 'none';
}

export type ProtocolOptions = Pop3Options | ImapOptions | SmtpIncomingOptions | SmtpOutgoingOptions | FtpBackupOptions | ProcessingOptions | HttpServiceOptions | WebmailOptions | RpopOptions | NoProtocolOptions
  | Pop3ProxyOptions | ImapProxyOptions | WebmailProxyOptions | CliOptions | WebadminOptions | LogServiceOptions | ReportOptions;
export type { ProtocolKind } from './schema.ts';
import type { ProtocolKind } from './schema.ts';

/** The service's protocol options, typed by `kind`; INTERNAL if the service's are another's. */
export function optionsOf<K extends ProtocolKind>(service: Pick<ServiceOptions, 'name' | 'protocol'>, kind: K): Extract<ProtocolOptions, { kind: K }> {
  const p = service.protocol;
  if (p.kind !== kind) throw new PosternError('INTERNAL', `service ${service.name} has ${p.kind} options, not ${kind}`, { service: service.name, kind });
  return p as Extract<ProtocolOptions, { kind: K }>;
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
  /** The server's resolver (Server `dnr`); also in every service's options. */
  dnr: DnrOptions;
  /** The Server's LDAP connectors (`userdb.ldapConnectors`) and user maps (`userMaps`). */
  ldapConnectors: readonly LdapConnectorOptions[];
  userMaps: readonly UserMapOptions[];
  serviceOptions: Readonly<Record<ServiceName, ServiceOptions>>;
}
