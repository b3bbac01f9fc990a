/**
 * test/webmail/write-units.test.ts: the pure parts of WebMail's writing side: subject prefixes,
 * reply recipients, threading headers, quoting, address parsing, and the composed MIME
 * re-parsed with postal-mime (attachments byte for byte, Bcc only where asked).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import PostalMime from 'postal-mime';
import { forwardSubject, quoteText, replyDraft, replyRecipients, replySubject, threadHeaders, MAX_REFERENCES } from '../../src/protocols/webmail/reply.ts';
import { composeMessage, newMessageId, parseAddresses } from '../../src/protocols/webmail/compose-mime.ts';
import { checkFolderName } from '../../src/protocols/webmail/folder-ops.ts';

test('subjects: one Re: or Fwd:, never stacked', () => {
  const table: Array<[string | undefined, string, string]> = [
    ['hello', 'Re: hello', 'Fwd: hello'],
    ['Re: hello', 'Re: hello', 'Fwd: Re: hello'],
    ['RE: re: Re[2]: hello', 'Re: hello', 'Fwd: RE: re: Re[2]: hello'],
    ['Fwd: hello', 'Re: Fwd: hello', 'Fwd: hello'],
    ['FW: Fwd: hello', 'Re: FW: Fwd: hello', 'Fwd: hello'],
    ['AW: hello', 'Re: hello', 'Fwd: AW: hello'],
    [undefined, 'Re: ', 'Fwd: '],
    ['  Re:   spaced  ', 'Re: spaced', 'Fwd: Re:   spaced'],
  ];
  for (const [s, re, fwd] of table) {
    assert.equal(replySubject(s), re, `reply to ${s}`);
    assert.equal(forwardSubject(s), fwd, `forward of ${s}`);
  }
});

const original = async (headers: string, body = 'line one\n> quoted\n\nlast'): Promise<Awaited<ReturnType<typeof PostalMime.parse>>> =>
  PostalMime.parse(`${headers.trim().replace(/\n/g, '\r\n')}\r\n\r\n${body.replace(/\n/g, '\r\n')}\r\n`);

test('reply recipients: Reply-To over From; reply-all adds the others minus the user, once each', async () => {
  const e = await original(`
From: Alice <alice@a.org>
Reply-To: list@a.org
To: me@example.org, Bob <bob@b.org>
Cc: "Carol, C." <carol@c.org>, ALICE@a.org, bob@b.org, Me <ME@example.org>
Subject: hi
Message-ID: <m1@a.org>`);
  assert.deepEqual(replyRecipients(e, 'reply', 'me@example.org'), { to: 'list@a.org', cc: '' });
  assert.deepEqual(replyRecipients(e, 'replyall', 'me@example.org'), { to: 'list@a.org', cc: 'Bob <bob@b.org>, "Carol, C." <carol@c.org>, ALICE@a.org' });
  const noReplyTo = await original('From: Alice <alice@a.org>\nTo: me@example.org\nSubject: x');
  assert.deepEqual(replyRecipients(noReplyTo, 'reply', 'me@example.org'), { to: 'Alice <alice@a.org>', cc: '' });
  // the user's own message: the reply goes to its recipients
  const own = await original('From: me@example.org\nTo: x@x.org, y@y.org\nSubject: x');
  assert.deepEqual(replyRecipients(own, 'reply', 'me@example.org'), { to: 'x@x.org, y@y.org', cc: '' });
});

test('threading: In-Reply-To is the Message-ID; References its References plus it, bounded', () => {
  assert.deepEqual(threadHeaders('<b@x>', '<a@x>'), { inReplyTo: '<b@x>', references: '<a@x> <b@x>' });
  assert.deepEqual(threadHeaders('<a@x>', undefined), { inReplyTo: '<a@x>', references: '<a@x>' });
  assert.deepEqual(threadHeaders(undefined, '<a@x>'), { inReplyTo: '', references: '<a@x>' });
  assert.deepEqual(threadHeaders('<b@x>', '<a@x>\r\n <b@x>'), { inReplyTo: '<b@x>', references: '<a@x> <b@x>' });
  const many = Array.from({ length: 50 }, (_, i) => `<r${i}@x>`).join(' ');
  const t = threadHeaders('<last@x>', many).references.split(' ');
  assert.equal(t.length, MAX_REFERENCES);
  assert.equal(t[0], '<r0@x>');
  assert.equal(t.at(-1), '<last@x>');
  assert.equal(t.at(-2), '<r49@x>');
});

test('quoting: "On <date>, <from> wrote:" then > lines', () => {
  assert.equal(quoteText('a\r\n> b\n\nc\n', 'Tue, 01 Jul 2025 10:52:37 +0000', 'Alice <alice@a.org>'),
    'On Tue, 01 Jul 2025 10:52 UTC, Alice <alice@a.org> wrote:\n> a\n>> b\n>\n> c\n');
  assert.match(quoteText('x', 'not a date', ''), /^On not a date, someone wrote:\n> x\n$/);
});

test('replyDraft: reply and forward pre-fill the form', async () => {
  const e = await original(`
From: Alice <alice@a.org>
To: me@example.org
Cc: bob@b.org
Subject: Re: plans
Date: Tue, 01 Jul 2025 10:52:37 +0000
Message-ID: <m2@a.org>
References: <m1@a.org>`);
  const r = replyDraft(e, 'replyall', 'me@example.org');
  assert.equal(r.to, 'Alice <alice@a.org>');
  assert.equal(r.cc, 'bob@b.org');
  assert.equal(r.subject, 'Re: plans');
  assert.equal(r.inReplyTo, '<m2@a.org>');
  assert.equal(r.references, '<m1@a.org> <m2@a.org>');
  assert.match(r.body, /On Tue, 01 Jul 2025 10:52 UTC, Alice <alice@a.org> wrote:\n> line one\n>> quoted\n>\n> last\n$/);
  const f = replyDraft(e, 'forward', 'me@example.org');
  assert.equal(f.to, '');
  assert.equal(f.subject, 'Fwd: Re: plans');
  assert.equal(f.inReplyTo, '');
  assert.match(f.body, /Forwarded message[\s\S]*From: Alice <alice@a.org>[\s\S]*Subject: Re: plans[\s\S]*attached/);
});

test('replyDraft: an HTML-only original is quoted as text', async () => {
  const e = await PostalMime.parse('From: a@a.org\r\nSubject: h\r\nContent-Type: text/html\r\n\r\n<p>Hello &amp; welcome</p><script>x()</script><div>second<br>third</div>\r\n');
  const d = replyDraft(e, 'reply', 'me@example.org');
  assert.match(d.body, /wrote:\n> Hello & welcome\n> second\n> third/);
  assert.ok(!d.body.includes('x()'));
});

test('addresses: parsed, or an error naming the bad entry', () => {
  assert.deepEqual(parseAddresses('', 'To'), { ok: [] });
  assert.deepEqual(parseAddresses('Alice <alice@a.org>, b@b.org;"C, D" <c@c.org>', 'To'), {
    ok: [{ name: 'Alice', address: 'alice@a.org' }, { name: '', address: 'b@b.org' }, { name: 'C, D', address: 'c@c.org' }],
  });
  for (const bad of ['alice', 'a@', '@b.org', 'Alice <alice@>', 'a@b@c.org', 'a@b..org', 'x@y.org, nope']) {
    const r = parseAddresses(bad, 'Cc');
    assert.ok('error' in r, bad);
    assert.match(r.error, /^Cc: ".*" is not a valid e-mail address$/);
  }
  assert.ok('error' in parseAddresses('a@b.org,'.repeat(10_000), 'To'));
});

test('newMessageId: unique, on the host name', () => {
  const a = newMessageId('mail.example.org');
  assert.match(a, /^<[\w-]+\.[0-9a-z]+@mail\.example\.org>$/);
  assert.notEqual(a, newMessageId('mail.example.org'));
  assert.match(newMessageId('bad host\r\n'), /@localhost>$/);
});

test('composeMessage: re-parsed with postal-mime; attachments byte for byte; Bcc only in the kept copy', async () => {
  const bin = randomBytes(70_000);
  const fwd = Buffer.from('From: q@r.org\r\nSubject: orig\r\nMessage-ID: <o@r.org>\r\n\r\nthe original\r\n');
  const m = composeMessage({
    from: 'me@example.org', to: [{ name: 'Élise', address: 'e@x.org' }], cc: [{ name: '', address: 'c@x.org' }], bcc: [{ name: '', address: 'hidden@x.org' }],
    subject: 'Re: héllo\r\nX-Injected: 1', text: 'body line\nsecond\n', inReplyTo: '<p@x.org>', references: '<o@x.org> <p@x.org>',
    attachments: [{ filename: 'data.bin', contentType: 'application/octet-stream', content: bin }, { filename: 'nöte.txt', contentType: 'bad type', content: Buffer.from('hi') }],
    forwarded: { filename: 'orig.eml', content: fwd }, messageId: '<id1@mail.example.org>', date: new Date(Date.UTC(2025, 6, 1, 10, 0, 0)),
  });
  const wire = await m.build(false);
  const kept = await m.build(true);
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(wire.toString('latin1')), 'CRLF lines only');
  assert.ok(!/^bcc:/im.test(wire.toString('latin1')));
  assert.match(kept.toString('latin1'), /^Bcc: hidden@x.org\r$/m);
  assert.ok(!/^X-Injected/m.test(wire.toString('latin1')));
  const e = await PostalMime.parse(wire, { forceRfc822Attachments: true });
  assert.equal(e.subject, 'Re: héllo X-Injected: 1');
  assert.equal(e.messageId, '<id1@mail.example.org>');
  assert.equal(e.inReplyTo, '<p@x.org>');
  assert.equal(e.references, '<o@x.org> <p@x.org>');
  assert.deepEqual(e.from, { name: '', address: 'me@example.org' });
  assert.deepEqual(e.to, [{ name: 'Élise', address: 'e@x.org' }]);
  assert.equal(e.date, '2025-07-01T10:00:00.000Z');
  assert.equal(e.text, 'body line\nsecond\n');
  assert.equal(e.attachments.length, 3);
  assert.equal(Buffer.compare(Buffer.from(e.attachments[0]!.content as ArrayBuffer), bin), 0);
  assert.equal(e.attachments[1]!.filename, 'nöte.txt');
  assert.equal(e.attachments[1]!.mimeType, 'application/octet-stream');
  assert.equal(e.attachments[2]!.mimeType, 'message/rfc822');
  assert.equal(Buffer.from(e.attachments[2]!.content as ArrayBuffer).toString(), fwd.toString());
  const k = await PostalMime.parse(kept);
  assert.deepEqual(k.bcc, [{ name: '', address: 'hidden@x.org' }]);
});

test('folder names: the rules and their messages', () => {
  assert.deepEqual(checkFolderName(' Projects/2025 '), { ok: 'Projects/2025' });
  for (const [name, why] of [['', /empty/], ['/a', /"\/"/], ['a/', /"\/"/], ['a//b', /empty part/], ['x'.repeat(300), /too long/], ['a\u0001b', /control/], ['a/../b', /"\.\."/]] as const) {
    const r = checkFolderName(name);
    assert.ok('error' in r, JSON.stringify(name));
    assert.match(r.error, why);
  }
});
