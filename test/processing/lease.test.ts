/**
 * test/processing/lease.test.ts: a claim's lease through the store thread's queue verbs
 * (src/store/protocol.ts, over `QueueClient`): `leaseMs = 0` is a lease of nothing (the entry
 * may be claimed again at once), not the 60 s default a `||` used to make of it; a missing
 * lease still takes the default.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreThread } from '../../actors/store-thread.ts';
import { StoreClient } from '../../src/store/client.ts';
import { QueueClient } from '../../src/store/queue-client.ts';
import type { QueueEnvelope } from '../../src/store/queue-record.ts';
import { tmpData } from '../store/helpers.ts';

const env = (): QueueEnvelope => ({ from: 'bob@remote.example', rcpts: [{ to: 'ann@example.org', account: 'ann@example.org' }], receivedAt: Date.now(), helo: 'c.example', ip: '127.0.0.1', by: 'mx.test', with: 'ESMTP', tls: null, auth: null, body: '7BIT', utf8: false });

test('claim with leaseMs = 0 leases nothing; the default lease still holds the entry', { timeout: 60_000 }, async () => {
  const st = await StoreThread.start({ dataDir: tmpData(), logLevel: 'silent', infoIntervalMs: 100 });
  const c = new StoreClient(st.connect('test'));
  try {
    const q = new QueueClient(c);
    const { id } = await q.enqueue(env(), Buffer.from('Subject: x\r\n\r\nbody\r\n'));
    const [a] = await q.claim(10, 0, 0);
    assert.equal(a?.id, id);
    const [b] = await q.claim(10, 0, 0);
    assert.equal(b?.id, id, 'a zero lease does not hold the entry');
    assert.notEqual(b!.token, a!.token);
    const [d] = await q.claim(10, Number.NaN, 0);
    assert.equal(d?.id, id);
    assert.deepEqual(await q.claim(10, 0, 0), [], 'a claim without a valid lease takes the 60 s default');
  } finally {
    c.close();
    await st.stop();
  }
});
