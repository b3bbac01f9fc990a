/**
 * store/admin.ts: the store's side of the admin command registry (admin/commands.ts: the
 * commands with `side: 'store'`, `postern ctl domain …|account …|queue …|store compact`), run in
 * the store thread. The registry names them and checks their arguments; this file holds their
 * handlers, one per store command (`StoreHandlers`: a command missing here does not
 * type-check). Results are plain JSON (a quota of Infinity is written `null`: unlimited);
 * failures are PosternErrors with their store codes.
 *
 *   'domain.add' {name, postmasterPassword?} → DomainInfo and `postmaster` (its address); the
 *                                    domain's postmaster account is created with the password
 *                                    given, else a random one, returned once as
 *                                    `postmasterPassword` (RFC 5321 §4.5.1; seed: CREATE Domain)
 *   'domain.list'                  → DomainInfo[]
 *   'domain.remove' {name}         → { name }                (STORE_DOMAIN_NOT_EMPTY if in use)
 *   'domain.dkim' {name, selector?, algorithm? (rsa|ed25519, default rsa)} → { domain, selector,
 *                                    algorithm, txt, record }: a new DKIM key (store/dkim.ts),
 *                                    replacing any, durable before the reply; `record` is the
 *                                    TXT record to publish
 *   'account.add' {address, password, quotaBytes?, quotaMessages?, cramMd5? (default true)} → account
 *   'account.list' {domain?}       → accounts with usage
 *   'account.passwd' {address, password} → { address }
 *   'account.remove' {address}     → { address }
 *   'account.update' {address, quotaBytes?, quotaMessages?, enabled?} → the account (null: unlimited)
 *   'account.rpop.add' {address, host, port, username, password, tls?, folder?, interval?, keep?, enabled?}
 *                                  → the connection (store/rpop.ts; the password shown `***`)
 *   'account.rpop.list' {address}  → the account's connections, with their last outcome
 *   'account.rpop.remove' {address, id} → { address, id } (RPOP_NO_SUCH_CONNECTION)
 *   'store.compact' {}             → { segmentsRemoved, bytesCopied, bytesFreed }
 *   'admin.passwd' {password}      → { user: 'admin' }      the server admin's password (the
 *                                    ftpBackup login), stored scrypt-hashed in the directory
 *
 *   'queue.list' {}                → the queued messages (id, from, rcpts, size, status, attempts, …)
 *   'queue.stats' {}               → QueueMetrics: entries, pending, deferred, waiting, oldest age, counters
 *   'queue.show' {id}              → one message: envelope, each recipient's status, its headers
 *   'queue.retry' {id}             → due now                 (QUEUE_NO_SUCH_ENTRY, QUEUE_ENTRY_BUSY)
 *   'queue.delete' {id}            → { id }: out of the queue, undelivered
 *
 * Exports: `storeAdmin(store, verb, args)`, `STORE_ADMIN_VERBS`.
 * Throws: CONTROL_BAD_REQUEST (unknown verb, missing or mistyped argument: checked by the
 * registry's schema), the store's codes.
 */
import { randomBytes } from 'node:crypto';
import { PosternError } from '../errors.ts';
import { checkArgs, command, type StoreHandlers } from '../admin/commands.ts';
import { dkimTxtRecord, dkimTxtValue, generateDkimKey } from './dkim.ts';
import type { AccountInfo, DomainInfo } from './directory.ts';
import type { Store } from './store.ts';
import type { RpopInfo, RpopInput } from './rpop.ts';

type Args = Record<string, unknown>;

/** A string argument (checked by the registry: present and non-empty when read). */
const str = (args: Args, key: string): string => args[key] as string;

/** A `limit` argument: a number, null for unlimited (Infinity), undefined when not given. */
function optNum(args: Args, key: string): number | undefined {
  const v = args[key] as number | null | undefined;
  return v === null ? Infinity : v;
}

const lim = (n: number): number | null => (Number.isFinite(n) ? n : null);

function accountJson(store: Store, a: AccountInfo): Record<string, unknown> {
  const u = store.usage(a);
  return {
    address: a.address, enabled: a.enabled, messages: u.messages, bytes: u.bytes,
    quotaBytes: lim(a.quotaBytes), quotaMessages: lim(a.quotaMessages), services: a.services, cramMd5: a.cramMd5,
  };
}

/** A connection as ctl shows it: the password only as `***`. */
const rpopJson = (r: RpopInfo): Record<string, unknown> => ({ ...r, password: '***' });

const domainJson = (d: DomainInfo): Record<string, unknown> => ({ name: d.name, enabled: d.enabled, primary: d.primary, accounts: d.accounts });

