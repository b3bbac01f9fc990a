/**
 * test/userdb/backend-webmail.test.ts: a WebMail back end whose logins are checked by LDAP Bind
 * (`userdbConnectorType = ldap` on webmail) against a real slapd, over HTTP: the directory's
 * password logs in (303 to the Inbox), the store's does not (the login page again), and a frozen
 * directory gives the "cannot be checked now" page (503) within the connector's timeout.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLdapServer, type LdapServer } from '../ldap-server.ts';
import { browser, startReadServer, type ReadEnv } from '../webmail/read-helpers.ts';

let ldap: LdapServer;
let env: ReadEnv;
const ANN = 'ann@example.org';

before(async () => {
  ldap = await startLdapServer({ users: [{ mail: ANN, password: 'ann-directory-pw', scheme: 'ssha', mailHost: '127.0.0.3' }] });
  env = await startReadServer({
    server: `userdb = { ldapConnectors = ( { name = dir urls = ( "${ldap.url}" ) bindDn = "${ldap.bindDn}" bindPassword = "${ldap.bindPassword}" baseDn = "${ldap.baseDn}" timeout = 1 } ) }`,
    webmail: 'userdbConnectorType = ldap userdbConnectorName = dir authCacheSize = 0', // the directory's own answers (the cache: test/proxy/ldap-cache.test.ts)
  });
  await env.addUser(ANN, 'ann-local-pw');
});
after(async () => { await env?.stop(); await ldap?.stop(); });

test('WebMail login by LDAP Bind: the directory\'s password, not the store\'s', async () => {
  assert.equal((await browser(env.base).login(ANN, 'ann-directory-pw')).status, 303);
  assert.equal((await browser(env.base).login(ANN, 'ann-local-pw')).status, 200, 'the login page again');
});

test('a frozen directory: 503 "cannot be checked now" within the timeout', async () => {
  await ldap.pause();
  try {
    const t0 = Date.now();
    const r = await browser(env.base).login(ANN, 'ann-directory-pw');
    assert.equal(r.status, 503);
    assert.ok(Date.now() - t0 < 3 * 1000 + 3000, `${Date.now() - t0} ms`);
  } finally {
    ldap.resume();
  }
  assert.equal((await browser(env.base).login(ANN, 'ann-directory-pw')).status, 303, 'served again');
});
