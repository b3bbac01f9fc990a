/**
 * test/cli/store.test.ts: the CLI's store contexts over raw sockets, against a running server
 * with POP3 and SMTP receiving (no processing: accepted mail waits in the queue): CREATE
 * Domain … COMMIT, LIST Domains with a wildcard, UPDATE Domain, ADD Account … COMMIT (the
 * account then logs in over POP3), UPDATE Account SET password … COMMIT COMMIT (the new
 * password works, the old one not), quotas (totalMessageSize, totalMessageCount) shown by SHOW
 * Account, REMOVE Account, DELETE Domain; ENTER QUEUE: LIST, LIST ID, SHOW, RETRY, FORCE QUEUE,
 * DELETE; and their errors (an unknown domain, account or queue id, a bad quota, a missing
 * password).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectLines } from '../helpers.ts';
import { loggedIn, script, startCli, type CliEnv } from './helpers.ts';

let env: CliEnv;

before(async () => {
  env = await startCli({
    services: ['pop3', 'smtpIncoming'],
    cli: 'maxErrors = 50',
    blocks: `pop3 = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 authFailureDelay = 0 }
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 }`,
  });
});
after(async () => {
  await env?.stop();
});

async function pop3Login(user: string, password: string): Promise<string> {
  const c = await connectLines(env.server.port('pop3'));
  await c.read();
  await c.cmd(`USER ${user}`);
  const r = await c.cmd(`PASS ${password}`);
  c.close();
  return r;
}

async function smtpSend(to: string): Promise<void> {
  const c = await connectLines(env.server.port('smtpIncoming'));
  assert.match(await c.read(), /^220 /);
  c.send('EHLO client.test');
  while (!/^250 /.test(await c.read()));
  for (const [line, code] of [['MAIL FROM:<bob@remote.test>', '250'], [`RCPT TO:<${to}>`, '250'], ['DATA', '354']] as const) {
    assert.match(await c.cmd(line), new RegExp(`^${code}`));
  }
  c.send('Subject: for the queue\r\n\r\nhello\r\n.');
  assert.match(await c.read(), /^250 /);
  c.close();
}

test('domains and accounts: create, list, update, add, password, quotas, remove, delete', async () => {
  const c = await loggedIn(env.port);
  await script(c, [
    ['CREATE Domain name shop.test domainLocation /var/unused postmasterPassword pm-secret', '+OK', '<domain-create#> '],
    ['SET name', '-ERR', '<domain-create#> '],
    ['COMMIT', '+OK', '<#> '],
    ['CREATE Domain name shop.test postmasterPassword x2', '+OK', '<domain-create#> '],
    ['COMMIT', '-ERR', '<domain-create#> '], // it exists: the store's error
    ['BACK', '+OK', '<#> '],
    ['CREATE Domain postmasterPassword x3', '+OK', '<domain-create#> '],
    ['COMMIT', '-ERR', '<domain-create#> '], // no name
    ['CANCEL', '+OK', '<#> '],
    ['LIST Domains sh*', '+OK', '<#> '],
  ]);
  assert.deepEqual(c.answers[c.answers.length - 1]!.lines.slice(5, -1), ['shop.test']);
  assert.match(await pop3Login('postmaster@shop.test', 'pm-secret'), /^\+OK/);
  await script(c, [
    ['SHOW Domain shop.test ATTR accounts', '+OK', '<#> '],
    ['UPDATE Domain nowhere.test', '-ERR', '<#> '],
    ['UPDATE Domain name shop.test', '+OK', '<domain#> '],
    ['ADD Account name ann password ann-pw-1 totalMessageSize 2048 totalMessageCount 10', '+OK', '<domain-account#> '],
    ['SET totalMessageSize lots', '-ERR', '<domain-account#> '],
    ['COMMIT', '+OK', '<domain#> '],
    ['ADD Account name bob', '+OK', '<domain-account#> '],
    ['COMMIT', '-ERR', '<domain-account#> '], // no password
    ['BACK', '+OK', '<domain#> '],
    ['LIST Accounts', '+OK', '<domain#> '],
  ]);
  assert.deepEqual(c.answers[c.answers.length - 1]!.lines.slice(5, -1), ['ann', 'postmaster']);
  assert.match(await pop3Login('ann@shop.test', 'ann-pw-1'), /^\+OK/);
  const shown = await c.cmd('SHOW Account ann');
  assert.ok(shown.lines.includes('totalMessageSize = 2048'), shown.raw);
  assert.ok(shown.lines.includes('totalMessageCount = 10'), shown.raw);
  await script(c, [
    ['UPDATE Account name nobody', '-ERR', '<domain#> '],
    ['UPDATE Account name ann', '+OK', '<domain-account#> '],
    ['SET password ann-pw-2 totalMessageSize 0', '+OK', '<domain-account#> '],
    ['SET colour blue', '-ERR', '<domain-account#> '],
    ['COMMIT', '+OK', '<domain#> '],
    ['COMMIT', '+OK', '<#> '],
  ]);
  assert.match(await pop3Login('ann@shop.test', 'ann-pw-2'), /^\+OK/);
  assert.match(await pop3Login('ann@shop.test', 'ann-pw-1'), /^-ERR/);
  await script(c, [
    ['UPDATE Domain shop.test', '+OK', '<domain#> '],
    ['SHOW Account ann ATTR totalMessageSize', '+OK', '<domain#> '],
  ]);
  assert.deepEqual(c.answers[c.answers.length - 1]!.lines, ['totalMessageSize = unlimited']);
  await script(c, [
    ['ADD Alias shop-alias.test', '-ERR', '<domain#> '], // not implemented: said so
    ['REMOVE Account name ann', '+OK', '<domain#> '],
    ['REMOVE Account name ann', '-ERR', '<domain#> '],
    ['DONE', '+OK', '<#> '],
    ['DELETE Domain name shop.test', '+OK', '<#> '],
    ['DELETE Domain name shop.test', '-ERR', '<#> '],
    ['ENABLE Domain name shop.test', '-ERR', '<#> '], // not implemented: said so
  ]);
  assert.match(c.answers[c.answers.length - 1]!.text, /not implemented/);
  c.close();
});

test('the queue: LIST, LIST ID, SHOW, RETRY, FORCE QUEUE, DELETE', async () => {
  const admin = await loggedIn(env.port);
  await script(admin, [
    ['CREATE Domain name q.test postmasterPassword pm', '+OK', '<domain-create#> '],
    ['COMMIT', '+OK', '<#> '],
  ]);
  await smtpSend('postmaster@q.test');
  await smtpSend('postmaster@q.test');
  await script(admin, [['ENTER QUEUE', '+OK', '<queue#> ']]);
  const list = await admin.cmd('LIST');
  const rows = list.lines.slice(5, -1);
  assert.equal(rows.length, 2, list.raw);
  const ids = rows.map((r) => r.split(' | ')[0]!.trim());
  assert.match(rows[0]!, /bob@remote\.test \| 1 /);
  const one = await admin.cmd(`LIST ID ${ids[0]}`);
  assert.ok(one.lines.some((l) => l === `id = ${ids[0]}`), one.raw);
  assert.ok(one.lines.some((l) => /Subject: for the queue/.test(l)), one.raw);
  await script(admin, [
    [`SHOW ${ids[1]}`, '+OK', '<queue#> '],
    [`RETRY ${ids[0]}`, '+OK', '<queue#> '],
    ['FORCE QUEUE', '+OK', '<queue#> '],
    [`DELETE ${ids[0]}`, '+OK', '<queue#> '],
    [`DELETE ${ids[0]}`, '-ERR', '<queue#> '],
    ['RETRY NOSUCHID', '-ERR', '<queue#> '],
    ['LIST FILTER x', '-ERR', '<queue#> '],
    [`NDR ${ids[1]}`, '-ERR', '<queue#> '],
    ['CONFIG SERVER', '-ERR', '<queue#> '],
    ['LIST', '+OK', '<queue#> '],
  ]);
  assert.equal(admin.answers[admin.answers.length - 1]!.lines.slice(5, -1).length, 1);
  await script(admin, [['SET QUIET on', '-ERR', '<queue#> '], ['BACK', '+OK', '<#> '], ['SET QUIET on', '+OK', '<#> '], ['ENTER QUEUE', '+OK', '<queue#> '], ['LIST', '+OK', '<queue#> ']]);
  const quiet = admin.answers[admin.answers.length - 1]!;
  assert.equal(quiet.lines.length, 1, 'quiet: the rows alone');
  assert.ok(quiet.lines[0]!.startsWith(ids[1]!), quiet.raw);
  admin.close();
});
