/**
 * auth/proxy.ts: the login of the POP3 and IMAP proxies (inventory §19), the steps both share
 * around the login pipeline (auth/login.ts): check, route, connect, log in on the back end. A
 * proxy gives only its back-end dialect (how to read the greeting and log in there: POP3
 * USER/PASS, IMAP [ID] LOGIN or AUTHENTICATE PLAIN) and maps the outcome to its replies.
 *
 *   1. check: with authenticateOnProxy, through the pipeline's gate: an LDAP user map checks
 *      the password (`UserMap.authenticate`; a password it accepted is kept in the thread's
 *      verified-login cache, authCacheSize entries for authCacheTtl, so a password changed in
 *      the directory takes effect within authCacheTtl, as with Dovecot's auth cache), else the proxy's own directory (`checkLogin`, the
 *      thread's verified-login cache); without it, the back end's answer to the login is the
 *      check, still gated (the per-IP delay and ban apply) and reported once;
 *   2. route: `UserMap.lookup(user)` → host:port (a null port: mappingPort); no entry (or no
 *      map) → mappingHost:mappingPort; neither: `noroute`, a permanent error;
 *   3. a slot of connectionData maxConnections, counted over the service's threads by its host
 *      (`SessionContext.backendSlot`): none left is `busy` at once;
 *   4. connect (rwTimeout) and the dialect's login, each step within rwTimeout.
 * A map that cannot answer (USERDB_UNAVAILABLE) and a back end that is down, refusing or silent
 * are `unavailable` (the protocol's temporary error), never a hang; an entry that cannot be used
 * (USERDB_BAD_ENTRY: no mailHost) is `noroute`, as no back end; the back end refusing the
 * credentials is `credentials`.
 *
 * Credentials holding CR, LF or NUL are refused before anything (they would inject commands
 * into the back-end dialog).
 *
 * `proxyEnv(ctx, o, service, abandoned)` gives a session this thread's share: the user map the
 * options name (opened once per thread and definition; one that cannot be opened makes every
 * login `unavailable`, logged once), the slots, the verified-login cache.
 *
 * Exports: `proxyLogin`, `proxyEnv`, `plainExchange`, `PlainDialog`, `ProxyDialect`, `DialectAnswer`, `ProxyEnv`, `ProxyOutcome`, `ProxyFailure`.
 * Throws nothing (failures are outcomes).
 */
import type { ProxyOptions } from '../config/options.ts';
import { isPosternError, PosternError } from '../errors.ts';
import { BackendConn, BackendSlots, connectBackend, type BackendTarget } from '../session/backend.ts';
import type { Logger } from '../log.ts';
import { openUserMap } from '../userdb/index.ts';
import type { UserMap } from '../userdb/types.ts';
import { ldapCacheTag, LoginCache } from './cache.ts';
import { checkLogin, gatedCheck, type LoginContext } from './login.ts';
import type { SaslFailure, SaslServer, SaslStep } from './sasl.ts';

/** The back end's answer to a login step: ok (its text, for the client), refused, or temporary. */
export type DialectAnswer = { ok: true; text: string } | { ok: false; temporary: boolean; text: string };

/** A protocol's half of the back-end dialog. Every read within `timeoutMs`; a protocol error
 * rejects PROXY_BACKEND. */
export interface ProxyDialect {
  login(conn: BackendConn, user: string, password: string, timeoutMs: number): Promise<DialectAnswer>;
}

export interface ProxyEnv {
  /** The directory name the proxy's own check uses ('pop3', 'imap': the account's services). */
  service: string;
  /** The service's user map (null: none). */
  map: UserMap | null;
  /** Take a connection to the back ends (connectionData maxConnections): its release, or
   * PROXY_BUSY at once. */
  slot: () => Promise<() => void>;
  cache: LoginCache;
  /** The session went away while waiting. */
  abandoned: () => boolean;
  /** The back end's line length bound. */
  maxLineLength: number;
}

export type ProxyFailure = 'credentials' | 'unavailable' | 'busy' | 'noroute' | 'abandoned';
export type ProxyOutcome =
  | { ok: true; conn: BackendConn; text: string; target: BackendTarget }
  | { ok: false; reason: ProxyFailure; text?: string };

const bad = /[\r\n\0]/;

