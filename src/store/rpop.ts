/**
 * store/rpop.ts: the accounts' remote POP3 connections (RPOP, seed 3.2.11), kept by the store
 * thread: what `postern ctl account rpop add|list|remove` changes and what the rpop service
 * (src/protocols/rpop/) polls.
 *
 * Files (under `<dataDir>/store/`):
 *   rpop.key          32 random bytes, made once (mode 0600): the AES-256-GCM key of the
 *                     remote passwords. Never logged; a backup that holds it with rpop.mpk can
 *                     decrypt them.
 *   rpop.mpk          [u32 crc32][msgpack]: every connection (id, account id, host, port, tls,
 *                     username, the password encrypted (iv, tag, ciphertext; the AAD binds it to
 *                     the connection), folder, interval, leaveOnServer, enabled), replaced
 *                     atomically on every change (temp + fsync + rename + fsync dir).
 *   rpop/<id>.log     the connection's UIDLs (store/rpop-log.ts): intents, seen, forgotten,
 *                     appended and synced.
 *
 * The delivery rule: `plan` writes (synced) an intent for each message a poll will fetch
 * BEFORE anything is appended; `deliver` (store/rpop-deliver.ts) appends the copy (durable when it resolves), THEN
 * records it seen; the rpop service sends DELE only after `deliver` resolved. A message whose
 * intent is there but not its seen line (a crash between the two) may already be in the
 * folder: `deliver` first looks for a copy with the intent's internal date, size and crc32,
 * and appends only if there is none. So a crash at any moment neither loses nor duplicates a
 * message.
 *
 * A poll holds a lease on its connection (`lease` takes it, at most `maxLeases` at once, every call with its token renews
 * it, `finish` ends it; one lapses `LEASE_MS` after the last call), so two threads never poll
 * the same connection at once. Each connection's last outcome (time, error, failures in a row,
 * counts) is kept in memory for `ctl account rpop list`.
 *
 * Exports: `RpopStore`, `RpopInput`, `RpopInfo`, `RpopClaim`, `RpopReport`, `RPOP_TLS`.
 * Throws: STORE_BAD_ARGUMENT (a bad field), RPOP_NO_SUCH_CONNECTION, RPOP_BUSY (another poll
 * holds the connection), STORE_CORRUPT (a damaged rpop.mpk or key file), STORE_IO / STORE_NO_SPACE.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { PosternError } from '../errors.ts';
import { packr } from './record.ts';
import { ioError, writeFileAtomic, type FsLayer } from './fsio.ts';
import { UidlLog } from './rpop-log.ts';

export const RPOP_TLS = Object.freeze(['none', 'implicit', 'stls'] as const);
export type RpopTls = (typeof RPOP_TLS)[number];

/** What `add` takes. */
export interface RpopInput {
  host: string;
  port: number;
  tls?: RpopTls;
  username: string;
  password: string;
  folder?: string;
  /** Seconds between polls (default 600). */
  interval?: number;
  /** false: DELE each message once its copy is durable. Default true. */
  leaveOnServer?: boolean;
  enabled?: boolean;
}

interface ConnRec {
  id: number;
  accountId: number;
  host: string;
  port: number;
  tls: RpopTls;
  username: string;
  secret: { iv: Uint8Array; tag: Uint8Array; ct: Uint8Array };
  folder: string;
  interval: number;
  leaveOnServer: boolean;
  enabled: boolean;
  createdAt: number;
}

/** The last outcome of a connection's polls (in memory; the rpop service reports it). */
export interface RpopReport {
  lastPollAt: number | null;
  lastError: { code: string; message: string } | null;
  /** Failed polls in a row (0 after a good one). */
  failures: number;
  /** When the service will poll it next (ms since the epoch). */
  nextPollAt: number | null;
  fetched: number;
  deleted: number;
}

/** A connection as listed (never its password). */
export interface RpopInfo {
  id: number;
  account: string;
  accountId: number;
  host: string;
  port: number;
  tls: RpopTls;
  username: string;
  folder: string;
  interval: number;
  leaveOnServer: boolean;
  enabled: boolean;
  createdAt: number;
  state: RpopReport;
}

/** What a poll gets from `begin`: its lease, the password, and what to fetch. */
export interface RpopClaim {
  token: number;
  password: string;
  address: string;
  folder: string;
  leaveOnServer: boolean;
  /** UIDLs to fetch, in listing order, each with the internal date its copy gets; `maybe`: an
   * earlier poll meant to fetch it and may have appended it. */
  fetch: Array<{ uidl: string; date: number; maybe: boolean }>;
  /** Listed UIDLs already seen (their copies are durable): DELE them when not leaving mail. */
  seen: string[];
}

