/**
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
    services = ( )
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
    }
    processing = {
    }
    smtpOutgoing = {
    }
    pop3 = {
        listeners = ( { address = 127.0.0.1:1110 enable = yes } )   # idleTimeout 600
        maxErrors = 10
        maxAuthErrors = 3
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
