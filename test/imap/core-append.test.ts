/**
 * IMAP APPEND over real sockets: imaplib's append (flags, date, APPENDUID), durability (the
 * server stopped and started again on the same data shows the message), the account's quota
 * (`NO [OVERQUOTA]`, nothing appended), a missing mailbox (`NO [TRYCREATE]`), MULTIAPPEND
 * (several messages, all or nothing), literal8 and UTF8 (…) by hand, and the appended
 * message seen by a session that has the mailbox selected.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { imap, python, startImap, type ImapClient, type ImapEnv } from './helpers.ts';

const USER = 'user@example.org';
const PASS = 'secret-pw';
let env: ImapEnv;

before(async () => {
  env = await startImap();
  await env.addUser(USER, PASS);
  await env.addUser('small@example.org', PASS, { quotaMessages: 2 });
  await env.addUser('multi@example.org', PASS, { quotaMessages: 3 });
});
after(() => env?.stop());

const login = (user = USER): Promise<ImapClient> => imap(env.port, user, PASS);

const MSG = 'From: a@example.org\r\nTo: user@example.org\r\nSubject: appended\r\n\r\nHello.\r\n';

test('imaplib append: flags and date kept, APPENDUID; the message survives a restart', async () => {
  const out = await python(`
import imaplib, json
m = imaplib.IMAP4('127.0.0.1', ${env.port})
m.login('${USER}', '${PASS}')
r = m.append('INBOX', '(\\\\Seen $Work)', '"01-Feb-2024 10:20:30 +0000"', b'''${MSG.replace(/\r\n/g, '\\r\\n')}''')
print(json.dumps([r[0], r[1][0].decode()]))
m.logout()
`);
  const [typ, text] = JSON.parse(out) as [string, string];
  assert.equal(typ, 'OK');
  const m = /^\[APPENDUID (\d+) 1\] APPEND completed$/.exec(text);
  assert.ok(m, text);
  // durable: a new server on the same data directory sees it
  const dir = env.dir;
  await env.stop();
  env = await startImap({ dir });
  const c = await login();
  await c.run('SELECT INBOX', 's1');
  const f = await c.run('FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])', 's2');
  assert.match(f.tagged, /^s2 OK /);
  assert.match(f.untagged[0]!, new RegExp(String.raw`^\* 1 FETCH \(UID 1 FLAGS \(\\Seen \$Work\) INTERNALDATE "01-Feb-2024 10:20:30 \+0000" RFC822\.SIZE ${MSG.length} `));
  assert.deepEqual((await c.run('STATUS INBOX (UIDVALIDITY)', 's3')).untagged, [`* STATUS INBOX (UIDVALIDITY ${m[1]})`]);
  c.close();
});

test('quota: an APPEND over the account quota is NO [OVERQUOTA] and appends nothing; a missing mailbox is NO [TRYCREATE]', async () => {
  const c = await login('small@example.org');
  for (const t of ['q1', 'q2']) {
    c.write(`${t} APPEND INBOX {${MSG.length}+}\r\n${MSG}\r\n`);
    assert.match((await c.until(t)).tagged, new RegExp(`^${t} OK \\[APPENDUID \\d+ \\d\\] APPEND completed$`));
  }
  c.write(`q3 APPEND INBOX {${MSG.length}+}\r\n${MSG}\r\n`);
  assert.equal((await c.until('q3')).tagged, 'q3 NO [OVERQUOTA] quota exceeded');
  assert.deepEqual((await c.run('STATUS INBOX (MESSAGES)', 'q4')).untagged, ['* STATUS INBOX (MESSAGES 2)']);
  c.write(`q5 APPEND Nowhere {${MSG.length}+}\r\n${MSG}\r\n`);
  assert.equal((await c.until('q5')).tagged, 'q5 NO [TRYCREATE] no such mailbox');
  c.close();
});

test('MULTIAPPEND: several messages in one command, one APPENDUID set; over quota none is appended', async () => {
  const c = await login('multi@example.org');
  const a = 'Subject: a\r\n\r\na\r\n';
  const b = 'Subject: b\r\n\r\nb\r\n';
  c.write(`m1 APPEND INBOX (\\Seen) {${a.length}}\r\n`);
  assert.equal(await c.read(), '+ Ready for literal data');
  c.write(`${a} (\\Flagged) "06-Dec-2026 07:00:00 +0100" {${b.length}}\r\n`);
  assert.equal(await c.read(), '+ Ready for literal data');
  c.write(`${b}\r\n`);
  assert.match((await c.until('m1')).tagged, /^m1 OK \[APPENDUID \d+ 1:2\] APPEND completed$/);
  c.write(`m2 APPEND INBOX {${a.length}+}\r\n${a} {${b.length}+}\r\n${b}\r\n`);
  assert.equal((await c.until('m2')).tagged, 'm2 NO [OVERQUOTA] quota exceeded', 'two more would pass the quota of 3: neither is appended');
  assert.deepEqual((await c.run('STATUS INBOX (MESSAGES)', 'm3')).untagged, ['* STATUS INBOX (MESSAGES 2)']);
  await c.run('SELECT INBOX', 'm4');
  const f = await c.run('FETCH 1:2 (FLAGS INTERNALDATE)', 'm5');
  // (an IMAP4rev1 session: the first to select sees them \Recent)
  assert.deepEqual(f.untagged, ['* 1 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE ' + f.untagged[0]!.split('INTERNALDATE ')[1], '* 2 FETCH (FLAGS (\\Flagged \\Recent) INTERNALDATE "06-Dec-2026 06:00:00 +0000")']);
  c.close();
});

test('literal8 and UTF8 (…): binary bytes and an 8-bit message are stored as sent; \\Recent cannot be set', async () => {
  await env.addUser('bin@example.org', PASS);
  const c = await login('bin@example.org');
  const bin = Buffer.concat([Buffer.from('Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\n'), Buffer.from([0, 1, 2, 255, 13, 10])]);
  c.write(`b0 APPEND INBOX (\\Recent) {1+}\r\nx\r\n`);
  assert.equal((await c.until('b0')).tagged, 'b0 BAD Invalid system flag \\Recent', 'a client cannot set \\Recent');
  c.write(`b1 APPEND INBOX ~{${bin.length}+}\r\n`);
  c.write(bin);
  c.write('\r\n');
  assert.match((await c.until('b1')).tagged, /^b1 OK \[APPENDUID \d+ 1\]/);
  await c.run('ENABLE UTF8=ACCEPT', 'b2');
  const utf = Buffer.from('Subject: Grüße\r\n\r\nÄ\r\n');
  c.write(`b3 APPEND INBOX UTF8 (~{${utf.length}+}\r\n`);
  c.write(utf);
  c.write(')\r\n');
  assert.match((await c.until('b3')).tagged, /^b3 OK \[APPENDUID \d+ 2\]/);
  await c.run('SELECT INBOX', 'b4');
  const f = await c.run('FETCH 1:2 (FLAGS RFC822.SIZE)', 'b5');
  assert.deepEqual(f.untagged, [`* 1 FETCH (FLAGS (\\Recent) RFC822.SIZE ${bin.length})`, `* 2 FETCH (FLAGS (\\Recent) RFC822.SIZE ${utf.length})`]);
  c.close();
});

test('an APPEND to the selected mailbox: EXISTS before the tagged OK', async () => {
  await env.addUser('sel@example.org', PASS);
  const c = await login('sel@example.org');
  assert.ok((await c.run('SELECT INBOX', 'x1')).untagged.includes('* 0 EXISTS'));
  c.write(`x2 APPEND INBOX {${MSG.length}+}\r\n${MSG}\r\n`);
  const a = await c.until('x2');
  assert.ok(a.untagged.includes('* 1 EXISTS'), a.untagged.join('|'));
  assert.match(a.tagged, /^x2 OK \[APPENDUID/);
  c.close();
});
