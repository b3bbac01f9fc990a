/**
 * protocols/ftp/tree.ts: the virtual tree of seed 003, generated from the store and the
 * directory on demand (nothing is copied to disk):
 *
 *   /domains/<domain>/domainRegistry.bin, domainCoreConfig.cfg
 *   /domains/<domain>/users/<user>/Registry.bin, CoreConfig.cfg
 *   /domains/<domain>/users/<user>/folders/<folder>[/<child>…]/<uid>.eml   one message each,
 *       named by its UID in ten digits (0000000042.eml), so name order is UID order
 *   …/folders/<folder>/%index.txt      UIDs, internal dates and flags (folder-index.ts); listed
 *                                      when the folder holds messages
 *   /domains/<domain>/maillists/, forwarders/, publicFolder/               (empty: no such objects)
 *
 * One `VirtualTree` per logged-in session. A listing always asks the store afresh; looking a
 * path up reuses what the session saw in the last STAT_TTL_MS (a name not found there is looked
 * up afresh before it is reported missing). A folder's messages come from a store snapshot,
 * which also pins the segments their bodies lie in, so compaction cannot delete a file a
 * client is downloading; the session keeps at most MAX_SNAPSHOTS and releases them when it
 * ends (`close`). Directories a session made with MKD for a domain or account that does not
 * exist yet (restore order: the directory first, then its configuration file) are kept as
 * session-local `pending` directories, empty, so a mirroring client uploads everything.
 *
 * Times: a message file's is its internal date; a configuration file is generated when asked
 * for, so its time is that moment (a mirror always fetches the current settings), and so is a
 * folder index's; a directory's is its domain's or account's creation. A message is found by
 * its UID with or without the leading zeros (`42.eml`).
 *
 * A restore keeps, per folder, the last index uploaded in this session (`plans`, at most
 * MAX_PLANS folders), so the messages uploaded after it get their dates and flags.
 *
 * Exports: `VirtualTree`, `Node`, `isDir(node)`, `domainBackupOf(info)`, `isMissing(error)`,
 * `messageName(uid)`, `messageUid(name)`, `STAT_TTL_MS`, `SNAPSHOT_TTL_MS`, `MAX_SNAPSHOTS`.
 * Rejects: the store's codes (a listing or lookup that fails), ACTOR_TIMEOUT, STORE_CLOSED.
 */
import { isPosternError } from '../../errors.ts';
import type { StoreClient } from '../../store/client.ts';
import { MAX_UID, type AccountInfo, type DomainBackup, type DomainInfo, type FolderInfo, type Locator, type Snapshot, type SnapshotEntry } from '../../store/types.ts';
import { encodeIndex, INDEX_FILE, type IndexEntry } from './folder-index.ts';
import { decodeName, encodeName, formatPath } from './paths.ts';
import { encodeAccount, encodeDomain, FILES, type FileKind } from './registry.ts';
import type { Entry } from './listing.ts';

export const STAT_TTL_MS = 2000;
export const SNAPSHOT_TTL_MS = 30_000;
export const MAX_SNAPSHOTS = 8;
const MAX_PLANS = 64;
const EMPTY_DIRS = ['maillists', 'forwarders', 'publicFolder'] as const;

export type Node =
  | { k: 'root' }
  | { k: 'domains' }
  | { k: 'domain'; domain: DomainInfo }
  | { k: 'domainFile'; domain: DomainInfo; kind: FileKind }
  | { k: 'users'; domain: DomainInfo }
  | { k: 'empty'; domain: DomainInfo }
  | { k: 'account'; account: AccountInfo }
  | { k: 'accountFile'; account: AccountInfo; kind: FileKind }
  | { k: 'folders'; account: AccountInfo }
  | { k: 'folder'; account: AccountInfo; folder: string }
  | { k: 'message'; account: AccountInfo; folder: string; entry: SnapshotEntry }
  | { k: 'folderIndex'; account: AccountInfo; folder: string }
  | { k: 'pending'; path: string };

export function isDir(n: Node): boolean {
  return n.k !== 'domainFile' && n.k !== 'accountFile' && n.k !== 'message' && n.k !== 'folderIndex';
}

