/**
 * protocols/imap/sort.ts: IMAP SORT (RFC 5256) with DISPLAYFROM / DISPLAYTO (RFC 5957): the
 * messages matching the search key, ordered by the criteria, ties broken by sequence number.
 *
 * Keys: ARRIVAL the internal date; DATE the Date: header's time (zone applied), the internal
 * date when it has none or cannot be parsed (RFC 5256 §2.2); SUBJECT the base subject (§2.1,
 * `baseSubject`); FROM / TO / CC the addr-mailbox (local part) of the field's first address;
 * DISPLAYFROM / DISPLAYTO its display name, or its addr-spec when it has none; SIZE the size.
 * Header values come from the store's search index (search.ts `headerFields`: encoded words
 * decoded, case-folded), so strings compare case-insensitively, code point by code point.
 *
 * Exports: `runSort`, `formatSort`, `baseSubject`, `sentTime`, `firstAddress`.
 * Rejects: what runSearch rejects with.
 */
import { headerFields, runSearch } from './search.ts';
import type { SearchKey, SearchMessage, SearchScope, SortCriterion } from './types.ts';

/** RFC 5256 §2.1 base subject of a decoded subject, and whether a reply/forward marker was cut
 * (THREAD's "is a reply or forward"). The result is case-folded like the input. */
export function baseSubject(subject: string): { base: string; reply: boolean } {
  // (1) whitespace runs to one space
  let s = subject.replace(/[\t\r\n ]+/g, ' ');
  let reply = false;
  for (let guard = 0; guard < 100; guard++) {
    // (2) trailing "(fwd)" and whitespace
    for (;;) {
      const t = s.replace(/ +$/, '');
      if (/\(fwd\)$/i.test(t)) {
        s = t.slice(0, -5);
        reply = true;
      } else {
        s = t;
        break;
      }
    }
    // (5) repeat (3) and (4) until nothing changes
    for (;;) {
      const before = s;
      // (3) subj-leader: (*subj-blob subj-refwd) / WSP
      for (;;) {
        const ws = /^ +/.exec(s);
        if (ws !== null) {
          s = s.slice(ws[0].length);
          continue;
        }
        const m = /^(?:\[[^[\]]*\] *)*(?:re|fwd?) *(?:\[[^[\]]*\] *)?:/i.exec(s);
        if (m === null) break;
        s = s.slice(m[0].length);
        reply = true;
      }
      // (4) a leading subj-blob, if what follows is not empty
      const blob = /^\[[^[\]]*\] */.exec(s);
      if (blob !== null && s.length > blob[0].length) s = s.slice(blob[0].length);
      if (s === before) break;
    }
    // (6) "[fwd:" … "]": strip and go back to (2)
    if (/^\[fwd:/i.test(s) && s.endsWith(']')) {
      s = s.slice(5, -1);
      reply = true;
      continue;
    }
    break;
  }
  return { base: s.trim(), reply };
}

/** The Date: header's time (ms, zone applied), or null when absent or unparsable. */
export function sentTime(v: string | undefined): number | null {
  if (v === undefined || v === '') return null;
  const t = Date.parse(v.replace(/\([^)]*\)/g, ' ').replace(/\s+/g, ' ').trim());
  return Number.isFinite(t) ? t : null;
}

/** The first address of an address-list value: its display name (null: none), local part and
 * addr-spec; null when there is none. Groups: their first member. */
