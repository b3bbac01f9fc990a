/**
 * test/session/batch.test.ts: the session layer's one write batch (session/writer.ts, used by
 * session/line-session.ts) seen from a raw client over loopback: the responses to pipelined
 * POP3 RETRs (bodies and all) and the replies to pipelined SMTP commands (RCPT lookups that
 * wait for the store among them) each leave in one write, so the client receives each group in
 * one `data` event; a pipelined group ended by QUIT, or by the client's half-close, still gets
 * every reply. No timing: the client only waits for the bytes it expects.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { waitFor } from '../helpers.ts';
import { message, startPop3, type Pop3Env } from '../pop3/helpers.ts';
import { startSmtpServer, cleanup, type TestServer } from '../smtp/helpers.ts';

/** A raw client that keeps each `data` event apart. */
async function raw(port: number, greeting: string): Promise<{ s: net.Socket; events: Buffer[]; text: () => string; until: (end: string) => Promise<void> }> {
  const s = net.connect(port, '127.0.0.1');
  const events: Buffer[] = [];
  s.on('data', (d: Buffer) => events.push(d));
  await once(s, 'connect');
  const text = (): string => Buffer.concat(events).toString('latin1');
  const until = async (end: string): Promise<void> => {
    await waitFor(() => (text().endsWith(end) ? true : null), 10_000, JSON.stringify(end));
  };
  await until(greeting);
  return { s, events, text, until };
}

let pop: Pop3Env;
let smtp: TestServer;
before(async () => {
  [pop, smtp] = await Promise.all([startPop3(), startSmtpServer()]);
  for (const u of ['ann', 'bob']) await smtp.server.admin('account.add', { address: `${u}@example.org`, password: `${u}-pw` });
  await pop.addUser('batch@example.org', 'pw');
  for (let i = 1; i <= 5; i++) await pop.deliver('batch@example.org', message(`m${i}`, `.dot line ${i}\r\nbody ${i}\r\n`));
});
after(async () => {
  await Promise.all([pop?.stop(), smtp?.stop()]);
  if (smtp !== undefined) cleanup(smtp.dir);
});

test('POP3: the responses to pipelined RETRs leave in one write (one data event), whole and in order', async () => {
  const c = await raw(pop.port, '\r\n');
  c.s.write('USER batch@example.org\r\nPASS pw\r\n');
  await waitFor(() => (/\r\n\+OK logged in[^\r]*\r\n$/.test(c.text()) ? true : null), 10_000, 'the login');
  const before = c.events.length;
  const from = c.text().length;
  c.s.write('RETR 1\r\nRETR 2\r\nRETR 3\r\nRETR 4\r\nRETR 5\r\nNOOP\r\n');
  await c.until('.\r\n+OK\r\n');
  const got = c.text().slice(from);
  for (let i = 1; i <= 5; i++) assert.ok(got.includes(`Subject: m${i}\r\n\r\n..dot line ${i}\r\nbody ${i}\r\n.\r\n`), `RETR ${i} whole, dot-stuffed`);
  assert.equal(got.split('+OK ').length - 1, 5, 'five RETR responses');
  assert.equal(c.events.length - before, 1, `one write for the group: ${c.events.slice(before).map((e) => e.length).join(', ')} bytes`);
  c.s.destroy();
});

test('POP3: a pipelined group ended by QUIT, then the client half-closes: every reply arrives, then the close', async () => {
  const c = await raw(pop.port, '\r\n');
  c.s.write('USER batch@example.org\r\nPASS pw\r\nRETR 1\r\nRETR 2\r\nQUIT\r\n');
  c.s.end();
  await once(c.s, 'close');
  const got = c.text();
  assert.ok(got.includes('Subject: m2'), 'RETR 2 answered');
  assert.match(got, /\+OK Postern POP3 server signing off[^\r]*\r\n$/);
});

test('SMTP: the replies to a pipelined group (RCPTs waiting on the store among them) leave in one write', async () => {
  const c = await raw(smtp.port, '\r\n');
  c.s.write('EHLO client.example\r\n');
  await waitFor(() => (/\r\n250 [^\r]*\r\n$/.test(c.text()) ? true : null), 10_000, 'the EHLO reply');
  const before = c.events.length;
  const from = c.text().length;
  c.s.write('MAIL FROM:<x@example.net>\r\nRCPT TO:<ann@example.org>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRSET\r\nNOOP\r\n');
  await waitFor(() => (c.text().slice(from).split('\r\n').length - 1 >= 6 ? true : null), 10_000, 'six replies');
  const lines = c.text().slice(from).split('\r\n').slice(0, -1);
  assert.equal(lines.length, 6, lines.join(' | '));
  assert.match(lines[0]!, /^250 /);
  assert.match(lines[1]!, /^250 /);
  assert.match(lines[2]!, /^250 /);
  assert.match(lines[3]!, /^550 /);
  assert.match(lines[4]!, /^250 /);
  assert.match(lines[5]!, /^250 /);
  assert.equal(c.events.length - before, 1, `one write for the group: ${c.events.slice(before).map((e) => e.length).join(', ')} bytes`);
  c.s.write('QUIT\r\n');
  c.s.end();
  await once(c.s, 'close');
  assert.match(c.text(), /\r\n221 [^\r]*\r\n$/, 'QUIT answered before the close');
});
