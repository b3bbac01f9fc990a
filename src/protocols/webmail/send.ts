/**
 * webmail/send.ts: a composed message leaving WebMail: its recipients resolved as SMTP's RCPT
 * does (a local address → its account's mailbox, an address in another domain → null: relayed,
 * waiting for smtpOutgoing; an unknown user of a local domain is refused), the bytes put in the
 * same durable mail queue as SMTP's (`QueueClient.enqueue`, with-type `HTTP`, `auth` = the
 * user), so processing delivers local copies at once; then the copy in Sent (\Seen), and drafts
 * saved to Drafts (\Draft \Seen) replacing their previous version.
 *
 *   const r = await resolveRecipients(store, addresses);       // { rcpts } | { error }
 *   const { id } = await enqueue(store, { from: user, rcpts: r.rcpts, … }, wire);
 *   await keepCopy(mb, '\\Sent', bytes, ['\\Seen']);
 *
 * Exports: `resolveRecipients`, `SendInfo`, `enqueue`, `keepCopy`, `removeDraft`,
 * `bodyType`. Rejects with the store's and the queue's codes (STORE_*, QUEUE_FULL,
 * ACTOR_TIMEOUT, …); `resolveRecipients` resolves an `error` for a recipient that cannot be.
 */
import { isPosternError } from '../../errors.ts';
import type { StoreClient } from '../../store/client.ts';
import { QueueClient, type QueueRcpt } from '../../store/queue-client.ts';
import type { AppendResult, MailboxApi } from '../../store/types.ts';
import { specialFolder } from './folder-ops.ts';

/** Each address → its local mailbox, or null (another domain: relayed). One queue recipient per
 * local mailbox (two addresses of the same account get one copy), as SMTP's RCPT does. */
export async function resolveRecipients(store: StoreClient, addresses: string[]): Promise<{ rcpts: QueueRcpt[] } | { error: string }> {
  const rcpts: QueueRcpt[] = [];
  const mailboxes = new Set<string>();
  const addrs = new Set<string>();
  for (const to of addresses) {
    if (addrs.has(to.toLowerCase())) continue;
    addrs.add(to.toLowerCase());
    let account: string | null;
    try {
      account = (await store.resolve(to)).address;
    } catch (e) {
      const code = isPosternError(e) ? e.code : 'INTERNAL';
      if (code === 'STORE_NO_SUCH_ACCOUNT') return { error: `There is no mailbox ${to.slice(0, 254)} here.` };
      if (code === 'STORE_BAD_NAME') return { error: `${to.slice(0, 254)} is not a valid e-mail address.` };
      if (code !== 'STORE_NO_SUCH_DOMAIN') throw e;
      account = null;
    }
    if (account !== null) {
      const key = account.toLowerCase();
      if (mailboxes.has(key)) continue;
      mailboxes.add(key);
    }
    rcpts.push({ to, account });
  }
  return { rcpts };
}

/** '7BIT' when every byte is ASCII, else '8BITMIME' (a forwarded original may carry 8-bit text). */
export function bodyType(bytes: Uint8Array): '7BIT' | '8BITMIME' {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 0x7f) return '8BITMIME';
  return '7BIT';
}

export interface SendInfo {
  from: string;
  rcpts: QueueRcpt[];
  ip: string;
  /** This server's host name (the Received: line's `by`). */
  by: string;
  /** The TLS the page came over ("TLSv1.3 with cipher …"), null for plain HTTP. */
  tls: string | null;
}

/** Into the durable queue: resolved once it is there (local recipients are delivered next). */
export function enqueue(store: StoreClient, info: SendInfo, wire: Buffer): Promise<{ id: string }> {
  const body = bodyType(wire);
  // a copy owning its whole ArrayBuffer: the queue client moves it to the store thread
  const bytes = new Uint8Array(wire.length);
  bytes.set(wire);
  return new QueueClient(store).enqueue({
    from: info.from, rcpts: info.rcpts, receivedAt: Date.now(), helo: 'webmail', ip: info.ip, by: info.by,
    with: 'HTTP', tls: info.tls, auth: info.from, body, utf8: false,
  }, bytes);
}

/** Append `bytes` to the account's folder of that special use (made if missing). */
export async function keepCopy(mb: MailboxApi, use: '\\Sent' | '\\Drafts', bytes: Buffer, flags: string[]): Promise<AppendResult> {
  const folder = await specialFolder(mb, use);
  return mb.append(folder, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { flags });
}

/** Remove a draft's previous version (gone already: nothing to do). */
export async function removeDraft(mb: MailboxApi, uid: number): Promise<void> {
  const drafts = await specialFolder(mb, '\\Drafts');
  const there = await mb.list(drafts, { uids: [uid] });
  if (there.length === 0) return;
  await mb.setFlags(drafts, [uid], ['\\Deleted'], 'add');
  await mb.expunge(drafts, { uids: [uid], deletedOnly: true });
}
