/**
 * protocols/imap/thread.ts: IMAP THREAD (RFC 5256 §3, §4) over the messages matching a search
 * key: ORDEREDSUBJECT, and REFERENCES (the message-ID links of References / In-Reply-To,
 * dummy containers pruned, threads gathered by base subject, siblings sorted by sent date).
 *
 * Sent date: the Date: header's time, else the internal date; ties by sequence number. Header
 * values come from the store's search index (decoded, case-folded): message IDs therefore
 * compare without regard to case (RFC 5256 asks for case-sensitive comparison; IDs differing
 * only in case are taken as one).
 *
 * Exports: `runThread`, `formatThread`, `ThreadNode`. Rejects: what runSearch rejects with.
 */
import { headerFields, runSearch } from './search.ts';
import { baseSubject, sentTime } from './sort.ts';
import type { SearchKey, SearchMessage, SearchScope } from './types.ts';

/** A thread member; `msg` null: a dummy (only at the top, holding two or more threads). */
export interface ThreadNode {
  msg: SearchMessage | null;
  children: ThreadNode[];
}

interface Info {
  msg: SearchMessage;
  date: number;
  subject: string;
  reply: boolean;
}

interface Container {
  id: string;
  info: Info | null;
  parent: Container | null;
  children: Container[];
}

const ID_RE = /<[^<>\s]+>/g;

async function infos(key: SearchKey, scope: SearchScope, names: string[]): Promise<{ list: Info[]; fields: Array<Map<string, string>> }> {
  const matches = await runSearch(key, scope);
  const fields = await headerFields(scope, matches, ['subject', 'date', ...names]);
  const list = matches.map((msg, i) => {
    const f = fields[i]!;
    const { base, reply } = baseSubject(f.get('subject') ?? '');
    return { msg, date: sentTime(f.get('date')) ?? msg.internalDate, subject: base, reply };
  });
  return { list, fields };
}

const byDate = (a: Info, b: Info): number => a.date - b.date || a.msg.seq - b.msg.seq;

/** The first message (by date) a node shows: itself, or a dummy's first child. */
function lead(c: Container): Info | null {
  if (c.info !== null) return c.info;
  let best: Info | null = null;
  for (const k of c.children) {
    const l = lead(k);
    if (l !== null && (best === null || byDate(l, best) < 0)) best = l;
  }
  return best;
}

function cmpContainers(a: Container, b: Container): number {
  const x = lead(a);
  const y = lead(b);
  if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1;
  return byDate(x, y);
}

function isAncestor(a: Container, of: Container): boolean {
  for (let p: Container | null = of; p !== null; p = p.parent) if (p === a) return true;
  return false;
}

function unlink(c: Container): void {
  if (c.parent === null) return;
  const sib = c.parent.children;
  sib.splice(sib.indexOf(c), 1);
  c.parent = null;
}

function link(parent: Container, child: Container): void {
  unlink(child);
  child.parent = parent;
  parent.children.push(child);
}

/** RFC 5256 §4 step 3: drop childless dummies, promote a dummy's children (at the top only
 * when it has one child). */
function prune(list: Container[], parent: Container | null): Container[] {
  const out: Container[] = [];
  for (const c of list) {
    c.children = prune(c.children, c);
    if (c.info !== null) {
      out.push(c);
      continue;
    }
    if (c.children.length === 0) continue;
    if (parent !== null || c.children.length === 1) {
      for (const k of c.children) {
        k.parent = parent;
        out.push(k);
      }
      continue;
    }
    out.push(c);
  }
  return out;
}

function sortDeep(list: Container[]): void {
  for (const c of list) sortDeep(c.children);
  list.sort(cmpContainers);
}

function toNodes(c: Container): ThreadNode {
  return { msg: c.info?.msg ?? null, children: c.children.map(toNodes) };
}

