/**
 * test/userdb/backend-smtp.test.ts: SMTP AUTH on a back end whose smtpIncoming checks passwords
 * by LDAP Bind (`userdbConnectorType = ldap`) against a real slapd, driven by Python's smtplib:
 * EHLO offers AUTH PLAIN LOGIN only (no CRAM-MD5/SCRAM), the directory's password authenticates
 * (235) and the store's is refused (535), a frozen directory is 454 within the timeout.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer, type Server } from '../../actors/server.ts';
import { python, testCert } from '../smtp/helpers.ts';
import { tmpDir } from '../helpers.ts';
import { startLdapServer, type LdapServer } from '../ldap-server.ts';

let ldap: LdapServer;
let server: Server;
const ANN = 'ann@example.org';

before(async () => {
  ldap = await startLdapServer({ users: [{ mail: ANN, password: 'ann-directory-pw', scheme: 'ssha', mailHost: '127.0.0.3' }] });
  const { cert, key } = testCert();
  server = await startServer({
    configText: `Server { services = (smtpIncoming processing) primaryDomain = "example.org" statusListener = 127.0.0.1:0 logLevel = error
      userdb = { ldapConnectors = ( { name = dir urls = ( "${ldap.url}" ) bindDn = "${ldap.bindDn}" bindPassword = "${ldap.bindPassword}" baseDn = "${ldap.baseDn}" timeout = 1 } ) }
      smtpIncoming = { listeners = ( { address = 127.0.0.1:0 sslControl = { certFile = "${cert}" keyFile = "${key}" } } ) authFailureDelay = 0 userdbConnectorType = ldap userdbConnectorName = dir } }`,
    dataDir: tmpDir(), statusPort: 0, controlSocket: false,
  });
  await server.admin('account.add', { address: ANN, password: 'ann-local-pw', cramMd5: true });
});
after(async () => { await server?.stop(); await ldap?.stop(); });

const script = (pw: string): string => `
import smtplib, json, time
s = smtplib.SMTP('127.0.0.1', ${server.port('smtpIncoming')}, timeout=20)
s.ehlo('client.example')
out = {'auth': s.esmtp_features.get('auth', '')}
t0 = time.monotonic()
try:
    code, _ = s.login('${ANN}', '${pw}')
    out['code'] = code
except smtplib.SMTPAuthenticationError as e:
    out['code'] = e.smtp_code
out['ms'] = (time.monotonic() - t0) * 1000
s.quit()
print(json.dumps(out))
`;
async function login(pw: string): Promise<{ auth: string; code: number; ms: number }> {
  const r = await python(script(pw));
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('SMTP AUTH by LDAP Bind: PLAIN/LOGIN only; the directory\'s password, not the store\'s', async () => {
  const ok = await login('ann-directory-pw');
  assert.deepEqual(ok.auth.trim().split(/\s+/).sort(), ['LOGIN', 'PLAIN']);
  assert.equal(ok.code, 235);
  assert.equal((await login('ann-local-pw')).code, 535);
});

test('a frozen directory: 454 within the timeout', async () => {
  await ldap.pause();
  try {
    const r = await login('ann-directory-pw');
    assert.equal(r.code, 454);
    assert.ok(r.ms < 3 * 1000 + 3000, `${r.ms} ms`);
  } finally {
    ldap.resume();
  }
});