export function domainBackupOf(d: DomainInfo): DomainBackup {
  return { name: d.name, enabled: d.enabled, primary: d.primary, createdAt: d.createdAt };
}

interface Cached<T> {
  at: number;
  v: T;
}

/** Folders whose messages `stat` finds without a store call (tree.ts `recent`). */
const RECENT_FOLDERS = 4;

interface RecentFolder {
  names: readonly string[];
  at: number;
  account: AccountInfo;
  folder: string;
  snapKey: string;
}

interface Snap {
  at: number;
  snap: Snapshot;
  byUid: Map<number, SnapshotEntry>;
  address: string;
}

/** A message file's name: its UID in ten digits, so that name order is UID order. */
export function messageName(uid: number): string {
  return `${String(uid).padStart(10, '0')}.eml`;
}

/** The UID a message file's name stands for (with or without leading zeros), or null. */
export function messageUid(name: string): number | null {
  // `^(\d{1,10})\.eml$`, read by hand (once per RETR of a mirror)
  const n = name.length - 4;
  if (n < 1 || n > 10 || !name.endsWith('.eml')) return null;
  let uid = 0;
  for (let i = 0; i < n; i++) {
    const d = name.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return null;
    uid = uid * 10 + d;
  }
  return uid >= 1 && uid <= MAX_UID ? uid : null;
}

export class VirtualTree {
  private readonly store: StoreClient;
  private domains: Cached<DomainInfo[]> | null = null;
  private readonly accounts = new Map<string, Cached<AccountInfo[]>>();
  private readonly folders = new Map<string, Cached<FolderInfo[]>>();
  private readonly snaps = new Map<string, Snap>(); // address \n folder → snapshot, oldest first
  /** The folders looked up last (at most RECENT_FOLDERS, the latest first): each path's names,
   * when, and the key of its snapshot. */
  private recent: RecentFolder[] = [];
  /** Paths made by MKD in this session whose account does not exist yet. */
  readonly pending = new Set<string>();
  /** address \n folder → the index uploaded there in this session, oldest first. */
  private readonly plans = new Map<string, Map<number, IndexEntry>>();
  private closed = false;

  constructor(store: StoreClient) {
    this.store = store;
  }

  /** Keep `index` for the messages uploaded next into `folder` of `address`. */
  setPlan(address: string, folder: string, index: Map<number, IndexEntry>): void {
    const key = `${address}\n${folder}`;
    this.plans.delete(key);
    this.plans.set(key, index);
    for (const k of this.plans.keys()) if (this.plans.size > MAX_PLANS) this.plans.delete(k);
  }

  /** What the last index uploaded into that folder says of `uid`. */
  planned(address: string, folder: string, uid: number): IndexEntry | undefined {
    return this.plans.get(`${address}\n${folder}`)?.get(uid);
  }

  /** Forget what was seen (after this session changed something). */
  invalidate(): void {
    this.recent = [];
    this.domains = null;
    this.accounts.clear();
    this.folders.clear();
    for (const [k, s] of [...this.snaps]) this.release(k, s);
  }

  private fresh<T>(c: Cached<T> | null | undefined): c is Cached<T> {
    return c !== null && c !== undefined && Date.now() - c.at < STAT_TTL_MS;
  }

  async listDomains(refresh = false): Promise<DomainInfo[]> {
    if (refresh || !this.fresh(this.domains)) this.domains = { at: Date.now(), v: await this.store.listDomains() };
    return this.domains.v;
  }

  async findDomain(name: string): Promise<DomainInfo | undefined> {
    return (await this.listDomains()).find((d) => d.name === name) ?? (await this.listDomains(true)).find((d) => d.name === name);
  }

  async listAccounts(domain: string, refresh = false): Promise<AccountInfo[]> {
    let c = this.accounts.get(domain);
    if (refresh || !this.fresh(c)) {
      c = { at: Date.now(), v: await this.store.listAccounts(domain) };
      this.accounts.set(domain, c);
    }
    return c.v;
  }

