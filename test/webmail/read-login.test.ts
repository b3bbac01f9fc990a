/**
 * WebMail's login and its verified-login cache (authCacheSize, authCacheTtl, as POP3's and
 * IMAP's), over real sockets (curl): a login the thread has verified costs no second scrypt
 * check (the service pool's completed tasks, from the server's status), a wrong password is
 * always checked, and authCacheSize = 0 turns the cache off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browser, startReadServer, type ReadEnv } from './read-helpers.ts';

const ANN = 'ann@example.org';
const PW = 'ann-secret';

/** The webmail service pool's completed tasks (each password check is one). */
const checks = (env: ReadEnv): number => env.server.status().services.find((s) => s.name === 'webmail')!.pool.completed;

async function logins(env: ReadEnv, passwords: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const pw of passwords) out.push((await browser(env.base).login(ANN, pw)).status);
  return out;
}

test('authCacheSize (default): a verified login skips the second scrypt check; a wrong password is checked every time', async () => {
  const env = await startReadServer();
  try {
    await env.addUser(ANN, PW);
    const before = checks(env);
    assert.deepEqual(await logins(env, [PW, PW, PW]), [303, 303, 303]);
    assert.equal(checks(env) - before, 1, 'one scrypt check for three logins');
    assert.deepEqual(await logins(env, ['wrong', 'wrong']), [200, 200]);
    assert.equal(checks(env) - before, 3, 'failures are never cached');
  } finally {
    await env.stop();
  }
});

test('authCacheSize = 0: every login is checked', async () => {
  const env = await startReadServer({ webmail: 'authCacheSize = 0 authCacheTtl = 60' });
  try {
    await env.addUser(ANN, PW);
    const before = checks(env);
    assert.deepEqual(await logins(env, [PW, PW, PW]), [303, 303, 303]);
    assert.equal(checks(env) - before, 3);
  } finally {
    await env.stop();
  }
});
