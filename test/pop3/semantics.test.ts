/**
 * Seed 002's POP3 semantics, each on real sockets: the session sees the maildrop as it was
 * when opened (mail delivered meanwhile appears in the next session); DELE leaves a zombie
 * (LIST shows it with size 0, STAT and UIDL leave it out, RETR/TOP/DELE of it answer
 * "-ERR message N already deleted"), RSET brings it back; RETR marks \Seen in the store
 * (visible to other clients) and TOP does not; deletions happen only at QUIT, and a dropped
 * connection deletes nothing; pop3ExclusiveLock gives a second session -ERR [IN-USE] until the
 * first ends by QUIT, by a dropped connection or by its thread dying.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { message, pop3, startPop3, type Pop3Env } from './helpers.ts';
import { waitFor } from '../helpers.ts';

let env: Pop3Env;
let locked: Pop3Env;

before(async () => {
  [env, locked] = await Promise.all([startPop3(), startPop3({ server: 'pop3ExclusiveLock = yes' })]);
});
after(async () => Promise.all([env?.stop(), locked?.stop()]));

test('snapshot: mail delivered during a session appears only in the next one', async () => {
  const who = 'snap@example.org';
  await env.addUser(who, 'pw');
  await env.deliver(who, message('a'));
  const c = await pop3(env.port);
  assert.match(await c.login(who, 'pw'), /^\+OK logged in, 1 messages/);
  const uid = await env.deliver(who, message('b'));
  assert.equal(uid, 2);
  assert.match(await c.cmd('STAT'), /^\+OK 1 /);
  assert.equal(await c.cmd('LIST 2'), '-ERR no such message');
  assert.equal(await c.cmd('LIST'), '+OK scan listing follows');
  assert.equal((await c.readMulti()).length, 1);
  assert.match(await c.cmd('QUIT'), /^\+OK/);
  const d = await pop3(env.port);
  assert.match(await d.login(who, 'pw'), /^\+OK logged in, 2 messages/);
  assert.match(await d.cmd('RETR 2'), /^\+OK/);
  assert.ok((await d.readMulti()).includes('Subject: b'));
  await d.cmd('QUIT');
});

test('zombies: LIST shows size 0, STAT/UIDL leave it out, RETR/TOP/DELE of it fail, RSET restores', async () => {
  const who = 'zombie@example.org';
  await env.addUser(who, 'pw');
  for (const s of ['z1', 'z2', 'z3']) await env.deliver(who, message(s));
  const c = await pop3(env.port);
  await c.login(who, 'pw');
  const size = Buffer.byteLength(message('z1'));
  assert.equal(await c.cmd('STAT'), `+OK 3 ${3 * size}`);
  assert.equal(await c.cmd('LIST 2'), `+OK 2 ${size}`);
  assert.equal(await c.cmd('DELE 2'), '+OK message 2 deleted');
  assert.equal(await c.cmd('STAT'), `+OK 2 ${2 * size}`);
  assert.equal(await c.cmd('LIST'), '+OK scan listing follows');
  assert.deepEqual(await c.readMulti(), [`1 ${size}`, '2 0', `3 ${size}`]);
  assert.equal(await c.cmd('LIST 2'), '+OK 2 0');
  assert.equal(await c.cmd('UIDL'), '+OK unique-id listing follows');
  assert.deepEqual((await c.readMulti()).map((l) => l.split(' ')[0]), ['1', '3']);
  assert.equal(await c.cmd('UIDL 2'), '-ERR message 2 already deleted');
  assert.equal(await c.cmd('RETR 2'), '-ERR message 2 already deleted');
  assert.equal(await c.cmd('TOP 2 0'), '-ERR message 2 already deleted');
  assert.equal(await c.cmd('DELE 2'), '-ERR message 2 already deleted');
  assert.match(await c.cmd('RSET'), /^\+OK maildrop has 3 messages/);
  assert.equal(await c.cmd('LIST 2'), `+OK 2 ${size}`);
  assert.equal(await c.cmd('RETR 2'), `+OK ${size} octets`);
  assert.ok((await c.readMulti()).includes('Subject: z2'));
  await c.cmd('QUIT');
  assert.deepEqual(await env.uids(who), [1, 2, 3]);
});

test('RETR marks \\Seen in the store (visible to other clients); TOP does not', async () => {
  const who = 'seen@example.org';
  await env.addUser(who, 'pw');
  const u1 = await env.deliver(who, message('s1'));
  const u2 = await env.deliver(who, message('s2'));
  const c = await pop3(env.port);
  await c.login(who, 'pw');
  assert.match(await c.cmd('TOP 1 0'), /^\+OK/);
  await c.readMulti();
  assert.match(await c.cmd('RETR 2'), /^\+OK/);
  await c.readMulti();
  // visible while the session is still open (the write is not held until QUIT)
  await waitFor(async () => (await env.flags(who, u2))?.includes('\\Seen'), 5000, '\\Seen on message 2');
  assert.deepEqual(await env.flags(who, u1), []);
  assert.match(await c.cmd('QUIT'), /^\+OK/);
  assert.deepEqual(await env.flags(who, u2), ['\\Seen']);
});

test('deletions apply only at QUIT (UPDATE state); a dropped connection deletes nothing', async () => {
  const who = 'dele@example.org';
  await env.addUser(who, 'pw');
  for (const s of ['d1', 'd2', 'd3']) await env.deliver(who, message(s));
  const c = await pop3(env.port);
  await c.login(who, 'pw');
  assert.match(await c.cmd('DELE 1'), /^\+OK/);
  assert.match(await c.cmd('DELE 3'), /^\+OK/);
  assert.deepEqual(await env.uids(who), [1, 2, 3], 'nothing is deleted before QUIT');
  c.close(); // dropped: no QUIT
  await c.closed;
  // the signal: the server has ended the dropped session (nothing pop3 is open any more)
  await waitFor(() => env.server.status().services.find((s) => s.name === 'pop3')!.openConnections === 0, 5000, 'the dropped session ended');
  assert.deepEqual(await env.uids(who), [1, 2, 3], 'a dropped connection deletes nothing');
  const d = await pop3(env.port);
  assert.match(await d.login(who, 'pw'), /^\+OK logged in, 3 messages/);
  await d.cmd('DELE 1');
  await d.cmd('DELE 3');
  assert.equal(await d.cmd('QUIT'), '+OK Postern POP3 server signing off (1 messages left)');
  await d.closed;
  assert.deepEqual(await env.uids(who), [2]);
  const e = await pop3(env.port);
  assert.match(await e.login(who, 'pw'), /^\+OK logged in, 1 messages/);
  assert.match(await e.cmd('RETR 1'), /^\+OK/);
  assert.ok((await e.readMulti()).includes('Subject: d2'));
  await e.cmd('QUIT');
});

test('without pop3ExclusiveLock two sessions may open the same maildrop', async () => {
  const who = 'shared@example.org';
  await env.addUser(who, 'pw');
  await env.deliver(who, message('x'));
  const a = await pop3(env.port);
  const b = await pop3(env.port);
  assert.match(await a.login(who, 'pw'), /^\+OK/);
  assert.match(await b.login(who, 'pw'), /^\+OK/);
  a.close();
  b.close();
});

test('pop3ExclusiveLock: a second session gets -ERR [IN-USE]; the lock goes with QUIT, a drop, or a dead thread', async () => {
  const who = 'lock@example.org';
  await locked.addUser(who, 'pw');
  await locked.deliver(who, message('l'));
  const a = await pop3(locked.port);
  assert.match(await a.login(who, 'pw'), /^\+OK/);
  const b = await pop3(locked.port);
  assert.equal(await b.login(who, 'pw'), '-ERR [IN-USE] maildrop already locked by another session');
  assert.match(await b.cmd('AUTH PLAIN ' + Buffer.from(`\0${who}\0pw`).toString('base64')), /^-ERR \[IN-USE\]/);
  assert.match(await b.cmd('NOOP'), /^-ERR command not valid/, 'still in AUTHORIZATION');
  // QUIT releases it
  assert.match(await a.cmd('QUIT'), /^\+OK/);
  assert.match(await b.login(who, 'pw'), /^\+OK logged in/);
  // a dropped connection releases it
  b.close();
  await b.closed;
  const c = await pop3(locked.port);
  assert.match(await waitFor(async () => {
    const r = await c.login(who, 'pw');
    return r.startsWith('+OK') ? r : null;
  }, 5000, 'the lock released after a drop'), /^\+OK/);
  // the thread dies with the lock held: the store releases it when the thread's port closes
  locked.server.injectFault('pop3', 'crash', 0);
  await c.closed;
  const d = await waitFor(async () => {
    const x = await pop3(locked.port);
    const r = await x.login(who, 'pw');
    if (r.startsWith('+OK')) return x;
    x.close();
    return null;
  }, 15_000, 'a new session after the thread died');
  assert.match(await d.cmd('STAT'), /^\+OK 1 /);
  await d.cmd('QUIT');
});
