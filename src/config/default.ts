/**
 * src/config/ (the ground layer): the configuration: lexer, parser, schema, validator, resolver,
 * writer, and the embedded default (here).
 *
 * config/default.ts: the embedded default configuration, the text Postern runs with when no
 * file is given (and a commented starting point for an operator's own file). Loopback
 * addresses and unprivileged ports only. Every service block shows its default listener; the
 * limits not written here take the schema's defaults (config/schema.ts).
 *
 * Exports: `DEFAULT_CONFIG_TEXT`. Throws nothing.
 */

export const DEFAULT_CONFIG_TEXT = `# Postern configuration, in the seed system's syntax (axigen.cfg):
#   name = value; objects in { }, sets in ( ); times in seconds, sizes in KB;
#   0 means unlimited for connection counts; attribute names are case-insensitive.
Server {
    # Which services run. "smtp" stands for smtpIncoming, smtpOutgoing and processing.
    services = ( smtpIncoming processing pop3 ftpBackup )
    primaryDomain = "localdomain"
    statusListener = 127.0.0.1:9100    # GET /status (JSON), GET /metrics (Prometheus)
    logLevel = info                    # fatal error warn info debug trace silent
    shutdownTimeout = 30               # seconds to drain before stopping anyway

    # Each TCP service: listeners (address, enable, idleTimeout, the flow limits
    # maxConnections maxIntervalConnections timeInterval peerMaxConnections
    # peerMaxIntervalConnections peerTimeInterval, sslEnable, sslControl, allowRules,
    # denyRules), service-level allowRules/denyRules and flow limits, maxErrors,
    # maxAuthErrors, minConnThreads, maxConnThreads.
    # Listener defaults: maxConnections 1000, maxIntervalConnections 6000 per 60 s,
    # peerMaxConnections 100, peerMaxIntervalConnections 1200 per 60 s.
    smtpIncoming = {
        listeners = ( { address = 127.0.0.1:2525 enable = yes } )   # idleTimeout 300
        maxDataSize = 10240          # KB, one message
        maxRcptCount = 100           # recipients per message (at most 1000)
        maxReceivedHeaders = 30      # more Received: fields than this is a mail loop
        # relayNetworks = ( 10.0.0.0/8 )   may relay without AUTH (authenticated clients may)
        # greetingsText, plainConnAuthTypes, secureConnAuthTypes, allowStartTLS (with a
        # listener certificate), allowPipelining, allow8BitMime, allowBinaryMime,
        # allowChunking, allowSmtpUtf8, allowBareLineFeed = no, allowBareCarriageReturn = no
    }
    processing = {
        schedInterval = 300          # seconds to the first retry of a temporary failure; doubles
        maxSchedInterval = 28800     # … up to this
        maxRetryCount = 20           # then the recipient fails for good
    }
    smtpOutgoing = {
    }
    pop3 = {
        listeners = ( { address = 127.0.0.1:1110 enable = yes } )   # idleTimeout 600
        maxErrors = 10
        maxAuthErrors = 3
        # plainConnAllowLogin = yes   secureConnAllowLogin = yes   allowStartTLS = yes
        # plainConnAuthTypes = (plain login cramMd5)   secureConnAuthTypes = (plain login cramMd5)
        # greetingsText = "<hostname> Postern POP3 server ready"
        # every TCP service: authFailureDelay = 1   authFailureMaxDelay = 16   authFailureWindow = 300   (seconds)
        #                    authBanThreshold = 20   authBanTime = 600   (failed logins per IP; seconds)
        # Server-level: pop3ExclusiveLock = no   (yes: a second session gets -ERR [IN-USE])
    }
    imap = {
        listeners = ( { address = 127.0.0.1:1143 enable = yes } )   # idleTimeout 1800
    }
    webmail = {
        listeners = ( { address = 127.0.0.1:8080 enable = yes } )
    }
    webadmin = {
        listeners = ( { address = 127.0.0.1:9000 enable = yes } )
    }
    cli = {
        listeners = ( { address = 127.0.0.1:7000 enable = yes } )   # telnet-style CLI
    }
    log = {
        listeners = ( { address = 127.0.0.1:2000 enable = yes } )   # UDP
    }
    report = {
        listeners = ( { address = 127.0.0.1:2001 enable = yes } )   # UDP
    }
    ftpBackup = {
        listeners = ( { address = 127.0.0.1:2121 enable = yes } )   # idleTimeout 900
        # log in as admin (postern ctl admin passwd --password PW); passive data connections
        # listen on the control connection's local address, on a free port of this range
        passivePortMin = 21000
        passivePortMax = 21999
        dataTimeout = 60        # seconds to open a data connection, and of data inactivity
        maxUploadSize = 51200   # KB, one STOR
    }
    rpop = {
    }
    pop3Proxy = {
        listeners = ( { address = 127.0.0.1:8110 enable = yes } )
    }
    imapProxy = {
        listeners = ( { address = 127.0.0.1:8143 enable = yes } )
    }
    webmailProxy = {
        listeners = ( { address = 127.0.0.1:8800 enable = yes } )
    }
}
`;
