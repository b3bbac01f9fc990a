/**
 * protocols/ftp/restore.ts: the writing side of the backup tree: where an upload may go, what
 * it restores, and MKD, DELE and RMD.
 *
 *   STOR /domains/<d>/domainCoreConfig.cfg | domainRegistry.bin     create or update domain <d>
 *   STOR /domains/<d>/users/<u>/CoreConfig.cfg | Registry.bin       create or update <u>@<d>
 *   STOR …/folders/<folder>/%index.txt                              the folder's index (UIDs, dates,
 *                                                                   flags: folder-index.ts): kept for
 *                                                                   the uploads that follow; flags
 *                                                                   of messages already there are set
 *   STOR /domains/<d>/users/<u>/folders/<folder>/<any>.eml          append the message (durable;
 *                                                                   UIDs: see below)
 *   MKD  /domains/<d>[/users[/<u>[/folders]]]                       session-local directories for
 *                                                                   what a configuration upload makes
 *   MKD  …/folders/<folder>                                         create the folder
 *   DELE …/<uid>.eml        expunge the message      RMD …/<folder>  delete an empty folder
 *
 * A message named by a UID (`0000000042.eml` or `42.eml`, as the tree names them) keeps it: the
 * same bytes already stored under that UID are not stored again (226, nothing changes, so a
 * repeated `mirror -R` is idempotent); an unused UID above the folder's last one is given to
 * it, with the internal date and flags the folder's index gave it; otherwise (a UID taken by
 * another message, or below the folder's next one) it is appended under the next UID. Line
 * ends are made CRLF (a bare LF or CR becomes CRLF) before anything is compared or stored.
 *
 * A file must say what its path says (a CoreConfig.cfg for ann@a.org belongs in
 * /domains/a.org/users/ann/); anything refused changes nothing. Results are FTP replies; those
 * flagged `error` are the client's mistakes and count against maxErrors. A password hash not in
 * the form Postern writes (store/password-hash.ts: an empty key would match every password) is
 * refused with 553.
 *
 * A message's MIME structure is parsed once, before its append: by `parse` (the session's pool,
 * for a big message) when given, else by the store; it is stored with the message.
 *
 * Exports: `FtpResult`, `Target`, `ParseStructure`, `uploadTarget(tree, names)`, `applyUpload(tree, store,
 * target, bytes, parse?)`, `makeDir`, `deleteFile`, `removeDir`, `storeFailure(e)`, `messageProblem`, `toCrlf`.
 * Throws nothing: every failure is a result.
 */
import { isPosternError } from '../../errors.ts';
import { domainName, splitAddress } from '../../store/names.ts';
import { HASH_FORMAT, parseScryptHash } from '../../store/password-hash.ts';
import { SCRAM_FORMAT, parseScramKeys } from '../../store/scram.ts';
import type { StoreClient } from '../../store/client.ts';
import type { AccountInfo } from '../../store/types.ts';
import type { MessageStructure } from '../../store/structure.ts';
import { decodeName, formatPath, MAX_NAME_BYTES, quotePath } from './paths.ts';
import { decodeAccount, decodeDomain, FILES, MAX_CONFIG_BYTES, type FileKind } from './registry.ts';
import { isMissing, messageName, messageUid, type Node, type VirtualTree } from './tree.ts';
import { decodeIndex, INDEX_FILE } from './folder-index.ts';

export interface FtpResult {
  code: number;
  text: string;
  error?: boolean;
}

export type Target =
  | { k: 'domainFile'; domain: string; kind: FileKind; max: number }
  | { k: 'accountFile'; domain: string; address: string; kind: FileKind; max: number }
  | { k: 'message'; account: AccountInfo; folder: string; uid: number | null; max: number }
  | { k: 'folderIndex'; account: AccountInfo; folder: string; max: number };

const r = (code: number, text: string, error = false): FtpResult => (error ? { code, text, error } : { code, text });
const WHERE = 'uploads go to domain and account configuration files and to .eml files in folders';