function references(list: Info[], fields: Array<Map<string, string>>): ThreadNode[] {
  const table = new Map<string, Container>();
  let unique = 0;
  const get = (id: string): Container => {
    let c = table.get(id);
    if (c === undefined) {
      c = { id, info: null, parent: null, children: [] };
      table.set(id, c);
    }
    return c;
  };
  // (1) containers and links, messages in sequence order
  const order = list.map((info, i) => ({ info, f: fields[i]! })).sort((a, b) => a.info.msg.seq - b.info.msg.seq);
  for (const { info, f } of order) {
    let id = (f.get('message-id') ?? '').match(ID_RE)?.[0] ?? null;
    if (id === null || table.get(id)?.info != null) id = `\u0000${unique++}`; // none, or a duplicate: a unique one
    const self = get(id);
    self.info = info;
    let refs: string[] = (f.get('references') ?? '').match(ID_RE) ?? [];
    if (refs.length === 0) refs = (f.get('in-reply-to') ?? '').match(ID_RE)?.slice(0, 1) ?? [];
    // (A) link the references in order, never changing an existing parent, never a loop
    let prev: Container | null = null;
    for (const r of refs) {
      const c = get(r);
      if (prev !== null && c.parent === null && c !== prev && !isAncestor(c, prev)) link(prev, c);
      prev = c;
    }
    // (B) the last reference is the message's parent (replacing any), unless that loops
    if (prev !== null && prev !== self && !isAncestor(self, prev)) link(prev, self);
    else if (prev === null) unlink(self);
  }
  // (2) the root set
  let roots = [...table.values()].filter((c) => c.parent === null);
  // (3) prune dummies
  roots = prune(roots, null);
  // (4) sort the top level by date (a dummy by its first child)
  for (const c of roots) if (c.info === null) c.children.sort(cmpContainers);
  roots.sort(cmpContainers);
  // (5) gather by base subject
  const subjectOf = (c: Container): Info | null => (c.info !== null ? c.info : (c.children[0]?.info ?? null));
  const bySubject = new Map<string, Container>();
  for (const c of roots) {
    const s = subjectOf(c);
    if (s === null || s.subject === '') continue;
    const t = bySubject.get(s.subject);
    if (t === undefined) bySubject.set(s.subject, c);
    else if (t.info !== null && (c.info === null || (t.info.reply && !(c.info?.reply ?? false)))) bySubject.set(s.subject, c);
  }
  // (5 C) merge each root into its subject's entry (by 5 B, a message entry means every root
  // of that subject is a message, and a reply entry means every one is a reply)
  const top = [...roots];
  const removed = new Set<Container>();
  for (const c of roots) {
    const s = subjectOf(c);
    const t = s === null || s.subject === '' ? undefined : bySubject.get(s.subject);
    if (t === undefined || t === c) continue;
    removed.add(c);
    if (t.info === null && c.info === null) {
      for (const k of [...c.children]) link(t, k);
    } else if (t.info === null) {
      link(t, c);
    } else if (c.info !== null && c.info.reply && !t.info.reply) {
      link(t, c);
    } else {
      const dummy: Container = { id: '', info: null, parent: null, children: [] };
      top[top.indexOf(t)] = dummy;
      link(dummy, t);
      link(dummy, c);
      bySubject.set(s!.subject, dummy);
    }
  }
  const kept = top.filter((c) => !removed.has(c));
  // (6) sort every sibling set, children first
  sortDeep(kept);
  return kept.map(toNodes);
}

function orderedSubject(list: Info[]): ThreadNode[] {
  const sorted = [...list].sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : byDate(a, b)));
  const threads: Info[][] = [];
  for (const m of sorted) {
    const last = threads[threads.length - 1];
    if (last !== undefined && last[0]!.subject === m.subject) last.push(m);
    else threads.push([m]);
  }
  threads.sort((a, b) => byDate(a[0]!, b[0]!));
  return threads.map(([first, ...rest]) => ({ msg: first!.msg, children: rest.map((m) => ({ msg: m.msg, children: [] })) }));
}

/** The threads of the messages matching `key`. */
export async function runThread(algorithm: 'REFERENCES' | 'ORDEREDSUBJECT', key: SearchKey, scope: SearchScope): Promise<ThreadNode[]> {
  if (algorithm === 'ORDEREDSUBJECT') return orderedSubject((await infos(key, scope, [])).list);
  const { list, fields } = await infos(key, scope, ['message-id', 'references', 'in-reply-to']);
  return references(list, fields);
}

/** `* THREAD (…)(…)\r\n` (RFC 5256 §5): a single child continues its parent's list, two or
 * more are each parenthesised; a dummy shows only its children. */
export function formatThread(tree: readonly ThreadNode[], uid: boolean): string {
  const id = (n: ThreadNode): string => (n.msg === null ? '' : String(uid ? n.msg.uid : n.msg.seq));
  const members = (n: ThreadNode): string => {
    const parts: string[] = [];
    let cur = n;
    if (cur.msg !== null) parts.push(id(cur));
    while (cur.children.length === 1) {
      cur = cur.children[0]!;
      if (cur.msg !== null) parts.push(id(cur));
    }
    if (cur.children.length > 1) parts.push(cur.children.map((c) => `(${members(c)})`).join(''));
    return parts.join(' ');
  };
  let s = '* THREAD';
  if (tree.length > 0) s += ' ';
  for (const t of tree) s += `(${members(t)})`;
  return `${s}\r\n`;
}
