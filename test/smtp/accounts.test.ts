/**
 * test/smtp/accounts.test.ts: accounts made by `postern ctl` (runCtl over the control socket)
 * work with every mechanism SMTP and POP3 advertise: curl's default login (it picks CRAM-MD5,
 * the strongest offered) succeeds on both, also after `account passwd`. And RFC 5321 §4.5.1:
 * `RCPT TO:<postmaster>` (the primary domain's) and `postmaster@` every local domain are
 * accepted and delivered; `domain add` creates the domain's postmaster with the password given
 * or a random one it prints once, and each reads its mail over POP3 (Python smtplib, poplib).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCtl } from '../../src/cli/ctl.ts';
import { startServer, type Server } from '../../actors/server.ts';
import { tmpDir } from '../helpers.ts';
import { cleanup, python, run, waitMessages } from './helpers.ts';

let server: Server;
let dir: string;
let smtpPort: number;
let pop3Port: number;

async function ctl(...args: string[]): Promise<string[]> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCtl(['--data-dir', dir, ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  assert.equal(code, 0, `ctl ${args.join(' ')}: ${err.join('\n')}`);
  return out;
}

before(async () => {
  dir = tmpDir('postern-accounts-');
  server = await startServer({
    dataDir: dir,
    statusPort: 0,
    configText: `
Server {
    services = (smtpIncoming processing pop3)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) }
    processing = { }
    pop3 = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 }
}`,
  });
  smtpPort = server.port('smtpIncoming');
  pop3Port = server.port('pop3');
  await ctl('account', 'add', 'ann@example.org', '--password', 'ann-pw');
});
after(async () => {
  await server?.stop().catch(() => {});
  cleanup(dir);
});

async function curlSmtp(user: string, password: string, subject: string): Promise<{ code: number; stderr: string }> {
  const file = path.join(dir, `${subject.replace(/\W/g, '-')}.eml`);
  fs.writeFileSync(file, `From: ${user}\r\nTo: ann@example.org\r\nSubject: ${subject}\r\n\r\nvia curl\r\n`);
  return run('curl', ['-sS', '-v', `smtp://127.0.0.1:${smtpPort}/client.test`, '--mail-from', user, '--mail-rcpt', 'ann@example.org', '-u', `${user}:${password}`, '-T', file]);
}

test('curl\'s default login (CRAM-MD5) succeeds on SMTP and POP3 for an account made with ctl account add, and after account passwd', async () => {
  const s = await curlSmtp('ann@example.org', 'ann-pw', 'curl one');
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stderr, /> AUTH (CRAM-MD5|SCRAM-SHA-256)/, 'curl chose its strongest mechanism (a curl built with SCRAM picks SCRAM-SHA-256)');
  assert.match(s.stderr, /< 235 /);
  await waitMessages(server, 'ann@example.org', 1);
  const p = await run('curl', ['-sS', '-v', `pop3://127.0.0.1:${pop3Port}/`, '-u', 'ann@example.org:ann-pw']);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stderr, /> AUTH (CRAM-MD5|SCRAM-SHA-256)/);
  assert.match(p.stdout, /^1 \d+\r?$/m);
  await ctl('account', 'passwd', 'ann@example.org', '--password', 'new-pw');
  const s2 = await curlSmtp('ann@example.org', 'new-pw', 'curl two');
  assert.equal(s2.code, 0, s2.stderr);
  const p2 = await run('curl', ['-sS', `pop3://127.0.0.1:${pop3Port}/2`, '-u', 'ann@example.org:new-pw']);
  assert.equal(p2.code, 0, p2.stderr);
  assert.match(p2.stdout, /Subject: curl two/);
  const old = await run('curl', ['-sS', `pop3://127.0.0.1:${pop3Port}/`, '-u', 'ann@example.org:ann-pw']);
  assert.notEqual(old.code, 0, 'the old password no longer works');
});

test('RCPT TO:<postmaster> and <postmaster@every local domain> are accepted and delivered; each postmaster reads it over POP3', async () => {
  const other = await ctl('domain', 'add', 'other.org');
  assert.equal(other[0], 'domain other.org added, with postmaster@other.org');
  const m = /^postmaster@other\.org password: (\S+) /.exec(other[1] ?? '');
  assert.ok(m !== null, other.join('\n'));
  const printed = m[1]!;
  assert.deepEqual(await ctl('domain', 'add', 'given.org', '--password', 'given-pw'), ['domain given.org added, with postmaster@given.org']);
  // the primary domain's postmaster was made at start with a password nobody knows: set one
  await ctl('account', 'passwd', 'postmaster@example.org', '--password', 'pm-pw');

  const sent = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${smtpPort}, timeout=10)
s.ehlo('client.test')
for rcpt in ['postmaster', 'postmaster@other.org', 'PostMaster@given.org']:
    msg = 'From: someone@remote.example\\r\\nSubject: to ' + rcpt + '\\r\\n\\r\\nhello postmaster\\r\\n'
    print(rcpt, s.sendmail('someone@remote.example', [rcpt], msg))
s.quit()
`);
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(sent.stdout, 'postmaster {}\npostmaster@other.org {}\nPostMaster@given.org {}\n');
  for (const a of ['postmaster@example.org', 'postmaster@other.org', 'postmaster@given.org']) await waitMessages(server, a, 1);

  const read = await python(`
import poplib
for user, pw in [('postmaster@example.org', 'pm-pw'), ('postmaster@other.org', '${printed}'), ('postmaster@given.org', 'given-pw')]:
    p = poplib.POP3('127.0.0.1', ${pop3Port}, timeout=10)
    p.user(user)
    p.pass_(pw)
    n = p.stat()[0]
    subject = [l.decode() for l in p.retr(1)[1] if l.startswith(b'Subject:')][0]
    print(user, n, subject)
    p.quit()
`);
  assert.equal(read.code, 0, read.stderr);
  assert.equal(read.stdout, [
    'postmaster@example.org 1 Subject: to postmaster',
    'postmaster@other.org 1 Subject: to postmaster@other.org',
    'postmaster@given.org 1 Subject: to PostMaster@given.org',
    '',
  ].join('\n'));
});
