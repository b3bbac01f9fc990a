/**
 * config/resolve.ts: a validated config model (seed names and units) → the frozen, unit-named
 * options of config/options.ts. Applies the schema's defaults, converts seconds → ms and
 * KB → bytes, turns a 0 in a `zeroUnlimited` count into UNLIMITED and in a `zeroOff` one into
 * OFF, gives every service its options (a TCP or UDP service without `listeners` gets its
 * embedded default listener), and expands `smtp` in `services` to smtpIncoming + smtpOutgoing +
 * processing, without duplicates. The Server's `hostname` (written, else `systemHostname()`: the
 * OS's fully qualified name once the server has learnt it) goes to every service as `hostname`.
 * Every service's logging attributes (logLevel, logType, logHost, logQueueSize) resolve into
 * `logging`, whose `internal` target is the Log service's first enabled listener when it runs.
 *
 * Each service's option attributes are resolved here, once: TCP_OPTIONS into `session`
 * (`SessionOptions`), the row's own by its `optionsKind` into `protocol` (`PROTOCOL_RESOLVERS`:
 * one typed function per kind, which names each field with its unit and may read the
 * Server-level attributes the row lists in `serverOptions`, e.g. pop3ExclusiveLock). Every
 * attribute of a row must be read by its resolver (INTERNAL otherwise: caught by any test that
 * loads a config), so an option cannot be accepted and then ignored.
 *
 * Exports: `resolve(model)`, `defaultSessionOptions()`, `defaultDnrOptions()`, `deepFreeze(value)`. Throws nothing for a model that
 * `validate` produced (it trusts the model's types; a hand-built model must be validated first,
 * e.g. write → parse → validate), except INTERNAL for a row whose resolver misses an attribute.
 */
import { PosternError } from '../errors.ts';
import { OFF, UNLIMITED } from './options.ts';
import type {
  AllowRuleOptions, AuthPolicy, DnrOptions, Endpoint, LdapConnectorOptions, LogRuleOptions, ServiceLogging, SmtpMappingData, UserdbLogin, UserMapOptions, AuthType, DenyRuleOptions, FlowLimits, HttpOptions, LoginPolicy, Off, ProtocolKind, ProtocolOptions,
  OutgoingRoute, ProxyOptions, ResolvedConfig, ServiceName, ServiceOptions, SessionOptions, SmartHostOptions, SslOptions, TcpListenerOptions,
  UdpListenerOptions,
} from './options.ts';
import { levelMask } from '../net/syslog.ts';
import { DNR_NAME_SERVER, DNR_SCHEMA, HTTP_OPTIONS, LDAP_CONNECTOR, LOG_RULE, USER_MAP, SERVER_SCHEMA, SERVICE_DEFS, SSL_CONTROL, serviceDefs, STATUS_CONTROL, TCP_ALLOW_RULE, TCP_OPTIONS } from './schema.ts';
import type { AttrSpec, ModelObject, ModelValue, ObjectSchema, ServiceDef } from './schema.ts';
import { parseEndpoint } from './values.ts';
import { systemHostname } from '../net/hostname.ts';

/** The written value, else the schema default (arrays copied). */
function get(obj: ModelObject | undefined, schema: ObjectSchema, name: string): ModelValue | undefined {
  const v = obj?.[name];
  if (v !== undefined) return v;
  const spec = schema.attributes[name];
  const d = spec !== undefined && 'default' in spec ? spec.default : undefined;
  return Array.isArray(d) ? [...d] : (d as ModelValue | undefined);
}

/** A scalar or set converted by its spec: units, zero = UNLIMITED or OFF. */
function convert(spec: AttrSpec, v: ModelValue | undefined): unknown {
  if (v === undefined || spec.type !== 'uint' || typeof v !== 'number') return Array.isArray(v) ? [...v] : v;
  if (spec.zeroUnlimited === true && v === 0) return UNLIMITED;
  if (spec.zeroOff === true && v === 0) return OFF;
  if (spec.unit === 'seconds') return v * 1000;
  if (spec.unit === 'kb') return v * 1024;
  return v;
}

function num(obj: ModelObject | undefined, schema: ObjectSchema, name: string): number {
  return convert(schema.attributes[name]!, get(obj, schema, name)) as number;
}
const str = (obj: ModelObject | undefined, schema: ObjectSchema, name: string): string | null =>
  (get(obj, schema, name) as string | undefined) ?? null;
const bool = (obj: ModelObject | undefined, schema: ObjectSchema, name: string): boolean =>
  get(obj, schema, name) === true;
const objects = (obj: ModelObject | undefined, name: string): ModelObject[] => (obj?.[name] as ModelObject[] | undefined) ?? [];

function flow(obj: ModelObject | undefined, schema: ObjectSchema): FlowLimits {
  return {
    maxConnections: num(obj, schema, 'maxConnections'),
    maxIntervalConnections: num(obj, schema, 'maxIntervalConnections'),
    timeIntervalMs: num(obj, schema, 'timeInterval'),
    peerMaxConnections: num(obj, schema, 'peerMaxConnections'),
    peerMaxIntervalConnections: num(obj, schema, 'peerMaxIntervalConnections'),
    peerTimeIntervalMs: num(obj, schema, 'peerTimeInterval'),
  };
}

