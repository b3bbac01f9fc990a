/**
 * test/processing/crash.test.ts: THE kill -9 test of SMTP receiving and local delivery. A child
 * process runs the real server (fixtures/server-child.ts); 8 SMTP sessions send messages
 * (random sizes up to 24 KiB, dot-stuffed lines, one or two local recipients; those up to
 * 12 KB delivered at receipt, store/local-delivery.ts, the others queued) and record each
 * message the server answered 250; the child is SIGKILLed mid-load, twice, and started again
 * on the same data directory; the third start drains the queue and stops cleanly. Then the
 * mailboxes are read from the store: every 250'd message is in each of its recipients'
 * mailboxes exactly once, byte for byte; no message (answered or not) appears twice or torn.
 * Sizes, bytes and kill moments are drawn from one seed, printed on failure
 * (POSTERN_TEST_SEED replays the same choices, with the machine's own timing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../../src/control/client.ts';
import { Store } from '../../src/store/store.ts';
import { prng, prngBytes, tmpDir, waitFor, withSeed } from '../helpers.ts';
import { cleanup, rawSmtp } from '../smtp/helpers.ts';

const CHILD = fileURLToPath(new URL('./fixtures/server-child.ts', import.meta.url));
const ACCOUNTS = ['crash0@example.org', 'crash1@example.org', 'crash2@example.org'];
const SESSIONS = 8;

interface Sent {
  sha: string;
  rcpts: string[];
}

function startChild(dataDir: string, log: string[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let port = 0;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (port === 0 && line.startsWith('{"port":')) {
          port = JSON.parse(line).port as number;
          resolve({ child, port });
        } else log.push(line);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => log.push(d));
    child.on('exit', (code, sig) => {
      if (port === 0) reject(new Error(`server child exited before listening (${code ?? sig}): ${log.slice(-5).join('\n')}`));
    });
  });
}

function message(id: string, rnd: () => number): { text: string; wire: string } {
  const lines = [`X-Id: ${id}`, 'Subject: crash test', ''];
  const n = 1 + Math.floor(rnd() * 320);
  for (let i = 0; i < n; i++) lines.push(i % 17 === 3 ? `.dot ${i}` : prngBytes(rnd, 57).toString('base64'));
  const text = `${lines.join('\r\n')}\r\n`;
  const wire = text.replace(/^\./gm, '..');
  return { text, wire };
}

/** Send messages on one session until it fails (the server was killed) or `stop()` says so. */
async function load(port: number, tag: string, rnd: () => number, acked: Map<string, Sent>, all: Map<string, Sent>, stop: () => boolean): Promise<void> {
  let c;
  try {
    c = await rawSmtp(port);
    await c.cmd('EHLO load.test');
  } catch {
    return;
  }
  for (let n = 0; !stop(); n++) {
    const id = `${tag}-${n}`;
    const rcpts = n % 3 === 0 ? [ACCOUNTS[n % 3]!, ACCOUNTS[(n + 1) % 3]!] : [ACCOUNTS[n % 3]!];
    const { text, wire } = message(id, rnd);
    const sent = { sha: createHash('sha256').update(text).digest('hex'), rcpts };
    all.set(id, sent);
    try {
      c.write(`MAIL FROM:<load@remote.example>\r\n${rcpts.map((r) => `RCPT TO:<${r}>\r\n`).join('')}DATA\r\n`);
      for (let i = 0; i <= rcpts.length; i++) assert.equal((await c.reply()).code, 250);
      assert.equal((await c.reply()).code, 354);
      c.write(`${wire}.\r\n`);
      const r = await c.reply();
      if (r.code === 250) acked.set(id, sent);
    } catch {
      return; // killed
    }
  }
  c.close();
}

async function round(dataDir: string, r: number, rnd: () => number, acked: Map<string, Sent>, all: Map<string, Sent>, log: string[]): Promise<void> {
  const seeds = Array.from({ length: SESSIONS }, () => Math.floor(rnd() * 2 ** 32)); // one stream per session
  const killDelayMs = Math.floor(rnd() * 300);
  const { child, port } = await startChild(dataDir, log);
  const before = acked.size;
  let killed = false;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const sessions = Array.from({ length: SESSIONS }, (_, s) => load(port, `r${r}s${s}`, prng(seeds[s]!), acked, all, () => killed));
  // kill once this round has some acknowledged mail and deliveries are under way
  await waitFor(() => acked.size - before >= 60, 20_000, 'acknowledged mail before the kill');
  await new Promise((res) => setTimeout(res, killDelayMs));
  child.kill('SIGKILL');
  killed = true;
  await exited;
  await Promise.all(sessions);
}

test('kill -9 under SMTP load: every 250 delivered exactly once, intact, to each recipient', { timeout: 120_000 }, (t) => withSeed(t, async (rnd) => {
  const dataDir = tmpDir('postern-smtp-crash-');
  const acked = new Map<string, Sent>();
  const all = new Map<string, Sent>();
  const log: string[] = [];
  try {
    for (let r = 1; r <= 2; r++) await round(dataDir, r, rnd, acked, all, log);
    assert.ok(acked.size >= 120);
    // the last start: recovery, then the queue drains
    const { child } = await startChild(dataDir, log);
    const sock = path.join(dataDir, 'run', 'postern.sock');
    await waitFor(async () => ((await controlRequest(sock, 'queue.list', {})) as unknown[]).length === 0, 30_000, 'the queue to drain');
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const recoveries = log.filter((l) => l.includes('"msg":"queue recovery: opened"')).map((l) => JSON.parse(l) as { pending: number });
    assert.equal(recoveries.length, 3);
    assert.ok(recoveries.slice(1).some((x) => x.pending > 0), `some mail was still queued at a kill: ${JSON.stringify(recoveries)}`);
    assert.ok(log.some((l) => l.includes('"msg":"queue: delivered"') && l.includes('"atReceipt":true')), 'some mail was delivered at receipt');
    const found = log.filter((l) => l.includes('"foundAfterRestart"')).length;
    t.diagnostic(`acknowledged ${acked.size}; queued at the kills ${recoveries.slice(1).map((x) => x.pending).join(', ')}; copies found already written after a restart: ${found}`);

    const store = await new Store({ dataDir, compactIntervalMs: 0 }).open();
    try {
      const seen = new Map<string, number>(); // `${id} ${account}` → copies
      for (const account of ACCOUNTS) {
        const mb = store.mailbox(account);
        for (const m of await mb.list('INBOX')) {
          const body = Buffer.from((await mb.fetch('INBOX', m.uid)).body);
          const at = body.indexOf('X-Id: ');
          assert.ok(at > 0, 'a delivered copy starts with the delivery prefix, then the message');
          const id = /^X-Id: (\S+)/.exec(body.subarray(at, at + 64).toString())![1]!;
          const sent = all.get(id);
          assert.ok(sent !== undefined, `unknown message ${id}`);
          assert.equal(createHash('sha256').update(body.subarray(at)).digest('hex'), sent.sha, `${id} in ${account} is intact`);
          assert.ok(sent.rcpts.includes(account), `${id} went to its recipient only`);
          const key = `${id} ${account}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
        }
      }
      for (const [key, n] of seen) assert.equal(n, 1, `${key}: exactly one copy`);
      for (const [id, sent] of acked) for (const account of sent.rcpts) assert.equal(seen.get(`${id} ${account}`), 1, `acknowledged ${id} delivered to ${account}`);
    } finally {
      await store.close();
    }
  } finally {
    cleanup(dataDir);
  }
}));
