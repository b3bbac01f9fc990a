/**
 * src/config/ (the ground layer): the configuration: lexer, parser, schema, validator, resolver,
 * writer, and the embedded default (here).
 *
 * config/default.ts: the embedded default configuration, the text Postern runs with when no
 * file is given (and a commented starting point for an operator's own file). Loopback
 * addresses and unprivileged ports only. It is derived from the services table
 * (config/schema.ts `SERVICE_TABLE`): `services` lists the rows marked `embedded`, and every
 * row gets its block, showing its default listener; `NOTES` below adds the lines a block
 * shows beyond that. The limits not written here take the schema's defaults.
 *
 * Exports: `DEFAULT_CONFIG_TEXT`. Throws nothing.
 */
import { SERVICE_TABLE, type ServiceName, type ServiceRow } from './schema.ts';

/** Lines a service's block shows after its listener (8 spaces of indent). */
const NOTES: Readonly<Partial<Record<ServiceName, readonly string[]>>> = {
  smtpIncoming: [
    'maxDataSize = 10240          # KB, one message',
    'maxRcptCount = 100           # recipients per message (at most 1000)',
    'maxReceivedHeaders = 30      # more Received: fields than this is a mail loop',
    '# relayNetworks = ( 10.0.0.0/8 )   may relay without AUTH (authenticated clients may)',
    '# greetingsText, plainConnAuthTypes, secureConnAuthTypes, allowStartTLS (with a',
    '# listener certificate), allowPipelining, allow8BitMime, allowBinaryMime,',
    '# allowChunking, allowSmtpUtf8, allowBareLineFeed = no, allowBareCarriageReturn = no',
  ],
  processing: [
    'schedInterval = 300          # seconds to the first retry of a temporary failure; doubles',
    'maxSchedInterval = 28800     # … up to this',
    'maxRetryCount = 20           # then the recipient fails for good (and is bounced)',
    'delayNoticeAfter = 4         # a delay notice (DSN) to the sender after this many failed attempts',
  ],
  pop3: [
    'maxErrors = 10',
    'maxAuthErrors = 3',
    '# plainConnAllowLogin = yes   secureConnAllowLogin = yes   allowStartTLS = yes',
    '# plainConnAuthTypes = (plain login cramMd5 scramSha256)   secureConnAuthTypes = (the same)',
    '# greetingsText = "<hostname> Postern POP3 server ready"',
    '# every TCP service: authFailureDelay = 1   authFailureMaxDelay = 16   authFailureWindow = 300   (seconds)',
    '#                    authBanThreshold = 20   authBanTime = 600   (failed logins per IP; seconds)',
    '# Server-level: pop3ExclusiveLock = no   (yes: a second session gets -ERR [IN-USE])',
  ],
  imap: [
    'maxErrors = 10',
    'maxAuthErrors = 3',
    'maxLiteralSize = 51200       # KB, one literal (APPENDLIMIT: one APPENDed message)',
    'maxCommandSize = 65536       # KB, one command with its literals (MULTIAPPEND)',
    '# plainConnAllowLogin = yes   secureConnAllowLogin = yes   allowStartTLS = yes',
    '# plainConnAuthTypes = (plain login cramMd5 scramSha256)   secureConnAuthTypes = (the same)',
    '# greetingsText = "<hostname> Postern IMAP4rev2 server ready"',
    '# imapIdEnabled = yes   imapShowAllFolders = no   maxLiterals = 100   nonSyncLiterals = plus',
    '# maxNesting = 64   maxListItems = 10000   (parentheses nested, items in one list of a command)',
  ],
  webmail: [
    '# open http://127.0.0.1:8080/ and log in as an account; every limit below is the default',
    'httpBodyMaxSize = 1024       # KB, a form; uploadMaxSize = 25600 (KB, attachments)',
    'sessionIdleTimeout = 1800    # seconds unused; sessionActivityTimeout = 43200 (the longest)',
    '# allowKeepAlive = yes   allowLargeIncomingData = no   httpHeadersMaxSize = 16 (KB)',
    '# path = "/dir" (templates: <path>/default/, virtualHosts = ( { host = "mail.example.com" template = "brand" } ))',
    '# UrlRedirect = { address = 127.0.0.1:8443 auto = no }   hostNameResolver   showDomainList = no',
  ],
  rpop: [
    '# not in services by default: the accounts\' remote POP3 connections (postern ctl account rpop add …)',
    '# maxConnections = 10   minInterval = 60   maxRetryInterval = 3600   connectTimeout = 30   rwTimeout = 60',
    '# maxMessageSize = 10240 (KB)   maxMessagesPerPoll = 500   caFile = "/path/ca.pem" (default: Node\'s roots)',
  ],
  log: [
    '# files under <dataDir>/log/; no rules: everything to everything.txt. Each rule:',
    '# rules = ( { priority = 10 hostname = "*" module = "SMTP-IN" logLevel = info fileName = "smtp-in.txt"',
    '#             fileSize = 10240 fileTime = 0 fileCount = 5 rotatePeriod = none } )   (KB, seconds)',
    '# maxRecordSize = 8192 (bytes, a longer datagram is ignored)   writeBufferSize = 1024 (KB)',
    '# every service: logLevel = warning (critical error warning info protocol, or the bitmask 0-31)',
    '#                logType = internal (this Log service; remote or system: to logHost = ip:port)',
  ],
  ftpBackup: [
    '# log in as admin (postern ctl admin passwd --password PW); passive data connections',
    '# listen on the control connection\'s local address, on a free port of this range',
    'passivePortMin = 21000',
    'passivePortMax = 21999',
    'dataTimeout = 60        # seconds to open a data connection, and of data inactivity',
    'maxUploadSize = 51200   # KB, one STOR',
  ],
};

