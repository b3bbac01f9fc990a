/**
 * test/proxy/imap.test.ts: the IMAP proxy in front of a real Postern back end, with real clients:
 * Python's imaplib (LOGIN, SELECT, FETCH, IDLE, APPEND, STARTTLS, implicit TLS), imapflow, and raw sockets for
 * IDLE through the splice, AUTHENTICATE PLAIN (SASL-IR and after "+"), LOGIN with literals, the
 * protocol's errors and their limits. A scripted back end (routed by the file user map) records
 * what the proxy says there: the client's ID first, then AUTHENTICATE PLAIN or LOGIN.
 *
 * The back end checks passwords (authenticateOnProxy = no).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { tmpDir, waitFor } from '../helpers.ts';
import { imap, tagged, type ImapEnv } from '../imap/helpers.ts';
import { python, startBackend, startFront, type Front } from './helpers.ts';

let back: ImapEnv;
let front: Front;
let script: { port: number; lines: string[]; close(): void };
let legacy: { port: number; lines: string[]; close(): void };

/** A scripted IMAP back end: greets with `caps`, answers ID, AUTHENTICATE and LOGIN with OK, echoes nothing else. */
async function scripted(caps: string): Promise<{ port: number; lines: string[]; close(): void }> {
  const lines: string[] = [];
  const socks = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => {});
    s.write(`* OK [CAPABILITY ${caps}] scripted ready\r\n`);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 2);
        lines.push(l);
        const [tag, verb] = l.split(' ');
        if (verb === 'ID') s.write(`* ID ("name" "scripted")\r\n${tag} OK ID done\r\n`);
        else if (verb === 'AUTHENTICATE' || verb === 'LOGIN') s.write(`* CAPABILITY IMAP4rev1 SCRIPTED\r\n${tag} OK [CAPABILITY IMAP4rev1 SCRIPTED] welcome\r\n`);
        else if (verb === 'NOOP') s.write(`${tag} OK scripted noop\r\n`);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, lines, close: () => { for (const s of socks) s.destroy(); srv.close(); } };
}

before(async () => {
  back = await startBackend(['alice@example.org', 'bob@example.org']);
  script = await scripted('IMAP4rev1 ID AUTH=PLAIN SASL-IR');
  legacy = await scripted('IMAP4rev1');
  const dir = tmpDir('postern-proxy-map-');
  const mapFile = path.join(dir, 'users.map');
  fs.writeFileSync(mapFile, `# the scripted back end\nscripted@example.org 127.0.0.1:${script.port}\nlegacy@example.org 127.0.0.1:${legacy.port}\n/^alice@.*/ 127.0.0.1:${back.port}\n`);
  front = await startFront({
    services: ['imapProxy'],
    server: `userMaps = ( { name = "cluster" type = file path = "${mapFile}" } )`,
    imap: `authenticateOnProxy = no imapIdEnabled = yes userMap = "cluster" maxErrors = 4 maxAuthErrors = 2
      mappingData = { mappingHost = "127.0.0.1" mappingPort = ${back.port} }`,
  });
});

after(async () => {
  await front?.stop();
  await back?.stop();
  script?.close();
  legacy?.close();
});

test('imaplib: LOGIN, SELECT, FETCH through the proxy; the tagged OK carries the back end\'s capabilities', async () => {
  const out = await python(`
import imaplib, os
m = imaplib.IMAP4('127.0.0.1', int(os.environ['PORT']))
print(' '.join(m.capabilities))
typ, data = m.login('bob@example.org', 'pw-bob')
print(typ, data[0].decode())
print(m.select('INBOX'))
typ, data = m.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])')
print(data[0][1].decode().strip()); print(data[1][1].decode().strip())
print(m.logout()[0])
`, { PORT: String(front.imap) });
  const lines = out.trim().split('\n');
  assert.equal(lines[0], 'IMAP4REV1 SASL-IR ID STARTTLS AUTH=PLAIN');
  assert.match(lines[1]!, /^OK \[CAPABILITY IMAP4rev1 IMAP4rev2 .*IDLE.*\] logged in$/);
  assert.equal(lines[2], "('OK', [b'1'])");
  assert.equal(lines[3], 'Subject: hello bob@example.org');
  assert.equal(lines[4], 'Body for bob@example.org.');
  assert.equal(lines[5], 'BYE');
});

