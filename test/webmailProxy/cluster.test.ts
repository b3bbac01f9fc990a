/**
 * The WebMail proxy routing users to their own back end (curl): two real Postern back ends, a
 * user with mail on each, and the proxy's user map: a file map (each user reaches his own
 * mailbox; a user the map does not know goes to mappingHost:mappingPort), and LDAP maps over a
 * real slapd (test/ldap-server.ts) with `authenticateOnProxy`: LDAP Password and LDAP Bind route
 * by `mailHost`, a wrong password is refused on the proxy (login page, username kept, the back end
 * never asked), and a directory that is down fails the login temporarily (503) without a hang.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir } from '../helpers.ts';
import { startLdapServer, type LdapServer } from '../ldap-server.ts';
import { ANN, BOB, PW, mail, startWebmail, type WebmailEnv } from '../webmail/browser.ts';
import { browser } from '../webmail/read-helpers.ts';
import { closedPort, curl, startProxy } from './helpers.ts';

let a: WebmailEnv;
let b: WebmailEnv;
let portA = 0;
let portB = 0;

before(async () => {
  a = await startWebmail();
  b = await startWebmail();
  portA = Number(new URL(a.base).port);
  portB = Number(new URL(b.base).port);
  // ann's mailbox is on A, bob's on B (both back ends know both accounts: only the map decides)
  await a.deliver(ANN, mail({ from: 'x@example.net', to: ANN, subject: 'Ann on back end A' }));
  await b.deliver(BOB, mail({ from: 'x@example.net', to: BOB, subject: 'Bob on back end B' }));
});
after(async () => {
  await a?.stop();
  await b?.stop();
});

/** The back-end logins WebMail checked so far (its login throttle's count). */
const checked = (env: WebmailEnv): number => env.server.status().services.find((s) => s.name === 'webmail')!.logins?.checked ?? 0;

async function inbox(base: string, user: string, password = PW): Promise<string> {
  const br = browser(base);
  const r = await br.login(user, password);
  assert.equal(r.status, 303, `${user}: ${r.text.slice(0, 300)}`);
  const list = await br.get('/mail?f=INBOX');
  assert.equal(list.status, 200);
  return list.text;
}

test('a file user map: each user reaches the mailbox on his own back end; unmapped users go to mappingData', async () => {
  const dir = tmpDir('postern-wmproxy-map-');
  const file = path.join(dir, 'users.map');
  fs.writeFileSync(file, `# the test cluster\n${ANN} 127.0.0.1:${portA}\n/^bob@.*/ 127.0.0.1:${portB}\n`);
  const px = await startProxy({
    backendPort: await closedPort(), // nobody: a user the map does not know cannot log in
    server: `userMaps = ( { name = routes type = file path = "${file}" } )`,
    extra: 'userMap = routes',
  });
  try {
    const annPage = await inbox(px.base, ANN);
    assert.match(annPage, /Ann on back end A/);
    assert.doesNotMatch(annPage, /Bob on back end B/);
    const bobPage = await inbox(px.base, BOB);
    assert.match(bobPage, /Bob on back end B/);
    assert.doesNotMatch(bobPage, /Ann on back end A/);
    const other = await curl(`${px.base}/login`, ['--data-urlencode', 'username=carl@example.org', '--data-urlencode', `password=${PW}`]);
    assert.equal(other.status, 502, 'carl is not in the map: mappingHost:mappingPort, which is down');
  } finally {
    await px.stop();
  }
});

test('LDAP maps with authenticateOnProxy: mailHost routes, a wrong password never reaches a back end, a dead directory is a 503', { timeout: 90_000 }, async () => {
  let ldap: LdapServer | null = null;
  try {
    ldap = await startLdapServer({
      users: [
        { mail: ANN, password: PW, scheme: 'clear', mailHost: `127.0.0.1:${portA}` },
        { mail: BOB, password: PW, scheme: 'ssha', mailHost: `127.0.0.1:${portB}` },
      ],
    });
    const server = `
      userdb = { ldapConnectors = ( { name = directory urls = ( "${ldap.url}" ) bindDn = "${ldap.bindDn}" bindPassword = "${ldap.bindPassword}" baseDn = "${ldap.baseDn}" timeout = 2 } ) }
      userMaps = ( { name = byPassword type = ldapPassword ldapConnector = directory } { name = byBind type = ldapBind ldapConnector = directory } )`;
    const pw = await startProxy({ backendPort: await closedPort(), server, extra: 'userMap = byPassword authenticateOnProxy = yes' });
    const bind = await startProxy({ backendPort: await closedPort(), server, extra: 'userMap = byBind authenticateOnProxy = yes' });
    try {
      // LDAP Password (ann's clear password compared by the service account)
      assert.match(await inbox(pw.base, ANN), /Ann on back end A/);
      // LDAP Bind (bob's {SSHA} password: a bind as his DN)
      assert.match(await inbox(bind.base, BOB), /Bob on back end B/);

      // a wrong password: refused by the directory on the proxy; no back end is asked
      const before = checked(a) + checked(b);
      assert.ok(checked(a) >= 1 && checked(b) >= 1, 'the successful logins were checked on their back ends');
      for (const base of [pw.base, bind.base]) {
        const r = await browser(base).login(ANN, 'not the password');
        assert.equal(r.status, 200);
        assert.match(r.text, /Wrong user name or password\./);
        assert.match(r.text, new RegExp(`name="username"[^>]*value="${ANN}"`));
        assert.equal(r.headers['set-cookie'], undefined);
      }
      assert.equal(checked(a) + checked(b), before, 'the back ends never saw the failed logins');

      // the directory dies: a temporary failure, within its timeout, not a hang
      await ldap.kill();
      const down = await curl(`${pw.base}/login`, ['--data-urlencode', `username=${BOB}`, '--data-urlencode', `password=${PW}`]);
      assert.equal(down.status, 503);
      assert.match(down.text, /try again/);
      assert.ok(down.elapsedMs < 10_000, `${down.elapsedMs} ms`);
    } finally {
      await pw.stop();
      await bind.stop();
    }
  } finally {
    await ldap?.stop();
  }
});
