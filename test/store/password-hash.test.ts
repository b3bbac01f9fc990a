/**
 * test/store/password-hash.test.ts: the one stored password-hash format (issue 11 item 6): a
 * table of malformed hashes (empty or short key, absurd costs, non-canonical base64) that the
 * parser refuses and the pool's verifyPassword matches with no password at all, and a restore
 * through the directory refused with STORE_BAD_ARGUMENT, changing nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPosternError } from '../../src/errors.ts';
import { parseScryptHash } from '../../src/store/password-hash.ts';
import { TASKS } from '../../workers/pool.ts';
import { openStore, tmpData } from './helpers.ts';

const verify = TASKS.verifyPassword as (p: { password: string; hash: string }) => Promise<boolean>;
const hash = TASKS.hashPassword as (p: { password: string }) => Promise<string>;
const salt = Buffer.alloc(16, 7).toString('base64');
const key32 = Buffer.alloc(32, 9).toString('base64');

const MALFORMED: Record<string, string> = {
  emptyKey: 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$=',
  emptyKey2: `scrypt$16384$8$1$${salt}$`,
  shortKey: `scrypt$16384$8$1$${salt}$${Buffer.alloc(4).toString('base64')}`,
  key31: `scrypt$16384$8$1$${salt}$${Buffer.alloc(31).toString('base64')}`,
  longKey: `scrypt$16384$8$1$${salt}$${Buffer.alloc(64).toString('base64')}`,
  shortSalt: `scrypt$16384$8$1$${Buffer.alloc(4).toString('base64')}$${key32}`,
  emptySalt: `scrypt$16384$8$1$$${key32}`,
  weakN: `scrypt$2$8$1$${salt}$${key32}`,
  notPowerOfTwo: `scrypt$20000$8$1$${salt}$${key32}`,
  hugeN: `scrypt$1048576$8$1$${salt}$${key32}`,
  hugeR: `scrypt$16384$4096$1$${salt}$${key32}`,
  zeroP: `scrypt$16384$8$0$${salt}$${key32}`,
  hugeP: `scrypt$16384$8$100$${salt}$${key32}`,
  leadingZero: `scrypt$016384$8$1$${salt}$${key32}`,
  nonCanonical: `scrypt$16384$8$1$${salt}$${key32.slice(0, -1)}`,
  junkInBase64: `scrypt$16384$8$1$${salt}$${key32.slice(0, 10)}!${key32.slice(11)}`,
  extraPart: `scrypt$16384$8$1$${salt}$${key32}$x`,
  otherScheme: `bcrypt$16384$8$1$${salt}$${key32}`,
  empty: '',
};

test('malformed hashes: refused by the parser, and no password matches them', async () => {
  const good = await hash({ password: 'right' });
  assert.notEqual(parseScryptHash(good), null);
  assert.equal(await verify({ password: 'right', hash: good }), true);
  assert.equal(await verify({ password: 'wrong', hash: good }), false);
  for (const [name, h] of Object.entries(MALFORMED)) {
    assert.equal(parseScryptHash(h), null, name);
    for (const pw of ['', 'anything', 'right']) assert.equal(await verify({ password: pw, hash: h }), false, `${name} / ${pw}`);
  }
  assert.equal(await verify({ password: 'x', hash: 42 as unknown as string }), false);
});

test('the directory refuses to restore an account with a malformed hash, changing nothing', async () => {
  const { store } = await openStore(tmpData());
  const d = store.directory;
  await d.addDomain('a.org');
  await d.addAccount('ann@a.org', { password: 'pw' });
  const before = d.exportAccount('ann@a.org');
  for (const [name, h] of Object.entries(MALFORMED)) {
    await assert.rejects(d.restoreAccount({ ...before, passwordHash: h }), (e: unknown) => isPosternError(e) && e.code === 'STORE_BAD_ARGUMENT', name);
    await assert.rejects(d.restoreAccount({ ...before, address: 'new@a.org', aliases: [], passwordHash: h }), (e: unknown) => isPosternError(e) && e.code === 'STORE_BAD_ARGUMENT', name);
  }
  assert.deepEqual(d.exportAccount('ann@a.org'), before);
  assert.deepEqual(d.listAccounts('a.org').map((a) => a.address), ['ann@a.org']);
  await store.close();
});
