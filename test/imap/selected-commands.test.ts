/**
 * test/imap/selected-commands.test.ts: the selected-state commands over real sockets, with
 * Python's imaplib where it can send the command and a raw client for the rest: SELECT and
 * EXAMINE responses, FETCH items and the implicit \Seen, STORE (CONDSTORE, UNCHANGEDSINCE,
 * .SILENT, read-only), COPY / MOVE with COPYUID and TRYCREATE, EXPUNGE's sequence-number shifts
 * seen by two sessions, POP3 QUIT deletions seen as EXPUNGE, a delivery seen in IDLE within
 * 1 s, QRESYNC after expunges elsewhere, SEARCH (ESEARCH, SEARCHRES, BADCHARSET).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { imap, message, python, startImap, tagged, untagged, type ImapEnv } from './helpers.ts';
import { pop3 } from '../pop3/helpers.ts';

let env: ImapEnv;
let users = 0;

before(async () => {
  env = await startImap({ pop3: true });
});
after(async () => {
  await env.stop();
});

/** A fresh account with `n` messages delivered (subjects m1…mn). */
async function account(n: number): Promise<string> {
  const user = `u${++users}@example.org`;
  await env.addUser(user, 'pw');
  for (let i = 1; i <= n; i++) await env.deliver(user, message(`m${i}`));
  return user;
}

const py = (user: string, body: string): Promise<string> =>
  python(`
import imaplib, json, sys
M = imaplib.IMAP4('127.0.0.1', ${env.port})
M.login('${user}', 'pw')
out = {}
def dec(x):
    if isinstance(x, bytes): return x.decode('latin1')
    if isinstance(x, tuple): return [dec(y) for y in x]
    if isinstance(x, list): return [dec(y) for y in x]
    if isinstance(x, dict): return {k: dec(v) for k, v in x.items()}
    return x
${body}
M.logout()
print(json.dumps(dec(out)))
`);

