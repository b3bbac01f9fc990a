/**
 * test/store/push.test.ts: a session in a connection thread subscribes to a mailbox over the
 * store's MessagePort (test/fixtures/store-watch.ts) and is pushed a delivery that came in by
 * SMTP (Python smtplib → smtpIncoming → queue → processing → mailbox). The event arrives on
 * its own, carries the new UID and a modseq above the subscription's start, and is never
 * ahead of the data (the UID is listed when the session asks right after). The latency from
 * the store's durable write to the session (the event's `at` to its arrival) is measured and
 * reported, not asserted (a loaded 2-core machine). Ending the session ends the subscription.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../actors/server.ts';
import { connectLines, tmpDir, waitFor } from '../helpers.ts';
import { python } from '../smtp/helpers.ts';
import { TEST_WATCH } from '../fixtures/test-services.ts';


function ok(line: string): string {
  if (!line.startsWith('+OK')) throw new Error(`watch: ${line}`);
  return line.slice(3).trim();
}

test('subscription: an SMTP delivery is pushed to a watching session, after it is durable', { timeout: 120_000 }, async (t) => {
  const configText = `
Server {
    services = (smtpIncoming processing testWatch)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) }
    testWatch = { listeners = ( { address = 127.0.0.1:0 } ) }
}`;
  const server = await startServer({ configText, dataDir: tmpDir('postern-push-'), statusPort: 0, controlSocket: false, testServices: [TEST_WATCH] });
  try {
    await server.admin('account.add', { address: 'ann@example.org', password: 'ann-pw' });
    const w = await connectLines(server.port('testWatch'));
    await w.read();
    const start = JSON.parse(ok(await w.cmd('WATCH ann@example.org INBOX'))) as { uidNext: number; highestModseq: number };
    const latencies: number[] = [];
    let modseq = start.highestModseq;
    for (let i = 0; i < 5; i++) {
      const r = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${server.port('smtpIncoming')}, timeout=10)
s.sendmail('sender@example.net', ['ann@example.org'], 'From: sender@example.net\\r\\nTo: ann@example.org\\r\\nSubject: push ${i}\\r\\n\\r\\nHello.\\r\\n')
s.quit()
print('sent')`);
      assert.equal(r.code, 0, r.stderr);
      const line = await w.read(30_000); // nothing asked: only a pushed event can come
      assert.ok(line.startsWith('* '), line);
      const e = JSON.parse(line.slice(2)) as { kind: string; folder: string; uid: number; modseq: number; size: number; at: number; recv: number };
      assert.equal(e.kind, 'append');
      assert.equal(e.folder, 'INBOX');
      assert.equal(e.uid, start.uidNext + i);
      assert.ok(e.modseq > modseq, 'modseqs rise');
      modseq = e.modseq;
      // causality: the pushed message is already readable
      const uids = ok(await w.cmd('UIDS ann@example.org')).split(' ').map(Number);
      assert.ok(uids.includes(e.uid), `uid ${e.uid} listed in ${uids.join(',')}`);
      latencies.push(e.recv - e.at);
    }
    latencies.sort((a, b) => a - b);
    const fmt = (x: number): string => `${x.toFixed(2)} ms`;
    t.diagnostic(`push latency, durable write → session thread: min ${fmt(latencies[0]!)}, median ${fmt(latencies[2]!)}, max ${fmt(latencies[4]!)}`);
    console.log(`# push latency (durable write → connection thread): ${latencies.map(fmt).join(', ')}`);
    // the clocks of two threads agree (both are the process's wall clock): no negative latency
    assert.ok(latencies[0]! > -1, `latency ${latencies[0]}`);

    // ending the session ends its subscription in the store
    const subs = (): number => Number((server.status().tree.children?.find((c) => c.id === 'store')?.extra as { subscriptions?: number } | undefined)?.subscriptions ?? -1);
    await waitFor(() => subs() === 1, 10_000, 'the subscription in the store');
    w.close();
    await waitFor(() => subs() === 0, 10_000, 'the subscription closed with its session');
  } finally {
    await server.stop();
  }
});
