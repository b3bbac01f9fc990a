/**
 * WebAdmin in chromium (playwright-core, Debian's chromium): the login; the dashboard's live
 * supervision tree showing a connection thread's crash and restart (fault injection) without a
 * reload; a listener added and removed on a service's page (the new one answers POP3, then no
 * longer); an account created on the accounts page and used over POP3 (Python's poplib); a
 * setting changed on a service's page that shows in `config.get`'s text and survives a restart
 * (a new server started on the saved file); the logs page filtered; the reports page sampled
 * and drawn. Screenshots under test-output/webadmin/.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { freePort, waitFor } from '../helpers.ts';
import { launchBrowser, navigating, openPage, type OpenPage } from '../webmail/browser.ts';
import { ADMIN_PW, ctl, popLogin, shot, startAdmin, type AdminEnv } from './helpers.ts';

let env: AdminEnv;
let browser: Browser;

before(async () => {
  const [e, b] = await Promise.allSettled([startAdmin({ controlSocket: true }), launchBrowser()]);
  if (e.status === 'fulfilled') env = e.value;
  if (b.status === 'fulfilled') browser = b.value;
  if (e.status === 'rejected' || b.status === 'rejected') {
    await env?.stop();
    await browser?.close();
    throw e.status === 'rejected' ? e.reason : (b as PromiseRejectedResult).reason;
  }
});
after(async () => {
  await browser?.close().catch(() => {});
  await env?.stop().catch(() => {});
});

async function adminLogin(page: Page): Promise<void> {
  await page.goto('/');
  await page.fill('form#login [name=password]', ADMIN_PW);
  await navigating(page, () => page.click('form#login button[type=submit]'));
  assert.equal(new URL(page.url()).pathname, '/dashboard');
}

/** The first line POP3 answers on 127.0.0.1:port ('' when nobody listens). */
function greeting(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (v: string): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(5000, () => done(buf));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.split('\r\n')[0]!);
    });
    s.on('error', () => done(''));
  });
}

/** The `pop3 = { … }` block of a config text. */
function pop3Block(text: string): string {
  const m = /^ {4}pop3 = \{\n([\s\S]*?)\n {4}\}$/m.exec(text);
  assert.ok(m !== null, `no pop3 block in:\n${text}`);
  return m[1]!;
}

test('login: the form, a wrong password shown, then the dashboard', async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await page.goto('/');
    await shot(page, 'login');
    await page.fill('form#login [name=password]', 'wrong');
    await navigating(page, () => page.click('form#login button[type=submit]'));
    assert.match(await page.locator('p.error').innerText(), /Wrong user name or password/);
    await page.fill('form#login [name=password]', ADMIN_PW);
    await navigating(page, () => page.click('form#login button[type=submit]'));
    await page.locator('ul.tree').waitFor();
    await page.locator('#live.on').waitFor();
    await shot(page, 'dashboard');
    assert.deepEqual(p.ownProblems(), []);
  } finally {
    await p.close();
  }
});

test('the live tree: a crashed connection thread shows its restart without a reload', async () => {
  const p: OpenPage = await openPage(browser, env.base);
  try {
    const { page } = p;
    await adminLogin(page);
    const thread = page.locator('ul.tree li[data-path="root/services/pop3/pop3.threads/pop3.t1"]');
    await page.locator('#live.on').waitFor();
    const before = Number(await thread.getAttribute('data-restarts'));
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations++;
    });
    // the registry's `fault` command over the control socket (enableFaultInjection = yes)
    const f = await ctl(env.dir, '--json', 'fault', 'pop3', 'crash', '0');
    assert.equal(f.code, 0, f.stderr);
    assert.equal(JSON.parse(f.stdout).result.thread, 'pop3.t1');
    await page.locator(`ul.tree li[data-path="root/services/pop3/pop3.threads/pop3.t1"][data-restarts="${before + 1}"][data-state="running"]`).waitFor({ timeout: 15_000 });
    assert.equal(navigations, 0, 'no reload');
    assert.match(await thread.locator('.restarts').innerText(), new RegExp(`${before + 1}`));
    await shot(page, 'tree-after-crash');
    assert.deepEqual(p.ownProblems(), []);
  } finally {
    await p.close();
  }
});

