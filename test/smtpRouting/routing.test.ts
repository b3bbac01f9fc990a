/**
 * test/smtpRouting/routing.test.ts: cluster SMTP routing (issue 16 §4) over a real cluster
 * (test/cluster/topology.ts: a front end on 127.0.0.2 with `enableSmtpRouting yes` and a file
 * user map, two Postern back ends on 127.0.0.3 and 127.0.0.4, each its own process):
 *  - mail sent to the front end (Python smtplib, swaks) for users of both back ends lands in
 *    the right back end's mailbox (read there with poplib), one transaction split by back end;
 *  - a recipient the map does not know follows the ordinary rules (relay denied); a routed
 *    recipient named twice in one transaction gets one copy;
 *  - a back end that is down: the message waits in the front end's queue (deferred, its next
 *    hop kept) and is delivered when the back end is back (retry interval 1 s);
 *  - kill -9 of the front end after its 250 and before the relay (the back end is down, so the
 *    relay cannot have happened): after the restart the message is relayed (no loss);
 *  - a user map that cannot answer (its file never loaded): RCPT gets 451 4.4.3.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startCluster, pickPorts, FRONT_IP, type Cluster, type ClusterNode } from '../cluster/topology.ts';
import { popRetrAll, run, smtpSend } from '../cluster/clients.ts';
import { tmpDir, waitFor } from '../helpers.ts';

let c: Cluster;

before(async () => {
  c = await startCluster({ ldap: false });
});

after(async () => {
  await c?.stop();
});

const pw = (mail: string): string => c.users.find((u) => u.mail === mail)!.password;

async function mailOf(node: ClusterNode, mail: string): Promise<string[]> {
  return popRetrAll(node.ip, c.backPorts.pop3, mail, pw(mail));
}

async function waitMail(node: ClusterNode, mail: string, marker: string, ms = 30_000): Promise<string> {
  return waitFor(async () => (await mailOf(node, mail)).find((m) => m.includes(marker)), ms, `${marker} in ${mail}'s mailbox on ${node.name}`);
}

async function frontQueue(): Promise<any[]> {
  return JSON.parse(await c.front.ctl('--json', 'queue', 'list')).result as any[];
}

test('users of both back ends: smtplib and swaks through the front end; each message lands on its own back end', async () => {
  const [back1, back2] = c.back;
  const r = await smtpSend(FRONT_IP, c.frontPorts.smtp, 'sender@outside.test', ['alice@example.test', 'bob@example.test'],
    'From: sender@outside.test\r\nSubject: routed\r\nX-Id: r-smtplib\r\n\r\nto both back ends\r\n');
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(r.refused, {});
  const sw = await run('swaks', ['--server', `${FRONT_IP}:${c.frontPorts.smtp}`, '--ehlo', 'client.test', '--from', 'sender@outside.test',
    '--to', 'carol@example.test,dave@example.test', '--header', 'X-Id: r-swaks', '--body', 'via swaks']);
  assert.equal(sw.code, 0, sw.stdout + sw.stderr);
  assert.match(sw.stdout, /<- {2}250 2\.1\.5 Ok: routed to its back end/);

  const a = await waitMail(back1, 'alice@example.test', 'X-Id: r-smtplib');
  const b = await waitMail(back2, 'bob@example.test', 'X-Id: r-smtplib');
  await waitMail(back1, 'carol@example.test', 'X-Id: r-swaks');
  await waitMail(back2, 'dave@example.test', 'X-Id: r-swaks');
  // the front end's hop is in the trace: by front.cluster.test, then the back end's own
  for (const [m, back] of [[a, 'back1'], [b, 'back2']] as const) {
    assert.match(m, /by front\.cluster\.test/);
    assert.match(m, new RegExp(`by ${back}\\.cluster\\.test`));
  }
  // one copy each: nothing went to the wrong back end (the other has no such mailbox: the
  // front end never fell back to a default)
  assert.equal((await mailOf(back1, 'alice@example.test')).filter((m) => m.includes('X-Id: r-smtplib')).length, 1);
  assert.equal((await mailOf(back2, 'bob@example.test')).filter((m) => m.includes('X-Id: r-smtplib')).length, 1);
  await waitFor(async () => (await frontQueue()).length === 0, 10_000, 'the front end\'s queue empty');
});

test('a recipient the map does not know follows the ordinary rules: relay denied; a routed one named twice gets one copy', async () => {
  const r = await smtpSend(FRONT_IP, c.frontPorts.smtp, 'sender@outside.test', ['alice@example.test', 'zed@example.test', 'x@elsewhere.test', 'Alice@example.test'],
    'Subject: mixed\r\nX-Id: r-mixed\r\n\r\nx\r\n');
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.refused['zed@example.test']?.[0], 554);
  assert.match(r.refused['zed@example.test']![1], /5\.7\.1 .*Relay access denied/);
  assert.equal(r.refused['x@elsewhere.test']?.[0], 554);
  assert.equal(r.refused['alice@example.test'], undefined);
  await waitMail(c.back[0], 'alice@example.test', 'X-Id: r-mixed');
  await waitFor(async () => (await frontQueue()).length === 0, 10_000, 'the front end\'s queue empty');
  assert.equal((await mailOf(c.back[0], 'alice@example.test')).filter((m) => m.includes('X-Id: r-mixed')).length, 1, 'one copy');
});

test('a back end that is down: the message waits in the front end\'s queue and is delivered when it is back', async () => {
  const back2 = c.back[1];
  await back2.kill();
  const r = await smtpSend(FRONT_IP, c.frontPorts.smtp, 'sender@outside.test', ['bob@example.test'], 'Subject: later\r\nX-Id: r-down\r\n\r\nwait for me\r\n');
  assert.equal(r.ok, true, JSON.stringify(r));
  // tried, failed temporarily (connection refused), kept with its next hop
  const entry = await waitFor(async () => (await frontQueue()).find((e) => e.attempts >= 1 || (e.lastError ?? '') !== ''), 20_000, 'a deferred relay attempt');
  const shown = JSON.parse(await c.front.ctl('--json', 'queue', 'show', entry.id)).result;
  assert.equal(shown.recipients[0].hop, `${back2.ip}:${c.backPorts.smtp}`);
  assert.equal(shown.recipients[0].status, 'relay');
  await back2.start();
  await waitMail(back2, 'bob@example.test', 'X-Id: r-down');
  await waitFor(async () => (await frontQueue()).length === 0, 10_000, 'the front end\'s queue empty');
});

test('kill -9 of the front end after its 250, before the relay: relayed after the restart', async () => {
  const back1 = c.back[0];
  await back1.stop(); // the relay cannot happen before the kill
  const r = await smtpSend(FRONT_IP, c.frontPorts.smtp, 'sender@outside.test', ['carol@example.test'], 'Subject: crash\r\nX-Id: r-crash\r\n\r\nsurvive\r\n');
  assert.equal(r.ok, true, JSON.stringify(r));
  await c.front.kill();
  await back1.start();
  await c.front.start();
  await waitMail(back1, 'carol@example.test', 'X-Id: r-crash');
});

test('a user map that cannot answer: RCPT gets 451 4.4.3 (the sender retries)', async (t) => {
  const dir = tmpDir('postern-routing-nomap-');
  const [smtp, status] = await pickPorts([FRONT_IP], 2);
  const cfg = path.join(dir, 'front.conf');
  fs.writeFileSync(cfg, `Server {
  services = (smtpIncoming)
  statusListener = ${FRONT_IP}:${status}
  logLevel = error
  userMaps = ( { name = users type = file path = "${path.join(dir, 'missing.map')}" } )
  smtpIncoming = { listeners = ( { address = ${FRONT_IP}:${smtp} } ) mailAuth = no enableSmtpRouting = yes mappingData = { userMap = users mappingPort = 25 } }
}
`);
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const bin = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'start', '--config', cfg, '--data-dir', dir], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await waitFor(async () => {
    const doc = await (await fetch(`http://${FRONT_IP}:${status}/status`)).json() as any;
    return doc.services.find((s: any) => s.name === 'smtpIncoming')?.listeners.every((l: any) => l.listening);
  }, 30_000, 'the front end ready');
  const sw = await run('swaks', ['--server', `${FRONT_IP}:${smtp}`, '--ehlo', 'client.test', '--from', 'a@outside.test', '--to', 'alice@example.test', '--quit-after', 'RCPT']);
  assert.match(sw.stdout, /<\*\* {1,2}451 4\.4\.3 <alice@example\.test>: routing information is not available now/);
});
