/**
 * protocols/imap/options.ts: the IMAP service's options, as the config resolved them once
 * (config/options.ts `ImapOptions`: typed, frozen, the greeting defaulted), the questions
 * asked of them per connection (which SASL mechanisms, whether LOGIN, on a plain or a secure
 * connection, auth/policy.ts), and the capability lists built from them (RFC 9051 §7.2.2), before and after
 * login. The per-connection questions (which SASL mechanisms, whether LOGIN) are
 * auth/policy.ts's.
 *
 * Before login: IMAP4rev1 IMAP4rev2, LITERAL+ or LITERAL- (nonSyncLiterals), SASL-IR, ID (when
 * imapIdEnabled), ENABLE, STARTTLS (allowStartTLS, a listener certificate, not yet secure),
 * AUTH=… (the connection's auth types), LOGINDISABLED (LOGIN not allowed on it). After login
 * the extensions the service serves, APPENDLIMIT=maxLiteralSize in bytes among them.
 *
 * Exports: `ImapOptions`, `imapOptions(service)`, `preLoginCapabilities(opts, secure, startTls)`, `postLoginCapabilities(opts)`, `NON_SYNC_MAX_BYTES`.
 * Throws INTERNAL (`imapOptions` of a service that is not IMAP: a programming error).
 */
import { optionsOf, type ImapOptions, type ServiceOptions } from '../../config/options.ts';
import { mechanismsFor, plainLoginAllowed } from '../../auth/policy.ts';

export type { ImapOptions };

/** RFC 7888 §4: LITERAL- caps a non-synchronising literal at 4096 bytes. */
export const NON_SYNC_MAX_BYTES = 4096;

export function imapOptions(service: ServiceOptions): ImapOptions {
  return optionsOf(service, 'imap');
}

/** The extensions served after login (RFC 9051 §7.2.2 order: IMAP4rev1 IMAP4rev2 first). */
const POST_LOGIN = [
  'IDLE', 'UIDPLUS', 'MOVE', 'CONDSTORE', 'QRESYNC', 'SPECIAL-USE', 'CREATE-SPECIAL-USE', 'LIST-EXTENDED', 'LIST-STATUS',
  'ESEARCH', 'SEARCHRES', 'NAMESPACE', 'UNSELECT', 'CHILDREN', 'STATUS=SIZE', 'BINARY', 'UTF8=ACCEPT',
  'QUOTA', 'QUOTA=RES-STORAGE', 'QUOTA=RES-MESSAGE', 'SORT', 'THREAD=REFERENCES', 'MULTIAPPEND',
  'COMPRESS=DEFLATE', 'ENABLE',
] as const;

const literalCap = (o: ImapOptions): string => (o.nonSyncLiterals === 'minus' ? 'LITERAL-' : 'LITERAL+');

const cache = new WeakMap<ImapOptions, Map<string, string>>();

function cached(o: ImapOptions, key: string, make: () => string): string {
  let m = cache.get(o);
  if (m === undefined) cache.set(o, (m = new Map()));
  let v = m.get(key);
  if (v === undefined) m.set(key, (v = make()));
  return v;
}

/** Before login: what a client needs to choose how to log in. */
export function preLoginCapabilities(o: ImapOptions, secure: boolean, startTls: boolean): string {
  return cached(o, `pre:${secure}:${startTls}`, () => {
    const caps = ['IMAP4rev1', 'IMAP4rev2', literalCap(o), 'SASL-IR', 'ENABLE'];
    if (o.imapIdEnabled) caps.push('ID');
    if (startTls && !secure) caps.push('STARTTLS');
    for (const m of mechanismsFor(o, secure)) caps.push(`AUTH=${m}`);
    if (!plainLoginAllowed(o, secure)) caps.push('LOGINDISABLED');
    return caps.join(' ');
  });
}

/** After login: every extension served. */
export function postLoginCapabilities(o: ImapOptions): string {
  return cached(o, 'post', () => {
    const caps: string[] = ['IMAP4rev1', 'IMAP4rev2', literalCap(o), ...POST_LOGIN, `APPENDLIMIT=${o.maxLiteralBytes}`];
    if (o.imapIdEnabled) caps.push('ID');
    return caps.join(' ');
  });
}
