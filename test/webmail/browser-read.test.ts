/**
 * WebMail in chromium (playwright-core), reading: log in (and a failed login), a message
 * delivered by SMTP in the list, opening it, paging and sorting, HTML mail with a script, an
 * onerror handler, a javascript: link, CSS url() and a remote image shown with nothing run and
 * nothing fetched until the reader clicks #show-remote, search, new mail appearing in the open
 * list without a reload (server-sent events), and the mobile template at 360 px. Screenshots of
 * the inbox and of a message at 1440 px and 360 px go to test-output/webmail/.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { waitFor } from '../helpers.ts';
import { SESSION_COOKIE } from '../../src/http/types.ts';
import { ANN, PW, WAIT_MS, login, mail, navigating, openPage, screenshot, smtpSend, startSuite, type Suite, type Counter, type WebmailEnv } from './browser.ts';

let suite: Suite;
let env: WebmailEnv;
let browser: Browser;
let counter: Counter;

const HELLO = { from: 'Carol Jones <carol@example.net>', subject: 'Hello from SMTP', body: 'The first line of the letter.\nAnd a second one.\n' };

before(async () => {
  suite = await startSuite();
  ({ env, browser, counter } = suite);
  await smtpSend(env.smtpPort, [
    { from: 'carol@example.net', to: [ANN], data: mail({ ...HELLO, to: ANN }) },
    { from: 'carol@example.net', to: [ANN], data: mail({ from: 'carol@example.net', to: ANN, subject: 'Quarterly report', body: 'The figures are in.\n' }) },
    { from: 'dave@example.net', to: [ANN], data: mail({ from: 'Dave <dave@example.net>', to: ANN, subject: 'Lunch on Friday', body: 'Pizza or sushi?\n' }) },
    { from: 'dave@example.net', to: [ANN], data: mail({ from: 'Dave <dave@example.net>', to: ANN, subject: 'Quarterly review', body: 'See you there.\n' }) },
  ]);
  await env.waitCount(ANN, 4);
});
after(async () => suite?.stop());

test('log in: a wrong password shows the form again with the username and an error; the right one opens the inbox with an HttpOnly SameSite=Lax cookie; logging out ends it', { timeout: 30_000 }, async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await page.goto('/');
    await page.fill('form#login [name=username]', ANN);
    await page.fill('form#login [name=password]', 'wrong password');
    await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === '/login'), page.click('form#login button[type=submit]')]);
    await page.waitForSelector('.error');
    assert.equal(await page.inputValue('form#login [name=username]'), ANN, 'the username is kept');
    assert.equal(await page.inputValue('form#login [name=password]'), '', 'the password is not sent back');
    assert.equal((await p.context.cookies()).find((c) => c.name === SESSION_COOKIE), undefined, 'no session for a failed login');

    await login(page, ANN, PW);
    const cookie = (await p.context.cookies()).find((c) => c.name === SESSION_COOKIE);
    assert.ok(cookie !== undefined, 'the session cookie is set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
    assert.equal(await page.evaluate<boolean>(`document.cookie.includes('${SESSION_COOKIE}')`), false, 'scripts cannot read it');
    assert.ok((await page.locator('nav#folders a[data-folder="INBOX"]').count()) === 1, 'the folder tree has INBOX');

    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.locator('form#logout [type=submit], form#logout button').first().click()]);
    await page.waitForSelector('form#login');
    await page.goto('/mail?f=INBOX');
    await page.waitForSelector('form#login');
    assert.equal(new URL(page.url()).pathname, '/', 'after logout the list sends back to the login page');
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});

test('a message delivered by SMTP is in the list, unseen, with its sender and the folder\'s unread count', { timeout: 30_000 }, async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    const row = page.locator('table#messages tr.msg', { hasText: HELLO.subject });
    await row.waitFor();
    assert.match(await row.locator('.from').innerText(), /Carol Jones|carol@example\.net/);
    assert.ok((await row.getAttribute('class'))?.split(/\s+/).includes('unseen'), 'the new message is unseen');
    assert.equal(await page.locator('nav#folders a[data-folder="INBOX"] span.unread').innerText(), '4');
    await screenshot(page, 'inbox-1440');
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});

test('opening a message shows its subject, sender and text, and marks it seen', { timeout: 30_000 }, async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    const row = page.locator('table#messages tr.msg', { hasText: HELLO.subject });
    await Promise.all([page.waitForURL(/\/mail\/message\?/), row.locator('a.subject').click()]);
    assert.equal((await page.locator('h1#subject').innerText()).trim(), HELLO.subject);
    assert.match(await page.locator('#from').innerText(), /carol@example\.net|Carol Jones/);
    const text = await page.locator('#message-text').innerText();
    assert.match(text, /The first line of the letter\.\s+And a second one\./);
    await screenshot(page, 'message-1440');

    await page.goto('/mail?f=INBOX');
    const again = page.locator('table#messages tr.msg', { hasText: HELLO.subject });
    assert.ok(!((await again.getAttribute('class')) ?? '').split(/\s+/).includes('unseen'), 'read: no longer unseen');
    assert.equal(await page.locator('nav#folders a[data-folder="INBOX"] span.unread').innerText(), '3');
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});

test('HTML mail: no script runs (script, onerror, javascript: link) and no remote request is made until #show-remote is clicked', { timeout: 40_000 }, async () => {
  const c = counter.origin;
  const html = `<html><head><title>t</title><script>document.title='pwned-script';console.log('pwned-script');alert('pwned-script');fetch('${c}/script')</script></head>
<body><p>Hello in <b>HTML</b>.</p>
<img src="${c}/remote.png" alt="remote picture" width="20" height="20">
<img src="nowhere.png" onerror="console.log('pwned-onerror');new Image().src='${c}/onerror'">
<a href="javascript:console.log('pwned-js');alert('pwned-js');fetch('${c}/js')">click me</a>
<div style="background-image:url(${c}/bg.png);width:20px;height:20px">styled</div>
<form action="${c}/form"><input name="q"><button>go</button></form>
</body></html>`;
  const raw =
    `From: Eve <eve@example.net>\r\nTo: ${ANN}\r\nSubject: HTML with tricks\r\nDate: ${new Date().toUTCString()}\r\nMessage-ID: <tricks@example.net>\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b1"\r\n\r\n` +
    `--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello in text.\r\n` +
    `--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html.replace(/\n/g, '\r\n')}\r\n--b1--\r\n`;
  const before = await env.count(ANN);
  await smtpSend(env.smtpPort, [{ from: 'eve@example.net', to: [ANN], data: raw }]);
  await env.waitCount(ANN, before + 1);

  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    const row = page.locator('table#messages tr.msg', { hasText: 'HTML with tricks' });
    await Promise.all([page.waitForURL(/\/mail\/message\?/), row.locator('a.subject').click()]);
    const frameEl = page.locator('iframe#message-html');
    await frameEl.waitFor();
    const sandbox = await frameEl.getAttribute('sandbox');
    assert.ok(sandbox !== null, 'the frame is sandboxed');
    assert.ok(!sandbox.split(/\s+/).includes('allow-scripts'), `no allow-scripts in sandbox="${sandbox}"`);
    const frame = await (await frameEl.elementHandle())!.contentFrame();
    assert.ok(frame !== null);
    await frame.waitForLoadState('load');
    await frame.getByText('Hello in').waitFor();

    // the document the frame shows, as the server sends it: sanitised and under a strict CSP
    const src = new URL((await frameEl.getAttribute('src')) ?? '', page.url());
    const doc = await p.context.request.get(src.href);
    assert.equal(doc.status(), 200);
    const csp = doc.headers()['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'none'/, `CSP: ${csp}`);
    assert.ok(!/script-src(?![^;]*'none')/.test(csp), `the CSP allows no script: ${csp}`);
    const body = await doc.text();
    for (const bad of [/<script/i, /onerror/i, /javascript:/i]) assert.doesNotMatch(body, bad, 'sanitised away');

    // the javascript: link does nothing when clicked
    await frame.getByText('click me').click({ timeout: WAIT_MS });
    // the frame and the page have loaded (images included) before the counts are read
    await frame.waitForLoadState('load');
    await page.waitForLoadState('load');
    assert.notEqual(await frame.title(), 'pwned-script');
    assert.notEqual(await page.title(), 'pwned-script');
    assert.deepEqual(p.console.filter((l) => l.includes('pwned')), [], 'no script logged anything');
    assert.deepEqual(p.dialogs, [], 'no dialog was opened');
    assert.deepEqual(counter.requests, [], 'the remote host got no request (image, CSS url(), script, handler, link)');

    await screenshot(page, 'message-html-blocked-1440');
    const buttons = page.locator('button#show-remote');
    assert.equal(await buttons.count(), 1, 'blocked remote content is offered');
    await buttons.click();
    await waitFor(() => counter.hits('/remote.png') >= 1, WAIT_MS, 'the remote image fetched after #show-remote');
    const shown = await (await page.locator('iframe#message-html').elementHandle())!.contentFrame();
    await shown?.waitForLoadState('load');
    await screenshot(page, 'message-html-shown-1440');
    for (const path of ['/script', '/onerror', '/js', '/form']) assert.equal(counter.hits(path), 0, `${path}: still no script ran`);
    assert.deepEqual(p.dialogs, []);
    assert.deepEqual(p.console.filter((l) => l.includes('pwned')), []);
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});

test('search by subject, sender, body text and date range', { timeout: 30_000 }, async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    const search = async (fields: Record<string, string>): Promise<string[]> => {
      await page.goto('/mail?f=INBOX');
      // the form may sit folded in a <details>: a reader opens it first
      if (!(await page.locator('form#search').isVisible())) await page.locator('details:has(form#search) > summary').click();
      for (const [k, v] of Object.entries(fields)) await page.fill(`form#search [name=${k}]`, v);
      await Promise.all([page.waitForURL(/\/mail\/search\?/), page.locator(`form#search [name=${Object.keys(fields)[0]}]`).press('Enter')]);
      await page.waitForSelector('table#messages');
      return (await page.locator('table#messages tr.msg a.subject').allInnerTexts()).map((s) => s.trim()).sort();
    };
    assert.deepEqual(await search({ subject: 'Quarterly' }), ['Quarterly report', 'Quarterly review']);
    assert.deepEqual(await search({ from: 'dave' }), ['Lunch on Friday', 'Quarterly review']);
    assert.deepEqual(await search({ text: 'sushi' }), ['Lunch on Friday']);
    assert.deepEqual(await search({ subject: 'Quarterly', from: 'carol' }), ['Quarterly report']);
    assert.deepEqual(await search({ subject: 'Quarterly', since: '2000-01-01' }), ['Quarterly report', 'Quarterly review']);
    assert.deepEqual(await search({ subject: 'Quarterly', before: '2000-01-01' }), []);
    await screenshot(page, 'search-1440');
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});

test('the list pages by 50 (a.page-next, a.page-prev) and sorts by subject both ways (th a[data-sort])', { timeout: 30_000 }, async () => {
  const carol = 'carol@example.org';
  await env.addUser(carol, PW);
  await env.bulk(carol, 55, 600); // subjects "bulk 0" … "bulk 54"
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page, carol, PW);
    const subjects = async (): Promise<string[]> => (await page.locator('table#messages tr.msg a.subject').allInnerTexts()).map((x) => x.trim());
    assert.equal((await subjects()).length, 50, 'a page holds 50');
    assert.equal(await page.locator('a.page-prev').count(), 0);
    await Promise.all([page.waitForURL(/page=2/), page.click('a.page-next')]);
    assert.equal((await subjects()).length, 5, 'the rest on page 2');
    assert.equal(await page.locator('a.page-next').count(), 0);
    await Promise.all([page.waitForURL((u) => u.searchParams.get('page') === '1' || !u.searchParams.has('page')), page.click('a.page-prev')]);
    assert.equal((await subjects()).length, 50);

    const all = Array.from({ length: 55 }, (_, i) => `bulk ${i}`).sort();
    await Promise.all([page.waitForURL(/sort=subject/), page.click('th a[data-sort=subject]')]);
    const firstOrder = await subjects();
    const asc = firstOrder[0] === all[0];
    assert.deepEqual(firstOrder, asc ? all.slice(0, 50) : [...all].reverse().slice(0, 50), `sorted by subject: ${firstOrder.slice(0, 5).join(', ')} …`);
    await navigating(page, () => page.click('th a[data-sort=subject]'));
    assert.deepEqual(await subjects(), asc ? [...all].reverse().slice(0, 50) : all.slice(0, 50), 'and the other way');
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});

test('new mail appears in the open list without a reload (server-sent events)', { timeout: 30_000 }, async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    const events = page.waitForResponse((r) => new URL(r.url()).pathname === '/events', { timeout: WAIT_MS });
    await page.goto('/mail?f=INBOX');
    assert.equal((await events).status(), 200, 'the list opens its event stream');
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++;
    });
    await page.evaluate('window.marker = 42');
    const unread = await page.locator('nav#folders a[data-folder="INBOX"] span.unread').innerText();

    await smtpSend(env.smtpPort, [{ from: 'frank@example.net', to: [ANN], data: mail({ from: 'Frank <frank@example.net>', to: ANN, subject: 'Live delivery' }) }]);
    const row = page.locator('table#messages tr.msg', { hasText: 'Live delivery' });
    await row.waitFor({ timeout: WAIT_MS });
    assert.ok(Number(await row.getAttribute('data-uid')) > 0);
    assert.equal(navigations, 0, 'no navigation');
    assert.equal(await page.evaluate<number | undefined>('window.marker'), 42, 'the same document: not reloaded');
    await waitFor(async () => (await page.locator('nav#folders a[data-folder="INBOX"] span.unread').innerText()) === String(Number(unread) + 1), WAIT_MS, 'the unread count updated');
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});

test('a mobile User-Agent gets the mobile templates: body.mobile, 360 px wide, no horizontal scroll (login, list, message, compose)', { timeout: 30_000 }, async () => {
  const p = await openPage(browser, env.base, { mobile: true });
  try {
    const { page } = p;
    await page.goto('/');
    assert.equal(await page.locator('body.mobile').count(), 1, 'the login page is the mobile one');
    await login(page);
    assert.equal(await page.locator('body.mobile').count(), 1, 'the list is the mobile one');
    const noScroll = (): Promise<{ scroll: number; width: number }> => page.evaluate<{ scroll: number; width: number }>('({ scroll: document.documentElement.scrollWidth, width: window.innerWidth })');
    assert.equal((await noScroll()).width, 360);
    let w = await noScroll();
    assert.ok(w.scroll <= w.width, `no horizontal scroll on the list: ${w.scroll} > ${w.width}`);
    await page.locator('table#messages tr.msg', { hasText: HELLO.subject }).waitFor();
    await screenshot(page, 'inbox-360');

    await Promise.all([page.waitForURL(/\/mail\/message\?/), page.locator('table#messages tr.msg', { hasText: HELLO.subject }).locator('a.subject').click()]);
    assert.equal(await page.locator('body.mobile').count(), 1, 'the message page is the mobile one');
    await page.locator('#message-text').waitFor();
    w = await noScroll();
    assert.ok(w.scroll <= w.width, `no horizontal scroll on a message: ${w.scroll} > ${w.width}`);
    await screenshot(page, 'message-360');

    await page.goto('/compose?mode=new');
    await page.locator('form#compose [name=body]').waitFor();
    assert.equal(await page.locator('body.mobile').count(), 1, 'the compose page is the mobile one');
    w = await noScroll();
    assert.ok(w.scroll <= w.width, `no horizontal scroll on compose: ${w.scroll} > ${w.width}`);
    await screenshot(page, 'compose-360');

    const desktop = await openPage(browser, env.base);
    try {
      await desktop.page.goto('/');
      assert.equal(await desktop.page.locator('body.mobile').count(), 0, 'a desktop browser does not get them');
    } finally {
      await desktop.close();
    }
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});
