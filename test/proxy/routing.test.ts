/**
 * test/proxy/routing.test.ts: two real Postern back ends behind one front end, users routed by
 * file user maps (one per protocol: the back ends' POP3 and IMAP ports differ on this machine),
 * and every way a back end can fail: down (a closed port), silent (accepts, never writes),
 * stopped in the middle of a session; connectionData maxConnections tripped; a user with no
 * back end; a user map that cannot be read. The connections leave from localInterface. Each failure is the protocol's temporary error
 * within rwTimeout (asserted with a generous bound), counted on /status.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pop3 } from '../pop3/helpers.ts';
import { tmpDir, waitFor } from '../helpers.ts';
import { imap, tagged, type ImapEnv } from '../imap/helpers.ts';
import { closedPort, python, silentServer, startBackend, startFront, type Front } from './helpers.ts';

const RW_TIMEOUT_S = 2;
let b1: ImapEnv;
let b2: ImapEnv;
let front: Front;
let silent: Awaited<ReturnType<typeof silentServer>>;
let down: number;

before(async () => {
  [b1, b2] = await Promise.all([startBackend(['a1@example.org', 'a2@example.org']), startBackend(['c1@example.org', 'c2@example.org'])]);
  silent = await silentServer();
  down = await closedPort();
  const dir = tmpDir('postern-proxy-routing-');
  const map = (p1: number, p2: number): string =>
    `a1@example.org 127.0.0.1:${p1}\na2@example.org 127.0.0.1:${p1}\n/^c[0-9]+@example\\.org$/ 127.0.0.1:${p2}\nsilent@example.org 127.0.0.1:${silent.port}\ndown@example.org 127.0.0.1:${down}\n`;
  fs.writeFileSync(path.join(dir, 'pop.map'), map(b1.pop3Port, b2.pop3Port));
  fs.writeFileSync(path.join(dir, 'imap.map'), map(b1.port, b2.port));
  front = await startFront({
    server: `userMaps = ( { name = "pop" type = file path = "${path.join(dir, 'pop.map')}" } { name = "imap" type = file path = "${path.join(dir, 'imap.map')}" } )`,
    both: `authenticateOnProxy = no connectionData = { rwTimeout = ${RW_TIMEOUT_S} maxConnections = 2 localInterface = "127.0.0.3" }`,
    pop3: 'userMap = "pop"', // no mappingHost: a user without an entry has no back end
    imap: `userMap = "imap" mappingData = { mappingHost = "127.0.0.1" mappingPort = ${down} }`, // no entry: the default back end, down
  });
});

after(async () => {
  await front?.stop();
  await Promise.all([b1?.stop(), b2?.stop()]);
  await silent?.close();
});

const counter = (service: string, name: string): number => front.server.status().services.find((s) => s.name === service)?.counters?.[name] ?? 0;

test('each user reaches the mailbox on their own back end, over POP3 (poplib) and IMAP (imaplib)', async () => {
  const out = await python(`
import poplib, imaplib, os
for u in ['a1', 'a2', 'c1', 'c2']:
    p = poplib.POP3('127.0.0.1', int(os.environ['POP']))
    p.user(u + '@example.org'); p.pass_('pw-' + u)
    subj = [l for l in p.retr(1)[1] if l.startswith(b'Subject:')][0].decode()
    p.quit()
    m = imaplib.IMAP4('127.0.0.1', int(os.environ['IMAP']))
    m.login(u + '@example.org', 'pw-' + u); m.select('INBOX', readonly=True)
    isubj = m.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')[1][0][1].decode().strip()
    m.logout()
    print(subj, '|', isubj)
`, { POP: String(front.pop3), IMAP: String(front.imap) });
  assert.deepEqual(out.trim().split('\n'), ['a1', 'a2', 'c1', 'c2'].map((u) => `Subject: hello ${u}@example.org | Subject: hello ${u}@example.org`));
  // a user of one back end is unknown on the other: the other's password check fails there
  const c = await pop3(front.pop3);
  assert.match(await c.login('a1@example.org', 'pw-c1'), /^-ERR \[AUTH\]/);
  c.close();
});

test('a back end that is down: -ERR [SYS/TEMP] / NO [UNAVAILABLE] at once, counted', async () => {
  const c = await pop3(front.pop3);
  assert.match(await c.login('down@example.org', 'x'), /^-ERR \[SYS\/TEMP\] /);
  assert.match(await c.login('a1@example.org', 'pw-a1'), /^\+OK/); // the session carries on
  c.close();
  const i = await imap(front.imap);
  assert.match(tagged(await i.run('LOGIN nobody@example.org x')), /^NO \[UNAVAILABLE\] /); // mappingData: down
  i.close();
  await waitFor(() => counter('pop3Proxy', 'proxy.backend_failed') >= 1 && counter('imapProxy', 'proxy.backend_failed') >= 1, 5000, 'failures counted');
});

test('a silent back end: the temporary error comes within rwTimeout, never a hang', async () => {
  const t0 = Date.now();
  const c = await pop3(front.pop3);
  assert.match(await c.login('silent@example.org', 'x'), /^-ERR \[SYS\/TEMP\] /);
  const popMs = Date.now() - t0;
  c.close();
  const t1 = Date.now();
  const i = await imap(front.imap);
  assert.match(tagged(await i.run('LOGIN silent@example.org x', 't1', 20_000)), /^NO \[UNAVAILABLE\] /);
  const imapMs = Date.now() - t1;
  i.close();
  for (const ms of [popMs, imapMs]) {
    assert.ok(ms >= RW_TIMEOUT_S * 1000 - 200, `waited the rwTimeout (${ms} ms)`);
    assert.ok(ms < RW_TIMEOUT_S * 1000 + 5000, `within rwTimeout and a margin (${ms} ms)`);
  }
  assert.ok(silent.accepted() >= 2);
  assert.deepEqual([...new Set(silent.from)], ['127.0.0.3']); // connectionData localInterface
});

test('a user without a map entry and no mappingHost has no back end: -ERR [SYS/PERM]', async () => {
  const c = await pop3(front.pop3);
  assert.match(await c.login('stranger@example.org', 'x'), /^-ERR \[SYS\/PERM\] /);
  c.close();
});

test('connectionData maxConnections: past it a login gets the temporary error at once; a freed connection serves the next', async () => {
  const s1 = await pop3(front.pop3);
  const s2 = await imap(front.imap);
  assert.match(await s1.login('a1@example.org', 'pw-a1'), /^\+OK/);
  // the two proxies are two services: each has its own maxConnections = 2
  const s3 = await pop3(front.pop3);
  assert.match(await s3.login('c1@example.org', 'pw-c1'), /^\+OK/);
  const s4 = await pop3(front.pop3);
  assert.match(await s4.login('a2@example.org', 'pw-a2'), /^-ERR \[SYS\/TEMP\] too many connections to the mail servers/);
  await waitFor(() => counter('pop3Proxy', 'proxy.busy') >= 1, 5000, 'busy counted');
  assert.match(tagged(await s2.run('LOGIN a2@example.org pw-a2')), /^OK/);
  s1.send('QUIT');
  await s1.closed;
  await waitFor(async () => /^\+OK/.test(await s4.login('a2@example.org', 'pw-a2')), 5000, 'a freed connection');
  for (const s of [s2, s3, s4]) s.close();
});

test('a back end stopped in the middle: its spliced sessions end, its users get temporary errors, the other back end\'s users see none', async () => {
  const c1 = await pop3(front.pop3);
  assert.match(await c1.login('c1@example.org', 'pw-c1'), /^\+OK/);
  await waitFor(async () => {
    const probe = await pop3(front.pop3);
    const ok = /^\+OK/.test(await probe.login('a1@example.org', 'pw-a1'));
    probe.close();
    return ok;
  }, 5000, 'a slot');
  await b2.stop();
  await c1.closed; // the back end went away: so does the client's session
  const t0 = Date.now();
  const c2 = await pop3(front.pop3);
  assert.match(await c2.login('c2@example.org', 'pw-c2'), /^-ERR \[SYS\/TEMP\] /);
  assert.ok(Date.now() - t0 < RW_TIMEOUT_S * 1000 + 5000);
  const a = await pop3(front.pop3);
  assert.match(await a.login('a2@example.org', 'pw-a2'), /^\+OK/);
  assert.match(await a.cmd('STAT'), /^\+OK 1 /);
  a.close();
  c2.close();
});

test('a user map that cannot be read: logins fail temporarily (USERDB_UNAVAILABLE), nothing hangs', async () => {
  const dir = tmpDir('postern-proxy-nomap-');
  const f = await startFront({
    services: ['pop3Proxy'],
    server: `userMaps = ( { name = "gone" type = file path = "${path.join(dir, 'missing.map')}" } )`,
    pop3: `authenticateOnProxy = no userMap = "gone" mappingData = { mappingHost = "127.0.0.1" mappingPort = ${b1.pop3Port} }`,
  });
  try {
    const c = await pop3(f.pop3);
    assert.match(await c.login('a1@example.org', 'pw-a1'), /^-ERR \[SYS\/TEMP\] /);
    c.close();
  } finally {
    await f.stop();
  }
});
