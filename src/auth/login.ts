/**
 * auth/login.ts: the login pipeline every protocol's pre-login session uses, split as Dovecot
 * splits pop3-login from pop3. (The auth folder holds what every protocol's login shares: this
 * pipeline, the SASL mechanisms in sasl.ts, the per-service login throttle in throttle.ts.)
 * Its steps, in this one place:
 *
 *   1. gate: wait out the remote IP's failure delay (`ctx.loginGate()`, the service's login
 *      throttle, auth/throttle.ts); a banned IP fails at once, without a check;
 *   2. resolve the user: the directory's `authInfo(login, service)` (the store's local directory
 *      now; a cluster's user map later): the account, whether it may use this service, its keys;
 *   3. check the credential against them: a password by scrypt on the service's pool (the
 *      `verifyPassword` task, or the protocol's own cached check; an unknown login is checked
 *      against DUMMY_HASH so it costs the same), CRAM-MD5 by the account's HMAC pads, SCRAM-SHA-256
 *      by its StoredKey (store/scram.ts). A service with `userdbConnectorType ldap` (its options'
 *      `userdbConnector`, config/options.ts UserdbLogin) checks a password by LDAP Bind against
 *      that connector instead (userdb/: the account's address looked up with the connector's
 *      filter, then bound as; through the protocol's verified-login cache like a scrypt check
 *      (POP3, IMAP, WebMail: authCacheSize / authCacheTtl, 0 = off): a password changed in the
 *      directory takes effect within authCacheTtl, as with Dovecot's auth cache); the account must still exist in the store (the mailbox is there), and a directory
 *      that cannot be asked is 'unavailable' (USERDB_UNAVAILABLE), not a wrong password.
 *      CRAM-MD5 and SCRAM need a stored secret the directory does not give: they fail (and
 *      auth/policy.ts does not offer them on such a service);
 *   4. report the outcome (`ctx.loginResult(ok, login)`), exactly once per gated check.
 *
 * The outcome is the resolved account, nothing more: the pre-login session holds no storage
 * handle. What the protocol serves is opened after, by its back end (POP3: pop3/backend.ts opens
 * the maildrop; SMTP: the session is marked authenticated), or, for a proxy later, the socket is
 * handed on. `saslLogin` drives a SASL machine (auth/sasl.ts) through this pipeline; a protocol
 * gives it only its framing (`ask`), its failure replies (`fail`) and its back end (`success`).
 *
 * SCRAM-SHA-256 asks the directory once before that (`scramLookup`): for the salt and iteration
 * count it must send before the client can prove anything; that is not a check (no gate, no
 * result), and a login without keys gets a stand-in (auth/sasl.ts).
 *
 * Exports: `checkLogin(ctx, credential, o)`, `gatedCheck(ctx, login, o, check)` (steps 1 and 4
 * alone, for a login that is not an account's: the FTP admin's), `saslLogin(ctx, server, first,
 * o, dialog)`, `scramLookup(ctx, service)`, types
 * `LoginContext`, `LoginOptions`, `LoginOutcome`, `SaslDialog`. Throws nothing (failures are
 * outcomes).
 */