test('SELECT and EXAMINE: FLAGS, PERMANENTFLAGS, EXISTS, RECENT, UNSEEN, UIDVALIDITY, UIDNEXT, READ-WRITE / READ-ONLY, CLOSED, NONEXISTENT', { timeout: 60_000 }, async () => {
  const user = await account(3);
  const out = JSON.parse(
    await py(
      user,
      `
typ, data = M.select('INBOX')
out['select'] = [typ, data, {k: M.untagged_responses.get(k) for k in ('FLAGS', 'PERMANENTFLAGS', 'EXISTS', 'RECENT', 'UNSEEN', 'UIDVALIDITY', 'UIDNEXT', 'READ-WRITE')}]
M.store('1', '+FLAGS', '\\\\Seen')
typ, data = M.select('INBOX', readonly=True)
out['examine'] = [typ, data, {k: M.untagged_responses.get(k) for k in ('PERMANENTFLAGS', 'EXISTS', 'RECENT', 'UNSEEN', 'READ-ONLY')}]
out['nope'] = M.select('Nope')
`,
    ),
  );
  const [typ, data, u] = out.select;
  assert.equal(typ, 'OK');
  assert.deepEqual(data, ['3']);
  assert.deepEqual(u.FLAGS, ['(\\Answered \\Flagged \\Deleted \\Seen \\Draft)']);
  assert.deepEqual(u.PERMANENTFLAGS, ['(\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)']);
  assert.deepEqual(u.RECENT, ['3']);
  assert.deepEqual(u.UNSEEN, ['1']);
  assert.deepEqual(u.UIDNEXT, ['4']);
  assert.ok(/^\d+$/.test(u.UIDVALIDITY[0]));
  assert.deepEqual(out.examine[0], 'OK');
  assert.deepEqual(out.examine[2].PERMANENTFLAGS, ['()']);
  // \Recent was claimed by the first session: none is recent to the next one
  assert.deepEqual(out.examine[2].RECENT, ['0']);
  assert.deepEqual(out.examine[2].UNSEEN, ['2']);
  assert.equal(out.nope[0], 'NO');

  // raw: the order, [CLOSED] on a second SELECT, HIGHESTMODSEQ with SELECT (CONDSTORE), a failed
  // SELECT leaves no mailbox selected
  const c = await imap(env.port, user);
  const sel = await c.run('SELECT INBOX');
  assert.deepEqual(untagged(sel).map((l) => l.replace(/UIDVALIDITY \d+/, 'UIDVALIDITY v').replace(/HIGHESTMODSEQ \d+/, 'HIGHESTMODSEQ m')), [
    '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)',
    '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.',
    '* 3 EXISTS',
    '* 0 RECENT',
    '* OK [UNSEEN 2] First unseen.',
    '* OK [UIDVALIDITY v] UIDs valid',
    '* OK [UIDNEXT 4] Predicted next UID',
    '* OK [HIGHESTMODSEQ m] Highest',
  ]);
  assert.equal(tagged(sel), 'OK [READ-WRITE] Select completed');
  const ex = await c.run('EXAMINE INBOX (CONDSTORE)');
  assert.equal(untagged(ex)[0], '* OK [CLOSED] Previous mailbox closed.');
  assert.ok(untagged(ex).some((l) => /^\* OK \[HIGHESTMODSEQ \d+\]/.test(l)));
  assert.equal(tagged(ex), 'OK [READ-ONLY] Examine completed');
  const nope = await c.run('SELECT Nope');
  assert.match(tagged(nope), /^NO \[NONEXISTENT\]/);
  assert.deepEqual(untagged(nope), ['* OK [CLOSED] Previous mailbox closed.']);
  assert.match(tagged(await c.run('FETCH 1 FLAGS')), /^BAD/);
  // IMAP4rev2: no RECENT, no UNSEEN
  assert.match(tagged(await c.run('ENABLE IMAP4rev2')), /^OK/);
  const r2 = untagged(await c.run('SELECT INBOX'));
  assert.ok(!r2.some((l) => / RECENT$|\[UNSEEN/.test(l)), r2.join('\n'));
  assert.ok(r2.includes('* 3 EXISTS'));
  c.close();
});

test('FETCH: items, BODY.PEEK leaves \\Seen, BODY[] sets it and tells FLAGS, EXAMINE never sets it', { timeout: 60_000 }, async () => {
  const user = await account(3);
  const out = JSON.parse(
    await py(
      user,
      `
M.select('INBOX', readonly=True)
out['ro'] = M.fetch('1', '(BODY[])')
out['ro_flags'] = M.fetch('1', '(FLAGS)')
M.select('INBOX')
out['items'] = M.fetch('1:2', '(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)')
out['peek'] = M.fetch('2', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
out['peek_flags'] = M.fetch('2', '(FLAGS)')
out['body'] = M.fetch('2', '(BODY[TEXT])')
out['uid'] = M.uid('FETCH', '3', '(FLAGS)')
out['bad'] = None
try:
    M.fetch('9', '(FLAGS)')
except imaplib.IMAP4.error as e:
    out['bad'] = str(e)
`,
    ),
  );
  assert.equal(out.ro[0], 'OK');
  assert.ok(!JSON.stringify(out.ro_flags).includes('\\\\Seen'), JSON.stringify(out.ro_flags));
  assert.equal(out.items[1].length, 2);
  assert.match(out.items[1][0], /^1 \(UID 1 FLAGS \(\\Recent\) RFC822\.SIZE \d+ INTERNALDATE "[^"]+" ENVELOPE \("Sun, 06 Dec 2026 07:00:00 \+0000" "m1" /);
  assert.equal(out.peek[1][0][1], 'Subject: m2\r\n\r\n');
  assert.ok(!JSON.stringify(out.peek_flags).includes('Seen'));
  assert.equal(out.body[1][0][1], 'Hello.\r\n');
  assert.match(out.body[1][1], /FLAGS \(\\Seen \\Recent\)\)$/);
  assert.match(out.uid[1][0], /^3 \(UID 3 FLAGS \(\\Recent\)\)$/);
  assert.match(out.bad, /Invalid messageset/);
});

test('STORE: FLAGS, +FLAGS, -FLAGS, .SILENT; CONDSTORE MODSEQ and UNCHANGEDSINCE → MODIFIED; read-only NO', { timeout: 60_000 }, async () => {
  const user = await account(3);
  const out = JSON.parse(
    await py(
      user,
      `
M.select('INBOX')
out['add'] = M.store('1:2', '+FLAGS', '(\\\\Flagged $Work)')
out['remove'] = M.store('1', '-FLAGS', '(\\\\Flagged)')
out['set'] = M.store('3', 'FLAGS', '(\\\\Answered)')
out['silent'] = M.store('3', '+FLAGS.SILENT', '(\\\\Seen)')
out['after'] = M.fetch('1:3', '(FLAGS)')
M.select('INBOX', readonly=True)
try:
    out['ro'] = M.store('1', '+FLAGS', '(\\\\Deleted)')
except imaplib.IMAP4.error as e:
    out['ro'] = str(e)
`,
    ),
  );
  assert.deepEqual(out.add[1], ['1 (FLAGS (\\Flagged $Work \\Recent))', '2 (FLAGS (\\Flagged $Work \\Recent))']);
  assert.deepEqual(out.remove[1], ['1 (FLAGS ($Work \\Recent))']);
  assert.deepEqual(out.set[1], ['3 (FLAGS (\\Answered \\Recent))']);
  assert.deepEqual(out.silent[1], [null]);
  assert.deepEqual(out.after[1], ['1 (FLAGS ($Work \\Recent))', '2 (FLAGS (\\Flagged $Work \\Recent))', '3 (FLAGS (\\Seen \\Answered \\Recent))']);
  assert.match(JSON.stringify(out.ro), /read-only/i);

  const c = await imap(env.port, user);
  assert.match(tagged(await c.run('ENABLE CONDSTORE')), /^OK/);
  const sel = untagged(await c.run('SELECT INBOX'));
  const hm = Number(/HIGHESTMODSEQ (\d+)/.exec(sel.join('\n'))![1]);
  const st = await c.run('STORE 1 +FLAGS (\\Deleted)');
  const m1 = /^\* 1 FETCH \(FLAGS \(\\Deleted \$Work\) UID 1 MODSEQ \((\d+)\)\)$/.exec(untagged(st)[0]!);
  assert.ok(m1 !== null && Number(m1[1]) > hm, untagged(st).join('\n'));
  // message 2 unchanged since `hm`, message 1 changed since: only 2 is stored
  const cond = await c.run(`UID STORE 1:2 (UNCHANGEDSINCE ${hm}) +FLAGS.SILENT (\\Draft)`);
  assert.equal(tagged(cond), 'OK [MODIFIED 1] Conditional STORE failed');
  assert.match(untagged(cond).join('\n'), /^\* 2 FETCH \(UID 2 MODSEQ \(\d+\)\)$/);
  const f = untagged(await c.run('FETCH 1:2 (FLAGS)'));
  assert.ok(!f[0]!.includes('\\Draft') && f[1]!.includes('\\Draft'), f.join('\n'));
  c.close();
});

test('COPY and MOVE: COPYUID, MOVE tells its expunges before the tagged OK, TRYCREATE', { timeout: 60_000 }, async () => {
  const user = await account(4);
  const out = JSON.parse(
    await py(
      user,
      `
M.select('INBOX')
out['copy'] = M.copy('1:2', 'Archive')
out['copyuid'] = M.untagged_responses.get('COPYUID')
out['nope'] = M.copy('1', 'Nope')
out['uidcopy'] = M.uid('COPY', '3:4', 'Archive')
`,
    ),
  );
  assert.equal(out.copy[0], 'OK');
  assert.match(JSON.stringify(out.copy), /COPYUID \d+ 1:2 1:2/);
  assert.equal(out.nope[0], 'NO');
  assert.match(JSON.stringify(out.nope), /TRYCREATE/);
  assert.equal(out.uidcopy[0], 'OK');

  const c = await imap(env.port, user);
  await c.run('SELECT INBOX');
  const mv = await c.run('MOVE 2:3 Trash');
  assert.deepEqual(untagged(mv).map((l) => l.replace(/COPYUID \d+/, 'COPYUID v')), ['* OK [COPYUID v 2:3 1:2] Moved UIDs.', '* 3 EXPUNGE', '* 2 EXPUNGE']);
  assert.equal(tagged(mv), 'OK Move completed');
  const umv = await c.run('UID MOVE 4 Junk');
  assert.equal(untagged(umv)[1], '* 2 EXPUNGE');
  assert.match(tagged(await c.run('MOVE 1 Nope')), /^NO \[TRYCREATE\]/);
  const ex = await c.run('EXAMINE Trash');
  assert.ok(untagged(ex).includes('* 2 EXISTS'));
  assert.match(tagged(await c.run('MOVE 1 INBOX')), /^NO \[READ-ONLY\]/);
  c.close();
});

test('EXPUNGE: two sessions; sequence numbers shift, highest first; held back during FETCH, STORE and SEARCH; UID EXPUNGE', { timeout: 60_000 }, async () => {
  const user = await account(6);
  const a = await imap(env.port, user);
  const b = await imap(env.port, user);
  await a.run('SELECT INBOX');
  await b.run('SELECT INBOX');
  await b.run('STORE 2,4,5 +FLAGS.SILENT (\\Deleted)');
  const x = await b.run('EXPUNGE');
  assert.deepEqual(untagged(x), ['* 5 EXPUNGE', '* 4 EXPUNGE', '* 2 EXPUNGE']);
  // A: a FETCH may not tell expunges, and the numbers it answers with are the old ones
  await env.deliver(user, message('m7'));
  let fetched: string[] = [];
  for (let i = 0; i < 100; i++) {
    fetched = untagged(await a.run('FETCH 6 (UID)'));
    if (fetched.some((l) => / EXISTS$/.test(l))) break;
  }
  assert.ok(fetched.includes('* 7 EXISTS'), fetched.join('\n'));
  assert.ok(fetched.includes('* 6 FETCH (UID 6)'), fetched.join('\n'));
  assert.ok(!fetched.some((l) => /EXPUNGE/.test(l)));
  assert.ok(!untagged(await a.run('SEARCH ALL')).some((l) => /EXPUNGE/.test(l)));
  // a UID command may: the expunges come, highest first, before its reply
  const u = await a.run('UID FETCH 6 (UID)');
  assert.deepEqual(untagged(u), ['* 5 EXPUNGE', '* 4 EXPUNGE', '* 2 EXPUNGE', '* 4 RECENT', '* 3 FETCH (UID 6)']);
  const n = untagged(await a.run('FETCH 1:* (UID)'));
  assert.deepEqual(n, ['* 1 FETCH (UID 1)', '* 2 FETCH (UID 3)', '* 3 FETCH (UID 6)', '* 4 FETCH (UID 7)']);
  // UID EXPUNGE removes only the given \Deleted ones
  await a.run('STORE 1:2 +FLAGS.SILENT (\\Deleted)');
  const ux = await a.run('UID EXPUNGE 3');
  assert.deepEqual(untagged(ux).filter((l) => !/RECENT/.test(l)), ['* 2 EXPUNGE']);
  assert.deepEqual(untagged(await b.run('NOOP')).filter((l) => /EXPUNGE|EXISTS/.test(l)), ['* 2 EXPUNGE', '* 3 EXISTS']);
  // CLOSE expunges silently
  const cl = await a.run('CLOSE');
  assert.deepEqual(untagged(cl), []);
  const bn = untagged(await b.run('NOOP'));
  assert.ok(bn.includes('* 1 EXPUNGE'), bn.join('\n'));
  a.close();
  b.close();
});

test('POP3: a QUIT that deletes is seen by an IMAP session as EXPUNGE, a RETR as \\Seen', { timeout: 60_000 }, async () => {
  const user = await account(3);
  const c = await imap(env.port, user);
  await c.run('SELECT INBOX');
  const p = await pop3(env.pop3Port);
  assert.match(await p.login(user, 'pw'), /^\+OK/);
  assert.match(await p.cmd('RETR 3'), /^\+OK/);
  await p.readMulti();
  assert.match(await p.cmd('DELE 1'), /^\+OK/);
  assert.match(await p.cmd('QUIT'), /^\+OK/);
  let lines: string[] = [];
  for (let i = 0; i < 100 && !lines.some((l) => /EXPUNGE/.test(l)); i++) lines = [...lines, ...untagged(await c.run('NOOP'))];
  assert.ok(lines.includes('* 1 EXPUNGE'), lines.join('\n'));
  assert.ok(lines.some((l) => /^\* \d FETCH \(FLAGS \(\\Seen/.test(l)), lines.join('\n'));
  assert.deepEqual(untagged(await c.run('FETCH 1:* (UID)')), ['* 1 FETCH (UID 2)', '* 2 FETCH (UID 3)']);
  c.close();
});

test('IDLE: a delivery, a flag change and an expunge elsewhere are pushed within 1 s; DONE ends it, anything else is BAD', { timeout: 60_000 }, async () => {
  const user = await account(2);
  const c = await imap(env.port, user);
  const other = await imap(env.port, user);
  await c.run('SELECT INBOX');
  await other.run('SELECT INBOX');
  c.write('i1 IDLE\r\n');
  assert.equal(await c.line(), '+ idling');
  let t0 = Date.now();
  await env.deliver(user, message('m3'));
  assert.equal(await c.line(5000), '* 3 EXISTS');
  assert.ok(Date.now() - t0 < 1000 + 500, `EXISTS after ${Date.now() - t0} ms`);
  t0 = Date.now();
  await other.run('STORE 1 +FLAGS.SILENT (\\Flagged)');
  const seen = [await c.line(5000)];
  if (/RECENT/.test(seen[0]!)) seen.push(await c.line(5000));
  assert.ok(seen.includes('* 1 FETCH (FLAGS (\\Flagged \\Recent))'), seen.join('\n'));
  assert.ok(Date.now() - t0 < 1500);
  t0 = Date.now();
  await other.run('STORE 2 +FLAGS.SILENT (\\Deleted)');
  await other.run('EXPUNGE');
  const lines: string[] = [];
  while (!lines.includes('* 2 EXPUNGE')) lines.push(await c.line(5000));
  assert.ok(Date.now() - t0 < 1500);
  c.write('DONE\r\n');
  let last = await c.line();
  while (last.startsWith('* ')) last = await c.line();
  assert.equal(last, 'i1 OK Idle completed');
  // in the authenticated state too; anything but DONE is BAD
  await c.run('UNSELECT');
  c.write('i2 IDLE\r\n');
  assert.equal(await c.line(), '+ idling');
  c.write('NOOP\r\n');
  assert.match(await c.line(), /^i2 BAD/);
  assert.match(tagged(await c.run('NOOP')), /^OK/);
  c.close();
  other.close();
});

test('QRESYNC: SELECT after expunges and flag changes elsewhere gives VANISHED (EARLIER) and the changed FETCHes; expunges are VANISHED', { timeout: 60_000 }, async () => {
  const user = await account(5);
  const c = await imap(env.port, user);
  await c.run('ENABLE QRESYNC');
  const sel = untagged(await c.run('SELECT INBOX'));
  const uv = Number(/UIDVALIDITY (\d+)/.exec(sel.join('\n'))![1]);
  const hm = Number(/HIGHESTMODSEQ (\d+)/.exec(sel.join('\n'))![1]);
  await c.run('LOGOUT').catch(() => {});
  c.close();
  // elsewhere: 2 and 4 expunged, 5 flagged
  const o = await imap(env.port, user);
  await o.run('SELECT INBOX');
  await o.run('UID STORE 2,4 +FLAGS.SILENT (\\Deleted)');
  await o.run('EXPUNGE');
  await o.run('UID STORE 5 +FLAGS.SILENT (\\Flagged)');
  const c2 = await imap(env.port, user);
  await c2.run('ENABLE QRESYNC');
  const r = await c2.run(`SELECT INBOX (QRESYNC (${uv} ${hm} 1:5))`);
  const u = untagged(r);
  assert.ok(u.includes('* VANISHED (EARLIER) 2,4'), u.join('\n'));
  assert.ok(u.some((l) => /^\* 3 FETCH \(UID 5 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$/.test(l)), u.join('\n'));
  assert.ok(!u.some((l) => /FETCH \(UID [13] /.test(l)), u.join('\n'));
  // a wrong UIDVALIDITY: a plain SELECT
  assert.ok(!untagged(await c2.run(`SELECT INBOX (QRESYNC (${uv + 1} ${hm}))`)).some((l) => /VANISHED/.test(l)));
  // UID FETCH … (CHANGEDSINCE … VANISHED)
  const f = untagged(await c2.run(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${hm} VANISHED)`));
  assert.equal(f[0], '* VANISHED (EARLIER) 2,4');
  assert.match(f[1]!, /^\* 3 FETCH \(UID 5 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$/);
  // an expunge elsewhere is VANISHED here
  await o.run('UID STORE 1 +FLAGS.SILENT (\\Deleted)');
  await o.run('EXPUNGE');
  let lines: string[] = [];
  for (let i = 0; i < 100 && !lines.some((l) => /VANISHED/.test(l)); i++) lines = untagged(await c2.run('NOOP'));
  assert.ok(lines.includes('* VANISHED 1'), lines.join('\n'));
  assert.match(tagged(await c2.run('SELECT INBOX (QRESYNC (1 1))')), /^OK/);
  const plain = await imap(env.port, user);
  assert.match(tagged(await plain.run('SELECT INBOX (QRESYNC (1 1))')), /^BAD/);
  plain.close();
  c2.close();
  o.close();
});

test('SEARCH: SEARCH, UID SEARCH, ESEARCH RETURN (MIN MAX COUNT ALL), SAVE and $, BADCHARSET', { timeout: 60_000 }, async () => {
  const user = await account(5);
  const out = JSON.parse(
    await py(
      user,
      `
M.select('INBOX')
M.store('2,4', '+FLAGS', '(\\\\Flagged)')
out['search'] = M.search(None, 'FLAGGED')
out['uid'] = M.uid('SEARCH', 'SUBJECT', 'm3')
out['charset'] = M.search('UTF-8', 'SUBJECT', 'm5')
try:
    out['bad'] = M.search('KOI8-R', 'ALL')
except imaplib.IMAP4.error as e:
    out['bad'] = str(e)
`,
    ),
  );
  assert.deepEqual(out.search, ['OK', ['2 4']]);
  assert.deepEqual(out.uid, ['OK', ['3']]);
  assert.deepEqual(out.charset, ['OK', ['5']]);
  assert.deepEqual(out.bad, ['NO', ['[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset']]);

  const c = await imap(env.port, user);
  await c.run('SELECT INBOX');
  assert.deepEqual(untagged(await c.run('SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED')), ['* ESEARCH (TAG "t3") MIN 2 MAX 4 COUNT 2 ALL 2,4']);
  assert.deepEqual(untagged(await c.run('UID SEARCH RETURN (SAVE) FLAGGED')), []);
  assert.deepEqual(untagged(await c.run('FETCH $ (UID)')), ['* 2 FETCH (UID 2)', '* 4 FETCH (UID 4)']);
  assert.deepEqual(untagged(await c.run('UID STORE $ +FLAGS (\\Seen)')).length, 2);
  assert.deepEqual(untagged(await c.run('SEARCH $ SEEN')), ['* SEARCH 2 4']);
  // MIN alone saves only the minimum
  await c.run('SEARCH RETURN (SAVE MIN) FLAGGED');
  assert.deepEqual(untagged(await c.run('UID FETCH $ (UID)')), ['* 2 FETCH (UID 2)']);
  c.close();
});

test('FETCH BODY[] after a compaction moved the bodies the session knew the place of: read again from the store', { timeout: 60_000 }, async () => {
  const user = await account(10);
  const c = await imap(env.port, user);
  await c.run('SELECT INBOX');
  // the view has every locator; then half the messages go and the segment is compacted away
  await c.run('STORE 1:5 +FLAGS.SILENT (\\Deleted)');
  await c.run('EXPUNGE');
  const r = (await env.server.admin('store.compact', {})) as { segmentsRemoved: number; bytesCopied: number };
  assert.ok(r.segmentsRemoved >= 1 && r.bytesCopied > 0, JSON.stringify(r));
  const f = await c.run('FETCH 1:5 (BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (SUBJECT)])');
  assert.equal(tagged(f), 'OK Fetch completed');
  const got = untagged(f).map((l) => /Subject: (m\d+)/.exec(l)?.[1]);
  assert.deepEqual(got, ['m6', 'm7', 'm8', 'm9', 'm10']);
  assert.ok(untagged(f).every((l) => l.includes('BODY[TEXT] {8}\r\nHello.\r\n')));
  c.close();
});

test('SORT and THREAD (and UID forms): sorted and threaded answers, BADCHARSET', { timeout: 60_000 }, async () => {
  const user = `u${++users}@example.org`;
  await env.addUser(user, 'pw');
  await env.deliver(user, 'From: b@example.org\r\nSubject: beta\r\nMessage-ID: <1@x>\r\nDate: Sun, 06 Dec 2026 07:00:03 +0000\r\n\r\nx\r\n');
  await env.deliver(user, 'From: a@example.org\r\nSubject: alpha\r\nMessage-ID: <2@x>\r\nDate: Sun, 06 Dec 2026 07:00:01 +0000\r\n\r\nx\r\n');
  await env.deliver(user, 'From: c@example.org\r\nSubject: Re: beta\r\nMessage-ID: <3@x>\r\nIn-Reply-To: <1@x>\r\nReferences: <1@x>\r\nDate: Sun, 06 Dec 2026 07:00:02 +0000\r\n\r\nx\r\n');
  const out = JSON.parse(
    await py(
      user,
      `
M.select('INBOX')
out['subject'] = M.sort('(SUBJECT)', 'UTF-8', 'ALL')
out['date'] = M.sort('(REVERSE DATE)', 'UTF-8', 'ALL')
out['from'] = M.uid('SORT', '(FROM)', 'UTF-8', 'ALL')
out['thread'] = M.thread('REFERENCES', 'UTF-8', 'ALL')
try:
    out['bad'] = M.sort('(SUBJECT)', 'KOI8-R', 'ALL')
except imaplib.IMAP4.error as e:
    out['bad'] = str(e)
`,
    ),
  );
  assert.deepEqual(out.subject, ['OK', ['2 1 3']]);
  assert.deepEqual(out.date, ['OK', ['1 3 2']]);
  assert.deepEqual(out.from, ['OK', ['2 1 3']]);
  assert.deepEqual(out.thread, ['OK', ['(2)(1 3)']]);
  assert.match(JSON.stringify(out.bad), /BADCHARSET/);
});

test('CONDSTORE: FETCH (CHANGEDSINCE) and the MODSEQ item turn it on (HIGHESTMODSEQ once), and answer only what changed since', { timeout: 60_000 }, async () => {
  const user = await account(3);
  const c = await imap(env.port, user);
  await c.run('SELECT INBOX');
  const m = untagged(await c.run('FETCH 1:* (MODSEQ)'));
  assert.match(m[0]!, /^\* OK \[HIGHESTMODSEQ \d+\]/);
  const seqs = m.slice(1).map((l) => Number(/MODSEQ \((\d+)\)/.exec(l)![1]));
  assert.equal(seqs.length, 3);
  const since = Math.max(...seqs);
  await c.run('STORE 2 +FLAGS.SILENT (\\Answered)');
  const f = untagged(await c.run(`FETCH 1:* (FLAGS) (CHANGEDSINCE ${since})`));
  assert.equal(f.length, 1, f.join('\n'));
  assert.match(f[0]!, /^\* 2 FETCH \(FLAGS \(\\Answered \\Recent\) MODSEQ \(\d+\)\)$/);
  // a flag change elsewhere now comes with its MODSEQ
  const o = await imap(env.port, user);
  await o.run('SELECT INBOX');
  await o.run('STORE 3 +FLAGS.SILENT (\\Flagged)');
  let lines: string[] = [];
  for (let i = 0; i < 100 && !lines.some((l) => /FETCH/.test(l)); i++) lines = untagged(await c.run('NOOP'));
  assert.ok(lines.some((l) => /^\* 3 FETCH \(FLAGS \(\\Flagged \\Recent\) MODSEQ \(\d+\)\)$/.test(l)), lines.join('\n'));
  o.close();
  c.close();
});

test('imaplib: CHECK, EXPUNGE, UID MOVE, UID EXPUNGE, UNSELECT (no expunge) and CLOSE (expunge)', { timeout: 60_000 }, async () => {
  const user = await account(6);
  const out = JSON.parse(
    await py(
      user,
      `
M.select('INBOX')
out['check'] = M.check()
M.store('1,2', '+FLAGS', '(\\\\Deleted)')
out['expunge'] = M.expunge()
out['move'] = M.uid('MOVE', '3', 'Archive')
M.store('1', '+FLAGS', '(\\\\Deleted)')
out['uidexpunge'] = M.uid('EXPUNGE', '4')
M.store('1', '+FLAGS', '(\\\\Deleted)')
out['unselect'] = M.unselect()
out['after_unselect'] = M.select('INBOX')
M.store('2', '+FLAGS', '(\\\\Deleted)')
out['close'] = M.close()
out['after_close'] = M.select('INBOX', readonly=True)
out['archive'] = M.select('Archive', readonly=True)
`,
    ),
  );
  assert.equal(out.check[0], 'OK');
  assert.deepEqual(out.expunge, ['OK', ['2', '1']]);
  assert.equal(out.move[0], 'OK');
  assert.equal(out.uidexpunge[0], 'OK');
  assert.equal(out.unselect[0], 'OK');
  // UIDs 5 and 6 are left, 5 flagged \Deleted but not expunged by UNSELECT
  assert.deepEqual(out.after_unselect, ['OK', ['2']]);
  assert.equal(out.close[0], 'OK');
  // CLOSE expunged both
  assert.deepEqual(out.after_close, ['OK', ['0']]);
  assert.deepEqual(out.archive, ['OK', ['1']]);
});

test('a mailbox name with CR LF (sent as a literal) cannot break a reply into two lines', { timeout: 60_000 }, async () => {
  const user = await account(1);
  const c = await imap(env.port, user);
  c.write('x1 SELECT {9+}\r\nA\r\n* BYE\r\n');
  const l = await c.line();
  assert.match(l, /^x1 (NO|BAD) /);
  assert.ok(!l.includes('\r') && !l.includes('\n'));
  c.write('x2 COPY 1 {9+}\r\nA\r\n* BYE\r\n');
  assert.match(await c.line(), /^x2 BAD/); // no mailbox selected
  await c.run('SELECT INBOX');
  c.write('x3 COPY 1 {9+}\r\nA\r\n* BYE\r\n');
  const l3 = await c.line();
  assert.match(l3, /^x3 (NO|BAD) /);
  assert.match(tagged(await c.run('NOOP')), /^OK/);
  c.close();
});
