/**
 * test/ftp/security.test.ts: the FTP service against hostile input, over raw sockets: every
 * path-escape trick (`..`, absolute paths, NUL, backslashes, over-long names and paths,
 * encoded dots, aliases and case as "links") stays inside the virtual tree and touches no file;
 * data connections only with the control connection's peer (a passive listener refuses other
 * addresses, PORT/EPRT only to the client's own address) within the passive port range; error
 * control (maxErrors, maxAuthErrors, over-long lines, commands before login), the data
 * timeout, the idle timeout, and a deny rule.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { connectFtp, message, python, retrRaw, startFtp, storRaw, type FtpClient, type FtpEnv } from './helpers.ts';
import { freePort, waitFor } from '../helpers.ts';

let env: FtpEnv;
let pasvPort = 0;


before(async () => {
  pasvPort = await freePort();
  env = await startFtp({
    ftp: `maxErrors = 5 maxAuthErrors = 2 dataTimeout = 1 passivePortMin = ${pasvPort} passivePortMax = ${pasvPort} maxLineLength = 2048`,
    listener: 'denyRules = ( { ipSet = 127.0.0.5 } )',
    moreListeners: '{ address = 127.0.0.4:0 idleTimeout = 1 }',
  });
  await env.server.admin('domain.add', { name: 'a.org' });
  await env.server.admin('account.add', { address: 'ann@a.org', password: 'pw' });
  await env.deliver('ann@a.org', 'INBOX', message('one'));
  fs.writeFileSync(path.join(env.dir, 'secret.txt'), 'do not serve');
});
after(async () => env.stop());

async function session(): Promise<FtpClient> {
  const c = await connectFtp(env.port);
  await c.login();
  return c;
}

function pasvPortOf(reply: string): number {
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(reply);
  assert.ok(m !== null, reply);
  return Number(m[5]) * 256 + Number(m[6]);
}

test('`..` and absolute paths are clamped to the virtual root; nothing outside the tree is reachable', async () => {
  const c = await session();
  assert.match(await c.ftp('CWD ../../../../..'), /^250 /);
  assert.equal(await c.ftp('PWD'), '257 "/" is the current directory.');
  assert.match(await c.ftp('CWD /domains/a.org/users/ann/folders/INBOX/../../../../../../../../..'), /^250 /);
  assert.equal(await c.ftp('PWD'), '257 "/" is the current directory.');
  assert.match(await c.ftp('CWD /domains/a.org/users/ann/folders/INBOX'), /^250 /);
  for (const p of ['../../../../../../etc/passwd', '/etc/passwd', '/proc/self/environ', `../../../../../../..${env.dir}/secret.txt`, `${env.dir}/secret.txt`, '../../../../../../../../store/directory.mpk']) {
    assert.match(await c.ftp(`SIZE ${p}`), /^550 /, p);
    assert.match(await c.ftp(`MDTM ${p}`), /^550 /, p);
    assert.match(await c.ftp(`CWD ${p}`), /^550 /, p);
  }
  assert.match(await c.ftp('SIZE 1.eml/../../INBOX/1.eml'), /^213 \d+$/); // lexical, inside the tree
  assert.match(await c.ftp('CWD 1.eml'), /^550 .*not a directory/);
  c.close();
});

test('NUL, control characters, backslashes, over-long names and paths are refused (501) and counted', async () => {
  const bad = [
    'SIZE 1.eml\0/../../../../etc/passwd', 'CWD ..\\..\\..\\etc', 'SIZE ..\\..\\secret.txt',
    `SIZE ${'a'.repeat(300)}`, `CWD ${'abc/'.repeat(300)}`, 'MKD x\u0007y',
  ];
  let c = await session();
  let n = 0;
  for (const line of bad) {
    if (n === 4) {
      c.close();
      c = await session();
      n = 0;
    }
    assert.match(await c.ftp(line), /^501 Refused: /, line.slice(0, 30));
    n++;
  }
  assert.match(await c.ftp('NOOP'), /^200/);
  c.close();
});

test('writes cannot leave the tree: STOR, MKD, DELE, RMD with escaping paths change nothing on disk', async () => {
  const tmpBefore = new Set(fs.readdirSync(os.tmpdir()));
  const dataBefore = fs.readdirSync(env.dir).sort();
  let c = await session();
  assert.match(await c.ftp('CWD /domains/a.org/users/ann/folders/INBOX'), /^250 /);
  assert.match(await c.ftp('STOR ../../../../../../../../tmp/pwned.eml'), /^553 /);
  assert.match(await c.ftp(`STOR ../../../../../../../..${env.dir}/pwned.eml`), /^553 /);
  assert.match(await c.ftp('MKD /../../tmp/evil'), /^550 /);
  assert.match(await c.ftp('MKD ../../../../../../../tmp/evil2'), /^550 /);
  c.close();
  c = await session();
  assert.match(await c.ftp('MKD /domains/a.org/users/ann/folders/%2E%2E'), /^550 /); // not a name of the tree
  assert.match(await c.ftp('MKD /domains/a.org/users/ann/folders/a%2F..%2F..'), /^550 .*bad folder name/); // "a/../..": the store refuses it
  assert.match(await c.ftp('DELE ../../CoreConfig.cfg'), /^550 /);
  assert.match(await c.ftp('RMD /domains/a.org'), /^550 /);
  assert.match(await c.ftp('RMD ../../../../../../tmp'), /^550 /);
  c.close();
  assert.equal(fs.existsSync('/tmp/pwned.eml') || fs.existsSync('/tmp/evil') || fs.existsSync('/tmp/evil2'), false);
  assert.deepEqual(fs.readdirSync(env.dir).sort(), dataBefore);
  assert.deepEqual([...new Set(fs.readdirSync(os.tmpdir()))].filter((x) => !tmpBefore.has(x) && /pwned|evil/.test(x)), []);
  assert.deepEqual(Object.keys(await env.digest('ann@a.org')), ['INBOX', 'Archive', 'Drafts', 'Junk', 'Sent', 'Trash'], 'a new mailbox\'s folders only');
});

test('no links: aliases, other spellings and encoded names do not reach another mailbox', async () => {
  await env.server.admin('account.add', { address: 'bob@a.org', password: 'pw' });
  const c = await session();
  // give ann an alias info@a.org (by restoring her configuration with it)
  const cfg = (await retrRaw(c, '/domains/a.org/users/ann/CoreConfig.cfg')).bytes.toString();
  assert.match(await storRaw(c, '/domains/a.org/users/ann/CoreConfig.cfg', cfg.replace('aliases = ()', 'aliases = ("info@a.org")')), /^226 .*updated/);
  assert.match((await retrRaw(c, '/domains/a.org/users/ann/CoreConfig.cfg')).bytes.toString(), /aliases = \("info@a\.org"\)/);
  assert.match(await c.ftp('CWD /domains/a.org/users/info'), /^550 /);
  assert.match(await c.ftp('SIZE /domains/a.org/users/info/folders/INBOX/1.eml'), /^550 /);
  assert.match(await c.ftp('CWD /domains/A.ORG'), /^550 /);
  assert.match(await c.ftp('CWD /domains/a.org/users/ANN'), /^550 /);
  assert.match(await c.ftp('CWD /domains/a.org/users/ann%40a.org'), /^550 /);
  assert.match(await c.ftp('CWD /domains/a.org/users/%2E%2E'), /^550 /);
  assert.match(await c.ftp('CWD /domains/a.org/users/bob/../ann/folders/INBOX'), /^250 /);
  assert.equal(await c.ftp('PWD'), '257 "/domains/a.org/users/ann/folders/INBOX" is the current directory.');
  c.close();
});

test('a passive listener accepts only the control connection\'s peer, once, on the configured port', async () => {
  const c = await session();
  const port = pasvPortOf(await c.ftp('PASV'));
  assert.equal(port, pasvPort);
  // another address (127.0.0.2 is not the client's) is closed at once
  const intruder = net.connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  intruder.on('error', () => {});
  const got: Buffer[] = [];
  intruder.on('data', (d: Buffer) => got.push(d));
  await new Promise((r) => intruder.once('close', r));
  // a second session finds the only port taken
  const other = await session();
  assert.match(await other.ftp('PASV'), /^425 .*no free passive port/);
  other.close();
  const data = net.connect({ port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  data.on('data', (d: Buffer) => chunks.push(d));
  const closed = new Promise((r) => data.once('close', r));
  await new Promise((r) => data.once('connect', r));
  assert.match(await c.ftp('RETR /domains/a.org/users/ann/folders/INBOX/1.eml'), /^150 /);
  assert.match(await c.reply(), /^226 /);
  await closed;
  assert.equal(Buffer.concat(got).length, 0);
  assert.match(Buffer.concat(chunks).toString(), /^From: sender@example\.org/);
  c.close();
});

test('PORT and EPRT go only to the client\'s own address, never a third host or a port below 1024', async () => {
  const c = await session();
  assert.match(await c.ftp('PORT 127,0,0,2,40,1'), /^500 Illegal PORT command: .*own address/);
  assert.match(await c.ftp('EPRT |1|10.1.2.3|4000|'), /^500 Illegal PORT command/);
  assert.match(await c.ftp('PORT 127,0,0,1,0,80'), /^500 Illegal PORT command: port below 1024/);
  assert.match(await c.ftp('EPRT |2|::1|4000|'), /^500 /); // not the client's address either
  assert.match(await c.ftp('PORT 127,0,0,1,300,1'), /^421 Too many errors/); // the 5th error
  await c.closed;
  // the client's own address works
  const s = net.createServer();
  const got = new Promise<Buffer>((resolve) => s.on('connection', (sock) => {
    const parts: Buffer[] = [];
    sock.on('data', (d: Buffer) => parts.push(d));
    sock.on('end', () => resolve(Buffer.concat(parts)));
  }));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  const d = await session();
  assert.match(await d.ftp(`EPRT |1|127.0.0.1|${p}|`), /^200 /);
  assert.match(await d.ftp('RETR /domains/a.org/users/ann/folders/INBOX/1.eml'), /^150 /);
  assert.match(await d.reply(), /^226 /);
  assert.match((await got).toString(), /Subject: one/);
  s.close();
  d.close();
});

test('error control: wrong commands and commands before login count; the 5th closes with 421', async () => {
  const c = await connectFtp(env.port);
  assert.equal(await c.ftp('LIST'), '530 Please login with USER and PASS.');
  assert.equal(await c.ftp('BOGUS'), '500 Unknown command.');
  c.socket.write(Buffer.from([0xde, 0xad, 0xbe, 0xef, 13, 10]));
  assert.equal(await c.reply(), '500 Unknown command.');
  assert.match(await c.ftp(`NOOP ${'x'.repeat(5000)}`), /^500 Command line too long/);
  const other = await session(); // other sessions carry on
  assert.match(await c.ftp('RETR x'), /^421 Too many errors/);
  await c.closed;
  assert.match(await other.ftp('NOOP'), /^200/);
  other.close();
  await waitFor(() => (env.server.status().services.find((s) => s.name === 'ftpBackup')!.listeners[0]!.refused.error_limit ?? 0) >= 1, 5000, 'error_limit counted');
});

test('maxAuthErrors: the 2nd failed login closes the session with 421', async () => {
  const c = await connectFtp(env.port);
  assert.match(await c.ftp('USER admin'), /^331/);
  assert.equal(await c.ftp('PASS nope'), '530 Login incorrect.');
  assert.match(await c.ftp('PASS again'), /^503 Login with USER first/); // the state went back to USER
  assert.match(await c.ftp('USER admin'), /^331/);
  assert.equal(await c.ftp('PASS nope'), '421 Too many failed logins; closing the control connection.');
  await c.closed;
});

test('dataTimeout: a data connection that never comes gets 425; the session carries on', async () => {
  const c = await session();
  assert.match(await c.ftp('PASV'), /^227 /);
  const t0 = Date.now();
  assert.match(await c.ftp('RETR /domains/a.org/users/ann/folders/INBOX/1.eml'), /^150 /);
  assert.match(await c.reply(5000), /^425 Can't open data connection: no data connection within 1 s/);
  assert.ok(Date.now() - t0 >= 900);
  assert.match(await c.ftp('RETR /domains/a.org/users/ann/folders/INBOX/1.eml'), /^425 Use PORT/);
  assert.match(await c.ftp('NOOP'), /^200/);
  c.close();
});

test('idle timeout: a quiet control connection gets 421 and is closed; a deny rule refuses with 421', async () => {
  const t0 = Date.now();
  const c = await connectFtp(env.server.port('ftpBackup', 1), '127.0.0.4');
  assert.match(await c.reply(6000), /^421 Idle timeout/);
  assert.ok(Date.now() - t0 >= 900);
  await c.closed;
  const s = net.connect({ port: env.port, host: '127.0.0.1', localAddress: '127.0.0.5' });
  let text = '';
  s.setEncoding('utf8');
  s.on('data', (d: string) => (text += d));
  await new Promise((r) => s.once('close', r));
  assert.match(text, /^421 Service not available \(deny_rule\)/);
});

test('AUTH TLS: plaintext pipelined after it is dropped, not run over TLS (the upgrade verdict)', async () => {
  const out = JSON.parse((await python(`
import socket, ssl, os, json
s = socket.create_connection(('127.0.0.1', int(os.environ['PORT'])), timeout=10)
f = s.makefile('rb')
out = {'greet': f.readline().decode().strip()}
s.sendall(b'AUTH TLS\\r\\nUSER admin\\r\\n')
out['auth'] = f.readline().decode().strip()
c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
t = c.wrap_socket(s)
g = t.makefile('rb')
t.sendall(b'PASS x\\r\\n')
out['pass'] = g.readline().decode().strip()
print(json.dumps(out))
`, { PORT: String(env.port) })).trim().split('\n').pop()!) as Record<string, string>;
  assert.match(out.auth!, /^234 /);
  assert.match(out.pass!, /^503 /, 'the injected USER was not run');
});
