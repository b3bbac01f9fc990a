/**
 * test/imap/differential-wire.ts: the raw side of the differential test. A scripted IMAP client
 * on a real socket that sends a command (its literals synchronizing, waiting for the server's
 * continuation, or LITERAL+ `{n+}`) and collects every response up to the tagged one, literals
 * inlined; and the normaliser that turns one command's responses into lines that two servers
 * may be expected to agree on: the human text after OK/NO/BAD/BYE and after `+` dropped,
 * UIDVALIDITY and mod-sequence values replaced by placeholders, capability lists split into one
 * line per capability, FETCH items sorted by name and flag lists sorted, SEARCH numbers sorted,
 * sequence sets in their canonical form, the ID response reduced to its name, untagged
 * responses sorted (IMAP does not order them), the tagged one last.
 *
 * Exports: `connectRaw(port, host?)` → `RawClient`; `normalise(responses)`; `canonicalSet(s)`;
 * `tokens(s)` (for tests of the normaliser).
 * Throws: RawClient.command rejects when the connection closes or nothing ends the command
 * within the timeout (a bound: no response waits forever).
 */
import net from 'node:net';

export type Part = string | Buffer;

export interface RawClient {
  /** The greeting line. */
  readonly greeting: string;
  /** Send `tag` + parts (a Buffer part is a literal: `{n}` then, after the continuation, its
   * bytes; `{n+}` at once with `literalPlus`) and CRLF; resolve every response up to and
   * including the tagged one. Continuation requests outside literals (IDLE, AUTHENTICATE)
   * end the command too: the caller answers them with `line()` and `more(tag)`. */
  command(tag: string, parts: readonly Part[], o?: { literalPlus?: boolean; timeoutMs?: number }): Promise<string[]>;
  /** Send a raw line (CRLF added). */
  line(text: string): void;
  /** Read on until the tagged response of `tag` (or a continuation). */
  more(tag: string, timeoutMs?: number): Promise<string[]>;
  /** The next response, or null when none comes within the timeout. */
  next(timeoutMs: number): Promise<string | null>;
  close(): void;
}

/** One logical response per string: its lines joined by CRLF, each literal `{n}` followed by
 * CRLF and its n bytes (latin1). */
export function connectRaw(port: number, host = '127.0.0.1'): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let buf: Buffer = Buffer.alloc(0);
    let closed = false;
    const done: string[] = [];
    let partial = '';
    let literalLeft = 0;
    let wake: (() => void) | null = null;
    const parse = (): void => {
      for (;;) {
        if (literalLeft > 0) {
          if (buf.length === 0) return;
          const n = Math.min(literalLeft, buf.length);
          partial += buf.subarray(0, n).toString('latin1');
          buf = buf.subarray(n);
          literalLeft -= n;
          continue;
        }
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        const line = buf.subarray(0, i).toString('latin1');
        buf = buf.subarray(i + 2);
        partial += line;
        const m = /\{(\d+)\+?\}$/.exec(line);
        if (m !== null) {
          partial += '\r\n';
          literalLeft = Number(m[1]);
          continue;
        }
        done.push(partial);
        partial = '';
      }
    };
    socket.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      parse();
      wake?.();
    });
    socket.on('close', () => {
      closed = true;
      wake?.();
    });
    socket.on('error', (e) => {
      if (!connected) reject(e);
    });
    let connected = false;
    const next = async (until: number): Promise<string> => {
      for (;;) {
        const r = done.shift();
        if (r !== undefined) return r;
        if (closed) throw new Error('connection closed');
        const left = until - Date.now();
        if (left <= 0) throw new Error('timed out waiting for a response');
        await new Promise<void>((ok) => {
          const t = setTimeout(() => ok(), left);
          wake = () => {
            clearTimeout(t);
            wake = null;
            ok();
          };
        });
      }
    };
    const more = async (tag: string, timeoutMs = 10_000): Promise<string[]> => {
      const until = Date.now() + timeoutMs;
      const out: string[] = [];
      for (;;) {
        let r: string;
        try {
          r = await next(until);
        } catch (e) {
          if (closed && out.length > 0) return out; // e.g. LOGOUT: BYE, tagged OK, close
          throw new Error(`${(e as Error).message} after ${JSON.stringify(out)}`);
        }
        out.push(r);
        if (r.startsWith(`${tag} `) || r.startsWith('+')) return out;
        if (out.length > 100_000) throw new Error('more than 100,000 responses to one command');
      }
    };
    socket.once('connect', () => {
      connected = true;
      void next(Date.now() + 10_000).then((greeting) => {
        const c: RawClient = {
          greeting,
          async command(tag, parts, o = {}) {
            const until = Date.now() + (o.timeoutMs ?? 10_000);
            let text = `${tag} `;
            for (const p of parts) {
              if (typeof p === 'string') {
                text += p;
                continue;
              }
              socket.write(`${text}{${p.length}${o.literalPlus === true ? '+' : ''}}\r\n`, 'latin1');
              text = '';
              if (o.literalPlus !== true) {
                const r = await next(until);
                if (!r.startsWith('+')) {
                  // refused before the bytes: that is the command's end
                  return r.startsWith(`${tag} `) ? [r] : [r, ...(await more(tag, until - Date.now()))];
                }
              }
              socket.write(p);
            }
            socket.write(`${text}\r\n`, 'latin1');
            return more(tag, until - Date.now());
          },
          line(text) {
            socket.write(`${text}\r\n`, 'latin1');
          },
          more,
          next: (timeoutMs) => next(Date.now() + timeoutMs).catch(() => null),
          close() {
            socket.destroy();
          },
        };
        resolve(c);
      }, reject);
    });
  });
}

