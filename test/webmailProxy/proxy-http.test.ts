/**
 * The WebMail proxy over real sockets (curl with a cookie jar), in front of a real Postern back
 * end with WebMail: its own login page (desktop and mobile templates, its own static files), a
 * wrong password shown on its page with the username kept, a login that ends on the back end's
 * Inbox, every later request of the session forwarded (pages, a form POST with the back end's
 * CSRF token, a multipart upload streamed, the SSE event stream), the back end's token never
 * given to the browser, an unknown token sent to the login page, a cross-site POST refused, and
 * logout forgetting the affinity. Then the host's HTTP limits on the proxy (headers, body,
 * upload) answered before the back end sees anything, the proxy's own login throttle
 * (maxAuthErrors, authBanThreshold), and virtual-host templates for its login page.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runProcess, tmpDir } from '../helpers.ts';
import { ANN, BOB, PW, mail, MOBILE_UA, startWebmail, type WebmailEnv } from '../webmail/browser.ts';
import { browser, parseCurlReply } from '../webmail/read-helpers.ts';
import { curl, startProxy, type ProxyEnv } from './helpers.ts';

let be: WebmailEnv;
let px: ProxyEnv;
let annUid = 0;

before(async () => {
  be = await startWebmail();
  px = await startProxy({ backendPort: Number(new URL(be.base).port) });
  annUid = await be.deliver(ANN, mail({ from: 'Zed <zed@example.net>', to: ANN, subject: 'Through the proxy', body: 'Body seen through the front end.' }));
});
after(async () => {
  await px?.stop();
  await be?.stop();
});

test("GET / is the proxy's own login page (desktop and mobile), with its own static files", async () => {
  const r = await curl(`${px.base}/`);
  assert.equal(r.status, 200);
  assert.match(r.text, /<form id="login" method="post" action="\/login">/);
  assert.match(r.text, /href="\/_proxy\/static\/proxy\.css"/);
  assert.match(r.text, /<body class="desktop page-login">/);
  const m = await curl(`${px.base}/`, ['-A', MOBILE_UA]);
  assert.match(m.text, /<body class="mobile page-login">/);
  assert.match(m.text, /type="email"/, 'the mobile login.eta');
  const css = await curl(`${px.base}/_proxy/static/proxy.css`);
  assert.equal(css.status, 200);
  assert.match(css.headers['content-type']!, /text\/css/);
  assert.equal((await curl(`${px.base}/_proxy/static/../index.ts`, ['--path-as-is'])).status, 404);
  assert.equal((await curl(`${px.base}/_proxy/static/nope.css`)).status, 404);
});

test('a wrong password: the login page again with the username kept and a message; no session', async () => {
  const b = browser(px.base);
  const r = await b.login(ANN, 'not the password');
  assert.equal(r.status, 200);
  assert.match(r.text, /class="error"[^>]*>Wrong user name or password\./);
  assert.match(r.text, new RegExp(`name="username"[^>]*value="${ANN}"`));
  assert.equal(r.headers['set-cookie'], undefined);
  assert.equal((await b.get('/mail?f=INBOX')).status, 303);
  const empty = await b.login('', '');
  assert.equal(empty.status, 400);
});

test('login through the proxy: the Inbox, a message, a form POST, an upload, the event stream, logout', async () => {
  const b = browser(px.base);
  const r = await b.login(ANN, PW);
  assert.equal(r.status, 303);
  assert.equal(r.headers['location'], '/mail?f=INBOX');
  const cookie = /postern_session=([A-Za-z0-9_-]{43})/.exec(r.headers['set-cookie'] ?? '');
  assert.ok(cookie, 'the proxy gives the browser a session cookie');

  // the back end's own session is a different token: the browser's cookie means nothing there
  const direct = await curl(`${be.base}/mail?f=INBOX`, ['-H', `Cookie: postern_session=${cookie[1]}`]);
  assert.equal(direct.status, 303, 'the proxy token is not a back-end session');

  const list = await b.get('/mail?f=INBOX');
  assert.equal(list.status, 200);
  assert.match(list.text, /Through the proxy/);
  assert.match(list.text, new RegExp(`tr class="msg[^"]*" data-uid="${annUid}"`));
  const msg = await b.get(`/mail/message?f=INBOX&uid=${annUid}`);
  assert.equal(msg.status, 200);
  assert.match(msg.text, /id="subject"[^>]*>Through the proxy/);
  assert.match(msg.text, /Body seen through the front end\./);
  const css = await b.get('/static/style.css'); // the back end's static files, once logged in
  assert.equal(css.status, 200);

  // a form POST with the back end's CSRF token: the body reaches the back end
  const act = await b.post('/mail/action', [['f', 'INBOX'], ['uid', String(annUid)], ['action', 'flag']]);
  assert.equal(act.status, 303, act.text);
  assert.ok((await be.flags(ANN, annUid))!.includes('\\Flagged'));
  // without the token the back end refuses it (403), through the proxy
  const bad = await b.post('/mail/action', [['_csrf', 'x'.repeat(43)], ['f', 'INBOX'], ['uid', String(annUid)], ['action', 'unflag']]);
  assert.equal(bad.status, 403);

  // a multipart upload, streamed: a draft with an attachment lands in Drafts on the back end
  const dir = tmpDir('postern-wmproxy-up-');
  const file = path.join(dir, 'notes.bin');
  fs.writeFileSync(file, Buffer.alloc(300_000, 7));
  const out = path.join(dir, 'out.bin');
  const up = await runProcess('curl', ['-sS', '-i', '-b', b.jar, '-c', b.jar, '-o', out, '-F', `_csrf=${b.csrf}`, '-F', 'to=bob@example.org', '-F', 'subject=Draft via proxy', '-F', 'body=hello', '-F', 'draft=1', '-F', `attachment=@${file}`, `${px.base}/compose`]);
  assert.equal(up.code, 0, up.stderr);
  assert.equal(parseCurlReply(fs.readFileSync(out)).status, 303);
  await be.waitCount(ANN, 1, 'Drafts');

  // the event stream: the back end's SSE comes through as it is written
  const sse = await runProcess('curl', ['-sS', '-N', '-i', '-b', b.jar, '--max-time', '2', `${px.base}/events?f=INBOX`], { timeoutMs: 10_000 });
  assert.equal(sse.code, 28, 'curl stops it at --max-time: the stream stays open');
  assert.match(sse.stdout, /content-type: text\/event-stream/i);
  assert.match(sse.stdout, /: subscribed/);

  // logout: forwarded, the cookie cleared, the affinity forgotten
  const out2 = await b.post('/logout', []);
  assert.equal(out2.status, 303);
  assert.equal(out2.headers['location'], '/');
  assert.match(out2.headers['set-cookie'] ?? '', /postern_session=;.*Max-Age=0/);
  const again = await curl(`${px.base}/mail?f=INBOX`, ['-H', `Cookie: postern_session=${cookie[1]}`]);
  assert.equal(again.status, 303, 'the old token no longer reaches the back end');
  assert.equal(again.headers['location'], '/');
});

test('no session or an unknown token: the login page; a cross-site POST is refused at the proxy', async () => {
  const unknown = ['-H', `Cookie: postern_session=${'A'.repeat(43)}`];
  const home = await curl(`${px.base}/`, unknown);
  assert.equal(home.status, 200);
  assert.match(home.text, /form id="login"/);
  assert.equal((await curl(`${px.base}/mail?f=INBOX`, unknown)).status, 303);
  assert.equal((await curl(`${px.base}/mail/action`, [...unknown, '-d', 'x=1'])).status, 401);

  const b = browser(px.base);
  assert.equal((await b.login(BOB, PW)).status, 303);
  await b.get('/mail?f=INBOX');
  const cross = await b.post('/mail/action', [['f', 'INBOX'], ['uid', '1'], ['action', 'read']], ['Origin: http://evil.example']);
  assert.equal(cross.status, 403);
  const crossLogin = await curl(`${px.base}/login`, ['-H', 'Origin: http://evil.example', '-d', `username=${BOB}&password=x`]);
  assert.equal(crossLogin.status, 403);
  // a logged-in browser going to / is sent on to its Inbox by the back end
  const home2 = await b.get('/');
  assert.equal(home2.status, 303);
  assert.equal(home2.headers['location'], '/mail?f=INBOX');
});

test("the host's HTTP limits on the proxy: headers 431, body 413, upload 413, before any back end", async () => {
  const small = await startProxy({ backendPort: Number(new URL(be.base).port), extra: 'httpHeadersMaxSize = 2 httpBodyMaxSize = 1 uploadMaxSize = 4' });
  try {
    const b = browser(small.base);
    assert.equal((await b.login(ANN, PW)).status, 303);
    await b.get('/mail?f=INBOX');
    const big = await curl(`${small.base}/`, ['-H', `X-Big: ${'y'.repeat(3000)}`]);
    assert.equal(big.status, 431);
    const body = await b.post('/mail/action', [['f', 'INBOX'], ['uid', String(annUid)], ['action', 'read'], ['pad', 'z'.repeat(2000)]]);
    assert.equal(body.status, 413);
    const dir = tmpDir('postern-wmproxy-up-');
    const file = path.join(dir, 'big.bin');
    fs.writeFileSync(file, Buffer.alloc(8000, 1));
    const up = await runProcess('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-b', b.jar, '-F', `_csrf=${b.csrf}`, '-F', 'draft=1', '-F', `attachment=@${file}`, `${small.base}/compose`]);
    assert.equal(up.stdout, '413');
    assert.equal(await be.count(ANN, 'Drafts'), 1, 'the upload over the limit never reached the back end');
  } finally {
    await small.stop();
  }
});

test("the proxy's login throttle: maxAuthErrors closes the connection; after authBanThreshold failures the client's IP is banned on the proxy", async () => {
  const guarded = await startProxy({ backendPort: Number(new URL(be.base).port), extra: 'maxAuthErrors = 2 authBanThreshold = 3 authBanTime = 600' });
  try {
    // two failures on one connection (curl reuses it): the second answer closes it
    const two = await runProcess('curl', ['-sS', '-i', '-d', `username=${ANN}&password=bad`, `${guarded.base}/login`, `${guarded.base}/login`]);
    const answers = two.stdout.split(/(?=HTTP\/1\.1 )/);
    assert.equal(answers.length, 2);
    assert.doesNotMatch(answers[0]!, /^connection: close/im);
    assert.match(answers[1]!, /^connection: close/im);
    // a third failure (a new connection): the IP is banned; even the right password is refused
    assert.equal((await browser(guarded.base).login(ANN, 'bad again')).status, 200);
    const refused = await curl(`${guarded.base}/login`, ['--data-urlencode', `username=${ANN}`, '--data-urlencode', `password=${PW}`]);
    assert.equal(refused.status, 403);
    assert.doesNotMatch(refused.headers['set-cookie'] ?? '', /postern_session=/);
    const st = guarded.server.status().services.find((s) => s.name === 'webmailProxy')!;
    assert.equal(st.logins?.failed, 3);
  } finally {
    await guarded.stop();
  }
});

test("virtual-host templates: the proxy's login page from the host's own set under path, the rest from the built-in one", async () => {
  const root = tmpDir('postern-wmproxy-tpl-');
  fs.mkdirSync(path.join(root, 'brand'), { recursive: true });
  fs.writeFileSync(path.join(root, 'brand', 'login.eta'), `<% layout('layout', { page: 'login', title: 'Brand' }) %><h1 id="brand">Brand Mail</h1><form id="login" method="post" action="/login"><input name="username" value="<%= it.username %>"><input name="password" type="password"><button type="submit">Go</button></form>`);
  const branded = await startProxy({ backendPort: Number(new URL(be.base).port), extra: `path = "${root}" virtualHosts = ( { host = "mail.brand.example" template = brand } )` });
  try {
    const own = await curl(`${branded.base}/`, ['-H', 'Host: mail.brand.example']);
    assert.match(own.text, /<h1 id="brand">Brand Mail<\/h1>/);
    assert.match(own.text, /href="\/_proxy\/static\/proxy\.css"/, 'the layout from the built-in set');
    const other = await curl(`${branded.base}/`, ['-H', 'Host: other.example']);
    assert.doesNotMatch(other.text, /Brand Mail/);
    assert.match(other.text, /Postern WebMail/);
    // a failed login on the branded host: its own page again, the username kept
    const failed = await curl(`${branded.base}/login`, ['-H', 'Host: mail.brand.example', '--data-urlencode', `username=${ANN}`, '--data-urlencode', 'password=bad']);
    assert.match(failed.text, /Brand Mail/);
    assert.match(failed.text, new RegExp(`value="${ANN}"`));
  } finally {
    await branded.stop();
  }
});

test("two connection threads: the session made on one is honoured on the other (the service host's table)", async () => {
  const two = await startProxy({ backendPort: Number(new URL(be.base).port), threads: 'minConnThreads = 2 maxConnThreads = 2' });
  try {
    const r = await browser(two.base).login(ANN, PW);
    assert.equal(r.status, 303);
    const cookie = /postern_session=[A-Za-z0-9_-]{43}/.exec(r.headers['set-cookie'] ?? '')![0];
    // each curl is a new connection, spread over the threads: every one reaches the Inbox
    const pages = await Promise.all(Array.from({ length: 6 }, () => curl(`${two.base}/mail?f=INBOX`, ['-H', `Cookie: ${cookie}`])));
    assert.deepEqual(pages.map((p) => p.status), [200, 200, 200, 200, 200, 200]);
    const node = two.server.status().services.find((s) => s.name === 'webmailProxy')!;
    assert.equal(node.connThreads.current, 2);
  } finally {
    await two.stop();
  }
});
