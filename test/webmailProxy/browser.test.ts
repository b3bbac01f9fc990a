/**
 * The WebMail proxy in a real browser (Debian's chromium through playwright-core): two Postern
 * back ends, a user on each, a file user map on the proxy. Through the proxy, each user logs in
 * on the proxy's own login page, lands on the back end's Inbox with his own mail, opens a
 * message, and logs out back to the proxy's login page; a wrong password shows the proxy's page
 * again with the username kept; a phone gets the proxy's mobile login page and then the back
 * end's mobile interface. No page reports an error (console, CSP). Screenshots go to
 * test-output/webmailProxy/.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { tmpDir } from '../helpers.ts';
import { ANN, BOB, PW, launchBrowser, mail, openPage, startWebmail, WAIT_MS, type WebmailEnv } from '../webmail/browser.ts';
import { closedPort, startProxy, type ProxyEnv } from './helpers.ts';

const SHOTS = fileURLToPath(new URL('../../test-output/webmailProxy/', import.meta.url));

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true, timeout: WAIT_MS });
  process.stdout.write(`# screenshot: ${file}\n`);
}

let a: WebmailEnv;
let b: WebmailEnv;
let px: ProxyEnv;
let chromium: Browser;

before(async () => {
  a = await startWebmail();
  b = await startWebmail();
  await a.deliver(ANN, mail({ from: 'Zed <zed@example.net>', to: ANN, subject: 'Ann on back end A', body: 'A letter kept on back end A.' }));
  await b.deliver(BOB, mail({ from: 'Zed <zed@example.net>', to: BOB, subject: 'Bob on back end B', body: 'A letter kept on back end B.' }));
  const file = path.join(tmpDir('postern-wmproxy-map-'), 'users.map');
  fs.writeFileSync(file, `${ANN} 127.0.0.1:${new URL(a.base).port}\n${BOB} 127.0.0.1:${new URL(b.base).port}\n`);
  px = await startProxy({ backendPort: await closedPort(), server: `userMaps = ( { name = routes type = file path = "${file}" } )`, extra: 'userMap = routes' });
  chromium = await launchBrowser();
});
after(async () => {
  await chromium?.close();
  await px?.stop();
  await a?.stop();
  await b?.stop();
});

async function logIn(page: Page, user: string, password: string): Promise<void> {
  await page.goto('/');
  await page.fill('form#login [name=username]', user);
  await page.fill('form#login [name=password]', password);
  await Promise.all([page.waitForLoadState('load'), page.click('form#login button[type=submit]')]);
}

test('through the proxy: login page, wrong password, Inbox, a message, logout; each user on his own back end', async () => {
  const o = await openPage(chromium, px.base);
  try {
    const { page } = o;
    await page.goto('/');
    assert.equal(await page.getAttribute('link[rel=stylesheet]', 'href'), '/_proxy/static/proxy.css', "the proxy's own login page");
    await shot(page, 'login');

    await logIn(page, ANN, 'not the password');
    assert.match(await page.textContent('.error') ?? '', /Wrong user name or password/);
    assert.equal(await page.inputValue('form#login [name=username]'), ANN);
    await shot(page, 'login-failed');

    await page.fill('form#login [name=password]', PW);
    await Promise.all([page.waitForURL(/\/mail\?f=INBOX/), page.click('form#login button[type=submit]')]);
    await page.waitForSelector('nav#folders');
    assert.equal(await page.locator('tr.msg a.subject').count(), 1);
    assert.equal((await page.textContent('tr.msg a.subject'))?.trim(), 'Ann on back end A');
    await shot(page, 'inbox-ann');

    await Promise.all([page.waitForURL(/\/mail\/message\?/), page.click('tr.msg a.subject')]);
    assert.equal((await page.textContent('h1#subject'))?.trim(), 'Ann on back end A');
    assert.match(await page.textContent('#message-text') ?? '', /A letter kept on back end A\./);
    await shot(page, 'message-ann');

    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('form#logout button[type=submit]')]);
    await page.waitForSelector('form#login');
    assert.equal(await page.getAttribute('link[rel=stylesheet]', 'href'), '/_proxy/static/proxy.css', 'back on the proxy login page');
    await page.goto('/mail?f=INBOX');
    assert.equal(new URL(page.url()).pathname, '/', 'logged out: the Inbox sends to the login page');
    assert.deepEqual(o.ownProblems(), []);
  } finally {
    await o.close();
  }

  const o2 = await openPage(chromium, px.base);
  try {
    const { page } = o2;
    await logIn(page, BOB, PW);
    await page.waitForURL(/\/mail\?f=INBOX/);
    await page.waitForSelector('nav#folders');
    assert.equal((await page.textContent('tr.msg a.subject'))?.trim(), 'Bob on back end B');
    await shot(page, 'inbox-bob');
    assert.deepEqual(o2.ownProblems(), []);
  } finally {
    await o2.close();
  }
});

test("a phone: the proxy's mobile login page, then the back end's mobile interface", async () => {
  const o = await openPage(chromium, px.base, { mobile: true });
  try {
    const { page } = o;
    await page.goto('/');
    assert.equal(await page.getAttribute('body', 'class'), 'mobile page-login');
    assert.equal(await page.getAttribute('form#login [name=username]', 'type'), 'email');
    await shot(page, 'login-mobile');
    await logIn(page, BOB, PW);
    await page.waitForURL(/\/mail\?f=INBOX/);
    await page.waitForSelector('nav#folders', { state: 'attached' });
    assert.match(await page.getAttribute('body', 'class') ?? '', /\bmobile\b/);
    await shot(page, 'inbox-mobile');
    assert.deepEqual(o.ownProblems(), []);
  } finally {
    await o.close();
  }
});