  async findAccount(domain: string, address: string): Promise<AccountInfo | undefined> {
    const hit = (await this.listAccounts(domain)).find((a) => a.address === address);
    return hit ?? (await this.listAccounts(domain, true)).find((a) => a.address === address);
  }

  async listFolders(address: string, refresh = false): Promise<FolderInfo[]> {
    let c = this.folders.get(address);
    if (refresh || !this.fresh(c)) {
      c = { at: Date.now(), v: await this.store.mailbox(address).folders() };
      this.folders.set(address, c);
    }
    return c.v;
  }

  async findFolder(address: string, name: string): Promise<FolderInfo | undefined> {
    const hit = (await this.listFolders(address)).find((f) => f.name === name);
    return hit ?? (await this.listFolders(address, true)).find((f) => f.name === name);
  }

  /** A folder's messages as of now (`refresh`) or as of the last snapshot younger than
   * SNAPSHOT_TTL_MS. */
  async snapshot(address: string, folder: string, refresh: boolean): Promise<Snap> {
    const key = `${address}\n${folder}`;
    const cur = this.snaps.get(key);
    if (!refresh && cur !== undefined && Date.now() - cur.at < SNAPSHOT_TTL_MS) return cur;
    const snap = await this.store.mailbox(address).snapshot(folder);
    const s: Snap = { at: Date.now(), snap, byUid: new Map(snap.messages.map((m) => [m.uid, m])), address };
    if (cur !== undefined) this.release(key, cur);
    this.snaps.set(key, s);
    if (this.closed) this.release(key, s);
    // release what is past its use: too many, or too old to be looked at again
    for (const [k, old] of [...this.snaps]) {
      if (this.snaps.size > MAX_SNAPSHOTS || (old !== s && s.at - old.at >= SNAPSHOT_TTL_MS)) this.release(k, old);
    }
    return s;
  }

  private release(key: string, s: Snap): void {
    if (this.snaps.get(key) === s) this.snaps.delete(key);
    this.store.mailbox(s.address).release(s.snap.id).catch(() => {}); // the port's close releases it anyway
  }

  /** Release every snapshot (the session ended). */
  close(): void {
    this.closed = true;
    for (const [k, s] of [...this.snaps]) this.release(k, s);
  }

  /** The node at `names` when it is a message of the folder looked up last (within
   * STAT_TTL_MS) found in its snapshot, without a store call; else undefined (ask `stat`). */
  cached(names: readonly string[]): Node | undefined {
    return this.recent.length === 0 ? undefined : this.messageInRecentFolder(names);
  }

  /** The node at `names`, or null when nothing is there. */
  async stat(names: readonly string[]): Promise<Node | null> {
    const fast = this.cached(names);
    if (fast !== undefined) return fast;
    const node = await this.statStored(names);
    if (node?.k === 'folder' || node?.k === 'message') {
      const dir = node.k === 'message' ? names.slice(0, -1) : names.slice();
      const r = this.recent.filter((f) => f.names.length !== dir.length || f.names.some((x, i) => x !== dir[i]));
      r.unshift({ names: dir, at: Date.now(), account: node.account, folder: node.folder, snapKey: `${node.account.address}\n${node.folder}` });
      if (r.length > RECENT_FOLDERS) r.length = RECENT_FOLDERS;
      this.recent = r;
    }
    if (node !== null || this.pending.size === 0) return node;
    const p = formatPath(names);
    return this.pending.has(p) ? { k: 'pending', path: p } : null;
  }

  /** A mirror asks for one folder's messages one after another (lftp's `mirror -P` moves a
   * connection between a few folders): `<folder path>/<uid>.eml` in a folder looked up within
   * STAT_TTL_MS is answered from its snapshot directly. */
  private messageInRecentFolder(names: readonly string[]): Node | undefined {
    const n = names.length - 1;
    if (n < 6) return undefined;
    let last: RecentFolder | undefined;
    for (const f of this.recent) {
      const dir = f.names;
      if (dir.length !== n) continue;
      let i = n - 1;
      while (i >= 0 && names[i] === dir[i]) i--; // (the folder's own name differs first)
      if (i < 0) {
        last = f;
        break;
      }
    }
    if (last === undefined) return undefined;
    const uid = messageUid(names[n]!);
    const now = Date.now();
    if (uid === null || now - last.at >= STAT_TTL_MS) return undefined;
    const s = this.snaps.get(last.snapKey);
    const entry = s === undefined || now - s.at >= SNAPSHOT_TTL_MS ? undefined : s.byUid.get(uid);
    return entry === undefined ? undefined : { k: 'message', account: last.account, folder: last.folder, entry };
  }

