/**
 * store/backup.ts: what the FTP backup tree (seed 003) needs from the store beyond the
 * directory: an account's backup with its folder list, and a restore that recreates the
 * account (directory, in one change) and then its missing folders (through its mailbox actor).
 * Protocol-neutral: the FTP service encodes these shapes as files.
 *
 * Exports: `exportAccount(store, address)`, `restoreAccount(store, backup)`.
 * Rejects: the directory's codes (STORE_NO_SUCH_ACCOUNT, STORE_NO_SUCH_DOMAIN,
 * STORE_ACCOUNT_EXISTS, STORE_BAD_ARGUMENT, STORE_BAD_NAME) and the mailbox's.
 */
import { folderName } from './names.ts';
import type { Store } from './store.ts';
import type { AccountBackup, AccountInfo } from './types.ts';

export async function exportAccount(store: Store, address: string): Promise<AccountBackup> {
  const b = store.directory.exportAccount(address);
  const folders = (await store.mailbox(b.address).folders()).map((f) => f.name);
  return { ...b, folders };
}

export async function restoreAccount(store: Store, b: AccountBackup): Promise<{ account: AccountInfo; created: boolean; foldersCreated: string[] }> {
  const folders = b.folders.map((f) => folderName(f)); // every name checked before anything changes
  const r = await store.directory.restoreAccount(b);
  const mb = store.mailbox(r.account.address);
  const have = new Set((await mb.folders()).map((f) => f.name));
  const foldersCreated: string[] = [];
  for (const f of folders) {
    if (have.has(f)) continue;
    const made = await mb.createFolder(f);
    for (const x of (await mb.folders()).map((y) => y.name)) have.add(x); // parents made with it
    foldersCreated.push(made.name);
  }
  return { ...r, foldersCreated };
}
