/**
 * test/proxy/pop3.test.ts: the POP3 proxy in front of a real Postern back end, with real
 * clients: Python's poplib (USER/PASS, STLS, implicit TLS), curl pop3://, and raw sockets for
 * AUTH PLAIN, pipelining past the login, the protocol's errors and their limits.
 *
 * The front end checks passwords itself (authenticateOnProxy = yes, the default: its own
 * directory holds alice with her password; bob exists only on the back end) and routes everyone
 * to mappingData.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { curl, pop3 } from '../pop3/helpers.ts';
import { waitFor } from '../helpers.ts';
import type { ImapEnv } from '../imap/helpers.ts';
import { python, startBackend, startFront, type Front } from './helpers.ts';

let back: ImapEnv;
let front: Front;

before(async () => {
  back = await startBackend(['alice@example.org', 'bob@example.org']);
  front = await startFront({
    services: ['pop3Proxy'],
    pop3: `greetingsText = "front door" authenticateOnProxy = yes maxErrors = 3 maxAuthErrors = 2 authBanThreshold = 3
      mappingData = { mappingHost = "127.0.0.1" mappingPort = ${back.pop3Port} }`,
  });
  await front.server.admin('account.add', { address: 'alice@example.org', password: 'pw-alice' });
  await front.server.admin('account.add', { address: 'carol@example.org', password: 'pw-carol' }); // not on the back end
});

after(async () => {
  await front?.stop();
  await back?.stop();
});

const counter = (name: string): number => front.server.status().services.find((s) => s.name === 'pop3Proxy')?.counters?.[name] ?? 0;

test('poplib: USER/PASS through the proxy reads the back end\'s maildrop; the greeting and CAPA are the proxy\'s', async () => {
  const out = await python(`
import poplib, os
p = poplib.POP3('127.0.0.1', int(os.environ['PORT']))
print(p.getwelcome().decode())
caps = p.capa()
print('USER' in caps, caps.get('SASL'), 'STLS' in caps)
p.user('alice@example.org'); p.pass_('pw-alice')
print(p.stat())
print(b'\\n'.join(p.retr(1)[1]).decode())
print(p.quit().decode())
`, { PORT: String(front.pop3) });
  const lines = out.split('\n');
  assert.equal(lines[0], '+OK front door');
  assert.equal(lines[1], "True ['PLAIN'] True");
  assert.match(lines[2]!, /^\(1, \d+\)$/);
  assert.match(out, /Subject: hello alice@example.org/);
  assert.match(out, /Body for alice@example.org\./);
  assert.match(out, /\+OK Postern POP3 server signing off/); // the back end's QUIT answer
});

test('poplib: STLS on the plain listener, and the implicit-TLS listener', async () => {
  const out = await python(`
import poplib, os, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3('127.0.0.1', int(os.environ['PORT']))
p.stls(context=ctx)
print('STLS' in p.capa())
p.user('alice@example.org'); p.pass_('pw-alice')
print(p.stat()[0]); p.quit()
q = poplib.POP3_SSL('127.0.0.2', int(os.environ['TLS']), context=ctx)
q.user('alice@example.org'); q.pass_('pw-alice')
print(q.stat()[0]); q.quit()
`, { PORT: String(front.pop3), TLS: String(front.pop3Tls) });
  assert.deepEqual(out.trim().split('\n'), ['False', '1', '1']);
});

test('curl pop3:// lists and retrieves through the proxy', async () => {
  const list = await curl([`pop3://127.0.0.1:${front.pop3}/`, '-u', 'alice@example.org:pw-alice']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^1 \d+\r?$/m);
  const msg = await curl([`pop3://127.0.0.1:${front.pop3}/1`, '-u', 'alice@example.org:pw-alice']);
  assert.equal(msg.code, 0, msg.stderr);
  assert.match(msg.stdout, /Subject: hello alice@example.org/);
});

test('AUTH PLAIN with an initial response and after "+ "; pipelined commands after PASS reach the back end', async () => {
  const plain = Buffer.from('\0alice@example.org\0pw-alice').toString('base64');
  const c1 = await pop3(front.pop3);
  assert.match(await c1.cmd(`AUTH PLAIN ${plain}`), /^\+OK/);
  assert.match(await c1.cmd('STAT'), /^\+OK 1 \d+$/);
  c1.close();
  const c2 = await pop3(front.pop3);
  assert.equal(await c2.cmd('AUTH PLAIN'), '+ ');
  assert.match(await c2.cmd(plain), /^\+OK/);
  c2.close();
  const c3 = await pop3(front.pop3);
  c3.send('USER alice@example.org');
  assert.match(await c3.read(), /^\+OK/);
  c3.socket.write('PASS pw-alice\r\nSTAT\r\nUIDL 1\r\nQUIT\r\n'); // one segment
  assert.match(await c3.read(), /^\+OK/);
  assert.match(await c3.read(), /^\+OK 1 \d+$/);
  assert.match(await c3.read(), /^\+OK 1 \S+$/);
  assert.match(await c3.read(), /signing off/);
  await c3.closed;
});

test('authenticateOnProxy = yes: a user the proxy\'s directory does not know fails on the proxy; a wrong password is -ERR [AUTH], counted to maxAuthErrors', async () => {
  const c = await pop3(front.pop3);
  assert.match(await c.login('bob@example.org', 'pw-bob'), /^-ERR \[AUTH\]/);
  assert.match(await c.login('alice@example.org', 'wrong'), /^-ERR \[AUTH\] too many authentication failures/);
  await c.closed;
  // the proxy accepts carol, the back end does not know her: the login fails all the same
  const d = await pop3(front.pop3);
  assert.match(await d.login('carol@example.org', 'pw-carol'), /^-ERR \[AUTH\]/);
  d.close();
  await waitFor(() => (front.server.status().services.find((s) => s.name === 'pop3Proxy')?.listeners[0]?.refused.error_limit ?? 0) >= 1, 5000, 'error_limit counted');
});

test('garbage and an over-long line before login are -ERR, counted toward maxErrors; other sessions carry on', async () => {
  const other = await pop3(front.pop3);
  const c = await pop3(front.pop3);
  assert.equal(await c.cmd('STAT'), '-ERR unknown command');
  c.socket.write(`${'X'.repeat(20_000)}\r\n`);
  assert.match(await c.read(), /^-ERR line too long/);
  assert.equal(await c.cmd('\u0001\u0002garbage'), '-ERR too many errors, closing the connection');
  await c.closed;
  assert.match(await other.login('alice@example.org', 'pw-alice'), /^\+OK/);
  assert.match(await other.cmd('STAT'), /^\+OK 1/);
  other.close();
  await waitFor(() => counter('proxy.login') >= 1, 5000, 'logins counted');
});

test('the login throttle applies on the proxy: failed logins from one address ban it (authBanThreshold), others carry on', async () => {
  const from = '127.0.0.5';
  const c1 = await pop3(front.pop3, '127.0.0.1', from);
  assert.match(await c1.login('alice@example.org', 'bad1'), /^-ERR \[AUTH\]/);
  assert.match(await c1.login('alice@example.org', 'bad2'), /^-ERR \[AUTH\] too many/);
  await c1.closed;
  const c2 = await pop3(front.pop3, '127.0.0.1', from);
  assert.match(await c2.login('alice@example.org', 'bad3'), /^-ERR \[AUTH\]/);
  c2.close();
  // banned: a new connection is refused at once with the protocol's words
  const refused = await waitFor(() => pop3(front.pop3, '127.0.0.1', from).then((c) => (c.close(), ''), (e: Error) => e.message), 5000, 'the ban');
  assert.match(refused, /too many failed logins from your address/);
  const other = await pop3(front.pop3);
  assert.match(await other.login('alice@example.org', 'pw-alice'), /^\+OK/);
  other.close();
});
