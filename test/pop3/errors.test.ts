/**
 * Bad input and limits, by hand on sockets: unknown commands, wrong states, over-long lines
 * (maxLineLength), binary garbage and bad arguments are answered with POP3's own -ERR and the
 * session carries on until maxErrors, whose Nth error closes it; the Nth failed login closes
 * it with -ERR [AUTH] (maxAuthErrors); pipelined commands are answered in order; failed logins
 * from one IP are slowed progressively (authFailureDelay) and other IPs are not; a client that
 * stops reading in the middle of a large RETR holds no more than a chunk of it in the server,
 * other sessions carry on, and the message arrives whole once it reads again; a body damaged on
 * disk (crc32 mismatch) is refused with -ERR [SYS/PERM], or, past the first chunk, the
 * connection drops before the terminator.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { message, pop3, readAll, startPop3, type Pop3Env } from './helpers.ts';
import { damageBody } from '../store/helpers.ts';

let env: Pop3Env;
let slow: Pop3Env;
before(async () => {
  [env, slow] = await Promise.all([
    startPop3({ pop3: 'maxErrors = 5 maxAuthErrors = 3 maxLineLength = 512' }),
    startPop3({ pop3: 'maxAuthErrors = 10 authFailureDelay = 1 authFailureMaxDelay = 2' }),
  ]);
  await env.addUser('err@example.org', 'pw');
  await env.deliver('err@example.org', message('one'));
  await env.deliver('err@example.org', message('two'));
  await slow.addUser('slow@example.org', 'pw', { cramMd5: true });
});
after(async () => Promise.all([env?.stop(), slow?.stop()]));

test('unknown commands, wrong states, bad arguments: -ERR, and the session carries on', async () => {
  const c = await pop3(env.port);
  assert.equal(await c.cmd('FROB'), '-ERR unknown command');
  assert.equal(await c.cmd('STAT'), '-ERR command not valid in this state');
  assert.equal(await c.cmd('PASS pw'), '-ERR USER first');
  assert.match(await c.login('err@example.org', 'pw'), /^\+OK logged in/);
  assert.equal(await c.cmd('USER err@example.org'), '-ERR command not valid in this state');
  c.close();
  const d = await pop3(env.port);
  await d.login('err@example.org', 'pw');
  assert.equal(await d.cmd('RETR'), '-ERR syntax: a message number is needed');
  assert.equal(await d.cmd('RETR 99'), '-ERR no such message');
  assert.equal(await d.cmd('TOP 1'), '-ERR syntax: TOP message lines');
  assert.equal(await d.cmd('LIST x'), '-ERR syntax: LIST [message]');
  assert.match(await d.cmd('STAT'), /^\+OK 2 \d+$/, 'four errors so far: still open');
  assert.equal(await d.cmd('DELE 0'), '-ERR too many errors, closing the connection');
  await d.closed;
});

test('an over-long line is refused without being buffered; the session carries on', async () => {
  const c = await pop3(env.port);
  c.socket.write(`NOOP ${'x'.repeat(200_000)}\r\n`);
  assert.equal(await c.read(), '-ERR line too long (at most 512 octets)');
  assert.equal(await c.cmd('CAPA'), '+OK capability list follows');
  await c.readMulti();
  assert.match(await c.cmd('QUIT'), /^\+OK/);
});

test('binary garbage is an unknown command; a flood of it reaches maxErrors and closes', async () => {
  const c = await pop3(env.port);
  c.socket.write(Buffer.from([0x00, 0xff, 0xfe, 0x1b, 0x5b, 0x41, 0x80, 0x0d, 0x0a]));
  assert.equal(await c.read(), '-ERR unknown command');
  assert.equal(await c.cmd('CAPA'), '+OK capability list follows');
  await c.readMulti();
  const junk = Buffer.alloc(4000);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) & 0xff;
  const all = readAll(c.socket);
  c.socket.write(junk);
  c.socket.write('\r\n\x01\x02\r\n\xff\r\n\x00\r\n\x7f\r\n');
  const text = (await all).toString('latin1');
  assert.match(text, /-ERR too many errors, closing the connection\r\n$/);
});

test('maxAuthErrors: the 3rd wrong password closes the session with -ERR [AUTH]', async () => {
  const c = await pop3(env.port);
  assert.equal(await c.login('err@example.org', 'bad1'), '-ERR [AUTH] authentication failed');
  assert.equal(await c.login('nobody@example.org', 'bad2'), '-ERR [AUTH] authentication failed');
  assert.equal(await c.login('err@example.org', 'bad3'), '-ERR [AUTH] too many authentication failures, closing the connection');
  await c.closed;
});

test('pipelined commands are answered in order', async () => {
  const s = net.connect(env.port, '127.0.0.1');
  const all = readAll(s);
  s.write('CAPA\r\nUSER err@example.org\r\nPASS pw\r\nSTAT\r\nLIST\r\nUIDL 1\r\nRETR 1\r\nNOOP\r\nFROB\r\nQUIT\r\n');
  const lines = (await all).toString().split('\r\n');
  const starts = lines.filter((l) => l.startsWith('+OK') || l.startsWith('-ERR'));
  assert.equal(starts.length, 11, lines.join('\n'));
  assert.match(starts[0]!, /^\+OK \S+ Postern POP3 server ready/);
  assert.equal(starts[1], '+OK capability list follows');
  assert.equal(starts[2], '+OK send PASS');
  assert.match(starts[3]!, /^\+OK logged in, 2 messages/);
  assert.match(starts[4]!, /^\+OK 2 \d+$/);
  assert.equal(starts[5], '+OK scan listing follows');
  assert.match(starts[6]!, /^\+OK 1 \d+\.1$/);
  assert.match(starts[7]!, /^\+OK \d+ octets$/);
  assert.equal(starts[8], '+OK');
  assert.equal(starts[9], '-ERR unknown command');
  assert.match(starts[10]!, /^\+OK Postern POP3 server signing off/);
  assert.ok(lines.includes('Subject: one'));
});

test('failed logins from one IP are slowed progressively; another IP is not', async () => {
  // failures by CRAM-MD5 (no scrypt run), so the times measured are the throttle's
  const c = await pop3(slow.port, '127.0.0.1', '127.0.0.5');
  const cramFail = async (): Promise<[string, number]> => {
    const t0 = Date.now();
    assert.match(await c.cmd('AUTH CRAM-MD5'), /^\+ /);
    const r = await c.cmd(Buffer.from('slow@example.org 00000000000000000000000000000000').toString('base64'), 20_000);
    return [r, Date.now() - t0];
  };
  const [r1, t1] = await cramFail();
  assert.match(r1, /^-ERR \[AUTH\]/);
  assert.ok(t1 < 900, `the first failure is answered at once (${t1} ms)`);
  const [r2, t2] = await cramFail();
  assert.match(r2, /^-ERR \[AUTH\]/);
  assert.ok(t2 >= 950, `the second attempt waited 1 s (${t2} ms)`);
  const t0 = Date.now();
  assert.match(await c.login('slow@example.org', 'pw'), /^\+OK/, 'the right password still works');
  const t3 = Date.now() - t0;
  assert.ok(t3 >= 1950, `the third attempt waited 2 s, even with the right password (${t3} ms)`);
  c.close();
  const other = await pop3(slow.port, '127.0.0.1', '127.0.0.6');
  const t4 = Date.now();
  assert.match(await other.login('slow@example.org', 'pw'), /^\+OK/);
  assert.ok(Date.now() - t4 < 900, 'another IP is not slowed (and the verified login is cached)');
  other.close();
});

test('a client that stops reading mid-RETR: bounded server memory, others carry on, the message arrives whole', async () => {
  const who = 'big@example.org';
  await env.addUser(who, 'pw');
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n';
  const lines: string[] = ['Subject: big', ''];
  for (let i = 0; lines.length * line.length < 32 * 1024 * 1024; i++) lines.push(i % 1000 === 0 ? `.${line.slice(0, -2)}` : line.slice(0, -2));
  const text = `${lines.join('\r\n')}\r\n`;
  await env.deliver(who, text);
  const want = createHash('sha256').update(text).digest('hex');

  const s = net.connect(env.port, '127.0.0.1');
  let got = Buffer.alloc(0);
  const onData = (d: Buffer): void => void (got = Buffer.concat([got, d]));
  s.on('data', onData);
  const waitText = async (re: RegExp): Promise<void> => {
    for (let i = 0; i < 500 && !re.test(got.toString('latin1')); i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(got.toString('latin1'), re);
  };
  await waitText(/^\+OK/);
  s.write(`USER ${who}\r\nPASS pw\r\n`);
  await waitText(/logged in[^\n]*\n/);
  got = Buffer.alloc(0);
  global.gc?.();
  const before = process.memoryUsage().rss;
  s.off('data', onData);
  const chunks: Buffer[] = [];
  // the signal: the reply has begun; from then on the client reads nothing and the RETR stalls
  const started = new Promise<void>((r) => s.once('data', (d: Buffer) => (chunks.push(d), s.pause(), r())));
  s.write('RETR 1\r\n');
  await started;
  let grown = 0;
  for (let i = 0; i < 15; i++) {
    await new Promise((r) => setTimeout(r, 100)); // samples over 1.5 s of the stall (not a signal)
    grown = Math.max(grown, process.memoryUsage().rss - before);
  }
  assert.ok(grown < 24 * 1024 * 1024, `server memory grew ${grown} bytes for a stalled 32 MiB RETR`);

  const other = await pop3(env.port);
  assert.match(await other.login('err@example.org', 'pw'), /^\+OK/);
  assert.match(await other.cmd('RETR 2'), /^\+OK/);
  assert.ok((await other.readMulti()).includes('Subject: two'));
  await other.cmd('QUIT');

  s.on('data', (d: Buffer) => chunks.push(d));
  s.resume();
  const end = Buffer.from('\r\n.\r\n');
  for (let i = 0; i < 3000; i++) {
    const tail = Buffer.concat(chunks.slice(-2));
    if (tail.length >= 5 && tail.subarray(tail.length - 5).equals(end)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const all = Buffer.concat(chunks).toString('latin1');
  const head = all.indexOf('\r\n');
  assert.equal(all.slice(0, head), `+OK ${Buffer.byteLength(text)} octets`);
  const body = all.slice(head + 2, all.length - 3).split('\r\n').map((l) => (l.startsWith('.') ? l.slice(1) : l)).join('\r\n');
  assert.equal(createHash('sha256').update(body, 'latin1').digest('hex'), want);
  s.destroy();
});

test('TOP on a large message stops after the header and the asked lines', async () => {
  const c = await pop3(env.port);
  await c.login('big@example.org', 'pw');
  assert.equal(await c.cmd('TOP 1 3'), '+OK top of message follows');
  const lines = await c.readMulti();
  assert.equal(lines.length, 5);
  assert.deepEqual(lines.slice(0, 2), ['Subject: big', '']);
  assert.match(lines[2]!, /^\.abcdef/, 'dot-unstuffed: the stored line begins with "."');
  await c.cmd('QUIT');
});


test('a damaged body is never sent as a whole one: -ERR [SYS/PERM], or the connection drops mid-body', async () => {
  const who = 'damaged@example.org';
  await env.addUser(who, 'pw');
  await env.deliver(who, message('small', 'MARK-SMALL-1\r\n'));
  await env.deliver(who, message('large', `${'z'.repeat(200_000)}\r\nMARK-LARGE-2\r\n`));
  damageBody(env.dir, 'MARK-SMALL-1');
  damageBody(env.dir, 'MARK-LARGE-2');
  const c = await pop3(env.port);
  await c.login(who, 'pw');
  assert.equal(await c.cmd('RETR 1'), '-ERR [SYS/PERM] message 1 is damaged and cannot be retrieved');
  const all = readAll(c.socket);
  c.send('RETR 2');
  const text = (await all).toString('latin1');
  assert.match(text, /^\+OK \d+ octets\r\n/);
  assert.ok(!text.endsWith('\r\n.\r\n'), 'no terminator after a damaged body');
});
