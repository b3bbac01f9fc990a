/**
 * protocols/ftp/paths.ts: path arithmetic of the FTP virtual tree, with no store access.
 *
 * A path is resolved against the working directory into a list of names under the virtual
 * root, like a chroot: `..` never climbs above `/`, `.` and empty components are dropped, an
 * absolute path starts at the virtual root. There are no links, so a resolved list of names is
 * the whole truth. Refused outright (and counted as a bad command by the caller): NUL and other
 * control characters, backslashes, a path longer than MAX_PATH_BYTES, a name longer than
 * MAX_NAME_BYTES, more than MAX_DEPTH names.
 *
 * Names in the tree are store names (local parts, folder components) with `%`, `/` and `\`
 * percent-encoded (`%25`, `%2F`, `%5C`), so a local part holding `/` is still one name; a
 * name that is not in that exact encoding matches nothing.
 *
 * Exports: `resolvePath(cwd, arg)`, `formatPath(names)`, `quotePath(path)` (RFC 959 257 style),
 * `encodeName`, `decodeName`, `MAX_PATH_BYTES`, `MAX_NAME_BYTES`, `MAX_DEPTH`, `PathResult`.
 * Throws nothing.
 */

export const MAX_PATH_BYTES = 1024;
export const MAX_NAME_BYTES = 255;
export const MAX_DEPTH = 32;

export type PathResult = { ok: true; names: string[] } | { ok: false; why: string };

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function resolvePath(cwd: readonly string[], arg: string): PathResult {
  if (arg.includes('\0')) return { ok: false, why: 'a path may not contain NUL' };
  if (CONTROL.test(arg)) return { ok: false, why: 'a path may not contain control characters' };
  if (arg.includes('\\')) return { ok: false, why: 'a path may not contain backslashes' };
  // (a UTF-16 unit is at most 3 UTF-8 bytes: short strings need no count)
  if (arg.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(arg, 'utf8') > MAX_PATH_BYTES) return { ok: false, why: `path longer than ${MAX_PATH_BYTES} bytes` };
  const names = arg.startsWith('/') ? [] : [...cwd];
  for (const part of arg.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      names.pop(); // at the root, `..` is the root
      continue;
    }
    if (part.length * 3 > MAX_NAME_BYTES && Buffer.byteLength(part, 'utf8') > MAX_NAME_BYTES) return { ok: false, why: `name longer than ${MAX_NAME_BYTES} bytes` };
    names.push(part);
    if (names.length > MAX_DEPTH) return { ok: false, why: `path deeper than ${MAX_DEPTH} names` };
  }
  return { ok: true, names };
}

export function formatPath(names: readonly string[]): string {
  return `/${names.join('/')}`;
}

/** `"path"` with embedded quotes doubled (RFC 959 appendix II). */
export function quotePath(p: string): string {
  return `"${p.replace(/"/g, '""')}"`;
}

export function encodeName(s: string): string {
  return s.replace(/[%/\\]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** The store name a tree name stands for; null if `n` is not exactly how a name is encoded. */
export function decodeName(n: string): string | null {
  const s = n.replace(/%(25|2F|5C)/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
  return encodeName(s) === n ? s : null;
}
