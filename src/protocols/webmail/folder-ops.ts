/**
 * webmail/folder-ops.ts: what WebMail's acting and writing sides need from an account's
 * folders: the folder-name rules a user is told about (checked before the store's own rules,
 * store/names.ts, so the notice says what is wrong), the special-use folder of a kind (Trash,
 * Sent, Drafts: found by its RFC 6154 attribute, created when the account has none), and store
 * errors put in words for a notice.
 *
 *   const r = checkFolderName(form.name);            // { ok: 'Projects/2025' } | { error: '…' }
 *   const trash = await specialFolder(mb, '\\Trash'); // 'Trash' (or however it was renamed)
 *
 * Exports: `FOLDER_NAME_MAX`, `checkFolderName`, `specialFolder`, `isProtected`,
 * `storeProblem`. `specialFolder` rejects with the store's codes.
 */
import { isPosternError } from '../../errors.ts';
import { folderName, INBOX, MAX_NAME_BYTES } from '../../store/names.ts';
import { HIERARCHY_SEP, type FolderInfo, type MailboxApi } from '../../store/types.ts';

/** The longest folder name, UTF-8 bytes (the store's limit). */
export const FOLDER_NAME_MAX = MAX_NAME_BYTES;

const DEFAULT_NAMES: Record<string, string> = { '\\Trash': 'Trash', '\\Sent': 'Sent', '\\Drafts': 'Drafts', '\\Junk': 'Junk', '\\Archive': 'Archive' };

/** A folder name from a form, trimmed and checked. */
export function checkFolderName(input: unknown): { ok: string } | { error: string } {
  const name = typeof input === 'string' ? input.trim() : '';
  if (name === '') return { error: 'The folder name is empty.' };
  if (Buffer.byteLength(name, 'utf8') > FOLDER_NAME_MAX) return { error: `The folder name is too long (at most ${FOLDER_NAME_MAX} bytes).` };
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return { error: 'The folder name holds a control character.' };
  if (name.startsWith(HIERARCHY_SEP) || name.endsWith(HIERARCHY_SEP)) return { error: `A folder name cannot start or end with "${HIERARCHY_SEP}".` };
  const parts = name.split(HIERARCHY_SEP);
  if (parts.some((p) => p.trim() === '')) return { error: `A folder name cannot have an empty part ("${HIERARCHY_SEP}${HIERARCHY_SEP}").` };
  const dots = parts.find((p) => p === '.' || p === '..');
  if (dots !== undefined) return { error: `A folder name cannot have a "${dots}" part.` };
  if (parts.some((p) => p.trim() !== p)) return { error: 'A part of the folder name starts or ends with a space.' };
  try {
    return { ok: folderName(name) };
  } catch {
    return { error: 'That folder name is not allowed.' };
  }
}

/** INBOX and the special-use folders may not be renamed or deleted from WebMail. */
export function isProtected(f: FolderInfo): boolean {
  return f.name === INBOX || f.specialUse !== null;
}

/** The account's folder with this special use; made (with its usual name) when there is none. */
export async function specialFolder(mb: MailboxApi, use: '\\Trash' | '\\Sent' | '\\Drafts'): Promise<string> {
  const folders = await mb.folders();
  const found = folders.find((f) => f.specialUse === use);
  if (found !== undefined) return found.name;
  const name = DEFAULT_NAMES[use]!;
  if (folders.some((f) => f.name === name)) return name; // a plain folder of that name: use it
  try {
    return (await mb.createFolder(name, { specialUse: use })).name;
  } catch (e) {
    if (isPosternError(e) && e.code === 'STORE_FOLDER_EXISTS') return name; // made meanwhile
    throw e;
  }
}

/** A store error as a notice for the user (null: unexpected, to be logged as such). */
export function storeProblem(e: unknown): string | null {
  if (!isPosternError(e)) return null;
  switch (e.code) {
    case 'STORE_NO_SUCH_FOLDER':
      return 'That folder does not exist (any more).';
    case 'STORE_FOLDER_EXISTS':
      return 'A folder of that name exists already.';
    case 'STORE_NO_SUCH_MESSAGE':
      return 'That message is not there any more.';
    case 'STORE_BAD_NAME':
      return 'That folder name is not allowed.';
    case 'STORE_NOT_ALLOWED':
      return 'That is not allowed on this folder.';
    case 'STORE_QUOTA_EXCEEDED':
      return 'Your mailbox is full: delete some mail first.';
    case 'STORE_NO_SPACE':
    case 'STORE_IO':
    case 'STORE_CLOSED':
    case 'ACTOR_TIMEOUT':
    case 'ACTOR_BUSY':
      return 'The mail store is not available right now: try again in a moment.';
    default:
      return null;
  }
}