/** Rules from an object set attribute; IpRule allow rules (UDP) get unlimited flow. */
function denyRules(owner: ModelObject | undefined, ownerSchema: ObjectSchema): DenyRuleOptions[] {
  const spec = ownerSchema.attributes['denyRules'];
  if (spec?.type !== 'objectSet') return [];
  return objects(owner, 'denyRules').map((r) => ({
    ipSet: r['ipSet'] as string,
    enable: bool(r, spec.schema, 'enable'),
    priority: num(r, spec.schema, 'priority'),
  }));
}

function allowRules(owner: ModelObject | undefined, ownerSchema: ObjectSchema): AllowRuleOptions[] {
  const spec = ownerSchema.attributes['allowRules'];
  if (spec?.type !== 'objectSet') return [];
  const hasFlow = spec.schema === TCP_ALLOW_RULE;
  return objects(owner, 'allowRules').map((r) => ({
    ipSet: r['ipSet'] as string,
    enable: bool(r, spec.schema, 'enable'),
    priority: num(r, spec.schema, 'priority'),
    flow: flow(hasFlow ? r : undefined, TCP_ALLOW_RULE),
  }));
}

function ssl(obj: ModelObject | undefined): SslOptions {
  const s = SSL_CONTROL;
  return {
    allowedVersions: get(obj, s, 'allowedVersions') as SslOptions['allowedVersions'],
    certFile: str(obj, s, 'certFile'),
    keyFile: str(obj, s, 'keyFile'),
    caFile: str(obj, s, 'caFile'),
    maxChainDepth: num(obj, s, 'maxChainDepth'),
    requestClientAuth: bool(obj, s, 'requestClientAuth'),
    cipherSuite: str(obj, s, 'cipherSuite'),
  };
}

function listenerModels(def: ServiceDef, block: ModelObject | undefined): ModelObject[] {
  const written = block?.['listeners'] as ModelObject[] | undefined;
  if (written !== undefined) return written;
  return def.defaultListener === null ? [] : [{ address: def.defaultListener }];
}

function tcpListener(l: ModelObject, schema: ObjectSchema): TcpListenerOptions {
  const key = l['address'] as string;
  return {
    key,
    address: parseEndpoint(key),
    enable: bool(l, schema, 'enable'),
    idleTimeoutMs: num(l, schema, 'idleTimeout'),
    flow: flow(l, schema),
    sslEnable: bool(l, schema, 'sslEnable'),
    ssl: ssl(l['sslControl'] as ModelObject | undefined),
    allowRules: allowRules(l, schema),
    denyRules: denyRules(l, schema),
  };
}

function udpListener(l: ModelObject, schema: ObjectSchema): UdpListenerOptions {
  const key = l['address'] as string;
  return {
    key,
    address: parseEndpoint(key),
    enable: bool(l, schema, 'enable'),
    allowRules: allowRules(l, schema),
    denyRules: denyRules(l, schema),
  };
}

// ---- option attributes → typed options --------------------------------------------------------

/** Reads a block's option attributes by name, converted by their specs; remembers what it read. */
interface OptionReader {
  num(name: string): number;
  /** A `zeroOff` attribute: its value, or OFF. */
  numOrOff(name: string): number | Off;
  bool(name: string): boolean;
  str(name: string): string | null;
  list<T extends string = string>(name: string): readonly T[];
  /** An `object` attribute as written (null: absent). */
  object(name: string): ModelObject | null;
  /** An `objectSet` attribute as written. */
  objects(name: string): readonly ModelObject[];
}

function optionReader(block: ModelObject | undefined, attrs: Readonly<Record<string, AttrSpec>>, read: Set<string>, owner: string): OptionReader {
  const value = (name: string): unknown => {
    const spec = attrs[name];
    if (spec === undefined) throw new PosternError('INTERNAL', `${owner} has no option attribute ${name}`, { owner, name });
    read.add(name);
    return convert(spec, get(block, { typeName: owner, attributes: attrs }, name));
  };
  return {
    num: (name) => value(name) as number,
    numOrOff: (name) => value(name) as number | Off,
    bool: (name) => value(name) === true,
    str: (name) => (value(name) as string | undefined) ?? null,
    list: <T extends string>(name: string) => Object.freeze([...((value(name) as T[] | undefined) ?? [])]),
    object: (name) => (value(name) as ModelObject | undefined) ?? null,
    objects: (name) => (value(name) as ModelObject[] | undefined) ?? [],
  };
}

/** One line of text, no control characters, at most 400 characters; `fallback` if empty. */
function oneLine(text: string | null, fallback: string): string {
  const s = (text ?? '').replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return s === '' ? fallback : s.slice(0, 400);
}

