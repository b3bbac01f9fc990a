/**
 * What an operator sees of SMTP (issue 11, item 15), against the `postern` command with its
 * JSON log on stdout: one info line per transaction (client, user, from, each recipient with
 * its result, size, queue id; refused and abandoned transactions too), /metrics with the queue
 * (messages, pending, deferred, oldest age) and messages received, delivered, deferred and
 * refused by reason, each moving as mail moves; and no log line carries a key twice (a
 * connection refused by a flow limit writes the warning that used to repeat `service`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../../src/control/client.ts';
import { freePort, tmpDir, waitFor } from '../helpers.ts';
import { python } from './helpers.ts';

const BIN = path.join(fileURLToPath(new URL('../../', import.meta.url)), 'bin', 'postern.js');


/** The top-level keys of one JSON object text, in order, duplicates kept (JSON.parse drops them). */
export function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let i = 0;
  let expectKey = false;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      expectKey = false;
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    if ((c === '{' && depth === 1) || (c === ',' && depth === 1)) expectKey = true;
    i++;
  }
  return keys;
}

/** One sample of a series from the Prometheus text (undefined when absent). */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

test('SMTP transactions are logged one line each; /metrics follows the queue and the refusals', async (t) => {
  const dir = tmpDir();
  const [port, tripPort] = [await freePort(), await freePort()];
  const cfg = path.join(dir, 'postern.cfg');
  fs.writeFileSync(cfg, `Server {
    services = (smtpIncoming processing)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = info
    smtpIncoming = {
        maxReceivedHeaders = 2
        listeners = ( { address = 127.0.0.1:${port} } { address = 127.0.0.1:${tripPort} peerMaxConnections = 1 } )
    }
}\n`);
  const child = spawn(process.execPath, [BIN, 'start', '--config', cfg, '--data-dir', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const lines = (): Array<Record<string, unknown>> => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  // (a server that could not start, e.g. a port taken between freePort() and its bind, says why)
  const started = await waitFor(() => lines().find((l) => l.msg === 'postern started'), 20_000, 'the started log line').catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; the server's output: ${out.slice(-2000)}`);
  });
  const metricsUrl = `http://127.0.0.1:${started.statusPort}/metrics`;
  const scrape = async (): Promise<string> => (await fetch(metricsUrl)).text();
  const sock = path.join(dir, 'run', 'postern.sock');
  await controlRequest(sock, 'account.add', { address: 'ann@example.org', password: 'pw' });
  await controlRequest(sock, 'account.add', { address: 'full@example.org', password: 'pw', quotaMessages: 1 });

  const before = await scrape();
  assert.equal(sample(before, 'postern_messages_received_total'), 0);
  assert.equal(sample(before, 'postern_queue_messages'), 0);

  const r = await python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${port})
s.ehlo('client.example')
s.mail('x@remote.example')
print('RCPT', s.rcpt('ann@example.org')[0], s.rcpt('nobody@example.org')[0], s.rcpt('someone@elsewhere.test')[0])
code, text = s.data('Subject: one\\r\\n\\r\\nbody\\r\\n')
print('DATA', code, text.decode())
s.mail('x@remote.example')
s.rcpt('ann@example.org')
print('LOOP', s.data('Received: a\\r\\nReceived: b\\r\\nReceived: c\\r\\n\\r\\nloop\\r\\n')[0])
for i in range(2):
    s.sendmail('x@remote.example', ['full@example.org'], 'Subject: quota %d\\r\\n\\r\\nbody\\r\\n' % i)
s.mail('x@remote.example')
s.rcpt('ann@example.org')
s.ehlo('again.example')
s.mail('x@remote.example')
s.rcpt('ann@example.org')
s.quit()
a = smtplib.SMTP('127.0.0.1', ${port})
a.login('ann@example.org', 'pw')
a.sendmail('ann@example.org', ['ann@example.org'], 'Subject: authenticated\\r\\n\\r\\nbody\\r\\n')
a.quit()`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^RCPT 250 550 554$/m);
  assert.match(r.stdout, /^LOOP 554$/m);
  const queueId = /^DATA 250 2\.0\.0 Ok: queued as (\S+)$/m.exec(r.stdout)?.[1];
  assert.ok(queueId !== undefined, r.stdout);

  // the log: one line per transaction, with its fields
  const txLines = await waitFor(() => {
    const tx = lines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('smtp: message '));
    return tx.length === 7 ? tx : undefined;
  }, 10_000, 'seven transaction lines');
  const first = txLines.find((l) => l.queueId === queueId)!;
  assert.equal(first.msg, 'smtp: message queued');
  assert.equal(first.level, 30);
  assert.equal(first.service, 'smtpIncoming');
  assert.equal(first.client, '127.0.0.1');
  assert.equal(first.user, null);
  assert.equal(first.from, 'x@remote.example');
  assert.equal(first.helo, 'client.example');
  assert.ok(typeof first.size === 'number' && first.size > 0);
  assert.deepEqual(first.rcpts, [
    { to: 'ann@example.org', result: 'queued' },
    { to: 'nobody@example.org', result: 'refused', reason: 'unknown_user' },
    { to: 'someone@elsewhere.test', result: 'refused', reason: 'relay_denied' },
  ]);
  const loop = txLines.find((l) => l.result === 'refused')!;
  assert.equal(loop.reason, 'too_many_hops');
  assert.equal(txLines.filter((l) => l.result === 'queued').length, 4);
  assert.deepEqual(txLines.filter((l) => l.user !== null).map((l) => [l.user, l.from, l.result]), [['ann@example.org', 'ann@example.org', 'queued']]);
  // left by a new EHLO, then by QUIT: each logged once
  assert.deepEqual(txLines.filter((l) => l.result === 'abandoned').map((l) => [l.helo, l.rcpts]), [
    ['client.example', [{ to: 'ann@example.org', result: 'accepted' }]],
    ['again.example', [{ to: 'ann@example.org', result: 'accepted' }]],
  ]);

  // /metrics: received (four queued), delivered (ann twice, full once), deferred (full's second: over quota), refused by reason
  const m = await waitFor(async () => {
    const text = await scrape();
    return sample(text, 'postern_messages_delivered_total') === 3 && sample(text, 'postern_messages_deferred_total') === 1 ? text : undefined;
  }, 15_000, 'three deliveries and one deferral on /metrics');
  assert.equal(sample(m, 'postern_messages_received_total'), 4);
  assert.equal(sample(m, 'postern_messages_failed_total'), 0);
  assert.equal(sample(m, 'postern_queue_messages'), 1);
  assert.equal(sample(m, 'postern_queue_pending_messages'), 1);
  assert.equal(sample(m, 'postern_queue_deferred_messages'), 1);
  assert.ok(sample(m, 'postern_queue_oldest_age_seconds')! >= 0);
  const refused = await waitFor(async () => {
    const text = await scrape();
    return sample(text, 'postern_smtp_refused_total{service="smtpIncoming",stage="data",reason="too_many_hops"}') === 1 ? text : undefined;
  }, 10_000, 'the refusals on /metrics');
  assert.equal(sample(refused, 'postern_smtp_refused_total{service="smtpIncoming",stage="rcpt",reason="unknown_user"}'), 1);
  assert.equal(sample(refused, 'postern_smtp_refused_total{service="smtpIncoming",stage="rcpt",reason="relay_denied"}'), 1);

  // a flow limit trips: its warning, like every other line, has each key once
  const held = net.connect({ host: '127.0.0.1', port: tripPort });
  await new Promise((ok) => held.once('data', ok));
  const refusedConn = net.connect({ host: '127.0.0.1', port: tripPort });
  const refusal = await new Promise<string>((ok) => refusedConn.once('data', (d) => ok(String(d))));
  assert.match(refusal, /^421 .*peer_window/);
  held.destroy();
  refusedConn.destroy();
  await waitFor(() => lines().some((l) => l.level === 40 && l.reason === 'peer_window'), 10_000, 'the trip warning');

  child.kill('SIGTERM');
  assert.equal(await exited, 0);
  const raw = out.split('\n').filter((l) => l.startsWith('{'));
  assert.ok(raw.length > 20);
  for (const l of raw) {
    const keys = topLevelKeys(l);
    assert.equal(new Set(keys).size, keys.length, `a key twice in ${l}`);
  }
});
