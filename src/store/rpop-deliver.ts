/**
 * store/rpop-deliver.ts: one message fetched by the rpop service, stored in the store thread:
 * the copy goes into the connection's target folder (made if missing) with the internal date of
 * its intent (store/rpop.ts `plan`), durably, and only then is its UIDL recorded seen. When an
 * earlier poll may have stored it (`maybe`: a crash between the append and the seen line), the
 * folder is searched first for a copy with that date, size and crc32, and nothing is appended
 * if it is there.
 *
 * Exports: `rpopDeliver(store, id, token, uidl, body, maybe)` → { uid | null, found }.
 * Throws: STORE_BAD_ARGUMENT (no intent for that UIDL), RPOP_NO_SUCH_CONNECTION, RPOP_BUSY, the
 * store's append codes (STORE_QUOTA_EXCEEDED, STORE_NO_SPACE, STORE_IO, …).
 */
import { crc32 } from 'node:zlib';
import { PosternError, isPosternError } from '../errors.ts';
import { folderName } from './names.ts';
import type { Store } from './store.ts';

export async function rpopDeliver(store: Store, id: number, token: number, uidl: string, body: Uint8Array, maybe: boolean): Promise<{ uid: number | null; found: boolean }> {
  if (!(body instanceof Uint8Array)) throw new PosternError('STORE_BAD_ARGUMENT', 'rpop deliver: the body must be bytes');
  const it = store.rpop.intent(id, token, uidl);
  if (it === undefined) throw new PosternError('STORE_BAD_ARGUMENT', `rpop connection ${id}: no intent for UIDL ${uidl}`);
  const account = store.account(it.accountId);
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (maybe) {
    const { core } = await store.openMailbox(account);
    const msgs = core.mb().byName.get(folderName(it.folder))?.msgs ?? [];
    const crc = crc32(buf);
    if (msgs.some((m) => m.date === it.date && m.len === buf.length && m.crc === crc)) {
      await store.rpop.markSeen(id, token, uidl);
      return { uid: null, found: true };
    }
  }
  const mb = store.mailbox(account.address);
  let r;
  try {
    r = await mb.append(it.folder, buf, { internalDate: it.date });
  } catch (e) {
    if (!isPosternError(e, 'STORE_NO_SUCH_FOLDER')) throw e;
    await mb.createFolder(it.folder).catch((x: unknown) => {
      if (!isPosternError(x, 'STORE_FOLDER_EXISTS')) throw x;
    });
    r = await mb.append(it.folder, buf, { internalDate: it.date });
  }
  await store.rpop.markSeen(id, token, uidl);
  return { uid: r.uid, found: false };
}
