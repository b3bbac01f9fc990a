/**
 * test/webmail/write-actions.test.ts: WebMail's acting routes over a real socket with curl and
 * a cookie jar: mark read/unread/flagged, move, delete to Trash, delete for good in Trash, empty
 * Trash; folder create/rename/delete and their refusals; every refusal is a 303 with a notice
 * and changes nothing; CSRF and same-origin (403), no session (401). What the store holds is read
 * with the store probe and with Python's imaplib.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { imapFolders, startWebmail, webClient, type WebClient, type WebmailEnv } from './write-helpers.ts';

let env: WebmailEnv;
let web: WebClient;
const ALICE = 'alice@example.org';
const PW = 'secret-alice-1';

const msg = (n: number): string => `From: bob@example.org\r\nTo: ${ALICE}\r\nSubject: message ${n}\r\nMessage-ID: <m${n}@example.org>\r\n\r\nBody ${n}.\r\n`;

async function folders(): Promise<Record<string, Array<[number, string[]]>>> {
  return env.probeJson('ALLFLAGS', ALICE) as Promise<Record<string, Array<[number, string[]]>>>;
}

before(async () => {
  env = await startWebmail();
  await env.addUser(ALICE, PW);
  await env.addUser('bob@example.org', 'secret-bob-1');
  web = webClient(env.base);
  await web.login(ALICE, PW);
});

after(async () => {
  await env?.stop();
});

test('read, unread, flag, unflag: flags set through the store; 303 back to the list with a notice', async () => {
  const a = await env.deliver(ALICE, msg(1));
  const b = await env.deliver(ALICE, msg(2));
  const act = (action: string, uids: number[]) => web.post('/mail/action', [['f', 'INBOX'], ...uids.map((u) => ['uid', String(u)] as [string, string]), ['action', action], ['page', '1'], ['sort', 'date']]);
  let r = await act('read', [a, b]);
  assert.equal(r.status, 303);
  assert.equal(r.headers['location'], '/mail?f=INBOX&page=1&sort=date');
  assert.equal(web.notice(r), '2 messages marked as read.');
  assert.ok((await env.flags(ALICE, a))!.includes('\\Seen'));
  assert.ok((await env.flags(ALICE, b))!.includes('\\Seen'));
  r = await act('unread', [b]);
  assert.equal(web.notice(r), '1 message marked as unread.');
  assert.ok(!(await env.flags(ALICE, b))!.includes('\\Seen'));
  assert.ok((await env.flags(ALICE, a))!.includes('\\Seen'));
  r = await act('flag', [a]);
  assert.equal(web.notice(r), '1 message flagged.');
  assert.ok((await env.flags(ALICE, a))!.includes('\\Flagged'));
  r = await act('flag', [a]);
  assert.match(web.notice(r), /^Nothing to change/);
  r = await act('unflag', [a]);
  assert.equal(web.notice(r), '1 message unflagged.');
  assert.ok(!(await env.flags(ALICE, a))!.includes('\\Flagged'));
});

test('move, delete to Trash, delete for good in Trash, empty Trash', async () => {
  const a = await env.deliver(ALICE, msg(3));
  const b = await env.deliver(ALICE, msg(4));
  const c = await env.deliver(ALICE, msg(5));
  let r = await web.post('/mail/action', [['f', 'INBOX'], ['uid', String(a)], ['action', 'move'], ['to', 'Archive']]);
  assert.equal(r.status, 303);
  assert.equal(web.notice(r), '1 message moved to Archive.');
  let f = await folders();
  assert.ok(!f['INBOX']!.some(([u]) => u === a));
  assert.equal(f['Archive']!.length, 1);

  r = await web.post('/mail/action', [['f', 'INBOX'], ['uid', String(b)], ['uid', String(c)], ['action', 'delete']]);
  assert.equal(web.notice(r), '2 messages moved to Trash.');
  f = await folders();
  assert.ok(!f['INBOX']!.some(([u]) => u === b || u === c));
  const inTrash = f['Trash']!.map(([u]) => u);
  assert.equal(inTrash.length, 2);

  // in Trash itself: \Deleted and expunged
  r = await web.post('/mail/action', [['f', 'Trash'], ['uid', String(inTrash[0])], ['action', 'delete']]);
  assert.equal(r.headers['location'], '/mail?f=Trash');
  assert.equal(web.notice(r), '1 message deleted for good.');
  assert.deepEqual((await folders())['Trash']!.map(([u]) => u), [inTrash[1]]);

  r = await web.post('/mail/empty-trash', []);
  assert.equal(r.status, 303);
  assert.equal(r.headers['location'], '/mail?f=Trash');
  assert.equal(web.notice(r), 'Trash emptied: 1 message deleted for good.');
  assert.deepEqual((await folders())['Trash'], []);
  r = await web.post('/mail/empty-trash', []);
  assert.equal(web.notice(r), 'Trash is empty already.');
});

test('a bad action form changes nothing and says why', async () => {
  const a = await env.deliver(ALICE, msg(6));
  const before = await folders();
  const cases: Array<[Array<[string, string]>, RegExp]> = [
    [[['f', 'INBOX'], ['uid', String(a)], ['action', 'explode']], /^Choose what to do/],
    [[['f', 'INBOX'], ['action', 'read']], /^Select at least one message/],
    [[['f', 'INBOX'], ['uid', 'abc'], ['action', 'read']], /not valid/],
    [[['f', 'INBOX'], ['uid', '0'], ['action', 'read']], /not valid/],
    [[['f', 'INBOX'], ['uid', String(a)], ['action', 'move'], ['to', '']], /^Choose a folder/],
    [[['f', 'INBOX'], ['uid', String(a)], ['action', 'move'], ['to', 'INBOX']], /already/],
    [[['f', 'INBOX'], ['uid', String(a)], ['action', 'move'], ['to', 'Nowhere']], /does not exist/],
    [[['f', 'NoSuchFolder'], ['uid', String(a)], ['action', 'read']], /does not exist/],
    [[['f', ''], ['uid', String(a)], ['action', 'read']], /folder in the form is not valid/],
  ];
  for (const [form, why] of cases) {
    const r = await web.post('/mail/action', form);
    assert.equal(r.status, 303, JSON.stringify(form));
    assert.match(web.notice(r), why, JSON.stringify(form));
  }
  assert.deepEqual(await folders(), before);
});

test('folders: create, rename, delete; INBOX and special-use folders refused; bad names refused', async () => {
  let r = await web.post('/folders/create', [['name', ' Projects/2025 ']]);
  assert.equal(r.status, 303);
  assert.equal(r.headers['location'], '/mail?f=Projects%2F2025');
  assert.equal(web.notice(r), 'Folder Projects/2025 created.');
  assert.ok('Projects/2025' in (await folders()));
  r = await web.post('/folders/create', [['name', 'Projects/2025']]);
  assert.equal(web.notice(r), 'A folder of that name exists already.');
  for (const [name, why] of [['', /empty/], ['/x', /start or end/], ['x/', /start or end/], ['a//b', /empty part/], ['x'.repeat(300), /too long/], ['a/../b', /"\.\."/]] as const) {
    r = await web.post('/folders/create', [['name', name]]);
    assert.equal(r.status, 303);
    assert.match(web.notice(r), why, name);
  }

  const uid = await env.deliver(ALICE, msg(7), 'Projects/2025');
  r = await web.post('/folders/rename', [['from', 'Projects'], ['to', 'Work']]);
  assert.equal(web.notice(r), 'Folder Projects renamed to Work.');
  let f = await folders();
  assert.ok('Work/2025' in f && !('Projects/2025' in f));
  assert.deepEqual(f['Work/2025']!.map(([u]) => u), [uid]);
  for (const [from, to, why] of [['INBOX', 'Old', /INBOX cannot be renamed/], ['Trash', 'Bin', /Trash cannot be renamed/], ['Sent', 'Out', /Sent cannot be renamed/], ['Work', 'Archive', /exists already/], ['Gone', 'X', /does not exist/], ['Work', '/bad', /start or end/]] as const) {
    r = await web.post('/folders/rename', [['from', from], ['to', to]]);
    assert.equal(r.status, 303);
    assert.match(web.notice(r), why, `${from} → ${to}`);
  }

  // a deleted folder's messages go to Trash first
  const trashBefore = (await folders())['Trash']!.length;
  r = await web.post('/folders/delete', [['name', 'Work/2025']]);
  assert.equal(web.notice(r), 'Folder Work/2025 deleted; its 1 message went to the Trash.');
  f = await folders();
  assert.ok(!('Work/2025' in f));
  assert.equal(f['Trash']!.length, trashBefore + 1);
  for (const [name, why] of [['INBOX', /INBOX cannot be deleted/], ['Drafts', /Drafts cannot be deleted/], ['Trash', /cannot be deleted/], ['Nope', /does not exist/]] as const) {
    r = await web.post('/folders/delete', [['name', name]]);
    assert.equal(r.status, 303);
    assert.match(web.notice(r), why, name);
  }
  // IMAP sees the folders as WebMail left them
  const seen = await imapFolders(env.imapPort, ALICE, PW);
  assert.ok('Work' in seen && !('Work/2025' in seen) && 'INBOX' in seen && 'Drafts' in seen);
});

test('CSRF token missing or wrong, a cross-site POST: 403; no session: 401; nothing changed', async () => {
  const a = await env.deliver(ALICE, msg(8));
  const form: Array<[string, string]> = [['f', 'INBOX'], ['uid', String(a)], ['action', 'flag']];
  let r = await web.post('/mail/action', form, { csrf: false });
  assert.equal(r.status, 403);
  r = await web.post('/mail/action', [...form, ['_csrf', 'x'.repeat(43)]]);
  assert.equal(r.status, 403);
  r = await web.post('/mail/action', form, { headers: ['Origin: http://evil.example', 'Sec-Fetch-Site: cross-site'] });
  assert.equal(r.status, 403);
  r = await web.post('/folders/create', [['name', 'Evil']], { csrf: false });
  assert.equal(r.status, 403);
  r = await web.post('/mail/empty-trash', [], { csrf: false });
  assert.equal(r.status, 403);
  const stranger = webClient(env.base);
  r = await stranger.post('/mail/action', form, { csrf: false });
  assert.equal(r.status, 401);
  assert.ok(!(await env.flags(ALICE, a))!.includes('\\Flagged'));
  assert.ok(!('Evil' in (await folders())));
  // and the header form of the token is accepted
  r = await web.post('/mail/action', form, { csrf: false, headers: [`x-csrf-token: ${web.csrf}`] });
  assert.equal(r.status, 303);
  assert.ok((await env.flags(ALICE, a))!.includes('\\Flagged'));
});
