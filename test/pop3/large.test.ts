/**
 * A large maildrop: 100,000 messages (small bodies, appended through the store API with many
 * in flight) open, STAT, LIST, UIDL and RETR of the last message work within the time limits,
 * without any body being loaded to open or list them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { pop3, startPop3, type Pop3Env } from './helpers.ts';

const N = 100_000;
const SIZE = 120;
let env: Pop3Env;
before(async () => {
  env = await startPop3();
  await env.addUser('huge@example.org', 'pw');
});
after(async () => env?.stop());

test(`${N.toLocaleString('en-US')} messages: login, STAT, LIST, UIDL, RETR and DELE of the last, QUIT`, { timeout: 90_000 }, async () => {
  const t0 = Date.now();
  await env.bulk('huge@example.org', N, SIZE);
  const appended = Date.now() - t0;
  const c = await pop3(env.port);
  const t1 = Date.now();
  assert.match(await c.login('huge@example.org', 'pw'), new RegExp(`^\\+OK logged in, ${N} messages \\(${N * SIZE} octets\\)`));
  const opened = Date.now() - t1;
  assert.equal(await c.cmd('STAT'), `+OK ${N} ${N * SIZE}`);
  const t2 = Date.now();
  assert.equal(await c.cmd('LIST'), '+OK scan listing follows');
  const list = await c.readMulti(30_000);
  assert.equal(list.length, N);
  assert.equal(list[N - 1], `${N} ${SIZE}`);
  assert.equal(await c.cmd('UIDL'), '+OK unique-id listing follows');
  const uidl = await c.readMulti(30_000);
  assert.equal(uidl.length, N);
  assert.match(uidl[N - 1]!, new RegExp(`^${N} \\d+\\.${N}$`));
  const listed = Date.now() - t2;
  assert.equal(await c.cmd(`RETR ${N}`), `+OK ${SIZE} octets`);
  const body = await c.readMulti();
  assert.ok(body.includes(`Subject: bulk ${N - 1}`));
  assert.equal(await c.cmd(`DELE ${N}`), `+OK message ${N} deleted`);
  assert.match(await c.cmd('QUIT'), new RegExp(`^\\+OK .*\\(${N - 1} messages left\\)`));
  const d = await pop3(env.port);
  assert.match(await d.login('huge@example.org', 'pw'), new RegExp(`^\\+OK logged in, ${N - 1} messages`));
  d.close();
  console.log(`appended ${N} in ${appended} ms; opened in ${opened} ms; LIST+UIDL in ${listed} ms`);
});
