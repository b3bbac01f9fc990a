/**
 * webmail/model.ts: the pure parts of WebMail's reading side: the folder tree, a message's
 * summary (what the list, the thread view and the header search need, taken from the store's
 * MIME structure once), sorting and paging the list, grouping a conversation, matching the
 * header and date terms of a search.
 *
 * Folder order: INBOX, then the special-use folders (Drafts, Sent, Junk, Trash, Archive, by
 * their RFC 6154 attribute), then the rest by name (case-insensitive), children under their
 * parent ("/"), ordered the same way among siblings. A child whose parent does not exist gets a
 * placeholder parent (`exists` false).
 * Sorting: date (the Date: header, else the internal date), sender (display name, else
 * address), base subject (RFC 5256), size; ties by UID; `desc` reverses the whole order.
 * Conversation: the folder's messages linked to the given one through Message-ID, In-Reply-To
 * and References (transitively); when none is, those with the same non-empty base subject;
 * oldest first.
 *
 * Exports: `folderTree`, `FolderNode`, `summarize`, `Summary`, `toRow`, `sortUids`, `pageOf`, `pageOfSorted`,
 * `threadOf`, `matchHeaders`, `HeaderQuery`, `parseDay`, `DAY_MS`, and the formats shown:
 * `shortDate`, `longDate`, `shortSize`, `addressText`. Throws nothing.
 */
import type { FolderInfo, MessageMeta } from '../../store/types.ts';
import type { Address, MessageStructure } from '../../store/structure.ts';
import { decodeWords } from '../../store/charset.ts';
import { fold } from '../../store/search-text.ts';
import { hasAttachment } from './parts.ts';
import { PAGE_SIZE, type ListRow, type SortKey } from './types.ts';

export const DAY_MS = 86_400_000;

export interface FolderNode {
  name: string; // the full name ("Archive/2024")
  label: string; // its last level ("2024")
  depth: number;
  messages: number;
  unseen: number;
  specialUse: string | null;
  exists: boolean;
}

const RANK: Record<string, number> = { '\\Drafts': 1, '\\Sent': 2, '\\Junk': 3, '\\Trash': 4, '\\Archive': 5 };
const rankOf = (f: { name: string; specialUse: string | null }): number => (f.name.toUpperCase() === 'INBOX' ? 0 : (RANK[f.specialUse ?? ''] ?? 6));

/** The folders as a tree, flattened in display order (see the contract above). */
export function folderTree(folders: readonly FolderInfo[]): FolderNode[] {
  interface T { node: FolderNode; kids: Map<string, T> }
  const root: T = { node: null as unknown as FolderNode, kids: new Map() };
  for (const f of folders) {
    const path = f.name.split('/');
    let at = root;
    for (let i = 0; i < path.length; i++) {
      const name = path.slice(0, i + 1).join('/');
      let t = at.kids.get(path[i]!);
      if (t === undefined) {
        t = { node: { name, label: path[i]!, depth: i, messages: 0, unseen: 0, specialUse: null, exists: false }, kids: new Map() };
        at.kids.set(path[i]!, t);
      }
      if (i === path.length - 1) Object.assign(t.node, { messages: f.messages, unseen: f.unseen, specialUse: f.specialUse, exists: true });
      at = t;
    }
  }
  const out: FolderNode[] = [];
  const walk = (t: T): void => {
    const kids = [...t.kids.values()].sort((a, b) => rankOf(a.node) - rankOf(b.node) || a.node.label.localeCompare(b.node.label, 'en', { sensitivity: 'base' }) || (a.node.label < b.node.label ? -1 : 1));
    for (const k of kids) {
      out.push(k.node);
      walk(k);
    }
  };
  walk(root);
  return out;
}