  private async statStored(names: readonly string[]): Promise<Node | null> {
    const n = names.length;
    if (n === 0) return { k: 'root' };
    if (names[0] !== 'domains') return null;
    if (n === 1) return { k: 'domains' };
    const domain = await this.findDomain(names[1]!);
    if (domain === undefined) return null;
    if (n === 2) return { k: 'domain', domain };
    const third = names[2]!;
    if (n === 3) {
      if (third === FILES.domain.bin) return { k: 'domainFile', domain, kind: 'bin' };
      if (third === FILES.domain.cfg) return { k: 'domainFile', domain, kind: 'cfg' };
      if (third === 'users') return { k: 'users', domain };
      if ((EMPTY_DIRS as readonly string[]).includes(third)) return { k: 'empty', domain };
      return null;
    }
    if (third !== 'users') return null;
    const local = decodeName(names[3]!);
    const account = local === null ? undefined : await this.findAccount(domain.name, `${local}@${domain.name}`);
    if (account === undefined) return null;
    if (n === 4) return { k: 'account', account };
    const fifth = names[4]!;
    if (n === 5) {
      if (fifth === FILES.account.bin) return { k: 'accountFile', account, kind: 'bin' };
      if (fifth === FILES.account.cfg) return { k: 'accountFile', account, kind: 'cfg' };
      if (fifth === 'folders') return { k: 'folders', account };
      return null;
    }
    if (fifth !== 'folders') return null;
    const last = names[names.length - 1]!;
    if (last === INDEX_FILE && n >= 7) {
      const parent = names.slice(5, -1).map(decodeName);
      const folder = parent.join('/');
      if (parent.every((p) => p !== null) && (await this.findFolder(account.address, folder)) !== undefined) return { k: 'folderIndex', account, folder };
      return null;
    }
    const parts = names.slice(5).map(decodeName);
    if (parts.some((p) => p === null)) return null;
    const full = parts.join('/');
    const uid = messageUid(last);
    if (uid !== null && parts.length >= 2) {
      const folder = parts.slice(0, -1).join('/');
      if ((await this.findFolder(account.address, folder)) !== undefined) {
        let s = await this.snapshot(account.address, folder, false);
        if (!s.byUid.has(uid) && uid >= s.snap.uidNext) s = await this.snapshot(account.address, folder, true);
        const entry = s.byUid.get(uid);
        if (entry !== undefined) return { k: 'message', account, folder, entry };
      }
    }
    return (await this.findFolder(account.address, full)) !== undefined ? { k: 'folder', account, folder: full } : null;
  }

  /** The entry describing `node` itself (MLST, SIZE, MDTM). */
  async entry(node: Node, name: string): Promise<Entry> {
    switch (node.k) {
      case 'domainFile':
      case 'accountFile':
      case 'folderIndex': {
        const bytes = await this.content(node);
        return { name, dir: false, size: (bytes as Buffer).length, mtime: Date.now(), perm: 'rw' };
      }
      case 'message':
        return { name, dir: false, size: node.entry.size, mtime: node.entry.internalDate, perm: 'rd' };
      default:
        return { name, dir: true, size: 0, mtime: this.timeOf(node), perm: this.dirPerm(node) };
    }
  }

  private timeOf(node: Node): number {
    if ('domain' in node) return node.domain.createdAt;
    if ('account' in node) return node.account.createdAt;
    return (this.domains?.v ?? []).reduce((a, d) => Math.max(a, d.createdAt), 0);
  }