// ---- normalising ----

/** Tokens of a response's data: atoms, "strings", {n}literals, NIL, and ( ) [ ] as tokens. */
export type Tok = string;

/** Split `s` into tokens: quoted strings and literals whole, parentheses apart. */
export function tokens(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === ' ') {
      i++;
    } else if (ch === '(' || ch === ')') {
      out.push(ch);
      i++;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      out.push(s.slice(i, j + 1));
      i = j + 1;
    } else if (ch === '{' || (ch === '~' && s[i + 1] === '{')) {
      const m = /^~?\{(\d+)\+?\}\r\n/.exec(s.slice(i));
      if (m === null) {
        out.push(ch);
        i++;
        continue;
      }
      const end = i + m[0].length + Number(m[1]);
      out.push(s.slice(i, end));
      i = end;
    } else {
      // an atom; a section BODY[...]<...> stays whole, brackets included
      let j = i;
      let depth = 0;
      while (j < s.length) {
        const c = s[j]!;
        if (c === '[') depth++;
        else if (c === ']') depth--;
        else if (depth === 0 && (c === ' ' || c === '(' || c === ')')) break;
        else if (depth > 0 && c === '"') {
          j++;
          while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
        }
        j++;
      }
      out.push(s.slice(i, j));
      i = j;
    }
  }
  return out;
}

/** Group tokens into nested lists. */
type Node = string | Node[];
function tree(toks: readonly Tok[]): Node[] {
  const stack: Node[][] = [[]];
  for (const t of toks) {
    if (t === '(') {
      const l: Node[] = [];
      stack[stack.length - 1]!.push(l);
      stack.push(l);
    } else if (t === ')') {
      if (stack.length > 1) stack.pop();
    } else stack[stack.length - 1]!.push(t);
  }
  return stack[0]!;
}
const show = (n: Node): string => (typeof n === 'string' ? canonicalString(n) : `(${n.map(show).join(' ')})`);

/** A string token in one form: a literal (`{n}` / `~{n}`) whose bytes could be a quoted string
 * is shown quoted (RFC 9051 §4.3: a string is in one of two forms, literal or quoted, and the
 * sender chooses); other tokens are left as they are. */
function canonicalString(t: string): string {
  const m = /^\{(\d+)\+?\}\r\n/s.exec(t);
  if (m === null) return t;
  const data = t.slice(m[0].length);
  if (/[\r\n\0]/.test(data)) return t;
  return `"${data.replace(/["\\]/g, '\\$&')}"`;
}