function block(r: ServiceRow): string {
  const lines: string[] = [];
  if (r.defaultListener !== null) {
    const why = r.transport === 'udp' ? r.description : `${r.description}; idleTimeout ${r.idleTimeout ?? 300}`;
    lines.push(`listeners = ( { address = ${r.defaultListener} enable = yes } )   # ${why}`);
  }
  for (const l of NOTES[r.name as ServiceName] ?? []) lines.push(l);
  return [`    ${r.name} = {`, ...lines.map((l) => `        ${l}`), '    }'].join('\n');
}

export const DEFAULT_CONFIG_TEXT = `# Postern configuration, in the seed system's syntax (axigen.cfg):
#   name = value; objects in { }, sets in ( ); times in seconds, sizes in KB;
#   0 means unlimited for connection counts; attribute names are case-insensitive.
Server {
    # Which services run. "smtp" stands for smtpIncoming, smtpOutgoing and processing.
    services = ( ${SERVICE_TABLE.filter((r) => r.embedded).map((r) => r.name).join(' ')} )
    primaryDomain = "localdomain"
    statusListener = 127.0.0.1:9100    # GET /status (JSON), GET /metrics (Prometheus)
    logLevel = info                    # stdout (pino JSON): fatal error warn info debug trace silent
    shutdownTimeout = 30               # seconds to drain before stopping anyway

    # Each TCP service: listeners (address, enable, idleTimeout, the flow limits
    # maxConnections maxIntervalConnections timeInterval peerMaxConnections
    # peerMaxIntervalConnections peerTimeInterval, sslEnable, sslControl, allowRules,
    # denyRules), service-level allowRules/denyRules and flow limits, maxErrors,
    # maxAuthErrors, minConnThreads, maxConnThreads.
    # Listener defaults: maxConnections 1000, maxIntervalConnections 6000 per 60 s,
    # peerMaxConnections 100, peerMaxIntervalConnections 1200 per 60 s.
${SERVICE_TABLE.map(block).join('\n')}
}
`;
