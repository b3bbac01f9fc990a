/**
 * WebMail in chromium (playwright-core), acting and writing: compose with an attachment to
 * another local user, fetched byte for byte over POP3 (Python's poplib) and downloaded from
 * WebMail by the recipient, with a copy in Sent; a draft saved, reopened and sent;
 * reply, with In-Reply-To and References right on the delivered reply; move to another folder,
 * delete to Trash and empty Trash; a cross-site POST (a form auto-submitted by a page of another
 * origin, carrying even the real CSRF token) refused with 403 and nothing changed; folders
 * created, renamed and deleted from the list page.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { prngBytes, withSeed } from '../helpers.ts';
import { ANN, BOB, PW, WAIT_MS, login, mail, navigating, openPage, popFetch, screenshot, smtpSend, startSuite, type Suite, type Counter, type WebmailEnv } from './browser.ts';

let suite: Suite;
let env: WebmailEnv;
let browser: Browser;
let counter: Counter;

before(async () => {
  suite = await startSuite();
  ({ env, browser, counter } = suite);
});
after(async () => suite?.stop());

const row = (page: Page, subject: string) => page.locator('table#messages tr.msg', { hasText: subject });

async function deliver(...messages: Array<{ subject: string; from?: string; body?: string; messageId?: string; headers?: string; to?: string }>): Promise<void> {
  const to = messages[0]?.to ?? ANN;
  const before = await env.count(to);
  await smtpSend(env.smtpPort, messages.map((m) => ({ from: 'sender@example.net', to: [m.to ?? ANN], data: mail({ from: m.from ?? 'Sender <sender@example.net>', to: m.to ?? ANN, ...m }) })));
  await env.waitCount(to, before + messages.length);
}

test('compose with an attachment to another local user: POP3 gets the attachment byte for byte, so does the recipient downloading it in WebMail, and Sent has a copy', { timeout: 40_000 }, async (t) => {
  await withSeed(t, async (rnd) => {
    const data = prngBytes(rnd, 150_000 + Math.floor(rnd() * 50_000)); // every byte value, binary
    const p = await openPage(browser, env.base);
    try {
      const { page } = p;
      await login(page);
      await Promise.all([page.waitForURL(/\/compose/), page.click('a#new-message')]);
      await page.fill('form#compose [name=to]', BOB);
      await page.fill('form#compose [name=subject]', 'Figures attached');
      await page.fill('form#compose [name=body]', 'Here are the figures.\nBest, Ann');
      await page.setInputFiles('form#compose input[type=file][name=attachment]', { name: 'figures.bin', mimeType: 'application/octet-stream', buffer: data });
      await screenshot(page, 'compose-1440');
      await Promise.all([page.waitForURL(/\/mail\?f=INBOX/), page.click('form#compose button[name=send]')]);

      await env.waitCount(BOB, 1);
      const got = (await popFetch(env.pop3Port, BOB, PW)).find((m) => m.headers.subject === 'Figures attached');
      assert.ok(got !== undefined, 'bob has the message over POP3');
      assert.match(got.headers.from ?? '', /ann@example\.org/);
      assert.match(got.text, /Here are the figures\.\r?\nBest, Ann/);
      assert.equal(got.attachments.length, 1);
      assert.equal(got.attachments[0]!.filename, 'figures.bin');
      assert.equal(got.attachments[0]!.data.length, data.length, 'the same length');
      assert.ok(got.attachments[0]!.data.equals(data), 'the same bytes');
      await env.waitCount(ANN, 1, 'Sent');
      assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
    } finally {
      await p.close();
    }
    // and bob downloads it from WebMail: the same bytes again
    const b = await openPage(browser, env.base);
    try {
      const { page } = b;
      await login(page, BOB, PW);
      await Promise.all([page.waitForURL(/\/mail\/message\?/), row(page, 'Figures attached').locator('a.subject').click()]);
      const link = page.locator('ul#attachments a.attachment', { hasText: 'figures.bin' });
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT_MS }), link.click()]);
      assert.equal(download.suggestedFilename(), 'figures.bin');
      const saved = await download.path();
      assert.ok(fs.readFileSync(saved).equals(data), 'the download has the same bytes');
    } finally {
      await b.close();
    }
  });
});

test('a draft: saved to Drafts with its attachment, reopened, sent from there (gone from Drafts, delivered with the attachment)', { timeout: 30_000 }, async () => {
  const note = Buffer.from('a small text attachment\n');
  const bobBefore = await env.count(BOB);
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    await page.goto('/compose?mode=new');
    await page.fill('form#compose [name=to]', BOB);
    await page.fill('form#compose [name=subject]', 'Half written');
    await page.fill('form#compose [name=body]', 'First thoughts.');
    await page.setInputFiles('form#compose input[type=file][name=attachment]', { name: 'note.txt', mimeType: 'text/plain', buffer: note });
    await navigating(page, () => page.click('form#compose button[name=draft]'));
    await env.waitCount(ANN, 1, 'Drafts');
    assert.equal(await env.count(BOB), bobBefore, 'a draft is not sent');

    await page.goto('/mail?f=Drafts');
    const uid = await row(page, 'Half written').getAttribute('data-uid');
    await page.goto(`/compose?draft=${uid}`);
    assert.equal(await page.inputValue('form#compose [name=subject]'), 'Half written');
    assert.match(await page.inputValue('form#compose [name=body]'), /^First thoughts\./);
    await page.fill('form#compose [name=body]', 'First thoughts.\nAnd second ones.');
    await navigating(page, () => page.click('form#compose button[name=send]'));
    await env.waitCount(BOB, bobBefore + 1);
    assert.equal(await env.count(ANN, 'Drafts'), 0, 'sent from Drafts: no longer there');
    const got = (await popFetch(env.pop3Port, BOB, PW)).find((m) => m.headers.subject === 'Half written');
    assert.ok(got !== undefined);
    assert.match(got.text, /First thoughts\.\r?\nAnd second ones\./);
    assert.deepEqual(got.attachments.map((a) => [a.filename, a.data.toString()]), [['note.txt', note.toString()]]);
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});

test('reply: the reply delivered has In-Reply-To the original and References its references then it, and quotes it', { timeout: 30_000 }, async () => {
  await deliver({ subject: 'Plans for Monday', from: 'Bob <bob@example.org>', messageId: '<orig-1@example.org>', headers: 'References: <root-0@example.org>\r\nIn-Reply-To: <root-0@example.org>\r\n', body: 'Shall we meet at ten?\n' });
  const bobBefore = await env.count(BOB);
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    await Promise.all([page.waitForURL(/\/mail\/message\?/), row(page, 'Plans for Monday').locator('a.subject').click()]);
    await Promise.all([page.waitForURL(/\/compose\?/), page.click('a#reply')]);
    assert.match(await page.inputValue('form#compose [name=to]'), /bob@example\.org/);
    assert.match(await page.inputValue('form#compose [name=subject]'), /^Re: Plans for Monday$/i);
    const quoted = await page.inputValue('form#compose [name=body]');
    assert.match(quoted, /^> Shall we meet at ten\?/m, 'the original is quoted');
    await page.fill('form#compose [name=body]', `Ten is fine.\n\n${quoted}`);
    await Promise.all([page.waitForURL(/\/mail\?f=INBOX/), page.click('form#compose button[name=send]')]);

    await env.waitCount(BOB, bobBefore + 1);
    const reply = (await popFetch(env.pop3Port, BOB, PW)).find((m) => /^Re: Plans for Monday$/i.test(m.headers.subject ?? ''));
    assert.ok(reply !== undefined, 'bob has the reply');
    assert.equal(reply.headers['in-reply-to']?.trim(), '<orig-1@example.org>');
    assert.deepEqual(reply.headers.references?.trim().split(/\s+/), ['<root-0@example.org>', '<orig-1@example.org>']);
    assert.match(reply.text, /^Ten is fine\./);
    assert.match(reply.text, /^> Shall we meet at ten\?/m);
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});

test('move to Archive, delete to Trash, then empty Trash', { timeout: 30_000 }, async () => {
  await deliver({ subject: 'Move me' }, { subject: 'Delete me' }, { subject: 'Keep me' });
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    const archived = await env.count(ANN, 'Archive');
    const act = async (subject: string, action: 'move' | 'delete', to?: string): Promise<void> => {
      await row(page, subject).locator('input[name=uid]').check();
      if (to !== undefined) await page.selectOption('form#list select[name=to]', to);
      await navigating(page, () => page.click(`form#list button[name=action][value=${action}]`));
      await row(page, 'Keep me').waitFor();
    };

    await act('Move me', 'move', 'Archive');
    assert.equal(await row(page, 'Move me').count(), 0, 'gone from INBOX');
    assert.equal(await env.count(ANN, 'Archive'), archived + 1);
    await page.goto('/mail?f=Archive');
    await row(page, 'Move me').waitFor();

    await page.goto('/mail?f=INBOX');
    await act('Delete me', 'delete');
    assert.equal(await row(page, 'Delete me').count(), 0, 'gone from INBOX');
    assert.equal(await env.count(ANN, 'Trash'), 1, 'in Trash');
    await page.click('nav#folders a[data-folder="Trash"]');
    await page.waitForURL(/f=Trash/);
    await row(page, 'Delete me').waitFor();
    await navigating(page, () => page.click('button#empty-trash'));
    await page.waitForSelector('table#messages, form#list');
    assert.equal(await page.locator('table#messages tr.msg').count(), 0, 'Trash is empty');
    assert.equal(await env.count(ANN, 'Trash'), 0, 'expunged from the store');
    await page.goto('/mail?f=INBOX');
    await row(page, 'Keep me').waitFor();
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});

test('a cross-site POST is refused: forms of another origin auto-submitted to /mail/action and /compose (even with the real CSRF token) get 403 and change nothing', { timeout: 30_000 }, async () => {
  await deliver({ subject: 'Precious' });
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    const uid = await row(page, 'Precious').getAttribute('data-uid');
    assert.ok(uid !== null);
    const token = await page.locator('input[name=_csrf]').first().inputValue();
    assert.ok(token.length >= 16, 'the list carries a CSRF token');
    const mailbox = await env.probeJson('DIGEST', ANN);
    const flags = await env.probeJson('ALLFLAGS', ANN);
    const bobBefore = await env.count(BOB);

    const forged = (action: string, enctype: string, fields: Record<string, string>): string =>
      `<!doctype html><form id="f" method="post" action="${action}" enctype="${enctype}">` +
      Object.entries(fields).map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`).join('') +
      `</form><script>document.getElementById('f').submit()</script>`;
    counter.pages.set('/forge-action', forged(`${env.base}/mail/action`, 'application/x-www-form-urlencoded', { f: 'INBOX', uid, action: 'delete', _csrf: token }));
    counter.pages.set('/forge-compose', forged(`${env.base}/compose`, 'multipart/form-data', { to: BOB, subject: 'Forged', body: 'not from ann', send: '1', _csrf: token }));

    for (const [page_, route] of [['/forge-action', '/mail/action'], ['/forge-compose', '/compose']] as const) {
      const answer = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === route, { timeout: WAIT_MS });
      await page.goto(`${counter.origin}${page_}`);
      const r = await answer;
      assert.equal(r.status(), 403, `${route} from ${counter.origin}`);
      assert.equal(r.request().headers().origin, counter.origin, 'the browser said where it came from');
    }
    assert.deepEqual(await env.probeJson('DIGEST', ANN), mailbox, 'no message moved, deleted or sent');
    assert.deepEqual(await env.probeJson('ALLFLAGS', ANN), flags, 'no flag changed');
    assert.equal(await env.count(BOB), bobBefore, 'nothing delivered to bob');

    // the same action from WebMail's own page goes through: the refusal was the origin's
    await page.goto('/mail?f=INBOX');
    await row(page, 'Precious').locator('input[name=uid]').check();
    await navigating(page, () => page.click('form#list button[name=action][value=flag]'));
    await page.waitForSelector('table#messages tr.msg.flagged');
    assert.ok(((await row(page, 'Precious').getAttribute('class')) ?? '').split(/\s+/).includes('flagged'));
  } finally {
    await p.close();
  }
});

test('folders: create one from the list page, move a message into it, rename it, delete it (its message goes to Trash)', { timeout: 30_000 }, async () => {
  await deliver({ subject: 'For the project' });
  const p = await openPage(browser, env.base);
  try {
    const { page } = p;
    await login(page);
    const folders = async (): Promise<string[]> => page.locator('nav#folders a[data-folder]').evaluateAll((as) => as.map((a) => a.getAttribute('data-folder') ?? ''));
    // the folder forms may sit folded in a <details>: a reader opens it first
    const unfold = async (form: string): Promise<void> => {
      if (!(await page.locator(form).isVisible())) await page.locator(`details:has(${form}) > summary`).click();
    };
    await unfold('form#folder-create');
    await page.fill('form#folder-create [name=name]', 'Projects');
    await navigating(page, () => page.locator('form#folder-create [type=submit]').click());
    assert.ok((await folders()).includes('Projects'), 'the new folder is in the tree');

    await page.goto('/mail?f=INBOX');
    await row(page, 'For the project').locator('input[name=uid]').check();
    await page.selectOption('form#list select[name=to]', 'Projects');
    await navigating(page, () => page.click('form#list button[name=action][value=move]'));
    assert.equal(await env.count(ANN, 'Projects'), 1);

    await page.goto('/mail?f=Projects');
    await row(page, 'For the project').waitFor();
    await unfold('form.folder-rename');
    await page.locator('form.folder-rename input[type=text]').fill('Projects 2026');
    await navigating(page, () => page.locator('form.folder-rename [type=submit]').click());
    let now = await folders();
    assert.ok(now.includes('Projects 2026') && !now.includes('Projects'), `renamed: ${now.join(', ')}`);
    assert.equal(await env.count(ANN, 'Projects 2026'), 1, 'the message went with it');

    const trash = await env.count(ANN, 'Trash');
    await page.goto(`/mail?f=${encodeURIComponent('Projects 2026')}`);
    await unfold('form.folder-delete');
    await navigating(page, () => page.locator('form.folder-delete [type=submit]').click());
    now = await folders();
    assert.ok(!now.includes('Projects 2026'), `deleted: ${now.join(', ')}`);
    assert.equal((await env.probeJson('DIGEST', ANN))['Projects 2026'], undefined, 'gone from the store');
    assert.equal(await env.count(ANN, 'Trash'), trash + 1, 'its message is in Trash');
    assert.deepEqual(p.ownProblems(), [], 'no error on WebMail\'s own pages');
  } finally {
    await p.close();
  }
});
