/**
 * userdb/index.ts: the user maps' entry point: `openUserMap(options, log)` builds the map a
 * service's options name (a file map, or an LDAP map over its connector: ldapts, a pool of
 * connections over the connector's URL list for failover, a bounded TTL cache of answers).
 * Contract: userdb/types.ts.
 *
 * Exports: `openUserMap`. Throws NOT_IMPLEMENTED until built (issue 16).
 */
import { PosternError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { UserMap } from './types.ts';

export type { UserMap, UserRoute } from './types.ts';

/** The map of `options` (config/options.ts UserMapOptions, resolved from the Server's
 * `userMaps` by name). */
export function openUserMap(options: unknown, log: Logger): UserMap {
  void options;
  void log;
  throw new PosternError('NOT_IMPLEMENTED', 'user maps are not built yet');
}
