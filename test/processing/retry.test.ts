/**
 * test/processing/retry.test.ts: a delivery that fails temporarily (the mailbox is full) is
 * retried on the schedule (schedInterval 1 s here, doubling), given up after maxRetryCount
 * retries, and inspected and steered with `postern ctl queue list|show|retry|delete` over the
 * real control socket.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runCtl } from '../../src/cli/ctl.ts';
import { cleanup, messageCount, queueList, rawSmtp, startSmtpServer, waitMessages, type TestServer } from '../smtp/helpers.ts';
import { waitFor } from '../helpers.ts';

let t: TestServer;

before(async () => {
  t = await startSmtpServer({ processing: 'schedInterval = 1  maxSchedInterval = 2  maxRetryCount = 3  deliveryThreads = 2', controlSocket: true });
  await t.server.admin('account.add', { address: 'full@example.org', password: 'pw', quotaMessages: 1 });
});
after(async () => {
  await t.stop().catch(() => {});
  cleanup(t.dir);
});

async function ctl(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCtl(['--data-dir', t.dir, ...args], { out: (s) => void out.push(s), err: (s) => void err.push(s) });
  return { code, out, err };
}

async function send(subject: string): Promise<string> {
  const c = await rawSmtp(t.port);
  c.write(`EHLO r.test\r\nMAIL FROM:<s@remote.example>\r\nRCPT TO:<full@example.org>\r\nDATA\r\n`);
  for (let i = 0; i < 3; i++) assert.equal((await c.reply()).code, 250);
  assert.equal((await c.reply()).code, 354);
  c.write(`Subject: ${subject}\r\n\r\nx\r\n.\r\nQUIT\r\n`);
  const r = await c.reply();
  assert.match(r.text, /^250 2\.0\.0 Ok: queued as /);
  c.close();
  return r.text.split(' ').pop()!;
}

const entry = async (id: string) => (await queueList(t.server)).find((q) => q.id === id);

test('a full mailbox: deferred, retried after 1 s, 2 s, then 2 s (maxSchedInterval), inspected with ctl, given up after maxRetryCount', async () => {
  await send('fits');
  await waitMessages(t.server, 'full@example.org', 1);
  const id = await send('over quota');
  const first = await waitFor(async () => {
    const q = await entry(id);
    return q?.attempts === 1 ? q : undefined;
  });
  assert.equal(first.status, 'deferred');
  assert.match(String(first.lastError), /^4\.2\.2 mailbox full/);
  const wait1 = Date.parse(String(first.nextAttempt)) - Date.now();
  assert.ok(wait1 > 500 && wait1 <= 1000, `first retry in ${wait1} ms`);

  const list = await ctl('queue', 'list');
  assert.equal(list.code, 0, list.err.join('\n'));
  assert.equal(list.out.length, 1);
  assert.match(list.out[0]!, new RegExp(`^${id}  \\d+ bytes  from s@remote\\.example  1 rcpt  deferred  attempts 1  next \\S+  last error: 4\\.2\\.2 mailbox full`));
  const show = await ctl('queue', 'show', id);
  assert.equal(show.code, 0);
  assert.ok(show.out.includes('  full@example.org  pending'), show.out.join('\n'));
  assert.ok(show.out.includes('  Subject: over quota'));
  assert.ok(show.out.some((l) => /^client: r\.test \[127\.0\.0\.1\] with ESMTP/.test(l)));

  const second = await waitFor(async () => {
    const q = await entry(id);
    return q?.attempts === 2 ? q : undefined;
  }, 5000);
  const wait2 = Date.parse(String(second.nextAttempt)) - Date.now();
  assert.ok(wait2 > 1500 && wait2 <= 2000, `second retry in ${wait2} ms: the interval doubled`);

  const retried = await ctl('queue', 'retry', id);
  assert.deepEqual([retried.code, retried.out], [0, [`message ${id} is due now`]]);
  const third = await waitFor(async () => {
    const q = await entry(id);
    return q?.attempts === 3 ? q : undefined;
  }, 3000);
  const wait3 = Date.parse(String(third.nextAttempt)) - Date.now();
  assert.ok(wait3 > 1500 && wait3 <= 2000, `third retry in ${wait3} ms: capped at maxSchedInterval, not 4 s`);
  assert.equal((await ctl('queue', 'retry', id)).code, 0);
  await waitFor(async () => (await entry(id)) === undefined, 3000, 'given up after the 4th attempt (3 retries)');
  const left = (await ctl('queue', 'list')).out;
  assert.equal(left.length, 1, left.join('\n'));
  assert.match(left[0]!, /^(\S+)  \d+ bytes  from <>  1 rcpt  waiting for smtpOutgoing/, 'only its bounce (a DSN to the remote sender) is left');
  assert.equal((await ctl('queue', 'delete', left[0]!.split(' ')[0]!)).code, 0);
  assert.deepEqual((await ctl('queue', 'list')).out, ['(queue empty)']);
  assert.equal(await messageCount(t.server, 'full@example.org'), 1);
});

test('deliveryThreads: the processing thread runs that many delivery lanes', () => {
  const threads = t.server.status().tree.children?.find((c) => c.id === 'services')?.children?.find((c) => c.id === 'processing');
  const lanes = JSON.stringify(threads).match(/"kind":"delivery"[^}]*"lanes":(\d+)/);
  assert.ok(lanes !== null, JSON.stringify(threads).slice(0, 400));
  assert.equal(Number(lanes[1]), 2);
});

test('ctl queue delete takes a message out undelivered; unknown ids and bad usage are errors', async () => {
  const id = await send('to delete');
  await waitFor(async () => (await entry(id))?.attempts === 1);
  const del = await ctl('queue', 'delete', id);
  assert.deepEqual([del.code, del.out], [0, [`message ${id} deleted from the queue`]]);
  assert.equal(await entry(id), undefined);
  const gone = await ctl('queue', 'show', id);
  assert.equal(gone.code, 1);
  assert.match(gone.err[0]!, /\[QUEUE_NO_SUCH_ENTRY\]$/);
  const json = await ctl('--json', 'queue', 'retry', id);
  assert.equal(JSON.parse(json.out[0]!).error.code, 'QUEUE_NO_SUCH_ENTRY');
  assert.equal((await ctl('queue', 'show')).code, 2);
  assert.equal((await ctl('queue', 'flush')).code, 2);
  // the signal instead of a pause: a marker to the same full mailbox is tried twice, so the
  // scheduler has passed the time the deleted message was due again; only the marker was tried
  const { deferrals } = (await t.server.admin('queue.stats', {})) as { deferrals: number };
  const marker = await send('marker');
  await waitFor(async () => (await entry(marker))?.attempts === 2, 10_000, 'the marker tried twice');
  const after = (await t.server.admin('queue.stats', {})) as { deferrals: number };
  assert.equal(after.deferrals - deferrals, 2, 'the deleted message was not tried again');
  assert.equal(await messageCount(t.server, 'full@example.org'), 1, 'the deleted message was never delivered');
  assert.equal((await ctl('queue', 'delete', marker)).code, 0);
});
