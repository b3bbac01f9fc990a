/**
 * test/userdb/tls.test.ts: an LDAP connector over TLS to a real slapd with a throwaway
 * certificate: ldaps:// and StartTLS on ldap:// with `caFile` work (slapd's log shows the
 * StartTLS operation), and the same directory without the CA (the system's, which do not know
 * it) is USERDB_UNAVAILABLE, never a silent plain-text fallback.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import type { LdapConnectorOptions } from '../../src/config/options.ts';
import type { Logger } from '../../src/log.ts';
import { LdapConnector } from '../../src/userdb/ldap.ts';
import { startLdapServer, type LdapServer } from '../ldap-server.ts';

const log: Logger = pino({ level: 'silent' });
let ldap: LdapServer;
before(async () => { ldap = await startLdapServer({ tls: true }); });
after(async () => { await ldap?.stop(); });

async function find(o: Partial<LdapConnectorOptions>): Promise<unknown> {
  const c = new LdapConnector({
    name: 'tls', urls: [ldap.url], bindDn: ldap.bindDn, bindPassword: ldap.bindPassword, baseDn: ldap.baseDn,
    searchFilter: '(mail=%u)', mailHostAttribute: 'mailHost', startTls: false, caFile: null,
    timeoutMs: 3000, poolSize: 1, cacheTtlMs: null, cacheSize: 0, ...o,
  }, log);
  try {
    const e = await c.find('alice@example.test');
    return (await c.bindAs('bob@example.test', 'bob-secret')) ? e : 'bind failed';
  } finally {
    await c.close();
  }
}

test('ldaps:// with caFile', async () => {
  assert.deepEqual(await find({ urls: [ldap.ldapsUrl!], caFile: ldap.caFile }), { dn: 'uid=alice,ou=people,dc=example,dc=test', mail: 'alice@example.test', mailHost: '127.0.0.3' });
});

test('StartTLS on ldap:// with caFile; slapd saw the StartTLS request', async () => {
  const before = ldap.log().filter((l) => l.includes('oid=1.3.6.1.4.1.1466.20037')).length;
  assert.equal((await find({ startTls: true, caFile: ldap.caFile }) as { mailHost: string }).mailHost, '127.0.0.3');
  const after = ldap.log().filter((l) => l.includes('oid=1.3.6.1.4.1.1466.20037')).length;
  assert.ok(after >= before + 1, 'an EXT StartTLS operation in the access log');
});

test('a certificate the CA list does not know: USERDB_UNAVAILABLE (ldaps:// and StartTLS)', async () => {
  await assert.rejects(find({ urls: [ldap.ldapsUrl!] }), { code: 'USERDB_UNAVAILABLE' });
  await assert.rejects(find({ startTls: true }), { code: 'USERDB_UNAVAILABLE' });
});
