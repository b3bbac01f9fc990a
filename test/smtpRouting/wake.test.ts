/**
 * test/smtpRouting/wake.test.ts: a back end that comes back gets its waiting mail at once. The
 * front end's retry interval is long (schedInterval 120 s); with back2 down a message for a
 * back2 user fails once and waits; back2 is restarted and a second message for it is accepted
 * by back2 at its first attempt, which makes the first one due now (smtpOutgoing `makeDueFor`
 * with the back end's `hop:` key): both arrive long before the 120 s retry.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, FRONT_IP, type Cluster } from '../cluster/topology.ts';
import { popRetrAll, smtpSend } from '../cluster/clients.ts';
import { waitFor } from '../helpers.ts';

const RETRY_S = 120;
let c: Cluster;

before(async () => {
  c = await startCluster({ ldap: false, schedInterval: RETRY_S });
});

after(async () => {
  await c?.stop();
});

test('a back end accepting again makes the mail waiting for it due at once', async () => {
  const back2 = c.back[1];
  const bob = c.users.find((u) => u.backend === back2.ip)!;
  await back2.kill();
  const first = await smtpSend(FRONT_IP, c.frontPorts.smtp, 'sender@outside.test', [bob.mail], 'Subject: first\r\nX-Id: w-first\r\n\r\nx\r\n');
  assert.equal(first.ok, true, JSON.stringify(first));
  const queue = async (): Promise<any[]> => JSON.parse(await c.front.ctl('--json', 'queue', 'list')).result as any[];
  const waiting = await waitFor(async () => (await queue()).find((e) => e.attempts >= 1), 20_000, 'the first attempt failed');
  assert.ok(Date.parse(waiting.nextAttempt) - Date.now() > 60_000, `the retry is far away: ${waiting.nextAttempt}`);
  await back2.start();
  const t0 = Date.now();
  const second = await smtpSend(FRONT_IP, c.frontPorts.smtp, 'sender@outside.test', [bob.mail], 'Subject: second\r\nX-Id: w-second\r\n\r\nx\r\n');
  assert.equal(second.ok, true, JSON.stringify(second));
  let seen: string[] = [];
  try {
    await waitFor(async () => {
      const msgs = await popRetrAll(back2.ip, c.backPorts.pop3, bob.mail, bob.password);
      seen = msgs.map((m) => /X-Id: \S+/.exec(m)?.[0] ?? '?');
      return msgs.some((m) => m.includes('X-Id: w-first')) && msgs.some((m) => m.includes('X-Id: w-second'));
    }, 30_000, 'both messages on back2');
  } catch (e) {
    throw new Error(`${String(e)}; on back2: ${seen.join(', ')}; front queue: ${JSON.stringify(await queue())}; front log: ${c.front.log().split('\n').filter((l) => /relay|smtpOutgoing/.test(l)).slice(-6).join('\n')}`);
  }
  assert.ok(Date.now() - t0 < RETRY_S * 1000 / 2, 'well before the retry');
});
