/**
 * test/rpop/dovecot.test.ts: RPOP against Dovecot's POP3 (Debian dovecot-pop3d, started from a
 * config in a temp dir: test/rpop/dovecot-pop3.ts): over STLS with keep=yes the messages arrive
 * byte for byte (Dovecot's LF files as CRLF) and stay on Dovecot, and nothing is fetched twice,
 * across a restart of Postern too; over implicit TLS with keep=no Dovecot's maildir is emptied
 * once the copies are stored.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { tmpDir, waitFor } from '../helpers.ts';
import { fetchedMessages, mail, pollAfter, rpopList, sanCert, startFetcher } from './helpers.ts';
import { dovecotPop3Installed, startDovecotPop3, type DovecotPop3 } from './dovecot-pop3.ts';

const root = tmpDir('postern-rpop-dovecot-');
let dovecot: DovecotPop3;
let certFile: string;

before(async () => {
  assert.ok(dovecotPop3Installed(), 'dovecot-pop3d is installed');
  const c = sanCert(root);
  certFile = c.certFile;
  dovecot = await startDovecotPop3({ users: [{ user: 'keep@dove.test', password: 'dpw' }, { user: 'gone@dove.test', password: 'dpw' }], ...c });
});

after(async () => {
  await dovecot?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

const lf = (s: string): Buffer => Buffer.from(s.replace(/\r\n/g, '\n'));

test('Dovecot over STLS, keep=yes: fetched once, across a restart', async () => {
  const originals = ['a', 'b'].map((s) => mail(`dovecot ${s}`, `..leading dot\r\ntext ${s}\r\n`));
  for (const m of originals) dovecot.deliver('keep@dove.test', lf(m));
  const dir = path.join(root, 'f1');
  const block = `minInterval = 1 caFile = "${certFile}"`;
  let f = await startFetcher(dir, block);
  let id: number;
  try {
    await f.addUser('ann@example.org', 'local');
    ({ id } = (await f.server.admin('account.rpop.add', { address: 'ann@example.org', host: '127.0.0.1', port: dovecot.port, tls: 'stls', username: 'keep@dove.test', password: 'dpw', interval: 1 })) as { id: number });
    await waitFor(async () => (await fetchedMessages(f.pop3Port, 'ann@example.org', 'local')).length === 2, 20_000, 'two messages fetched');
    await pollAfter(f, 'ann@example.org', id, Date.now());
    assert.deepEqual((await fetchedMessages(f.pop3Port, 'ann@example.org', 'local')).sort(), [...originals].sort());
  } finally {
    await f.stop();
  }
  assert.equal(dovecot.count('keep@dove.test'), 2, 'still on Dovecot');
  f = await startFetcher(dir, block);
  try {
    const third = mail('dovecot c');
    dovecot.deliver('keep@dove.test', lf(third));
    await waitFor(async () => (await fetchedMessages(f.pop3Port, 'ann@example.org', 'local')).length >= 3, 20_000, 'the third message');
    await pollAfter(f, 'ann@example.org', id, Date.now());
    assert.deepEqual((await fetchedMessages(f.pop3Port, 'ann@example.org', 'local')).sort(), [...originals, third].sort());
    const [row] = await rpopList(f, 'ann@example.org');
    assert.equal(row!.state.lastError, null);
  } finally {
    await f.stop();
  }
});

test('Dovecot over implicit TLS, keep=no: the maildir emptied once the copies are stored', async () => {
  for (let i = 0; i < 3; i++) dovecot.deliver('gone@dove.test', lf(mail(`gone ${i}`)));
  const f = await startFetcher(path.join(root, 'f2'), `minInterval = 1 caFile = "${certFile}"`);
  try {
    await f.addUser('bob@example.org', 'local');
    await f.server.admin('account.rpop.add', { address: 'bob@example.org', host: '127.0.0.1', port: dovecot.tlsPort, tls: 'implicit', username: 'gone@dove.test', password: 'dpw', interval: 1, keep: false });
    await waitFor(() => dovecot.count('gone@dove.test') === 0, 20_000, 'Dovecot emptied');
    const got = await fetchedMessages(f.pop3Port, 'bob@example.org', 'local');
    assert.equal(got.length, 3);
    assert.deepEqual(got.map((m) => /Subject: (.*)\r\n/.exec(m)![1]).sort(), ['gone 0', 'gone 1', 'gone 2']);
  } finally {
    await f.stop();
  }
});
