/**
 * protocols/smtp/lookup.ts: recipient lookups for RCPT, with a small per-thread cache of the
 * addresses found (2 s, at most 10,000): a busy sender naming the same mailbox message after
 * message costs the store thread one lookup every 2 s instead of one per message. Only found
 * mailboxes are cached (a new account is never refused from the cache); an account removed
 * meanwhile fails at delivery (5.1.1, in the queue's log) instead of at RCPT.
 *
 * Exports: `lookupMailbox(store, address)`. Rejects with the store's codes (STORE_NO_SUCH_…).
 */
import type { StoreClient } from '../../store/client.ts';

const TTL_MS = 2000;
const MAX = 10_000;
const found = new Map<string, { mailbox: string; until: number }>();

export async function lookupMailbox(store: StoreClient, address: string): Promise<string> {
  const key = address.toLowerCase();
  const now = Date.now();
  const hit = found.get(key);
  if (hit !== undefined && hit.until > now) return hit.mailbox;
  const mailbox = (await store.resolve(address)).address;
  found.delete(key);
  if (found.size >= MAX) found.delete(found.keys().next().value!);
  found.set(key, { mailbox, until: now + TTL_MS });
  return mailbox;
}