function sessionOptions(r: OptionReader): SessionOptions {
  return {
    maxLineLength: r.num('maxLineLength'),
    maxPendingOutputBytes: r.num('maxPendingOutput'),
    commandTimeoutMs: r.num('commandTimeout'),
    minDataRateBytesPerSec: r.numOrOff('minDataRate'),
    dataRateWindowMs: r.num('dataRateWindow'),
    stressTimeoutMs: r.num('stressTimeout'),
    authFailureDelayMs: r.numOrOff('authFailureDelay'),
    authFailureMaxDelayMs: r.num('authFailureMaxDelay'),
    authFailureWindowMs: r.num('authFailureWindow'),
    authFailureTrackedIps: r.num('authFailureTrackedIps'),
    authBanThreshold: r.num('authBanThreshold'),
    authBanTimeMs: r.num('authBanTime'),
  };
}

/** The session bounds of TCP_OPTIONS' defaults (services without TCP sessions, and options
 * built by hand, e.g. the status endpoint's). */
export function defaultSessionOptions(): SessionOptions {
  return Object.freeze(sessionOptions(optionReader(undefined, TCP_OPTIONS, new Set(), 'TCP_OPTIONS')));
}

interface ResolveCtx {
  hostname: string;
  /** The service's TCP listeners (resolved). */
  listeners: readonly TcpListenerOptions[];
  /** The Server-level attributes the row lists in `serverOptions`. */
  server: OptionReader;
  /** (issue 16) The user map named `name` (Server `userMaps`), its connector embedded; null for
   * null, '' or 'none'. A resolver writes `userMap: c.userMap(r.str('userMap'))`. Throws
   * CONFIG_MISSING for a name no map has (config/model.ts reports it first, with its line). */
  userMap(name: string | null): UserMapOptions | null;
  /** (issue 16) The LDAP connector named `name` (Server `userdb.ldapConnectors`); CONFIG_MISSING if none. */
  ldapConnector(name: string): LdapConnectorOptions;
}

/** The auth types and STARTTLS of a service that authenticates clients (config/options.ts AuthPolicy). */
function authPolicy(r: OptionReader): AuthPolicy {
  return {
    plainConnAuthTypes: r.list<AuthType>('plainConnAuthTypes'),
    secureConnAuthTypes: r.list<AuthType>('secureConnAuthTypes'),
    allowStartTLS: r.bool('allowStartTLS'),
  };
}

/** (issue 16) `userdbConnectorType/Name`: where the service checks passwords. */
function userdbLogin(r: OptionReader, c: ResolveCtx): UserdbLogin {
  const type = r.str('userdbConnectorType');
  const name = r.str('userdbConnectorName');
  return { userdbConnector: type === 'ldap' ? c.ldapConnector(name ?? '') : null };
}

/** The same, with the plain-text login command, the login cache and where passwords are checked
 * (config/options.ts LoginPolicy). */
function loginPolicy(r: OptionReader, c: ResolveCtx): LoginPolicy {
  return {
    ...userdbLogin(r, c),
    plainConnAllowLogin: r.bool('plainConnAllowLogin'),
    secureConnAllowLogin: r.bool('secureConnAllowLogin'),
    ...authPolicy(r),
    authCacheSize: r.numOrOff('authCacheSize'),
    authCacheTtlMs: r.num('authCacheTtl'),
  };
}

/** The HTTP options (config/schema.ts HTTP_OPTIONS). UrlRedirect unset: the first enabled TLS
 * listener, linked (auto no); none: null. */
function httpOptions(r: OptionReader, c: ResolveCtx): HttpOptions {
  const redirect = r.object('UrlRedirect');
  const rs = (HTTP_OPTIONS['UrlRedirect'] as { schema: ObjectSchema }).schema;
  const tls = c.listeners.find((l) => l.enable && l.sslEnable);
  return {
    allowKeepAlive: r.bool('allowKeepAlive'),
    httpHeadersMaxSize: r.num('httpHeadersMaxSize'),
    httpBodyMaxSize: r.num('httpBodyMaxSize'),
    uploadMaxSize: r.num('uploadMaxSize'),
    allowLargeIncomingData: r.bool('allowLargeIncomingData'),
    maxPipelinedRequests: r.num('maxPipelinedRequests'),
    sessionIdleTimeoutMs: r.num('sessionIdleTimeout'),
    sessionActivityTimeoutMs: r.num('sessionActivityTimeout'),
    path: r.str('path') ?? '',
    // both fields are required by the schema
    virtualHosts: r.objects('virtualHosts').map((v) => ({ host: (v['host'] as string).toLowerCase(), template: v['template'] as string })),
    urlRedirect:
      redirect !== null
        ? { address: str(redirect, rs, 'address')!, host: str(redirect, rs, 'host') ?? '', port: num(redirect, rs, 'port'), auto: bool(redirect, rs, 'auto') }
        : tls !== undefined
          ? { address: tls.key, host: '', port: 0, auto: false }
          : null,
  };
}

/** smtpIncoming's `mappingData` (config/schema.ts SMTP_MAPPING_DATA): the map it names. */
function smtpMappingData(m: ModelObject | null, c: ResolveCtx): SmtpMappingData {
  const sc = (SERVICE_DEFS.smtpIncoming.schema.attributes['mappingData'] as { schema: ObjectSchema }).schema;
  const o = m ?? undefined;
  const name = str(o, sc, 'userMap');
  const host = str(o, sc, 'mappingHost');
  return {
    userMap: c.userMap(name),
    mappingHost: host !== null && host !== '' ? host : null,
    mappingPort: num(o, sc, 'mappingPort'),
  };
}

