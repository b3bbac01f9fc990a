/**
 * userdb/ldap.ts: an LDAP connector (config Server `userdb.ldapConnectors`, one entry) over
 * ldapts, and the LDAP Password / LDAP Bind user maps built on it.
 *
 * The connector keeps a bounded pool of at most `poolSize` connections, each bound as the
 * service account (`bindDn`/`bindPassword`; none: anonymous). A new connection tries the URLs in
 * the order written (failover); a URL that just failed is tried after the others for 30 s.
 * ldaps:// is TLS from the first byte, `startTls` upgrades ldap:// URLs; `caFile` (PEM) is the
 * CA the directory's certificate must chain to (default: the system's). Every connect and every
 * operation is bounded by `timeoutMs`, and so is the wait for a free connection when all
 * `poolSize` are busy: past it, USERDB_UNAVAILABLE, never a hang. A connection that failed (or
 * that the directory closed, e.g. across a restart) is dropped; an operation that failed on a
 * pooled connection is retried once on a new one.
 *
 * Lookups search `baseDn` (subtree) with `searchFilter`, where `%u` is the login as given and
 * `%d` its domain (after the last @; '' without one), both escaped per RFC 4515; the answer (the
 * entry's DN, `mail` and routing attribute, or "no such user") is kept `cacheTtlMs` in an LRU of
 * `cacheSize` entries (failures are never cached; concurrent lookups of one login share one
 * search). More than one entry for a login is USERDB_BAD_ENTRY.
 *
 * Password checks:
 *   - LDAP Password (`compare`): compare `userPassword` with the password as the service account
 *     (the directory must allow it; clear or compare-able values);
 *   - LDAP Bind (`bindAs`): bind as the entry's DN with the password on a connection of its own
 *     (outside the pool; bounded by timeoutMs), then close it. An empty password is refused
 *     without asking (an empty simple bind is an anonymous one, RFC 4513 §5.1.2).
 *   A wrong password or an unknown login is `false`; a directory that cannot be asked is
 *   USERDB_UNAVAILABLE. Passwords are never cached.
 *
 * Exports: `LdapConnector` (class), `LdapConnectorHandle`, `DirEntry`, `ldapMap(name, type, connector)` → UserMap,
 * `escapeFilterValue(v)`, `filterFor(pattern, login)`.
 * Throws (rejects): USERDB_UNAVAILABLE (retryable), USERDB_BAD_ENTRY (two entries; for a map
 * lookup, no or a bad routing attribute).
 */
import fs from 'node:fs';
import type tls from 'node:tls';
import { Client, InvalidCredentialsError, ResultCodeError } from 'ldapts';
import type { LdapConnectorOptions } from '../config/options.ts';
import { PosternError, isPosternError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseHostPort } from './file.ts';
import type { UserMap, UserRoute } from './types.ts';

/** What the directory says of a login. */
export interface DirEntry {
  readonly dn: string;
  /** The entry's `mail` (the login as given when it has none). */
  readonly mail: string;
  /** The routing attribute's first value; null: the entry has none. */
  readonly mailHost: string | null;
}

