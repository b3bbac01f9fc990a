/**
 * protocols/imapProxy/parse.ts: the few IMAP commands the proxy reads before login (RFC 9051
 * §9 grammar, the subset): CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN astring astring,
 * AUTHENTICATE mechanism [initial-response] (SASL-IR, RFC 4959), ID (RFC 2971: a parameter list
 * or NIL). A command arrives as the framer cut it (session/framer-imap.ts): its line parts and
 * the literals between them. Everything after login is the back end's: never parsed here.
 *
 * Also `idList(params)`: an ID parameter list written back as quoted strings (to pass the
 * client's ID on to the back end; a pair that cannot be quoted, with CR, LF or NUL, is left out).
 *
 * Exports: `parsePreLogin(parts, literals)`, `PreLoginCommand`, `idList`, `quote`.
 * Throws nothing: malformed input is `{ ok: false, tag, text }` (the BAD text).
 */

export type PreLoginCommand =
  | { tag: string; name: 'CAPABILITY' | 'NOOP' | 'LOGOUT' | 'STARTTLS' }
  | { tag: string; name: 'LOGIN'; user: string; password: string }
  | { tag: string; name: 'AUTHENTICATE'; mechanism: string; initial: string | null }
  | { tag: string; name: 'ID'; params: Array<[string, string | null]> | null }
  | { tag: string; name: 'OTHER'; verb: string };

type Token = { t: 'atom'; v: string } | { t: 'string'; v: string } | { t: '(' } | { t: ')' };

/** tag and atom characters: printable ASCII without atom-specials ( ) { SP CTL % * " \ ]. */
const ATOM = /^[^\x00-\x20\x7f(){%*"\\\]]+/;
/** ASTRING-CHAR: ATOM-CHAR and `]`, 8-bit too (lenient, as the IMAP service). */
const ASTRING = /^[^\x00-\x20\x7f(){%*"\\]+/;

class Bad extends Error {}

/** The tokens of the command (literals are strings). */
function tokens(parts: Buffer[], literals: Buffer[]): Token[] {
  const out: Token[] = [];
  parts.forEach((part, i) => {
    let s = part.toString('utf8').replace(/\r?\n$/, '');
    while (s.length > 0) {
      if (s[0] === ' ') {
        s = s.slice(1);
        continue;
      }
      if (s[0] === '(' || s[0] === ')') {
        out.push({ t: s[0] });
        s = s.slice(1);
        continue;
      }
      if (s[0] === '"') {
        let v = '';
        let j = 1;
        for (; j < s.length && s[j] !== '"'; j++) {
          if (s[j] === '\\') {
            j++;
            if (s[j] !== '\\' && s[j] !== '"') throw new Bad('Invalid escape in a quoted string');
          }
          v += s[j];
        }
        if (j >= s.length) throw new Bad('Unterminated quoted string');
        out.push({ t: 'string', v });
        s = s.slice(j + 1);
        continue;
      }
      const m = ASTRING.exec(s);
      if (m === null) throw new Bad('Invalid characters in the command');
      out.push({ t: 'atom', v: m[0] });
      s = s.slice(m[0].length);
    }
    if (i < literals.length) out.push({ t: 'string', v: literals[i]!.toString('utf8') });
  });
  return out;
}

const NO_ARGS = new Set(['CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS']);

export function parsePreLogin(parts: Buffer[], literals: Buffer[]): { ok: true; cmd: PreLoginCommand } | { ok: false; tag: string | null; text: string } {
  let tag: string | null = null;
  try {
    const first = parts[0]?.toString('latin1') ?? '';
    const tm = ATOM.exec(first);
    if (tm === null || tm[0].includes('+') || (first.length > tm[0].length && first[tm[0].length] !== ' ')) return { ok: false, tag: null, text: 'Invalid tag' };
    tag = tm[0];
    const toks = tokens(parts, literals).slice(1);
    const name = toks[0]?.t === 'atom' ? toks[0].v.toUpperCase() : null;
    if (name === null) throw new Bad('Missing command');
    const args = toks.slice(1);
    const str = (i: number, what: string): string => {
      const x = args[i];
      if (x === undefined || (x.t !== 'atom' && x.t !== 'string')) throw new Bad(`Expected ${what}`);
      return x.v;
    };
    const count = (n: number): void => {
      if (args.length !== n) throw new Bad(`Wrong number of arguments to ${name}`);
    };
    if (NO_ARGS.has(name)) {
      count(0);
      return { ok: true, cmd: { tag, name: name as 'CAPABILITY' } };
    }
    switch (name) {
      case 'LOGIN':
        count(2);
        return { ok: true, cmd: { tag, name, user: str(0, 'a user name'), password: str(1, 'a password') } };
      case 'AUTHENTICATE': {
        if (args.length < 1 || args.length > 2 || args[0]!.t !== 'atom' || (args[1] !== undefined && args[1].t !== 'atom')) throw new Bad('Expected AUTHENTICATE mechanism [initial-response]');
        return { ok: true, cmd: { tag, name, mechanism: str(0, 'a mechanism').toUpperCase(), initial: args[1] === undefined ? null : str(1, 'an initial response') } };
      }
      case 'ID': {
        if (args.length === 1 && args[0]!.t === 'atom' && args[0]!.v.toUpperCase() === 'NIL') return { ok: true, cmd: { tag, name, params: null } };
        if (args[0]?.t !== '(' || args[args.length - 1]?.t !== ')') throw new Bad('Expected NIL or a parameter list');
        const inner = args.slice(1, -1);
        if (inner.length % 2 !== 0 || inner.length > 60) throw new Bad('Invalid ID parameter list');
        const params: Array<[string, string | null]> = [];
        for (let i = 0; i < inner.length; i += 2) {
          const k = inner[i]!;
          const v = inner[i + 1]!;
          if (k.t !== 'string') throw new Bad('ID field names are strings');
          if (v.t === 'atom' && v.v.toUpperCase() === 'NIL') params.push([k.v, null]);
          else if (v.t === 'string') params.push([k.v, v.v]);
          else throw new Bad('ID values are strings or NIL');
        }
        return { ok: true, cmd: { tag, name, params } };
      }
      default:
        return { ok: true, cmd: { tag, name: 'OTHER', verb: name.slice(0, 40) } };
    }
  } catch (e) {
    return { ok: false, tag, text: e instanceof Bad ? e.message : 'Invalid command' };
  }
}

/** A quoted string (RFC 9051 `quoted`), or null when the text cannot be quoted. */
export function quote(s: string): string | null {
  return /[\r\n\0]/.test(s) ? null : `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The client's ID parameters as a list to pass on (see the contract). */
export function idList(params: Array<[string, string | null]> | null): string {
  if (params === null) return 'NIL';
  const out: string[] = [];
  for (const [k, v] of params) {
    const qk = quote(k);
    const qv = v === null ? 'NIL' : quote(v);
    if (qk !== null && qv !== null) out.push(`${qk} ${qv}`);
  }
  return out.length === 0 ? 'NIL' : `(${out.join(' ')})`;
}