/** What the POP3 and IMAP proxies share (config/schema.ts proxyOptions; config/options.ts ProxyOptions). */
function proxyOptions(r: OptionReader, c: ResolveCtx, what: 'POP3' | 'IMAP'): ProxyOptions {
  const md = r.object('mappingData') ?? undefined;
  const cd = r.object('connectionData') ?? undefined;
  const cds = (SERVICE_DEFS.pop3Proxy.optionAttrs['connectionData'] as { schema: ObjectSchema }).schema;
  const mapPort = (SERVICE_DEFS[what === 'POP3' ? 'pop3Proxy' : 'imapProxy'].optionAttrs['mappingData'] as { schema: ObjectSchema }).schema;
  return {
    ...loginPolicy(r, c),
    greetingsText: oneLine(r.str('greetingsText'), `${c.hostname} Postern ${what} proxy ready`),
    authenticateOnProxy: r.bool('authenticateOnProxy'),
    userMap: c.userMap(r.str('userMap')),
    mappingHost: (str(md, mapPort, 'mappingHost') ?? '').trim(),
    mappingPort: num(md, mapPort, 'mappingPort'),
    connection: {
      rwTimeoutMs: num(cd, cds, 'rwTimeout'),
      maxConnections: num(cd, cds, 'maxConnections'),
      sslEnable: bool(cd, cds, 'sslEnable'),
      caFile: str(cd, cds, 'caFile'),
      sslVerify: bool(cd, cds, 'sslVerify'),
      localInterface: (str(cd, cds, 'localInterface') ?? '').trim(),
    },
  };
}