  private dirPerm(node: Node): string {
    switch (node.k) {
      case 'domains': return 'elm';
      case 'domain': return 'elc';
      case 'users': return 'elm';
      case 'account': case 'pending': return 'elcm';
      case 'folders': return 'elm';
      case 'folder': return 'elcmp';
      default: return 'el';
    }
  }

  /** The bytes of a configuration file, or where a message's body lies. */
  async content(node: Node): Promise<Buffer | Locator> {
    if (node.k === 'domainFile') return encodeDomain(domainBackupOf(node.domain), node.kind);
    if (node.k === 'accountFile') return encodeAccount(await this.store.exportAccount(node.account.address), node.kind);
    if (node.k === 'message') return node.entry.locator;
    if (node.k === 'folderIndex') return encodeIndex((await this.snapshot(node.account.address, node.folder, true)).snap.messages);
    throw new Error(`not a file: ${node.k}`);
  }

  /** The entries of a directory, asked of the store afresh. */
  async list(node: Node): Promise<Entry[]> {
    const dir = (name: string, mtime: number, perm = 'el'): Entry => ({ name, dir: true, size: 0, mtime, perm });
    switch (node.k) {
      case 'root': {
        const ds = await this.listDomains(true);
        return [dir('domains', ds.reduce((a, d) => Math.max(a, d.createdAt), 0), 'elm')];
      }
      case 'domains':
        return (await this.listDomains(true)).map((d) => dir(d.name, d.createdAt, 'elc'));
      case 'domain': {
        const d = node.domain;
        const files = (['bin', 'cfg'] as const).map((kind): Entry => ({ name: FILES.domain[kind], dir: false, size: encodeDomain(domainBackupOf(d), kind).length, mtime: Date.now(), perm: 'rw' }));
        return [...files, dir('users', d.createdAt, 'elm'), ...EMPTY_DIRS.map((x) => dir(x, d.createdAt))];
      }
      case 'users':
        return (await this.listAccounts(node.domain.name, true)).map((a) => dir(encodeName(a.address.slice(0, a.address.lastIndexOf('@'))), a.createdAt, 'elcm'));
      case 'account': {
        const a = node.account;
        const b = await this.store.exportAccount(a.address);
        const files = (['bin', 'cfg'] as const).map((kind): Entry => ({ name: FILES.account[kind], dir: false, size: encodeAccount(b, kind).length, mtime: Date.now(), perm: 'rw' }));
        return [...files, dir('folders', a.createdAt, 'elm')];
      }
      case 'folders':
      case 'folder': {
        const a = node.account;
        const prefix = node.k === 'folder' ? `${node.folder}/` : '';
        const fs = await this.listFolders(a.address, true);
        const out = fs.filter((f) => f.name.startsWith(prefix) && f.name.length > prefix.length && !f.name.slice(prefix.length).includes('/'))
          .map((f) => dir(encodeName(f.name.slice(prefix.length)), a.createdAt, 'elcmp'));
        if (node.k === 'folder') {
          const s = await this.snapshot(a.address, node.folder, true);
          if (s.snap.messages.length > 0) out.unshift({ name: INDEX_FILE, dir: false, size: encodeIndex(s.snap.messages).length, mtime: Date.now(), perm: 'rw' });
          for (const m of s.snap.messages) out.push({ name: messageName(m.uid), dir: false, size: m.size, mtime: m.internalDate, perm: 'rd' });
        }
        return out;
      }
      case 'empty':
        return [];
      case 'pending': {
        const prefix = `${node.path}/`;
        return [...this.pending].filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map((p) => dir(p.slice(prefix.length), Date.now(), 'elcm'));
      }
      default:
        throw new Error(`not a directory: ${node.k}`);
    }
  }
}

/** A store error that means "not there" rather than "broken". */
export function isMissing(e: unknown): boolean {
  return isPosternError(e) && ['STORE_NO_SUCH_DOMAIN', 'STORE_NO_SUCH_ACCOUNT', 'STORE_NO_SUCH_FOLDER', 'STORE_NO_SUCH_MESSAGE'].includes(e.code);
}