import { isPosternError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { cramMd5Verify } from '../store/cram.ts';
import { DUMMY_HASH } from '../store/directory.ts';
import { parseScramKeys } from '../store/scram.ts';
import type { AccountInfo, AuthInfo } from '../store/types.ts';
import type { LdapConnectorOptions, UserdbLogin } from '../config/options.ts';
import type { LdapConnectorHandle } from '../userdb/index.ts';
import { ldapCacheTag } from './cache.ts';
import type { SaslCredential, SaslFailure, SaslServer, SaslServerOptions, SaslStep } from './sasl.ts';

/** What the pipeline needs of a session (a SessionContext is one). */
export interface LoginContext {
  readonly store: { authInfo(login: string, service: string): Promise<AuthInfo> } | null;
  readonly log: Logger;
  runTask(task: string, payload: unknown, timeoutMs?: number): Promise<unknown>;
  loginGate(): Promise<boolean>;
  loginResult(ok: boolean | null, user: string): void;
  /** The service's options (a SessionContext has them): its protocol options'
   * `userdbConnector` (issue 16) says where passwords are checked. */
  readonly service?: { readonly protocol: object };
}

/** The service's LDAP connector for logins (`userdbConnectorType ldap`), or null (local). */
export function userdbConnectorOf(ctx: Pick<LoginContext, 'service'>): LdapConnectorOptions | null {
  return (ctx.service?.protocol as Partial<UserdbLogin> | undefined)?.userdbConnector ?? null;
}

/** The thread's connector handle per resolved connector options (a reload brings new ones).
 * userdb/ (and ldapts) is loaded on first use: a thread without LDAP logins never loads it. */
const connectors = new WeakMap<LdapConnectorOptions, Promise<LdapConnectorHandle>>();
function connectorFor(o: LdapConnectorOptions, log: Logger): Promise<LdapConnectorHandle> {
  let c = connectors.get(o);
  if (c === undefined) connectors.set(o, (c = import('../userdb/index.ts').then((m) => m.ldapConnectorFor(o, log))));
  return c;
}

export interface LoginOptions {
  /** The service name the directory checks the account against ('smtp', 'pop3'). */
  service: string;
  /** A password check other than the pool's (POP3's per-thread cache wraps `pool`). */
  verifyPassword?: (login: string, password: string, hash: string, pool: () => Promise<boolean>) => Promise<boolean>;
  /** The session went away while its check waited at the gate: stop there (its pending check
   * stays counted by the throttle's delay). */
  abandoned?: () => boolean;
}

export type LoginOutcome = { ok: true; account: AccountInfo } | { ok: false; reason: 'credentials' | 'unavailable' | 'abandoned' };

const FAILED = Object.freeze({ ok: false, reason: 'credentials' } as const);

/** Whether the credential matches what the directory keeps for the account. */
async function matches(ctx: LoginContext, c: SaslCredential, info: AuthInfo | null, o: LoginOptions): Promise<boolean> {
  const ldap = userdbConnectorOf(ctx);
  if (ldap !== null) {
    // LDAP Bind as the account's entry; USERDB_UNAVAILABLE propagates (an 'unavailable' outcome)
    if (c.kind !== 'password' || info === null) return false;
    const address = info.account.address;
    const bind = async (): Promise<boolean> => await (await connectorFor(ldap, ctx.log)).bindAs(address, c.password);
    // the protocol's verified-login cache (POP3, IMAP, WebMail: authCacheSize / authCacheTtl)
    return await (o.verifyPassword?.(address, c.password, ldapCacheTag(ldap.name), bind) ?? bind());
  }
  switch (c.kind) {
    case 'password': {
      const hash = info?.passwordHash ?? DUMMY_HASH; // an unknown login costs as much as a wrong password
      const pool = async (): Promise<boolean> => (await ctx.runTask('verifyPassword', { password: c.password, hash })) === true;
      const ok = info === null ? await pool().catch(() => false) : await (o.verifyPassword?.(c.authcid, c.password, hash, pool) ?? pool());
      return ok && info !== null;
    }
    case 'cramMd5':
      return info !== null && cramMd5Verify(info.cramMd5Pads, c.challenge, c.digest);
    case 'scramSha256': {
      const keys = info === null ? null : parseScramKeys(info.scramSha256);
      return keys !== null && c.prove(keys);
    }
  }
}

/**
 * Steps 1 and 4 around any check, this pipeline's and the FTP admin login's: wait at the gate
 * (banned: false without a check), run `check`, report its outcome once. `check` resolves whether
 * the credential is right, or rejects when it could not be checked ('unavailable', reported as
 * null). 'abandoned': the session went away at the gate (no check, no result).
 */
export async function gatedCheck(
  ctx: Pick<LoginContext, 'log' | 'loginGate' | 'loginResult'>,
  login: string,
  o: Pick<LoginOptions, 'service' | 'abandoned'>,
  check: () => Promise<boolean>,
): Promise<boolean | 'unavailable' | 'abandoned'> {
  if (!(await ctx.loginGate())) return false; // banned: no check
  if (o.abandoned?.() === true) return 'abandoned';
  let ok: boolean;
  try {
    ok = await check();
  } catch (e) {
    ctx.loginResult(null, login);
    ctx.log.warn({ err: e }, `${o.service}: cannot check a login`);
    return 'unavailable';
  }
  ctx.loginResult(ok, login);
  return ok;
}

/** Gate, resolve, check, report (see the contract above). */
export async function checkLogin(ctx: LoginContext, c: SaslCredential, o: LoginOptions): Promise<LoginOutcome> {
  const store = ctx.store;
  if (store === null) return { ok: false, reason: 'unavailable' };
  const login = c.authcid;
  let account: AccountInfo | null = null;
  const r = await gatedCheck(ctx, login, o, async () => {
    let info: AuthInfo | null = null;
    let reason = 'password';
    try {
      info = await store.authInfo(login, o.service);
    } catch (e) {
      if (!isPosternError(e, 'STORE_AUTH_FAILED')) throw e;
      reason = String(e.details?.reason ?? 'unknown');
    }
    if (await matches(ctx, c, info, o)) {
      account = info!.account;
      return true;
    }
    if (info !== null && c.kind !== 'password') reason = `${c.kind} key`;
    ctx.log.debug({ login: login.slice(0, 100), mechanism: c.kind, reason }, `${o.service}: authentication failed`);
    return false;
  });
  if (r === true && account !== null) return { ok: true, account };
  return typeof r === 'string' ? { ok: false, reason: r } : FAILED;
}

/** SCRAM-SHA-256's first step: the salt and iteration count of a login's keys (null: none). */
export function scramLookup(ctx: LoginContext, service: string): SaslServerOptions['scramLookup'] {
  return async (login) => {
    const store = ctx.store;
    if (store === null) throw new Error('no store');
    let info: AuthInfo;
    try {
      info = await store.authInfo(login, service);
    } catch (e) {
      if (isPosternError(e, 'STORE_AUTH_FAILED')) return null;
      throw e;
    }
    const keys = parseScramKeys(info.scramSha256);
    return keys === null ? null : { salt: keys.salt, iterations: keys.iterations };
  };
}

/** What a protocol gives `saslLogin`: its framing, its failure replies and its back end. */
export interface SaslDialog<V> {
  /** Frame a challenge (SMTP `334 <base64>`, POP3 `+ <base64>`); the client's next line goes to
   * `next` (a line over the limit is the protocol's, through expectLine's onTooLong). */
  ask(challenge: Buffer, next: (line: string) => Promise<V>): V;
  fail(reason: SaslFailure): V;
  /** The login succeeded: open what the protocol serves. */
  success(account: AccountInfo): V | Promise<V>;
}

/** Drive a SASL exchange from its first step through the login pipeline to the dialog's verdict. */
export async function saslLogin<V>(ctx: LoginContext, server: SaslServer, first: Promise<SaslStep>, o: LoginOptions, d: SaslDialog<V>): Promise<V> {
  let account: AccountInfo | null = null;
  const drive = async (p: Promise<SaslStep> | SaslStep): Promise<V> => {
    const st = await p;
    switch (st.t) {
      case 'challenge':
        return d.ask(st.data, (line) => drive(server.step(line)));
      case 'fail':
        return d.fail(st.reason);
      case 'verify': {
        const r = await checkLogin(ctx, st.credential, o);
        if (!r.ok) {
          server.verified(false);
          return d.fail(r.reason);
        }
        account = r.account;
        return drive(server.verified(true));
      }
      case 'success':
        return account === null ? d.fail('credentials') : d.success(account);
    }
  };
  return drive(first);
}
