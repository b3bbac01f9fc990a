/**
 * userdb/index.ts: the user maps' entry point: `openUserMap(options, log)` builds the map a
 * service's options name (config/options.ts UserMapOptions, resolved from the Server's
 * `userMaps` by name): a file map (userdb/file.ts), or an LDAP Password / LDAP Bind map over its
 * connector (userdb/ldap.ts: ldapts, a pool of connections over the connector's URL list for
 * failover, a bounded TTL cache of answers). Contract: userdb/types.ts.
 *
 * Connectors are shared per thread: every map (and every back-end login, `ldapConnectorFor`) over
 * the same connector options uses one pool and one cache, until the last user closes it.
 *
 * Exports: `openUserMap(options, log)`, `ldapConnectorFor(options, log)` (a shared connector:
 * release it with its `close()`), `flushUserdbCaches()` (every shared connector's cache, in
 * every thread),
 * types `UserMap`, `UserRoute`, `LdapConnectorHandle`, `DirEntry`, the class `LdapConnector`.
 * Throws nothing itself; the maps reject as userdb/types.ts says.
 */
import { BroadcastChannel } from 'node:worker_threads';
import type { LdapConnectorOptions, UserMapOptions } from '../config/options.ts';
import type { Logger } from '../log.ts';
import { openFileMap } from './file.ts';
import { LdapConnector, ldapMap } from './ldap.ts';
import type { LdapConnectorHandle } from './ldap.ts';
import type { UserMap } from './types.ts';

export type { UserMap, UserRoute } from './types.ts';
export { LdapConnector } from './ldap.ts';
export type { DirEntry, LdapConnectorHandle } from './ldap.ts';

interface Shared {
  connector: LdapConnector;
  users: number;
}
const shared = new Map<string, Shared>();

/** `ctl userdb flush` reaches every thread's connectors through this channel. */
const FLUSH_CHANNEL = 'postern.userdb.flush';
let channel: BroadcastChannel | null = null;
function listenForFlush(): void {
  if (channel !== null) return;
  channel = new BroadcastChannel(FLUSH_CHANNEL);
  channel.onmessage = () => void flushThisThread();
  channel.unref();
}
function flushThisThread(): number {
  let n = 0;
  for (const s of shared.values()) n += s.connector.flush();
  return n;
}

/** The thread's connector for `options` (one per distinct options), counted: each caller
 * releases its share with the handle's `close()`; the last one closes the pool. */
export function ldapConnectorFor(options: LdapConnectorOptions, log: Logger): LdapConnectorHandle {
  const key = JSON.stringify(options);
  let s = shared.get(key);
  if (s === undefined || s.connector.closed) {
    s = { connector: new LdapConnector(options, log), users: 0 };
    shared.set(key, s);
  }
  s.users++;
  listenForFlush();
  const entry = s;
  const c = entry.connector;
  let released = false;
  return {
    name: c.name,
    options: c.options,
    get closed() { return released || c.closed; },
    find: (login) => c.find(login),
    compare: (login, password) => c.compare(login, password),
    bindAs: (login, password) => c.bindAs(login, password),
    flush: () => c.flush(),
    async close(): Promise<void> {
      if (released) return;
      released = true;
      if (--entry.users === 0) {
        if (shared.get(key) === entry) shared.delete(key);
        await c.close();
      }
    },
  };
}

/** Empty the answer cache of every connector (`ctl userdb flush`): this thread's at once (the
 * number of answers dropped), every other thread's by a message on a BroadcastChannel (a busy
 * thread flushes when its event loop next turns). */
export function flushUserdbCaches(): number {
  const n = flushThisThread();
  const c = new BroadcastChannel(FLUSH_CHANNEL);
  c.postMessage('flush');
  c.close();
  return n;
}

/** The map `options` describes. */
export function openUserMap(options: UserMapOptions, log: Logger): UserMap {
  if (options.type === 'file') return openFileMap(options.name, options.path, log);
  return ldapMap(options.name, options.type, ldapConnectorFor(options.connector, log));
}
