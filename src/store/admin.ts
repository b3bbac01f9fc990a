/**
 * store/admin.ts: the control verbs of the store (`postern ctl domain …|account …|store
 * compact`), as a frozen table keyed by verb. Results are plain JSON (a quota of Infinity is
 * written `null`: unlimited); failures are PosternErrors with their store codes.
 *
 *   'domain.add' {name, postmasterPassword?} → DomainInfo and `postmaster` (its address); the
 *                                    domain's postmaster account is created with the password
 *                                    given, else a random one, returned once as
 *                                    `postmasterPassword` (RFC 5321 §4.5.1; seed: CREATE Domain)
 *   'domain.list'                  → DomainInfo[]
 *   'domain.remove' {name}         → { name }                (STORE_DOMAIN_NOT_EMPTY if in use)
 *   'account.add' {address, password, quotaBytes?, quotaMessages?, cramMd5? (default true)} → account
 *   'account.list' {domain?}       → accounts with usage
 *   'account.passwd' {address, password} → { address }
 *   'account.remove' {address}     → { address }
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
 * Throws: CONTROL_BAD_REQUEST (unknown verb, missing or mistyped argument), the store's codes.
 */
import { randomBytes } from 'node:crypto';
import { PosternError } from '../errors.ts';
import type { AccountInfo, DomainInfo } from './directory.ts';
import type { Store } from './store.ts';

type Args = Record<string, unknown>;

function str(args: Args, key: string): string {
  const v = args[key];
  if (typeof v !== 'string' || v.length === 0) throw new PosternError('CONTROL_BAD_REQUEST', `missing argument "${key}"`, { argument: key });
  return v;
}

function optNum(args: Args, key: string): number | undefined {
  const v = args[key];
  if (v === undefined || v === null) return v === null ? Infinity : undefined;
  if (typeof v !== 'number') throw new PosternError('CONTROL_BAD_REQUEST', `argument "${key}" must be a number or null (unlimited)`, { argument: key });
  return v;
}

const lim = (n: number): number | null => (Number.isFinite(n) ? n : null);

function accountJson(store: Store, a: AccountInfo): Record<string, unknown> {
  const u = store.usage(a);
  return {
    address: a.address, enabled: a.enabled, messages: u.messages, bytes: u.bytes,
    quotaBytes: lim(a.quotaBytes), quotaMessages: lim(a.quotaMessages), services: a.services, cramMd5: a.cramMd5,
  };
}

const domainJson = (d: DomainInfo): Record<string, unknown> => ({ name: d.name, enabled: d.enabled, primary: d.primary, accounts: d.accounts });

const VERBS: ReadonlyMap<string, (store: Store, args: Args) => Promise<unknown>> = new Map<string, (store: Store, args: Args) => Promise<unknown>>([
  ['domain.add', async (s, a) => {
    const given = a.postmasterPassword === undefined ? undefined : str(a, 'postmasterPassword');
    const password = given ?? randomBytes(12).toString('base64url');
    const d = await s.directory.addDomain(str(a, 'name'), { postmasterPassword: password });
    return { ...domainJson(d), postmaster: `postmaster@${d.name}`, ...(given === undefined ? { postmasterPassword: password } : {}) };
  }],
  ['domain.list', async (s) => s.directory.listDomains().map(domainJson)],
  ['domain.remove', async (s, a) => {
    await s.directory.removeDomain(str(a, 'name'));
    return { name: str(a, 'name').toLowerCase() };
  }],
  ['account.add', async (s, a) => {
    const opts: Parameters<Store['directory']['addAccount']>[1] = { password: str(a, 'password') };
    const qb = optNum(a, 'quotaBytes');
    const qm = optNum(a, 'quotaMessages');
    if (qb !== undefined) opts.quotaBytes = qb;
    if (qm !== undefined) opts.quotaMessages = qm;
    if (typeof a.cramMd5 === 'boolean') opts.cramMd5 = a.cramMd5; // default: on
    return accountJson(s, await s.directory.addAccount(str(a, 'address'), opts));
  }],
  ['account.list', async (s, a) => {
    const d = a.domain === undefined ? undefined : str(a, 'domain');
    return s.directory.listAccounts(d).map((x) => accountJson(s, x));
  }],
  ['account.passwd', async (s, a) => {
    await s.directory.setPassword(str(a, 'address'), str(a, 'password'));
    return { address: s.directory.resolve(str(a, 'address')).address };
  }],
  ['account.remove', async (s, a) => {
    const address = s.directory.qualify(str(a, 'address')).address;
    await s.directory.removeAccount(address);
    return { address };
  }],
  ['store.compact', async (s) => s.compact({ force: true })],
  ['queue.list', async (s) => s.queue.list()],
  ['queue.stats', async (s) => s.queue.metrics()],
  ['queue.show', async (s, a) => s.queue.show(str(a, 'id'))],
  ['queue.retry', async (s, a) => s.queue.retry(str(a, 'id'))],
  ['queue.delete', async (s, a) => s.queue.remove(str(a, 'id'))],
  ['admin.passwd', async (s, a) => {
    await s.directory.setAdminPassword(str(a, 'password'));
    return { user: 'admin' };
  }],
]);

export const STORE_ADMIN_VERBS: readonly string[] = Object.freeze([...VERBS.keys()]);

export async function storeAdmin(store: Store, verb: string, args: Args = {}): Promise<unknown> {
  const fn = VERBS.get(verb);
  if (fn === undefined) throw new PosternError('CONTROL_BAD_REQUEST', `unknown store verb "${verb}"`, { verb });
  if (args === null || typeof args !== 'object') throw new PosternError('CONTROL_BAD_REQUEST', 'args must be an object');
  return fn(store, args);
}
