/**
 * test/smtp/clients.test.ts: SMTP receiving end to end with clients nobody here wrote:
 * Python's smtplib (plain, STARTTLS, AUTH PLAIN / LOGIN / CRAM-MD5, a wrong password, SMTPUTF8,
 * a relay through AUTH) and curl (`smtp://`, plain and with STARTTLS). Every accepted message
 * is delivered by the processing service; at the end the server is stopped and the mailboxes
 * are read from the store: each copy is intact, with Return-Path and a Received: field naming
 * the RFC 3848 with-type, the TLS version and cipher, and the queue id the 250 gave. Each
 * sending test waits for its own message to leave the queue; the last test reads them all back
 * (the store is read once the server has stopped) and names any a sending test did not queue.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { cleanup, messageCount, python, queueList, readInbox, run, startSmtpServer, type TestServer } from './helpers.ts';
import { waitFor } from '../helpers.ts';

let t: TestServer;
const queued = new Map<string, string>(); // subject → queue id from the 250

before(async () => {
  t = await startSmtpServer({ processing: 'poolMessageSize = 0' }); // every message's processing on the pool
  await t.server.admin('account.add', { address: 'ann@example.org', password: 'ann-pw', cramMd5: false }); // no CRAM-MD5 key
  await t.server.admin('account.add', { address: 'cram@example.org', password: 'cram-pw', cramMd5: true });
  await t.server.admin('account.add', { address: 'bob@example.org', password: 'bob-pw' });
});
after(async () => {
  await t.stop().catch(() => {});
  cleanup(t.dir);
});

/** smtplib's sendmail hides the 250 text: this one captures the queue id from DATA's reply. */
const PY_DATA = (setup: string, subject: string, rcpt = 'ann@example.org', opts = ''): string => `
import smtplib
s = smtplib.SMTP('127.0.0.1', PORT)
${setup}
s.ehlo_or_helo_if_needed()
print('MAIL', s.mail('x@remote.example'${opts}))
print('RCPT', s.rcpt('${rcpt}'))
code, text = s.data('From: <x@remote.example>\\r\\nSubject: ${subject}\\r\\n\\r\\nline one\\r\\n.starts with a dot\\r\\n')
print('DATA', code, text.decode())
s.quit()
`;

async function send(setup: string, subject: string, rcpt?: string, opts?: string): Promise<string> {
  const r = await python(PY_DATA(setup, subject, rcpt, opts).replace('PORT', String(t.port)));
  assert.equal(r.code, 0, r.stderr);
  const m = /DATA 250 2\.0\.0 Ok: queued as (\S+)/.exec(r.stdout);
  assert.ok(m !== null, r.stdout);
  queued.set(subject, m[1]!);
  if (rcpt === undefined || rcpt.endsWith('@example.org')) await delivered(m[1]!);
  return r.stdout;
}

/** The signal that a local message was delivered: its queue id leaves the queue. */
async function delivered(id: string): Promise<void> {
  await waitFor(async () => !(await queueList(t.server)).some((q) => q.id === id), 10_000, `${id} delivered`);
}

test('smtplib, plain connection: EHLO extensions, a message with a stuffed dot is queued and delivered', async () => {
  const out = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${t.port})
s.ehlo()
print(sorted(s.esmtp_features.keys()))
print(s.esmtp_features['size'], s.esmtp_features['auth'].strip())
s.quit()`);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /\['8bitmime', 'auth', 'binarymime', 'chunking', 'dsn', 'enhancedstatuscodes', 'pipelining', 'size', 'smtputf8', 'starttls'\]/);
  assert.match(out.stdout, /10485760 PLAIN LOGIN CRAM-MD5/);
  await send('', 'plain');
});

test('smtplib: STARTTLS then AUTH PLAIN', async () => {
  await send("s.starttls()\ns.ehlo()\ns.user, s.password = 'ann@example.org', 'ann-pw'\nprint('AUTH', s.auth('PLAIN', s.auth_plain))", 'tls+plain');
});

test('smtplib: AUTH LOGIN (no initial response) and CRAM-MD5 on a plain connection', async () => {
  await send("s.ehlo()\ns.user, s.password = 'bob@example.org', 'bob-pw'\nprint('AUTH', s.auth('LOGIN', s.auth_login, initial_response_ok=False))", 'login');
  await send("s.ehlo()\ns.user, s.password = 'cram@example.org', 'cram-pw'\nprint('AUTH', s.auth('CRAM-MD5', s.auth_cram_md5))", 'cram');
});

test('smtplib: a wrong password is 535; an account without CRAM-MD5 keys cannot use it', async () => {
  const r = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${t.port})
s.ehlo()
for mech, user, pw in [('PLAIN', 'ann@example.org', 'wrong'), ('CRAM-MD5', 'ann@example.org', 'ann-pw')]:
    s.user, s.password = user, pw
    try:
        s.auth(mech, s.auth_plain if mech == 'PLAIN' else s.auth_cram_md5)
        print(mech, 'accepted')
    except smtplib.SMTPAuthenticationError as e:
        print(mech, e.smtp_code, e.smtp_error.decode())
`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /PLAIN 535 5\.7\.8 Error: authentication failed/);
  assert.match(r.stdout, /CRAM-MD5 535 5\.7\.8/);
});

