/**
 * test/webmail/write-compose.test.ts: WebMail's writing side over a real socket with curl (-F
 * multipart) and a cookie jar: a message with an attachment sent to another local user and
 * fetched over POP3 with Python's poplib (the attachment compared byte for byte); Bcc in the
 * envelope and the Sent copy only; reply, reply-all and forward (headers, quoting, the original
 * attached whole); a draft saved, reopened, saved again, sent (gone from Drafts, present in Sent);
 * a remote recipient waiting in the queue; refusals (bad address, unknown local user, too many
 * recipients, no CSRF token) that keep what was typed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { runProcess, waitFor } from '../helpers.ts';
import { imapFolders, startWebmail, webClient, type WebClient, type WebmailEnv } from './write-helpers.ts';

let env: WebmailEnv;
let web: WebClient;
const ALICE = 'alice@example.org';
const BOB = 'bob@example.org';
const CAROL = 'carol@example.org';
const PW: Record<string, string> = { [ALICE]: 'secret-alice-1', [BOB]: 'secret-bob-1', [CAROL]: 'secret-carol-1' };

/** Over POP3 (poplib): every message of the INBOX, parsed by Python's email package: headers,
 * the text, and each attachment's name, type and sha256. */
async function popMessages(user: string): Promise<Array<{ headers: Record<string, string>; text: string; attachments: Array<{ name: string; type: string; sha256: string; size: number }>; raw: string }>> {
  const script = `
import poplib, json, sys, hashlib, email
from email import policy
p = poplib.POP3('127.0.0.1', ${env.pop3Port}, timeout=20)
p.user(sys.argv[1]); p.pass_(sys.argv[2])
out = []
count = len(p.list()[1])
for i in range(1, count + 1):
    raw = b'\\r\\n'.join(p.retr(i)[1]) + b'\\r\\n'
    m = email.message_from_bytes(raw, policy=policy.default)
    atts = []
    for part in m.iter_attachments():
        if part.get_content_type() == 'message/rfc822':
            data = part.get_payload()[0].as_bytes() if part.is_multipart() else part.get_payload(decode=True)
        else:
            data = part.get_payload(decode=True)
        atts.append({'name': part.get_filename() or '', 'type': part.get_content_type(), 'sha256': hashlib.sha256(data).hexdigest(), 'size': len(data)})
    body = m.get_body(preferencelist=('plain',))
    out.append({'headers': {k.lower(): str(v) for k, v in m.items()}, 'text': body.get_content() if body is not None else '', 'attachments': atts, 'raw': raw.decode('utf-8', 'replace')})
p.quit()
print(json.dumps(out))
`;
  const r = await runProcess('python3', ['-c', script, user, PW[user]!], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`poplib: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const hidden = (page: string, name: string): string => /value="([^"]*)"/.exec(new RegExp(`<input[^>]*name="${name}"[^>]*>`).exec(page)?.[0] ?? '')?.[1] ?? '';
// as a browser reads it: the HTML parser drops one newline right after <textarea>
const textarea = (page: string): string => (/<textarea[^>]*name="body"[^>]*>([\s\S]*?)<\/textarea>/.exec(page)?.[1] ?? '').replace(/^\r?\n/, '');
const unescape = (s: string): string => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n))).replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

before(async () => {
  env = await startWebmail({ webmail: 'maxRcptCount = 3 uploadMaxSize = 1024' });
  for (const u of [ALICE, BOB, CAROL]) await env.addUser(u, PW[u]!);
  web = webClient(env.base);
  await web.login(ALICE, PW[ALICE]!);
});

after(async () => {
  await env?.stop();
});

test('compose with an attachment to another local user: over POP3 the attachment is byte for byte; Bcc only in the envelope and Sent', async () => {
  const file = path.join(web.dir, 'data.bin');
  const bytes = randomBytes(150_000);
  fs.writeFileSync(file, bytes);
  const r = await web.postMultipart('/compose', [['to', `Bob <${BOB}>`], ['cc', ''], ['bcc', CAROL], ['subject', 'Report ünïcode'], ['body', 'Here it is.\nSecond line.'], ['send', '1']], [['attachment', file]]);
  assert.equal(r.status, 303, r.body);
  assert.equal(r.headers['location'], '/mail?f=INBOX');
  assert.match(web.notice(r), /^Message sent \(queued as \S+\)\.$/);
  await waitFor(async () => (await env.uids(BOB)).length === 1 && (await env.uids(CAROL)).length === 1, 10_000, 'delivery to bob and carol');
  const [m] = await popMessages(BOB);
  assert.equal(m!.headers['subject'], 'Report ünïcode');
  assert.equal(m!.headers['from'], ALICE);
  assert.equal(m!.headers['to'], `Bob <${BOB}>`);
  assert.equal(m!.headers['bcc'], undefined);
  assert.match(m!.headers['message-id']!, /^<[\w.-]+@[^>]+>$/);
  assert.ok(m!.headers['date'] !== undefined);
  assert.match(m!.headers['received']!, /with HTTP/);
  assert.equal(m!.text.replace(/\r\n/g, '\n').replace(/\n$/, ''), 'Here it is.\nSecond line.');
  assert.deepEqual(m!.attachments, [{ name: 'data.bin', type: 'application/octet-stream', sha256: sha256(bytes), size: bytes.length }]);
  const [c] = await popMessages(CAROL);
  assert.equal(c!.headers['bcc'], undefined);
  assert.equal(c!.headers['message-id'], m!.headers['message-id']);
  // the Sent copy: \Seen, with Bcc
  const sent = (await imapFolders(env.imapPort, ALICE, PW[ALICE]!))['Sent']!;
  assert.equal(sent.length, 1);
  assert.ok(sent[0]!.flags.includes('\\Seen'));
  assert.match(sent[0]!.text, /^Bcc: carol@example\.org\r$/m);
  assert.ok(sent[0]!.text.includes(m!.headers['message-id']!));
});

test('reply and reply-all: recipients, Re: once, quoting, In-Reply-To and References; the original is marked \\Answered', async () => {
  const original = [
    `From: Bob <${BOB}>`, `To: ${ALICE}, ${CAROL}`, 'Cc: Dave <dave@remote.test>', 'Subject: Re: Lunch', 'Date: Tue, 01 Jul 2025 10:52:37 +0000',
    'Message-ID: <lunch-2@example.org>', 'References: <lunch-1@example.org>', '', 'Shall we meet at noon?', '> earlier text', '',
  ].join('\r\n');
  const uid = await env.deliver(ALICE, original);
  let page = await web.get(`/compose?mode=reply&f=INBOX&uid=${uid}`);
  assert.equal(page.status, 200);
  assert.match(page.body, /<form id="compose"/);
  assert.equal(unescape(hidden(page.body, 'to')), `Bob <${BOB}>`);
  assert.equal(hidden(page.body, 'cc'), '');
  assert.equal(hidden(page.body, 'subject'), 'Re: Lunch');
  assert.equal(unescape(hidden(page.body, 'inReplyTo')), '<lunch-2@example.org>');
  assert.equal(unescape(hidden(page.body, 'references')), '<lunch-1@example.org> <lunch-2@example.org>');
  assert.match(unescape(textarea(page.body)), /On Tue, 01 Jul 2025 10:52 UTC, Bob <bob@example\.org> wrote:\n> Shall we meet at noon\?\n>> earlier text/);

  page = await web.get(`/compose?mode=replyall&f=INBOX&uid=${uid}`);
  assert.equal(unescape(hidden(page.body, 'to')), `Bob <${BOB}>`);
  assert.equal(unescape(hidden(page.body, 'cc')), `${CAROL}, Dave <dave@remote.test>`);

  // send the reply as the form has it
  const form: Array<[string, string]> = ['mode', 'f', 'uid', 'inReplyTo', 'references', 'to', 'subject'].map((k) => [k, unescape(hidden(page.body, k))]);
  const r = await web.postMultipart('/compose', [...form, ['cc', ''], ['body', `Yes!${unescape(textarea(page.body))}`], ['send', '1']]);
  assert.equal(r.status, 303, r.body);
  await waitFor(async () => (await env.uids(BOB)).length === 2, 10_000, 'the reply delivered');
  const got = (await popMessages(BOB))[1]!;
  assert.equal(got.headers['subject'], 'Re: Lunch');
  assert.equal(got.headers['in-reply-to'], '<lunch-2@example.org>');
  assert.equal(got.headers['references'], '<lunch-1@example.org> <lunch-2@example.org>');
  assert.match(got.text, /^Yes!\r?\n\r?\nOn Tue/);
  assert.ok((await env.flags(ALICE, uid))!.includes('\\Answered'));
});

test('forward: Fwd: once, the original attached whole as message/rfc822', async () => {
  const original = `From: Bob <${BOB}>\r\nTo: ${ALICE}\r\nSubject: Fwd: Plans\r\nMessage-ID: <plans@example.org>\r\n\r\nThe plans.\r\n`;
  const uid = await env.deliver(ALICE, original);
  const page = await web.get(`/compose?mode=forward&f=INBOX&uid=${uid}`);
  assert.equal(hidden(page.body, 'subject'), 'Fwd: Plans');
  assert.equal(hidden(page.body, 'to'), '');
  assert.match(page.body, /original message is attached/);
  const r = await web.postMultipart('/compose', [['mode', 'forward'], ['f', 'INBOX'], ['uid', String(uid)], ['to', CAROL], ['subject', 'Fwd: Plans'], ['body', 'See below.'], ['send', '1']]);
  assert.equal(r.status, 303, r.body);
  await waitFor(async () => (await env.uids(CAROL)).length === 2, 10_000, 'the forward delivered');
  const got = (await popMessages(CAROL))[1]!;
  assert.equal(got.headers['subject'], 'Fwd: Plans');
  assert.equal(got.headers['in-reply-to'], undefined);
  assert.equal(got.attachments.length, 1);
  assert.equal(got.attachments[0]!.type, 'message/rfc822');
  assert.match(got.raw, /Content-Type: message\/rfc822/);
  assert.ok(got.raw.includes(original), 'the original, unchanged');
  assert.ok((await env.flags(ALICE, uid))!.includes('$Forwarded'));
});

test('a draft: saved, reopened, saved again (replacing it), sent: gone from Drafts, in Sent, delivered with its attachment', async () => {
  const file = path.join(web.dir, 'notes.txt');
  const bytes = Buffer.from('draft attachment ✓\n'.repeat(100));
  fs.writeFileSync(file, bytes);
  let r = await web.postMultipart('/compose', [['to', BOB], ['subject', 'Draft one'], ['body', 'Not finished.'], ['draft', '1']], [['attachment', file]]);
  assert.equal(r.status, 303, r.body);
  assert.equal(web.notice(r), 'Draft saved in Drafts.');
  let drafts = (await imapFolders(env.imapPort, ALICE, PW[ALICE]!))['Drafts']!;
  assert.equal(drafts.length, 1);
  assert.deepEqual(drafts[0]!.flags.filter((x) => x !== '\\Recent').sort(), ['\\Draft', '\\Seen']);
  const first = drafts[0]!.uid;

  const page = await web.get(`/compose?draft=${first}`);
  assert.equal(page.status, 200);
  assert.equal(hidden(page.body, 'to'), BOB);
  assert.equal(hidden(page.body, 'subject'), 'Draft one');
  assert.equal(hidden(page.body, 'draftUid'), String(first));
  assert.match(textarea(page.body), /^Not finished\./);
  assert.match(page.body, /<input type="checkbox" name="keep" value="0" checked> notes\.txt/);

  // a refused send of the draft shows its attachments again, ticked as they were
  r = await web.postMultipart('/compose', [['draftUid', String(first)], ['keep', '0'], ['to', 'not an address'], ['subject', 'Draft one'], ['body', 'x'], ['send', '1']]);
  assert.equal(r.status, 400);
  assert.match(r.body, /<input type="checkbox" name="keep" value="0" checked> notes\.txt/);
  r = await web.postMultipart('/compose', [['draftUid', String(first)], ['to', 'not an address'], ['subject', 'Draft one'], ['body', 'x'], ['send', '1']]);
  assert.match(r.body, /<input type="checkbox" name="keep" value="0"> notes\.txt/);

  r = await web.postMultipart('/compose', [['draftUid', String(first)], ['keep', '0'], ['to', BOB], ['subject', 'Draft two'], ['body', 'Finished now.'], ['draft', '1']]);
  assert.equal(r.status, 303, r.body);
  drafts = (await imapFolders(env.imapPort, ALICE, PW[ALICE]!))['Drafts']!;
  assert.equal(drafts.length, 1, 'the old version replaced');
  const second = drafts[0]!.uid;
  assert.notEqual(second, first);
  assert.match(drafts[0]!.text, /Subject: Draft two/);

  const before = (await env.uids(BOB)).length;
  r = await web.postMultipart('/compose', [['draftUid', String(second)], ['keep', '0'], ['to', BOB], ['subject', 'Draft two'], ['body', 'Finished now.'], ['send', '1']]);
  assert.equal(r.status, 303, r.body);
  const all = await imapFolders(env.imapPort, ALICE, PW[ALICE]!);
  assert.equal(all['Drafts']!.length, 0, 'gone from Drafts');
  assert.ok(all['Sent']!.some((m) => /Subject: Draft two/.test(m.text)), 'in Sent');
  await waitFor(async () => (await env.uids(BOB)).length === before + 1, 10_000, 'the draft delivered');
  const got = (await popMessages(BOB)).at(-1)!;
  assert.equal(got.headers['subject'], 'Draft two');
  assert.deepEqual(got.attachments.map((a) => [a.name, a.sha256]), [['notes.txt', sha256(bytes)]]);
});

test('a recipient in another domain waits in the queue for smtpOutgoing; the local one gets it at once', async () => {
  const r = await web.postMultipart('/compose', [['to', `someone@remote.test, ${CAROL}`], ['subject', 'Outward'], ['body', 'Hello out there.'], ['send', '1']]);
  assert.equal(r.status, 303, r.body);
  const id = /queued as (\S+)\)/.exec(web.notice(r))![1];
  const entry = await waitFor(async () => {
    const q = (await env.server.admin('queue.list', {})) as Array<{ id: string; status: string; rcpts: number; from: string }>;
    return q.find((x) => x.id === id && /smtpOutgoing/.test(x.status));
  }, 10_000, 'the entry waiting for smtpOutgoing');
  assert.equal(entry.from, ALICE);
  assert.equal(entry.rcpts, 2);
  assert.ok((await popMessages(CAROL)).some((m) => m.headers['subject'] === 'Outward'));
});

test('refusals keep what was typed: bad address, unknown local user, more than maxRcptCount recipients, no recipient (400); no CSRF token or cross-site (403)', async () => {
  const sentBefore = (await imapFolders(env.imapPort, ALICE, PW[ALICE]!))['Sent']!.length;
  const cases: Array<[string, RegExp]> = [
    ['not an address', /To: ".*" is not a valid e-mail address/],
    ['nobody@example.org', /There is no mailbox nobody@example\.org here/],
    // maxRcptCount = 3: To + Cc + Bcc counted together
    [`a@remote.test, b@remote.test, ${BOB}, ${CAROL}`, /Too many recipients \(at most 3\)\./],
    ['', /Add at least one recipient/],
  ];
  for (const [to, why] of cases) {
    const r = await web.postMultipart('/compose', [['to', to], ['subject', 'Kept subject'], ['body', 'Kept <body> & text'], ['send', '1']]);
    assert.equal(r.status, 400, to.slice(0, 40));
    assert.match(unescape(r.body), why);
    assert.match(r.body, /<p class="error"/);
    assert.equal(hidden(r.body, 'subject'), 'Kept subject');
    assert.equal(unescape(textarea(r.body)), 'Kept <body> & text');
  }
  const r = await web.postMultipart('/compose', [['to', BOB], ['subject', 'x'], ['body', 'y'], ['send', '1']], [], { csrf: false });
  assert.equal(r.status, 403);
  const cross = await web.postMultipart('/compose', [['to', BOB], ['subject', 'x'], ['body', 'y'], ['send', '1']], [], { headers: ['Origin: https://evil.example', 'Sec-Fetch-Site: cross-site'] });
  assert.equal(cross.status, 403, 'a cross-site post, even with the token');
  assert.equal((await imapFolders(env.imapPort, ALICE, PW[ALICE]!))['Sent']!.length, sentBefore, 'nothing sent');
  const stranger = webClient(env.base);
  assert.equal((await stranger.get('/compose')).status, 303, 'no session: to the login page');
  // a reply to, or a draft, that is not there: back to the list, saying so
  for (const [q, why] of [['mode=reply&f=INBOX&uid=999999', /not there any more/], ['mode=forward&f=INBOX', /Choose a message/], ['mode=reply&f=Nowhere&uid=1', /does not exist/], ['draft=999999', /not there any more/], ['draft=abc', /not there any more/]] as const) {
    const g = await web.get(`/compose?${q}`);
    assert.equal(g.status, 303, q);
    assert.match(web.notice(g), why, q);
  }
});

test('an upload over uploadMaxSize (1024 KB here): 413, nothing sent, nothing saved', async () => {
  const file = path.join(web.dir, 'big.bin');
  fs.writeFileSync(file, randomBytes(1100 * 1024));
  const before = await imapFolders(env.imapPort, ALICE, PW[ALICE]!);
  const bobBefore = (await env.uids(BOB)).length;
  for (const button of ['send', 'draft']) {
    const r = await web.postMultipart('/compose', [['to', BOB], ['subject', 'Too big'], ['body', 'x'], [button, '1']], [['attachment', file]]);
    assert.equal(r.status, 413, button);
  }
  const after = await imapFolders(env.imapPort, ALICE, PW[ALICE]!);
  assert.equal(after['Sent']!.length, before['Sent']!.length);
  assert.equal(after['Drafts']!.length, before['Drafts']!.length);
  assert.equal((await env.uids(BOB)).length, bobBefore);
  // the session carries on
  assert.equal((await web.get('/compose')).status, 200);
});