/** RFC 1939 §7: a unique-id is 1 to 70 characters in 0x21..0x7E. */
const UIDL_RE = /^[\x21-\x7e]{1,70}$/;
const LEASE_MS = 5 * 60_000;
const emptyReport = (): RpopReport => ({ lastPollAt: null, lastError: null, failures: 0, nextPollAt: null, fetched: 0, deleted: 0 });

function bad(message: string, field: string): PosternError {
  return new PosternError('STORE_BAD_ARGUMENT', message, { field });
}

export class RpopStore {
  private readonly dir: string;
  private readonly file: string;
  private readonly keyFile: string;
  private readonly fsl: FsLayer;
  private key: Buffer | null = null;
  private conns = new Map<number, ConnRec>();
  private nextId = 1;
  private readonly logs = new Map<number, UidlLog>();
  private readonly leases = new Map<number, { token: number; until: number }>();
  private readonly reports = new Map<number, RpopReport>();
  private chain: Promise<unknown> = Promise.resolve();
  private tokens = 0;

  constructor(o: { dir: string; fs: FsLayer }) {
    this.dir = o.dir;
    this.file = path.join(o.dir, 'rpop.mpk');
    this.keyFile = path.join(o.dir, 'rpop.key');
    this.fsl = o.fs;
  }

  /** Read rpop.mpk (missing: none) and each connection's UIDL log; drop connections whose
   * account is gone. */
  load(accountExists: (id: number) => boolean): void {
    fs.mkdirSync(path.join(this.dir, 'rpop'), { recursive: true, mode: 0o700 });
    if (fs.existsSync(this.file)) {
      const buf = fs.readFileSync(this.file);
      if (buf.length < 4 || crc32(buf.subarray(4)) !== buf.readUInt32LE(0)) throw new PosternError('STORE_CORRUPT', `rpop file ${this.file} is damaged (checksum mismatch)`);
      const raw = packr.unpack(buf.subarray(4)) as { v: number; nextId: number; conns: ConnRec[] };
      if (raw.v !== 1) throw new PosternError('STORE_CORRUPT', `rpop file has unknown version ${String(raw.v)}`);
      this.nextId = raw.nextId;
      for (const c of raw.conns) {
        if (!accountExists(c.accountId)) continue;
        this.conns.set(c.id, { ...c, secret: { iv: new Uint8Array(c.secret.iv), tag: new Uint8Array(c.secret.tag), ct: new Uint8Array(c.secret.ct) } });
      }
    }
    for (const c of this.conns.values()) this.logs.set(c.id, UidlLog.open(this.logFile(c.id), this.fsl));
  }

  private logFile(id: number): string {
    return path.join(this.dir, 'rpop', `${id}.log`);
  }