/** One typed resolver per options kind: each names every field with its unit. */
const PROTOCOL_RESOLVERS: { readonly [K in ProtocolKind]: (r: OptionReader, c: ResolveCtx) => Extract<ProtocolOptions, { kind: K }> } = {
  none: () => ({ kind: 'none' }),
  pop3: (r, c) => ({
    kind: 'pop3',
    ...loginPolicy(r, c),
    greetingsText: oneLine(r.str('greetingsText'), `${c.hostname} Postern POP3 server ready`),
    exclusiveLock: c.server.bool('pop3ExclusiveLock'),
  }),
  imap: (r, c) => ({
    kind: 'imap',
    ...loginPolicy(r, c),
    greetingsText: oneLine(r.str('greetingsText'), `${c.hostname} Postern IMAP4rev2 server ready`),
    imapIdEnabled: r.bool('imapIdEnabled'),
    imapShowAllFolders: r.bool('imapShowAllFolders'),
    maxLiteralBytes: r.num('maxLiteralSize'),
    maxCommandBytes: r.num('maxCommandSize'),
    maxLiterals: r.num('maxLiterals'),
    nonSyncLiterals: r.str('nonSyncLiterals') === 'minus' ? 'minus' : 'plus',
    maxNesting: r.num('maxNesting'),
    maxListItems: r.num('maxListItems'),
  }),
  smtpIncoming: (r, c) => ({
    kind: 'smtpIncoming',
    maxMessageBytes: r.num('maxDataSize'),
    maxRcptCount: r.num('maxRcptCount'),
    maxReceivedHeaders: r.num('maxReceivedHeaders'),
    greetingsText: oneLine(r.str('greetingsText'), `${c.hostname} ESMTP Postern`),
    ...authPolicy(r),
    ...userdbLogin(r, c),
    allowPipelining: r.bool('allowPipelining'),
    allow8BitMime: r.bool('allow8BitMime'),
    allowBinaryMime: r.bool('allowBinaryMime'),
    allowChunking: r.bool('allowChunking'),
    allowSmtpUtf8: r.bool('allowSmtpUtf8'),
    allowBareLineFeed: r.bool('allowBareLineFeed'),
    allowBareCarriageReturn: r.bool('allowBareCarriageReturn'),
    relayNetworks: r.list('relayNetworks'),
    mailAuth: r.bool('mailAuth'),
    mailAuthTimeoutMs: r.num('mailAuthTimeout'),
    dmarcPolicy: r.str('dmarcPolicy') === 'monitor' ? 'monitor' : 'enforce',
    // both fields are required by the schema
    dmarcDomainPolicies: r.objects('dmarcDomainPolicies').map((p) => ({ domain: String(p['domain']).toLowerCase().replace(/\.$/, ''), policy: p['policy'] === 'monitor' ? 'monitor' as const : 'enforce' as const })),
    enableSmtpRouting: r.bool('enableSmtpRouting'),
    mappingData: smtpMappingData(r.object('mappingData'), c),
    processing: null, // filled by resolve() when processing runs
  }),
  smtpOutgoing: (r, c) => ({
    kind: 'smtpOutgoing',
    maxConnectionsPerDomain: r.num('maxConnectionsPerDomain'),
    maxMessagesPerConnection: r.num('maxMessagesPerConnection'),
    connectTimeoutMs: r.num('connectTimeout'),
    rwTimeoutMs: r.num('rwTimeout'),
    enableIPv6: r.bool('enableIPv6'),
    heloName: r.str('heloName') ?? c.hostname,
    routes: r.objects('routes').map(outgoingRoute),
    mtaSts: r.bool('mtaSts'),
    mxPort: r.num('mxPort'),
    tlsCaFile: r.str('tlsCaFile'),
    mtaStsPolicyAddress: r.str('mtaStsPolicyAddress') ?? '',
    localSmtp: [], // filled by resolve() from smtpIncoming's listeners …
    processing: null, // … and processing's options
  }),
  ftpBackup: (r) => ({
    kind: 'ftpBackup',
    passivePortMin: r.num('passivePortMin'),
    passivePortMax: r.num('passivePortMax'),
    dataTimeoutMs: r.num('dataTimeout'),
    maxUploadBytes: r.num('maxUploadSize'),
  }),
  processing: (r) => ({
    kind: 'processing',
    maxRetryCount: r.num('maxRetryCount'),
    schedIntervalMs: r.num('schedInterval'),
    maxSchedIntervalMs: r.num('maxSchedInterval'),
    deliveryThreads: r.num('deliveryThreads'),
    poolMessageBytes: r.num('poolMessageSize'),
    delayNoticeAfter: r.num('delayNoticeAfter'),
    maxBounceReturnBytes: r.num('maxBounceReturnSize'),
  }),
  http: (r, c) => ({ kind: 'http', ...httpOptions(r, c) }),
  rpop: (r) => ({
    kind: 'rpop',
    maxConnections: r.num('maxConnections'),
    minIntervalMs: r.num('minInterval'),
    maxRetryIntervalMs: r.num('maxRetryInterval'),
    connectTimeoutMs: r.num('connectTimeout'),
    rwTimeoutMs: r.num('rwTimeout'),
    maxMessageBytes: r.num('maxMessageSize'),
    maxMessagesPerPoll: r.num('maxMessagesPerPoll'),
    maxLineLength: r.num('maxLineLength'),
    caFile: r.str('caFile'),
  }),
  webmail: (r, c) => ({
    kind: 'webmail',
    ...httpOptions(r, c),
    showDomainList: r.bool('showDomainList'),
    maxRcptCount: r.num('maxRcptCount'),
    // both fields are required by the schema
    hostNameResolver: r.objects('hostNameResolver').map((h) => ({ host: (h['host'] as string).toLowerCase(), domain: (h['domain'] as string).toLowerCase() })),
    authCacheSize: r.numOrOff('authCacheSize'),
    authCacheTtlMs: r.num('authCacheTtl'),
    ...userdbLogin(r, c),
  }),
  // ---- cluster (issue 16): each resolver is its owner's
  pop3Proxy: (r, c) => ({
    kind: 'pop3Proxy',
    ...proxyOptions(r, c, 'POP3'),
  }),
  // (the IMAP proxy's)
  imapProxy: (r, c) => ({
    kind: 'imapProxy',
    ...proxyOptions(r, c, 'IMAP'),
    imapIdEnabled: r.bool('imapIdEnabled'),
  }),
  // (the WebMail proxy's)
  webmailProxy: (r, c) => {
    const attrs = SERVICE_DEFS.webmailProxy.optionAttrs;
    const ms = (attrs['mappingData'] as { schema: ObjectSchema }).schema;
    const cs = (attrs['connectionData'] as { schema: ObjectSchema }).schema;
    const m = r.object('mappingData') ?? undefined;
    const cd = r.object('connectionData') ?? undefined;
    const userMap = c.userMap(r.str('userMap'));
    const authenticateOnProxy = r.bool('authenticateOnProxy');
    if (authenticateOnProxy && (userMap === null || userMap.type === 'file')) {
      throw new PosternError('CONFIG_RANGE', `webmailProxy: authenticateOnProxy = yes needs an ldapPassword or ldapBind userMap (${userMap === null ? 'none is set' : `"${userMap.name}" is a file map, which has no passwords`})`, { service: 'webmailProxy' });
    }
    return {
      kind: 'webmailProxy',
      ...httpOptions(r, c),
      userMap,
      mappingHost: str(m, ms, 'mappingHost') ?? '127.0.0.1',
      mappingPort: num(m, ms, 'mappingPort'),
      authenticateOnProxy,
      requestQueueSize: r.num('requestQueueSize'),
      connectionData: {
        connectTimeoutMs: num(cd, cs, 'connectTimeout'),
        rwTimeoutMs: num(cd, cs, 'rwTimeout'),
        maxConnections: num(cd, cs, 'maxConnections'),
        localInterface: str(cd, cs, 'localInterface'),
        sslEnable: bool(cd, cs, 'sslEnable'),
        caFile: str(cd, cs, 'caFile'),
        verify: bool(cd, cs, 'verify'),
      },
    };
  },
  // ---- operators' services (issue 17): each resolver is its owner's
  cli: (r, c) => ({
    kind: 'cli',
    maxCommandBytes: r.num('maxCommandLength'),
    maxAuthCommands: r.num('maxAuthCommands'),
    greetingsText: oneLine(r.str('greetingsText'), `Welcome to Postern's command line interface (${c.hostname})`),
  }),
  // (WebAdmin's)
  webadmin: (r, c) => ({
    kind: 'webadmin',
    ...httpOptions(r, c),
    sseIntervalMs: r.num('sseInterval'),
    maxEventStreams: r.num('maxEventStreams'),
    maxLogLines: r.num('maxLogLines'),
  }),
  // (the Log service's)
  log: (r) => ({
    kind: 'log',
    rules: logRules(r.objects('rules')),
    maxRecordBytes: r.num('maxRecordSize'),
    writeBufferBytes: r.num('writeBufferSize'),
  }),
  // (the Report service's)
  report: (r) => {
    const host = r.str('reportHost');
    return {
      kind: 'report',
      domainEnable: r.bool('DomainEnable'),
      domainObjectEnable: r.bool('DomainObjectEnable'),
      reportingIntervalMs: r.num('reportingInterval') * 7 * 86_400_000,
      sampleIntervalMs: r.num('sampleInterval'),
      maxScopeKeys: r.num('maxScopeKeys'),
      maxNodes: r.num('maxNodes'),
      reportHost: host === null ? null : parseEndpoint(host),
    };
  },
};

