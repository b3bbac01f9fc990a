/**
 * test/review/bdat-rate.test.ts: minDataRate holds across the chunks of one BDAT transaction
 * (session/line-session.ts `slowTransaction`), over real sockets (issue 11 item 4, review):
 * each chunk's own rate guard passes a client that sends a tiny chunk now and then (`BDAT 1`
 * and one byte, or `BDAT 0`, each answered at once), so the message data of one transaction
 * are also judged on average, one dataRateWindow of grace given; the session is cut with
 * `421 4.4.2 … message data too slow` and counted as `idle_timeout`. A client sending its
 * chunks at a normal pace, with short stalls, and a new transaction after an idle pause, pass.
 * Every loop stops by itself (a chunk count cap).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, rawSmtp, startSmtpServer, type RawSmtp, type TestServer } from '../smtp/helpers.ts';
import { waitFor } from '../helpers.ts';
import { setTimeout as sleep } from 'node:timers/promises';

let t: TestServer;
before(async () => {
  t = await startSmtpServer({ smtp: 'commandTimeout = 2 minDataRate = 1 dataRateWindow = 2' });
  await t.server.admin('account.add', { address: 'ann@example.org', password: 'ann-pw-1' });
});
after(async () => {
  await t.stop();
  cleanup(t.dir);
});

const idleTimeouts = (): number => t.server.status().services.find((s) => s.name === 'smtpIncoming')!.listeners[0]!.refused.idle_timeout ?? 0;

async function envelope(c: RawSmtp): Promise<void> {
  assert.equal((await c.cmd('EHLO client.test')).code, 250);
  assert.equal((await c.cmd('MAIL FROM:<s@remote.example>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<ann@example.org>')).code, 250);
}

/** Send `chunk()` every `gapMs` (each answered) until the server cuts the session or `max` chunks. */
async function dribble(c: RawSmtp, chunk: () => string, gapMs: number, max: number): Promise<{ cut: string | null; ms: number }> {
  const t0 = Date.now();
  for (let i = 0; i < max; i++) {
    c.write(chunk());
    const r = await c.reply(5000);
    if (r.code !== 250) return { cut: r.text, ms: Date.now() - t0 };
    await sleep(gapMs);
  }
  return { cut: null, ms: Date.now() - t0 };
}

for (const [name, first, chunk] of [
  ['one-byte chunks', 'BDAT 1\r\nx', () => 'BDAT 1\r\nx'],
  ['empty chunks after a first byte', 'BDAT 1\r\nx', () => 'BDAT 0\r\n'],
  ['NOOP between chunks', 'BDAT 1\r\nx', () => 'NOOP\r\n'],
] as const) {
  test(`BDAT: ${name}, each answered, are cut at minDataRate over the transaction`, { timeout: 30_000 }, async () => {
    const before = idleTimeouts();
    const c = await rawSmtp(t.port);
    await envelope(c);
    c.write(first);
    assert.equal((await c.reply()).code, 250);
    const { cut, ms } = await dribble(c, chunk, 400, 40); // 16 s at most; 2 KB over 2 s are needed
    assert.match(cut ?? 'not cut', /^421 4\.4\.2 .*message data too slow/);
    assert.ok(ms < 10_000, `cut after ${ms} ms (window 2 s, one window of grace)`);
    await c.closed;
    await waitFor(() => idleTimeouts() > before, 5000, 'counted as idle_timeout');
  });
}

test('BDAT: chunks at a normal pace with short stalls pass, and so does a new transaction after an idle pause', { timeout: 30_000 }, async () => {
  const c = await rawSmtp(t.port);
  await envelope(c);
  const part = 'y'.repeat(4094) + '\r\n';
  for (let i = 0; i < 3; i++) {
    c.write(`BDAT ${part.length}\r\n${part}`);
    assert.equal((await c.reply()).code, 250);
    await sleep(1200);
  }
  c.write(`BDAT ${part.length} LAST\r\n${part}`);
  assert.match((await c.reply()).text, /^250 2\.0\.0 Ok: queued as /);
  await sleep(2500); // idle between transactions: not message data
  assert.equal((await c.cmd('MAIL FROM:<s@remote.example>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<ann@example.org>')).code, 250);
  c.write(`BDAT ${part.length} LAST\r\n${part}`);
  assert.match((await c.reply()).text, /^250 2\.0\.0 Ok: queued as /);
  assert.equal((await c.cmd('QUIT')).code, 221);
});