  private keyBytes(): Buffer {
    if (this.key !== null) return this.key;
    let k: Buffer;
    try {
      const fd = fs.openSync(this.keyFile, 'wx', 0o600);
      k = randomBytes(32);
      try {
        fs.writeSync(fd, k);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      const dfd = fs.openSync(this.dir, 'r');
      try {
        fs.fsyncSync(dfd);
      } finally {
        fs.closeSync(dfd);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(e, 'rpop key');
      k = fs.readFileSync(this.keyFile);
    }
    if (k.length !== 32) throw new PosternError('STORE_CORRUPT', `rpop key file ${this.keyFile} is not 32 bytes`);
    this.key = k;
    return k;
  }

  private aad(id: number, accountId: number): Buffer {
    return Buffer.from(`postern-rpop:${id}:${accountId}`);
  }

  private encrypt(id: number, accountId: number, password: string): ConnRec['secret'] {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.keyBytes(), iv);
    c.setAAD(this.aad(id, accountId));
    const ct = Buffer.concat([c.update(password, 'utf8'), c.final()]);
    return { iv, tag: c.getAuthTag(), ct };
  }

  private decrypt(r: ConnRec): string {
    try {
      const d = createDecipheriv('aes-256-gcm', this.keyBytes(), r.secret.iv);
      d.setAAD(this.aad(r.id, r.accountId));
      d.setAuthTag(r.secret.tag);
      return Buffer.concat([d.update(r.secret.ct), d.final()]).toString('utf8');
    } catch (e) {
      if (e instanceof PosternError) throw e;
      throw new PosternError('STORE_CORRUPT', `rpop connection ${r.id}: its password cannot be decrypted with ${this.keyFile}`);
    }
  }

  private change<T>(fn: (conns: Map<number, ConnRec>) => T): Promise<T> {
    const run = async (): Promise<T> => {
      const next = new Map(this.conns);
      const out = fn(next);
      const body = packr.pack({ v: 1, nextId: this.nextId, conns: [...next.values()] });
      const buf = Buffer.allocUnsafe(4 + body.length);
      buf.writeUInt32LE(crc32(body), 0);
      body.copy(buf, 4);
      await writeFileAtomic(this.fsl, this.file, buf);
      this.conns = next;
      return out;
    };
    const p = this.chain.then(run);
    this.chain = p.catch(() => {});
    return p;
  }

  private info(r: ConnRec, address: string): RpopInfo {
    const { secret: _s, ...rest } = r;
    return { ...rest, account: address, state: { ...(this.reports.get(r.id) ?? emptyReport()) } };
  }

  /** Add a connection to an account; the password is encrypted before anything is written. */
  async add(accountId: number, address: string, i: RpopInput): Promise<RpopInfo> {
    const host = String(i.host ?? '');
    if (!/^[A-Za-z0-9.:_-]{1,253}$/.test(host)) throw bad('host must be a host name or an IP address', 'host');
    if (!Number.isInteger(i.port) || i.port < 1 || i.port > 65535) throw bad('port must be 1 to 65535', 'port');
    const tls = i.tls ?? 'none';
    if (!RPOP_TLS.includes(tls)) throw bad(`tls must be one of ${RPOP_TLS.join(', ')}`, 'tls');
    if (typeof i.username !== 'string' || !/^[^\s]{1,255}$/.test(i.username)) throw bad('user must be 1 to 255 characters without spaces', 'user');
    if (typeof i.password !== 'string' || i.password.length === 0 || i.password.length > 1024 || /[\r\n]/.test(i.password)) throw bad('password must be 1 to 1024 characters on one line', 'password');
    const folder = i.folder ?? 'INBOX';
    if (typeof folder !== 'string' || folder.length === 0 || folder.length > 255 || /[\r\n]/.test(folder)) throw bad('folder must be a folder name', 'folder');
    const interval = i.interval ?? 600;
    if (!Number.isInteger(interval) || interval < 1 || interval > 7 * 86400) throw bad('interval must be 1 to 604800 seconds', 'interval');
    const rec = await this.change((m) => {
      const id = this.nextId++;
      const r: ConnRec = {
        id, accountId, host, port: i.port, tls, username: i.username, secret: this.encrypt(id, accountId, i.password),
        folder: folder.toUpperCase() === 'INBOX' ? 'INBOX' : folder, interval, leaveOnServer: i.leaveOnServer ?? true, enabled: i.enabled ?? true, createdAt: Date.now(),
      };
      m.set(id, r);
      return r;
    });
    fs.rmSync(this.logFile(rec.id), { force: true });
    this.logs.set(rec.id, UidlLog.open(this.logFile(rec.id), this.fsl));
    return this.info(rec, address);
  }

  /** An account's connections (`accountId` undefined: every one); `addressOf` names the account. */
  list(accountId: number | undefined, addressOf: (id: number) => string): RpopInfo[] {
    return [...this.conns.values()].filter((r) => accountId === undefined || r.accountId === accountId).sort((a, b) => a.id - b.id).map((r) => this.info(r, addressOf(r.accountId)));
  }

  async remove(accountId: number, id: number): Promise<void> {
    await this.change((m) => {
      const r = m.get(id);
      if (r === undefined || r.accountId !== accountId) throw new PosternError('RPOP_NO_SUCH_CONNECTION', `no rpop connection ${id} for this account`, { id });
      m.delete(id);
    });
    this.forget(id);
  }

  private forget(id: number): void {
    const l = this.logs.get(id);
    this.logs.delete(id);
    this.leases.delete(id);
    this.reports.delete(id);
    void (async () => {
      await l?.close();
      fs.rmSync(this.logFile(id), { force: true });
    })();
  }

  /** The account was removed: its connections go with it. */
  async dropAccount(accountId: number): Promise<void> {
    const ids = [...this.conns.values()].filter((r) => r.accountId === accountId).map((r) => r.id);
    if (ids.length === 0) return;
    await this.change((m) => {
      for (const id of ids) m.delete(id);
    });
    for (const id of ids) this.forget(id);
  }

  /** Every enabled connection, for the rpop service's schedule (no passwords). */
  schedule(): Array<{ id: number; interval: number }> {
    return [...this.conns.values()].filter((r) => r.enabled).map((r) => ({ id: r.id, interval: r.interval }));
  }

  private conn(id: number): ConnRec {
    const r = this.conns.get(id);
    if (r === undefined) throw new PosternError('RPOP_NO_SUCH_CONNECTION', `no rpop connection ${id}`, { id });
    return r;
  }

  private leased(id: number, token: number): { rec: ConnRec; log: UidlLog } {
    const rec = this.conn(id);
    const l = this.leases.get(id);
    if (l === undefined || l.token !== token) throw new PosternError('RPOP_BUSY', `rpop connection ${id}: the poll's lease was lost`, { id });
    l.until = Date.now() + LEASE_MS;
    return { rec, log: this.logs.get(id)! };
  }

  /** Take the connection for a poll (RPOP_BUSY if another holds it, or `maxLeases` polls of
   * any connection are in progress: the service's maxConnections, counted over all its
   * threads): its password and how to reach it. The listing comes later (`plan`). */
  lease(id: number, maxLeases = Infinity): { token: number; host: string; port: number; tls: RpopTls; username: string; password: string; interval: number } {
    const rec = this.conn(id);
    const now = Date.now();
    const cur = this.leases.get(id);
    if (cur !== undefined && cur.until > now) throw new PosternError('RPOP_BUSY', `rpop connection ${id} is being polled`, { id, reason: 'polled' });
    let held = 0;
    for (const l of this.leases.values()) if (l.until > now) held++;
    if (held >= maxLeases) throw new PosternError('RPOP_BUSY', `rpop: ${held} polls in progress (maxConnections)`, { id, reason: 'limit' });
    const token = ++this.tokens;
    this.leases.set(id, { token, until: Date.now() + LEASE_MS });
    return { token, host: rec.host, port: rec.port, tls: rec.tls, username: rec.username, password: this.decrypt(rec), interval: rec.interval };
  }

  /** The remote's listing (UIDLs, in order): forget the seen UIDLs it no longer lists, write
   * (synced) the intents of up to `max` new ones, and say what to fetch and what was seen. */
  async plan(id: number, token: number, listed: string[], max: number, address: (accountId: number) => string): Promise<Omit<RpopClaim, 'password'>> {
    const { rec, log } = this.leased(id, token);
    if (!Array.isArray(listed) || !listed.every((u) => typeof u === 'string' && UIDL_RE.test(u))) throw new PosternError('STORE_BAD_ARGUMENT', 'a listing is UIDLs (RFC 1939: 1 to 70 printable characters)');
    const on = new Set(listed);
    const lines: string[] = [];
    for (const u of [...log.seen, ...log.pending.keys()]) if (!on.has(u)) lines.push(log.forget(u));
    const fetch: RpopClaim['fetch'] = [];
    const seen: string[] = [];
    let date = Date.now();
    for (const u of listed) {
      if (log.seen.has(u)) { seen.push(u); continue; }
      if (fetch.length >= max || fetch.some((f) => f.uidl === u)) continue;
      const was = log.pending.get(u);
      if (was !== undefined) fetch.push({ uidl: u, date: was, maybe: true });
      else {
        const d = date++;
        lines.push(log.intend(u, d));
        fetch.push({ uidl: u, date: d, maybe: false });
      }
    }
    await log.write(lines);
    await log.compact();
    return { token, address: address(rec.accountId), folder: rec.folder, leaveOnServer: rec.leaveOnServer, fetch, seen };
  }

  /** After `deliver` (or finding the copy): record the UIDL seen, synced. */
  async markSeen(id: number, token: number, uidl: string): Promise<void> {
    const { log } = this.leased(id, token);
    await log.write([log.see(uidl)]);
  }

  /** The intent's internal date of a UIDL (for `deliver`), or undefined. */
  intent(id: number, token: number, uidl: string): { date: number; folder: string; accountId: number } | undefined {
    const { rec, log } = this.leased(id, token);
    const d = log.pending.get(uidl);
    return d === undefined ? undefined : { date: d, folder: rec.folder, accountId: rec.accountId };
  }

  /** The poll is over: drop the lease, keep its outcome for `list`. */
  finish(id: number, token: number, report: Partial<RpopReport>): void {
    const l = this.leases.get(id);
    if (l !== undefined && l.token === token) this.leases.delete(id);
    this.report(id, report);
  }

  /** Keep a connection's outcome for `list` (counts are added). */
  report(id: number, r: Partial<RpopReport>): void {
    if (!this.conns.has(id)) return;
    const cur = this.reports.get(id) ?? emptyReport();
    const next: RpopReport = {
      lastPollAt: r.lastPollAt ?? cur.lastPollAt,
      lastError: r.lastError === undefined ? cur.lastError : r.lastError,
      failures: r.failures ?? cur.failures,
      nextPollAt: r.nextPollAt ?? cur.nextPollAt,
      fetched: cur.fetched + (r.fetched ?? 0),
      deleted: cur.deleted + (r.deleted ?? 0),
    };
    this.reports.set(id, next);
  }

  async close(): Promise<void> {
    await this.chain.catch(() => {});
    for (const l of this.logs.values()) await l.close();
  }
}