/** The Log service's rules by priority (stable); none written: everything to everything.txt. */
function logRules(written: readonly ModelObject[]): LogRuleOptions[] {
  const rs = LOG_RULE;
  const list = written.length > 0 ? written : [{ priority: 0, fileName: 'everything.txt' }];
  return list.map((o, i) => ({
    i,
    rule: {
      priority: num(o, rs, 'priority'),
      hostname: str(o, rs, 'hostname')!.toLowerCase(),
      module: str(o, rs, 'module')!,
      levels: levelMask(str(o, rs, 'logLevel')!),
      fileName: str(o, rs, 'fileName')!,
      fileSizeBytes: num(o, rs, 'fileSize'),
      fileTimeMs: num(o, rs, 'fileTime'),
      fileCount: num(o, rs, 'fileCount'),
      rotatePeriod: str(o, rs, 'rotatePeriod') as LogRuleOptions['rotatePeriod'],
    },
  })).sort((a, b) => a.rule.priority - b.rule.priority || a.i - b.i).map((x) => x.rule);
}

/** A service's logging (LOG_ATTRS); `internal`: the Log service's first enabled UDP listener
 * when it runs (a wildcard address is sent to on loopback; port 0 cannot be known: null). */
function logging(block: ModelObject | undefined, s: ObjectSchema, logListener: Endpoint | null): ServiceLogging {
  const type = str(block, s, 'logType') as ServiceLogging['type'];
  const hostText = str(block, s, 'logHost');
  const host = hostText === null ? null : parseEndpoint(hostText);
  return {
    levels: levelMask(str(block, s, 'logLevel')!),
    type,
    target: type === 'internal' ? logListener : type === 'remote' ? host : host ?? { host: '127.0.0.1', port: 514, family: 4 },
    queueSize: num(block, s, 'logQueueSize'),
  };
}

/** Where `internal` logging sends: the Log service's first enabled UDP listener, if it runs. */
function logListener(services: readonly ServiceName[], log: ServiceOptions | undefined): Endpoint | null {
  if (log === undefined || !services.includes('log')) return null;
  const l = log.udpListeners.find((x) => x.enable);
  if (l === undefined || l.address.port === 0) return null;
  const a = l.address;
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
  return { host, port: a.port, family: a.family };
}

/** One outgoing route (smtpOutgoing `routes`), defaults applied. */
function outgoingRoute(o: ModelObject): OutgoingRoute {
  const rs = (SERVICE_DEFS.smtpOutgoing.optionAttrs['routes'] as { schema: ObjectSchema }).schema;
  const hs = (rs.attributes['smartHost'] as { schema: ObjectSchema }).schema;
  const h = o['smartHost'] as ModelObject | undefined;
  const smart = str(o, rs, 'action') === 'smartHost' && h !== undefined;
  return {
    rcptDomain: (str(o, rs, 'rcptDomain') ?? '').toLowerCase(),
    sender: (str(o, rs, 'sender') ?? '').toLowerCase(),
    smartHost: !smart ? null : {
      host: str(h, hs, 'host')!, port: num(h, hs, 'port'), ssl: bool(h, hs, 'ssl'), startTls: str(h, hs, 'startTls') as SmartHostOptions['startTls'],
      authUser: str(h, hs, 'authUser'), authPassword: str(h, hs, 'authPassword'), authMethod: str(h, hs, 'authMethod') as SmartHostOptions['authMethod'],
    },
    requireTLS: bool(o, rs, 'requireTLS'),
  };
}

/** The service's `session` and `protocol`, each attribute read once; INTERNAL if the row's
 * resolver leaves an attribute (or a server option) unread. */