function fileKind(name: string, files: { bin: string; cfg: string }): FileKind | null {
  return name === files.bin ? 'bin' : name === files.cfg ? 'cfg' : null;
}

function validLocal(local: string | null): local is string {
  if (local === null || local.includes('@')) return false;
  try {
    return splitAddress(local).local === local;
  } catch {
    return false;
  }
}

/** Where an upload to `names` would go, or why it may not. `maxMessage` caps .eml uploads. */
export async function uploadTarget(tree: VirtualTree, names: readonly string[], maxMessage: number): Promise<Target | FtpResult> {
  const n = names.length;
  if (names[0] !== 'domains' || n < 3) return r(553, `Not stored: ${WHERE}.`, true);
  const d = names[1]!;
  let dn: string;
  try {
    dn = domainName(d);
  } catch {
    return r(553, `Not stored: "${d.slice(0, 80)}" is not a domain name.`, true);
  }
  if (dn !== d) return r(553, `Not stored: domain directories are lower-case (${dn}).`, true);
  if (n === 3) {
    const kind = fileKind(names[2]!, FILES.domain);
    return kind === null ? r(553, `Not stored: ${WHERE}.`, true) : { k: 'domainFile', domain: d, kind, max: MAX_CONFIG_BYTES };
  }
  if (names[2] !== 'users') return r(553, `Not stored: ${WHERE}.`, true);
  if ((await tree.findDomain(d)) === undefined) return r(550, `Not stored: no domain ${d}; restore its ${FILES.domain.cfg} first.`);
  const local = decodeName(names[3]!);
  if (!validLocal(local)) return r(553, `Not stored: "${names[3]!.slice(0, 80)}" is not a user name.`, true);
  if (n === 5) {
    const kind = fileKind(names[4]!, FILES.account);
    return kind === null ? r(553, `Not stored: ${WHERE}.`, true) : { k: 'accountFile', domain: d, address: `${local}@${d}`, kind, max: MAX_CONFIG_BYTES };
  }
  const file = names[n - 1]!;
  const isIndex = file === INDEX_FILE;
  if (names[4] !== 'folders' || n < 7 || (!isIndex && !/\.eml$/i.test(file)) || Buffer.byteLength(file) > MAX_NAME_BYTES) return r(553, `Not stored: ${WHERE}.`, true);
  const dir = await tree.stat(names.slice(0, -1));
  if (dir === null || dir.k !== 'folder') return r(550, `Not stored: no folder ${formatPath(names.slice(0, -1))}; make it with MKD first.`);
  if (isIndex) return { k: 'folderIndex', account: dir.account, folder: dir.folder, max: maxMessage };
  return { k: 'message', account: dir.account, folder: dir.folder, uid: messageUid(file), max: maxMessage };
}

/** `b` with every line end CRLF (a bare LF or a bare CR becomes CRLF); `b` itself if it has
 * no bare one. */
