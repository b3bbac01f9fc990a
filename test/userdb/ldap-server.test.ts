/**
 * test/userdb/ldap-server.test.ts: the slapd fixture itself (test/ldap-server.ts): the service
 * account searches and compares, anonymous users read nothing, users bind with clear and {SSHA}
 * passwords, addUser works live, the access log counts searches, kill/restart keep the data.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from 'ldapts';
import { startLdapServer, userDn, type LdapServer } from '../ldap-server.ts';

let ldap: LdapServer;
before(async () => { ldap = await startLdapServer(); });
after(async () => { await ldap?.stop(); });

async function withClient<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ url: ldap.url, timeout: 3000, connectTimeout: 3000 });
  try { return await fn(c); } finally { await c.unbind().catch(() => undefined); }
}

test('the service account finds users with mailHost and compares userPassword', async () => {
  await withClient(async (c) => {
    await c.bind(ldap.bindDn, ldap.bindPassword);
    const before = ldap.searches();
    const { searchEntries } = await c.search(ldap.baseDn, { filter: '(mail=alice@example.test)', attributes: ['mail', 'mailHost', 'userPassword'] });
    assert.equal(searchEntries.length, 1);
    assert.equal(searchEntries[0]!.mailHost, '127.0.0.3');
    const pw = searchEntries[0]!.userPassword;
    assert.ok(pw === undefined || (Array.isArray(pw) && pw.length === 0), 'the service account never reads passwords');
    assert.equal(await c.compare(searchEntries[0]!.dn, 'userPassword', 'alice-secret'), true);
    assert.equal(await c.compare(searchEntries[0]!.dn, 'userPassword', 'wrong'), false);
    assert.ok(ldap.searches() > before, 'the access log counts the search');
  });
});

test('anonymous users read nothing', async () => {
  await withClient(async (c) => {
    // slapd hides the base itself (noSuchObject) rather than answer an empty list: either way, nothing.
    const entries = await c.search(ldap.baseDn, { filter: '(objectClass=*)' }).then((r) => r.searchEntries, (e: { code?: number }) => (assert.equal(e.code, 32), []));
    assert.equal(entries.length, 0);
    const root = await c.search('', { scope: 'base', filter: '(objectClass=*)' }).then((r) => r.searchEntries, () => []);
    assert.equal(root.length, 0, 'not even the rootDSE');
  });
});

test('users bind with clear and {SSHA} passwords; a wrong password is refused', async () => {
  const bob = ldap.users.find((u) => u.mail === 'bob@example.test')!;
  await withClient((c) => c.bind(userDn(bob), 'bob-secret'));
  await assert.rejects(withClient((c) => c.bind(userDn(bob), 'nope')), /InvalidCredentials|credentials/i);
  const alice = ldap.users.find((u) => u.mail === 'alice@example.test')!;
  await withClient((c) => c.bind(userDn(alice), 'alice-secret'));
});

test('addUser adds live; kill and restart keep the data', async () => {
  const erin = { mail: 'erin@example.test', password: 'erin-secret', scheme: 'ssha' as const, mailHost: '127.0.0.4' };
  await ldap.addUser(erin);
  await ldap.kill();
  await assert.rejects(withClient((c) => c.bind(ldap.bindDn, ldap.bindPassword)));
  await ldap.restart();
  await withClient((c) => c.bind(userDn(erin), 'erin-secret'));
});
