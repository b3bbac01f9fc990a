/**
 * test/rpop/store.test.ts: the store's side of RPOP (src/store/rpop.ts, rpop-deliver.ts) on a
 * Store in this thread: connections survive a reopen with the password encrypted (the key made
 * once, 0600; a damaged key or ciphertext is STORE_CORRUPT, never a wrong password); field
 * checks; the lease; the UIDL log (intents, seen, forgotten when no longer listed, a torn last
 * line ignored, compaction); a delivery that may already be stored is found, not appended
 * twice; removing the account removes its connections.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir, waitFor } from '../helpers.ts';
import { Store } from '../../src/store/store.ts';
import { rpopDeliver } from '../../src/store/rpop-deliver.ts';

const root = tmpDir('postern-rpop-store-');
after(() => fs.rmSync(root, { recursive: true, force: true }));

const fastHash = async (p: string): Promise<string> => `plain:${p}`;

async function open(dir: string): Promise<Store> {
  return new Store({ dataDir: dir, hashPassword: fastHash, compactIntervalMs: 0 }).open();
}

test('connections persist encrypted; bad fields refused; the key is made once', async () => {
  const dir = path.join(root, 'a');
  let s = await open(dir);
  await s.directory.addDomain('example.org');
  const ann = await s.directory.addAccount('ann@example.org', { password: 'x' });
  const c = await s.rpop.add(ann.id, ann.address, { host: 'pop.example.net', port: 995, tls: 'implicit', username: 'ann', password: 'Very-Secret-1', leaveOnServer: false });
  assert.equal(c.folder, 'INBOX');
  assert.equal(c.interval, 600);
  await assert.rejects(s.rpop.add(ann.id, ann.address, { host: 'bad host', port: 1, username: 'u', password: 'p' }), { code: 'STORE_BAD_ARGUMENT' });
  await assert.rejects(s.rpop.add(ann.id, ann.address, { host: 'h', port: 70000, username: 'u', password: 'p' }), { code: 'STORE_BAD_ARGUMENT' });
  await assert.rejects(s.rpop.add(ann.id, ann.address, { host: 'h', port: 110, username: 'u', password: 'p\r\nDELE 1' }), { code: 'STORE_BAD_ARGUMENT' });
  await assert.rejects(s.rpop.add(ann.id, ann.address, { host: 'h', port: 110, username: 'u', password: 'p', tls: 'ssl' as never }), { code: 'STORE_BAD_ARGUMENT' });
  await s.close();
  const key = fs.readFileSync(path.join(dir, 'store', 'rpop.key'));
  assert.equal(fs.readFileSync(path.join(dir, 'store', 'rpop.mpk')).includes(Buffer.from('Very-Secret-1')), false);
  s = await open(dir);
  assert.deepEqual(fs.readFileSync(path.join(dir, 'store', 'rpop.key')), key, 'the same key after a reopen');
  const [again] = s.rpop.list(ann.id, () => ann.address);
  assert.equal(again!.leaveOnServer, false);
  const l = s.rpop.lease(c.id);
  assert.equal(l.password, 'Very-Secret-1');
  assert.throws(() => s.rpop.lease(c.id), { code: 'RPOP_BUSY' });
  const other = await s.rpop.add(ann.id, ann.address, { host: 'h2', port: 110, username: 'u', password: 'p' });
  assert.throws(() => s.rpop.lease(other.id, 1), (e: { code: string; details: { reason: string } }) => e.code === 'RPOP_BUSY' && e.details.reason === 'limit');
  s.rpop.finish(c.id, l.token, {});
  s.rpop.finish(other.id, s.rpop.lease(other.id, 1).token, {});
  await s.close();
  // another key: the password cannot be read, and that is said plainly
  fs.writeFileSync(path.join(dir, 'store', 'rpop.key'), Buffer.alloc(32, 7));
  s = await open(dir);
  assert.throws(() => s.rpop.lease(c.id), { code: 'STORE_CORRUPT' });
  await s.directory.removeAccount('ann@example.org');
  await waitFor(() => s.rpop.list(undefined, () => '').length === 0, 5000, 'the connections dropped with the account');
  await s.close();
  s = await open(dir);
  assert.deepEqual(s.rpop.list(undefined, () => ''), [], 'and on disk');
  await s.close();
});

test('the UIDL log: intents, seen, forgotten, a torn line, a copy found instead of stored twice', async () => {
  const dir = path.join(root, 'b');
  let s = await open(dir);
  await s.directory.addDomain('example.org');
  const bob = await s.directory.addAccount('bob@example.org', { password: 'x' });
  const { id } = await s.rpop.add(bob.id, bob.address, { host: 'h', port: 110, username: 'u', password: 'p', folder: 'Far' });
  let l = s.rpop.lease(id);
  const p1 = await s.rpop.plan(id, l.token, ['u1', 'u2', 'u3'], 2, () => bob.address);
  assert.deepEqual(p1.fetch.map((f) => [f.uidl, f.maybe]), [['u1', false], ['u2', false]]);
  await assert.rejects(s.rpop.plan(id, l.token, ['bad uidl'], 2, () => bob.address), { code: 'STORE_BAD_ARGUMENT' });
  const body = Buffer.from('Subject: one\r\n\r\nhi\r\n');
  const r = await rpopDeliver(s, id, l.token, 'u1', body, false);
  assert.equal(r.found, false);
  // u2 appended, then a "crash" before its seen line: deliver again with maybe → found
  const d2 = p1.fetch[1]!.date;
  await s.mailbox(bob.address).append('Far', Buffer.from('Subject: two\r\n\r\n'), { internalDate: d2 });
  s.rpop.finish(id, l.token, {});
  await s.close();
  const log = path.join(dir, 'store', 'rpop', `${id}.log`);
  fs.appendFileSync(log, 'S u2 dead'); // a torn last line: ignored
  s = await open(dir);
  l = s.rpop.lease(id);
  const p2 = await s.rpop.plan(id, l.token, ['u1', 'u2', 'u3'], 10, () => bob.address);
  assert.deepEqual(p2.seen, ['u1']);
  assert.deepEqual(p2.fetch.map((f) => [f.uidl, f.maybe, f.date === d2 || f.uidl !== 'u2']), [['u2', true, true], ['u3', false, true]]);
  assert.equal((await rpopDeliver(s, id, l.token, 'u2', Buffer.from('Subject: two\r\n\r\n'), true)).found, true);
  assert.equal((await rpopDeliver(s, id, l.token, 'u3', Buffer.from('Subject: three\r\n\r\n'), true)).found, false);
  assert.equal((await s.mailbox(bob.address).list('Far')).length, 3, 'each once');
  // the remote no longer lists u1: forgotten; listed again later, it is new
  const p3 = await s.rpop.plan(id, l.token, ['u2', 'u3'], 10, () => bob.address);
  assert.deepEqual(p3.seen, ['u2', 'u3']);
  assert.deepEqual(p3.fetch, []);
  for (let i = 0; i < 40; i++) await s.rpop.plan(id, l.token, i % 2 === 0 ? ['u2', 'u3'] : ['u2', 'u3', `n${i}`], 10, () => bob.address);
  s.rpop.finish(id, l.token, {});
  await s.close();
  const lines = fs.readFileSync(log, 'latin1').split('\n').filter((x) => x !== '');
  assert.ok(lines.length < 70, `compacted (${lines.length} lines)`);
  s = await open(dir);
  l = s.rpop.lease(id);
  assert.deepEqual((await s.rpop.plan(id, l.token, ['u2', 'u3'], 10, () => bob.address)).seen, ['u2', 'u3'], 'the same after compaction and a reopen');
  await s.close();
});
