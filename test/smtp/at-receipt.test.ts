/**
 * test/smtp/at-receipt.test.ts: SMTP's delivery at receipt on a real server (smtpIncoming +
 * processing), spoken to on a raw socket: local mail is in the mailbox when the 250 comes, with
 * the header lines a message forced through the queue gets (processing stopped by the operator:
 * it waits in the queue, and is delivered by processing once it runs again); a message with a
 * remote recipient goes through the queue; so does one asking NOTIFY=SUCCESS.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, messageCount, queueList, rawSmtp, readInbox, startSmtpServer, waitMessages, type TestServer } from './helpers.ts';
import { waitFor } from '../helpers.ts';

let t: TestServer;
const ANN = 'ann@example.org';

before(async () => {
  t = await startSmtpServer({ smtp: 'relayNetworks = (127.0.0.1)' });
  await t.server.admin('account.add', { address: ANN, password: 'pw' });
  await t.server.admin('account.add', { address: 'sender@example.org', password: 'pw' });
});
after(async () => {
  await t.stop().catch(() => {});
  cleanup(t.dir);
});

/** One message; resolves with its id once the 250 has come. */
async function send(subject: string, rcpts: string[], rcptParams = ''): Promise<string> {
  const c = await rawSmtp(t.port);
  c.write(`EHLO r.test\r\nMAIL FROM:<sender@example.org>\r\n${rcpts.map((r) => `RCPT TO:<${r}>${rcptParams}\r\n`).join('')}DATA\r\n`);
  for (let i = 0; i < 2 + rcpts.length; i++) assert.equal((await c.reply()).code, 250);
  assert.equal((await c.reply()).code, 354);
  c.write(`Message-ID: <${subject}@r.test>\r\nSubject: ${subject}\r\n\r\nthe text of ${subject}\r\n.\r\n`);
  const r = await c.reply();
  assert.match(r.text, /^250 2\.0\.0 Ok: queued as [0-9A-Z]+$/);
  c.write('QUIT\r\n');
  c.close();
  return r.text.split(' ').pop()!;
}

/** A copy with its queue id and its date made neutral. */
const neutral = (copy: string, id: string): string => copy.replace(id, 'ID').replace(/; [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000/, '; DATE');

test('local mail: in the mailbox when the 250 comes; forced through the queue (processing stopped), the same header lines', async () => {
  await send('warm-up', [ANN]); // processing's first claims may come after this one: it may be queued
  await waitMessages(t.server, ANN, 1);
  await waitFor(async () => (await queueList(t.server)).length === 0, 10_000, 'the queue empty');

  const fast = await send('fast', [ANN]);
  assert.equal(await messageCount(t.server, ANN), 2, 'delivered when the 250 came');
  assert.deepEqual(await queueList(t.server), [], 'never in the queue');

  await t.server.stopService('processing');
  const queued = await send('queued', [ANN]);
  const [entry] = await queueList(t.server);
  assert.deepEqual({ id: entry?.id, status: entry?.status }, { id: queued, status: 'queued' }, 'waits in the queue while processing is stopped');
  assert.equal(await messageCount(t.server, ANN), 2);
  await t.server.startService('processing');
  await waitMessages(t.server, ANN, 3);
  await waitFor(async () => (await queueList(t.server)).length === 0, 10_000, 'the queue empty');

  await t.stop();
  const inbox = await readInbox(t.dir, ANN);
  const a = inbox.find((m) => m.includes('Subject: fast'))!;
  const b = inbox.find((m) => m.includes('Subject: queued'))!;
  assert.match(a, new RegExp(`^Return-Path: <sender@example\\.org>\\r\\nReceived: from r\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby \\S+ \\(Postern\\) with ESMTP id ${fast}\\r\\n\\tfor <${ANN}>; `));
  assert.equal(neutral(a, fast), neutral(b, queued).replaceAll('queued', 'fast'), 'the same lines but for the id and the time');
  t = await startSmtpServer({ dir: t.dir, smtp: 'relayNetworks = (127.0.0.1)' });
});

test('a remote recipient: the message goes through the queue (the local copy by processing, the remote one waits for smtpOutgoing)', async () => {
  await waitFor(async () => (await queueList(t.server)).length === 0, 10_000, 'the queue empty');
  const before = await messageCount(t.server, ANN);
  const id = await send('mixed', [ANN, 'carl@remote.example']);
  await waitMessages(t.server, ANN, before + 1);
  const entry = await waitFor(async () => (await queueList(t.server)).find((q) => q.id === id && q.status !== 'queued' && q.status !== 'delivering'), 10_000, 'the entry waiting for its relay');
  assert.match(String(entry.status), /relay|wait/);
});

test('NOTIFY=SUCCESS: through the queue, which sends the success DSN', async () => {
  const before = await messageCount(t.server, 'sender@example.org');
  await send('notify', [ANN], ' NOTIFY=SUCCESS');
  await waitMessages(t.server, 'sender@example.org', before + 1);
});
