/**
 * test/userdb/ldap.test.ts: the LDAP connector and the LDAP Password / LDAP Bind maps
 * (src/userdb/ldap.ts) against a real slapd (test/ldap-server.ts): lookups (host, host:port, no
 * mailHost, unknown, a filter-injection attempt), the cache (a warm answer while slapd is frozen;
 * flush), failover to the second URL, a frozen or killed slapd → USERDB_UNAVAILABLE within the
 * timeout and a restarted one served again, right and wrong passwords by compare and by bind,
 * a refused service bind, an anonymous connector that reads nothing, and the pool's bound.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { LdapConnectorOptions, UserMapOptions } from '../../src/config/options.ts';
import type { Logger } from '../../src/log.ts';
import { openUserMap, type UserMap } from '../../src/userdb/index.ts';
import { LdapConnector } from '../../src/userdb/ldap.ts';
import { freePort, waitFor } from '../helpers.ts';
import { startLdapServer, type LdapServer } from '../ldap-server.ts';

const log: Logger = pino({ level: 'silent' });
let ldap: LdapServer;
before(async () => { ldap = await startLdapServer(); });
after(async () => { await ldap?.stop(); });

function connector(o: Partial<LdapConnectorOptions> = {}): LdapConnectorOptions {
  return {
    name: 'dir', urls: [ldap.url], bindDn: ldap.bindDn, bindPassword: ldap.bindPassword, baseDn: ldap.baseDn,
    searchFilter: '(mail=%u)', mailHostAttribute: 'mailHost', startTls: false, caFile: null,
    timeoutMs: 1000, poolSize: 4, cacheTtlMs: 60_000, cacheSize: 100, ...o,
  };
}
const maps: UserMap[] = [];
function map(type: 'ldapPassword' | 'ldapBind', o: Partial<LdapConnectorOptions> = {}): UserMap {
  const m = openUserMap({ name: type, type, connector: connector(o) } as UserMapOptions, log);
  maps.push(m);
  return m;
}
after(async () => { await Promise.all(maps.map((m) => m.close())); });

/** How long `p` takes to settle, and its error. */
async function timed(p: Promise<unknown>): Promise<{ ms: number; err: { code?: string } | null }> {
  const t0 = Date.now();
  try { await p; return { ms: Date.now() - t0, err: null }; } catch (e) { return { ms: Date.now() - t0, err: e as { code?: string } }; }
}

test('lookup: mailHost host and host:port, the entry\'s mail; unknown users null; no mailHost is a bad entry', async () => {
  const m = map('ldapPassword');
  assert.deepEqual(await m.lookup('alice@example.test'), { host: '127.0.0.3', port: null, user: 'alice@example.test' });
  assert.deepEqual(await m.lookup('BOB@example.test'), { host: '127.0.0.4', port: 1110, user: 'bob@example.test' });
  await assert.rejects(m.lookup('carol@example.test'), { code: 'USERDB_BAD_ENTRY' });
  assert.equal(await m.lookup('nobody@example.test'), null);
  assert.equal(await m.lookup('*'), null, 'a * in the login is escaped, not a wildcard');
  assert.equal(await m.lookup('*)(mail=*'), null);
  const d = map('ldapPassword', { searchFilter: '(&(mail=%u)(mail=*@%d))' });
  assert.equal((await d.lookup('dave@other.test'))?.host, '127.0.0.3', '%d is the domain');
});

test('cache: a warm answer needs no directory (slapd frozen); flush empties it; failures are not cached', async () => {
  const m = map('ldapBind', { timeoutMs: 700 });
  const c = new LdapConnector(connector({ timeoutMs: 700 }), log);
  try {
    assert.equal((await c.find('alice@example.test'))?.mailHost, '127.0.0.3');
    assert.equal(c.searches, 1);
    assert.equal((await c.find('Alice@Example.test'))?.mailHost, '127.0.0.3');
    assert.equal(c.searches, 1, 'the second lookup is a cache hit');
    await m.lookup('alice@example.test');
    await ldap.pause();
    try {
      assert.equal((await m.lookup('alice@example.test'))?.host, '127.0.0.3', 'answered from the cache while slapd is frozen');
      const r = await timed(m.lookup('dave@other.test'));
      assert.equal(r.err?.code, 'USERDB_UNAVAILABLE');
      assert.ok(r.ms < 700 + 2000, `a frozen directory costs the timeout, not more (${r.ms} ms)`);
      assert.equal(c.flush(), 1);
      assert.equal((await timed(c.find('alice@example.test'))).err?.code, 'USERDB_UNAVAILABLE', 'flushed: asked again');
    } finally {
      ldap.resume();
    }
    assert.equal((await m.lookup('dave@other.test'))?.host, '127.0.0.3', 'the failure was not cached');
  } finally {
    await c.close();
  }
});

test('failover: a dead first URL, the second answers', async () => {
  const dead = `ldap://127.0.0.1:${await freePort()}`;
  const m = map('ldapPassword', { urls: [dead, ldap.url], cacheSize: 0 });
  assert.equal((await m.lookup('alice@example.test'))?.host, '127.0.0.3');
  assert.equal(await m.authenticate('alice@example.test', 'alice-secret'), true);
  const none = map('ldapPassword', { urls: [dead], cacheSize: 0 });
  assert.equal((await timed(none.lookup('alice@example.test'))).err?.code, 'USERDB_UNAVAILABLE');
});