test('a listener added on the service page answers POP3; removed, it no longer does', async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await adminLogin(page);
    await navigating(page, () => page.click('a[href="/services/pop3"]'));
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    await page.fill('form#add-listener [name=address]', address);
    await navigating(page, () => page.click('form#add-listener button[type=submit]'));
    assert.match(await page.locator('p.notice').innerText(), /listener added; applied and saved/);
    const row = page.locator(`#listeners tr[data-address="${address}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /listening/);
    assert.match(await greeting(port), /^\+OK /);
    await shot(page, 'listener-added');
    await navigating(page, () => row.locator('form.remove-listener button').click());
    assert.equal(await page.locator(`#listeners tr[data-address="${address}"]`).count(), 0);
    await waitFor(async () => (await greeting(port)) === '', 10_000, 'the listener closed');
    await shot(page, 'listener-removed');
    assert.deepEqual(p.ownProblems(), []);
  } finally {
    await p.close();
  }
});

test('an account created on the accounts page logs in over POP3', async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await adminLogin(page);
    await navigating(page, () => page.click('#nav a[href="/accounts"]'));
    await page.fill('form#add-account [name=address]', 'dana@example.org');
    await page.fill('form#add-account [name=password]', 'dana pw 9');
    await page.fill('form#add-account [name=quotaMessages]', '50');
    await navigating(page, () => page.click('form#add-account button[type=submit]'));
    assert.match(await page.locator('p.notice').innerText(), /Account dana@example\.org added/);
    assert.match(await page.locator('#accounts tr[data-address="dana@example.org"]').innerText(), /50/);
    await shot(page, 'account-created');
    assert.deepEqual(await popLogin(env.server.port('pop3'), 'dana@example.org', 'dana pw 9'), [0, 0]);
    assert.deepEqual(p.ownProblems(), []);
  } finally {
    await p.close();
  }
});

test('the logs page filtered by service and level; the reports page sampled and drawn as SVG charts', async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await adminLogin(page);
    await navigating(page, () => page.click('#nav a[href="/logs"]'));
    await page.selectOption('#log-filter [name=service]', 'pop3');
    await navigating(page, () => page.click('#log-filter button[type=submit]'));
    const rows = page.locator('table#log tbody tr');
    assert.ok((await rows.count()) >= 1, 'pop3 has records at info');
    for (const cell of await page.locator('table#log tbody tr td:nth-child(3)').allInnerTexts()) assert.equal(cell, 'pop3');
    await shot(page, 'logs');
    await popLogin(env.server.port('pop3'), 'nobody@example.org', 'x').catch(() => {}); // one POP3 connection
    await navigating(page, () => page.click('#nav a[href="/report"]'));
    await navigating(page, () => page.click('#report-sample button'));
    assert.match(await page.locator('p.notice').innerText(), /Sampled now/);
    const chart = page.locator('figure.chart[data-counter="POP3_InboundConnection"]');
    await chart.waitFor();
    assert.ok((await chart.locator('svg rect.bar').count()) >= 1, 'a bar for the POP3 connection');
    await shot(page, 'reports');
    assert.deepEqual(p.ownProblems(), []);
  } finally {
    await p.close();
  }
});

test('a setting changed on the page shows in config.get and survives a restart on the saved file', { timeout: 90_000 }, async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await adminLogin(page);
    await page.goto('/services/pop3');
    await page.fill('form#settings [name=maxErrors]', 'nine');
    await navigating(page, () => page.click('form#settings button[type=submit]'));
    assert.match(await page.locator('p.error').innerText(), /maxErrors: expected an unsigned integer/);
    await shot(page, 'setting-refused');
    await page.fill('form#settings [name=maxErrors]', '7');
    await navigating(page, () => page.click('form#settings button[type=submit]'));
    assert.match(await page.locator('p.notice').innerText(), /settings changed; applied and saved/);
    await shot(page, 'setting-applied');
    // the running config as config.get writes it (SAVE CONFIG's output), on the config page
    await navigating(page, () => page.click('#nav a[href="/config"]'));
    assert.equal(pop3Block(await page.locator('pre#config-text').innerText()).match(/^\s*maxErrors = (\d+)$/m)?.[1], '7');
    await shot(page, 'config-text');
  } finally {
    await p.close();
  }
  // the running config (SAVE CONFIG's output) has it, and so does the file it was saved to
  const saved = path.join(env.dir, 'postern.conf');
  assert.equal(pop3Block(fs.readFileSync(saved, 'utf8')).match(/^\s*maxErrors = (\d+)$/m)?.[1], '7');
  const dir = env.dir;
  await env.stop();
  // a new server on the saved file: the change is there
  env = await startAdmin({ configFile: saved, dir });
  const again = await openPage(browser, env.base);
  try {
    await adminLogin(again.page);
    await again.page.goto('/services/pop3');
    assert.equal(await again.page.locator('form#settings [name=maxErrors]').inputValue(), '7');
    assert.equal(env.server.status().services.find((x) => x.name === 'pop3')?.state, 'running');
    await shot(again.page, 'setting-after-restart');
  } finally {
    await again.close();
  }
});