/** What WebMail keeps of a message (immutable for a UID: message bytes never change). */
export interface Summary {
  uid: number;
  from: string;
  fromAddress: string;
  subject: string;
  /** The Date: header (ms), null when absent or unparsable. */
  date: number | null;
  sortFrom: string;
  sortSubject: string;
  hasAttachment: boolean;
  /** Folded text of From, and of To + Cc, for the header search. */
  fromText: string;
  toText: string;
  subjectText: string;
  messageId: string | null;
  /** The ids it refers to (References, then In-Reply-To). */
  refs: string[];
}

const addr = (a: Address): string => (a.mailbox === null ? '' : a.host === null || a.host === '' ? a.mailbox : `${a.mailbox}@${a.host}`);
const ids = (v: string | null): string[] => (v === null ? [] : (v.match(/<[^<>\s]+>/g) ?? []).slice(0, 100).map((s) => s.toLowerCase()));

export function summarize(uid: number, s: MessageStructure): Summary {
  const first = s.envelope.from?.find((a) => a.host !== null) ?? null;
  const fromAddress = first === null ? '' : addr(first);
  const name = first?.name === null || first?.name === undefined ? '' : decodeWords(first.name).trim();
  const f = s.fields;
  return {
    uid,
    from: name !== '' ? name : fromAddress,
    fromAddress,
    subject: decodeWords(s.envelope.subject ?? '').replace(/\s+/g, ' ').trim(),
    date: s.sort.date,
    sortFrom: s.sort.displayFrom,
    sortSubject: s.sort.subject,
    hasAttachment: hasAttachment(s),
    fromText: fold(decodeWords(f.from ?? '')),
    toText: fold(`${decodeWords(f.to ?? '')}\n${decodeWords(f.cc ?? '')}`),
    subjectText: fold(decodeWords(f.subject ?? '')),
    messageId: ids(f.messageId)[0] ?? null,
    refs: [...ids(f.references), ...ids(f.inReplyTo)],
  };
}

export function toRow(meta: Pick<MessageMeta, 'uid' | 'flags' | 'internalDate' | 'size'>, s: Summary | undefined): ListRow {
  return {
    uid: meta.uid,
    from: s?.from ?? '',
    fromAddress: s?.fromAddress ?? '',
    subject: s?.subject ?? '',
    date: s?.date ?? meta.internalDate,
    size: meta.size,
    seen: meta.flags.includes('\\Seen'),
    flagged: meta.flags.includes('\\Flagged'),
    answered: meta.flags.includes('\\Answered'),
    hasAttachment: s?.hasAttachment ?? false,
  };
}

/** UIDs ascending by `key`: date (the Date: header, else the internal date), sender (display
 * name, else address), base subject, size; ties by UID. */
export function sortUids(ms: Iterable<Pick<MessageMeta, 'uid' | 'internalDate' | 'size'>>, key: SortKey, sums: ReadonlyMap<number, Summary>): number[] {
  const keyed: Array<{ uid: number; k: number | string }> = [];
  for (const m of ms) {
    const s = sums.get(m.uid);
    keyed.push({ uid: m.uid, k: key === 'date' ? (s?.date ?? m.internalDate) : key === 'size' ? m.size : key === 'from' ? (s?.sortFrom ?? '') : (s?.sortSubject ?? '') });
  }
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.uid - b.uid));
  return keyed.map((x) => x.uid);
}

/** Page `page` (1-based, clamped) of `asc` read ascending, or with `desc` from its end. */
export function pageOfSorted<T>(asc: readonly T[], desc: boolean, page: number, size = PAGE_SIZE): { items: T[]; page: number; pages: number } {
  if (!desc) return pageOf(asc, page, size);
  const pages = Math.max(1, Math.ceil(asc.length / size));
  const p = Math.min(Math.max(1, Math.floor(page)), pages);
  const end = asc.length - (p - 1) * size;
  return { items: asc.slice(Math.max(0, end - size), Math.max(0, end)).reverse(), page: p, pages };
}