/** RFC 4515 §3: `\`, `*`, `(`, `)` and NUL as `\XX`. */
export function escapeFilterValue(v: string): string {
  return v.replace(/[\\*()\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `pattern` with `%u` (the login) and `%d` (its domain) substituted, escaped. */
export function filterFor(pattern: string, login: string): string {
  const at = login.lastIndexOf('@');
  const domain = at < 0 ? '' : login.slice(at + 1);
  return pattern.replace(/%([ud%])/g, (_, k: string) => (k === 'u' ? escapeFilterValue(login) : k === 'd' ? escapeFilterValue(domain) : '%'));
}

const DOWN_MS = 30_000;

interface Waiter {
  resolve(c: Client): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout;
}

interface Cached {
  entry: DirEntry | null;
  expires: number;
}

const unavailable = (o: LdapConnectorOptions, what: string, cause?: unknown): PosternError =>
  new PosternError('USERDB_UNAVAILABLE', `LDAP connector ${o.name}: ${what}${cause instanceof Error ? `: ${cause.message}` : ''}`, { connector: o.name }, { cause });

/** An LDAP result code from the directory (the connection itself is fine), as opposed to a
 * socket error or a timeout. */
const isResultCode = (e: unknown): boolean => e instanceof ResultCodeError;

function firstValue(v: unknown): string | null {
  const x = Array.isArray(v) ? v[0] : v;
  if (x === undefined || x === null) return null;
  return Buffer.isBuffer(x) ? x.toString('utf8') : String(x);
}

export class LdapConnector {
  readonly name: string;
  readonly options: LdapConnectorOptions;
  private readonly log: Logger;
  private readonly idle: Client[] = [];
  private readonly waiters: Waiter[] = [];
  private live = 0;
  private readonly downUntil = new Map<string, number>();
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<DirEntry | null>>();
  private tlsOptions: tls.ConnectionOptions | null = null;
  private isClosed = false;
  /** Searches sent to the directory (a cache hit sends none). */
  searches = 0;

  constructor(options: LdapConnectorOptions, log: Logger) {
    this.name = options.name;
    this.options = options;
    this.log = log;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Connections open now (busy and idle); never more than poolSize. */
  get connections(): number {
    return this.live;
  }

  private tls(): tls.ConnectionOptions {
    if (this.tlsOptions === null) {
      const o = this.options;
      this.tlsOptions = o.caFile === null ? {} : { ca: fs.readFileSync(o.caFile) };
    }
    return this.tlsOptions;
  }

  /** The URLs in the order to try: the written order, URLs that just failed last. */
  private urlOrder(): string[] {
    const now = Date.now();
    const up = this.options.urls.filter((u) => (this.downUntil.get(u) ?? 0) <= now);
    return [...up, ...this.options.urls.filter((u) => !up.includes(u))];
  }

  /** A client connected to the first URL that answers, bound as `dn` (null: none). */
  private async connect(dn: string | null, password: string, deadline: number): Promise<Client> {
    const o = this.options;
    let last: unknown = null;
    for (const url of this.urlOrder()) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let tlsOptions: tls.ConnectionOptions;
      try {
        tlsOptions = this.tls();
      } catch (e) {
        throw unavailable(o, `cannot read caFile ${o.caFile}`, e);
      }
      // tlsOptions only for ldaps:// (ldapts given them on an ldap:// URL breaks a later StartTLS)
      const secure = url.toLowerCase().startsWith('ldaps://');
      // timeout: every later operation on this (pooled) connection gets the whole timeoutMs
      const client = new Client({ url, timeout: o.timeoutMs, connectTimeout: left, strictDN: false, ...(secure ? { tlsOptions: { ...tlsOptions } } : {}) });
      try {
        // a fresh options object each time (ldapts writes the socket into it), with the URL's
        // host for the certificate's identity check
        if (o.startTls && !secure) await client.startTLS({ ...tlsOptions, host: new URL(url).hostname.replace(/^\[|\]$/g, '') });
        // always one operation here, so a dead URL shows now (failover), not at the first search:
        // no service account is an anonymous bind (RFC 4513 §5.1.1)
        await client.bind(dn ?? '', dn === null ? '' : password);
        this.downUntil.delete(url);
        return client;
      } catch (e) {
        void client.unbind().catch(() => undefined);
        last = e;
        // a user's wrong password is no fault of the URL: no failover for it
        if (e instanceof InvalidCredentialsError && dn !== o.bindDn) break;
        if (!this.downUntil.has(url) || (this.downUntil.get(url) ?? 0) <= Date.now()) {
          this.log.warn({ connector: o.name, url, err: (e as Error).message }, 'LDAP server failed; trying the next URL');
        }
        this.downUntil.set(url, Date.now() + DOWN_MS);
      }
    }
    if (last instanceof InvalidCredentialsError && dn === o.bindDn) throw unavailable(o, 'the directory refused the service account\'s bind', last);
    throw unavailable(o, last === null ? `no answer within ${o.timeoutMs} ms` : 'no LDAP server answered', last);
  }

  /** A pooled connection: an idle one, a new one (below poolSize), or the next one released
   * (waiting at most until `deadline`). */
  private acquire(deadline: number): Promise<{ client: Client; pooled: boolean }> {
    if (this.isClosed) return Promise.reject(unavailable(this.options, 'closed'));
    while (this.idle.length > 0) {
      const c = this.idle.pop()!;
      if (c.isConnected) return Promise.resolve({ client: c, pooled: true });
      this.drop(c);
    }
    if (this.live < this.options.poolSize) return this.grow(deadline).then((client) => ({ client, pooled: false }));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve: (client) => resolve({ client, pooled: true }),
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(unavailable(this.options, `all ${this.options.poolSize} connections busy for ${this.options.timeoutMs} ms`));
        }, Math.max(0, deadline - Date.now())),
      };
      this.waiters.push(w);
    });
  }

  private async grow(deadline: number): Promise<Client> {
    this.live++;
    try {
      return await this.connect(this.options.bindDn, this.options.bindPassword, deadline);
    } catch (e) {
      this.live--;
      this.wakeOne();
      throw e;
    }
  }

  /** A waiter gets a new connection when one was dropped. */
  private wakeOne(): void {
    if (this.waiters.length === 0 || this.live >= this.options.poolSize || this.isClosed) return;
    const w = this.waiters.shift()!;
    clearTimeout(w.timer);
    this.grow(Date.now() + this.options.timeoutMs).then(w.resolve, w.reject);
  }

  private drop(c: Client): void {
    this.live--;
    void c.unbind().catch(() => undefined);
  }

  private release(c: Client, healthy: boolean): void {
    if (!healthy || !c.isConnected || this.isClosed) {
      this.drop(c);
      this.wakeOne();
      return;
    }
    const w = this.waiters.shift();
    if (w !== undefined) {
      clearTimeout(w.timer);
      w.resolve(c);
    } else this.idle.push(c);
  }

  /** Run `fn` on a pooled connection within timeoutMs; retried once on a new connection when a
   * pooled one failed below the LDAP level (it went stale). */
  private async withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.options.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const { client, pooled } = await this.acquire(deadline);
      try {
        const r = await fn(client);
        this.release(client, true);
        return r;
      } catch (e) {
        const ldapAnswer = isResultCode(e);
        this.release(client, ldapAnswer);
        if (ldapAnswer || isPosternError(e)) throw e;
        if (!pooled || attempt > 0 || Date.now() >= deadline) throw unavailable(this.options, 'operation failed', e);
      }
    }
  }

  /** The entry of `login` (cached), or null. */
  find(login: string): Promise<DirEntry | null> {
    const key = login.toLowerCase();
    const o = this.options;
    const useCache = o.cacheTtlMs !== null && o.cacheSize > 0;
    if (useCache) {
      const hit = this.cache.get(key);
      if (hit !== undefined) {
        this.cache.delete(key);
        if (hit.expires > Date.now()) {
          this.cache.set(key, hit); // most recently used last
          return Promise.resolve(hit.entry);
        }
      }
    }
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.search(login).then((entry) => {
        if (useCache && !this.isClosed) {
          this.cache.set(key, { entry, expires: Date.now() + (o.cacheTtlMs ?? 0) });
          while (this.cache.size > o.cacheSize) this.cache.delete(this.cache.keys().next().value!);
        }
        return entry;
      }).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async search(login: string): Promise<DirEntry | null> {
    const o = this.options;
    const filter = filterFor(o.searchFilter, login);
    const { searchEntries } = await this.withClient(async (c) => {
      this.searches++;
      return await c.search(o.baseDn, { scope: 'sub', filter, attributes: ['mail', o.mailHostAttribute], sizeLimit: 2 });
    }).catch((e: unknown) => {
      if (e instanceof ResultCodeError && e.code === 32) return { searchEntries: [] }; // noSuchObject: the base is not there (or hidden)
      if (e instanceof ResultCodeError && e.code === 4) throw new PosternError('USERDB_BAD_ENTRY', `LDAP connector ${o.name}: more than one entry for ${login}`, { connector: o.name, login });
      if (isPosternError(e)) throw e;
      throw unavailable(o, 'search failed', e);
    });
    if (searchEntries.length === 0) return null;
    if (searchEntries.length > 1) throw new PosternError('USERDB_BAD_ENTRY', `LDAP connector ${o.name}: more than one entry for ${login}`, { connector: o.name, login });
    const e = searchEntries[0]!;
    const attr = Object.keys(e).find((k) => k.toLowerCase() === o.mailHostAttribute.toLowerCase());
    return { dn: e.dn, mail: firstValue(e['mail']) ?? login, mailHost: attr === undefined ? null : firstValue(e[attr]) };
  }

  /** LDAP Password: compare `userPassword` as the service account. */
  async compare(login: string, password: string): Promise<boolean> {
    const entry = await this.find(login);
    if (entry === null) return false;
    try {
      return await this.withClient((c) => c.compare(entry.dn, 'userPassword', password));
    } catch (e) {
      if (e instanceof ResultCodeError) {
        if (e.code === 16 || e.code === 32) return false; // noSuchAttribute, noSuchObject
        throw unavailable(this.options, `compare refused (result code ${e.code})`, e);
      }
      throw e;
    }
  }

  /** LDAP Bind: bind as the entry's DN with `password`, on a connection of its own. */
  async bindAs(login: string, password: string): Promise<boolean> {
    if (password === '') return false;
    const entry = await this.find(login);
    if (entry === null) return false;
    const deadline = Date.now() + this.options.timeoutMs;
    try {
      const c = await this.connect(entry.dn, password, deadline);
      void c.unbind().catch(() => undefined);
      return true;
    } catch (e) {
      const cause = isPosternError(e) ? (e as Error).cause : e;
      if (cause instanceof InvalidCredentialsError) return false;
      throw e;
    }
  }

  /** Empty the answer cache; the number of answers dropped. */
  flush(): number {
    const n = this.cache.size;
    this.cache.clear();
    return n;
  }

  /** Close every connection; waiters get USERDB_UNAVAILABLE. */
  async close(): Promise<void> {
    this.isClosed = true;
    this.cache.clear();
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(unavailable(this.options, 'closed'));
    }
    await Promise.all(this.idle.splice(0).map((c) => { this.live--; return c.unbind().catch(() => undefined); }));
  }
}

/** What a user of a (shared) connector holds: userdb/index.ts `ldapConnectorFor`. */
export type LdapConnectorHandle = Pick<LdapConnector, 'name' | 'options' | 'closed' | 'find' | 'compare' | 'bindAs' | 'flush' | 'close'>;

/** The LDAP Password (`ldapPassword`) or LDAP Bind (`ldapBind`) map over `connector`. */
export function ldapMap(name: string, type: 'ldapPassword' | 'ldapBind', connector: LdapConnectorHandle): UserMap {
  return {
    name,
    type,
    async lookup(login: string): Promise<UserRoute | null> {
      const e = await connector.find(login);
      if (e === null) return null;
      if (e.mailHost === null || e.mailHost.trim() === '') {
        throw new PosternError('USERDB_BAD_ENTRY', `user map ${name}: ${e.dn} has no ${connector.options.mailHostAttribute}`, { userMap: name, dn: e.dn });
      }
      const hp = parseHostPort(e.mailHost);
      return { host: hp.host, port: hp.port, user: e.mail };
    },
    authenticate(login: string, password: string): Promise<boolean> {
      return type === 'ldapBind' ? connector.bindAs(login, password) : connector.compare(login, password);
    },
    close: () => connector.close(),
  };
}