/** Step 2: the user's back end. */
async function route(o: ProxyOptions, map: UserMap | null, user: string): Promise<BackendTarget> {
  const r = map === null ? null : await map.lookup(user);
  if (r !== null) return { host: r.host, port: r.port ?? o.mappingPort };
  if (o.mappingHost === '') throw new PosternError('PROXY_NO_ROUTE', `no back end for ${user.slice(0, 100)}: the user map has no entry and mappingData has no mappingHost`);
  return { host: o.mappingHost, port: o.mappingPort };
}

/** Steps 2 to 4 (see the contract); rejects with the reason's error. */
async function reach(o: ProxyOptions, env: ProxyEnv, user: string, password: string, dialect: ProxyDialect): Promise<{ conn: BackendConn; answer: DialectAnswer; target: BackendTarget }> {
  const target = await route(o, env.map, user);
  const release = await env.slot();
  let conn: BackendConn;
  try {
    conn = await connectBackend(target, o.connection, env.maxLineLength);
  } catch (e) {
    release();
    throw e;
  }
  conn.socket.once('close', release);
  try {
    const answer = await dialect.login(conn, user, password, o.connection.rwTimeoutMs);
    if (!answer.ok) conn.close();
    return { conn, answer, target };
  } catch (e) {
    conn.close();
    throw e;
  }
}

function reasonOf(e: unknown): ProxyFailure {
  if (isPosternError(e, 'PROXY_BUSY')) return 'busy';
  if (isPosternError(e, 'PROXY_NO_ROUTE') || isPosternError(e, 'USERDB_BAD_ENTRY')) return 'noroute';
  return 'unavailable';
}

/** Check, route, connect, log in on the back end (see the contract). */
export async function proxyLogin(ctx: LoginContext, o: ProxyOptions, env: ProxyEnv, user: string, password: string, dialect: ProxyDialect): Promise<ProxyOutcome> {
  if (user === '' || bad.test(user) || bad.test(password)) return { ok: false, reason: 'credentials' };
  const gate = { service: env.service, abandoned: env.abandoned };
  if (o.authenticateOnProxy) {
    const map = env.map;
    if (map !== null && map.type !== 'file') {
      // the thread's verified-login cache (authCacheSize / authCacheTtl): a password the
      // directory accepted is not asked again within the TTL; a refusal is never kept
      const r = await gatedCheck(ctx, user, gate, () => env.cache.check(user, password, ldapCacheTag(map.name), o, () => map.authenticate(user, password)));
      if (r !== true) return { ok: false, reason: r === false ? 'credentials' : r };
    } else {
      const r = await checkLogin(ctx, { kind: 'password', authcid: user, password }, {
        ...gate,
        verifyPassword: (login, pw, hash, pool) => env.cache.check(login, pw, hash, o, pool),
      });
      if (!r.ok) return { ok: false, reason: r.reason };
    }
    if (env.abandoned()) return { ok: false, reason: 'abandoned' };
    try {
      const { conn, answer, target } = await reach(o, env, user, password, dialect);
      if (answer.ok && env.abandoned()) {
        conn.close();
        return { ok: false, reason: 'abandoned' };
      }
      if (answer.ok) return { ok: true, conn, text: answer.text, target };
      ctx.log.warn({ user: user.slice(0, 100), answer: answer.text.slice(0, 200) }, `${env.service} proxy: the back end refused a login the proxy accepted`);
      return { ok: false, reason: answer.temporary ? 'unavailable' : 'credentials', text: answer.text };
    } catch (e) {
      ctx.log.warn({ err: e }, `${env.service} proxy: cannot log in on the back end`);
      return { ok: false, reason: reasonOf(e) };
    }
  }
  // the back end checks: its answer is the check, gated and reported once
  let reached: { conn: BackendConn; answer: DialectAnswer; target: BackendTarget } | null = null;
  let error: unknown = null;
  const r = await gatedCheck(ctx, user, gate, async () => {
    try {
      reached = await reach(o, env, user, password, dialect);
    } catch (e) {
      error = e;
      throw e;
    }
    const a = reached.answer;
    if (!a.ok && a.temporary) throw new PosternError('PROXY_BACKEND', `the back end answered: ${a.text.slice(0, 200)}`);
    return a.ok;
  });
  const got = reached as { conn: BackendConn; answer: DialectAnswer; target: BackendTarget } | null;
  if (r === true && got !== null && got.answer.ok) {
    if (env.abandoned()) {
      got.conn.close();
      return { ok: false, reason: 'abandoned' };
    }
    return { ok: true, conn: got.conn, text: got.answer.text, target: got.target };
  }
  if (r === false) return { ok: false, reason: 'credentials' };
  if (r === 'abandoned') return { ok: false, reason: 'abandoned' };
  return { ok: false, reason: error === null ? 'unavailable' : reasonOf(error) };
}

