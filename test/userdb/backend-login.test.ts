/**
 * test/userdb/backend-login.test.ts: a back end whose POP3 logins are checked by LDAP Bind
 * (`userdbConnectorType = ldap`, auth/login.ts step 3) against a real slapd, driven by Python's
 * poplib: the directory's password logs in (and the store's does not), an account the store does
 * not have fails even with the directory's password, CAPA offers no CRAM-MD5/SCRAM and AUTH
 * PLAIN works, a killed directory is `-ERR [SYS/TEMP]` within the connector's timeout (and
 * counts as no failure), a restarted one serves again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startLdapServer, type LdapServer } from '../ldap-server.ts';
import { message, python, startPop3, type Pop3Env } from '../pop3/helpers.ts';

let ldap: LdapServer;
let env: Pop3Env;
const ANN = 'ann@example.org';

before(async () => {
  ldap = await startLdapServer({ users: [
    { mail: ANN, password: 'ann-directory-pw', scheme: 'ssha', mailHost: '127.0.0.3' },
    { mail: 'ghost@example.org', password: 'ghost-pw', scheme: 'ssha', mailHost: '127.0.0.3' },
  ] });
  env = await startPop3({
    server: `userdb = { ldapConnectors = ( { name = dir urls = ( "${ldap.url}" ) bindDn = "${ldap.bindDn}" bindPassword = "${ldap.bindPassword}" baseDn = "${ldap.baseDn}" timeout = 1 } ) }`,
    pop3: 'userdbConnectorType = ldap userdbConnectorName = dir authCacheSize = 0', // the directory's own answers (the cache: test/proxy/ldap-cache.test.ts)
  });
  await env.addUser(ANN, 'ann-local-pw', { cramMd5: true });
  await env.deliver(ANN, message('through LDAP'));
});
after(async () => { await env?.stop(); await ldap?.stop(); });

const PRELUDE = `
import poplib, base64, os, json, time
HOST, PORT = '127.0.0.1', int(os.environ['PORT'])
out = {}
def login(user, pw):
    p = poplib.POP3(HOST, PORT, timeout=20)
    t0 = time.monotonic()
    try:
        p.user(user)
        r = p.pass_(pw).decode()
        n = p.stat()[0]
        p.quit()
        return {'ok': r, 'count': n, 'ms': (time.monotonic() - t0) * 1000}
    except poplib.error_proto as e:
        return {'err': e.args[0].decode(), 'ms': (time.monotonic() - t0) * 1000}
`;
const run = async (body: string): Promise<Record<string, any>> =>
  JSON.parse(await python(`${PRELUDE}${body}\nprint(json.dumps(out))`, { PORT: String(env.port) }));

test('POP3 login checked by LDAP Bind: the directory\'s password, not the store\'s; the account must exist locally', async () => {
  const out = await run(`
out['dir'] = login('${ANN}', 'ann-directory-pw')
out['local'] = login('${ANN}', 'ann-local-pw')
out['ghost'] = login('ghost@example.org', 'ghost-pw')
p = poplib.POP3(HOST, PORT, timeout=20)
out['capa'] = {k.decode() if isinstance(k, bytes) else k: [x.decode() if isinstance(x, bytes) else x for x in v] for k, v in p.capa().items()}
r = p._shortcmd('AUTH PLAIN ' + base64.b64encode(b'\\0${ANN}\\0ann-directory-pw').decode())
out['plain'] = r.decode()
p.quit()
`);
  assert.match(out.dir.ok, /^\+OK/);
  assert.equal(out.dir.count, 1);
  assert.match(out.local.err, /^-ERR/, 'the store\'s password does not count');
  assert.match(out.ghost.err, /^-ERR/, 'in the directory, not in the store: no mailbox, no login');
  const sasl: string[] = out.capa.SASL ?? [];
  assert.ok(sasl.includes('PLAIN'), JSON.stringify(out.capa));
  assert.ok(!sasl.includes('CRAM-MD5') && !sasl.includes('SCRAM-SHA-256'), `no stored-secret mechanisms with an LDAP connector: ${sasl}`);
  assert.match(out.plain, /^\+OK/);
});

test('the directory down: -ERR [SYS/TEMP] within the timeout; back up: logins work again', async () => {
  await ldap.kill();
  try {
    const out = await run(`out['down'] = login('${ANN}', 'ann-directory-pw')`);
    assert.match(out.down.err, /^-ERR \[SYS\/TEMP\]/);
    assert.ok(out.down.ms < 1000 + 4000, `${out.down.ms} ms`);
  } finally {
    await ldap.restart();
  }
  const out = await run(`out['up'] = login('${ANN}', 'ann-directory-pw')`);
  assert.match(out.up.ok, /^\+OK/);
});
