/**
 * store/directory.ts: domains, accounts and aliases, kept in `<store>/directory.mpk`
 * ([u32 crc32][msgpack]), replaced atomically on every change (temp + fsync + rename + fsync
 * dir) and swapped in memory only once on disk. Changes run one at a time.
 *
 * The primary domain completes a bare local part ("postmaster" → postmaster@primary); the first
 * domain added becomes primary. RFC 5321 §4.5.1: `addDomain` with a `postmasterPassword`
 * creates the domain's postmaster account with it (seed: CREATE Domain … postmasterPassword),
 * `ensurePostmaster` creates one with a random password, and `resolve` takes postmaster@ a
 * local domain that has no such account or alias to the primary domain's postmaster, which
 * therefore cannot be removed on its own (STORE_NOT_ALLOWED). Removing a domain removes its
 * postmaster account (and its mail) with it.
 *
 * Passwords are stored as the scrypt strings of workers/pool.ts;
 * hashing and checking run where the caller says (`hashPassword` given at construction,
 * `verify` given per call), never here on the event loop. CRAM-MD5 keeps only HMAC-MD5 pads
 * (src/store/cram.ts), for accounts with `cramMd5` on: on by default, and every password set
 * (`setPassword`) keys it and turns it on, so every mechanism the services advertise works for
 * every account made or re-keyed here (an account made before that has no key: its CRAM-MD5
 * logins fail as wrong passwords until its password is set again). SCRAM-SHA-256 keys
 * (src/store/scram.ts: salt, iterations, StoredKey, ServerKey; not a password equivalent) are
 * kept for every account whose password is set here, likewise (an older account has none until
 * its password is set again). Quotas are byte and message
 * counts, `Infinity` (UNLIMITED) for none; `services` is 'all' or the list of services the
 * account may log in to. The server admin's password hash (`admin.passwd`, the ftpBackup login)
 * is kept here too. Backups (the FTP tree) export an account whole, hash included, and restore
 * it in one change (`exportAccount`, `restoreDomain`, `restoreAccount`). A domain may carry its
 * DKIM key (store/dkim.ts; `dkimKey`, `setDkimKey`).
 *
 * Exports: `Directory`, `DUMMY_HASH` (and re-exports the account types of types.ts).
 * Throws: STORE_NO_SUCH_DOMAIN, STORE_NO_SUCH_ACCOUNT, STORE_DOMAIN_EXISTS,
 * STORE_ACCOUNT_EXISTS, STORE_DOMAIN_NOT_EMPTY, STORE_BAD_NAME, STORE_BAD_ARGUMENT,
 * STORE_AUTH_FAILED (details.reason: unknown | password | disabled | service | domain),
 * STORE_CORRUPT (a damaged directory file), STORE_NO_SPACE | STORE_IO (writing it).
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { PosternError, isPosternError } from '../errors.ts';
import { cramMd5Pads } from './cram.ts';
import { writeFileAtomic, type FsLayer } from './fsio.ts';
import { domainName, splitAddress } from './names.ts';
import { HASH_FORMAT, parseScryptHash } from './password-hash.ts';
import { SCRAM_FORMAT, parseScramKeys, scramSha256Keys } from './scram.ts';
import { packr } from './record.ts';
import type { DkimKey } from './dkim.ts';
import type { AccountBackup, AccountChanges, AccountInfo, AccountOptions, AuthInfo, DomainBackup, DomainInfo, HashPassword, VerifyPassword } from './types.ts';

/** RFC 5321 §4.5.1: the local part every local domain must accept (case-insensitive). */
const POSTMASTER = 'postmaster';

