/**
 * test/review/postmaster.test.ts: `<postmaster>` stays deliverable (RFC 5321 §4.5.1; issue 11
 * item 8, review): the primary domain's postmaster, which receives `<postmaster>` and the mail
 * of every local domain without its own, cannot be removed (`account remove` is refused with
 * STORE_NOT_ALLOWED and changes nothing), while another domain's postmaster can, its mail then
 * going to the primary one. Over a real SMTP socket; the forms checked ignore case.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, rawSmtp, startSmtpServer, type TestServer } from '../smtp/helpers.ts';

let t: TestServer;
before(async () => {
  t = await startSmtpServer();
  await t.server.admin('domain.add', { name: 'second.example' });
});
after(async () => {
  await t.stop();
  cleanup(t.dir);
});

async function rcpt(...to: string[]): Promise<number[]> {
  const c = await rawSmtp(t.port);
  assert.equal((await c.cmd('EHLO client.test')).code, 250);
  assert.equal((await c.cmd('MAIL FROM:<s@remote.example>')).code, 250);
  const codes: number[] = [];
  for (const r of to) codes.push((await c.cmd(`RCPT TO:${r}`)).code);
  assert.equal((await c.cmd('QUIT')).code, 221);
  return codes;
}

test("the primary domain's postmaster cannot be removed; another domain's can, and both forms stay deliverable", async () => {
  await assert.rejects(t.server.admin('account.remove', { address: 'postmaster@example.org' }), (e: { code?: string }) => e.code === 'STORE_NOT_ALLOWED');
  await assert.rejects(t.server.admin('account.remove', { address: 'PostMaster@Example.ORG' }), (e: { code?: string }) => e.code === 'STORE_NOT_ALLOWED');
  const list = (await t.server.admin('account.list', {})) as Array<{ address: string }>;
  assert.ok(list.some((a) => a.address === 'postmaster@example.org'), 'still there');
  await t.server.admin('account.remove', { address: 'postmaster@second.example' });
  assert.deepEqual(await rcpt('<Postmaster>', '<postmaster@EXAMPLE.org>', '<postmaster@second.example>'), [250, 250, 250]);
});