function serviceOptionsOf(def: ServiceDef, block: ModelObject | undefined, model: ModelObject, hostname: string, listeners: readonly TcpListenerOptions[], userdb: Userdb): Pick<ServiceOptions, 'session' | 'protocol'> {
  const read = new Set<string>();
  const r = optionReader(block, def.optionAttrs, read, `${def.name}Service`);
  const serverNames = def.row.serverOptions ?? [];
  const serverAttrs = Object.fromEntries(serverNames.map((n) => [n, SERVER_SCHEMA.attributes[n]!]));
  const serverRead = new Set<string>();
  const server = optionReader(model, serverAttrs, serverRead, 'Server');
  const session = def.transport === 'tcp' ? sessionOptions(r) : defaultSessionOptions();
  const protocol = (PROTOCOL_RESOLVERS[def.row.optionsKind] as (r: OptionReader, c: ResolveCtx) => ProtocolOptions)(r, { hostname, listeners, server, userMap: userdb.userMap, ldapConnector: userdb.ldapConnector });
  const missed = [...Object.keys(def.optionAttrs).filter((n) => !read.has(n)), ...serverNames.filter((n) => !serverRead.has(n))];
  if (missed.length > 0) {
    throw new PosternError('INTERNAL', `service ${def.name}: option attributes never resolved: ${missed.join(', ')}`, { service: def.name, missed });
  }
  return { session, protocol };
}

function service(def: ServiceDef, block: ModelObject | undefined): Omit<ServiceOptions, 'hostname' | 'session' | 'protocol'> {
  const s = def.schema;
  const listenerSpec = s.attributes['listeners'];
  const listenerSchema = listenerSpec?.type === 'objectSet' ? listenerSpec.schema : null;
  const list = listenerSchema === null ? [] : listenerModels(def, block);
  // Services without error control (UDP, none) report the TCP defaults; nothing enforces them.
  const errSchema = def.transport === 'tcp' ? s : SERVICE_DEFS.smtpIncoming.schema;
  const errBlock = def.transport === 'tcp' ? block : undefined;
  return {
    name: def.name,
    transport: def.transport,
    listeners: def.transport === 'tcp' ? list.map((l) => tcpListener(l, listenerSchema!)) : [],
    udpListeners: def.transport === 'udp' ? list.map((l) => udpListener(l, listenerSchema!)) : [],
    allowRules: allowRules(block, s),
    denyRules: denyRules(block, s),
    flow: flow(def.transport === 'tcp' ? block : undefined, TCP_ALLOW_RULE),
    maxErrors: num(errBlock, errSchema, 'maxErrors'),
    maxAuthErrors: num(errBlock, errSchema, 'maxAuthErrors'),
    minConnThreads: num(block, s, 'minConnThreads'),
    maxConnThreads: num(block, s, 'maxConnThreads'),
    threadSessions: num(block, s, 'threadSessions'),
    threadIdleTimeoutMs: num(block, s, 'threadIdleTimeout'),
    connThreadHeapBytes: num(block, s, 'connThreadHeapSize'),
    minPoolThreads: num(block, s, 'minPoolThreads'),
    maxPoolThreads: num(block, s, 'maxPoolThreads'),
  };
}

/** Freeze `value` and everything in it (resolved options; a thread freezes the copy it is
 * sent, since a structured clone is not frozen). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function expandServices(written: string[]): ServiceName[] {
  const out: ServiceName[] = [];
  for (const name of written) {
    const names = name === 'smtp' ? (['smtpIncoming', 'smtpOutgoing', 'processing'] as const) : [name as ServiceName];
    for (const n of names) if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** The Server's `dnr` block (absent: every default; no name servers: the OS's). */
function dnrOptions(block: ModelObject | undefined): DnrOptions {
  const servers = ((block?.['nameServers'] ?? []) as ModelObject[]).map((o, i) => ({
    address: str(o, DNR_NAME_SERVER, 'address')!, priority: num(o, DNR_NAME_SERVER, 'priority'), i,
  }));
  servers.sort((a, b) => a.priority - b.priority || a.i - b.i);
  return {
    nameServers: servers.map(({ address, priority }) => ({ address, priority })),
    timeoutMs: num(block, DNR_SCHEMA, 'timeout'),
    retries: num(block, DNR_SCHEMA, 'retries'),
    cacheSize: num(block, DNR_SCHEMA, 'cacheSize'),
    maxCacheTtlMs: num(block, DNR_SCHEMA, 'maxCacheTtl'),
    negativeCacheTtlMs: num(block, DNR_SCHEMA, 'negativeCacheTtl'),
  };
}

// ---- user databases and user maps (issue 16). Owner: cl-ldap ---------------------------------

interface Userdb {
  connectors: LdapConnectorOptions[];
  maps: UserMapOptions[];
  userMap(name: string | null): UserMapOptions | null;
  ldapConnector(name: string): LdapConnectorOptions;
}