const HANDLERS: StoreHandlers<Store> = {
  'domain.add': async (s, a) => {
    const given = a.postmasterPassword === undefined ? undefined : str(a, 'postmasterPassword');
    const password = given ?? randomBytes(12).toString('base64url');
    const d = await s.directory.addDomain(str(a, 'name'), { postmasterPassword: password });
    return { ...domainJson(d), postmaster: `postmaster@${d.name}`, ...(given === undefined ? { postmasterPassword: password } : {}) };
  },
  'domain.list': async (s) => s.directory.listDomains().map(domainJson),
  'domain.remove': async (s, a) => {
    await s.directory.removeDomain(str(a, 'name'));
    return { name: str(a, 'name').toLowerCase() };
  },
  'domain.dkim': async (s, a) => {
    const d = s.directory.getDomain(str(a, 'name'));
    const key = generateDkimKey(d.name, { selector: a.selector === undefined ? undefined : str(a, 'selector'), algorithm: a.algorithm === undefined ? undefined : str(a, 'algorithm') });
    await s.directory.setDkimKey(d.name, key);
    return { domain: key.domain, selector: key.selector, algorithm: key.algorithm, txt: dkimTxtValue(key), record: dkimTxtRecord(key) };
  },
  'account.add': async (s, a) => {
    const opts: Parameters<Store['directory']['addAccount']>[1] = { password: str(a, 'password') };
    const qb = optNum(a, 'quotaBytes');
    const qm = optNum(a, 'quotaMessages');
    if (qb !== undefined) opts.quotaBytes = qb;
    if (qm !== undefined) opts.quotaMessages = qm;
    if (typeof a.cramMd5 === 'boolean') opts.cramMd5 = a.cramMd5; // default: on
    return accountJson(s, await s.directory.addAccount(str(a, 'address'), opts));
  },
  'account.list': async (s, a) => {
    const d = a.domain === undefined ? undefined : str(a, 'domain');
    return s.directory.listAccounts(d).map((x) => accountJson(s, x));
  },
  'account.passwd': async (s, a) => {
    await s.directory.setPassword(str(a, 'address'), str(a, 'password'));
    return { address: s.directory.resolve(str(a, 'address')).address };
  },
  'account.remove': async (s, a) => {
    const address = s.directory.qualify(str(a, 'address')).address;
    await s.directory.removeAccount(address);
    return { address };
  },
  'account.update': async (s, a) => {
    const changes: Parameters<Store['directory']['updateAccount']>[1] = {};
    const qb = optNum(a, 'quotaBytes');
    const qm = optNum(a, 'quotaMessages');
    if (qb !== undefined) changes.quotaBytes = qb;
    if (qm !== undefined) changes.quotaMessages = qm;
    if (typeof a.enabled === 'boolean') changes.enabled = a.enabled;
    return accountJson(s, await s.directory.updateAccount(str(a, 'address'), changes));
  },
  'account.rpop.add': async (s, a) => {
    const acct = s.directory.resolve(str(a, 'address'));
    const input: RpopInput = { host: str(a, 'host'), port: a.port as number, username: str(a, 'username'), password: str(a, 'password') };
    if (a.tls !== undefined) input.tls = a.tls as RpopInput['tls'];
    if (a.folder !== undefined) input.folder = str(a, 'folder');
    if (a.interval !== undefined) input.interval = a.interval as number;
    if (a.keep !== undefined) input.leaveOnServer = a.keep === true;
    if (a.enabled !== undefined) input.enabled = a.enabled === true;
    return rpopJson(await s.rpop.add(acct.id, acct.address, input));
  },
  'account.rpop.list': async (s, a) => {
    const acct = s.directory.resolve(str(a, 'address'));
    return s.rpop.list(acct.id, () => acct.address).map(rpopJson);
  },
  'account.rpop.remove': async (s, a) => {
    const acct = s.directory.resolve(str(a, 'address'));
    await s.rpop.remove(acct.id, a.id as number);
    return { address: acct.address, id: a.id };
  },
  'store.compact': async (s) => s.compact({ force: true }),
  'queue.list': async (s) => s.queue.list(),
  'queue.stats': async (s) => s.queue.metrics(),
  'queue.show': async (s, a) => s.queue.show(str(a, 'id')),
  'queue.retry': async (s, a) => s.queue.retry(str(a, 'id')),
  'queue.delete': async (s, a) => s.queue.remove(str(a, 'id')),
  'admin.passwd': async (s, a) => {
    await s.directory.setAdminPassword(str(a, 'password'));
    return { user: 'admin' };
  },
};

export const STORE_ADMIN_VERBS: readonly string[] = Object.freeze(Object.keys(HANDLERS));

export async function storeAdmin(store: Store, verb: string, args: Args = {}): Promise<unknown> {
  const spec = command(verb);
  if (spec?.side !== 'store') throw new PosternError('CONTROL_BAD_REQUEST', `unknown store verb "${verb}"`, { verb });
  checkArgs(spec, args);
  return HANDLERS[spec.name as keyof typeof HANDLERS](store, args);
}
