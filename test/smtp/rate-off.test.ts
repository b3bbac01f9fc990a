/**
 * test/smtp/rate-off.test.ts: `minDataRate = 0` turns the data-rate guard off (it resolves to
 * OFF, config/options.ts), over a real socket: message data trickled far below 1 KB/s across
 * several `dataRateWindow`s is accepted; the same trickle against `minDataRate = 1` is cut with
 * 421 4.4.2. Each trickle is bounded (a fixed number of bytes, stopped when the server closes).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rawSmtp, startSmtpServer, type RawSmtp, type TestServer } from './helpers.ts';

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function server(rate: number): Promise<TestServer> {
  const t = await startSmtpServer({ smtp: `minDataRate = ${rate} dataRateWindow = 1 commandTimeout = 30` });
  servers.push(t);
  await t.server.admin('account.add', { address: 'ann@example.org', password: 'pw-ann-1' });
  return t;
}

/** DATA, then 14 bytes of header and body one every 250 ms (~3.5 s, 4 B/s), then the end. */
async function trickle(c: RawSmtp): Promise<{ code: number; text: string }> {
  assert.equal((await c.cmd('EHLO client.example')).code, 250);
  assert.equal((await c.cmd('MAIL FROM:<bob@remote.example>')).code, 250);
  assert.equal((await c.cmd('RCPT TO:<ann@example.org>')).code, 250);
  assert.equal((await c.cmd('DATA')).code, 354);
  let closed = false;
  void c.closed.then(() => (closed = true));
  const pending = c.reply(15_000);
  for (const ch of 'Subject: s\r\n\r\nx') {
    if (closed) break;
    c.write(ch);
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!closed) c.write('\r\n.\r\n');
  return pending;
}

test('minDataRate = 0: the rate guard is OFF, a slow message is accepted', async () => {
  const t = await server(0);
  const c = await rawSmtp(t.port);
  const r = await trickle(c);
  assert.equal(r.code, 250, r.text);
  c.close();
});

test('minDataRate = 1: the same trickle is cut with 421 4.4.2', async () => {
  const t = await server(1);
  const c = await rawSmtp(t.port);
  const r = await trickle(c);
  assert.equal(r.code, 421, r.text);
  assert.match(r.text, /4\.4\.2/);
  c.close();
});
