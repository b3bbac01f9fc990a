/**
 * test/userdb/config.test.ts: the Server's `userdb` and `userMaps` (config/schema.ts,
 * config/model.ts checkUserdb, config/resolve.ts): defaults and units of an LDAP connector, a map
 * with its connector embedded, `userdbConnectorType/Name` on the services with logins, and one
 * test per cross-reference error (unknown connector, unknown map, duplicate names, bad URL).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { optionsOf } from '../../src/config/options.ts';
import type { PosternError } from '../../src/errors.ts';

const load = (body: string) => loadConfig(`Server {\n${body}\n}\n`);
function fail(body: string): PosternError {
  try { load(body); } catch (e) { return e as PosternError; }
  throw new Error('expected a config error');
}

const CONNECTOR = `userdb = { ldapConnectors = ( { name = dir urls = ( "ldap://127.0.0.1:3890" "ldap://127.0.0.1:3891" ) bindDn = "cn=postern,dc=example,dc=test" bindPassword = "pw" baseDn = "dc=example,dc=test" } ) }`;

test('an LDAP connector resolves with its defaults and units', () => {
  const { resolved } = load(CONNECTOR);
  assert.deepEqual(resolved.ldapConnectors, [{
    name: 'dir', urls: ['ldap://127.0.0.1:3890', 'ldap://127.0.0.1:3891'], bindDn: 'cn=postern,dc=example,dc=test', bindPassword: 'pw',
    baseDn: 'dc=example,dc=test', searchFilter: '(mail=%u)', mailHostAttribute: 'mailHost', startTls: false, caFile: null,
    timeoutMs: 5000, poolSize: 4, cacheTtlMs: 60_000, cacheSize: 10000,
  }]);
  const { resolved: r2 } = load(`userdb = { ldapConnectors = ( { name = d2 urls = ( "ldaps://ldap.example.test" ) baseDn = "o=x" searchFilter = "(&(uid=%u)(dc=%d))" mailHostAttribute = "host" startTls = yes caFile = "/ca.pem" timeout = 2 poolSize = 1 cacheTtl = 0 cacheSize = 0 } ) }`);
  const c = r2.ldapConnectors[0]!;
  assert.deepEqual([c.bindDn, c.bindPassword, c.searchFilter, c.mailHostAttribute, c.startTls, c.caFile, c.timeoutMs, c.poolSize, c.cacheTtlMs, c.cacheSize],
    [null, '', '(&(uid=%u)(dc=%d))', 'host', true, '/ca.pem', 2000, 1, null, 0]);
});

test('user maps resolve with their connector embedded; services name a connector for their logins', () => {
  const { resolved } = load(`${CONNECTOR}
userMaps = ( { name = routes type = file path = "/etc/postern/users.map" } { name = pw type = ldapPassword ldapConnector = dir } { name = bind type = ldapBind ldapConnector = dir } )
pop3 = { userdbConnectorType = ldap userdbConnectorName = dir }
imap = { userdbConnectorType = ldap userdbConnectorName = dir }
smtpIncoming = { userdbConnectorType = ldap userdbConnectorName = dir }
webmail = { userdbConnectorType = ldap userdbConnectorName = dir }`);
  assert.deepEqual(resolved.userMaps.map((m) => [m.name, m.type]), [['routes', 'file'], ['pw', 'ldapPassword'], ['bind', 'ldapBind']]);
  const m = resolved.userMaps[0]!;
  assert.equal(m.type === 'file' && m.path, '/etc/postern/users.map');
  const b = resolved.userMaps[2]!;
  assert.equal(b.type !== 'file' && b.connector.name, 'dir');
  for (const s of ['pop3', 'imap', 'smtpIncoming', 'webmail'] as const) {
    const p = resolved.serviceOptions[s].protocol as { userdbConnector: { name: string } | null };
    assert.equal(p.userdbConnector?.name, 'dir', s);
  }
  const plain = load('');
  assert.equal(optionsOf(plain.resolved.serviceOptions.pop3, 'pop3').userdbConnector, null, 'local by default');
  assert.deepEqual(plain.resolved.userMaps, []);
});

test('a map naming an unknown connector is a config error naming the line and the defined ones', () => {
  const e = fail(`${CONNECTOR}\nuserMaps = ( { name = pw type = ldapPassword ldapConnector = nope } )`);
  assert.equal(e.code, 'CONFIG_MISSING');
  assert.match(e.message, /line 3, column \d+: Server\.userMaps\[0\]\.ldapConnector: LDAP connector "nope" is not defined .*\(defined: dir\)/);
  assert.match(fail(`${CONNECTOR}\nuserMaps = ( { name = pw type = ldapBind } )`).message, /needs an ldapConnector/);
  assert.match(fail('userMaps = ( { name = f type = file } )').message, /a file user map needs a path/);
});

test('a service naming an unknown map or connector is a config error', () => {
  const e = fail(`${CONNECTOR}\npop3 = { userdbConnectorType = ldap userdbConnectorName = other }`);
  assert.equal(e.code, 'CONFIG_MISSING');
  assert.match(e.message, /Server\.pop3\.userdbConnectorName: LDAP connector "other" is not defined/);
  assert.match(fail('imap = { userdbConnectorType = ldap }').message, /needs a userdbConnectorName/);
});

test('names are unique and one word; URLs are ldap:// or ldaps://', () => {
  assert.equal(fail(`${CONNECTOR}\nuserMaps = ( { name = a type = file path = x } { name = a type = file path = y } )`).code, 'CONFIG_DUPLICATE');
  assert.match(fail('userMaps = ( { name = "a b" type = file path = x } )').message, /one word without spaces/);
  assert.match(fail('userMaps = ( { name = none type = file path = x } )').message, /reserved/);
  assert.match(fail('userdb = { ldapConnectors = ( { name = d urls = ( "http://x" ) baseDn = "o=x" } ) }').message, /expected ldap:\/\/host\[:port\]/);
  assert.equal(fail(`userdb = { ldapConnectors = ( { name = d urls = ( "ldap://a" ) baseDn = "o=x" } { name = d urls = ( "ldap://b" ) baseDn = "o=x" } ) }`).code, 'CONFIG_DUPLICATE');
});