export function firstAddress(v: string | undefined): { name: string | null; mailbox: string; spec: string } | null {
  if (v === undefined) return null;
  let s = v.replace(/\((?:[^()\\]|\\.)*\)/g, ' ').trim();
  // a group "name: a, b;": look at its members
  const colon = topIndex(s, ':');
  if (colon >= 0 && !s.slice(0, colon).includes('<')) s = s.slice(colon + 1).replace(/;\s*$/, '');
  for (const item of splitTop(s)) {
    const t = item.trim();
    if (t === '') continue;
    const lt = t.lastIndexOf('<');
    const gt = t.lastIndexOf('>');
    let name: string | null = null;
    let spec = t;
    if (lt >= 0 && gt > lt) {
      const n = unquote(t.slice(0, lt).trim());
      name = n === '' ? null : n;
      spec = t.slice(lt + 1, gt);
      const route = spec.lastIndexOf(':');
      if (spec.startsWith('@') && route > 0) spec = spec.slice(route + 1);
    }
    spec = spec.replace(/\s+/g, '');
    const at = spec.lastIndexOf('@');
    const mailbox = unquote(at < 0 ? spec : spec.slice(0, at));
    return { name, mailbox, spec: at < 0 ? mailbox : `${mailbox}@${spec.slice(at + 1)}` };
  }
  return null;
}

const unquote = (s: string): string => (s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s);

function topIndex(v: string, ch: string): number {
  let q = false;
  let angle = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && q) i++;
    else if (c === '"') q = !q;
    else if (!q && c === '<') angle++;
    else if (!q && c === '>' && angle > 0) angle--;
    else if (!q && angle === 0 && c === ch) return i;
  }
  return -1;
}

function splitTop(v: string): string[] {
  const out: string[] = [];
  let rest = v;
  for (;;) {
    const i = topIndex(rest, ',');
    if (i < 0) break;
    out.push(rest.slice(0, i));
    rest = rest.slice(i + 1);
  }
  out.push(rest);
  return out;
}

const FIELDS: Partial<Record<SortCriterion, string>> = { DATE: 'date', SUBJECT: 'subject', FROM: 'from', TO: 'to', CC: 'cc', DISPLAYFROM: 'from', DISPLAYTO: 'to' };

/** The matching messages in the criteria's order (ties: sequence number). */
export async function runSort(criteria: ReadonlyArray<{ key: SortCriterion; reverse: boolean }>, key: SearchKey, scope: SearchScope): Promise<SearchMessage[]> {
  const matches = await runSearch(key, scope);
  const names = [...new Set(criteria.map((c) => FIELDS[c.key]).filter((x): x is string => x !== undefined))];
  const fields = names.length === 0 ? [] : await headerFields(scope, matches, names);
  const keyOf = (c: SortCriterion, i: number): string | number => {
    const m = matches[i]!;
    const f = fields[i];
    switch (c) {
      case 'ARRIVAL':
        return m.internalDate;
      case 'SIZE':
        return m.size;
      case 'DATE':
        return sentTime(f?.get('date')) ?? m.internalDate;
      case 'SUBJECT':
        return baseSubject(f?.get('subject') ?? '').base;
      case 'FROM':
      case 'TO':
      case 'CC':
        return firstAddress(f?.get(c.toLowerCase()))?.mailbox ?? '';
      case 'DISPLAYFROM':
      case 'DISPLAYTO': {
        const a = firstAddress(f?.get(c === 'DISPLAYFROM' ? 'from' : 'to'));
        return a === null ? '' : (a.name ?? a.spec);
      }
    }
  };
  const cols = criteria.map((c) => ({ reverse: c.reverse, values: matches.map((_, i) => keyOf(c.key, i)) }));
  const order = matches.map((_, i) => i);
  order.sort((a, b) => {
    for (const c of cols) {
      const x = c.values[a]!;
      const y = c.values[b]!;
      if (x !== y) return (x < y ? -1 : 1) * (c.reverse ? -1 : 1);
    }
    return matches[a]!.seq - matches[b]!.seq;
  });
  return order.map((i) => matches[i]!);
}

/** `* SORT n n …\r\n` (RFC 5256 §4): sequence numbers, or UIDs for UID SORT. */
export function formatSort(sorted: readonly SearchMessage[], uid: boolean): string {
  let s = '* SORT';
  for (const m of sorted) s += ` ${uid ? m.uid : m.seq}`;
  return `${s}\r\n`;
}
