/**
 * IMAP mailbox commands over real sockets: LIST (patterns, reference, the delimiter query,
 * LIST-EXTENDED selection and return options, LIST-STATUS, special use, \HasChildren),
 * LSUB, CREATE (parents, special use), DELETE, RENAME (children, INBOX), SUBSCRIBE and
 * UNSUBSCRIBE, STATUS, NAMESPACE, GETQUOTAROOT / GETQUOTA / SETQUOTA, mailbox names in
 * modified UTF-7 and UTF-8; imapShowAllFolders; Python's imaplib for what it can send. (The
 * second server also tries the options imapIdEnabled, greetingsText, allowStartTLS and
 * secureConnAllowLogin.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { imap, imapOn, message, python, startImap, type ImapClient, type ImapEnv } from './helpers.ts';

const USER = 'user@example.org';
const PASS = 'secret-pw';

const login = (env: ImapEnv, user = USER): Promise<ImapClient> => imap(env.port, user, PASS);

describe('default options', () => {
  let env: ImapEnv;
  before(async () => {
    env = await startImap();
    await env.addUser(USER, PASS);
    await env.addUser('quota@example.org', PASS, { quotaBytes: 10 * 1024 * 1024, quotaMessages: 100 });
  });
  after(() => env.stop());

  test('a new account: INBOX and the special-use folders; the delimiter; % and *', async () => {
    const c = await login(env);
    assert.deepEqual(await c.run('LIST "" ""', 'a1'), { untagged: ['* LIST (\\Noselect) "/" ""'], tagged: 'a1 OK LIST completed' });
    assert.deepEqual((await c.run('LIST "" *', 'a2')).untagged, [
      '* LIST (\\HasNoChildren) "/" INBOX',
      '* LIST (\\HasNoChildren \\Archive) "/" Archive',
      '* LIST (\\HasNoChildren \\Drafts) "/" Drafts',
      '* LIST (\\HasNoChildren \\Junk) "/" Junk',
      '* LIST (\\HasNoChildren \\Sent) "/" Sent',
      '* LIST (\\HasNoChildren \\Trash) "/" Trash',
    ]);
    assert.deepEqual((await c.run('LIST "" inbox', 'a3')).untagged, ['* LIST (\\HasNoChildren) "/" INBOX'], 'INBOX in any case');
    c.close();
  });

  test('CREATE makes the parents; \\HasChildren; reference and %; DELETE and RENAME rules', async () => {
    const c = await login(env);
    assert.equal((await c.run('CREATE Work/2024/Q1', 'b1')).tagged, 'b1 OK CREATE completed');
    assert.equal((await c.run('CREATE Work/2024/Q1', 'b2')).tagged, 'b2 NO [ALREADYEXISTS] mailbox already exists');
    assert.equal((await c.run('CREATE inbox', 'b3')).tagged, 'b3 NO [ALREADYEXISTS] INBOX always exists');
    assert.equal((await c.run('CREATE Trailing/', 'b4')).tagged, 'b4 OK CREATE completed');
    assert.deepEqual((await c.run('LIST "" Work*', 'b5')).untagged, [
      '* LIST (\\HasChildren) "/" Work',
      '* LIST (\\HasChildren) "/" Work/2024',
      '* LIST (\\HasNoChildren) "/" Work/2024/Q1',
    ]);
    assert.deepEqual((await c.run('LIST "" %', 'b6')).untagged.filter((l) => /Work|Trailing/.test(l)), ['* LIST (\\HasNoChildren) "/" Trailing', '* LIST (\\HasChildren) "/" Work']);
    assert.deepEqual((await c.run('LIST Work/ %', 'b7')).untagged, ['* LIST (\\HasChildren) "/" Work/2024']);
    assert.equal((await c.run('DELETE Work', 'b8')).tagged, 'b8 NO [HASCHILDREN] mailbox has inferior mailboxes; delete them first');
    assert.equal((await c.run('DELETE Nowhere', 'b9')).tagged, 'b9 NO [NONEXISTENT] no such mailbox');
    assert.equal((await c.run('DELETE INBOX', 'b10')).tagged, 'b10 NO [CANNOT] INBOX cannot be deleted');
    assert.equal((await c.run('RENAME Work Job', 'b11')).tagged, 'b11 OK RENAME completed');
    assert.deepEqual((await c.run('LIST "" Job/*', 'b12')).untagged, ['* LIST (\\HasChildren) "/" Job/2024', '* LIST (\\HasNoChildren) "/" Job/2024/Q1']);
    assert.equal((await c.run('RENAME Job Trailing', 'b13')).tagged, 'b13 NO [ALREADYEXISTS] mailbox already exists');
    assert.equal((await c.run('RENAME Nowhere Else', 'b14')).tagged, 'b14 NO [NONEXISTENT] no such mailbox');
    assert.equal((await c.run('DELETE Job/2024/Q1', 'b15')).tagged, 'b15 OK DELETE completed');
    assert.deepEqual((await c.run('LIST "" Job*', 'b16')).untagged, ['* LIST (\\HasChildren) "/" Job', '* LIST (\\HasNoChildren) "/" Job/2024']);
    c.close();
  });

  test('RENAME INBOX moves its messages to the new mailbox and leaves INBOX empty', async () => {
    await env.addUser('mover@example.org', PASS);
    await env.deliver('mover@example.org', message('one'));
    await env.deliver('mover@example.org', message('two'));
    const c = await login(env, 'mover@example.org');
    assert.equal((await c.run('RENAME INBOX Old', 'r1')).tagged, 'r1 OK RENAME completed');
    assert.deepEqual((await c.run('STATUS INBOX (MESSAGES)', 'r2')).untagged, ['* STATUS INBOX (MESSAGES 0)']);
    assert.deepEqual((await c.run('STATUS Old (MESSAGES)', 'r3')).untagged, ['* STATUS Old (MESSAGES 2)']);
    c.close();
  });

  test('CREATE with a special use; LIST (SPECIAL-USE); RETURN (STATUS …); STATUS items', async () => {
    const c = await login(env);
    assert.equal((await c.run('CREATE Old/Sent (USE (\\Sent))', 'u1')).tagged, 'u1 OK CREATE completed');
    assert.equal((await c.run('CREATE Starred (USE (\\Flagged))', 'u0')).tagged, 'u0 NO [USEATTR] unsupported special-use attribute', '\\Flagged is a virtual mailbox, not kept');
    assert.equal((await c.run('CREATE Two (USE (\\Sent \\Junk))', 'u00')).tagged, 'u00 NO [USEATTR] one special-use attribute per mailbox');
    assert.deepEqual((await c.run('LIST (SPECIAL-USE) "" *', 'u2')).untagged, [
      '* LIST (\\HasNoChildren \\Archive) "/" Archive',
      '* LIST (\\HasNoChildren \\Drafts) "/" Drafts',
      '* LIST (\\HasNoChildren \\Junk) "/" Junk',
      '* LIST (\\HasNoChildren \\Sent) "/" Old/Sent',
      '* LIST (\\HasNoChildren \\Sent) "/" Sent',
      '* LIST (\\HasNoChildren \\Trash) "/" Trash',
    ]);
    await env.deliver(USER, message('status me'));
    const st = await c.run('LIST "" INBOX RETURN (STATUS (MESSAGES UNSEEN SIZE))', 'u3');
    assert.equal(st.untagged.length, 2);
    assert.equal(st.untagged[0], '* LIST (\\HasNoChildren) "/" INBOX');
    assert.match(st.untagged[1]!, /^\* STATUS INBOX \(MESSAGES 1 UNSEEN 1 SIZE \d+\)$/);
    const s = await c.run('STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT)', 'u4');
    assert.match(s.untagged[0]!, /^\* STATUS INBOX \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1 DELETED 0 SIZE \d+ RECENT 1 HIGHESTMODSEQ \d+ APPENDLIMIT 52428800\)$/);
    assert.equal((await c.run('STATUS Nowhere (MESSAGES)', 'u5')).tagged, 'u5 NO [NONEXISTENT] no such mailbox');
    c.close();
  });

  test('SUBSCRIBE, UNSUBSCRIBE, LSUB, LIST (SUBSCRIBED) with \\NonExistent and RECURSIVEMATCH', async () => {
    await env.addUser('subs@example.org', PASS);
    const c = await login(env, 'subs@example.org');
    await c.run('CREATE Lists/Rust', 's0');
    assert.equal((await c.run('UNSUBSCRIBE Archive', 's1')).tagged, 's1 OK UNSUBSCRIBE completed');
    assert.equal((await c.run('SUBSCRIBE Lists/Rust', 's2')).tagged, 's2 OK SUBSCRIBE completed');
    assert.equal((await c.run('SUBSCRIBE Gone', 's3')).tagged, 's3 OK SUBSCRIBE completed');
    const lsub = (await c.run('LSUB "" *', 's4')).untagged;
    assert.ok(lsub.includes('* LSUB () "/" Lists/Rust'));
    assert.ok(lsub.includes('* LSUB () "/" Gone'));
    assert.ok(!lsub.some((l) => l.endsWith(' Archive')));
    assert.deepEqual((await c.run('LSUB "" Lists', 's5')).untagged, []);
    assert.deepEqual((await c.run('LSUB "" %', 's6')).untagged.filter((l) => l.includes('Lists')), ['* LSUB (\\Noselect) "/" Lists'], 'a parent matched by % comes with \\Noselect');
    assert.deepEqual((await c.run('LIST (SUBSCRIBED) "" Gone', 's7')).untagged, ['* LIST (\\NonExistent \\HasNoChildren \\Subscribed) "/" Gone']);
    assert.deepEqual((await c.run('LIST (SUBSCRIBED RECURSIVEMATCH) "" %', 's8')).untagged.filter((l) => l.includes('Lists')), ['* LIST (\\HasChildren) "/" Lists ("CHILDINFO" ("SUBSCRIBED"))']);
    assert.deepEqual((await c.run('LIST "" Lists/* RETURN (SUBSCRIBED CHILDREN)', 's9')).untagged, ['* LIST (\\HasNoChildren \\Subscribed) "/" Lists/Rust']);
    assert.equal((await c.run('LIST (RECURSIVEMATCH) "" *', 's10')).tagged.startsWith('s10 BAD'), true);
    c.close();
  });

  test('mailbox names: modified UTF-7 by default, UTF-8 once UTF8=ACCEPT is enabled', async () => {
    await env.addUser('names@example.org', PASS);
    const c = await login(env, 'names@example.org');
    assert.equal((await c.run('CREATE Entw&APw-rfe', 'n1')).tagged, 'n1 OK CREATE completed');
    assert.deepEqual((await c.run('LIST "" Entw*', 'n2')).untagged, ['* LIST (\\HasNoChildren) "/" Entw&APw-rfe']);
    await c.run('ENABLE UTF8=ACCEPT', 'n3');
    assert.deepEqual((await c.run('LIST "" Entw*', 'n4')).untagged, [`* LIST (\\HasNoChildren) "/" "${Buffer.from('Entwürfe').toString('latin1')}"`], '(UTF-8 on the wire; the client reads bytes as latin1)');
    c.close();
  });

  test('QUOTA: GETQUOTAROOT and GETQUOTA from the account; none for an unlimited account; SETQUOTA refused', async () => {
    await env.deliver('quota@example.org', message('q', 'x'.repeat(5000)));
    const c = await login(env, 'quota@example.org');
    const r = await c.run('GETQUOTAROOT INBOX', 'q1');
    assert.equal(r.untagged[0], '* QUOTAROOT INBOX ""');
    assert.match(r.untagged[1]!, /^\* QUOTA "" \(STORAGE [56] 10240 MESSAGE 1 100\)$/);
    assert.equal((await c.run('GETQUOTA ""', 'q2')).untagged[0], r.untagged[1]);
    assert.equal((await c.run('GETQUOTA "other"', 'q3')).tagged, 'q3 NO [NONEXISTENT] no such quota root');
    assert.equal((await c.run('SETQUOTA "" (STORAGE 1)', 'q4')).tagged, 'q4 NO [NOPERM] quotas are set by the administrator');
    assert.equal((await c.run('GETQUOTAROOT Nowhere', 'q5')).tagged, 'q5 NO [NONEXISTENT] no such mailbox');
    c.close();
    const d = await login(env);
    assert.deepEqual(await d.run('GETQUOTAROOT INBOX', 'q6'), { untagged: ['* QUOTAROOT INBOX'], tagged: 'q6 OK GETQUOTAROOT completed' });
    d.close();
  });

  test('imaplib: create, list, subscribe, lsub, status, rename, delete, getquotaroot, namespace', async () => {
    await env.addUser('py@example.org', PASS, { quotaMessages: 50 });
    const out = await python(`
import imaplib, json
m = imaplib.IMAP4('127.0.0.1', ${env.port})
m.login('py@example.org', '${PASS}')
r = []
def s(x):
    return x.decode() if isinstance(x, bytes) else [s(y) for y in x] if isinstance(x, (list, tuple)) else x
r.append(s(m.create('Projects/Alpha')))
r.append(s(m.list('Projects')))
r.append(s(m.list('""', 'Projects/%')))
r.append(s(m.subscribe('Projects/Alpha')))
r.append(s(m.lsub('""', 'Projects*')))
r.append(s(m.unsubscribe('Projects/Alpha')))
r.append(s(m.status('Projects/Alpha', '(MESSAGES UIDNEXT)')))
r.append(s(m.rename('Projects', 'Done')))
r.append(s(m.delete('Done/Alpha')))
r.append(s(m.getquotaroot('INBOX')))
r.append(s(m.namespace()))
r.append(s(m.delete('Nope')))
m.logout()
print(json.dumps(r))
`);
    assert.deepEqual(JSON.parse(out), [
      ['OK', ['CREATE completed']],
      ['OK', ['(\\HasChildren) "/" Projects', '(\\HasNoChildren) "/" Projects/Alpha']],
      ['OK', ['(\\HasNoChildren) "/" Projects/Alpha']],
      ['OK', ['SUBSCRIBE completed']],
      ['OK', ['() "/" Projects/Alpha']],
      ['OK', ['UNSUBSCRIBE completed']],
      ['OK', ['Projects/Alpha (MESSAGES 0 UIDNEXT 1)']],
      ['OK', ['RENAME completed']],
      ['OK', ['DELETE completed']],
      ['OK', [['INBOX ""'], ['"" (MESSAGE 0 50)']]],
      ['OK', ['(("" "/")) NIL NIL']],
      ['NO', ['[NONEXISTENT] no such mailbox']],
    ]);
  });
});

describe('imapShowAllFolders = yes, imapIdEnabled = no, a greetingsText, allowStartTLS = no, secureConnAllowLogin = no', () => {
  let env: ImapEnv;
  before(async () => {
    env = await startImap({ imap: 'imapShowAllFolders = yes imapIdEnabled = no greetingsText = "Welcome to the test" allowStartTLS = no secureConnAllowLogin = no' });
    await env.addUser(USER, PASS);
  });
  after(() => env.stop());

  test('LSUB and LIST (SUBSCRIBED) show every folder as subscribed', async () => {
    const c = await login(env);
    await c.run('CREATE NotSubscribed', 'x1');
    await c.run('UNSUBSCRIBE Archive', 'x2');
    const lsub = (await c.run('LSUB "" *', 'x3')).untagged;
    assert.ok(lsub.includes('* LSUB () "/" NotSubscribed'));
    assert.ok(lsub.includes('* LSUB () "/" Archive'));
    assert.deepEqual((await c.run('LIST (SUBSCRIBED) "" NotSubscribed', 'x4')).untagged, ['* LIST (\\HasNoChildren \\Subscribed) "/" NotSubscribed']);
    c.close();
  });

  test('imapIdEnabled = no: ID is not advertised and answered NIL; the greeting is greetingsText', async () => {
    const c = await imap(env.port);
    assert.match(c.greeting, /^\* OK \[CAPABILITY [^\]]*\] Welcome to the test$/);
    assert.ok(!c.greeting.includes(' ID '));
    assert.deepEqual(await c.run('ID ("name" "test")', 'i1'), { untagged: ['* ID NIL'], tagged: 'i1 OK ID completed' });
    await c.run(`LOGIN ${USER} ${PASS}`, 'i2');
    assert.ok(!(await c.run('CAPABILITY', 'i3')).untagged[0]!.split(' ').includes('ID'));
    c.close();
  });

  test('allowStartTLS = no: no STARTTLS; secureConnAllowLogin = no: LOGINDISABLED over TLS, AUTHENTICATE still works', async () => {
    const c = await imap(env.port);
    assert.ok(!c.greeting.includes('STARTTLS'));
    assert.equal((await c.run('STARTTLS', 'k1')).tagged, 'k1 BAD STARTTLS not available');
    c.close();
    const sock = tls.connect({ port: env.tlsPort, host: '127.0.0.2', rejectUnauthorized: false });
    await new Promise<void>((r) => sock.once('secureConnect', () => r()));
    const t = imapOn(sock as unknown as import('node:net').Socket);
    assert.match(await t.read(), /^\* OK \[CAPABILITY .* LOGINDISABLED\] /);
    assert.equal((await t.run(`LOGIN ${USER} ${PASS}`, 'k2')).tagged, 'k2 NO [CANNOT] LOGIN is disabled, use AUTHENTICATE');
    assert.match((await t.run(`AUTHENTICATE PLAIN ${Buffer.from(`\0${USER}\0${PASS}`).toString('base64')}`, 'k3')).tagged, /^k3 OK /);
    t.close();
  });
});