test('imaplib: STARTTLS, and the implicit-TLS listener', async () => {
  const out = await python(`
import imaplib, os, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4('127.0.0.1', int(os.environ['PORT']))
m.starttls(ssl_context=ctx)
print(m.login('alice@example.org', 'pw-alice')[0], m.select('INBOX', readonly=True)[1][0].decode()); m.logout()
s = imaplib.IMAP4_SSL('127.0.0.2', int(os.environ['TLS']), ssl_context=ctx)
print(s.login('alice@example.org', 'pw-alice')[0], s.select('INBOX', readonly=True)[1][0].decode()); s.logout()
`, { PORT: String(front.imap), TLS: String(front.imapTls) });
  assert.deepEqual(out.trim().split('\n'), ['OK 1', 'OK 1']);
});

test('IDLE through the splice: a delivery on the back end reaches the idling client', async () => {
  const c = await imap(front.imap, 'bob@example.org', 'pw-bob');
  assert.match(tagged(await c.run('SELECT INBOX')), /^OK/);
  c.write('i1 IDLE\r\n');
  assert.match(await c.read(), /^\+ /);
  await back.deliver('bob@example.org', 'Subject: while idling\r\n\r\nnew\r\n');
  assert.equal(await c.read(15_000), '* 2 EXISTS');
  c.write('DONE\r\n');
  assert.match((await c.until('i1')).tagged, /^i1 OK/);
  await c.run('LOGOUT');
  await c.closed;
});

test('imaplib: IDLE through the proxy sees a message APPENDed by a second imaplib session through the proxy', async () => {
  const out = await python(`
import imaplib, os, time
port = int(os.environ['PORT'])
a = imaplib.IMAP4('127.0.0.1', port); a.login('alice@example.org', 'pw-alice'); a.select('INBOX')
tag = a._new_tag()
a.send(tag + b' IDLE\\r\\n')
print(a.readline().decode().strip()[:1])
b = imaplib.IMAP4('127.0.0.1', port); b.login('alice@example.org', 'pw-alice')
print(b.append('INBOX', None, None, b'Subject: appended\\r\\n\\r\\nhi\\r\\n')[0]); b.logout()
a.sock.settimeout(15)
line = a.readline().decode().strip()
while not line.endswith('EXISTS'):
    line = a.readline().decode().strip()
print(line)
a.send(b'DONE\\r\\n')
line = a.readline()
while not line.startswith(tag):
    line = a.readline()
print(line.decode().split(' ')[1])
a.logout()
`, { PORT: String(front.imap) });
  const lines = out.trim().split('\n');
  assert.equal(lines[0], '+');
  assert.equal(lines[1], 'OK');
  assert.match(lines[2]!, /^\* [2-9] EXISTS$/);
  assert.equal(lines[3], 'OK');
});

test('imapflow: connect (STARTTLS, ID), fetch the envelope, logout', async () => {
  const client = new ImapFlow({ host: '127.0.0.1', port: front.imap, secure: false, tls: { rejectUnauthorized: false }, auth: { user: 'alice@example.org', pass: 'pw-alice' }, logger: false, clientInfo: { name: 'proxy-test' } });
  await client.connect();
  const lock = await client.getMailboxLock('INBOX');
  try {
    const subjects: string[] = [];
    for await (const m of client.fetch('1:*', { envelope: true })) subjects.push(m.envelope?.subject ?? '');
    assert.equal(subjects[0], 'hello alice@example.org');
  } finally {
    lock.release();
  }
  await client.logout();
});