/** A well-formed hash no password matches: checked for unknown logins so they take as long. */
export const DUMMY_HASH = `scrypt$16384$8$1$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;

export type { AccountChanges, AccountInfo, AccountOptions, AuthInfo, DomainInfo, HashPassword, VerifyPassword } from './types.ts';

interface AccountRec extends AccountInfo {
  hash: string;
  pads: Uint8Array | null;
  /** SCRAM-SHA-256 keys (scram.ts text form); null: none (set before them, or restored without). */
  scram: string | null;
}

interface DomainRec {
  name: string;
  enabled: boolean;
  createdAt: number;
  /** The domain's DKIM key (store/dkim.ts); absent: none, outgoing mail is not signed. */
  dkim?: DkimKey;
}

interface Data {
  v: 1;
  primary: string | null;
  admin: string | null; // the server admin's password hash (ftpBackup login); null: none set
  nextId: number;
  domains: Map<string, DomainRec>;
  accounts: Map<string, AccountRec>;
  aliases: Map<string, string>;
}

function fail(code: 'STORE_AUTH_FAILED', reason: string): PosternError {
  return new PosternError(code, 'authentication failed', { reason });
}

function checkPassword(p: unknown): string {
  if (typeof p !== 'string' || p.length === 0 || p.length > 1024) throw new PosternError('STORE_BAD_ARGUMENT', 'a password must be 1 to 1024 characters');
  return p;
}

function checkLimit(v: unknown, what: string): number {
  if (v === Infinity || (Number.isInteger(v) && (v as number) >= 0)) return v as number;
  throw new PosternError('STORE_BAD_ARGUMENT', `${what} must be a whole number ≥ 0 or Infinity (unlimited)`);
}

function checkServices(v: unknown): 'all' | string[] {
  if (v === 'all') return 'all';
  if (Array.isArray(v) && v.every((s) => typeof s === 'string' && /^[A-Za-z0-9]{1,32}$/.test(s))) return [...new Set(v as string[])];
  throw new PosternError('STORE_BAD_ARGUMENT', "services must be 'all' or a list of service names");
}

/** RFC 5321 §4.5.1: `<postmaster>` (and postmaster@ every local domain without its own) goes
 * to postmaster@<primary domain>, so that account or alias cannot be removed while the primary
 * domain exists (STORE_NOT_ALLOWED); another domain's can (its mail then goes there). */
function requiredPostmaster(d: Data, address: string): void {
  if (d.primary !== null && address === `${POSTMASTER}@${d.primary}`) {
    throw new PosternError('STORE_NOT_ALLOWED', `${address} receives <postmaster> (RFC 5321 4.5.1) and cannot be removed while ${d.primary} is the primary domain`, { address });
  }
}

function publicInfo(r: AccountRec): AccountInfo {
  const { hash: _h, pads: _p, scram: _s, ...info } = r;
  return { ...info, services: info.services === 'all' ? 'all' : [...info.services] };
}

export class Directory {
  private d: Data;
  private readonly file: string;
  private readonly fsl: FsLayer;
  private readonly hashPassword: HashPassword;
  private readonly shards: number;
  private readonly onRemove: (a: AccountInfo) => void;
  private chain: Promise<unknown> = Promise.resolve();
  private byId = new Map<number, AccountRec>();

  constructor(o: { file: string; fs: FsLayer; hashPassword: HashPassword; shards: number; onRemove: (a: AccountInfo) => void }) {
    this.file = o.file;
    this.fsl = o.fs;
    this.hashPassword = o.hashPassword;
    this.shards = o.shards;
    this.onRemove = o.onRemove;
    this.d = { v: 1, primary: null, admin: null, nextId: 1, domains: new Map(), accounts: new Map(), aliases: new Map() };
  }

  /** Read the directory file (a missing file is an empty directory). */
  load(): void {
    if (!fs.existsSync(this.file)) return;
    const buf = fs.readFileSync(this.file);
    if (buf.length < 4 || crc32(buf.subarray(4)) !== buf.readUInt32LE(0)) {
      throw new PosternError('STORE_CORRUPT', `directory file ${this.file} is damaged (checksum mismatch)`, { file: this.file });
    }
    const raw = packr.unpack(buf.subarray(4)) as { v: number; primary: string | null; admin?: string | null; nextId: number; domains: DomainRec[]; accounts: AccountRec[]; aliases: Array<[string, string]> };
    if (raw.v !== 1) throw new PosternError('STORE_CORRUPT', `directory file has unknown version ${String(raw.v)}`);
    this.d = {
      v: 1, primary: raw.primary, admin: typeof raw.admin === 'string' ? raw.admin : null, nextId: raw.nextId,
      domains: new Map(raw.domains.map((x) => [x.name, x])),
      accounts: new Map(raw.accounts.map((x) => [x.address, { ...x, pads: x.pads === null ? null : new Uint8Array(x.pads), scram: typeof x.scram === 'string' ? x.scram : null }])),
      aliases: new Map(raw.aliases),
    };
    this.index();
  }

  private index(): void {
    this.byId = new Map([...this.d.accounts.values()].map((r) => [r.id, r]));
  }

  // ---- reads ----

  get primaryDomain(): string | null {
    return this.d.primary;
  }

  /** The server admin's password hash (the ftpBackup login); null until one is set. */
  get adminHash(): string | null {
    return this.d.admin;
  }

  listDomains(): DomainInfo[] {
    const counts = new Map<string, number>();
    for (const a of this.d.accounts.values()) counts.set(a.domain, (counts.get(a.domain) ?? 0) + 1);
    return [...this.d.domains.values()].sort((a, b) => a.name.localeCompare(b.name))
      .map((x) => ({ name: x.name, enabled: x.enabled, primary: x.name === this.d.primary, accounts: counts.get(x.name) ?? 0, createdAt: x.createdAt }));
  }

  getDomain(name: string): DomainInfo {
    const n = domainName(name);
    const d = this.listDomains().find((x) => x.name === n);
    if (d === undefined) throw new PosternError('STORE_NO_SUCH_DOMAIN', `no domain ${n}`, { domain: n });
    return d;
  }

  listAccounts(domain?: string): AccountInfo[] {
    const dn = domain === undefined ? undefined : this.getDomain(domain).name;
    return [...this.d.accounts.values()].filter((a) => dn === undefined || a.domain === dn).sort((a, b) => a.address.localeCompare(b.address)).map(publicInfo);
  }

  listAliases(domain?: string): Array<{ alias: string; target: string }> {
    return [...this.d.aliases].filter(([a]) => domain === undefined || a.endsWith(`@${domainName(domain)}`)).sort().map(([alias, target]) => ({ alias, target }));
  }

  accountById(id: number): AccountInfo | undefined {
    const r = this.byId.get(id);
    return r === undefined ? undefined : publicInfo(r);
  }

  hasAccountId(id: number): boolean {
    return this.byId.has(id);
  }

  /** An account's quota, without copying its record (asked on every append). */
  limitsOf(id: number): { bytes: number; messages: number } {
    const r = this.byId.get(id);
    if (r === undefined) throw new PosternError('STORE_NO_SUCH_ACCOUNT', `account ${id} was removed`);
    return { bytes: r.quotaBytes, messages: r.quotaMessages };
  }

  /** A full address from an address or a bare local part (→ the primary domain). */
  qualify(address: string): { address: string; domain: string } {
    const { local, domain } = splitAddress(address);
    const dom = domain ?? this.d.primary;
    if (dom === null) throw new PosternError('STORE_NO_SUCH_DOMAIN', 'no primary domain for a bare local part', { address });
    return { address: `${local}@${dom}`, domain: dom };
  }

  private rec(address: string): AccountRec {
    let { address: a, domain } = this.qualify(address);
    for (let hops = 0; hops < 8; hops++) {
      const t = this.d.aliases.get(a);
      if (t === undefined) break;
      a = t;
      domain = a.slice(a.lastIndexOf('@') + 1);
    }
    if (!this.d.domains.has(domain)) throw new PosternError('STORE_NO_SUCH_DOMAIN', `no domain ${domain}`, { domain });
    const r = this.d.accounts.get(a);
    if (r === undefined) throw new PosternError('STORE_NO_SUCH_ACCOUNT', `no account ${a}`, { address: a });
    return r;
  }

  /** The account an address (or alias, or bare local part) delivers to; postmaster@ a local
   * domain without its own goes to the primary domain's postmaster. */
  resolve(address: string): AccountInfo {
    try {
      return publicInfo(this.rec(address));
    } catch (e) {
      const primary = this.d.primary;
      if (!isPosternError(e, 'STORE_NO_SUCH_ACCOUNT') || primary === null || splitAddress(address).local !== POSTMASTER) throw e;
      return publicInfo(this.rec(`${POSTMASTER}@${primary}`));
    }
  }

  /** What a service needs to check a login itself (on its own pool). */
  authInfo(login: string, service: string): AuthInfo {
    let r: AccountRec;
    try {
      r = this.rec(login);
    } catch {
      throw fail('STORE_AUTH_FAILED', 'unknown'); // a bad name, no domain, no account: all alike
    }
    if (this.d.domains.get(r.domain)?.enabled !== true) throw fail('STORE_AUTH_FAILED', 'domain');
    if (!r.enabled) throw fail('STORE_AUTH_FAILED', 'disabled');
    if (r.services !== 'all' && !r.services.includes(service)) throw fail('STORE_AUTH_FAILED', 'service');
    return { account: publicInfo(r), passwordHash: r.hash, cramMd5Pads: r.cramMd5 && r.pads !== null ? new Uint8Array(r.pads) : null, scramSha256: r.scram };
  }

  /** Check a login; `verify` runs where the caller wants (its service's pool). */
  async authenticate(login: string, password: string, service: string, verify: VerifyPassword): Promise<AccountInfo> {
    let info: AuthInfo;
    try {
      info = this.authInfo(login, service);
    } catch (e) {
      await verify(DUMMY_HASH, password).catch(() => false);
      throw e;
    }
    if (!(await verify(info.passwordHash, password))) throw fail('STORE_AUTH_FAILED', 'password');
    return info.account;
  }

  // ---- changes (one at a time; on disk before they are seen) ----

  private change<T>(fn: (d: Data) => T | Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      const next: Data = structuredClone(this.d);
      const out = await fn(next);
      await writeFileAtomic(this.fsl, this.file, this.encode(next));
      this.d = next;
      this.index();
      return out;
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => {});
    return p;
  }

  private encode(d: Data): Buffer {
    const body = packr.pack({
      v: 1, primary: d.primary, admin: d.admin, nextId: d.nextId,
      domains: [...d.domains.values()], accounts: [...d.accounts.values()], aliases: [...d.aliases],
    });
    const out = Buffer.allocUnsafe(4 + body.length);
    out.writeUInt32LE(crc32(body), 0);
    body.copy(out, 4);
    return out;
  }

  /** Add a domain; with `postmasterPassword`, its postmaster account too, in the same change. */
  async addDomain(name: string, opts: { primary?: boolean; enabled?: boolean; postmasterPassword?: string } = {}): Promise<DomainInfo> {
    const n = domainName(name);
    const exists = (d: Data): void => {
      if (d.domains.has(n)) throw new PosternError('STORE_DOMAIN_EXISTS', `domain ${n} exists`, { domain: n });
    };
    let key: { hash: string; pads: Uint8Array; scram: string } | null = null;
    if (opts.postmasterPassword !== undefined) {
      const pw = checkPassword(opts.postmasterPassword);
      exists(this.d); // fail fast, before hashing
      key = { hash: await this.hashPassword(pw), pads: cramMd5Pads(pw), scram: await scramSha256Keys(pw) };
    }
    return this.change((d) => {
      exists(d);
      d.domains.set(n, { name: n, enabled: opts.enabled ?? true, createdAt: Date.now() });
      if (d.primary === null || opts.primary === true) d.primary = n;
      const pm = `${POSTMASTER}@${n}`;
      if (key !== null && !d.accounts.has(pm) && !d.aliases.has(pm)) this.newAccount(d, pm, n, key.hash, key.pads, key.scram);
    }).then(() => this.getDomain(n));
  }

  /** Create postmaster@domain with a random password if it has neither account nor alias;
   * true if one was created (its password is not kept anywhere: set it with setPassword). */
  async ensurePostmaster(domain: string): Promise<boolean> {
    const n = this.getDomain(domain).name;
    const pm = `${POSTMASTER}@${n}`;
    const missing = (d: Data): boolean => !d.accounts.has(pm) && !d.aliases.has(pm);
    if (!missing(this.d)) return false;
    const pw = randomBytes(24).toString('base64url');
    const hash = await this.hashPassword(pw);
    const scram = await scramSha256Keys(pw);
    return this.change((d) => {
      if (!d.domains.has(n) || !missing(d)) return false;
      this.newAccount(d, pm, n, hash, cramMd5Pads(pw), scram);
      return true;
    });
  }

  private newAccount(d: Data, address: string, domain: string, hash: string, pads: Uint8Array | null, scram: string): AccountRec {
    const id = d.nextId++;
    const r: AccountRec = {
      id, address, domain, enabled: true, quotaBytes: Infinity, quotaMessages: Infinity, services: 'all',
      cramMd5: pads !== null, shard: id % this.shards, createdAt: Date.now(), hash, pads, scram,
    };
    d.accounts.set(address, r);
    return r;
  }

  /** Remove an empty domain: no accounts but its postmaster (removed with it, and its mail), no aliases. */
  async removeDomain(name: string): Promise<void> {
    const n = domainName(name);
    const pm = `${POSTMASTER}@${n}`;
    const gone = await this.change((d) => {
      if (!d.domains.has(n)) throw new PosternError('STORE_NO_SUCH_DOMAIN', `no domain ${n}`, { domain: n });
      const used = [...d.accounts.values()].some((a) => a.domain === n && a.address !== pm) || [...d.aliases.keys()].some((a) => a.endsWith(`@${n}`));
      if (used) throw new PosternError('STORE_DOMAIN_NOT_EMPTY', `domain ${n} still has accounts or aliases`, { domain: n });
      d.domains.delete(n);
      if (d.primary === n) d.primary = d.domains.keys().next().value ?? null;
      const r = d.accounts.get(pm);
      if (r === undefined) return null;
      d.accounts.delete(pm);
      for (const [k, t] of d.aliases) if (t === pm) d.aliases.delete(k);
      return publicInfo(r);
    });
    if (gone !== null) this.onRemove(gone);
  }

  async setDomain(name: string, changes: { primary?: true; enabled?: boolean }): Promise<DomainInfo> {
    const n = domainName(name);
    return this.change((d) => {
      const dom = d.domains.get(n);
      if (dom === undefined) throw new PosternError('STORE_NO_SUCH_DOMAIN', `no domain ${n}`, { domain: n });
      if (changes.enabled !== undefined) dom.enabled = changes.enabled;
      if (changes.primary === true) d.primary = n;
    }).then(() => this.getDomain(n));
  }

  /** The domain's DKIM key (store/dkim.ts), or null: none. STORE_NO_SUCH_DOMAIN. */
  dkimKey(name: string): DkimKey | null {
    const n = domainName(name);
    const dom = this.d.domains.get(n);
    if (dom === undefined) throw new PosternError('STORE_NO_SUCH_DOMAIN', `no domain ${n}`, { domain: n });
    return dom.dkim ?? null;
  }

  /** Store (replace) the domain's DKIM key, durably. STORE_NO_SUCH_DOMAIN. */
  async setDkimKey(name: string, key: DkimKey): Promise<void> {
    const n = domainName(name);
    await this.change((d) => {
      const dom = d.domains.get(n);
      if (dom === undefined) throw new PosternError('STORE_NO_SUCH_DOMAIN', `no domain ${n}`, { domain: n });
      dom.dkim = key;
    });
  }

  async addAccount(address: string, o: AccountOptions): Promise<AccountInfo> {
    const { address: a, domain } = this.qualify(address);
    const password = checkPassword(o.password);
    const quotaBytes = checkLimit(o.quotaBytes ?? Infinity, 'quotaBytes');
    const quotaMessages = checkLimit(o.quotaMessages ?? Infinity, 'quotaMessages');
    const services = checkServices(o.services ?? 'all');
    const exists = (d: Data): void => {
      if (!d.domains.has(domain)) throw new PosternError('STORE_NO_SUCH_DOMAIN', `no domain ${domain}`, { domain });
      if (d.accounts.has(a) || d.aliases.has(a)) throw new PosternError('STORE_ACCOUNT_EXISTS', `${a} exists`, { address: a });
    };
    exists(this.d); // fail fast, before hashing
    const hash = await this.hashPassword(password);
    const cram = o.cramMd5 ?? true;
    const pads = cram ? cramMd5Pads(password) : null;
    const scram = await scramSha256Keys(password);
    return this.change((d) => {
      exists(d);
      const r = this.newAccount(d, a, domain, hash, pads, scram);
      Object.assign(r, { enabled: o.enabled ?? true, quotaBytes, quotaMessages, services });
      return publicInfo(r);
    });
  }

  /** A new password; CRAM-MD5 is keyed from it and turned on, SCRAM-SHA-256 keyed (an old
   * account gets its keys). */
  async setPassword(address: string, password: string): Promise<void> {
    const a = this.rec(address).address;
    const pw = checkPassword(password);
    const hash = await this.hashPassword(pw);
    const pads = cramMd5Pads(pw);
    const scram = await scramSha256Keys(pw);
    await this.change((d) => {
      const r = d.accounts.get(a);
      if (r === undefined) throw new PosternError('STORE_NO_SUCH_ACCOUNT', `no account ${a}`, { address: a });
      r.hash = hash;
      r.cramMd5 = true;
      r.pads = pads;
      r.scram = scram;
    });
  }

  /** Turn CRAM-MD5 on (the password is needed to key it) or off (the pads are dropped). */
  async setCramMd5(address: string, enabled: boolean, password?: string): Promise<void> {
    const a = this.rec(address).address;
    if (enabled && password === undefined) throw new PosternError('STORE_BAD_ARGUMENT', 'turning CRAM-MD5 on needs the password');
    const pads = enabled ? cramMd5Pads(checkPassword(password)) : null;
    await this.change((d) => {
      const r = d.accounts.get(a)!;
      r.cramMd5 = enabled;
      r.pads = pads;
    });
  }

  async updateAccount(address: string, c: AccountChanges): Promise<AccountInfo> {
    const a = this.rec(address).address;
    const quotaBytes = c.quotaBytes === undefined ? undefined : checkLimit(c.quotaBytes, 'quotaBytes');
    const quotaMessages = c.quotaMessages === undefined ? undefined : checkLimit(c.quotaMessages, 'quotaMessages');
    const services = c.services === undefined ? undefined : checkServices(c.services);
    return this.change((d) => {
      const r = d.accounts.get(a);
      if (r === undefined) throw new PosternError('STORE_NO_SUCH_ACCOUNT', `no account ${a}`, { address: a });
      if (c.enabled !== undefined) r.enabled = c.enabled;
      if (quotaBytes !== undefined) r.quotaBytes = quotaBytes;
      if (quotaMessages !== undefined) r.quotaMessages = quotaMessages;
      if (services !== undefined) r.services = services;
      return publicInfo(r);
    });
  }

  async setAdminPassword(password: string): Promise<void> {
    const hash = await this.hashPassword(checkPassword(password));
    await this.change((d) => {
      d.admin = hash;
    });
  }

  /** An account as a backup holds it (without its folders: the Store adds them). */
  exportAccount(address: string): Omit<AccountBackup, 'folders'> {
    const a = this.qualify(address).address;
    const r = this.d.accounts.get(a);
    if (r === undefined) throw new PosternError('STORE_NO_SUCH_ACCOUNT', `no account ${a}`, { address: a });
    const aliases = [...this.d.aliases].filter(([, t]) => t === a).map(([k]) => k).sort();
    const { quotaBytes, quotaMessages, enabled, cramMd5, createdAt } = r;
    return { address: a, enabled, quotaBytes, quotaMessages, services: r.services === 'all' ? 'all' : [...r.services], cramMd5, passwordHash: r.hash, cramMd5Pads: r.pads === null ? null : new Uint8Array(r.pads), scramSha256: r.scram, aliases, createdAt };
  }

  /** Create a domain from a backup, or update the settings it gives; nothing else changes. */
  async restoreDomain(b: Partial<DomainBackup> & { name: string }): Promise<DomainInfo> {
    const n = domainName(b.name);
    return this.change((d) => {
      const cur = d.domains.get(n);
      const createdAt = Number.isSafeInteger(b.createdAt) && b.createdAt! >= 0 ? b.createdAt! : undefined;
      if (cur === undefined) d.domains.set(n, { name: n, enabled: b.enabled ?? true, createdAt: createdAt ?? Date.now() });
      else {
        if (b.enabled !== undefined) cur.enabled = b.enabled === true;
        if (createdAt !== undefined) cur.createdAt = createdAt;
      }
      if (b.primary === true || d.primary === null) d.primary = n;
    }).then(() => this.getDomain(n));
  }

  /** Create an account from a backup, or update it (password hash, pads and aliases too), in
   * one change: on any error nothing is changed. */
  async restoreAccount(b: Omit<AccountBackup, 'folders'>): Promise<{ account: AccountInfo; created: boolean }> {
    const { address: a, domain } = this.qualify(b.address);
    const quotaBytes = checkLimit(b.quotaBytes, 'quotaBytes');
    const quotaMessages = checkLimit(b.quotaMessages, 'quotaMessages');
    const services = checkServices(b.services);
    if (parseScryptHash(b.passwordHash) === null) throw new PosternError('STORE_BAD_ARGUMENT', `passwordHash is not a scrypt hash of this server (${HASH_FORMAT})`);
    if (b.cramMd5Pads !== null && b.cramMd5Pads.length !== 32) throw new PosternError('STORE_BAD_ARGUMENT', 'cramMd5Pads must be 32 bytes');
    const scram = b.scramSha256 ?? null; // a backup made before SCRAM keys has none
    if (scram !== null && parseScramKeys(scram) === null) throw new PosternError('STORE_BAD_ARGUMENT', `scramSha256 is not SCRAM-SHA-256 keys of this server (${SCRAM_FORMAT})`);
    const aliases = b.aliases.map((x) => this.qualify(x));
    if (aliases.some((x) => x.address === a)) throw new PosternError('STORE_BAD_ARGUMENT', `${a} cannot be its own alias`);
    return this.change((d) => {
      if (!d.domains.has(domain)) throw new PosternError('STORE_NO_SUCH_DOMAIN', `no domain ${domain}`, { domain });
      if (d.aliases.has(a)) throw new PosternError('STORE_ACCOUNT_EXISTS', `${a} exists as an alias`, { address: a });
      for (const x of aliases) {
        if (!d.domains.has(x.domain)) throw new PosternError('STORE_NO_SUCH_DOMAIN', `no domain ${x.domain} (alias ${x.address})`, { domain: x.domain });
        const t = d.aliases.get(x.address);
        if (d.accounts.has(x.address) || (t !== undefined && t !== a)) throw new PosternError('STORE_ACCOUNT_EXISTS', `alias ${x.address} is taken`, { address: x.address });
      }
      let r = d.accounts.get(a);
      const created = r === undefined;
      if (r === undefined) {
        const id = d.nextId++;
        r = { id, address: a, domain, enabled: true, quotaBytes, quotaMessages, services, cramMd5: false, shard: id % this.shards, createdAt: Number.isFinite(b.createdAt) ? b.createdAt : Date.now(), hash: '', pads: null, scram: null };
        d.accounts.set(a, r);
      }
      Object.assign(r, { enabled: b.enabled !== false, quotaBytes, quotaMessages, services, cramMd5: b.cramMd5 === true, hash: b.passwordHash, pads: b.cramMd5Pads === null ? null : new Uint8Array(b.cramMd5Pads), scram });
      for (const x of aliases) d.aliases.set(x.address, a);
      return { account: publicInfo(r), created };
    });
  }

  /** Remove an account and (through `onRemove`) its mail; aliases pointing at it go too. */
  async removeAccount(address: string): Promise<void> {
    const { address: a } = this.qualify(address);
    const info = await this.change((d) => {
      const r = d.accounts.get(a);
      if (r === undefined) throw new PosternError('STORE_NO_SUCH_ACCOUNT', `no account ${a}`, { address: a });
      requiredPostmaster(d, a);
      d.accounts.delete(a);
      for (const [k, t] of d.aliases) if (t === a) d.aliases.delete(k);
      return publicInfo(r);
    });
    this.onRemove(info);
  }

  async addAlias(alias: string, target: string): Promise<void> {
    const { address: a, domain } = this.qualify(alias);
    const t = this.rec(target).address;
    return this.change((d) => {
      if (!d.domains.has(domain)) throw new PosternError('STORE_NO_SUCH_DOMAIN', `no domain ${domain}`, { domain });
      if (d.accounts.has(a) || d.aliases.has(a)) throw new PosternError('STORE_ACCOUNT_EXISTS', `${a} exists`, { address: a });
      d.aliases.set(a, t);
    });
  }

  async removeAlias(alias: string): Promise<void> {
    const { address: a } = this.qualify(alias);
    return this.change((d) => {
      if (d.aliases.has(a)) requiredPostmaster(d, a);
      if (!d.aliases.delete(a)) throw new PosternError('STORE_NO_SUCH_ACCOUNT', `no alias ${a}`, { address: a });
    });
  }
}
