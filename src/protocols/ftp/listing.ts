/**
 * protocols/ftp/listing.ts: how directory entries are written: LIST lines (the `ls -l` form
 * FTP clients parse), NLST names, MLSD/MLST facts (RFC 3659 §7) and MDTM times (UTC).
 *
 * Exports: `Entry`, `listLine(entry, now)`, `mlsxLine(entry)`, `mdtmTime(ms)`.
 * Throws nothing.
 */

export interface Entry {
  name: string;
  dir: boolean;
  size: number;
  mtime: number; // ms since the epoch
  /** RFC 3659 perm fact letters (r w d a c e f l m p). */
  perm: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SIX_MONTHS_MS = 182 * 86_400_000;
const p2 = (n: number): string => String(n).padStart(2, '0');

/** `drwxr-xr-x 1 postern postern 0 Jan 02 03:04 name` (older than six months or in the future:
 * the year instead of the time, as ls does). */
export function listLine(e: Entry, now: number): string {
  const d = new Date(e.mtime);
  const recent = e.mtime <= now + 3_600_000 && now - e.mtime < SIX_MONTHS_MS;
  const when = `${MONTHS[d.getUTCMonth()]} ${p2(d.getUTCDate())} ${recent ? `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}` : ` ${d.getUTCFullYear()}`}`;
  const mode = e.dir ? 'drwxr-xr-x' : e.perm.includes('w') ? '-rw-r--r--' : '-r--r--r--';
  return `${mode} 1 postern postern ${String(e.size).padStart(12)} ${when} ${e.name}`;
}

/** YYYYMMDDHHMMSS (UTC; RFC 3659 time-val). */
export function mdtmTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}`;
}

/** `type=file;size=12;modify=20240102030405;perm=rd; name` */
export function mlsxLine(e: Entry): string {
  const size = e.dir ? '' : `size=${e.size};`;
  return `type=${e.dir ? 'dir' : 'file'};${size}modify=${mdtmTime(e.mtime)};perm=${e.perm}; ${e.name}`;
}
