/**
 * store/local-delivery.ts: delivery at receipt. When every recipient SMTP accepted is a local
 * mailbox and nothing needs the queue, the SMTP connection thread runs the processing steps
 * itself (`prepareCopy`: parse the header and MIME structure once, the summary for the log
 * line; the same step processing/task.ts runs for queued mail) and asks the store thread, in
 * one call (`deliverAtReceipt`), to append each recipient's copy to its mailbox: the queue's
 * id generator names the message, the header lines above it are the very bytes processing would
 * write (store/received.ts `deliveryPrefix`), the internal date is the receive time, a
 * DMARC-quarantined message goes to the Junk folder where there is one, and two recipients of
 * one mailbox get one copy, as in store/queue-deliver.ts. The call resolves once every copy is
 * durable (the shards' group commits; no queue record is written: nothing is left to do), and
 * only then does SMTP answer 250. The counters (`received`, `delivered`) and the
 * `queue: delivered` log line are the queue path's.
 *
 * The queue instead (the same durability as ever: the ENQUEUE record is synced before the
 * answer) when:
 *  - the message is not `localOnly`: a remote or routed recipient, or one that asked for a
 *    success DSN (NOTIFY=SUCCESS, which the queue path sends); SMTP also checks this, and the
 *    message's size against processing's `poolMessageSize`, before it parses anything;
 *  - processing is not running now (`Queue.processingLive`: no claim from it lately, or it gave
 *    its leases back when it stopped): mail waits in the queue while an operator has processing
 *    stopped;
 *  - the structure SMTP sent does not describe this body;
 *  - an append fails (a full mailbox, a removed account, an I/O error): the message is
 *    enqueued under the same id, with the copies that did land recorded as delivered, so only
 *    the others are tried again (and bounced, with the queue's DSN rules, if they fail for
 *    good). If even the enqueue fails, the call rejects and SMTP answers 4xx: the sender tries
 *    again, and a recipient whose copy had landed may get it twice (as after a crash between a
 *    sync and the 250).
 * A crash at any moment: a copy is one segment record, whole or cut at recovery; no 250 was
 * sent before every copy was synced.
 *
 * Exports: `prepareCopy(body)`, `PreparedCopy`, `localOnly(env)`, `deliverAtReceipt(queue,
 * store, env, body, prepared)`, `AtReceiptResult`. Rejects: STORE_BAD_ARGUMENT (a malformed
 * envelope or body), and the queue's enqueue codes (QUEUE_FULL, STORE_NO_SPACE, STORE_IO,
 * STORE_CLOSED) when it falls back and cannot enqueue.
 */
import { PosternError } from '../errors.ts';
import { INBOX } from './names.ts';
import { wantsDsn } from './dsn.ts';
import { summaryOf } from './mime-summary.ts';
import { deliveryPrefix } from './received.ts';
import { parseStructure, shiftStructure, type MessageStructure } from './structure.ts';
import { checkEnvelope, initialState, type QueueEnvelope } from './queue-record.ts';
import type { Queue } from './queue.ts';
import type { Store } from './store.ts';

/** The processing step's results for one message (processing/task.ts sends the same). */
export interface PreparedCopy {
  /** The body's MIME structure (store/structure.ts), kept with each copy. */
  structure: MessageStructure;
  /** What the delivery log line carries: message-id, content type, parts, attachments. */
  info: Record<string, unknown>;
}

/** Parse the body once: its structure and the log line's summary. Throws what the parser
 * throws (the caller then leaves the message to the queue, whose delivery defers it). */
export function prepareCopy(body: Buffer): PreparedCopy {
  const structure = parseStructure(body);
  const s = summaryOf(structure);
  return { structure, info: { messageId: s.messageId, contentType: s.contentType, parts: s.parts, attachments: s.attachments } };
}

/** Every recipient a local mailbox, and none that asked for a success DSN. */
export function localOnly(env: Pick<QueueEnvelope, 'from' | 'rcpts'>): boolean {
  for (const r of env.rcpts) if (r.account === null || r.hop !== undefined || wantsDsn(env.from, r.dsn, 'success')) return false;
  return true;
}

export interface AtReceiptResult {
  id: string;
  /** true: every copy is in its mailbox; false: the message is in the queue. */
  delivered: boolean;
}

const JUNK = 'Junk';

/** Deliver a message SMTP just received to its local mailboxes, or queue it (see above). */
export async function deliverAtReceipt(q: Queue, store: Store, envIn: unknown, bodyIn: unknown, prepared: unknown): Promise<AtReceiptResult> {
  const env = checkEnvelope(envIn);
  if (!(bodyIn instanceof Uint8Array)) throw new PosternError('STORE_BAD_ARGUMENT', 'the body must be bytes');
  const body = Buffer.isBuffer(bodyIn) ? bodyIn : Buffer.from(bodyIn.buffer, bodyIn.byteOffset, bodyIn.byteLength);
  const p = prepared as PreparedCopy | null;
  const s = p?.structure;
  const fits = s !== undefined && s !== null && typeof s === 'object' && s.v === 1 && s.size === body.length;
  if (!fits || !localOnly(env) || !q.processingLive()) return { id: (await q.enqueue(env, body)).id, delivered: false };
  const id = q.newId();
  const prefix = Buffer.from(deliveryPrefix(id, env), 'utf8');
  const full = Buffer.allocUnsafeSlow(prefix.length + body.length);
  prefix.copy(full, 0);
  body.copy(full, prefix.length);
  const structure = shiftStructure(s, prefix);
  // two recipients, one mailbox: one copy (the queue path's rule)
  const byAccount = new Map<string, Promise<string | null>>();
  const outcome = env.rcpts.map((r) => {
    const key = r.account!.toLowerCase();
    let o = byAccount.get(key);
    if (o === undefined) byAccount.set(key, (o = appendCopy(store, r.account!, full, env.receivedAt, structure, env.junk === true)));
    return o;
  });
  const errors = await Promise.all(outcome);
  const delivered = errors.filter((e) => e === null).length;
  q.counters.delivered += delivered;
  const logged = { id, from: env.from, to: env.rcpts.map((r) => r.to), size: body.length, attempt: 1, ...(typeof p!.info === 'object' ? p!.info : {}), atReceipt: true };
  if (delivered > 0) q.log.info({ ...logged, delivered }, 'queue: delivered');
  if (delivered === env.rcpts.length) {
    q.counters.received++;
    return { id, delivered: true };
  }
  // some copy did not land: the queue takes the rest, under the same id (enqueue counts it)
  const st = initialState(env);
  errors.forEach((e, i) => {
    if (e === null) st.r[i] = { s: 'delivered', why: null };
  });
  await q.enqueue(env, body, { id, st });
  q.log.warn({ ...logged, error: errors.find((e) => e !== null) }, 'queue: delivery at receipt failed; the message is queued');
  return { id, delivered: false };
}

/** Append one copy; null when it is durable, else why not. */
async function appendCopy(store: Store, address: string, full: Buffer, date: number, structure: MessageStructure, junk: boolean): Promise<string | null> {
  try {
    let folder = INBOX;
    if (junk) {
      const { core } = await store.openMailbox(store.directory.resolve(address));
      if (core.mb().byName.has(JUNK)) folder = JUNK;
    }
    await store.mailbox(address).append(folder, full, { internalDate: date, structure });
    return null;
  } catch (e) {
    return e instanceof Error ? `${(e as { code?: string }).code ?? 'INTERNAL'}: ${e.message}` : String(e);
  }
}
