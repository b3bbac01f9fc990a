/**
 * test/store/thread.test.ts: the store in its own thread (workers/store-thread.ts) behind
 * `StoreThread`, used from here through `StoreClient` over a MessagePort: mailbox calls,
 * typed errors across the hop, POP3-style snapshots read straight from the files, directory
 * reads and authentication with a caller-side verify, admin verbs, snapshot release when a
 * client's port closes, and the supervision info.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPosternError } from '../../src/errors.ts';
import { StoreThread } from '../../actors/store-thread.ts';
import { StoreClient, readBody } from '../../src/store/client.ts';
import { TASKS } from '../../workers/pool.ts';
import { tmpData } from './helpers.ts';

const code = (c: string) => (e: unknown) => isPosternError(e) && e.code === c;
const verify = (hash: string, password: string) => (TASKS.verifyPassword as (p: object) => Promise<boolean>)({ hash, password });

test('store thread: client over a MessagePort, admin verbs, snapshots, info', { timeout: 60_000 }, async () => {
  const dataDir = tmpData();
  const st = await StoreThread.start({ dataDir, logLevel: 'silent', infoIntervalMs: 100 });
  try {
    await st.admin('domain.add', { name: 'example.org' });
    await st.admin('account.add', { address: 'ann@example.org', password: 'pw' }); // scrypt on the thread's pool
    await assert.rejects(st.admin('account.add', { address: 'ann@example.org', password: 'pw' }), code('STORE_ACCOUNT_EXISTS'));

    const c = new StoreClient(st.connect('test'));
    assert.equal((await c.authenticate('ann', 'pw', 'pop3', verify)).address, 'ann@example.org');
    await assert.rejects(c.authenticate('ann', 'nope', 'pop3', verify), code('STORE_AUTH_FAILED'));
    await assert.rejects(c.authenticate('ghost', 'pw', 'pop3', verify), code('STORE_AUTH_FAILED'));
    assert.equal(await c.primaryDomain(), 'example.org');
    assert.equal((await c.resolve('ann')).address, 'ann@example.org');

    const mb = c.mailbox('ann@example.org');
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.from(`Subject: ${i}\r\n\r\n${'y'.repeat(i * 100)}\r\n`));
    const rs = await Promise.all(bodies.map((b) => mb.append('INBOX', b)));
    assert.deepEqual(rs.map((r) => r.uid), Array.from({ length: 20 }, (_, i) => i + 1));
    const f = await mb.fetch('INBOX', 3);
    assert.deepEqual(Buffer.from(f.body), bodies[2]);
    await assert.rejects(mb.fetch('INBOX', 999), code('STORE_NO_SUCH_MESSAGE'));
    await assert.rejects(mb.createFolder('a//b'), code('STORE_BAD_NAME'));
    await assert.rejects(c.mailbox('nobody@example.org').status('INBOX'), code('STORE_NO_SUCH_ACCOUNT'));

    // POP3: the mailbox as it was when opened, read straight from the segment files
    const snap = await mb.snapshot();
    await mb.append('INBOX', Buffer.from('later\r\n'));
    await mb.expunge('INBOX', { uids: [1, 2] });
    assert.equal(snap.messages.length, 20);
    for (const [i, m] of snap.messages.entries()) assert.deepEqual(await readBody(m.locator), bodies[i]);
    assert.deepEqual(await mb.setFlags('INBOX', [3], ['\\Seen'], 'add').then((r) => r.changed.map((x) => x.flags)), [['\\Seen']]);

    const info = await waitForInfo(st);
    assert.equal(info.kind, 'storeThread');
    assert.ok(info.children?.some((ch) => ch.kind === 'mailbox' && ch.id === 'mailbox:ann@example.org'));
    assert.equal((info.extra as { snapshots: number }).snapshots, 1);

    c.close(); // the port closes: its snapshots are released
    await waitFor(() => (st.info().extra as { snapshots: number }).snapshots === 0);
    const list = (await st.admin('account.list', {})) as Array<{ address: string; messages: number }>;
    assert.deepEqual(list.map((a) => [a.address, a.messages]), [['ann@example.org', 19], ['postmaster@example.org', 0]]);
  } finally {
    await st.stop();
  }
  // a second thread on the same store after a clean stop sees everything
  const st2 = await StoreThread.start({ dataDir, logLevel: 'silent' });
  const c2 = new StoreClient(st2.connect());
  assert.equal((await c2.mailbox('ann').status('INBOX')).messages, 19);
  c2.close();
  await st2.stop();
});

async function waitFor(fn: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitForInfo(st: StoreThread): Promise<ReturnType<StoreThread['info']>> {
  await waitFor(() => (st.info().children?.length ?? 0) > 0 && (st.info().extra as { snapshots: number }).snapshots === 1);
  return st.info();
}

test('store thread killed: a call in flight ends STORE_CLOSED at once, a subscription ends, admin says THREAD_EXITED', { timeout: 60_000 }, async () => {
  const st = await StoreThread.start({ dataDir: tmpData(), logLevel: 'silent' });
  let killed = false;
  try {
    await st.admin('domain.add', { name: 'example.org' });
    await st.admin('account.add', { address: 'ann@example.org', password: 'pw' });
    const c = new StoreClient(st.connect('test'), { timeoutMs: 20_000 });
    const sub = await c.subscribe('ann', 'INBOX');
    // a queue claim waits (here up to 15 s) for work: it is in flight when the thread dies
    const inFlight = c.call({ t: 'q', method: 'claim', args: [1, 60_000, 15_000] }).then(() => 'answered', (e: unknown) => e);
    const next = sub.next();
    await c.mailbox('ann').status('INBOX'); // answered after the claim (one port, in order): the claim is in the store
    const t0 = Date.now();
    st.kill();
    killed = true;
    const e = await inFlight;
    assert.ok(isPosternError(e) && e.code === 'STORE_CLOSED', `ended by the port closing: ${String(e)}`);
    assert.ok(Date.now() - t0 < 10_000, 'at once, not at the 15 s claim or the 20 s deadline');
    assert.deepEqual(await next, { value: undefined, done: true }); // the subscription ended with its port
    assert.equal(sub.isClosed, true);
    await assert.rejects(c.mailbox('ann').status('INBOX'), code('STORE_CLOSED'));
    await assert.rejects(st.admin('domain.list', {}), code('THREAD_EXITED'));
  } finally {
    if (!killed) await st.stop();
  }
});
