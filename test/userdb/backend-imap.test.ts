/**
 * test/userdb/backend-imap.test.ts: an IMAP back end whose logins are checked by LDAP Bind
 * (`userdbConnectorType = ldap` on imap) against a real slapd, driven by Python's imaplib:
 * LOGIN with the directory's password selects the local INBOX, the store's password is refused,
 * CAPABILITY lists no AUTH=CRAM-MD5 / AUTH=SCRAM-SHA-256, AUTHENTICATE PLAIN works, and a frozen
 * directory answers `NO [UNAVAILABLE]` within the connector's timeout.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLdapServer, type LdapServer } from '../ldap-server.ts';
import { startImap, type ImapEnv } from '../imap/helpers.ts';
import { message, python } from '../pop3/helpers.ts';

let ldap: LdapServer;
let env: ImapEnv;
const ANN = 'ann@example.org';

before(async () => {
  ldap = await startLdapServer({ users: [{ mail: ANN, password: 'ann-directory-pw', scheme: 'ssha', mailHost: '127.0.0.3' }] });
  env = await startImap({
    server: `userdb = { ldapConnectors = ( { name = dir urls = ( "${ldap.url}" ) bindDn = "${ldap.bindDn}" bindPassword = "${ldap.bindPassword}" baseDn = "${ldap.baseDn}" timeout = 1 } ) }`,
    imap: 'userdbConnectorType = ldap userdbConnectorName = dir authCacheSize = 0', // the directory's own answers (the cache: test/proxy/ldap-cache.test.ts)
  });
  await env.addUser(ANN, 'ann-local-pw', { cramMd5: true });
  await env.deliver(ANN, message('through LDAP'));
});
after(async () => { await env?.stop(); await ldap?.stop(); });

const PY = `
import imaplib, os, json, time
HOST, PORT, USER = '127.0.0.1', int(os.environ['PORT']), os.environ['USER_NAME']
out = {}
def login(pw):
    m = imaplib.IMAP4(HOST, PORT, timeout=20)
    t0 = time.monotonic()
    try:
        m.login(USER, pw)
        n = m.select('INBOX')[1][0].decode()
        m.logout()
        return {'ok': n, 'ms': (time.monotonic() - t0) * 1000}
    except imaplib.IMAP4.error as e:
        return {'err': str(e), 'ms': (time.monotonic() - t0) * 1000}
mode = os.environ['MODE']
if mode == 'up':
    out['dir'] = login('ann-directory-pw')
    out['local'] = login('ann-local-pw')
    m = imaplib.IMAP4(HOST, PORT, timeout=20)
    out['caps'] = list(m.capabilities)
    typ, _ = m.authenticate('PLAIN', lambda _: ('\\0' + USER + '\\0ann-directory-pw').encode())
    out['plain'] = typ
    m.logout()
else:
    out['down'] = login('ann-directory-pw')
print(json.dumps(out))
`;
const run = async (mode: string): Promise<Record<string, any>> => JSON.parse(await python(PY, { PORT: String(env.port), USER_NAME: ANN, MODE: mode }));

test('IMAP LOGIN and AUTHENTICATE PLAIN by LDAP Bind; no stored-secret mechanisms offered', async () => {
  const out = await run('up');
  assert.equal(out.dir.ok, '1');
  assert.match(out.local.err, /AUTHENTICATIONFAILED|failed/i);
  assert.ok(out.caps.includes('AUTH=PLAIN'), out.caps.join(' '));
  assert.ok(!out.caps.includes('AUTH=CRAM-MD5') && !out.caps.includes('AUTH=SCRAM-SHA-256'), out.caps.join(' '));
  assert.equal(out.plain, 'OK');
});

test('a frozen directory: NO [UNAVAILABLE] within the timeout', async () => {
  await ldap.pause();
  try {
    const out = await run('down');
    assert.match(out.down.err, /UNAVAILABLE/);
    assert.ok(out.down.ms < 3 * 1000 + 3000, `${out.down.ms} ms`);
  } finally {
    ldap.resume();
  }
});
