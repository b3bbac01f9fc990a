/**
 * test/rpop/postern.test.ts: RPOP against Postern's own POP3 (a second instance, the "remote"):
 * the fetcher (rpop, minInterval 1 s) pulls a remote account's mail into a local account's
 * folder, byte for byte under one Received: line; no duplicate across a restart of the fetcher;
 * keep=no deletes on the remote only what is stored; STLS and implicit TLS (certificate checked
 * against caFile); a wrong password is reported (RPOP_AUTH_FAILED) and backs off (the wait
 * doubles); the password is nowhere in clear in the data dir and `list` shows ***; ctl's
 * syntax and `postern ctl account rpop …` over the control socket; removing a connection; a
 * disabled connection; a fetch from another account of the same server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir, waitFor } from '../helpers.ts';
import { parseCtlArgs, runCtl } from '../../src/cli/ctl.ts';
import { startServer } from '../../actors/server.ts';
import { retryDelayMs } from '../../src/protocols/rpop/index.ts';
import { allFiles, fetchedMessages, mail, pollAfter, remoteCount, rpopList, startFetcher, startRemote, type Remote } from './helpers.ts';

const SECRET = 'Rem0te-Secret-Pa55';
const root = tmpDir('postern-rpop-');
let remote: Remote;

before(async () => {
  remote = await startRemote(path.join(root, 'remote'));
  for (const u of ['keep', 'nokeep', 'stls', 'imp', 'bad']) await remote.addUser(`${u}@example.org`, SECRET);
});

after(async () => {
  await remote?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

test('ctl syntax: account rpop add|list|remove', () => {
  const a = parseCtlArgs(['account', 'rpop', 'add', 'ann@example.org', 'host=pop.example.net', 'port=995', 'user=ann', 'password=p w', 'tls=implicit', 'folder=Remote', 'interval=300', 'keep=no', 'enabled=yes']);
  assert.equal(a.verb, 'account.rpop.add');
  assert.deepEqual(a.args, { address: 'ann@example.org', host: 'pop.example.net', port: 995, username: 'ann', password: 'p w', tls: 'implicit', folder: 'Remote', interval: 300, keep: false, enabled: true });
  assert.equal(parseCtlArgs(['account', 'rpop', 'list', 'ann@example.org']).verb, 'account.rpop.list');
  assert.deepEqual(parseCtlArgs(['account', 'rpop', 'remove', 'ann@example.org', '7']).args, { address: 'ann@example.org', id: 7 });
  assert.equal(parseCtlArgs(['account', 'add', 'ann@example.org', '--password', 'x']).verb, 'account.add');
  assert.throws(() => parseCtlArgs(['account', 'rpop', 'add', 'ann@example.org', 'port=x']), { code: 'CONTROL_BAD_REQUEST' });
  assert.throws(() => parseCtlArgs(['account', 'rpop', 'add', 'ann@example.org', 'tls=ssl']), { code: 'CONTROL_BAD_REQUEST' });
  assert.throws(() => parseCtlArgs(['account', 'rpop', 'add', 'ann@example.org', 'colour=red']), { code: 'CONTROL_BAD_REQUEST' });
});

test('retry delay doubles per failure up to maxRetryInterval (or the interval, if longer)', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => retryDelayMs(1000, n, 10_000)), [1000, 2000, 4000, 8000, 10_000, 10_000]);
  assert.equal(retryDelayMs(7200_000, 3, 3600_000), 7200_000);
});

test('fetch, no duplicates across a restart, keep=yes leaves the remote alone; the password never in clear', async () => {
  const dir = path.join(root, 'f1');
  const originals = ['one', 'two', 'three'].map((s) => mail(`keep ${s}`, `.dotted line\r\nbody of ${s}\r\n`));
  for (const m of originals) await remote.deliver('keep@example.org', m);
  const rpopBlock = `minInterval = 1 caFile = "${remote.certFile}"`;
  let f = await startFetcher(dir, rpopBlock);
  try {
    await f.addUser('ann@example.org', 'local');
    const added = (await f.server.admin('account.rpop.add', { address: 'ann@example.org', host: '127.0.0.1', port: remote.port, username: 'keep@example.org', password: SECRET, interval: 1 })) as { id: number; password: string; folder: string; leaveOnServer: boolean };
    assert.equal(added.password, '***');
    assert.equal(added.folder, 'INBOX');
    assert.equal(added.leaveOnServer, true);
    await waitFor(async () => (await fetchedMessages(f.pop3Port, 'ann@example.org', 'local')).length === 3, 20_000, 'three messages fetched');
    assert.deepEqual((await fetchedMessages(f.pop3Port, 'ann@example.org', 'local')).sort(), [...originals].sort());
    assert.equal(await remoteCount(remote.port, 'keep@example.org', SECRET), 3);
    const t0 = Date.now();
    const row = await pollAfter(f, 'ann@example.org', added.id, t0);
    assert.equal(row.password, '***');
    assert.equal(row.state.failures, 0);
    assert.equal((await fetchedMessages(f.pop3Port, 'ann@example.org', 'local')).length, 3, 'a second poll fetches nothing again');
  } finally {
    await f.stop();
  }
  // restart: the seen UIDLs are on disk
  f = await startFetcher(dir, rpopBlock);
  try {
    const more = mail('keep four');
    await remote.deliver('keep@example.org', more);
    await waitFor(async () => (await fetchedMessages(f.pop3Port, 'ann@example.org', 'local')).length >= 4, 20_000, 'the new message fetched');
    const [{ id }] = await rpopList(f, 'ann@example.org');
    await pollAfter(f, 'ann@example.org', id!, Date.now());
    const got = await fetchedMessages(f.pop3Port, 'ann@example.org', 'local');
    assert.deepEqual(got.sort(), [...originals, more].sort(), 'each message once, after a restart');
  } finally {
    await f.stop();
  }
  const secret = Buffer.from(SECRET);
  for (const file of allFiles(dir)) assert.equal(fs.readFileSync(file).includes(secret), false, `${file} holds the password in clear`);
  const key = path.join(dir, 'store', 'rpop.key');
  assert.equal(fs.statSync(key).mode & 0o777, 0o600);
  assert.equal(fs.statSync(key).size, 32);
});

test('keep=no: DELE on the remote once the copies are stored; into a folder of its own', async () => {
  for (let i = 0; i < 4; i++) await remote.deliver('nokeep@example.org', mail(`nokeep ${i}`));
  const f = await startFetcher(path.join(root, 'f2'), 'minInterval = 1');
  try {
    await f.addUser('bob@example.org', 'local');
    await f.server.admin('account.rpop.add', { address: 'bob@example.org', host: '127.0.0.1', port: remote.port, username: 'nokeep@example.org', password: SECRET, interval: 1, keep: false, folder: 'Remote' });
    await waitFor(async () => (await remoteCount(remote.port, 'nokeep@example.org', SECRET)) === 0, 20_000, 'the remote emptied');
    const d = (await f.probeJson('DIGEST', 'bob@example.org')) as Record<string, unknown[]>;
    assert.equal(d.Remote?.length, 4);
    assert.equal(d.INBOX?.length, 0);
    const [row] = await rpopList(f, 'bob@example.org');
    assert.equal(row!.state.deleted, 4);
    assert.equal(row!.state.fetched, 4);
  } finally {
    await f.stop();
  }
});

test('STLS and implicit TLS, the certificate checked against caFile', async () => {
  await remote.deliver('stls@example.org', mail('over stls'));
  await remote.deliver('imp@example.org', mail('over implicit tls'));
  const f = await startFetcher(path.join(root, 'f3'), `minInterval = 1 caFile = "${remote.certFile}"`);
  try {
    await f.addUser('cat@example.org', 'local');
    await f.addUser('dan@example.org', 'local');
    await f.addUser('eve@example.org', 'local');
    await f.server.admin('account.rpop.add', { address: 'cat@example.org', host: '127.0.0.1', port: remote.port, tls: 'stls', username: 'stls@example.org', password: SECRET, interval: 1 });
    await f.server.admin('account.rpop.add', { address: 'dan@example.org', host: '127.0.0.2', port: remote.tlsPort, tls: 'implicit', username: 'imp@example.org', password: SECRET, interval: 1 });
    // the certificate names 127.0.0.1 and .2, not this name: refused, nothing fetched
    const bad = (await f.server.admin('account.rpop.add', { address: 'eve@example.org', host: '127.0.0.3', port: remote.port, tls: 'stls', username: 'stls@example.org', password: SECRET, interval: 1 })) as { id: number };
    await waitFor(async () => (await fetchedMessages(f.pop3Port, 'cat@example.org', 'local')).length === 1, 20_000, 'fetched over STLS');
    await waitFor(async () => (await fetchedMessages(f.pop3Port, 'dan@example.org', 'local')).length === 1, 20_000, 'fetched over implicit TLS');
    assert.match((await fetchedMessages(f.pop3Port, 'cat@example.org', 'local'))[0]!, /Subject: over stls/);
    assert.match((await fetchedMessages(f.pop3Port, 'dan@example.org', 'local'))[0]!, /Subject: over implicit tls/);
    const row = await waitFor(async () => (await rpopList(f, 'eve@example.org')).find((r) => r.id === bad.id && r.state.failures > 0), 20_000, 'the bad certificate reported');
    assert.ok(['RPOP_TLS', 'RPOP_CONNECT'].includes(row.state.lastError!.code), row.state.lastError!.code);
    assert.equal((await fetchedMessages(f.pop3Port, 'eve@example.org', 'local')).length, 0);
  } finally {
    await f.stop();
  }
});

test('a wrong password is reported and backs off (the wait doubles); remove ends the polls', async () => {
  const f = await startFetcher(path.join(root, 'f4'), 'minInterval = 1');
  try {
    await f.addUser('fay@example.org', 'local');
    const { id } = (await f.server.admin('account.rpop.add', { address: 'fay@example.org', host: '127.0.0.1', port: remote.port, username: 'bad@example.org', password: 'wrong', interval: 1 })) as { id: number };
    const one = await waitFor(async () => (await rpopList(f, 'fay@example.org')).find((r) => r.state.failures === 1), 20_000, 'the first failure');
    assert.equal(one.state.lastError!.code, 'RPOP_AUTH_FAILED');
    assert.ok(one.state.nextPollAt! - one.state.lastPollAt! >= 2000 - 50, `first retry after ≥ 2 s (${one.state.nextPollAt! - one.state.lastPollAt!})`);
    const two = await waitFor(async () => (await rpopList(f, 'fay@example.org')).find((r) => r.state.failures === 2), 20_000, 'the second failure');
    assert.equal(two.state.lastError!.code, 'RPOP_AUTH_FAILED');
    assert.ok(two.state.lastPollAt! - one.state.lastPollAt! >= 2000 - 50, 'the second try waited');
    assert.ok(two.state.nextPollAt! - two.state.lastPollAt! >= 4000 - 50, 'the wait doubled');
    await f.server.admin('account.rpop.remove', { address: 'fay@example.org', id });
    assert.deepEqual(await rpopList(f, 'fay@example.org'), []);
    await assert.rejects(f.server.admin('account.rpop.remove', { address: 'fay@example.org', id }), { code: 'RPOP_NO_SUCH_CONNECTION' });
  } finally {
    await f.stop();
  }
});

test('from another account of the same server; an interval under minInterval is raised to it', async () => {
  const f = await startFetcher(path.join(root, 'f5'), 'minInterval = 2');
  try {
    await f.addUser('src@example.org', 'spw');
    await f.addUser('dst@example.org', 'local');
    await f.deliver('src@example.org', mail('same server'));
    const { id } = (await f.server.admin('account.rpop.add', { address: 'dst@example.org', host: '127.0.0.1', port: f.pop3Port, username: 'src@example.org', password: 'spw', interval: 1 })) as { id: number };
    await waitFor(async () => (await fetchedMessages(f.pop3Port, 'dst@example.org', 'local')).length === 1, 20_000, 'fetched from the same server');
    const row = await pollAfter(f, 'dst@example.org', id, 0);
    assert.ok(row.state.nextPollAt! - row.state.lastPollAt! >= 2000, `the next poll after minInterval (${row.state.nextPollAt! - row.state.lastPollAt!} ms)`);
    assert.equal(await remoteCount(f.pop3Port, 'src@example.org', 'spw'), 1, 'keep=yes by default');
  } finally {
    await f.stop();
  }
});

test('a disabled connection is not polled', async () => {
  await remote.deliver('keep@example.org', mail('never fetched'));
  const f = await startFetcher(path.join(root, 'f6'), 'minInterval = 1');
  try {
    await f.addUser('hal@example.org', 'local');
    await f.addUser('ivy@example.org', 'local');
    const off = (await f.server.admin('account.rpop.add', { address: 'hal@example.org', host: '127.0.0.1', port: remote.port, username: 'keep@example.org', password: SECRET, interval: 1, enabled: false })) as { id: number; enabled: boolean };
    assert.equal(off.enabled, false);
    // a second, enabled connection of another account: once it has polled twice, the first had its chances
    const on = (await f.server.admin('account.rpop.add', { address: 'ivy@example.org', host: '127.0.0.1', port: remote.port, username: 'keep@example.org', password: SECRET, interval: 1 })) as { id: number };
    const first = await pollAfter(f, 'ivy@example.org', on.id, 0);
    await pollAfter(f, 'ivy@example.org', on.id, first.state.lastPollAt! + 1);
    const [row] = await rpopList(f, 'hal@example.org');
    assert.equal(row!.state.lastPollAt, null);
    assert.equal((await fetchedMessages(f.pop3Port, 'hal@example.org', 'local')).length, 0);
  } finally {
    await f.stop();
  }
});

test('postern ctl account rpop add|list|remove over the control socket (the password shown ***)', async () => {
  const dir = path.join(root, 'ctl');
  const server = await startServer({
    dataDir: dir, statusPort: 0,
    configText: 'Server { services = () primaryDomain = "example.org" statusListener = 127.0.0.1:0 logLevel = error }',
  });
  const run = async (...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCtl(['--data-dir', dir, ...argv], { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out, err };
  };
  try {
    await server.admin('account.add', { address: 'joy@example.org', password: 'x' });
    let r = await run('account', 'rpop', 'add', 'joy@example.org', 'host=127.0.0.1', `port=${remote.port}`, 'user=keep@example.org', `password=${SECRET}`, 'tls=stls', 'keep=no', 'interval=120');
    assert.deepEqual(r, { code: 0, out: ['rpop connection added to joy@example.org'], err: [] });
    r = await run('account', 'rpop', 'list', 'joy@example.org');
    assert.equal(r.code, 0);
    assert.equal(r.out.length, 1);
    assert.match(r.out[0]!, /^1 {2}keep@example\.org@127\.0\.0\.1:\d+ tls=stls password=\*\*\* folder=INBOX interval=120 keep=no /);
    assert.equal(r.out.join('\n').includes(SECRET), false);
    r = await run('--json', 'account', 'rpop', 'list', 'joy@example.org');
    assert.equal(JSON.parse(r.out[0]!).result[0].password, '***');
    assert.equal(r.out[0]!.includes(SECRET), false);
    r = await run('account', 'rpop', 'remove', 'joy@example.org', '1');
    assert.deepEqual(r, { code: 0, out: ['rpop connection 1 removed from joy@example.org'], err: [] });
    r = await run('account', 'rpop', 'remove', 'joy@example.org', '1');
    assert.equal(r.code, 1);
    assert.match(r.err[0]!, /\[RPOP_NO_SUCH_CONNECTION\]$/);
    r = await run('account', 'rpop', 'add', 'joy@example.org', 'host=h', 'port=110', 'user=u', 'password=p', 'interval=0');
    assert.equal(r.code, 1);
    assert.match(r.err[0]!, /\[STORE_BAD_ARGUMENT\]$/);
  } finally {
    await server.stop();
  }
  for (const file of allFiles(dir)) assert.equal(fs.readFileSync(file).includes(Buffer.from(SECRET)), false, `${file} holds the password in clear`);
});
