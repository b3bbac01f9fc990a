/**
 * test/store/relay-client.test.ts: smtpOutgoing's calls (QueueClient.claimRelay, relayOutcome,
 * makeDueFor) over a real store thread's MessagePort, and the operators' view of the result
 * (the store's `queue.list` / `queue.show` admin verbs, what `postern ctl queue` prints).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreThread } from '../../actors/store-thread.ts';
import { StoreClient } from '../../src/store/client.ts';
import { QueueClient } from '../../src/store/queue-client.ts';
import { isPosternError } from '../../src/errors.ts';
import { tmpData } from './helpers.ts';
import type { QueueEnvelope } from '../../src/store/queue-record.ts';

const env = (to: string[]): QueueEnvelope => ({
  from: 'ann@example.org', rcpts: to.map((t) => ({ to: t, account: null, dsn: { notify: ['FAILURE', 'DELAY'], orcpt: `rfc822;${t}` } })), receivedAt: Date.now(),
  helo: 'h', ip: '127.0.0.1', by: 'mx.test', with: 'ESMTPA', tls: null, auth: 'ann@example.org', body: '7BIT', utf8: false, dsn: { ret: 'HDRS', envid: 'E1' }, requireTls: true,
});

test('QueueClient: claimRelay, relayOutcome, makeDueFor over the store thread; queue list/show show relay states', { timeout: 60_000 }, async () => {
  const st = await StoreThread.start({ dataDir: tmpData(), logLevel: 'silent' });
  try {
    const q = new QueueClient(new StoreClient(st.connect('smtpOutgoing')));
    const policy = { baseMs: 60_000, maxMs: 3_600_000, maxRetries: 5 };
    const { id } = await q.enqueue(env(['x@far.example', 'y@far.example']), Buffer.from('Subject: out\r\n\r\nhi\r\n'));
    const [c] = await q.claimRelay(10, 60_000, 1000);
    assert.equal(c!.id, id);
    assert.deepEqual(c!.rcpts, [{ index: 0, to: 'x@far.example' }, { index: 1, to: 'y@far.example' }]);
    assert.deepEqual({ dsn: c!.env.dsn, requireTls: c!.env.requireTls, rcpt: c!.env.rcpts[0]!.dsn }, { dsn: { ret: 'HDRS', envid: 'E1' }, requireTls: true, rcpt: { notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;x@far.example' } }, 'the DSN fields and REQUIRETLS travel with the entry');
    const [r] = await q.relayOutcome([{ id, token: c!.token, outcomes: [{ index: 0, status: 'delivered', why: '250 ok' }, { index: 1, status: 'temp', why: '421 4.7.0 try again' }] }], policy);
    assert.equal(r!.status, 'deferred');
    assert.equal(r!.attempts, 1);
    assert.deepEqual(await q.claimRelay(10, 60_000, 0), [], 'deferred for a minute');
    const list = (await st.admin('queue.list', {})) as Array<Record<string, unknown>>;
    assert.deepEqual(list.map((x) => [x.id, x.status, x.attempts, x.lastError]), [[id, 'waiting for smtpOutgoing (deferred)', 1, '421 4.7.0 try again']]);
    const shown = (await st.admin('queue.show', { id })) as { recipients: Array<Record<string, unknown>> };
    assert.deepEqual(shown.recipients.map((x) => [x.to, x.status, x.detail]), [['x@far.example', 'delivered', '250 ok'], ['y@far.example', 'relay', '421 4.7.0 try again']]);
    assert.equal(await q.makeDueFor('far.example'), 1);
    const [again] = await q.claimRelay(10, 60_000, 0);
    assert.deepEqual(again!.rcpts, [{ index: 1, to: 'y@far.example' }]);
    await assert.rejects(q.relayOutcome([{ id, token: again!.token, outcomes: [{ index: 1, status: 'nope' as 'temp', why: '' }] }], policy), (e) => isPosternError(e) && e.code === 'STORE_BAD_ARGUMENT');
    const [done] = await q.relayOutcome([{ id, token: again!.token, outcomes: [{ index: 1, status: 'delivered', why: '250 ok' }] }], policy);
    assert.deepEqual(done, { id, status: 'done', attempts: 1 });
    assert.deepEqual(await st.admin('queue.list', {}), []);
  } finally {
    await st.stop();
  }
});
