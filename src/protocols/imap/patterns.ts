/**
 * protocols/imap/patterns.ts: LIST / LSUB mailbox patterns (RFC 9051 §6.3.9): the reference
 * and the pattern joined, `*` matching any characters, `%` any but the hierarchy delimiter `/`,
 * INBOX (as a whole first component) matched in any case.
 *
 * The work is bounded whatever the client sends: runs of wildcards collapse (`%*` is `*`), a
 * pattern with more literal characters than a name can hold matches nothing, and the match is
 * a dynamic programme over pattern × name (no backtracking), so a `*%*%…` pattern costs at most
 * its length times 255 per folder.
 *
 * Exports: `joinPattern(reference, pattern)`, `matcher(pattern)`. Throws nothing.
 */
import { HIERARCHY_SEP } from '../../store/types.ts';

/** Longer names are refused by the store (store/names.ts MAX_NAME_BYTES). */
const MAX_NAME = 255;

/** The reference and the pattern as one canonical pattern (RFC 9051 §6.3.9: concatenated). */
export function joinPattern(reference: string, pattern: string): string {
  return reference + pattern;
}

function collapse(p: string): string {
  let out = '';
  for (let i = 0; i < p.length; ) {
    const c = p[i]!;
    if (c !== '*' && c !== '%') {
      out += c;
      i++;
      continue;
    }
    let star = false;
    for (; i < p.length && (p[i] === '*' || p[i] === '%'); i++) if (p[i] === '*') star = true;
    out += star ? '*' : '%';
  }
  return out;
}

/** A test of mailbox names against `pattern`. */
export function matcher(pattern: string): (name: string) => boolean {
  const p = collapse(pattern);
  let literal = 0;
  for (const c of p) if (c !== '*' && c !== '%') literal++;
  if (literal > MAX_NAME * 4) return () => false; // (UTF-16 units; a name has at most 255 bytes)
  const m = p.length;
  return (name: string): boolean => {
    const inbox = name === 'INBOX' || name.startsWith('INBOX/') ? 5 : 0;
    let cur = new Uint8Array(m + 1);
    let next = new Uint8Array(m + 1);
    cur[0] = 1;
    for (let j = 1; j <= m; j++) cur[j] = cur[j - 1]! & (p[j - 1] === '*' || p[j - 1] === '%' ? 1 : 0);
    for (let i = 0; i < name.length; i++) {
      const c = name[i]!;
      next[0] = 0;
      let any = 0;
      for (let j = 1; j <= m; j++) {
        const pc = p[j - 1]!;
        let v: number;
        if (pc === '*') v = next[j - 1]! | cur[j]!;
        else if (pc === '%') v = next[j - 1]! | (c !== HIERARCHY_SEP ? cur[j]! : 0);
        else v = cur[j - 1]! & (pc === c || (i < inbox && pc.toUpperCase() === c) ? 1 : 0);
        next[j] = v;
        any |= v;
      }
      if (any === 0) return false;
      [cur, next] = [next, cur];
    }
    return cur[m] === 1;
  };
}