/** Page `page` (1-based, clamped) of `rows`. */
export function pageOf<T>(rows: readonly T[], page: number, size = PAGE_SIZE): { items: T[]; page: number; pages: number } {
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const p = Math.min(Math.max(1, Math.floor(page)), pages);
  return { items: rows.slice((p - 1) * size, p * size), page: p, pages };
}

/** The UIDs of the conversation `uid` belongs to, oldest first (see the contract above). */
export function threadOf(uid: number, all: readonly Summary[], dateOf: (s: Summary) => number): number[] {
  const me = all.find((s) => s.uid === uid);
  if (me === undefined) return [];
  // union-find over message ids
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    for (let y = x; y !== r; ) {
      const n = parent.get(y)!;
      parent.set(y, r);
      y = n;
    }
    return r;
  };
  const node = (x: string): string => {
    if (!parent.has(x)) parent.set(x, x);
    return find(x);
  };
  const keyOf = (s: Summary): string => s.messageId ?? `uid:${s.uid}`;
  for (const s of all) {
    const k = node(keyOf(s));
    for (const r of s.refs) {
      const o = node(r);
      if (o !== k) parent.set(o, find(k));
    }
  }
  const mine = find(keyOf(me));
  let group = all.filter((s) => find(keyOf(s)) === mine);
  if (group.length <= 1 && me.sortSubject !== '') group = all.filter((s) => s.sortSubject === me.sortSubject);
  if (group.length === 0) group = [me];
  return group.sort((a, b) => dateOf(a) - dateOf(b) || a.uid - b.uid).map((s) => s.uid);
}

export interface HeaderQuery {
  from: string;
  to: string;
  subject: string;
  /** Day starts (ms, UTC): since ≤ date's day, date's day < before; NaN: no bound. */
  since: number;
  before: number;
}

/** Does `s` (with its date `date`, ms) match the header and date terms of `q`? (folded needles) */
export function matchHeaders(s: Summary, date: number, q: HeaderQuery): boolean {
  if (q.from !== '' && !s.fromText.includes(q.from)) return false;
  if (q.to !== '' && !s.toText.includes(q.to)) return false;
  if (q.subject !== '' && !s.subjectText.includes(q.subject)) return false;
  const day = Math.floor(date / DAY_MS) * DAY_MS;
  if (!Number.isNaN(q.since) && day < q.since) return false;
  if (!Number.isNaN(q.before) && day >= q.before) return false;
  return true;
}

/** "YYYY-MM-DD" → 00:00 UTC that day; '' → NaN; anything else → null (a bad request). */
export function parseDay(v: string): number | null {
  if (v === '') return NaN;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (m === null) return null;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const d = new Date(t);
  return d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]) ? t : null;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** A list's date: "HH:MM" today (UTC, like every date shown), "D Mon" this year, else "YYYY-MM-DD". */
export function shortDate(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  const n = new Date(now);
  if (Number.isNaN(d.getTime())) return '';
  if (d.getUTCFullYear() === n.getUTCFullYear() && d.getUTCMonth() === n.getUTCMonth() && d.getUTCDate() === n.getUTCDate()) return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  if (d.getUTCFullYear() === n.getUTCFullYear()) return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A message's full date, "YYYY-MM-DD HH:MM UTC". */
export function longDate(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

/** "532 B", "14 KB", "3.2 MB". */
export function shortSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** An address list as text: `Name <a@b>, c@d` (groups by name), decoded. */
export function addressText(list: readonly Address[] | null): string {
  if (list === null) return '';
  const out: string[] = [];
  for (const a of list) {
    if (a.host === null) {
      if (a.mailbox !== null) out.push(`${decodeWords(a.mailbox)}:`);
      continue;
    }
    const email = addr(a);
    const name = a.name === null ? '' : decodeWords(a.name).trim();
    out.push(name === '' ? email : `${name} <${email}>`);
  }
  return out.join(', ');
}
