/**
 * The WebMail proxy's pure pieces: its options resolved from the config (defaults, units, every
 * attribute, the user map by name, authenticateOnProxy without a map that checks passwords
 * refused), and the affinity record and cookie rewriting (affinity.ts), the back-end keys
 * (backends.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { optionsOf } from '../../src/config/options.ts';
import { isPosternError } from '../../src/errors.ts';
import { backendSessionCookie, decodeAffinity, encodeAffinity, withBackendCookie } from '../../src/protocols/webmailProxy/affinity.ts';
import { backendKey, parseBackendKey } from '../../src/protocols/webmailProxy/backends.ts';

const load = (body: string) => loadConfig(`Server {\n${body}\n}\n`);
const proxyOf = (body: string) => optionsOf(load(body).resolved.serviceOptions.webmailProxy, 'webmailProxy');

test('webmailProxy options: defaults', () => {
  const o = proxyOf('webmailProxy = { }');
  assert.equal(o.userMap, null);
  assert.equal(o.mappingHost, '127.0.0.1');
  assert.equal(o.mappingPort, 8080);
  assert.equal(o.authenticateOnProxy, false);
  assert.equal(o.requestQueueSize, 256);
  assert.deepEqual(o.connectionData, { connectTimeoutMs: 10_000, rwTimeoutMs: 60_000, maxConnections: 16, localInterface: null, sslEnable: false, caFile: null, verify: true });
  assert.equal(o.httpBodyMaxSize, 1024 * 1024, 'the HTTP options are there too');
});

test('webmailProxy options: every attribute, in its unit; the user map by name', () => {
  const o = proxyOf(`
    userdb = { ldapConnectors = ( { name = dir urls = ( "ldap://127.0.0.1:3890" ) baseDn = "dc=example,dc=test" } ) }
    userMaps = ( { name = routes type = file path = "/etc/users.map" } { name = people type = ldapBind ldapConnector = dir } )
    webmailProxy = {
      userMap = people  authenticateOnProxy = yes  requestQueueSize = 3
      mappingData = { mappingHost = "10.0.0.3" mappingPort = 8081 }
      connectionData = { connectTimeout = 2 rwTimeout = 7 maxConnections = 4 localInterface = 127.0.0.2 sslEnable = yes caFile = "/etc/ca.pem" verify = no }
    }`);
  assert.equal(o.userMap?.name, 'people');
  assert.equal(o.userMap?.type, 'ldapBind');
  assert.equal(o.authenticateOnProxy, true);
  assert.equal(o.requestQueueSize, 3);
  assert.equal(o.mappingHost, '10.0.0.3');
  assert.equal(o.mappingPort, 8081);
  assert.deepEqual(o.connectionData, { connectTimeoutMs: 2000, rwTimeoutMs: 7000, maxConnections: 4, localInterface: '127.0.0.2', sslEnable: true, caFile: '/etc/ca.pem', verify: false });
  assert.equal(proxyOf('userMaps = ( { name = routes type = file path = "/m" } ) webmailProxy = { userMap = none }').userMap, null);
});

test('authenticateOnProxy needs a map that checks passwords; an unknown map is an error', () => {
  const refused = (body: string): string => {
    try {
      load(body);
    } catch (e) {
      assert.ok(isPosternError(e));
      return `${e.code}: ${e.message}`;
    }
    throw new Error('expected a config error');
  };
  assert.match(refused('webmailProxy = { authenticateOnProxy = yes }'), /CONFIG_RANGE.*needs an ldapPassword or ldapBind userMap/);
  assert.match(refused('userMaps = ( { name = routes type = file path = "/m" } ) webmailProxy = { userMap = routes authenticateOnProxy = yes }'), /file map/);
  assert.match(refused('webmailProxy = { userMap = nowhere }'), /CONFIG_MISSING.*nowhere/);
  assert.match(refused('webmailProxy = { requestQueueSize = 100001 }'), /CONFIG_RANGE/);
});

test('the affinity record rides in the session and the cookie carries the back end token', () => {
  const token = 'T'.repeat(43);
  const rec = encodeAffinity({ backend: '127.0.0.3:8080', token, login: 'ann example@example.org' });
  assert.deepEqual(decodeAffinity(rec), { backend: '127.0.0.3:8080', token, login: 'ann example@example.org' });
  assert.deepEqual(decodeAffinity(encodeAffinity({ backend: '[::1]:80', token, login: 'x' }))?.backend, '[::1]:80');
  for (const bad of ['ann@example.org', `wmproxy1 nohost ${token} a`, 'wmproxy1 127.0.0.1:80 short a', `wmproxy0 127.0.0.1:80 ${token} a`, `wmproxy1 127.0.0.1:99999 ${token} a`]) {
    assert.equal(decodeAffinity(bad), null, bad);
  }
  assert.equal(withBackendCookie('theme=dark; postern_session=abc; lang=en', token), `theme=dark; lang=en; postern_session=${token}`);
  assert.equal(withBackendCookie(['postern_session=a', 'postern_session=b'], token), `postern_session=${token}`);
  assert.equal(withBackendCookie(undefined, token), `postern_session=${token}`);
  assert.equal(backendSessionCookie(`postern_session=${token}; Path=/; HttpOnly`), token);
  assert.equal(backendSessionCookie('postern_session=; Path=/; HttpOnly; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT'), '');
  assert.equal(backendSessionCookie('other=1; Path=/'), null);
});

test('back-end keys', () => {
  assert.equal(backendKey({ host: '10.0.0.3', port: 8080 }), '10.0.0.3:8080');
  assert.equal(backendKey({ host: '::1', port: 80 }), '[::1]:80');
  assert.deepEqual(parseBackendKey('[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(parseBackendKey('mail-b.example.com:8443'), { host: 'mail-b.example.com', port: 8443 });
  for (const bad of ['x', 'a:0', 'a:70000', 'a b:80', 'http://a:80']) assert.equal(parseBackendKey(bad), null, bad);
});
