/**
 * protocols/ftp/folder-index.ts: the per-folder index file of the backup tree, `%index.txt`
 * beside a folder's messages: what a message file cannot carry, i.e. its UID, internal date
 * and flags, so a restore reproduces the folder exactly. Text, one line per message in UID
 * order after a comment line:
 *
 *   # Postern folder index: uid internal-date(ms since the epoch) size flags…
 *   1 1704103200000 1234 \Seen \Flagged
 *   7 1704103260000 881
 *
 * Its name starts with `%`, which sorts before the digits of the message files (so a client
 * uploading a directory in name order, as lftp's `mirror -R` does, sends it first) and is never
 * the encoding of a folder name (paths.ts), so no child folder can take it.
 *
 * Exports: `INDEX_FILE`, `IndexEntry`, `encodeIndex(messages)`, `decodeIndex(bytes)` (the
 * entries by UID, or why the file is refused), `MAX_INDEX_ENTRIES`. Throws nothing.
 */
import { MAX_UID } from '../../store/types.ts';

export const INDEX_FILE = '%index.txt';
export const MAX_INDEX_ENTRIES = 1_000_000;
const HEAD = '# Postern folder index: uid internal-date(ms since the epoch) size flags…';
/** An IMAP flag or keyword (RFC 3501 flag: `\` atom or atom). */
// eslint-disable-next-line no-control-regex
const FLAG_RE = /^\\?[^\s(){%*"\\\]\u0000-\u001f\u007f]{1,100}$/;
const LINE_RE = /^([1-9]\d{0,9}) (0|[1-9]\d{0,15}) (0|[1-9]\d{0,15})((?: [^ ]+)*)$/;

export interface IndexEntry {
  uid: number;
  internalDate: number;
  size: number;
  flags: string[];
}

export function encodeIndex(messages: ReadonlyArray<{ uid: number; internalDate: number; size: number; flags: readonly string[] }>): Buffer {
  const lines = [HEAD];
  for (const m of messages) lines.push([m.uid, Math.floor(m.internalDate), m.size, ...m.flags.filter((f) => f !== '\\Recent')].join(' '));
  return Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}

/** The entries by UID (ascending), or the reason the file is not an index. */
export function decodeIndex(bytes: Buffer): Map<number, IndexEntry> | string {
  const text = bytes.toString('utf8');
  if (!text.startsWith('# Postern folder index')) return 'it does not start with "# Postern folder index"';
  const out = new Map<number, IndexEntry>();
  const lines = text.split(/\r?\n/);
  let last = 0;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    if (l === '' && i === lines.length - 1) break;
    const m = LINE_RE.exec(l);
    if (m === null) return `line ${i + 1} is not "uid internal-date size flags…"`;
    const uid = Number(m[1]);
    if (uid > MAX_UID || uid <= last) return `line ${i + 1}: UIDs must ascend and be at most ${MAX_UID}`;
    const flags = m[4]!.split(' ').filter((f) => f !== '');
    const bad = flags.find((f) => !FLAG_RE.test(f));
    if (bad !== undefined) return `line ${i + 1}: "${bad.slice(0, 40)}" is not a flag`;
    if (out.size >= MAX_INDEX_ENTRIES) return `more than ${MAX_INDEX_ENTRIES} messages`;
    out.set(uid, { uid, internalDate: Number(m[2]), size: Number(m[3]), flags });
    last = uid;
  }
  return out;
}