test('slapd killed: USERDB_UNAVAILABLE within the timeout, never a hang; restarted: served again', async () => {
  const m = map('ldapBind', { cacheSize: 0, timeoutMs: 1000 });
  assert.equal((await m.lookup('alice@example.test'))?.host, '127.0.0.3');
  await ldap.kill();
  for (const f of [() => m.lookup('alice@example.test'), () => m.authenticate('bob@example.test', 'bob-secret')]) {
    const r = await timed(f());
    assert.equal(r.err?.code, 'USERDB_UNAVAILABLE');
    assert.ok(r.ms < 1000 + 2000, `${r.ms} ms`);
  }
  await ldap.restart();
  assert.equal((await m.lookup('alice@example.test'))?.host, '127.0.0.3', 'the pool reconnects after a restart');
  assert.equal(await m.authenticate('bob@example.test', 'bob-secret'), true);
});

test('LDAP Password compares as the service account; LDAP Bind binds as the user', async () => {
  const pw = map('ldapPassword');
  assert.equal(await pw.authenticate('alice@example.test', 'alice-secret'), true);
  assert.equal(await pw.authenticate('alice@example.test', 'wrong'), false);
  assert.equal(await pw.authenticate('bob@example.test', 'bob-secret'), false, 'a hashed password cannot be compared: LDAP Bind is for those');
  assert.equal(await pw.authenticate('nobody@example.test', 'x'), false);
  const bind = map('ldapBind');
  assert.equal(await bind.authenticate('bob@example.test', 'bob-secret'), true);
  assert.equal(await bind.authenticate('bob@example.test', 'wrong'), false);
  assert.equal(await bind.authenticate('bob@example.test', ''), false, 'an empty password is never an anonymous bind');
  assert.equal(await bind.authenticate('alice@example.test', 'alice-secret'), true);
  assert.equal(await bind.authenticate('nobody@example.test', 'x'), false);
  // a user added live is found (no negative answer was cached for it)
  await ldap.addUser({ mail: 'frank@example.test', password: 'frank-secret', scheme: 'ssha', mailHost: '127.0.0.4' });
  assert.equal(await bind.authenticate('frank@example.test', 'frank-secret'), true);
});

test('a refused service bind is USERDB_UNAVAILABLE; an anonymous connector reads nothing', async () => {
  const refused = map('ldapPassword', { bindPassword: 'not-the-password' });
  const r = await timed(refused.lookup('alice@example.test'));
  assert.equal(r.err?.code, 'USERDB_UNAVAILABLE');
  assert.match(String((r.err as Error).message), /refused the service account/);
  const anon = map('ldapPassword', { bindDn: null, bindPassword: '' });
  assert.equal(await anon.lookup('alice@example.test'), null, 'the ACL gives anonymous users nothing');
  assert.equal(await anon.authenticate('alice@example.test', 'alice-secret'), false);
});

test('the pool: poolSize connections at most however many lookups run at once', async () => {
  const c = new LdapConnector(connector({ poolSize: 2, cacheSize: 0 }), log);
  try {
    let max = 0;
    const n = 16;
    const tag = `pool${Date.now()}`;
    const all = Array.from({ length: n }, (_, i) => c.find(`${tag}-${i}@example.test`).finally(() => { max = Math.max(max, c.connections); }));
    const tick = setInterval(() => { max = Math.max(max, c.connections); }, 1);
    try { assert.deepEqual(await Promise.all(all), Array(n).fill(null)); } finally { clearInterval(tick); }
    assert.ok(max <= 2, `${max} connections`);
    // slapd's own view: the connections that carried these searches
    const mine = () => ldap.log().filter((l) => l.includes(`filter="(mail=${tag}-`));
    await waitFor(() => mine().length >= n, 5000, 'slapd logged every search');
    const conns = new Set(mine().map((l) => /conn=(\d+)/.exec(l)![1]));
    assert.ok(conns.size <= 2, `slapd served them on ${conns.size} connections`);
  } finally {
    await c.close();
  }
});

test('a frozen directory with every pooled connection busy: each waiting lookup fails within the timeout', async () => {
  const c = new LdapConnector(connector({ poolSize: 1, cacheSize: 0, timeoutMs: 500 }), log);
  try {
    assert.equal(await c.find('nobody@example.test'), null); // one pooled connection, bound
    await ldap.pause();
    try {
      const t0 = Date.now();
      const rs = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => c.find(`waiter${i}@example.test`)));
      const ms = Date.now() - t0;
      for (const r of rs) assert.equal(r.status === 'rejected' && (r.reason as { code?: string }).code, 'USERDB_UNAVAILABLE');
      assert.ok(ms < 3 * 500 + 2000, `${ms} ms for all five`);
      assert.ok(c.connections <= 1);
    } finally {
      ldap.resume();
    }
    assert.equal(await c.find('nobody2@example.test'), null, 'works again once slapd runs');
  } finally {
    await c.close();
  }
});

test('an anonymous connector fails over too (its bind is the first operation)', async () => {
  const dead = `ldap://127.0.0.1:${await freePort()}`;
  const c = new LdapConnector(connector({ urls: [dead, ldap.url], bindDn: null, bindPassword: '', cacheSize: 0 }), log);
  try {
    assert.equal(await c.find('alice@example.test'), null, 'anonymous: the ACL hides everything');
    assert.equal(await c.bindAs('bob@example.test', 'bob-secret'), false, 'no entry found, so no bind');
  } finally {
    await c.close();
  }
});