test('the file map routes a user to its own back end; the client\'s ID goes there first, then AUTHENTICATE PLAIN (SASL-IR)', async () => {
  const c = await imap(front.imap);
  const id = await c.run('ID ("name" "my client" "version" "1\\\\2")');
  assert.deepEqual(id.untagged, ['* ID ("name" "Postern" "vendor" "Postern")']);
  const r = await c.run('LOGIN scripted@example.org "pass word"');
  assert.deepEqual(r.untagged, ['* CAPABILITY IMAP4rev1 SCRIPTED']);
  assert.equal(tagged(r), 'OK [CAPABILITY IMAP4rev1 SCRIPTED] welcome');
  assert.equal(tagged(await c.run('NOOP')), 'OK scripted noop'); // spliced: the back end answers
  c.close();
  const plain = Buffer.from('\0scripted@example.org\0pass word').toString('base64');
  assert.deepEqual(script.lines.slice(0, 3), ['P1 ID ("name" "my client" "version" "1\\\\2")', `P2 AUTHENTICATE PLAIN ${plain}`, 't3 NOOP']);
});

test('a back end without SASL-IR and ID gets LOGIN with quoted strings, and no ID', async () => {
  const c = await imap(front.imap);
  await c.run('ID NIL');
  const r = await c.run('LOGIN legacy@example.org "pass \\"q\\""');
  assert.equal(tagged(r), 'OK [CAPABILITY IMAP4rev1 SCRIPTED] welcome');
  c.close();
  assert.deepEqual(legacy.lines, ['P2 LOGIN "legacy@example.org" "pass \\"q\\""']);
});

test('AUTHENTICATE PLAIN with SASL-IR and after "+"; LOGIN with synchronising literals', async () => {
  const plain = Buffer.from('\0alice@example.org\0pw-alice').toString('base64');
  const a = await imap(front.imap);
  assert.match(tagged(await a.run(`AUTHENTICATE PLAIN ${plain}`)), /^OK \[CAPABILITY /);
  a.close();
  const b = await imap(front.imap);
  b.write('x AUTHENTICATE PLAIN\r\n');
  assert.equal(await b.read(), '+ ');
  b.write(`${plain}\r\n`);
  assert.match((await b.until('x')).tagged, /^x OK/);
  b.close();
  const c = await imap(front.imap);
  c.write('y LOGIN {17}\r\n');
  assert.match(await c.read(), /^\+ /);
  c.write('alice@example.org {8}\r\n');
  assert.match(await c.read(), /^\+ /);
  c.write('pw-alice\r\n');
  assert.match((await c.until('y')).tagged, /^y OK/);
  assert.match(tagged(await c.run('SELECT INBOX')), /^OK/);
  c.close();
});

test('a wrong password is NO [AUTHENTICATIONFAILED], counted toward maxAuthErrors', async () => {
  const c = await imap(front.imap);
  assert.equal(tagged(await c.run('LOGIN alice@example.org wrong')), 'NO [AUTHENTICATIONFAILED] authentication failed');
  c.write('t2 LOGIN alice@example.org wrong\r\n');
  assert.equal(await c.read(), '* BYE too many authentication failures, closing the connection');
  await c.closed;
});

test('garbage, commands of the authenticated state and an over-long line before login are BAD, counted toward maxErrors', async () => {
  const c = await imap(front.imap);
  assert.match(tagged(await c.run('SELECT INBOX')), /^BAD SELECT unknown or not valid before login/);
  c.write(`z1 LOGIN ${'x'.repeat(20_000)} y\r\n`);
  assert.match(await c.read(), /^\* BAD line too long/);
  c.write('z2 LOGIN {100000}\r\n');
  assert.match(await c.read(), /^z2 BAD \[TOOBIG\] /); // refused before its bytes are sent
  c.write('\u0001garbage\r\n');
  assert.equal(await c.read(), '* BYE too many errors, closing the connection');
  await c.closed;
  await waitFor(() => (front.server.status().services.find((s) => s.name === 'imapProxy')?.counters?.['proxy.login'] ?? 0) >= 1, 5000, 'logins counted');
});