function ldapConnectorOptions(o: ModelObject): LdapConnectorOptions {
  const s = LDAP_CONNECTOR;
  return {
    name: str(o, s, 'name')!,
    urls: (get(o, s, 'urls') as string[]).slice(),
    bindDn: str(o, s, 'bindDn'),
    bindPassword: str(o, s, 'bindPassword') ?? '',
    baseDn: str(o, s, 'baseDn')!,
    searchFilter: str(o, s, 'searchFilter')!,
    mailHostAttribute: str(o, s, 'mailHostAttribute')!,
    startTls: bool(o, s, 'startTls'),
    caFile: str(o, s, 'caFile'),
    timeoutMs: num(o, s, 'timeout'),
    poolSize: num(o, s, 'poolSize'),
    cacheTtlMs: num(o, s, 'cacheTtl') as number | Off,
    cacheSize: num(o, s, 'cacheSize'),
  };
}

/** The Server's `userdb` and `userMaps` (names checked by config/model.ts). */
function userdbOf(model: ModelObject): Userdb {
  const connectors = objects(model['userdb'] as ModelObject | undefined, 'ldapConnectors').map(ldapConnectorOptions);
  const ldapConnector = (name: string): LdapConnectorOptions => {
    const c = connectors.find((x) => x.name === name);
    if (c === undefined) throw new PosternError('CONFIG_MISSING', `LDAP connector "${name}" is not defined in Server.userdb.ldapConnectors`, { name });
    return c;
  };
  const maps: UserMapOptions[] = objects(model, 'userMaps').map((o) => {
    const name = str(o, USER_MAP, 'name')!;
    const type = str(o, USER_MAP, 'type');
    if (type === 'file') return { name, type, path: str(o, USER_MAP, 'path') ?? '' };
    return { name, type: type === 'ldapBind' ? 'ldapBind' : 'ldapPassword', connector: ldapConnector(str(o, USER_MAP, 'ldapConnector') ?? '') };
  });
  const userMap = (name: string | null): UserMapOptions | null => {
    if (name === null || name === '' || name.toLowerCase() === 'none') return null;
    const m = maps.find((x) => x.name === name);
    if (m === undefined) throw new PosternError('CONFIG_MISSING', `user map "${name}" is not defined in Server.userMaps`, { name });
    return m;
  };
  return { connectors, maps, userMap, ldapConnector };
}

/** The `dnr` defaults (options built by hand, tests). */
export function defaultDnrOptions(): DnrOptions {
  return deepFreeze(dnrOptions(undefined));
}

export function resolve(model: ModelObject): ResolvedConfig {
  const s = SERVER_SCHEMA;
  const serviceOptions = {} as Record<ServiceName, ServiceOptions>;
  const hostname = str(model, s, 'hostname') ?? systemHostname();
  const dnr = dnrOptions(model['dnr'] as ModelObject | undefined);
  const userdb = userdbOf(model);
  for (const def of serviceDefs()) {
    const name = def.name;
    const block = model[name] as ModelObject | undefined;
    const base = service(def, block);
    serviceOptions[name] = { ...base, hostname, ...serviceOptionsOf(def, block, model, hostname, base.listeners, userdb), dnr };
  }
  const services = expandServices(get(model, s, 'services') as string[]);
  const toLog = logListener(services, serviceOptions.log);
  for (const def of serviceDefs()) serviceOptions[def.name] = { ...serviceOptions[def.name], logging: logging(model[def.name] as ModelObject | undefined, def.schema, toLog) };
  const p = serviceOptions.processing.protocol;
  const proc = p.kind === 'processing' ? p : null;
  const inc = serviceOptions.smtpIncoming;
  if (inc?.protocol.kind === 'smtpIncoming' && proc !== null && services.includes('processing')) serviceOptions.smtpIncoming = { ...inc, protocol: { ...inc.protocol, processing: proc } };
  const out = serviceOptions.smtpOutgoing;
  if (out?.protocol.kind === 'smtpOutgoing') {
    const localSmtp = serviceOptions.smtpIncoming.listeners.filter((l) => l.enable).map((l) => `${l.address.host}:${l.address.port}`);
    serviceOptions.smtpOutgoing = { ...out, protocol: { ...out.protocol, localSmtp, processing: proc } };
  }
  return deepFreeze({
    services,
    primaryDomain: str(model, s, 'primaryDomain')!,
    hostname,
    statusListener: parseEndpoint(str(model, s, 'statusListener')!),
    statusLimits: {
      flow: flow(model['statusControl'] as ModelObject | undefined, STATUS_CONTROL),
      idleTimeoutMs: num(model['statusControl'] as ModelObject | undefined, STATUS_CONTROL, 'idleTimeout'),
      requestTimeoutMs: num(model['statusControl'] as ModelObject | undefined, STATUS_CONTROL, 'requestTimeout'),
    },
    logLevel: get(model, s, 'logLevel') as ResolvedConfig['logLevel'],
    dataDir: str(model, s, 'dataDir'),
    enableFaultInjection: bool(model, s, 'enableFaultInjection'),
    shutdownTimeoutMs: num(model, s, 'shutdownTimeout'),
    allowRules: allowRules(model, s),
    denyRules: denyRules(model, s),
    dnr,
    ldapConnectors: userdb.connectors,
    userMaps: userdb.maps,
    serviceOptions,
  });
}
