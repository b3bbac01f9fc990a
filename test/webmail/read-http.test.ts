/**
 * WebMail's reading side over real sockets (curl with a cookie jar; mail by smtplib and by the
 * store probe): logging in (ok, failed, hostNameResolver, logout), the folder tree, the list of a
 * 120-message folder sorted each way and paged, a text message, an HTML message (sanitised,
 * served under its own CSP, remote content blocked until asked), cid and attachment downloads
 * byte for byte, the raw source, the conversation view, search, bad parameters, and a login
 * brute force banned by the per-IP throttle.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { browser, smtpSend, startReadServer, type Browser, type ReadEnv } from './read-helpers.ts';
import { waitFor } from '../helpers.ts';
import { python } from '../pop3/helpers.ts';

let env: ReadEnv;
const ANN = 'ann@example.org';
const PW = 'ann-secret';

before(async () => {
  env = await startReadServer({ webmail: 'hostNameResolver = ( { host = "mail.other.test" domain = "other.test" } ) UrlRedirect = { address = 127.0.0.1:8443 host = "secure.example.org" } showDomainList = yes' });
  await env.addUser(ANN, PW);
  await env.server.admin('domain.add', { name: 'other.test', postmasterPassword: 'pm-secret-1' });
  await env.addUser('bob@other.test', 'bob-secret');
});
after(async () => {
  await env?.stop();
});

async function loggedIn(user = ANN, pw = PW): Promise<Browser> {
  const b = browser(env.base);
  const r = await b.login(user, pw);
  assert.equal(r.status, 303, r.text);
  await b.get('/mail?f=INBOX'); // its CSRF token
  return b;
}

const rowsOf = (html: string): number[] => [...html.matchAll(/<tr class="msg[^"]*" data-uid="(\d+)"/g)].map((m) => Number(m[1]));

test('login: the form, a failed login shows it again with the name kept, a good one sets the session cookie; logout ends it', async () => {
  const b = browser(env.base);
  const form = await b.get('/');
  assert.equal(form.status, 200);
  assert.match(form.text, /<form id="login" method="post" action="\/login">/);
  assert.match(form.text, /name="username"/);
  assert.match(form.text, /name="password" type="password"/);
  assert.match(form.text, /<a id="secure-login" href="https:\/\/secure\.example\.org:8443\/">/, 'UrlRedirect (auto no): a link to the secure login');
  const bad = await b.login(ANN, 'wrong');
  assert.equal(bad.status, 200);
  assert.match(bad.text, /class="error"/);
  assert.match(bad.text, /value="ann@example.org"/);
  assert.doesNotMatch(bad.headers['set-cookie'] ?? '', /postern_session=/);
  assert.equal((await b.get('/mail?f=INBOX')).status, 303, 'no session yet');
  const ok = await b.login(ANN, PW);
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.location, '/mail?f=INBOX');
  assert.match(ok.headers['set-cookie'] ?? '', /postern_session=[^;]+;.*HttpOnly/i);
  assert.match(ok.headers['set-cookie'] ?? '', /SameSite=Lax/i);
  assert.equal((await b.get('/')).headers.location, '/mail?f=INBOX', 'logged in: / goes on to the inbox');
  const inbox = await b.get('/mail?f=INBOX');
  assert.equal(inbox.status, 200);
  assert.match(inbox.text, /<nav id="folders"/);
  const out = await b.post('/logout', []);
  assert.equal(out.status, 303);
  assert.equal(out.headers.location, '/');
  assert.equal((await b.get('/mail?f=INBOX')).status, 303, 'the session is gone');
  const empty = await browser(env.base).login('', '');
  assert.equal(empty.status, 400);
  assert.match(empty.text, /class="error"/);
});

test('login: the maxAuthErrors-th failed login on one connection closes it (Python http.client)', async () => {
  const out = await python(`
import http.client, urllib.parse
c = http.client.HTTPConnection('127.0.0.1', ${env.port}, timeout=20)
body = urllib.parse.urlencode({'username': 'ann@example.org', 'password': 'wrong'})
for i in range(3):
    c.request('POST', '/login', body, {'Content-Type': 'application/x-www-form-urlencoded'})
    r = c.getresponse()
    r.read()
    print(r.status, r.getheader('Connection'), c.sock is None)
`);
  assert.deepEqual(out.trim().split('\n'), ['200 keep-alive False', '200 keep-alive False', '200 close True']);
});

test('login: showDomainList offers the domains; a bare name gets the one picked', async () => {
  const b = browser(env.base);
  const form = await b.get('/');
  assert.match(form.text, /<select id="domain" name="domain">[\s\S]*<option value="example\.org">example\.org<\/option>[\s\S]*<option value="other\.test">other\.test<\/option>/);
  const r = await b.post('/login', [['username', 'bob'], ['password', 'bob-secret'], ['domain', 'other.test']]);
  assert.equal(r.status, 303, r.text);
  const wrong = await browser(env.base).post('/login', [['username', 'bob'], ['password', 'bob-secret'], ['domain', 'not-ours.test']]);
  assert.equal(wrong.status, 200, 'a domain that is not ours is not used');
  assert.match(wrong.text, /class="error"/);
});

test('login: a bare name on a host named in hostNameResolver gets that domain', async () => {
  const elsewhere = await browser(env.base).login('bob', 'bob-secret');
  assert.equal(elsewhere.status, 200, 'bob@example.org does not exist');
  const b = browser(env.base);
  const r = await b.login('bob', 'bob-secret', ['Host: mail.other.test']);
  assert.equal(r.status, 303, r.text);
  const page = await b.get('/mail?f=INBOX', ['Host: mail.other.test']);
  assert.match(page.text, /bob@other\.test/);
});

test('folder tree: special-use folders first, unread counts', async () => {
  await env.deliver(ANN, 'From: x@y.org\r\nSubject: in archive\r\n\r\nx\r\n', 'Archive');
  const b = await loggedIn();
  const page = (await b.get('/mail?f=INBOX')).text;
  const names = [...page.matchAll(/<a data-folder="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(names.slice(0, 6), ['INBOX', 'Drafts', 'Sent', 'Junk', 'Trash', 'Archive']);
  assert.match(page, /data-folder="Archive" href="[^"]+"><span class="label">Archive<\/span> <span class="unread">1<\/span>/);
  assert.equal((await b.get('/mail?f=Nope')).status, 404);
  assert.equal((await b.get('/mail')).status, 400);
  assert.equal((await b.get('/mail?f=INBOX&sort=color')).status, 400);
  assert.equal((await b.get('/mail?f=INBOX&page=-1')).status, 400);
});

test('list: 120 messages, 50 a page, sorted by date, sender, subject and size both ways, flags and the attachment mark', async () => {
  const user = 'list@example.org';
  await env.addUser(user, 'list-pw');
  const expect: Array<{ uid: number; date: number; from: string; subject: string; size: number }> = [];
  for (let i = 0; i < 120; i++) {
    const date = Date.UTC(2024, 0, 1) + ((i * 37) % 120) * 3_600_000; // dates not in UID order
    const from = `sender${String((i * 53) % 120).padStart(3, '0')}@example.net`;
    const subject = `Topic ${String((i * 71) % 120).padStart(3, '0')}`;
    const attach = i % 10 === 0;
    const body = attach
      ? `Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f${i}.bin"\r\n\r\n${'z'.repeat(i)}\r\n--b--\r\n`
      : `\r\n${'y'.repeat(i * 3)}\r\n`;
    const text = `From: ${from}\r\nTo: ${user}\r\nSubject: ${subject}\r\nDate: ${new Date(date).toUTCString().replace('GMT', '+0000')}\r\nMIME-Version: 1.0\r\n${body}`;
    const uid = await env.deliver(user, text);
    expect.push({ uid, date, from, subject, size: Buffer.byteLength(text) });
  }
  const b = await loggedIn(user, 'list-pw');
  const uidsOf = async (q: string): Promise<number[]> => {
    const r = await b.get(`/mail?f=INBOX${q}`);
    assert.equal(r.status, 200, q);
    return rowsOf(r.text);
  };
  const by = (k: 'date' | 'from' | 'subject' | 'size') => [...expect].sort((x, y) => (x[k] < y[k] ? -1 : x[k] > y[k] ? 1 : 0) || x.uid - y.uid).map((x) => x.uid);
  for (const k of ['date', 'from', 'subject', 'size'] as const) {
    const asc = by(k);
    assert.deepEqual(await uidsOf(`&sort=${k}&order=asc`), asc.slice(0, 50), `${k} asc page 1`);
    assert.deepEqual(await uidsOf(`&sort=${k}&order=asc&page=3`), asc.slice(100), `${k} asc page 3`);
    assert.deepEqual(await uidsOf(`&sort=${k}&order=desc&page=2`), [...asc].reverse().slice(50, 100), `${k} desc page 2`);
  }
  const first = await b.get('/mail?f=INBOX');
  assert.deepEqual(rowsOf(first.text), [...by('date')].reverse().slice(0, 50), 'default: newest first');
  assert.match(first.text, /<a class="page-next" rel="next" href="\/mail\?f=INBOX&amp;sort=date&amp;order=desc&amp;page=2">/);
  assert.doesNotMatch(first.text, /class="page-prev"/);
  assert.match(first.text, /<a data-sort="subject" href="[^"]*sort=subject/);
  const last = await b.get('/mail?f=INBOX&page=3');
  assert.equal(rowsOf(last.text).length, 20);
  assert.match(last.text, /class="page-prev"/);
  assert.doesNotMatch(last.text, /class="page-next"/);
  // flags and the attachment mark
  const withFile = expect[10]!.uid;
  const page = (await b.get('/mail?f=INBOX&sort=date&order=asc&page=1')).text + (await b.get('/mail?f=INBOX&sort=date&order=asc&page=2')).text + (await b.get('/mail?f=INBOX&sort=date&order=asc&page=3')).text;
  const row = new RegExp(`<tr class="msg unseen" data-uid="${withFile}">[\\s\\S]*?</tr>`).exec(page)?.[0] ?? '';
  assert.match(row, /class="attachment-mark"/);
  const plain = new RegExp(`<tr class="msg unseen" data-uid="${expect[11]!.uid}">[\\s\\S]*?</tr>`).exec(page)?.[0] ?? '';
  assert.ok(plain !== '' && !plain.includes('attachment-mark'));
  assert.equal((page.match(/class="attachment-mark"/g) ?? []).length, 12);
  // reading a message marks it read in the list
  await b.get(`/mail/message?f=INBOX&uid=${withFile}`);
  const again = (await b.get('/mail?f=INBOX&sort=date&order=asc&page=1')).text + (await b.get('/mail?f=INBOX&sort=date&order=asc&page=2')).text + (await b.get('/mail?f=INBOX&sort=date&order=asc&page=3')).text;
  assert.match(again, new RegExp(`<tr class="msg" data-uid="${withFile}">`));
});

test('list: stays current across deliveries, flag changes and removals (its cache catches up)', async () => {
  const user = 'fresh@example.org';
  await env.addUser(user, 'fresh-pw');
  const msg = (n: number): string => `From: f${n}@x.test\r\nSubject: fresh ${n}\r\nDate: ${new Date(Date.UTC(2024, 3, n)).toUTCString()}\r\n\r\nbody ${n}\r\n`;
  const u1 = await env.deliver(user, msg(1));
  const u2 = await env.deliver(user, msg(2));
  const b = await loggedIn(user, 'fresh-pw');
  assert.deepEqual(rowsOf((await b.get('/mail?f=INBOX')).text), [u2, u1]);
  const u3 = await env.deliver(user, msg(3));
  assert.deepEqual(rowsOf((await b.get('/mail?f=INBOX')).text), [u3, u2, u1], 'a new message');
  assert.equal((await b.post('/mail/action', [['f', 'INBOX'], ['uid', String(u2)], ['action', 'flag']])).status, 303);
  assert.match((await b.get('/mail?f=INBOX')).text, new RegExp(`<tr class="msg unseen flagged" data-uid="${u2}">`), 'a flag change');
  assert.equal((await b.post('/mail/action', [['f', 'INBOX'], ['uid', String(u1)], ['action', 'delete']])).status, 303);
  const after = await b.get('/mail?f=INBOX');
  assert.deepEqual(rowsOf(after.text), [u3, u2], 'a removal');
  assert.match(after.text, /2 messages/);
  const trash = await b.get('/mail?f=Trash');
  assert.equal(rowsOf(trash.text).length, 1);
  assert.match(trash.text, /fresh 1/);
  assert.match(trash.text, /<button id="empty-trash"/);
});

test('a text message: headers, decoded text, \\Seen set; the raw source as it was stored', async () => {
  const text = 'From: =?utf-8?q?Z=C3=BCrich_Team?= <team@zh.test>\r\nTo: ann@example.org\r\nSubject: =?utf-8?b?R3LDvMOfZQ==?=\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 <b>not bold</b> & more\r\n';
  const uid = await env.deliver(ANN, text);
  const b = await loggedIn();
  const r = await b.get(`/mail/message?f=INBOX&uid=${uid}`);
  assert.equal(r.status, 200);
  assert.match(r.text, /<h1 id="subject">Grüße<\/h1>/);
  assert.match(r.text, /<dd id="from">Zürich Team &lt;team@zh\.test&gt;<\/dd>/);
  assert.match(r.text, /<pre id="message-text">Café &lt;b&gt;not bold&lt;\/b&gt; &amp; more/);
  assert.doesNotMatch(r.text, /iframe/);
  for (const id of ['reply', 'reply-all', 'forward', 'raw', 'thread']) assert.match(r.text, new RegExp(`<a id="${id}"`));
  assert.deepEqual(await env.flags(ANN, uid), ['\\Seen']);
  const raw = await b.get(`/mail/message/raw?f=INBOX&uid=${uid}`);
  assert.equal(raw.status, 200);
  assert.match(raw.headers['content-type']!, /^text\/plain/);
  assert.equal(raw.headers['x-content-type-options'], 'nosniff');
  assert.ok(raw.body.toString('latin1').endsWith(text), 'the source (after the delivery headers) is byte for byte the message');
  assert.equal((await b.get(`/mail/message?f=INBOX&uid=999999`)).status, 404);
  assert.equal((await b.get(`/mail/message?f=INBOX&uid=abc`)).status, 400);
  assert.equal((await b.get(`/mail/message?f=INBOX&uid=0`)).status, 400);
  assert.equal((await b.get(`/mail/message?f=INBOX&uid=99999999999`)).status, 400);
  assert.equal((await b.get(`/mail/message?f=INBOX&uid=1&remote=2`)).status, 400);
});

const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
const FILE = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + 3) & 0xff));

function htmlMessage(): string {
  const b64 = (buf: Buffer): string => buf.toString('base64').replace(/.{76}/g, '$&\r\n');
  return [
    'From: Shop <news@shop.test>', 'To: ann@example.org', 'Subject: Offers', 'Date: Wed, 3 Jan 2024 10:00:00 +0000', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="OUT"', '',
    '--OUT', 'Content-Type: multipart/related; boundary="REL"', '',
    '--REL', 'Content-Type: text/html; charset=utf-8', '',
    '<html><head><meta http-equiv="refresh" content="0;url=http://evil.test/"><base href="http://evil.test/"><style>.x{background:url(http://evil.test/bg.png)}</style></head>',
    '<body><p class="x">Hello <b>there</b></p><script>alert(1)</script><img src="http://evil.test/pixel.gif" alt="pixel"><img src=x onerror="alert(2)">',
    '<a href="javascript:alert(3)">bad</a> <a href="https://shop.test/deal">deal</a> <img src="cid:logo@shop" alt="logo"><svg onload="alert(4)"></svg></body></html>',
    '--REL', 'Content-Type: image/png', 'Content-ID: <logo@shop>', 'Content-Transfer-Encoding: base64', '', b64(PNG),
    '--REL--',
    '--OUT', 'Content-Type: application/octet-stream; name="data file.bin"', 'Content-Disposition: attachment; filename="../data file.bin"', 'Content-Transfer-Encoding: base64', '', b64(FILE),
    '--OUT--', '',
  ].join('\r\n');
}

test('an HTML message: sanitised into a sandboxed frame under its own CSP, remote content blocked until asked, cid and attachment byte for byte', async () => {
  const uid = await env.deliver(ANN, htmlMessage());
  const b = await loggedIn();
  const page = await b.get(`/mail/message?f=INBOX&uid=${uid}`);
  assert.equal(page.status, 200);
  const frame = /<iframe id="message-html"[^>]*>/.exec(page.text)?.[0] ?? '';
  assert.match(frame, /sandbox="[^"]*"/);
  assert.doesNotMatch(frame, /allow-scripts/);
  assert.match(frame, new RegExp(`src="/mail/message/html\\?f=INBOX&amp;uid=${uid}"`));
  assert.match(page.text, /<button id="show-remote"/);
  assert.doesNotMatch(page.text, /id="message-text"/);
  assert.match(page.text, /<ul id="attachments">\s*<li><a class="attachment" href="\/mail\/message\/part\?f=INBOX&amp;uid=\d+&amp;part=2" download>\.\.\/data file\.bin<\/a>/);
  assert.doesNotMatch(page.text, /part=1\.2/, 'the cid image is not listed as an attachment');
  // the page itself runs no inline script (the host's CSP forbids them)
  assert.doesNotMatch(page.text.replace(/<script src="[^"]+" defer><\/script>/g, ''), /<script/);

  const doc = await b.get(`/mail/message/html?f=INBOX&uid=${uid}`);
  assert.equal(doc.status, 200);
  const csp = doc.headers['content-security-policy']!;
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /img-src 'self' data:;/);
  assert.match(csp, /sandbox/);
  assert.doesNotMatch(csp, /script-src/);
  const html = doc.text;
  for (const bad of ['<script', 'onerror', 'onload', 'javascript:', '<meta http-equiv', '<base', 'evil.test', '<svg']) assert.ok(!html.includes(bad), `${bad} in ${html}`);
  assert.match(html, /<a href="https:\/\/shop\.test\/deal" target="_blank" rel="noopener noreferrer">deal<\/a>/);
  assert.match(html, new RegExp(`<img src="/mail/message/cid\\?f=INBOX&amp;uid=${uid}&amp;cid=logo%40shop" alt="logo" />`));
  assert.match(html, /<p class="x">Hello <b>there<\/b><\/p>/);

  const shown = await b.get(`/mail/message/html?f=INBOX&uid=${uid}&remote=1`);
  assert.match(shown.headers['content-security-policy']!, /img-src 'self' data: https: http:/);
  assert.match(shown.text, /<img src="http:\/\/evil\.test\/pixel\.gif" alt="pixel" \/>/);
  assert.match(shown.text, /url\("http:\/\/evil\.test\/bg\.png"\)/);
  assert.doesNotMatch(shown.text, /<script|javascript:|onerror/);
  const asked = await b.get(`/mail/message?f=INBOX&uid=${uid}&remote=1`);
  assert.match(asked.text, /src="\/mail\/message\/html\?f=INBOX&amp;uid=\d+&amp;remote=1"/);
  assert.doesNotMatch(asked.text, /id="show-remote"/);

  const cid = await b.get(`/mail/message/cid?f=INBOX&uid=${uid}&cid=logo%40shop`);
  assert.equal(cid.status, 200);
  assert.equal(cid.headers['content-type'], 'image/png');
  assert.match(cid.headers['content-disposition']!, /^inline/);
  assert.deepEqual(cid.body, PNG);
  assert.equal((await b.get(`/mail/message/cid?f=INBOX&uid=${uid}&cid=nope`)).status, 404);

  const part = await b.get(`/mail/message/part?f=INBOX&uid=${uid}&part=2`);
  assert.equal(part.status, 200);
  assert.equal(part.headers['content-type'], 'application/octet-stream');
  assert.equal(part.headers['content-disposition'], `attachment; filename="data file.bin"; filename*=UTF-8''data%20file.bin`);
  assert.equal(part.headers['x-content-type-options'], 'nosniff');
  assert.match(part.headers['content-security-policy']!, /default-src 'none'; sandbox/);
  assert.deepEqual(part.body, FILE);
  assert.equal((await b.get(`/mail/message/part?f=INBOX&uid=${uid}&part=7`)).status, 404);
  assert.equal((await b.get(`/mail/message/part?f=INBOX&uid=${uid}&part=1..2`)).status, 400);
  assert.equal((await b.get(`/mail/message/html?f=INBOX&uid=${await env.deliver(ANN, 'Subject: plain\r\n\r\ntext\r\n')}`)).status, 404);
});

test('conversation view: the messages linked by their ids, oldest first, with their text', async () => {
  const user = 'thread@example.org';
  await env.addUser(user, 'thread-pw');
  const m = (id: string, extra: string, subject: string, day: number, body: string): string =>
    `From: p${day}@x.test\r\nTo: ${user}\r\nMessage-ID: <${id}>\r\n${extra}Subject: ${subject}\r\nDate: ${new Date(Date.UTC(2024, 1, day)).toUTCString().replace('GMT', '+0000')}\r\n\r\n${body}\r\n`;
  const a = await env.deliver(user, m('a@t', '', 'Lunch?', 1, 'first words'));
  const other = await env.deliver(user, m('z@t', '', 'Unrelated', 2, 'nothing'));
  const c = await env.deliver(user, m('c@t', 'References: <a@t> <b@t>\r\n', 'Re: Lunch?', 4, 'third words'));
  const bb = await env.deliver(user, m('b@t', 'In-Reply-To: <a@t>\r\n', 'Re: Lunch?', 3, 'second words'));
  const b = await loggedIn(user, 'thread-pw');
  const r = await b.get(`/mail/thread?f=INBOX&uid=${c}`);
  assert.equal(r.status, 200);
  const order = [...r.text.matchAll(/<li class="thread-msg[^"]*" data-uid="(\d+)"/g)].map((x) => Number(x[1]));
  assert.deepEqual(order, [a, bb, c]);
  assert.ok(!order.includes(other));
  assert.match(r.text, /first words[\s\S]*second words[\s\S]*third words/);
  assert.match(r.text, new RegExp(`<li class="thread-msg current[^"]*" data-uid="${c}"`));
  assert.equal((await b.get(`/mail/thread?f=INBOX&uid=424242`)).status, 404);
});

test('search: from, to, subject, body text and dates, alone and together', async () => {
  const user = 'search@example.org';
  await env.addUser(user, 'search-pw');
  const m = (from: string, to: string, subject: string, day: number, body: string): string =>
    `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: ${new Date(Date.UTC(2024, 2, day, 12)).toUTCString().replace('GMT', '+0000')}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(body).toString('base64')}\r\n`;
  const u1 = await env.deliver(user, m('Alice <alice@a.test>', 'search@example.org', 'Invoice March', 1, 'Please pay the amount due, merci beaucoup.'));
  const u2 = await env.deliver(user, m('bob@b.test', 'Team <team@t.test>', 'Weekly notes', 10, 'The Invoice is attached somewhere.'));
  const u3 = await env.deliver(user, m('carol@c.test', 'search@example.org', 'Party', 20, 'Kuchen für alle! GRÜSSE'));
  await smtpSend(env.smtpPort, 'dave@d.test', user, `From: dave@d.test\r\nTo: ${user}\r\nSubject: by smtp\r\nDate: ${new Date(Date.UTC(2024, 2, 25)).toUTCString()}\r\n\r\nsmtp body marker zebra\r\n`);
  await waitFor(async () => (await env.uids(user)).length === 4, 20_000, 'the SMTP message delivered');
  const u4 = Math.max(...(await env.uids(user)));
  const b = await loggedIn(user, 'search-pw');
  const find = async (q: string): Promise<number[]> => {
    const r = await b.get(`/mail/search?f=INBOX&${q}`);
    assert.equal(r.status, 200, `${q}: ${r.text.slice(0, 300)}`);
    assert.match(r.text, /<form id="search"/);
    return rowsOf(r.text).sort((x, y) => x - y);
  };
  assert.deepEqual(await find('from=ALICE'), [u1]);
  assert.deepEqual(await find('to=team%40t.test'), [u2]);
  assert.deepEqual(await find('subject=invoice'), [u1]);
  assert.deepEqual(await find('text=invoice'), [u2], 'body text only');
  assert.deepEqual(await find('text=gr%C3%BCsse'), [u3], 'decoded and case-folded');
  assert.deepEqual(await find('text=zebra'), [u4], 'a message delivered over SMTP');
  assert.deepEqual(await find('since=2024-03-10'), [u2, u3, u4]);
  assert.deepEqual(await find('before=2024-03-10'), [u1]);
  assert.deepEqual(await find('since=2024-03-05&before=2024-03-21'), [u2, u3]);
  assert.deepEqual(await find('from=b.test&text=attached'), [u2]);
  assert.deepEqual(await find('from=nobody'), []);
  assert.deepEqual(await find('from='), [u1, u2, u3, u4]);
  assert.equal((await b.get('/mail/search?f=INBOX&since=yesterday')).status, 400);
  assert.equal((await b.get('/mail/search?f=Nope&from=a')).status, 404);
});

test('every reading route needs a session; unknown pages and bodies get error pages', async () => {
  const b = browser(env.base);
  for (const p of ['/mail?f=INBOX', '/mail/message?f=INBOX&uid=1', '/mail/message/raw?f=INBOX&uid=1', '/mail/message/part?f=INBOX&uid=1&part=1', '/mail/search?f=INBOX', '/mail/thread?f=INBOX&uid=1', '/events?f=INBOX']) {
    const r = await b.get(p);
    assert.equal(r.status, 303, p);
    assert.equal(r.headers.location, '/', p);
  }
  const lost = await b.get('/no/such/page');
  assert.equal(lost.status, 404);
  assert.match(lost.headers['content-type']!, /^text\/html/);
  assert.match(lost.text, /<h1>404 Not found<\/h1>/);
  const odd = await b.post('/login', [['x', '1']], ['Content-Type: application/xml']);
  assert.equal(odd.status, 415);
  const css = await b.get('/static/style.css');
  assert.equal(css.status, 200);
  assert.match(css.headers['content-type']!, /text\/css/);
});

test("a browser's favicon request is answered (not an error toward maxErrors), and pages link the icon", async () => {
  const b = browser(env.base);
  const icon = await b.get('/favicon.ico');
  assert.equal(icon.status, 200);
  assert.match(icon.headers['content-type'] ?? '', /^image\/svg\+xml/);
  assert.match(icon.text, /^<svg /);
  const form = await b.get('/');
  assert.match(form.text, /<link rel="icon" href="\/static\/favicon\.svg"/);
});

test('login brute force: after authBanThreshold failures the IP is banned: even the right password is refused, new connections get 403', async () => {
  const srv = await startReadServer({ webmail: 'authBanThreshold = 3 authBanTime = 600' });
  try {
    await srv.addUser(ANN, PW);
    const b = browser(srv.base);
    for (let i = 0; i < 3; i++) {
      const bad = await b.login(ANN, `guess-${i}`);
      assert.equal(bad.status, 200);
      assert.match(bad.text, /class="error"/);
    }
    // banned: a new connection is refused by the listener layer before any HTTP is parsed
    const refused = await b.login(ANN, PW);
    assert.equal(refused.status, 403);
    assert.doesNotMatch(refused.headers['set-cookie'] ?? '', /postern_session=/);
  } finally {
    await srv.stop();
  }
});
