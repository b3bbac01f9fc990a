/**
 * protocols/smtp/routing.ts: cluster SMTP routing on a front end's smtpIncoming (inventory §19,
 * issue 16 §4): with `enableSmtpRouting yes`, a recipient the service's user map knows
 * (`mappingData.userMap`) is accepted at RCPT even when it is no local account, and queued with
 * its back end as the next hop (QueueRcpt.hop): smtpOutgoing relays it there (no MX lookup),
 * with the durability of any queued message (the record is synced before the 250).
 *  - the map names `host:port`: that back end; a host alone: `host:mappingPort`;
 *  - no entry: null (the recipient follows the ordinary rules: local, relay, refused);
 *  - no map configured (`userMap` none) but a `mappingHost`: every recipient goes there;
 *  - a map that cannot be asked (LDAP down or slow, the map not built): rejects, and RCPT
 *    answers 451 4.4.3 (the sender retries).
 * The map is opened once per thread and per options object; a reload's new options open a new
 * one and close the old.
 *
 * Exports: `routeRecipient(mapping, address, log)`. Rejects with PosternError
 * USERDB_UNAVAILABLE (the map cannot answer now) or USERDB_BAD_ENTRY (an entry naming no usable
 * host or port).
 */
import { PosternError, isPosternError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import type { SmtpMappingData, UserMapOptions } from '../../config/options.ts';
import type { NextHop } from '../../store/queue-record.ts';
import { openUserMap, type UserMap } from '../../userdb/index.ts';

/** This thread's open map per options object; a reload hands a new object, and the map it
 * replaces is closed (a lookup in flight on it may fail once: 451, retried by the sender). */
let current: { m: SmtpMappingData; map: UserMap } | null = null;
const maps = new WeakMap<SmtpMappingData, UserMap>();

function mapOf(m: SmtpMappingData, options: UserMapOptions, log: Logger): UserMap {
  let map = maps.get(m);
  if (map === undefined) {
    try {
      map = openUserMap(options, log);
    } catch (e) {
      // a map that cannot be opened (misconfigured, not built) is a temporary failure of RCPT
      throw isPosternError(e, 'USERDB_UNAVAILABLE') ? e : new PosternError('USERDB_UNAVAILABLE', `user map ${options.name} cannot be opened: ${e instanceof Error ? e.message : String(e)}`);
    }
    maps.set(m, map);
    const old = current;
    current = { m, map };
    if (old !== null) old.map.close().catch((e: unknown) => log.warn({ err: e }, 'smtp: closing the replaced user map failed'));
  }
  return map;
}

/** The back end of `address`, or null (not routed). */
export async function routeRecipient(m: SmtpMappingData, address: string, log: Logger): Promise<NextHop | null> {
  if (m.userMap === null) return m.mappingHost !== null ? { host: m.mappingHost, port: m.mappingPort } : null;
  const route = await mapOf(m, m.userMap, log).lookup(address);
  if (route === null) return null;
  const port = route.port ?? m.mappingPort;
  if (route.host === '' || !Number.isInteger(port) || port < 1 || port > 65535) throw new PosternError('USERDB_BAD_ENTRY', `user map entry of ${address.slice(0, 256)} names no usable back end`);
  return { host: route.host, port };
}
