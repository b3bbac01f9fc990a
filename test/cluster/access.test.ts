/**
 * test/cluster/access.test.ts: the cluster of issue 16 §5 (test/cluster/topology.ts: slapd, a
 * front end on 127.0.0.2 with the POP3, IMAP and WebMail proxies over an LDAP Password user map
 * and SMTP routing, back ends on 127.0.0.3 and 127.0.0.4 checking passwords against the same
 * directory). Users of BOTH back ends reach their own mailboxes through the front end:
 *  - SMTP: mail sent to the front end (smtplib) lands on each user's own back end;
 *  - POP3: poplib and curl through pop3Proxy read it;
 *  - IMAP: imaplib and imapflow through imapProxy read it;
 *  - WebMail: curl's login flow through webmailProxy shows it in the Inbox; chromium
 *    (playwright-core) logs in on the proxy's page, reads the message, logs out (screenshots in
 *    test-output/cluster/);
 *  - a wrong password is refused (not a temporary error).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import { startCluster, FRONT_IP, PROXIES, type Cluster } from './topology.ts';
import { popRetrAll, popTry, python, run, smtpSend } from './clients.ts';
import { browser } from '../webmail/read-helpers.ts';
import { launchBrowser, openPage } from '../webmail/browser.ts';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers.ts';

let c: Cluster;

before(async () => {
  c = await startCluster({ mapType: 'ldap' });
  // one message per user, through the front end's SMTP routing; wait until each is on its back end
  for (const u of c.users) {
    const r = await smtpSend(FRONT_IP, c.frontPorts.smtp, 'sender@outside.test', [u.mail], `From: sender@outside.test\r\nTo: ${u.mail}\r\nSubject: hello ${u.mail}\r\nX-For: ${u.mail}\r\n\r\nfor ${u.mail}\r\n`);
    assert.equal(r.ok, true, JSON.stringify(r));
  }
  for (const u of c.users) {
    await waitFor(async () => (await popRetrAll(u.backend, c.backPorts.pop3, u.mail, u.password)).some((m) => m.includes(`X-For: ${u.mail}`)), 30_000, `${u.mail}'s message on ${u.backend}`);
  }
});

after(async () => {
  await c?.stop();
});

test('the front end runs every proxy', () => {
  assert.deepEqual([...PROXIES].sort(), ['imapProxy', 'pop3Proxy', 'webmailProxy']);
});

test('SMTP: mail to users of both back ends lands on their own back end only', async () => {
  for (const u of c.users) {
    const other = c.back.find((n) => n.ip !== u.backend)!;
    // the other back end has no such mailbox: the message was not copied there
    const r = await popTry(other.ip, c.backPorts.pop3, u.mail, u.password);
    assert.notEqual(r.result, 'ok', `${u.mail} has no mailbox on ${other.name}`);
  }
});

test('POP3 through the front end: poplib and curl read each user\'s own mailbox', async () => {
  for (const u of c.users) {
    const msgs = await popRetrAll(FRONT_IP, c.frontPorts.pop3, u.mail, u.password);
    assert.ok(msgs.some((m) => m.includes(`X-For: ${u.mail}`)), `${u.mail} through pop3Proxy`);
    for (const o of c.users.filter((x) => x.mail !== u.mail)) assert.ok(msgs.every((m) => !m.includes(`X-For: ${o.mail}\r\n`)), `none of ${o.mail}'s mail`);
    const cu = await run('curl', ['-sS', '--max-time', '20', `pop3://${FRONT_IP}:${c.frontPorts.pop3}/1`, '--user', `${u.mail}:${u.password}`]);
    assert.equal(cu.code, 0, cu.stderr);
    assert.match(cu.stdout, new RegExp(`X-For: ${u.mail.replace('.', '\\.')}`));
  }
  const bad = await popTry(FRONT_IP, c.frontPorts.pop3, 'alice@example.test', 'wrong');
  assert.match(bad.result, /^-ERR (?!\[SYS\/TEMP\])/, 'a wrong password is a permanent refusal');
});

test('IMAP through the front end: imaplib and imapflow read each user\'s own mailbox', async () => {
  for (const u of c.users) {
    const r = await python(`
import imaplib
m = imaplib.IMAP4(${JSON.stringify(FRONT_IP)}, ${c.frontPorts.imap}, timeout=20)
m.login(${JSON.stringify(u.mail)}, ${JSON.stringify(u.password)})
m.select("INBOX")
typ, data = m.search(None, "ALL")
ids = data[0].split()
typ, msg = m.fetch(ids[-1], "(BODY.PEEK[])")
print(msg[0][1].decode())
m.logout()`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`X-For: ${u.mail.replace('.', '\\.')}`));
    const flow = new ImapFlow({ host: FRONT_IP, port: c.frontPorts.imap, secure: false, auth: { user: u.mail, pass: u.password }, logger: false, tls: { rejectUnauthorized: false } });
    await flow.connect();
    try {
      const lock = await flow.getMailboxLock('INBOX');
      try {
        const subjects: string[] = [];
        for await (const m of flow.fetch('1:*', { envelope: true })) subjects.push(m.envelope?.subject ?? '');
        assert.ok(subjects.includes(`hello ${u.mail}`), `${u.mail} via imapflow: ${subjects.join(', ')}`);
      } finally {
        lock.release();
      }
    } finally {
      await flow.logout().catch(() => {});
    }
  }
});

test('WebMail through the front end: curl logs in and sees its own Inbox', async () => {
  const base = `http://${FRONT_IP}:${c.frontPorts.http}`;
  for (const u of c.users) {
    const br = browser(base);
    const r = await br.login(u.mail, u.password);
    assert.equal(r.status, 303, `${u.mail}: ${r.text.slice(0, 300)}`);
    const list = await br.get('/mail?f=INBOX');
    assert.equal(list.status, 200);
    assert.match(list.text, new RegExp(`hello ${u.mail.replace('.', '\\.')}`));
    for (const o of c.users.filter((x) => x.mail !== u.mail)) assert.doesNotMatch(list.text, new RegExp(`hello ${o.mail.replace('.', '\\.')}`));
  }
  const bad = await browser(base).login('bob@example.test', 'wrong');
  assert.notEqual(bad.status, 303);
});

test('WebMail in chromium through the whole cluster: each user on the proxy\'s page, his own Inbox and message', async () => {
  const shots = fileURLToPath(new URL('../../test-output/cluster/', import.meta.url));
  fs.mkdirSync(shots, { recursive: true });
  const chromium = await launchBrowser();
  try {
    for (const u of [c.users.find((x) => x.backend === c.back[0].ip)!, c.users.find((x) => x.backend === c.back[1].ip)!]) {
      const o = await openPage(chromium, `http://${FRONT_IP}:${c.frontPorts.http}`);
      try {
        const { page } = o;
        await page.goto('/');
        await page.fill('form#login [name=username]', u.mail);
        await page.fill('form#login [name=password]', u.password);
        await Promise.all([page.waitForURL(/\/mail\?f=INBOX/), page.click('form#login button[type=submit]')]);
        await page.waitForSelector('nav#folders');
        const subjects = (await page.locator('tr.msg a.subject').allTextContents()).map((x) => x.trim());
        assert.ok(subjects.includes(`hello ${u.mail}`), `${u.mail}: ${subjects.join(', ')}`);
        await page.screenshot({ path: `${shots}inbox-${u.mail.split('@')[0]}.png`, fullPage: true });
        await Promise.all([page.waitForURL(/\/mail\/message\?/), page.locator('tr.msg a.subject', { hasText: `hello ${u.mail}` }).first().click()]);
        assert.match(await page.textContent('#message-text') ?? '', new RegExp(`for ${u.mail.replace('.', '\\.')}`));
        await Promise.all([page.waitForURL((x) => x.pathname === '/'), page.click('form#logout button[type=submit]')]);
        await page.waitForSelector('form#login');
        assert.deepEqual(o.ownProblems(), []);
      } finally {
        await o.close();
      }
    }
  } finally {
    await chromium.close();
  }
});