/** This thread's share (a connection thread serves one service). */
const slots = new BackendSlots();
const cache = new LoginCache();
/** By map name: the definition it was opened with, and the map (a reload that changes the
 * definition closes the old one). */
const maps = new Map<string, { key: string; map: UserMap }>();
let mapFailureLogged = false;

/** A map that could not be opened: every lookup is unavailable. */
function brokenMap(name: string, err: unknown): UserMap {
  const fail = (): Promise<never> => Promise.reject(new PosternError('USERDB_UNAVAILABLE', `user map ${name} cannot be used: ${err instanceof Error ? err.message : String(err)}`));
  return { name, type: 'file', lookup: fail, authenticate: fail, close: async () => {} };
}

function mapOf(def: ProxyOptions['userMap'], log: Logger): UserMap | null {
  if (def === null) return null;
  const key = JSON.stringify(def);
  const had = maps.get(def.name);
  if (had !== undefined && had.key === key) return had.map;
  void had?.map.close().catch(() => {});
  let m: UserMap;
  try {
    m = openUserMap(def, log);
  } catch (e) {
    if (!mapFailureLogged) log.error({ err: e }, 'proxy: the user map cannot be opened; logins fail temporarily');
    mapFailureLogged = true;
    m = brokenMap(def.name, e);
  }
  maps.set(def.name, { key, map: m });
  return m;
}

/** The session's `ProxyEnv` (see the contract). maxConnections is counted over the service's
 * threads on its host (`ctx.backendSlot`); without one (a context built by hand), in this
 * thread, its share ceil(maxConnections / maxConnThreads) (session/backend.ts BackendSlots). */
export function proxyEnv(
  ctx: LoginContext & { service: { maxConnThreads: number; session: { maxLineLength: number } }; backendSlot?: (limit: number) => Promise<(() => void) | null> },
  o: ProxyOptions,
  service: string,
  abandoned: () => boolean,
): ProxyEnv {
  const limit = o.connection.maxConnections;
  const hostSlot = ctx.backendSlot;
  const slot = hostSlot !== undefined
    ? async (): Promise<() => void> => {
        const release = await hostSlot(limit);
        if (release === null) throw new PosternError('PROXY_BUSY', `connections to the back ends at the limit (connectionData maxConnections = ${limit})`, { limit });
        return release;
      }
    : async (): Promise<() => void> => slots.take(o.connection, ctx.service.maxConnThreads);
  return { service, map: mapOf(o.userMap, ctx.log), slot, cache, abandoned, maxLineLength: Math.max(8192, ctx.service.session.maxLineLength) };
}

/** A proxy's side of a PLAIN exchange (POP3 AUTH PLAIN, IMAP AUTHENTICATE PLAIN): the protocol's
 * framing and failure words, and its login with the password the client gave (the proxy needs
 * the password itself, so the check is not `saslLogin`'s). */
export interface PlainDialog<V> {
  /** Ask for the (empty-challenge) response; the client's next line goes to `next`. */
  ask(next: (line: string) => Promise<V>): V;
  fail(reason: SaslFailure): V;
  password(user: string, password: string): V | Promise<V>;
}

/** Drive a PLAIN exchange from its first step to the dialog's verdict. */
export async function plainExchange<V>(server: SaslServer, first: Promise<SaslStep>, d: PlainDialog<V>): Promise<V> {
  const st = await first;
  if (st.t === 'challenge') return d.ask((line) => plainExchange(server, server.step(line), d));
  if (st.t === 'verify' && st.credential.kind === 'password') return d.password(st.credential.authcid, st.credential.password);
  return d.fail(st.t === 'fail' ? st.reason : 'malformed');
}