/** A sequence set's canonical form: ascending, ranges merged ("3,1:2,4" → "1:4"). */
export function canonicalSet(s: string): string {
  if (!/^[\d:,*]+$/.test(s) || s.includes('*')) return s;
  const nums: number[] = [];
  for (const part of s.split(',')) {
    const [a, b] = part.split(':').map(Number) as [number, number | undefined];
    const lo = Math.min(a, b ?? a);
    const hi = Math.max(a, b ?? a);
    if (hi - lo > 1_000_000) return s;
    for (let k = lo; k <= hi; k++) nums.push(k);
  }
  const sorted = [...new Set(nums)].sort((x, y) => x - y);
  const out: string[] = [];
  for (let k = 0; k < sorted.length; ) {
    let e = k;
    while (e + 1 < sorted.length && sorted[e + 1] === sorted[e]! + 1) e++;
    out.push(e === k ? String(sorted[k]) : `${sorted[k]}:${sorted[e]}`);
    k = e + 1;
  }
  return out.join(',');
}

const sortFlags = (n: Node): Node => (Array.isArray(n) ? [...n].map((x) => (typeof x === 'string' ? x : show(x))).sort((a, b) => a.localeCompare(b)) : n);

/** A response code's normal form (inside [ ]). */
function normaliseCode(code: string): string {
  const [name, ...rest] = code.split(' ');
  const up = (name ?? '').toUpperCase();
  const args = rest.join(' ');
  switch (up) {
    case 'UIDVALIDITY':
      return 'UIDVALIDITY <uidvalidity>';
    case 'HIGHESTMODSEQ':
      return 'HIGHESTMODSEQ <modseq>';
    case 'APPENDUID':
    case 'COPYUID': {
      const [, ...sets] = rest;
      return `${up} <uidvalidity> ${sets.map(canonicalSet).join(' ')}`;
    }
    case 'PERMANENTFLAGS':
      return `PERMANENTFLAGS ${show(sortFlags(tree(tokens(args))[0] ?? []))}`;
    case 'MODIFIED':
      return `MODIFIED ${canonicalSet(args)}`;
    default:
      return code;
  }
}

/** FETCH data `(name value name value …)`: items sorted by name, FLAGS sorted, MODSEQ hidden. */
function normaliseFetch(data: string): string {
  const [list] = tree(tokens(data));
  if (!Array.isArray(list)) return data;
  const items: Array<[string, string]> = [];
  for (let k = 0; k + 1 < list.length; k += 2) {
    const name = String(list[k]).toUpperCase();
    let v = list[k + 1]!;
    if (name === 'FLAGS') v = sortFlags(v);
    if (name === 'MODSEQ') v = ['<modseq>'];
    items.push([name, show(v)]);
  }
  items.sort((a, b) => a[0].localeCompare(b[0]));
  return `(${items.map(([n, v]) => `${n} ${v}`).join(' ')})`;
}

