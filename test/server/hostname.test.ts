/**
 * The Server-level `hostname` (issue 11, item 14): one name, set once, in every place the
 * server names itself: the SMTP 220 greeting and EHLO reply (smtplib), the `Received:` field
 * of a delivered message (read back over POP3 with poplib), the POP3 and FTP greetings, and
 * the SMTP refusal before a session. Unset, it is the OS's fully qualified name; a value that
 * is not a host name is a config error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../actors/server.ts';
import { loadConfig } from '../../src/config/load.ts';
import { learnSystemHostname, HOSTNAME_RE } from '../../src/net/hostname.ts';
import { connectLines, tmpDir } from '../helpers.ts';
import { python, waitMessages } from '../smtp/helpers.ts';

const CONFIG = (extra: string): string => `
Server {
    services = (smtpIncoming processing pop3 ftpBackup)
    primaryDomain = "example.org"
    ${extra}
    statusListener = 127.0.0.1:0
    logLevel = error
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) }
    pop3 = { listeners = ( { address = 127.0.0.1:0 } ) }
    ftpBackup = { listeners = ( { address = 127.0.0.1:0 } ) }
}`;

test('hostname = "mx.example.test" names the server in greetings, EHLO and Received:', async (t) => {
  const server = await startServer({ configText: CONFIG('hostname = "MX.example.test"'), dataDir: tmpDir(), statusPort: 0, controlSocket: false });
  t.after(() => server.stop());
  await server.admin('account.add', { address: 'ann@example.org', password: 'ann-pw' });

  const smtp = await python(`
import smtplib
s = smtplib.SMTP()
print('GREETING', s.connect('127.0.0.1', ${server.port('smtpIncoming')})[1].decode())
code, text = s.ehlo('client.example')
print('EHLO', text.decode().splitlines()[0])
s.sendmail('x@remote.example', ['ann@example.org'], 'Subject: hostname\\r\\n\\r\\nbody\\r\\n')
s.quit()`);
  assert.equal(smtp.code, 0, smtp.stderr);
  assert.match(smtp.stdout, /^GREETING mx\.example\.test ESMTP Postern$/m);
  assert.match(smtp.stdout, /^EHLO mx\.example\.test Hello client\.example \[127\.0\.0\.1\]$/m);

  await waitMessages(server, 'ann@example.org', 1);
  const pop = await python(`
import poplib
p = poplib.POP3('127.0.0.1', ${server.port('pop3')})
print('WELCOME', p.getwelcome().decode())
p.user('ann@example.org'); p.pass_('ann-pw')
for l in p.retr(1)[1]: print('LINE', l.decode())
p.quit()`);
  assert.equal(pop.code, 0, pop.stderr);
  assert.match(pop.stdout, /^WELCOME \+OK mx\.example\.test Postern POP3 server ready$/m);
  assert.match(pop.stdout, /^LINE \tby mx\.example\.test \(Postern\) with ESMTP id \S+/m);

  const ftp = await connectLines(server.port('ftpBackup'));
  assert.match(await ftp.read(), /^220 mx\.example\.test /);
  ftp.close();
});

test('hostname unset: the OS\'s name, learnt once; a value that is not a host name is refused', async () => {
  const learnt = await learnSystemHostname();
  assert.match(learnt, HOSTNAME_RE);
  assert.equal(loadConfig('Server { }').resolved.hostname, learnt);
  assert.equal(loadConfig('Server { }').resolved.serviceOptions.smtpIncoming.hostname, learnt);
  for (const bad of ['"mx example"', '"-mx.example"', '"mx..example"', '"mx.example\\r\\n250 x"']) {
    assert.throws(() => loadConfig(`Server { hostname = ${bad} }`), (e: { code?: string }) => e.code === 'CONFIG_TYPE', bad);
  }
});
