/**
 * Views (http/views.ts): which template dirs a request gets (virtual hosts exact and wildcard,
 * the default set under `path`, the built-in set last, `mobile/` first for a phone, host names
 * that are not plain DNS names mapping to nothing), and, over real sockets with curl (the views
 * mounted on a bare fastify, test/http/standalone.ts): a virtual host's templates for its host
 * name and the default for others, the mobile set for a mobile User-Agent, a partial custom set
 * falling back to the built-in one (layout and page resolved separately), escaping, an
 * operator's edit picked up (within a second, or at once on reload), static files with their
 * type and cache headers, and path traversal refused with 404.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseTemplates, isMobile, plainHostName } from '../../src/http/views.ts';
import { BASE_OPTIONS, standalone, type Standalone } from './standalone.ts';
import { curl, cookieOf } from './curl.ts';
import { tmpDir, waitFor } from '../helpers.ts';
import { setupTestApp, TEMPLATES } from '../fixtures/http-app/index.ts';
import type { HttpOptions } from '../../src/http/types.ts';

const BUILTIN = path.join(fileURLToPath(TEMPLATES), 'default');
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
const ANDROID_PHONE = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36';
const ANDROID_TABLET = 'Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
const IPAD = 'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/604.1';
const DESKTOP = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';

test('mobile detection: phones yes, tablets and desktops no', () => {
  for (const ua of [IPHONE, ANDROID_PHONE, 'Mozilla/5.0 (iPod touch; CPU iPhone OS 12_0 like Mac OS X)', 'Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) Mobile Safari/537.36 Edge/15.14900', 'Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54', 'BlackBerry9700/5.0.0.351 Profile/MIDP-2.1', 'Mozilla/5.0 (Mobile; rv:48.0) Gecko/48.0 Firefox/48.0 KAIOS/2.5']) {
    assert.equal(isMobile(ua), true, ua);
  }
  for (const ua of [DESKTOP, IPAD, ANDROID_TABLET, '', undefined]) assert.equal(isMobile(ua), false, String(ua));
});

test('host names: port stripped, lower-cased; anything but a plain DNS name is none', () => {
  const table: Array<[string | undefined, string | null]> = [
    ['Mail.Example.COM', 'mail.example.com'],
    ['mail.example.com:8080', 'mail.example.com'],
    ['mail.example.com.', 'mail.example.com'],
    ['localhost', 'localhost'],
    ['127.0.0.1:80', '127.0.0.1'],
    ['[::1]:8080', null],
    ['..', null],
    ['a..b', null],
    ['a/b', null],
    ['../../etc', null],
    ['a\\b', null],
    ['-a.example', null],
    ['a_b.example', null],
    ['host:port', null],
    ['', null],
    [undefined, null],
    ['a'.repeat(64) + '.example', null],
  ];
  for (const [h, want] of table) assert.equal(plainHostName(h), want, String(h));
});

test('chooseTemplates: the host\'s set, the default under path, the built-in; mobile/ first for a phone', () => {
  const o: HttpOptions = { ...BASE_OPTIONS, path: '/srv/tpl', virtualHosts: [{ host: '*.corp.example', template: 'wild' }, { host: 'mail.corp.example', template: 'corp' }, { host: 'evil.example', template: '../etc' }] };
  assert.deepEqual(chooseTemplates(o, TEMPLATES, 'MAIL.corp.example:443', DESKTOP), { dirs: ['/srv/tpl/corp', '/srv/tpl/default', BUILTIN], mobile: false, name: 'corp' });
  assert.deepEqual(chooseTemplates(o, TEMPLATES, 'x.y.corp.example', IPHONE), {
    dirs: ['/srv/tpl/wild/mobile', '/srv/tpl/wild', '/srv/tpl/default/mobile', '/srv/tpl/default', path.join(BUILTIN, 'mobile'), BUILTIN],
    mobile: true,
    name: 'wild',
  });
  assert.equal(chooseTemplates(o, TEMPLATES, 'corp.example', DESKTOP).name, 'default', 'a wildcard does not match its own base name');
  assert.deepEqual(chooseTemplates(o, TEMPLATES, 'other.example', DESKTOP).dirs, ['/srv/tpl/default', BUILTIN]);
  assert.deepEqual(chooseTemplates(o, TEMPLATES, 'evil.example', DESKTOP).dirs, ['/srv/tpl/default', BUILTIN], 'a template name that is not one plain segment is ignored');
  assert.deepEqual(chooseTemplates(o, TEMPLATES, '../corp', DESKTOP).dirs, ['/srv/tpl/default', BUILTIN]);
  assert.deepEqual(chooseTemplates(o, TEMPLATES, undefined, undefined).dirs, ['/srv/tpl/default', BUILTIN]);
  // no path: the built-in set only, whatever the host
  assert.deepEqual(chooseTemplates({ ...o, path: '' }, TEMPLATES, 'mail.corp.example', IPHONE).dirs, [path.join(BUILTIN, 'mobile'), BUILTIN]);
});

let root: string;
let s: Standalone;
const write = (rel: string, text: string): void => {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
};
before(async () => {
  root = tmpDir('postern-views-');
  write('default/page.eta', `<% layout('layout') %><h1 data-page="site-default"><%= it.title %></h1>`);
  write('corp/layout.eta', `<html><body class="<%= it.mobile ? 'mobile' : 'desktop' %>" data-layout="corp"><%~ it.body %></body></html>`);
  write('corp/page.eta', `<% layout('layout') %><h1 data-page="corp"><%= it.title %></h1><p class="csrf"><%= it.csrf %></p>`);
  write('corp/mobile/page.eta', `<% layout('layout') %><h1 data-page="corp-mobile"><%= it.title %></h1>`);
  write('corp/static/corp.css', 'h1 { color: navy; }\n');
  write('lite/layout.eta', `<html><body data-layout="lite"><%~ it.body %></body></html>`);
  // what a traversal out of corp/static/ would reach
  write('secret.txt', 'not for the web\n');
  write('corp/secret.txt', 'not for the web\n');
  s = await standalone({
    setup: setupTestApp,
    templates: TEMPLATES,
    options: { path: root, virtualHosts: [{ host: 'mail.corp.example', template: 'corp' }, { host: '*.lite.example', template: 'lite' }] },
  });
});
after(async () => s?.close());

const page = (host: string, ua = DESKTOP, extra: string[] = [], title = 'Inbox') =>
  curl(`${s.url}/page?title=${encodeURIComponent(title)}`, ['-H', `Host: ${host}`, '-A', ua, ...extra]);
const marks = (html: string): { layout: string | undefined; page: string | undefined; mobile: boolean } => ({
  layout: /data-layout="([^"]+)"/.exec(html)?.[1],
  page: /data-page="([^"]+)"/.exec(html)?.[1],
  mobile: /class="mobile"/.test(html),
});

test('a virtual host gets its templates; other hosts the default set; a phone the mobile set', async () => {
  const corp = await page('mail.corp.example:8080');
  assert.equal(corp.status, 200);
  assert.match(corp.header('content-type') ?? '', /^text\/html/);
  assert.deepEqual(marks(corp.body), { layout: 'corp', page: 'corp', mobile: false });
  assert.deepEqual(marks((await page('other.example')).body), { layout: 'builtin', page: 'site-default', mobile: false });
  assert.deepEqual(marks((await page('mail.corp.example', IPHONE)).body), { layout: 'corp', page: 'corp-mobile', mobile: true });
  assert.deepEqual(marks((await page('mail.corp.example', IPAD)).body), { layout: 'corp', page: 'corp', mobile: false });
  // a host name that is not a plain DNS name: the default set, never a path
  assert.deepEqual(marks((await page('../corp')).body), { layout: 'builtin', page: 'site-default', mobile: false });
});

test('a partial custom set falls back: a set with only layout.eta takes its page from below', async () => {
  // lite has only layout.eta: the page comes from the default set under path
  assert.deepEqual(marks((await page('a.lite.example')).body), { layout: 'lite', page: 'site-default', mobile: false });
  // the default set under path has no layout: the built-in one; a phone: built-in mobile layout dirs too
  assert.deepEqual(marks((await page('other.example', ANDROID_PHONE)).body), { layout: 'builtin', page: 'site-default', mobile: true });
  // no path at all: the built-in set, with its mobile page for a phone
  s.setOptions({ path: '' });
  try {
    assert.deepEqual(marks((await page('mail.corp.example')).body), { layout: 'builtin', page: 'builtin', mobile: false });
    assert.deepEqual(marks((await page('mail.corp.example', IPHONE)).body), { layout: 'builtin', page: 'builtin-mobile', mobile: true });
  } finally {
    s.setOptions({ path: root });
  }
});

test('templates escape what they interpolate; it.csrf and it.user come from the session', async () => {
  const r = await page('mail.corp.example', DESKTOP, [], '<script>alert("x")</script>');
  assert.ok(!r.body.includes('<script>'), r.body);
  assert.ok(r.body.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'), r.body);
  const login = await curl(`${s.url}/login`, ['--data', 'username=gina@example.org']);
  const cookie = cookieOf(login)!;
  const { csrf } = JSON.parse(login.body) as { csrf: string };
  const withSession = await page('other.example', DESKTOP, ['-H', `Cookie: ${cookie}`]);
  assert.equal(marks(withSession.body).page, 'site-default');
  s.setOptions({ path: '' });
  try {
    const b = await curl(`${s.url}/page`, ['-H', `Cookie: ${cookie}`]);
    assert.ok(b.body.includes(`<p class="csrf">${csrf}</p>`), b.body);
    assert.ok(b.body.includes('<p class="user">gina@example.org</p>'), b.body);
    const anon = await curl(`${s.url}/page`);
    assert.ok(anon.body.includes('<p class="csrf"></p>'), anon.body);
  } finally {
    s.setOptions({ path: root });
  }
});

test('an operator\'s edit is picked up: within a second, and at once on reload; a new override too', async () => {
  assert.equal(marks((await page('mail.corp.example')).body).page, 'corp');
  write('corp/page.eta', `<% layout('layout') %><h1 data-page="corp-edited"><%= it.title %></h1>`);
  await waitFor(async () => marks((await page('mail.corp.example')).body).page === 'corp-edited', 5000, 'the edited template');
  // a reload (new options) forgets what it knew at once
  write('corp/page.eta', `<% layout('layout') %><h1 data-page="corp-reloaded"><%= it.title %></h1>`);
  s.setOptions({});
  assert.equal(marks((await page('mail.corp.example')).body).page, 'corp-reloaded');
  // a file added to a partial set now overrides the one below it
  write('lite/page.eta', `<% layout('layout') %><h1 data-page="lite"><%= it.title %></h1>`);
  s.setOptions({});
  assert.deepEqual(marks((await page('b.lite.example')).body), { layout: 'lite', page: 'lite', mobile: false });
});

test('static files: from the request\'s dirs, typed, cached; path traversal refused with 404', async () => {
  const css = await curl(`${s.url}/static/app.css`, ['-H', 'Host: other.example']);
  assert.equal(css.status, 200);
  assert.equal(css.header('content-type'), 'text/css; charset=utf-8');
  assert.match(css.header('cache-control') ?? '', /max-age=\d+/);
  assert.equal(css.body, 'body { color: #222; }\n');
  const etag = css.header('etag')!;
  assert.equal((await curl(`${s.url}/static/app.css`, ['-H', `If-None-Match: ${etag}`])).status, 304);
  assert.equal((await curl(`${s.url}/static/corp.css`, ['-H', 'Host: mail.corp.example'])).status, 200);
  assert.equal((await curl(`${s.url}/static/corp.css`, ['-H', 'Host: other.example'])).status, 404, 'another host\'s set is not searched');
  assert.equal((await curl(`${s.url}/static/nothing.css`)).status, 404);
  for (const p of [
    '/static/../secret.txt',
    '/static/../../secret.txt',
    '/static/..%2fsecret.txt',
    '/static/..%2f..%2fsecret.txt',
    '/static/%2e%2e/%2e%2e/secret.txt',
    '/static/%2e%2e%2f%2e%2e%2fsecret.txt',
    '/static/..%5c..%5csecret.txt',
    '/static/.%2e/page.eta',
    '/static/../page.eta',
    '/static/%2fetc%2fpasswd',
    '/static//etc/passwd',
    '/static/.hidden',
    '/static/app.css%00.png',
  ]) {
    const r = await curl(`${s.url}${p}`, ['--path-as-is', '-H', 'Host: mail.corp.example']);
    assert.equal(r.status, 404, p);
    assert.ok(!r.body.includes('not for the web') && !r.body.includes('layout('), p);
  }
});
