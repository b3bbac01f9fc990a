/**
 * protocols/imap/selected-util.ts: what the selected-state commands share: the session's view
 * (`viewOf`), sequence sets resolved against it (`resolveSet`, `inUidSet`), the store's error
 * kinds mapped to tagged IMAP replies (`storeFailure`), client names made safe for a reply line
 * (`printable`), and CONDSTORE bookkeeping (`condstoreOn`, `enableCondstore`).
 *
 * Exports: the functions above, `Resolved`. Throws nothing.
 */
import { PosternError } from '../../errors.ts';
import { reply, type Verdict } from '../../session/line-session.ts';
import type { ImapSession, ImapState, SequenceSet } from './types.ts';
import type { View } from './view.ts';

/** The selected mailbox's view (rows run in the selected state only). */
export function viewOf(s: ImapSession): View {
  return s.data.selected as View;
}

export type Resolved = { ok: true; uids: number[] } | { ok: false; text: string };

/** The UIDs (ascending, each once) a command's set names: sequence numbers (`uid` false) as
 * the client knows them, or UIDs of the view (`uid` true); `$` is the saved result. A sequence
 * number past EXISTS is an error (RFC 9051 §9 seq-number), a UID past the last one is not. */
export function resolveSet(view: View, set: SequenceSet, uid: boolean, saved: readonly number[]): Resolved {
  const all = view.uids;
  if (set === '$') return { ok: true, uids: saved.filter((u) => view.seqOf(u) > 0).sort((a, b) => a - b) };
  if (!uid) {
    const n = all.length;
    const pick = new Uint8Array(n);
    for (const r of set) {
      const a = r.from === '*' ? n : r.from;
      const b = r.to === '*' ? n : r.to;
      if (n === 0 || a > n || b > n || a < 1 || b < 1) return { ok: false, text: 'Invalid messageset' };
      for (let i = Math.min(a, b); i <= Math.max(a, b); i++) pick[i - 1] = 1;
    }
    const out: number[] = [];
    for (let i = 0; i < n; i++) if (pick[i] === 1) out.push(all[i]!);
    return { ok: true, uids: out };
  }
  if (all.length === 0) return { ok: true, uids: [] };
  const max = all[all.length - 1]!;
  const out = new Set<number>();
  for (const r of set) {
    let a = r.from === '*' ? max : r.from;
    let b = r.to === '*' ? max : r.to;
    if (a > b) [a, b] = [b, a];
    // the first index whose UID ≥ a
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (all[mid]! < a) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < all.length && all[i]! <= b; i++) out.add(all[i]!);
  }
  return { ok: true, uids: set.length === 1 ? [...out] : [...out].sort((x, y) => x - y) };
}

/** Is `uid` in a UID set (`*` is `max`, the highest UID of the mailbox)? `$` uses `saved`. */
export function inUidSet(uid: number, set: SequenceSet, max: number, saved: readonly number[]): boolean {
  if (set === '$') return saved.includes(uid);
  for (const r of set) {
    const a = r.from === '*' ? max : r.from;
    const b = r.to === '*' ? max : r.to;
    if (uid >= Math.min(a, b) && uid <= Math.max(a, b)) return true;
  }
  return false;
}

/** A name the client gave, safe inside a reply line (a literal may carry CR, LF or NUL). */
export function printable(name: string): string {
  const clean = name.replace(/[\x00-\x1f\x7f]/g, '?');
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

/** A store failure as the tagged reply (RFC 5530 response codes). */
export function storeFailure(tag: string, e: unknown, s: ImapSession, target?: string): Verdict<ImapState> {
  const code = e instanceof PosternError ? e.code : '';
  switch (code) {
    case 'STORE_NO_SUCH_FOLDER':
      return reply(target !== undefined ? `${tag} NO [TRYCREATE] Mailbox doesn't exist: ${printable(target)}\r\n` : `${tag} NO [NONEXISTENT] Mailbox doesn't exist\r\n`);
    case 'STORE_QUOTA_EXCEEDED':
      return reply(`${tag} NO [OVERQUOTA] Quota exceeded\r\n`);
    case 'STORE_BAD_NAME':
    case 'STORE_BAD_ARGUMENT':
      return reply(`${tag} NO [CANNOT] ${printable((e as Error).message)}\r\n`);
    case 'STORE_NOT_ALLOWED':
      return reply(`${tag} NO [CANNOT] Not allowed\r\n`);
    case 'STORE_NO_SUCH_ACCOUNT':
      return reply(`${tag} NO [NONEXISTENT] The account was removed\r\n`);
    case 'STORE_NO_SPACE':
    case 'STORE_LOCKED':
    case 'STORE_CLOSED':
    case 'ACTOR_BUSY':
    case 'ACTOR_TIMEOUT':
      return reply(`${tag} NO [UNAVAILABLE] Temporary failure, try again\r\n`);
    default:
      s.ctx.log.error({ err: e }, 'imap: store request failed');
      return reply(`${tag} NO [SERVERBUG] Internal error occurred, try again later\r\n`);
  }
}

/** Is CONDSTORE on (ENABLEd, or by QRESYNC, or by a CONDSTORE-enabling command)? */
export function condstoreOn(s: ImapSession): boolean {
  return s.data.enabled.has('CONDSTORE') || s.data.enabled.has('QRESYNC');
}

/** A CONDSTORE-enabling command (RFC 7162 §3.1): turn it on; returns the untagged
 * `OK [HIGHESTMODSEQ]` to send the first time while a mailbox is selected, else ''. */
export function enableCondstore(s: ImapSession): string {
  if (condstoreOn(s)) return '';
  s.data.enabled.add('CONDSTORE');
  const v = s.data.selected as View | null;
  return v !== null ? `* OK [HIGHESTMODSEQ ${v.highestModseq}] Highest\r\n` : '';
}
