/**
 * test/rpop/crash.test.ts: kill -9 of the fetching server between a message's durable copy and
 * its DELE (keep=no). A child process (fixtures/fetch-child.ts: the store and the rpop worker)
 * kills itself right after the first copy is stored and its UIDL recorded; the remote still has
 * every message (no QUIT, so no DELE took effect). The UIDL's "seen" line is then cut from its
 * log, as if the crash had come between the append and that line. A full Postern then starts
 * on the same data dir: every message ends up in the folder exactly once (the stored one is
 * found by its intent's date, size and crc32, not appended again) and the remote is emptied.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir, waitFor } from '../helpers.ts';
import { startProbed } from '../probed.ts';
import { fetchedMessages, mail, remoteCount, rpopList, startFetcher, startRemote, type Remote } from './helpers.ts';

const CHILD = fileURLToPath(new URL('./fixtures/fetch-child.ts', import.meta.url));
const root = tmpDir('postern-rpop-crash-');
let remote: Remote;

before(async () => {
  remote = await startRemote(path.join(root, 'remote'));
  await remote.addUser('far@example.org', 'pw');
});

after(async () => {
  await remote?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

test('kill -9 between the copy and its DELE: each message once, the remote emptied after', async () => {
  const originals = [0, 1, 2].map((i) => mail(`crash ${i}`, `body ${i}\r\n`));
  for (const m of originals) await remote.deliver('far@example.org', m);
  const dir = path.join(root, 'fetcher');
  // the account and its connection, made by a server without rpop
  const setup = await startProbed({ dir, services: [], body: '' });
  await setup.addUser('gil@example.org', 'local');
  const { id } = (await setup.server.admin('account.rpop.add', { address: 'gil@example.org', host: '127.0.0.1', port: remote.port, username: 'far@example.org', password: 'pw', interval: 1, keep: false })) as { id: number };
  await setup.stop();

  const child = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exit = await new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, sig) => resolve(sig ?? code)));
  assert.equal(exit, 'SIGKILL', `the child died by its own SIGKILL (stdout ${out}, stderr ${err})`);
  const killed = JSON.parse(out.trim().split('\n').at(-1)!) as { killing: string };
  assert.equal(await remoteCount(remote.port, 'far@example.org', 'pw'), 3, 'no DELE took effect');

  // cut the "seen" line of that UIDL: the crash as if just before it
  const log = path.join(dir, 'store', 'rpop', `${id}.log`);
  const lines = fs.readFileSync(log, 'latin1').split('\n').filter((l) => l !== '');
  const last = lines.at(-1)!;
  assert.ok(last.startsWith(`S ${killed.killing} `), `the log ends with the seen line (${last})`);
  fs.writeFileSync(log, `${lines.slice(0, -1).join('\n')}\n`, 'latin1');

  const f = await startFetcher(dir, 'minInterval = 1');
  try {
    await waitFor(async () => (await remoteCount(remote.port, 'far@example.org', 'pw')) === 0, 20_000, 'the remote emptied');
    const got = await fetchedMessages(f.pop3Port, 'gil@example.org', 'local');
    assert.deepEqual(got.sort(), [...originals].sort(), 'each message exactly once');
    const [row] = await rpopList(f, 'gil@example.org');
    assert.equal(row!.state.fetched, 2, 'the stored copy was found, not fetched again');
    assert.equal(row!.state.deleted, 3);
  } finally {
    await f.stop();
  }
});
