/**
 * Every IMAP limit tripped over a real socket: maxErrors (BAD replies), maxLineLength (a line
 * part, dropped as it streams), maxLiteralSize (a synchronising literal refused before its
 * bytes are sent; a non-synchronising one read, dropped, then refused), LITERAL- (a
 * non-synchronising literal over 4096 bytes), maxCommandSize, maxLiterals, the literal bound
 * before login, the listener's idleTimeout and the server's shutdown (untagged BYE).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { imap, imapOn, startImap, type ImapClient, type ImapEnv } from './helpers.ts';

const USER = 'user@example.org';
const PASS = 'secret-pw';
let env: ImapEnv;

before(async () => {
  env = await startImap({
    imap: 'maxErrors = 4 maxLineLength = 200 maxLiteralSize = 8 maxCommandSize = 16 maxLiterals = 3 nonSyncLiterals = minus maxNesting = 3 maxListItems = 20 minDataRate = 1 dataRateWindow = 1',
    tlsListener: 'idleTimeout = 1',
  });
  await env.addUser(USER, PASS);
});
after(() => env.stop());

const login = (): Promise<ImapClient> => imap(env.port, USER, PASS);

test('LITERAL- is advertised; maxErrors: the 4th BAD ends the session with BYE', async () => {
  const c = await imap(env.port);
  assert.match(c.greeting, /^\* OK \[CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL- /);
  for (const t of ['e1', 'e2', 'e3']) assert.match((await c.run('FROB', t)).tagged, new RegExp(`^${t} BAD `));
  c.write('e4 FROB\r\n');
  assert.equal(await c.read(), '* BYE too many errors, closing the connection');
  await c.closed;
});

test('maxLineLength: a longer line is an untagged BAD, dropped as it comes; the session goes on', async () => {
  const c = await login();
  c.write(`x1 NOOP ${'a'.repeat(5000)}\r\n`);
  assert.equal(await c.read(), '* BAD [TOOBIG] command line too long (at most 200 octets)');
  assert.equal((await c.run('NOOP', 'x2')).tagged, 'x2 OK NOOP completed');
  c.close();
});

test('maxLiteralSize: a synchronising literal is refused before it is sent; a non-synchronising one is refused and its bytes read and dropped', async () => {
  const c = await login();
  c.write('s1 APPEND INBOX {9000}\r\n');
  assert.equal(await c.read(), 's1 NO [TOOBIG] literal over the size limit (8192 octets)', 'refused at once: no "+" asked for the bytes');
  // 9000 bytes that look like commands: read and dropped, never run
  const junk = 'j1 LOGOUT\r\n'.repeat(819).slice(0, 9000);
  c.write(`s2 APPEND INBOX {9000+}\r\n${junk}\r\n`);
  assert.equal(await c.read(), 's2 NO [TOOBIG] literal over the size limit (8192 octets)');
  assert.equal((await c.run('NOOP', 's3')).tagged, 's3 OK NOOP completed');
  c.close();
});

test('LITERAL-: a non-synchronising literal over 4096 bytes is BAD [TOOBIG]; a synchronising one of that size is fine', async () => {
  const c = await login();
  const msg = `Subject: big\r\n\r\n${'x'.repeat(5000)}\r\n`;
  c.write(`n1 APPEND INBOX {${msg.length}+}\r\n${msg}\r\n`);
  assert.equal(await c.read(), 'n1 BAD [TOOBIG] a non-synchronizing literal may have at most 4096 octets (LITERAL-)');
  c.write(`n2 APPEND INBOX {${msg.length}}\r\n`);
  assert.equal(await c.read(), '+ Ready for literal data');
  c.write(`${msg}\r\n`);
  assert.match((await c.until('n2')).tagged, /^n2 OK \[APPENDUID /);
  c.close();
});

test('maxCommandSize and maxLiterals: MULTIAPPEND past either is NO [TOOBIG]', async () => {
  await env.addUser('multi@example.org', PASS);
  const c = await imap(env.port);
  await c.run(`LOGIN multi@example.org ${PASS}`, 'c0');
  const m = `Subject: m\r\n\r\n${'y'.repeat(7000)}\r\n`;
  c.write(`c1 APPEND INBOX {${m.length}}\r\n`);
  assert.equal(await c.read(), '+ Ready for literal data');
  c.write(`${m} {${m.length}}\r\n`);
  assert.equal(await c.read(), '+ Ready for literal data');
  c.write(`${m} {${m.length}}\r\n`);
  assert.equal(await c.read(), 'c1 NO [TOOBIG] command over the size limit (16384 octets)', 'the third would pass 16 KB');
  c.write('c2 APPEND INBOX {1+}\r\na {1+}\r\nb {1+}\r\nc {1+}\r\nd\r\n');
  assert.equal(await c.read(), 'c2 NO [TOOBIG] too many literals in one command (at most 3)');
  assert.deepEqual((await c.run('STATUS INBOX (MESSAGES)', 'c3')).untagged, ['* STATUS INBOX (MESSAGES 0)'], 'nothing of either was appended');
  c.close();
});

test('maxNesting and maxListItems: a deeper or longer command is BAD', async () => {
  const c = await login();
  await c.run('SELECT INBOX', 'd0');
  assert.match((await c.run('SEARCH (OR SEEN DELETED)', 'd1')).tagged, /^d1 OK /);
  assert.equal((await c.run('SEARCH ((((SEEN))))', 'd2')).tagged, 'd2 BAD Too deeply nested (more than 3 levels)');
  const ranges = Array.from({ length: 21 }, (_, i) => String(2 * i + 1)).join(',');
  assert.match((await c.run(`UID FETCH ${ranges.split(',').slice(0, 20).join(',')} FLAGS`, 'd3')).tagged, /^d3 OK /);
  assert.match((await c.run(`UID FETCH ${ranges} FLAGS`, 'd4')).tagged, /^d4 BAD Too many /);
  c.close();
});

test('minDataRate: a literal whose bytes stop coming ends the session', async () => {
  const c = await login();
  c.write('r1 APPEND INBOX {8000}\r\n');
  assert.equal(await c.read(), '+ Ready for literal data');
  c.write('Subject: slow\r\n');
  assert.equal(await c.read(10_000), '* BYE literal data too slow');
  await c.closed;
});

test('before login a command with literals may have at most maxLineLength bytes, parts and literals together', async () => {
  const c = await imap(env.port);
  c.write('p1 LOGIN {300}\r\n');
  assert.equal(await c.read(), 'p1 BAD [TOOBIG] command with literals over 200 octets before login');
  c.write(`p2 LOGIN {300+}\r\n${'z'.repeat(300)} x\r\n`);
  assert.equal(await c.read(), 'p2 BAD [TOOBIG] command with literals over 200 octets before login');
  c.write(`p2b LOGIN {150+}\r\n${'z'.repeat(150)} {100}\r\n`);
  assert.equal(await c.read(), 'p2b BAD [TOOBIG] command with literals over 200 octets before login', 'two literals, 250 bytes together');
  c.write(`p3 LOGIN {${USER.length}+}\r\n${USER} ${PASS}\r\n`);
  assert.match((await c.until('p3')).tagged, /^p3 OK /);
  c.close();
});

test('idleTimeout: an idle session gets an untagged BYE', async () => {
  const sock = tls.connect({ port: env.tlsPort, host: '127.0.0.2', rejectUnauthorized: false });
  await new Promise<void>((r) => sock.once('secureConnect', () => r()));
  const c = imapOn(sock as unknown as import('node:net').Socket);
  assert.match(await c.read(), /^\* OK /);
  assert.equal(await c.read(5000), '* BYE autologout; idle for too long');
  await c.closed;
});

test('shutdown: an idle session gets BYE [UNAVAILABLE]', async () => {
  const c = await login();
  const stopping = env.stop();
  assert.equal(await c.read(), '* BYE [UNAVAILABLE] server shutting down');
  await stopping;
  env = await startImap(); // for after()
});
