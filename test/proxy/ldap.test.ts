/**
 * test/proxy/ldap.test.ts: the proxies with LDAP user maps over a real slapd (test/ldap-server.ts):
 * the directory checks the password on the proxy (authenticateOnProxy = yes: LDAP Password for
 * POP3, comparing a clear userPassword; LDAP Bind for IMAP, binding with an {SSHA} one) and
 * routes by `mailHost` (a host alone: the proxy's mappingPort) to a real Postern back end. A
 * wrong password is refused on the proxy; the directory down is a temporary error, never a hang.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { pop3 } from '../pop3/helpers.ts';
import { imap, tagged, type ImapEnv } from '../imap/helpers.ts';
import { startLdapServer, type LdapServer } from '../ldap-server.ts';
import { python, startBackend, startFront, type Front } from './helpers.ts';

let back: ImapEnv;
let ldap: LdapServer;
let front: Front;

before(async () => {
  back = await startBackend(['l1@example.org', 'l2@example.org']);
  ldap = await startLdapServer({
    users: [
      { mail: 'l1@example.org', password: 'pw-l1', scheme: 'clear', mailHost: '127.0.0.1' },
      { mail: 'l2@example.org', password: 'pw-l2', scheme: 'ssha', mailHost: '127.0.0.1' },
      { mail: 'l3@example.org', password: 'pw-l3', scheme: 'clear' }, // no mailHost
    ],
  });
  front = await startFront({
    server: `userdb = { ldapConnectors = ( { name = "dir" urls = ("${ldap.url}") bindDn = "${ldap.bindDn}" bindPassword = "${ldap.bindPassword}" baseDn = "${ldap.baseDn}" timeout = 2 } ) }
      userMaps = ( { name = "pw" type = ldapPassword ldapConnector = "dir" } { name = "bind" type = ldapBind ldapConnector = "dir" } )`,
    both: 'authenticateOnProxy = yes authCacheSize = 0 connectionData = { rwTimeout = 2 }', // the directory's own answers (the cache: ldap-cache.test.ts)
    pop3: `userMap = "pw" mappingData = { mappingPort = ${back.pop3Port} }`,
    imap: `userMap = "bind" mappingData = { mappingPort = ${back.port} }`,
  });
});

after(async () => {
  await front?.stop();
  await back?.stop();
  await ldap?.stop();
});

test('LDAP Password (POP3) and LDAP Bind (IMAP): the directory checks the password and mailHost routes to the back end', async () => {
  const out = await python(`
import poplib, imaplib, os
p = poplib.POP3('127.0.0.1', int(os.environ['POP']))
p.user('l1@example.org'); p.pass_('pw-l1')
print([l for l in p.retr(1)[1] if l.startswith(b'Subject:')][0].decode()); p.quit()
m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']))
m.login('l2@example.org', 'pw-l2'); m.select('INBOX', readonly=True)
print(m.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')[1][0][1].decode().strip()); m.logout()
`, { POP: String(front.pop3), IMAP: String(front.imap) });
  assert.deepEqual(out.trim().split('\n'), ['Subject: hello l1@example.org', 'Subject: hello l2@example.org']);
});

test('a wrong password is refused by the directory on the proxy', async () => {
  const c = await pop3(front.pop3);
  assert.match(await c.login('l1@example.org', 'nope'), /^-ERR \[AUTH\]/);
  c.close();
  const i = await imap(front.imap);
  assert.match(tagged(await i.run('LOGIN l2@example.org nope')), /^NO \[AUTHENTICATIONFAILED\]/);
  i.close();
});

test('an entry without mailHost has no back end: a permanent error', async () => {
  const c = await pop3(front.pop3);
  assert.match(await c.login('l3@example.org', 'pw-l3'), /^-ERR \[SYS\/PERM\] /);
  c.close();
});

test('the directory down: logins fail temporarily within a bound, nothing hangs', async () => {
  await ldap.kill();
  const t0 = Date.now();
  const c = await pop3(front.pop3);
  assert.match(await c.login('l1@example.org', 'pw-l1'), /^-ERR \[SYS\/TEMP\] /);
  c.close();
  const i = await imap(front.imap);
  assert.match(tagged(await i.run('LOGIN l2@example.org pw-l2', 't1', 20_000)), /^NO \[UNAVAILABLE\] /);
  i.close();
  assert.ok(Date.now() - t0 < 15_000, `bounded (${Date.now() - t0} ms)`);
});
