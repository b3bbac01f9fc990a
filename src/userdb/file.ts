/**
 * userdb/file.ts: the `file` user map: a text file of routes, one entry a line,
 *
 *   # comment (a line whose first non-blank character is #; blank lines are skipped)
 *   alice@example.com      10.0.0.3           exact address (matched case-insensitively)
 *   bob@example.com        backend2:1110      host:port ([v6addr]:port for IPv6)
 *   /.*@sales\.example\.com/   10.0.0.4       a regular expression (JavaScript syntax,
 *                                              case-insensitive, matched against the whole login)
 *
 * Exact entries are looked up first; then the regular expressions in file order; the first that
 * matches wins (a repeated exact address: its first line wins). The file is re-read when it
 * changes (its size, mtime, ctime or inode, checked with one stat per lookup, concurrent lookups
 * sharing it); a file that cannot be read or has a bad line keeps the last good version in use
 * and is logged once (per bad version). A file that has never loaded answers every lookup with
 * USERDB_UNAVAILABLE (the front end gives a temporary error rather than a wrong route).
 *
 * Exports: `openFileMap(name, path, log)` → UserMap (userdb/types.ts), `parseMapFile(text)`
 * (pure: the entries, or USERDB_BAD_ENTRY naming the line), `parseHostPort(text)`.
 * Throws: parseMapFile / parseHostPort: USERDB_BAD_ENTRY. The map's `lookup` rejects
 * USERDB_UNAVAILABLE (never loaded); `authenticate` rejects NOT_IMPLEMENTED (a file has no passwords).
 */
import fs from 'node:fs';
import net from 'node:net';
import { PosternError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { UserMap, UserRoute } from './types.ts';

export interface HostPort {
  readonly host: string;
  readonly port: number | null;
}

export interface MapFile {
  readonly exact: ReadonlyMap<string, HostPort>;
  readonly patterns: ReadonlyArray<{ readonly re: RegExp; readonly route: HostPort }>;
}

const HOST_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$/;

/** `host`, `host:port`, `[v6]`, `[v6]:port`, a bare IPv6 address (no port); USERDB_BAD_ENTRY otherwise. */
export function parseHostPort(text: string): HostPort {
  const bad = (why: string): never => { throw new PosternError('USERDB_BAD_ENTRY', `bad host[:port] ${JSON.stringify(text)}: ${why}`, { value: text }); };
  const t = text.trim();
  let host: string;
  let portText: string | null = null;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(t);
  if (v6 !== null) {
    host = v6[1]!;
    portText = v6[2] ?? null;
    if (net.isIPv6(host) === false) bad('not an IPv6 address in brackets');
  } else if (net.isIPv6(t)) {
    host = t;
  } else {
    const i = t.lastIndexOf(':');
    host = i < 0 ? t : t.slice(0, i);
    portText = i < 0 ? null : t.slice(i + 1);
    if (!net.isIPv4(host) && !HOST_RE.test(host)) bad('not a host name or IP address');
  }
  if (portText === null) return { host, port: null };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) bad('port must be 1-65535');
  return { host, port: Number(portText) };
}

/** The entries of a map file; USERDB_BAD_ENTRY naming the first bad line. */
export function parseMapFile(text: string): MapFile {
  const exact = new Map<string, HostPort>();
  const patterns: Array<{ re: RegExp; route: HostPort }> = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const bad = (why: string): never => { throw new PosternError('USERDB_BAD_ENTRY', `line ${i + 1}: ${why}`, { line: i + 1 }); };
    const m = /^(\/.*\/|\S+)\s+(\S+)$/.exec(line);
    if (m === null) bad('expected "address host[:port]" or "/regex/ host[:port]"');
    const [, key, target] = m!;
    let route: HostPort;
    try {
      route = parseHostPort(target!);
    } catch (e) {
      return bad((e as Error).message);
    }
    if (key!.length >= 2 && key!.startsWith('/') && key!.endsWith('/')) {
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${key!.slice(1, -1)})$`, 'i');
      } catch (e) {
        return bad(`bad regular expression: ${(e as Error).message}`);
      }
      patterns.push({ re, route });
    } else {
      const k = key!.toLowerCase();
      if (!exact.has(k)) exact.set(k, route);
    }
  });
  return { exact, patterns };
}

/** The route of `login` in `map`: exact first, then the first matching pattern; null if none. */
export function routeOf(map: MapFile, login: string): HostPort | null {
  const e = map.exact.get(login.toLowerCase());
  if (e !== undefined) return e;
  for (const p of map.patterns) if (p.re.test(login)) return p.route;
  return null;
}

const signature = (s: fs.Stats): string => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

export function openFileMap(name: string, path: string, log: Logger): UserMap {
  let good: MapFile | null = null;
  let goodSig: string | null = null;
  let badSig: string | null = null;
  let pending: Promise<void> | null = null;
  let closed = false;

  const refresh = async (): Promise<void> => {
    let sig: string;
    try {
      sig = signature(await fs.promises.stat(path));
    } catch (e) {
      const s = `missing:${(e as NodeJS.ErrnoException).code ?? ''}`;
      if (badSig !== s) log.warn({ userMap: name, path, err: (e as Error).message }, good === null ? 'user map file cannot be read' : 'user map file cannot be read; the last good version stays in use');
      badSig = s;
      return;
    }
    if (sig === goodSig || sig === badSig) return;
    try {
      const text = await fs.promises.readFile(path, 'utf8');
      const parsed = parseMapFile(text);
      good = parsed;
      goodSig = sig;
      badSig = null;
      log.info({ userMap: name, path, exact: parsed.exact.size, patterns: parsed.patterns.length }, 'user map file loaded');
    } catch (e) {
      badSig = sig;
      log.warn({ userMap: name, path, err: (e as Error).message }, good === null ? 'user map file is bad' : 'user map file is bad; the last good version stays in use');
    }
  };

  const current = async (): Promise<MapFile> => {
    if (closed) throw new PosternError('USERDB_UNAVAILABLE', `user map ${name} is closed`, { userMap: name });
    pending ??= refresh().finally(() => { pending = null; });
    await pending;
    if (good === null) throw new PosternError('USERDB_UNAVAILABLE', `user map ${name}: the file ${path} has never loaded`, { userMap: name, path });
    return good;
  };

  return {
    name,
    type: 'file',
    async lookup(login: string): Promise<UserRoute | null> {
      const r = routeOf(await current(), login);
      return r === null ? null : { host: r.host, port: r.port, user: login };
    },
    authenticate(): Promise<boolean> {
      return Promise.reject(new PosternError('NOT_IMPLEMENTED', `user map ${name} is a file map: it cannot check passwords (use an ldapPassword or ldapBind map, or authenticateOnProxy no)`, { userMap: name }));
    },
    async close(): Promise<void> {
      closed = true;
    },
  };
}