test('smtplib: SMTPUTF8 sender; unknown local user refused with 550 5.1.1', async () => {
  await send('', 'utf8', 'ann@example.org', ", options=['SMTPUTF8']").then(() => undefined);
  const r = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${t.port})
try:
    s.sendmail('x@remote.example', ['nobody@example.org'], 'Subject: x\\r\\n\\r\\nx\\r\\n')
except smtplib.SMTPRecipientsRefused as e:
    code, text = e.recipients['nobody@example.org']
    print('REFUSED', code, text.decode())
`);
  assert.match(r.stdout, /REFUSED 550 5\.1\.1 <nobody@example\.org>: Recipient address rejected: User unknown/);
});

test('smtplib: relaying needs AUTH; with it the message waits in the queue for smtpOutgoing', async () => {
  const denied = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${t.port})
try:
    s.sendmail('x@remote.example', ['far@elsewhere.example'], 'Subject: r\\r\\n\\r\\nr\\r\\n')
except smtplib.SMTPRecipientsRefused as e:
    code, text = e.recipients['far@elsewhere.example']
    print('REFUSED', code, text.decode())
`);
  assert.match(denied.stdout, /REFUSED 554 5\.7\.1 <far@elsewhere\.example>: Relay access denied/);
  await send("s.ehlo()\ns.login('bob@example.org', 'bob-pw')", 'relayed', 'far@elsewhere.example');
  const id = queued.get('relayed')!;
  const q = await waitFor(async () => (await queueList(t.server)).find((x) => x.id === id));
  assert.match(String(q.status), /waiting for smtpOutgoing/);
  const shown = (await t.server.admin('queue.show', { id })) as { recipients: Array<{ to: string; status: string }> };
  assert.deepEqual(shown.recipients.map((r) => [r.to, r.status]), [['far@elsewhere.example', 'relay']]);
});

test('curl smtp://: plain and with STARTTLS (--ssl-reqd)', async () => {
  const dir = fs.mkdtempSync(path.join(t.dir, 'curl-'));
  const file = path.join(dir, 'msg.eml');
  for (const [subject, tlsArgs] of [['curl plain', []], ['curl tls', ['--ssl-reqd', '-k']]] as const) {
    fs.writeFileSync(file, `From: <c@remote.example>\r\nTo: <ann@example.org>\r\nSubject: ${subject}\r\n\r\nsent by curl\r\n.dot line\r\n`);
    const r = await run('curl', ['-sS', '-v', '--url', `smtp://127.0.0.1:${t.port}`, ...tlsArgs, '--mail-from', 'c@remote.example', '--mail-rcpt', 'ann@example.org', '--upload-file', file]);
    assert.equal(r.code, 0, r.stderr);
    const m = /< 250 2\.0\.0 Ok: queued as (\S+)/.exec(r.stderr);
    assert.ok(m !== null, r.stderr);
    queued.set(subject, m[1]!);
    await delivered(m[1]!);
    if (tlsArgs.length > 0) assert.match(r.stderr, /STARTTLS/);
  }
});

test('every accepted message is delivered intact, with Return-Path and Received (with-type, TLS, queue id)', async () => {
  const local = [...queued.keys()].filter((s) => s !== 'relayed');
  const expectWith: Record<string, RegExp> = {
    plain: /with ESMTP id /, 'tls+plain': /with ESMTPSA id /, login: /with ESMTPA id /, cram: /with ESMTPA id /, utf8: /with UTF8SMTP id /,
    'curl plain': /with ESMTP id /, 'curl tls': /with ESMTPS id /,
  };
  // the messages the sending tests above queued: none may be missing (run alone, this test fails)
  assert.deepEqual(Object.keys(expectWith).filter((x) => !queued.has(x)), [], 'messages not queued by their tests');
  await waitFor(async () => (await messageCount(t.server, 'ann@example.org')) >= local.length, 10_000, 'all delivered');
  await waitFor(async () => (await queueList(t.server)).length === 1, 10_000, 'only the relayed message left');
  const pool = t.server.status().services.find((x) => x.name === 'processing')!.pool;
  assert.ok(pool.completed >= local.length, `poolMessageSize = 0: processed on the pool (${pool.completed} tasks)`);
  await t.stop();
  const msgs = await readInbox(t.dir, 'ann@example.org');
  assert.equal(msgs.length, local.length);
  const bySubject = new Map(msgs.map((m) => [/^Subject: (.*)$/m.exec(m)?.[1]?.trim() ?? '', m]));
  for (const subject of local) {
    const m = bySubject.get(subject);
    assert.ok(m !== undefined, `message "${subject}" delivered`);
    assert.ok(m.startsWith('Return-Path: <'), subject);
    assert.match(m, expectWith[subject]!, subject);
    assert.ok(m.includes(`id ${queued.get(subject)}`), `${subject}: the queue id of the 250`);
    assert.match(m, /\r\n\.(starts with a dot|dot line)\r\n/, `${subject}: the stuffed dot was removed, the line kept`);
    if (subject === 'tls+plain' || subject === 'curl tls') assert.match(m, /\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)/, subject);
    else assert.ok(!m.includes('(using TLS'), subject);
    assert.match(m, /for <ann@example\.org>; \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n/);
  }
});
