/**
 * src/userdb/: user databases and user maps (inventory §19; issue 16), a layer of its own that,
 * like the store, imports only the ground (config, net, errors, log) and its libraries (ldapts).
 * Protocols (the proxies, smtpIncoming's routing, the WebMail proxy) and auth/ (a back end's
 * login through an LDAP connector) use it.
 *
 * userdb/types.ts: the contract. Types only.
 *
 *   const map = openUserMap(optionsOf(ctx.service, 'pop3Proxy').userMap!, ctx.log);
 *   const route = await map.lookup('alice@example.com');   // { host: '127.0.0.3', port: null } | null
 *   const ok = await map.authenticate('alice@example.com', 'secret');   // LDAP Password or Bind
 *
 * Failure model: a directory that cannot be asked (down, slower than its timeout, refusing the
 * service account's bind) rejects with PosternError USERDB_UNAVAILABLE (retryable): the caller
 * answers the protocol's temporary error (-ERR [SYS/TEMP], NO [UNAVAILABLE], 451, a 503 page).
 * A user the map does not know is `null` (lookup) or `false` (authenticate), never an error.
 * An entry that cannot be used (no mailHost, a bad host:port) is USERDB_BAD_ENTRY.
 */

/** Where a user's mailbox lives: the back end named by the map (`mailHost`, or the file map's
 * `host:port`). `port` null: the map named a host alone; the caller uses its own back-end port
 * (the proxy's `mappingPort`, or the protocol's default on the back end). */
export interface UserRoute {
  readonly host: string;
  readonly port: number | null;
  /** The user's canonical login as the directory spells it (e.g. the entry's `mail`). */
  readonly user: string;
}

/** A user map (several may be defined, each named; config Server `userMaps`). Answers are
 * cached per map for the connector's cache TTL (a failure is never cached). Safe to share by
 * every session of a thread. */
export interface UserMap {
  readonly name: string;
  readonly type: 'file' | 'ldapPassword' | 'ldapBind';
  /** The back end of `login` (an address; a login without @domain is looked up as written);
   * null: no entry (the caller falls back to `mappingHost:mappingPort`). */
  lookup(login: string): Promise<UserRoute | null>;
  /** Check the password: LDAP Password compares it against the entry's `userPassword` as the
   * service account; LDAP Bind binds as the entry's DN with it. A file map cannot check
   * passwords: it rejects NOT_IMPLEMENTED (configure authenticateOnProxy = no, or an ldap map). */
  authenticate(login: string, password: string): Promise<boolean>;
  /** Close the connector's connections and file watchers. */
  close(): Promise<void>;
}
