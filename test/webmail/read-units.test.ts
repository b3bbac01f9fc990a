/**
 * WebMail's reading side, its pure parts: the folder tree's order, sorting and paging the list,
 * grouping a conversation, the search's dates and header terms, parts of a message from its
 * stored structure (numbering, shown bodies, attachments, cid, decoding, file names), the login
 * name's domain, the folder listing's catch-up by modseq (against a fake mailbox), and the HTML sanitiser against a hostile corpus (plus random input: nothing
 * dangerous ever comes out).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStructure } from '../../src/store/structure.ts';
import type { FolderInfo, MessageMeta } from '../../src/store/types.ts';
import { folderTree, matchHeaders, pageOf, pageOfSorted, parseDay, sortUids, summarize, threadOf, toRow, DAY_MS, type Summary } from '../../src/protocols/webmail/model.ts';
import { attachments, dispositionHeader, fileName, findCid, findPart, hasAttachment, leaves, partBytes, partText, shownBodies } from '../../src/protocols/webmail/parts.ts';
import { htmlCsp, sanitizeMailHtml } from '../../src/protocols/webmail/html.ts';
import { loginName } from '../../src/protocols/webmail/login.ts';
import { sseFrame } from '../../src/protocols/webmail/events.ts';
import { clearSummaries, folderListing } from '../../src/protocols/webmail/summaries.ts';
import type { MailboxApi } from '../../src/store/types.ts';
import { fold } from '../../src/store/search-text.ts';
import { withSeed } from '../helpers.ts';

const folder = (name: string, specialUse: string | null = null, unseen = 0): FolderInfo => ({ name, specialUse, uidValidity: 1, uidNext: 1, highestModseq: 1, messages: unseen, unseen, deleted: 0, bytes: 0 });

test('folder tree: INBOX, special-use folders, then the rest by name, children nested', () => {
  const tree = folderTree([
    folder('zeta'), folder('Trash', '\\Trash'), folder('Archive', '\\Archive'), folder('alpha/child'), folder('alpha'), folder('Sent', '\\Sent'),
    folder('INBOX', null, 3), folder('Junk', '\\Junk'), folder('Drafts', '\\Drafts'), folder('Beta'), folder('orphan/leaf'), folder('alpha/Aa'),
  ]);
  assert.deepEqual(tree.map((n) => n.name), ['INBOX', 'Drafts', 'Sent', 'Junk', 'Trash', 'Archive', 'alpha', 'alpha/Aa', 'alpha/child', 'Beta', 'orphan', 'orphan/leaf', 'zeta']);
  assert.deepEqual(tree.map((n) => n.depth), [0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0]);
  assert.equal(tree[0]!.unseen, 3);
  assert.equal(tree.find((n) => n.name === 'orphan')!.exists, false); // a placeholder parent
  assert.equal(tree.find((n) => n.name === 'alpha/child')!.label, 'child');
});

function msg(uid: number, headers: string, body = 'text\r\n'): { meta: MessageMeta; s: Summary } {
  const raw = Buffer.from(`${headers}\r\n\r\n${body}`);
  const meta: MessageMeta = { uid, modseq: uid, flags: uid % 2 === 0 ? ['\\Seen'] : [], internalDate: Date.UTC(2025, 0, 1) + uid, size: raw.length, locator: { path: '', offset: 0, length: 0, crc: 0 } };
  return { meta, s: summarize(uid, parseStructure(raw)) };
}

test('list: sorted by date, sender, subject, size, each way; ties by UID; pages of 50 either way', () => {
  const ms = [
    msg(1, 'From: "Zed" <z@x.org>\r\nSubject: Re: banana\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000', 'x'.repeat(300)),
    msg(2, 'From: amy@x.org\r\nSubject: apple\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000'),
    msg(3, 'From: =?utf-8?q?B=C3=A9a?= <b@x.org>\r\nSubject: cherry\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000', 'y'.repeat(100)),
    msg(4, 'From: Carl <c@x.org>\r\nSubject: [list] Fwd: apple'), // no date: its internal date
  ];
  const sums = new Map(ms.map((m) => [m.meta.uid, m.s]));
  const rows = () => ms.map((m) => toRow(m.meta, m.s));
  const order = (key: 'date' | 'from' | 'subject' | 'size', desc: boolean) => pageOfSorted(sortUids(ms.map((m) => m.meta), key, sums), desc, 1).items;
  assert.deepEqual(order('date', false), [1, 3, 2, 4]);
  assert.deepEqual(order('date', true), [4, 2, 3, 1]);
  assert.deepEqual(order('from', false), [2, 3, 4, 1]); // amy, béa, carl, zed
  assert.deepEqual(order('subject', false), [2, 4, 1, 3]); // apple, apple (base subject), banana, cherry
  assert.deepEqual(order('size', true), [1, 3, 2, 4].sort((a, b) => ms[b - 1]!.meta.size - ms[a - 1]!.meta.size || b - a));
  const r3 = rows()[2]!;
  assert.equal(r3.from, 'Béa');
  assert.equal(r3.fromAddress, 'b@x.org');
  assert.equal(r3.seen, false);
  assert.equal(rows()[1]!.seen, true);

  const many = Array.from({ length: 120 }, (_, i) => i + 1);
  assert.deepEqual(pageOf(many, 1).items.length, 50);
  assert.deepEqual(pageOf(many, 3).items, many.slice(100));
  assert.equal(pageOf(many, 3).pages, 3);
  assert.equal(pageOf(many, 99).page, 3); // clamped
  assert.equal(pageOf([], 1).pages, 1);
  assert.deepEqual(pageOfSorted(many, true, 1).items, many.slice(70).reverse());
  assert.deepEqual(pageOfSorted(many, true, 3).items, many.slice(0, 20).reverse());
  assert.deepEqual(pageOfSorted(many, false, 2).items, many.slice(50, 100));
  assert.deepEqual(pageOfSorted([], true, 1).items, []);
});

test('conversation: linked by Message-ID / In-Reply-To / References, else base subject', () => {
  const ms = [
    msg(1, 'Message-ID: <a@x>\r\nSubject: plan\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000'),
    msg(2, 'Message-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\nSubject: Re: plan\r\nDate: Mon, 1 Jan 2024 11:00:00 +0000'),
    msg(3, 'Message-ID: <c@x>\r\nReferences: <a@x> <b@x>\r\nSubject: Re: changed subject\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000'),
    msg(4, 'Message-ID: <d@x>\r\nReferences: <missing@x> <c@x>\r\nSubject: other\r\nDate: Mon, 1 Jan 2024 09:00:00 +0000'),
    msg(5, 'Message-ID: <e@x>\r\nSubject: lonely\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000'),
    msg(6, 'Message-ID: <f@x>\r\nSubject: Re: lonely\r\nDate: Mon, 1 Jan 2024 08:00:00 +0000'),
    msg(7, 'Subject: unrelated'),
  ].map((m) => m.s);
  const dateOf = (s: Summary) => s.date ?? 0;
  assert.deepEqual(threadOf(2, ms, dateOf), [4, 1, 2, 3]); // oldest first
  assert.deepEqual(threadOf(4, ms, dateOf), [4, 1, 2, 3]);
  assert.deepEqual(threadOf(5, ms, dateOf), [6, 5]); // no links: the base subject
  assert.deepEqual(threadOf(7, ms, dateOf), [7]);
  assert.deepEqual(threadOf(99, ms, dateOf), []);
});

test('search terms: header substrings (folded, decoded) and the day range', () => {
  const m = msg(1, 'From: =?utf-8?q?J=C3=BCrgen?= <jurgen@example.org>\r\nTo: Ann <ann@x.org>\r\nCc: bob@y.org\r\nSubject: Quarterly REPORT');
  const q = { from: '', to: '', subject: '', since: NaN, before: NaN };
  const day = Date.UTC(2024, 0, 10);
  assert.equal(matchHeaders(m.s, day + 5000, q), true);
  assert.equal(matchHeaders(m.s, day, { ...q, from: fold('JÜRGEN') }), true);
  assert.equal(matchHeaders(m.s, day, { ...q, to: 'bob@' }), true); // Cc counts as to
  assert.equal(matchHeaders(m.s, day, { ...q, subject: 'report' }), true);
  assert.equal(matchHeaders(m.s, day, { ...q, subject: 'invoice' }), false);
  assert.equal(matchHeaders(m.s, day + 5000, { ...q, since: day }), true);
  assert.equal(matchHeaders(m.s, day + 5000, { ...q, since: day + DAY_MS }), false);
  assert.equal(matchHeaders(m.s, day + 5000, { ...q, before: day + DAY_MS }), true);
  assert.equal(matchHeaders(m.s, day + 5000, { ...q, before: day }), false);
  assert.equal(parseDay('2024-01-10'), day);
  assert.ok(Number.isNaN(parseDay('')));
  for (const bad of ['2024-02-30', '24-01-10', '2024-1-1', 'yesterday', '2024-01-10T00:00']) assert.equal(parseDay(bad), null, bad);
});

const MIXED = [
  'From: a@x.org',
  'Subject: parts',
  'Content-Type: multipart/mixed; boundary="M"',
  '',
  '--M',
  'Content-Type: multipart/alternative; boundary="A"',
  '',
  '--A',
  'Content-Type: text/plain; charset=iso-8859-1',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  'Gr=FC=DFe, caf=E9 =',
  'soft',
  '--A',
  'Content-Type: multipart/related; boundary="R"',
  '',
  '--R',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Hi <img src="cid:logo@x"></p>',
  '--R',
  'Content-Type: image/png',
  'Content-ID: <logo@x>',
  'Content-Transfer-Encoding: base64',
  '',
  Buffer.from([137, 80, 78, 71, 0, 1, 2, 255]).toString('base64'),
  '--R--',
  '--A--',
  '--M',
  'Content-Type: application/pdf; name="=?utf-8?q?r=C3=A9sum=C3=A9.pdf?="',
  'Content-Disposition: attachment; filename*=utf-8\'\'r%C3%A9sum%C3%A9.pdf',
  'Content-Transfer-Encoding: base64',
  '',
  Buffer.from('%PDF-1.4 binary \x00\x01').toString('base64'),
  '--M',
  'Content-Type: message/rfc822',
  '',
  'Subject: inner',
  '',
  'inner body',
  '--M--',
  '',
].join('\r\n');

test('parts: IMAP numbers, shown bodies, attachments, cid, decoding, file names', () => {
  const buf = Buffer.from(MIXED, 'latin1');
  const s = parseStructure(buf);
  assert.deepEqual(leaves(s).map((l) => `${l.part} ${l.p.type}/${l.p.subtype}`), ['1.1 text/plain', '1.2.1 text/html', '1.2.2 image/png', '2 application/pdf', '3 message/rfc822']);
  const { text, html } = shownBodies(s);
  assert.equal(text!.part, '1.1');
  assert.equal(html!.part, '1.2.1');
  assert.equal(partText(buf, text!.p), 'Grüße, café soft');
  assert.equal(partText(buf, html!.p), '<p>Hi <img src="cid:logo@x"></p>');
  assert.deepEqual(attachments(s).map((l) => l.part), ['2', '3']); // the cid image is not one
  assert.equal(hasAttachment(s), true);
  assert.equal(findCid(s, 'logo@x')!.part, '1.2.2');
  assert.equal(findCid(s, '<logo@x>')!.part, '1.2.2');
  assert.equal(findCid(s, 'nope'), null);
  assert.deepEqual([...partBytes(buf, findCid(s, 'logo@x')!.p)], [137, 80, 78, 71, 0, 1, 2, 255]);
  const pdf = findPart(s, '2')!;
  assert.equal(fileName(pdf.p), 'résumé.pdf');
  assert.equal(partBytes(buf, pdf.p).toString('latin1'), '%PDF-1.4 binary \x00\x01');
  assert.equal(findPart(s, '9'), null);
  const single = parseStructure(Buffer.from('Subject: x\r\n\r\nbody\r\n'));
  assert.deepEqual(leaves(single).map((l) => l.part), ['1']);
  assert.equal(hasAttachment(single), false);
  assert.deepEqual(attachments(single), []);
});

test('download names: no path, quote or control characters; UTF-8 kept in filename*', () => {
  assert.equal(dispositionHeader('attachment', 'résumé.pdf', 'x'), `attachment; filename="r_sum_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf`);
  assert.equal(dispositionHeader('attachment', '../../etc/passwd', 'x'), `attachment; filename="passwd"; filename*=UTF-8''passwd`);
  assert.equal(dispositionHeader('attachment', 'C:\\evil\\a"b;c.txt', 'x'), `attachment; filename="a_b_c.txt"; filename*=UTF-8''a%22b%3Bc.txt`);
  assert.equal(dispositionHeader('inline', 'a\r\nSet-Cookie: x=1', 'x'), `inline; filename="aSet-Cookie: x=1"; filename*=UTF-8''aSet-Cookie%3A%20x%3D1`);
  assert.equal(dispositionHeader('attachment', null, 'part-2'), `attachment; filename="part-2"; filename*=UTF-8''part-2`);
  assert.equal(dispositionHeader('attachment', '..', 'part-2'), `attachment; filename="part-2"; filename*=UTF-8''part-2`);
});

test('login name: a bare name gets the domain hostNameResolver maps the Host to', () => {
  const r = [{ host: 'mail.example.com', domain: 'example.com' }];
  assert.equal(loginName('ann', 'mail.example.com:8080', r), 'ann@example.com');
  assert.equal(loginName(' ann ', 'MAIL.example.com', r), 'ann@example.com');
  assert.equal(loginName('ann@other.org', 'mail.example.com', r), 'ann@other.org');
  assert.equal(loginName('ann', 'other.host', r), 'ann'); // the directory completes it with the primary domain
  assert.equal(loginName('ann', undefined, r), 'ann');
});

test('server-sent event frames are one JSON line each', () => {
  assert.equal(sseFrame('exists', { uid: 5, s: 'a\nb' }), 'event: exists\ndata: {"uid":5,"s":"a\\nb"}\n\n');
});

const opts = { remote: false, cidUrl: (c: string) => `/mail/message/cid?f=INBOX&uid=7&cid=${encodeURIComponent(c)}` };

/** What must never survive the sanitiser, whatever the input. */
function assertInert(html: string, where: string): void {
  // CSS: the <style> blocks and style attributes, checked as CSS (text elsewhere is only text)
  const css = [...html.matchAll(/<style>([\s\S]*?)<\/style>|\sstyle="([^"]*)"/g)].map((m) => (m[1] ?? (m[2] ?? '').replace(/&quot;/g, '"').replace(/&amp;/g, '&')));
  for (const c of css) {
    assert.ok(!/<\/?style/i.test(c), `${where}: a style block that can end early in ${html}`);
    assert.ok(!/url\(\s*["']?\s*(?:https?:)?\/\//i.test(c), `${where}: a remote url() in ${html}`);
    assert.ok(!/@import/i.test(c), `${where}: @import in ${html}`);
    for (const m of c.matchAll(/"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)'/g)) assert.ok(!/^\s*(?:https?:)?\/\//i.test(m[1] ?? m[2] ?? ''), `${where}: a remote URL string in ${html}`);
  }
  const markup = html.replace(/<style>[\s\S]*?<\/style>/g, '<style></style>');
  const lower = markup.toLowerCase();
  for (const bad of ['<script', '<iframe', '<object', '<embed', '<form', '<input', '<button', '<svg', '<math', '<meta', '<base', '<link', 'javascript:', '<frame', '<template', '<textarea']) {
    assert.ok(!lower.includes(bad), `${where}: ${bad} in ${html}`);
  }
  assert.ok(!/<[^>]+\son[a-z]+\s*=/i.test(markup), `${where}: an event handler in ${html}`);
  assert.ok(!/\s(?:src|href)="\s*(?:https?:)?\/\//i.test(markup.replace(/<a [^>]*>/g, '')), `${where}: a remote src in ${html}`);
}

const HOSTILE: Array<[string, string, boolean]> = [
  // [name, html, remote content blocked]
  ['script', '<p>hi</p><script>alert(1)</script><SCRIPT SRC=http://evil.test/x.js></SCRIPT>', false],
  ['onerror', '<img src=x onerror=alert(1)><div onclick="alert(1)" onmouseover=alert(2)>x</div><body onload=alert(3)>', false],
  ['javascript link', '<a href="javascript:alert(1)">a</a><a href=" JaVaScRiPt:alert(1)">b</a><a href="jav&#x09;ascript:alert(1)">c</a><a href="&#106;avascript:alert(1)">d</a>', false],
  ['data link', '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>', false],
  ['remote img', '<img src="http://evil.test/pixel.gif" alt="px"><img src="https://evil.test/a.png"><img src="//evil.test/b.png"><img srcset="http://evil.test/c.png 2x">', true],
  ['css url()', '<div style="background-image:url(http://evil.test/bg.png)">x</div><p style="background:URL( \'https://evil.test/q.png\' )">y</p>', true],
  ['css escapes', '<div style="background:u\\72l(http://evil.test/e.png)">x</div><div style="background:url/**/(http://evil.test/f.png)">y</div>', true],
  ['style block', '<style>@import url("https://evil.test/x.css");@import \'//evil.test/y.css\';.a{background:url(http://evil.test/g.png)}.b{background:image-set("https://evil.test/h.png" 1x)}</style><p class="a">x</p>', true],
  ['svg tricks', '<svg><script>alert(1)</script><image href="http://evil.test/i.png"/><a xlink:href="javascript:alert(1)"><text>x</text></a></svg><svg/onload=alert(1)><math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>', false],
  ['svg style mutation', '<svg><style><img src=x onerror=alert(1)></style></svg><math><mtext><table><mglyph><style><img src=x onerror=alert(1)>', false],
  ['meta refresh', '<meta http-equiv="refresh" content="0;url=http://evil.test/">text', false],
  ['base href', '<base href="http://evil.test/"><a href="page">rel</a><img src="pixel.gif">', false],
  ['forms and frames', '<form action="http://evil.test/"><input name=p type=password><button formaction="javascript:alert(1)">go</button></form><iframe src="http://evil.test/"></iframe><object data="http://evil.test/x"></object><embed src="http://evil.test/y">', false],
  ['link stylesheet', '<link rel="stylesheet" href="http://evil.test/s.css"><link rel=prefetch href="http://evil.test/p">', false],
  ['comments and cdata', '<!--<script>alert(1)</script>--><![CDATA[<script>alert(2)</script>]]><p>ok</p>', false],
  ['nested quotes', '<img src="x" alt="\'"><img src=\'x\' onerror=alert(1)//\'>', false],
  ['noscript', '<noscript><p title="</noscript><img src=x onerror=alert(1)>">', false],
];

test('sanitiser: a hostile corpus comes out inert, remote content blocked and reported', () => {
  for (const [name, input, remote] of HOSTILE) {
    const r = sanitizeMailHtml(input, opts);
    assertInert(r.html, name);
    assert.equal(r.blocked, remote, `${name}: blocked`);
  }
  const links = sanitizeMailHtml('<a href="https://ok.test/x">ok</a><a href="mailto:a@b">m</a><a href="#top">t</a>', opts).html;
  assert.match(links, /<a href="https:\/\/ok\.test\/x" target="_blank" rel="noopener noreferrer">ok<\/a>/);
  assert.match(links, /<a href="mailto:a@b" target="_blank" rel="noopener noreferrer">m<\/a>/);
  assert.match(links, /<a href="#top">t<\/a>/);
  const imgs = sanitizeMailHtml('<img src="cid:logo@x" alt="L"><img src="data:image/png;base64,iVBORw0KGgo=">', opts);
  assert.match(imgs.html, /src="\/mail\/message\/cid\?f=INBOX&amp;uid=7&amp;cid=logo%40x"/);
  assert.match(imgs.html, /src="data:image\/png;base64,iVBORw0KGgo="/);
  assert.equal(imgs.blocked, false);
  const css = sanitizeMailHtml('<p style="color:#123;background:url(cid:bg@x)">x</p>', opts).html;
  assert.match(css, /color:#123/);
  assert.match(css, /url\(&quot;\/mail\/message\/cid\?f=INBOX&amp;uid=7&amp;cid=bg%40x&quot;\)|url\("\/mail\/message\/cid/);
  // the reader asked: remote images and CSS stay (the CSP then allows them)
  const shown = sanitizeMailHtml('<img src="https://img.test/a.png"><div style="background:url(https://img.test/b.png)">x</div>', { ...opts, remote: true });
  assert.match(shown.html, /src="https:\/\/img\.test\/a\.png"/);
  assert.match(shown.html, /url\(&quot;https:\/\/img\.test\/b\.png&quot;\)|url\("https:\/\/img\.test\/b\.png"\)/);
  assert.equal(shown.blocked, false);
  assert.match(htmlCsp(false), /default-src 'none'; img-src 'self' data:;/);
  assert.match(htmlCsp(true), /img-src 'self' data: https: http:;/);
  assert.match(htmlCsp(false), /sandbox/);
  assert.doesNotMatch(htmlCsp(true), /script/);
});

test('sanitiser: random mixes of hostile pieces never come out dangerous', async (t) => {
  const pieces = ['<script>', '</script>', '<img src=x onerror=alert(1)>', '<a href="javascript:x">', '</a>', '<svg>', '</svg>', '<style>', '</style>', '<math>',
    '<iframe src=http://e.test>', '"', "'", '<', '>', '<!--', '-->', '<![CDATA[', ']]>', 'url(http://e.test/a)', '@import "http://e.test/b";', '<p style="background:url(//e.test/c)">',
    '<noscript>', '</noscript>', '<textarea>', '</textarea>', '<title>', '<xmp>', '</xmp>', '<img src="http://e.test/d">', '&lt;script&gt;', '<base href=http://e.test>', 'text', ' onload=alert(1) '];
  await withSeed(t, async (rnd) => {
    for (let i = 0; i < 400; i++) {
      let s = '';
      const n = 1 + Math.floor(rnd() * 12);
      for (let k = 0; k < n; k++) s += pieces[Math.floor(rnd() * pieces.length)]!;
      assertInert(sanitizeMailHtml(s, opts).html, s);
    }
  });
});

test('folder listing: caught up by modseq (changes, expunges), read again whole when in doubt; sort orders cached', async () => {
  clearSummaries();
  const raw = (n: number): Buffer => Buffer.from(`From: p${n}@x.test\r\nSubject: s${String(n).padStart(3, '0')}\r\nDate: ${new Date(Date.UTC(2024, 0, n)).toUTCString()}\r\n\r\nx\r\n`);
  const msgs = new Map<number, { modseq: number; flags: string[] }>();
  let modseq = 0;
  let vanishedComplete = true;
  const gone: Array<[number, number]> = []; // [uid, modseq]
  const calls: string[] = [];
  for (let u = 1; u <= 5; u++) msgs.set(u, { modseq: ++modseq, flags: [] });
  const meta = (uid: number): MessageMeta => ({ uid, modseq: msgs.get(uid)!.modseq, flags: msgs.get(uid)!.flags, internalDate: 0, size: 10 + uid, locator: { path: '', offset: 0, length: 0, crc: 0 } });
  const mailbox = {
    address: 'a@x.test',
    async list(_f: string, o: { changedSince?: number } = {}) {
      calls.push(o.changedSince === undefined ? 'list' : `list>${o.changedSince}`);
      return [...msgs.keys()].filter((u) => o.changedSince === undefined || msgs.get(u)!.modseq > o.changedSince).map(meta);
    },
    async vanished(_f: string, since: number) {
      calls.push(`vanished>${since}`);
      return { uids: gone.filter(([, m]) => m > since).map(([u]) => u), complete: vanishedComplete };
    },
    async fetchStructure(_f: string, uids: number[]) {
      calls.push(`structures ${uids.length}`);
      return uids.filter((u) => msgs.has(u)).map((uid) => ({ uid, structure: parseStructure(raw(uid)) }));
    },
  } as unknown as MailboxApi;
  const info = (): FolderInfo => ({ ...folder('INBOX'), highestModseq: modseq, messages: msgs.size });
  const look = async () => {
    calls.length = 0;
    const l = await folderListing(mailbox, info());
    return { uids: [...l.sorted('subject')], seen: [...l.metas.values()].filter((m) => m.flags.includes('\\Seen')).map((m) => m.uid), calls: [...calls] };
  };
  let r = await look();
  assert.deepEqual(r.uids, [1, 2, 3, 4, 5]);
  assert.deepEqual(r.calls, ['list', 'structures 5']);
  r = await look();
  assert.deepEqual(r.calls, [], 'unchanged: no store call');
  msgs.set(6, { modseq: ++modseq, flags: [] });
  msgs.get(2)!.flags = ['\\Seen'];
  msgs.get(2)!.modseq = ++modseq;
  msgs.delete(4);
  gone.push([4, ++modseq]);
  r = await look();
  assert.deepEqual(r.uids, [1, 2, 3, 5, 6]);
  assert.deepEqual(r.seen, [2]);
  assert.deepEqual(r.calls.sort(), ['list>5', 'structures 1', 'vanished>5']);
  vanishedComplete = false;
  msgs.delete(1);
  gone.push([1, ++modseq]);
  r = await look();
  assert.deepEqual(r.uids, [2, 3, 5, 6]);
  assert.ok(r.calls.includes('list'), 'an incomplete expunge history: read whole');
  vanishedComplete = true;
  msgs.delete(3); // gone without a trace in the history, the count says so
  r = await look();
  assert.deepEqual(r.uids, [2, 5, 6]);
  assert.ok(r.calls.includes('list'), 'a count that does not match: read whole');
  clearSummaries();
});
