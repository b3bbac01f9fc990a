/**
 * errors.ts: every error Postern raises, with a stable code, in one list.
 *
 * Exports: `ErrorCode` (the list), `PosternError` (the one error class), `errorToData` /
 * `errorFromData` (errors cross threads and the control socket as plain `{ code, message,
 * retryable }` data and are rebuilt from the code), `isPosternError`.
 * Tests compare codes, never message text. Throws nothing itself.
 */

/** code → whether a caller may retry the same operation later. */
export const ErrorCodes = {
  // actor runtime
  ACTOR_BUSY: true, // mailbox full: the caller gets this instead of the queue growing
  ACTOR_TIMEOUT: true, // ask() got no reply in time
  ACTOR_STOPPED: false, // the actor is stopped or stopping
  ACTOR_EXITED: false, // the actor failed while handling this message
  ACTOR_KILLED: false, // ended by kill(): no cleanup ran (OTP brutal_kill)
  SUPERVISOR_INTENSITY: false, // restart intensity exceeded: escalated to the parent
  CHILD_NOT_FOUND: false,
  CHILD_EXISTS: false,
  // services and threads
  NOT_IMPLEMENTED: false,
  SERVICE_UNKNOWN: false,
  SERVICE_NOT_RUNNING: false,
  SERVICE_RUNNING: false,
  THREAD_EXITED: true,
  LISTEN_FAILED: true,
  // configuration
  CONFIG_SYNTAX: false,
  CONFIG_UNKNOWN_ATTRIBUTE: false,
  CONFIG_TYPE: false,
  CONFIG_RANGE: false,
  CONFIG_DUPLICATE: false,
  CONFIG_MISSING: false,
  CONFIG_READ: false,
  CONFIG_TLS: false, // a listener's certificate, key or CA file cannot be used
  // control socket
  CONTROL_UNAVAILABLE: true,
  CONTROL_BAD_REQUEST: false,
  CONTROL_FORBIDDEN: false, // an admin command from a service that may not run them
  // user databases and user maps (src/userdb/): a directory that cannot be asked is temporary
  USERDB_UNAVAILABLE: true, // the LDAP server is down, slow past its timeout, or refused the service bind
  USERDB_BAD_ENTRY: false, // an entry or map line that cannot be used (no mailHost, a bad host:port)
  // the POP3 and IMAP proxies (src/session/backend.ts): a back end that fails is temporary
  PROXY_BACKEND: true, // the back end could not be reached, refused, or was silent past rwTimeout
  PROXY_BUSY: true, // connectionData maxConnections to the back ends reached
  PROXY_NO_ROUTE: false, // no map entry and no mappingHost: the user has no back end
  // storage (protocol-neutral kinds, as Dovecot's mail-error.h; each protocol maps them)
  STORE_NO_SUCH_DOMAIN: false,
  STORE_NO_SUCH_ACCOUNT: false,
  STORE_NO_SUCH_FOLDER: false, // IMAP NO [TRYCREATE] / [NONEXISTENT]
  STORE_NO_SUCH_MESSAGE: false, // an expunged or unknown UID
  STORE_DOMAIN_EXISTS: false,
  STORE_DOMAIN_NOT_EMPTY: false, // removing a domain that still has accounts or aliases
  STORE_ACCOUNT_EXISTS: false, // also: an alias with that address exists
  STORE_FOLDER_EXISTS: false, // IMAP NO [ALREADYEXISTS]
  STORE_BAD_NAME: false, // a folder, domain, address or keyword that breaks the naming rules
  STORE_BAD_ARGUMENT: false, // an out-of-range value (quota, UID list, empty password, …)
  STORE_NOT_ALLOWED: false, // e.g. delete or rename INBOX
  STORE_QUOTA_EXCEEDED: false, // per-account bytes or messages; SMTP 552 5.2.2, IMAP NO [OVERQUOTA]
  STORE_AUTH_FAILED: false, // unknown login, wrong password, disabled account/domain/service
  STORE_NO_SPACE: true, // the disk is full (ENOSPC/EDQUOT): nothing was written; retry later
  STORE_IO: true, // another I/O error on write or sync: nothing was acknowledged
  STORE_IN_USE: true, // the store directory is open in another process or Store
  STORE_LOCKED: true, // the folder is held by another exclusive snapshot (POP3 pop3ExclusiveLock: -ERR [IN-USE])
  STORE_CLOSED: true, // the store is closing or closed
  STORE_CORRUPT: false, // a checksum mismatch or unreadable checkpoint/directory file
  // RPOP (src/store/rpop.ts, src/protocols/rpop/)
  RPOP_NO_SUCH_CONNECTION: false, // no remote POP3 connection with that id (for that account)
  RPOP_BUSY: true, // another poll holds the connection (or this poll's lease lapsed)
  RPOP_CONNECT: true, // the remote could not be reached (refused, unreachable, connectTimeout)
  RPOP_TLS: true, // TLS could not be set up (handshake, certificate, STLS not offered)
  RPOP_TIMEOUT: true, // the remote did not answer within rwTimeout
  RPOP_PROTOCOL: true, // the remote answered something unexpected (garbage, over a limit, -ERR)
  RPOP_AUTH_FAILED: true, // the remote refused the username or password
  RPOP_TOO_BIG: true, // a message over maxMessageSize (left on the remote, not fetched)
  // the mail queue (src/store/queue.ts)
  QUEUE_NO_SUCH_ENTRY: false, // no queued message with that id (delivered, deleted, or never there)
  QUEUE_ENTRY_BUSY: true, // the entry is being delivered or moved right now: try again in a moment
  QUEUE_FULL: true, // the queue holds its maximum number of messages: SMTP 452 4.3.1
  // the resolver (src/net/dnr.ts)
  DNR_TEMP: true, // every name server failed (SERVFAIL, REFUSED, timeout, unreachable): mail is retried
  DNR_BAD_NAME: false, // a malformed name or IP address was asked about
  // anything else: logged whole, reaches a client only as a temporary failure
  INTERNAL: true,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface ErrorData {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

export class PosternError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PosternError';
    this.code = code;
    this.retryable = ErrorCodes[code] ?? true;
    this.details = details;
  }
}

export function isPosternError(e: unknown, code?: ErrorCode): e is PosternError {
  return e instanceof PosternError && (code === undefined || e.code === code);
}

/** Turn any thrown value into plain, cloneable data. */
export function errorToData(e: unknown): ErrorData {
  if (e instanceof PosternError) {
    const d: ErrorData = { code: e.code, message: e.message, retryable: e.retryable };
    if (e.details !== undefined) d.details = e.details;
    return d;
  }
  const message = e instanceof Error ? e.message : String(e);
  return { code: 'INTERNAL', message, retryable: true };
}

/** Rebuild an error from data that crossed a thread or socket. */
export function errorFromData(d: ErrorData): PosternError {
  const code: ErrorCode = d.code in ErrorCodes ? d.code : 'INTERNAL';
  return new PosternError(code, d.message, d.details);
}
