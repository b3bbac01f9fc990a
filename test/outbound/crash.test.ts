/**
 * test/outbound/crash.test.ts: kill -9 of Postern in the middle of relaying a batch, end to end.
 * Postern runs as a child process (bench/lib/server.ts: smtpIncoming with relayNetworks,
 * processing, smtpOutgoing with a smart-host route) and relays to a Python aiosmtpd receiver
 * (test/smtpOutgoing/receiver.py, on 127.0.0.73) that records each message it accepted. 200
 * messages, each with its own Message-ID, are submitted over 4 SMTP sessions and all answered
 * 250; once the receiver has some of them (but not all) the server is SIGKILLed, then started
 * again on the same data directory. Every message reaches the receiver at least once, and none
 * is lost. A message may arrive twice when the kill lands (a) in the window the README names,
 * between the receiver's 250 and our durable record of it, or (b) during its DATA: this
 * receiver keeps a message whose client vanished before the 250 (aiosmtpd runs the handler to
 * its end). With `maxConnectionsPerDomain` = 4 connections, each holds at most one message in
 * each case, so the duplicates are counted and bounded by 2 per connection. Afterwards the
 * queue is empty.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startServer } from '../../actors/server.ts';
import { startPosternProcess, type PosternProcess } from '../../bench/lib/server.ts';
import { startReceiver } from '../smtpOutgoing/helpers.ts';
import { freePort, tmpDir, waitFor } from '../helpers.ts';

const TOTAL = 200;
const SESSIONS = 4;
const CONNS = 4;
const RX_HOST = '127.0.0.73';

function config(rxPort: number): string {
  return `
Server {
    services = (smtpIncoming processing smtpOutgoing)
    primaryDomain = "origin.test"
    hostname = "out.origin.test"
    statusListener = 127.0.0.1:0
    logLevel = ${process.env.CRASH_LOG ?? 'error'}
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) relayNetworks = ( 127.0.0.0/8 ) mailAuth = no }
    smtpOutgoing = {
        minConnThreads = 1
        maxConnThreads = 1
        mtaSts = no
        connectTimeout = 5
        rwTimeout = 20
        maxConnectionsPerDomain = ${CONNS}
        routes = ( { action = smartHost smartHost = { host = "${RX_HOST}" port = ${rxPort} startTls = no } } )
    }
}`;
}

async function submitAll(port: number, ids: string[]): Promise<void> {
  const c = new SMTPConnection({ host: '127.0.0.1', port, ignoreTLS: true, logger: false });
  await new Promise<void>((res, rej) => { c.once('error', rej); c.connect(() => res()); });
  for (const id of ids) {
    const msg = ['From: <sender@origin.test>', 'To: <rcpt@far.test>', `Subject: batch ${id}`, `Message-ID: <${id}@origin.test>`, '', `body of ${id}`, ...Array.from({ length: 20 }, () => 'x'.repeat(98)), ''].join('\r\n');
    await new Promise<void>((res, rej) => c.send({ from: 'sender@origin.test', to: ['rcpt@far.test'] }, msg, (e) => (e ? rej(e) : res())));
  }
  c.quit();
}

const messageId = (data: string): string | null => /^Message-ID:\s*<([^>]+)>/im.exec(data)?.[1] ?? null;

test('kill -9 mid-batch: after the restart every acknowledged message reaches the receiver; duplicates only within the window', async (t) => {
  const rxPort = await freePort();
  // each DATA takes 150 ms (4 connections: ~26 messages/s), so that the batch is still being
  // relayed when the submissions are done and the kill lands
  const rx = await startReceiver({ host: RX_HOST, port: rxPort, dataDelay: 0.15 });
  const dataDir = tmpDir('postern-outbound-crash-');
  let p: PosternProcess | null = null;
  const log: string[] = [];
  t.after(() => { if (process.env.CRASH_LOG !== undefined) console.error(log.join('\n')); });
  try {
    p = await startPosternProcess({ configText: config(rxPort), dataDir, onLine: (l) => log.push(l) });
    const ids = Array.from({ length: TOTAL }, (_, i) => `crash-${i}`);
    const port = p.port('smtpIncoming');
    await Promise.all(Array.from({ length: SESSIONS }, (_, s) => submitAll(port, ids.filter((_, i) => i % SESSIONS === s))));
    // every message was answered 250 (send resolved for each)
    await rx.waitMessages(10, 60_000);
    process.kill(p.pid, 'SIGKILL');
    await p.stop(); // reaps the killed child
    p = null;
    const atKill = rx.messages.length;
    t.diagnostic(`receiver had ${atKill} of ${TOTAL} when the server was killed`);
    assert.ok(atKill < TOTAL, `the kill landed after the whole batch had arrived (${atKill}); it must be mid-batch`);

    p = await startPosternProcess({ configText: config(rxPort), dataDir, onLine: (l) => log.push(l) });
    const seen = (): Set<string> => new Set(rx.messages.map((m) => messageId(m.data)).filter((x): x is string => x !== null));
    await waitFor(() => seen().size >= TOTAL, 90_000, `all ${TOTAL} Message-IDs at the receiver`);
    await p.stop();
    p = null;

    const counts = new Map<string, number>();
    for (const m of rx.messages) {
      const id = messageId(m.data);
      assert.ok(id !== null, 'every received message has its Message-ID');
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const lost = ids.filter((id) => !counts.has(`${id}@origin.test`));
    assert.deepEqual(lost, [], 'no acknowledged message is lost');
    const dups = [...counts.values()].filter((n) => n > 1).reduce((a, n) => a + n - 1, 0);
    t.diagnostic(`duplicates: ${dups}`);
    assert.ok([...counts.values()].every((n) => n <= 2), 'no message sent more than twice');
    assert.ok(dups <= 2 * CONNS, `duplicates (${dups}) beyond the window: at most ${2 * CONNS} with ${CONNS} connections`);

    // the queue is empty: open the data directory once more (no sending service) and list it
    const s = await startServer({ configText: config(rxPort).replace('services = (smtpIncoming processing smtpOutgoing)', 'services = (smtpIncoming)'), dataDir, statusPort: 0, controlSocket: false });
    try {
      assert.deepEqual(await s.admin('queue.list', {}), [], 'the queue is empty');
    } finally {
      await s.stop();
    }
  } finally {
    if (p !== null) {
      process.kill(p.pid, 'SIGKILL');
      await p.stop();
    }
    await rx.stop();
  }
});
