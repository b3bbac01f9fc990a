/**
 * WebMail in chromium (playwright-core), sessions: with `sessionIdleTimeout` = 2 s, a session
 * used within the timeout lives on, one left idle past it ends, and the next navigation lands
 * on the login page (and a POST with the stale cookie changes nothing).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { ANN, login, mail, openPage, smtpSend, startSuite, type Suite, type WebmailEnv } from './browser.ts';

const IDLE_S = 2;
let suite: Suite;
let env: WebmailEnv;
let browser: Browser;

before(async () => {
  suite = await startSuite({ webmail: `sessionIdleTimeout = ${IDLE_S}` });
  ({ env, browser } = suite);
  await smtpSend(env.smtpPort, [{ from: 'carol@example.net', to: [ANN], data: mail({ from: 'carol@example.net', to: ANN, subject: 'Still here' }) }]);
  await env.waitCount(ANN, 1);
});
after(async () => suite?.stop());

/** Resolves once `ms` have passed since `since` (a clock reading taken after the last request
 * the session saw: the idle deadline is measured from it). */
const until = (since: number, ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, since + ms - Date.now())));

test('a session idle longer than sessionIdleTimeout ends: the next navigation lands on the login page', { timeout: 30_000 }, async () => {
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    // used every 0.6 × timeout for longer than the timeout: still logged in (idle, not age)
    let last = Date.now();
    for (let i = 0; i < 2; i++) {
      await until(last, IDLE_S * 600);
      await page.goto('/mail?f=INBOX');
      last = Date.now();
      assert.equal(await page.locator('form#login').count(), 0, `still logged in after ${i + 1} uses`);
      await page.locator('table#messages tr.msg', { hasText: 'Still here' }).waitFor();
    }
    const flags = await env.probeJson('ALLFLAGS', ANN);
    // the page keeps no connection that could count as use (its event stream) past this point
    await page.goto('about:blank');
    last = Date.now();
    await until(last, IDLE_S * 1000 + 300);

    await page.goto(`${env.base}/mail?f=INBOX`);
    await page.waitForSelector('form#login');
    assert.equal(new URL(page.url()).pathname, '/', 'redirected to the login page');
    assert.equal(await page.locator('table#messages').count(), 0);

    // a state-changing request with the stale cookie is refused and changes nothing
    const r = await p.context.request.post(`${env.base}/mail/action`, { form: { f: 'INBOX', uid: '1', action: 'flag', _csrf: 'stale' }, headers: { origin: env.base }, maxRedirects: 0 });
    assert.ok([401, 403].includes(r.status()), `POST with an expired session: ${r.status()}`);
    assert.deepEqual(await env.probeJson('ALLFLAGS', ANN), flags);

    await login(page);
    await page.locator('table#messages tr.msg', { hasText: 'Still here' }).waitFor();
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});