export function toCrlf(b: Buffer): Buffer {
  let bare = false;
  for (let i = b.indexOf(10); i >= 0 && !bare; i = b.indexOf(10, i + 1)) bare = i === 0 || b[i - 1] !== 13;
  for (let i = b.indexOf(13); i >= 0 && !bare; i = b.indexOf(13, i + 1)) bare = b[i + 1] !== 10;
  if (!bare) return b;
  return Buffer.from(b.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}

const sameFlags = (a: readonly string[], b: readonly string[]): boolean => {
  const x = a.filter((f) => f !== '\\Recent').map((f) => f.toLowerCase()).sort();
  const y = b.filter((f) => f !== '\\Recent').map((f) => f.toLowerCase()).sort();
  return x.length === y.length && x.every((f, i) => f === y[i]);
};

/** Parses a message's MIME structure elsewhere (a pool); undefined: let the store parse it. */
export type ParseStructure = (bytes: Buffer) => Promise<MessageStructure | undefined>;

/** Store an uploaded message (see the contract above). */
async function restoreMessage(tree: VirtualTree, store: StoreClient, t: Extract<Target, { k: 'message' }>, upload: Buffer, parse: ParseStructure | undefined): Promise<FtpResult> {
  const bytes = toCrlf(upload);
  const why = messageProblem(bytes);
  if (why !== null) return r(550, `Not stored: not a message: ${why}.`, true);
  let parsed: MessageStructure | undefined;
  const structure = async (): Promise<MessageStructure | undefined> => (parsed ??= await parse?.(bytes).catch(() => undefined));
  const mb = store.mailbox(t.account.address);
  const plan = t.uid === null ? undefined : tree.planned(t.account.address, t.folder, t.uid);
  if (t.uid !== null) {
    const have = (await mb.list(t.folder, { uids: [t.uid] }))[0];
    if (have !== undefined && have.size === bytes.length && Buffer.from((await mb.fetch(t.folder, t.uid)).body).equals(bytes)) {
      if (plan !== undefined && !sameFlags(plan.flags, have.flags)) await mb.setFlags(t.folder, [t.uid], plan.flags, 'set');
      return r(226, `Transfer complete; already stored as ${messageName(t.uid)} (nothing changed).`);
    }
    const next = (await mb.status(t.folder)).uidNext;
    if (have === undefined && t.uid >= next) {
      try {
        const a = await mb.append(t.folder, bytes, { uid: t.uid, flags: plan?.flags, internalDate: plan?.internalDate, structure: await structure() });
        return r(226, `Transfer complete; stored as ${messageName(a.uid)} (${a.size} bytes, durable).`);
      } catch (e) {
        // another append took that UID meanwhile: the next one, as below
        if (!isPosternError(e) || e.code !== 'STORE_BAD_ARGUMENT') throw e;
      }
    }
  }
  // no UID in the name, or one the folder cannot give again: the next UID
  const a = await mb.append(t.folder, bytes, { flags: plan?.flags, internalDate: plan?.internalDate, structure: await structure() });
  return r(226, `Transfer complete; stored as ${messageName(a.uid)} (${a.size} bytes, durable).`);
}

/** Keep an uploaded folder index for the messages to come; set the flags of those already
 * there (same UID and size) where they differ. */
async function restoreIndex(tree: VirtualTree, store: StoreClient, t: Extract<Target, { k: 'folderIndex' }>, bytes: Buffer): Promise<FtpResult> {
  const index = decodeIndex(bytes);
  if (typeof index === 'string') return r(553, `Not restored: ${INDEX_FILE}: ${index}; nothing was changed.`, true);
  const mb = store.mailbox(t.account.address);
  let updated = 0;
  for (const m of await mb.list(t.folder)) {
    const e = index.get(m.uid);
    if (e === undefined || e.size !== m.size || sameFlags(e.flags, m.flags)) continue;
    await mb.setFlags(t.folder, [m.uid], e.flags, 'set');
    updated++;
  }
  tree.setPlan(t.account.address, t.folder, index);
  return r(226, `Transfer complete; index of ${index.size} message(s) kept for this session's uploads${updated > 0 ? `; flags of ${updated} stored message(s) set` : ''}.`);
}

/** Why `b` is not an RFC 5322 message (a header section of fields first), or null. */
export function messageProblem(b: Buffer): string | null {
  if (b.length === 0) return 'the file is empty';
  const head = b.subarray(0, 256 * 1024);
  let end = head.indexOf('\r\n\r\n');
  const lf = head.indexOf('\n\n');
  if (end < 0 || (lf >= 0 && lf < end)) end = lf;
  const header = (end < 0 ? head : head.subarray(0, end)).toString('latin1');
  if (header.includes('\0')) return 'the header section holds NUL bytes';
  const lines = header.split(/\r?\n/);
  if (!/^[!-9;-~]+:/.test(lines[0]!)) return 'it does not start with a header field (RFC 5322)';
  for (const l of lines) {
    if (l !== '' && !/^[!-9;-~]+:/.test(l) && !/^[ \t]/.test(l)) return `bad header line "${l.slice(0, 60)}"`;
  }
  return null;
}

/** A store failure as an FTP reply. */
export function storeFailure(e: unknown): FtpResult {
  if (!isPosternError(e)) return r(451, 'Local error in processing; nothing was changed.');
  const why = e.message.slice(0, 300).replace(/[\r\n]+/g, ' ');
  if (isMissing(e)) return r(550, `${why}.`);
  switch (e.code) {
    case 'STORE_QUOTA_EXCEEDED': return r(552, `Over quota: ${why}; nothing was stored.`);
    case 'STORE_NO_SPACE': return r(452, 'Insufficient storage space on the server; nothing was stored.');
    case 'STORE_BAD_NAME': case 'STORE_BAD_ARGUMENT': return r(550, `Refused: ${why}; nothing was changed.`, true);
    case 'STORE_ACCOUNT_EXISTS': case 'STORE_DOMAIN_EXISTS': case 'STORE_FOLDER_EXISTS': return r(550, `Refused: ${why}; nothing was changed.`);
    case 'STORE_NOT_ALLOWED': return r(550, `Not allowed: ${why}.`);
    default: return r(451, `Temporary failure (${e.code}); try again later.`);
  }
}

/** Restore from an upload that arrived whole (`bytes`); nothing changes unless it is right. */
export async function applyUpload(tree: VirtualTree, store: StoreClient, t: Target, bytes: Buffer, parse?: ParseStructure): Promise<FtpResult> {
  try {
    if (t.k === 'message') return await restoreMessage(tree, store, t, bytes, parse);
    if (t.k === 'folderIndex') return await restoreIndex(tree, store, t, bytes);
    if (t.k === 'domainFile') {
      const b = decodeDomain(bytes, t.kind);
      if (domainName(b.name) !== t.domain) return r(553, `Not restored: this file is for domain ${b.name}; it belongs in /domains/${domainName(b.name)}/.`, true);
      const existed = (await tree.findDomain(t.domain)) !== undefined;
      await store.restoreDomain(b);
      return r(226, `Transfer complete; domain ${t.domain} ${existed ? 'updated' : 'created'}.`);
    }
    const b = decodeAccount(bytes, t.kind);
    let address: string;
    try {
      const sa = splitAddress(b.address);
      address = `${sa.local}@${sa.domain ?? ''}`;
    } catch {
      address = b.address;
    }
    if (address !== t.address) return r(553, `Not restored: this file is for ${b.address.slice(0, 100)}, not ${t.address}.`, true);
    // only a hash as Postern writes it: a malformed one (an empty key matches every password)
    // is refused here, and the directory and the login check refuse it again
    if (parseScryptHash(b.passwordHash) === null) return r(553, `Not restored: passwordHash is not a well-formed hash (${HASH_FORMAT}); nothing was changed.`, true);
    if (b.scramSha256 !== null && b.scramSha256 !== undefined && parseScramKeys(b.scramSha256) === null) return r(553, `Not restored: scramSha256 is not well-formed keys (${SCRAM_FORMAT}); nothing was changed.`, true);
    const res = await store.restoreAccount(b);
    return r(226, `Transfer complete; account ${t.address} ${res.created ? 'created' : 'updated'}${res.foldersCreated.length > 0 ? ` with ${res.foldersCreated.length} folder(s)` : ''}.`);
  } catch (e) {
    if (isPosternError(e) && e.code.startsWith('CONFIG_')) return r(550, `Not restored: ${e.message.slice(0, 400).replace(/[\r\n]+/g, ' ')}.`, true);
    return storeFailure(e);
  } finally {
    tree.invalidate();
  }
}

/** May `names` be a session-local directory under `parent` (a domain or account to come)? */
function pendingPlace(names: readonly string[], parent: Node): boolean {
  const n = names.length;
  const last = names[n - 1]!;
  if (n === 2) return true; // checked by the caller: a domain name
  if (n === 3) return parent.k === 'pending' && ['users', 'maillists', 'forwarders', 'publicFolder'].includes(last);
  if (n === 4) return names[2] === 'users' && (parent.k === 'users' || parent.k === 'pending') && validLocal(decodeName(last));
  return n === 5 && parent.k === 'pending' && last === 'folders';
}

export async function makeDir(tree: VirtualTree, store: StoreClient, names: readonly string[]): Promise<FtpResult> {
  const path = formatPath(names);
  if ((await tree.stat(names)) !== null) return r(550, `${path}: already exists.`);
  const parent = names.length === 0 ? null : await tree.stat(names.slice(0, -1));
  const n = names.length;
  try {
    if (n === 2 && names[0] === 'domains') {
      const d = names[1]!;
      if (domainName(d) !== d) return r(550, `${path}: domain directories are lower-case (${domainName(d)}).`, true);
    }
    if (parent !== null && n >= 2 && n <= 5 && pendingPlace(names, parent)) {
      tree.pending.add(path);
      const what = n <= 3 ? `the domain is made when its ${FILES.domain.cfg} or ${FILES.domain.bin}` : `the account is made when its ${FILES.account.cfg} or ${FILES.account.bin}`;
      return r(257, `${quotePath(path)} created; ${what} is uploaded.`);
    }
    if (parent !== null && (parent.k === 'folders' || parent.k === 'folder')) {
      const name = decodeName(names[n - 1]!);
      if (name === null) return r(550, `${path}: not a folder name.`, true);
      const f = await store.mailbox(parent.account.address).createFolder(parent.k === 'folder' ? `${parent.folder}/${name}` : name);
      return r(257, `${quotePath(path)} created (folder ${f.name}).`);
    }
    return r(550, `${path}: directories are made for domains, users and folders only.`, true);
  } catch (e) {
    return storeFailure(e);
  } finally {
    tree.invalidate();
  }
}

export async function deleteFile(tree: VirtualTree, store: StoreClient, names: readonly string[]): Promise<FtpResult> {
  const node = await tree.stat(names);
  if (node === null) return r(550, `${formatPath(names)}: no such file.`);
  // generated, never stored: a client replacing it (lftp deletes before it uploads) may
  if (node.k === 'folderIndex') return r(250, `${INDEX_FILE} is generated; nothing to delete.`);
  if (node.k !== 'message') return r(550, `${formatPath(names)}: only messages can be deleted (remove accounts and domains with postern ctl).`);
  try {
    await store.mailbox(node.account.address).expunge(node.folder, { uids: [node.entry.uid] });
    return r(250, `${messageName(node.entry.uid)} deleted.`);
  } catch (e) {
    return storeFailure(e);
  } finally {
    tree.invalidate();
  }
}

export async function removeDir(tree: VirtualTree, store: StoreClient, names: readonly string[]): Promise<FtpResult> {
  const path = formatPath(names);
  const node = await tree.stat(names);
  if (node === null) return r(550, `${path}: no such directory.`);
  if (node.k === 'pending') {
    if ((await tree.list(node)).length > 0) return r(550, `${path}: directory not empty.`);
    tree.pending.delete(path);
    return r(250, `${path} removed.`);
  }
  if (node.k !== 'folder') return r(550, `${path}: only folders can be removed (remove accounts and domains with postern ctl).`);
  try {
    if ((await tree.list(node)).length > 0) return r(550, `${path}: directory not empty.`);
    await store.mailbox(node.account.address).deleteFolder(node.folder);
    return r(250, `${path} removed.`);
  } catch (e) {
    return storeFailure(e);
  } finally {
    tree.invalidate();
  }
}