/** One response → its normal lines (a capability list becomes one line per capability). */
function normaliseOne(r: string): string[] {
  if (r.startsWith('+')) return ['+'];
  const m = /^(\S+) (OK|NO|BAD|BYE|PREAUTH)(?: \[([^\]]*)\])?(?: .*)?$/is.exec(r);
  if (m !== null) {
    const [, tag, status, code] = m;
    if (code === undefined) return [`${tag} ${status}`];
    // capabilities sent as a response code count as an untagged CAPABILITY (RFC 9051 §7.1:
    // the code "can also appear in tagged responses to LOGIN or AUTHENTICATE commands")
    const cm = /^CAPABILITY (.*)$/i.exec(code);
    if (cm !== null) return tag === '*' ? [`* ${status}`, '* CAPABILITY', ...capabilities(cm[1]!, '* CAPABILITY')] : [`${tag} ${status}`, '* CAPABILITY', ...capabilities(cm[1]!, '* CAPABILITY')];
    return [`${tag} ${status} [${normaliseCode(code)}]`];
  }
  let u: RegExpExecArray | null;
  if ((u = /^\* CAPABILITY (.*)$/i.exec(r)) !== null) return ['* CAPABILITY', ...capabilities(u[1]!, '* CAPABILITY')];
  if ((u = /^\* ID /i.exec(r)) !== null) return ['* ID <server>'];
  if ((u = /^\* (\d+) FETCH (.*)$/is.exec(r)) !== null) return [`* ${u[1]} FETCH ${normaliseFetch(u[2]!)}`];
  if ((u = /^\* (SEARCH|SORT)((?: \d+)*)( \(MODSEQ \d+\))?$/i.exec(r)) !== null) {
    const nums = u[2]!.trim() === '' ? [] : u[2]!.trim().split(' ').map(Number);
    if (u[1]!.toUpperCase() === 'SEARCH') nums.sort((a, b) => a - b);
    return [`* ${u[1]!.toUpperCase()}${nums.map((n) => ` ${n}`).join('')}${u[3] !== undefined ? ' (MODSEQ <modseq>)' : ''}`];
  }
  if ((u = /^\* ESEARCH (.*)$/i.exec(r)) !== null) {
    const t = tokens(u[1]!);
    const out: string[] = [];
    for (let k = 0; k < t.length; k++) {
      const w = t[k]!;
      const prev = (t[k - 1] ?? '').toUpperCase();
      if (prev === 'ALL') out.push(canonicalSet(w));
      else if (prev === 'MODSEQ') out.push('<modseq>');
      else out.push(w);
    }
    return [`* ESEARCH ${out.join(' ').replace(/\( /g, '(').replace(/ \)/g, ')')}`];
  }
  if ((u = /^\* STATUS (.*)$/i.exec(r)) !== null) {
    const [name, list] = tree(tokens(u[1]!));
    if (!Array.isArray(list)) return [r];
    const items: string[] = [];
    for (let k = 0; k + 1 < list.length; k += 2) {
      const n = String(list[k]).toUpperCase();
      const v = n === 'UIDVALIDITY' ? '<uidvalidity>' : n === 'HIGHESTMODSEQ' ? '<modseq>' : show(list[k + 1]!);
      items.push(`${n} ${v}`);
    }
    return [`* STATUS ${show(name!)} (${items.sort().join(' ')})`];
  }
  if ((u = /^\* (LIST|LSUB) \(([^)]*)\) (.*)$/is.exec(r)) !== null) {
    const attrs = u[2]!.split(' ').filter((x) => x !== '').sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
    return [`* ${u[1]!.toUpperCase()} (${attrs.join(' ')}) ${u[3]}`];
  }
  if ((u = /^\* (FLAGS) (.*)$/i.exec(r)) !== null) return [`* FLAGS ${show(sortFlags(tree(tokens(u[2]!))[0] ?? []))}`];
  if ((u = /^\* (ENABLED)(.*)$/i.exec(r)) !== null) return [`* ENABLED${u[2]!.split(' ').filter((x) => x !== '').sort().map((x) => ` ${x.toUpperCase()}`).join('')}`];
  if ((u = /^\* VANISHED (\(EARLIER\) )?(\S+)$/i.exec(r)) !== null) return [`* VANISHED ${u[1] ?? ''}${canonicalSet(u[2]!)}`];
  return [r];
}

function capabilities(list: string, prefix: string): string[] {
  return list.split(' ').filter((x) => x !== '').map((c) => `${prefix} ${c.toUpperCase()}`).sort();
}

/** One command's responses → normal lines: untagged sorted, the tagged response's lines last. */
export function normalise(responses: readonly string[]): string[] {
  const tagged = responses.length > 0 && !responses[responses.length - 1]!.startsWith('* ') ? responses[responses.length - 1]! : null;
  const untagged = (tagged === null ? responses : responses.slice(0, -1)).flatMap(normaliseOne);
  if (tagged === null) return untagged.sort();
  const [status, ...more] = normaliseOne(tagged);
  return [...untagged, ...more].sort().concat(status!);
}
