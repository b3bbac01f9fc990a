/**
 * Bad input to the IMAP session over real sockets (issue 13's list): a table of malformed
 * commands (each a tagged BAD, or an untagged one when no tag can be read), a literal that
 * lies about its size, 100,000 pipelined commands, a client that never reads, and a socket
 * half-closed in the middle of a literal; the server keeps serving other sessions throughout.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { imap, startImap, type ImapClient, type ImapEnv } from './helpers.ts';

const USER = 'user@example.org';
const PASS = 'secret-pw';
let env: ImapEnv;

before(async () => {
  env = await startImap({ imap: 'maxErrors = 1000' });
  await env.addUser(USER, PASS);
});
after(() => env.stop());

const login = (): Promise<ImapClient> => imap(env.port, USER, PASS);

/** [what is sent, the reply's start]. */
const MALFORMED: ReadonlyArray<readonly [string, RegExp]> = [
  ['m1', /^m1 BAD /], // a tag alone
  ['m2 ', /^m2 BAD /],
  ['m3 FROB', /^m3 BAD /],
  ['m4 LOGIN', /^m4 BAD /],
  ['m5 SELECT "unterminated', /^m5 BAD /],
  ['m6 LIST "" ("a" "b"', /^m6 BAD /],
  ['m7 STATUS INBOX (MESSAGES', /^m7 BAD /],
  ['m8 FETCH 1:* (FLAGS', /^m8 BAD /],
  ['m9 FETCH 0 FLAGS', /^m9 BAD /],
  ['m10 STORE 1 +FLAGS (\\Bogus)', /^m10 BAD /],
  ['m11 SEARCH OR SEEN', /^m11 BAD /],
  ['m12 UID FROB 1', /^m12 BAD /],
  ['m13 APPEND', /^m13 BAD /],
  ['m14 CREATE', /^m14 BAD /],
  ['m15 NOOP extra', /^m15 BAD /],
  ['m16 ENABLE', /^m16 BAD /],
  ['m17 COMPRESS', /^m17 BAD /],
  ['m18 ID (', /^m18 BAD /],
  ['m19 LIST "" "*" RETURN (FOO)', /^m19 BAD /],
  ['m20 FETCH 1 BODY[1.0]', /^m20 BAD /],
  ['m21 \u0001\u0002', /^m21 BAD /],
  ['(bad-tag) NOOP', /^\* BAD /],
  ['', /^\* BAD /],
  ['+ NOOP', /^\* BAD /],
];

test('a table of malformed commands: each a BAD with its tag (untagged when none can be read); the session goes on', async () => {
  const c = await login();
  await c.run('SELECT INBOX', 's0');
  for (const [line, re] of MALFORMED) {
    c.write(`${line}\r\n`);
    assert.match(await c.read(), re, JSON.stringify(line));
  }
  assert.equal((await c.run('NOOP', 's1')).tagged, 's1 OK NOOP completed');
  c.close();
});

test('a literal that lies about its size: the bytes that follow are its bytes, then the rest is read as commands', async () => {
  const c = await login();
  await c.run('SELECT INBOX', 'y0');
  // says 12, sends 5 and a command: the command's first bytes complete the literal, its rest
  // ends the command (BAD), and y2 is never seen as a command
  c.write('y1 SEARCH TEXT {12+}\r\nshort\r\ny2 NOOP\r\ny3 NOOP\r\n');
  assert.match(await c.read(), /^y1 BAD /);
  assert.equal(await c.read(), 'y3 OK NOOP completed');
  // says 5, sends 20: the extra bytes are read as (malformed) command text
  c.write('y4 SEARCH TEXT {5+}\r\nabcdefghijklmnopqrst\r\ny5 NOOP\r\n');
  assert.match(await c.read(), /^y4 BAD /);
  assert.equal((await c.until('y5')).tagged, 'y5 OK NOOP completed');
  c.close();
});

test('100,000 pipelined commands are answered in order', { timeout: 120_000 }, async () => {
  const c = await login();
  const N = 100_000;
  const chunk: string[] = [];
  for (let i = 1; i <= N; i++) chunk.push(`p${i} NOOP\r\n`);
  c.write(chunk.join(''));
  for (let i = 1; i <= N; i++) {
    const l = await c.read(60_000);
    if (l !== `p${i} OK NOOP completed`) assert.fail(`reply ${i}: ${l}`);
  }
  c.close();
});

test('a client that never reads: the server stops reading it, and other sessions are served', { timeout: 60_000 }, async () => {
  const c = await login();
  c.socket.pause(); // never reads
  const big = 'q LIST "" *\r\n'.repeat(20_000);
  c.socket.write(big);
  const other = await login();
  assert.equal((await other.run('NOOP', 'o1')).tagged, 'o1 OK NOOP completed');
  other.close();
  c.close();
});

test('a socket half-closed in the middle of a literal: the session ends, nothing is appended', async () => {
  const s = await new Promise<net.Socket>((resolve) => {
    const x = net.connect({ port: env.port, host: '127.0.0.1' }, () => resolve(x));
  });
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  s.on('data', () => {});
  s.write(`h1 LOGIN ${USER} ${PASS}\r\nh2 APPEND INBOX {1000+}\r\nSubject: half\r\n\r\nonly part of it`);
  s.end(); // half-close: the literal never completes
  await closed;
  const c = await login();
  assert.deepEqual((await c.run('STATUS INBOX (MESSAGES)', 'h3')).untagged, ['* STATUS INBOX (MESSAGES 0)']);
  c.close();
});
