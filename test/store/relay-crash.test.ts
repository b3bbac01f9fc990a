/**
 * test/store/relay-crash.test.ts: the kill -9 test of relayed mail in the queue. 200 queued
 * messages (1-3 remote recipients each, every fourth also a local one) are worked on by a child
 * process (fixtures/relay-child.ts) playing processing and smtpOutgoing against the real store:
 * it prints each "send" before it happens and each outcome once `relayOutcome` resolved. The
 * child is SIGKILLed at a random point of that stream, twice, then started again to drain the
 * queue. Then: a recipient recorded as delivered or failed is never sent again; a recipient is
 * sent again only when a kill came between its send and its record (the README's window);
 * every recipient ends delivered or failed (nothing lost), the queue is empty, and a mixed
 * message's remote recipients were claimed only once its local copy was done, and that copy is
 * in the mailbox exactly once. The kill points come from one seed, printed (POSTERN_TEST_SEED replays it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tmpDir, withSeed } from '../helpers.ts';
import { cleanup } from '../smtp/helpers.ts';
import { openStore } from './helpers.ts';
import type { QueueEnvelope } from '../../src/store/queue-record.ts';

const CHILD = fileURLToPath(new URL('./fixtures/relay-child.ts', import.meta.url));
const MESSAGES = 200;

interface Line {
  round: number;
  words: string[];
}

/** Run the child; `killAt(recs)` says, after each recorded outcome line, whether to kill now. */
function runChild(dataDir: string, seed: number, round: number, lines: Line[], killAt: ((recs: number) => boolean) | null): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHILD, dataDir, String(seed), killAt === null ? 'drain' : 'work'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    let recs = 0;
    let killed = false;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const words = buf.slice(0, i).split(' ');
        buf = buf.slice(i + 1);
        lines.push({ round, words });
        if (words[0] === 'rec' && killAt !== null && killAt(++recs) && !killed) {
          killed = true;
          child.kill('SIGKILL'); // lines it wrote before dying still count
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => process.stderr.write(d));
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

test('kill -9 while relaying: nothing recorded is sent again, nothing unrecorded is lost', { timeout: 120_000 }, (t) => withSeed(t, async (rnd, seed) => {
  const dataDir = tmpDir('postern-relay-crash-');
  try {
    const { store } = await openStore(dataDir);
    await store.directory.addDomain('example.org');
    await store.directory.addAccount('ann@example.org', { password: 'x' });
    const rcptsOf = new Map<string, number[]>(); // id → remote recipient indexes
    const mixed = new Map<string, string>(); // id → X-Id
    for (let n = 0; n < MESSAGES; n++) {
      const local = n % 4 === 0;
      const remote = 1 + Math.floor(rnd() * 3);
      const rcpts = [...(local ? [{ to: 'ann@example.org', account: 'ann@example.org' }] : []), ...Array.from({ length: remote }, (_, k) => ({ to: `u${n}.${k}@far${k}.example`, account: null }))];
      const env: QueueEnvelope = { from: 'ann@example.org', rcpts, receivedAt: Date.now(), helo: 'h', ip: '127.0.0.1', by: 'mx.test', with: 'ESMTPA', tls: null, auth: 'ann@example.org', body: '7BIT', utf8: false };
      const { id } = await store.queue.enqueue(env, Buffer.from(`X-Id: m${n}\r\nSubject: relay crash\r\n\r\n${'x'.repeat(Math.floor(rnd() * 3000))}\r\n`));
      rcptsOf.set(id, rcpts.flatMap((r, i) => (r.account === null ? [i] : [])));
      if (local) mixed.set(id, `m${n}`);
    }
    await store.close();

    const lines: Line[] = [];
    let target = 0;
    for (let round = 1; round <= 2; round++) {
      target = 20 + Math.floor(rnd() * 120);
      const { signal } = await runChild(dataDir, seed, round, lines, (recs) => recs >= target);
      assert.equal(signal, 'SIGKILL', `round ${round} was killed mid-work`);
    }
    const last = await runChild(dataDir, seed, 3, lines, null);
    assert.equal(last.code, 0, 'the last start drains the queue and stops');
    assert.ok(lines.some((l) => l.words[0] === 'drained'));

    const recoveries = lines.filter((l) => l.words[0] === 'recovery').map((l) => JSON.parse(l.words.slice(1).join(' ')) as { entries: number });
    assert.equal(recoveries.length, 3);
    assert.ok(recoveries[1]!.entries > 0 && recoveries[2]!.entries > 0, `work was left at each kill: ${JSON.stringify(recoveries)}`);

    // per recipient: its sends and records, in order
    const final = new Map<string, number>(); // key → position of its final record
    const outstanding = new Map<string, Line>(); // key → a send not yet recorded
    let resends = 0;
    let recordedUnseen = 0;
    const states = new Map<string, string>(); // key → its status as the queue recovered it
    lines.forEach((l, pos) => {
      const [w, id, idx, what] = l.words;
      if (w === 'state') states.set(`${id} ${idx}`, what!);
      if (w === 'ready') {
        // a send whose record we did not see before the kill: the restarted queue says
        // whether it was recorded (the intended final status, or the entry gone), or not (relay)
        for (const [key, sent] of outstanding) {
          const intent = sent.words[3]!;
          const st = states.get(key);
          if (st === 'relay') continue; // not recorded: it must be sent again
          assert.ok(intent !== 'temp' && (st === undefined || st === intent), `${key}: sent as ${intent}, recovered as ${st ?? '(entry gone)'}`);
          final.set(key, pos);
          outstanding.delete(key);
          recordedUnseen++;
        }
        states.clear();
      }
      if (w !== 'sent' && w !== 'rec') return;
      const key = `${id} ${idx}`;
      assert.ok(rcptsOf.get(id!)?.includes(Number(idx)), `${key} is a remote recipient of a queued message`);
      if (w === 'sent') {
        assert.ok(!final.has(key), `${key} was sent again after its outcome ${what} was recorded`);
        const prev = outstanding.get(key);
        if (prev !== undefined) {
          assert.ok(prev.round < l.round, `${key} sent again without a record, with no kill between: ${lines.filter((x) => x.words[1] === id).map((x) => `${x.round}:${x.words.join(' ')}`).join(' | ')}`);
          resends++;
        }
        assert.equal(l.words[4], 'locals-done', `${key}: a remote recipient claimed while its message's local copy was pending`);
        outstanding.set(key, l);
      } else {
        assert.equal(outstanding.get(key)?.round, l.round, `${key} recorded without a send in this run`);
        outstanding.delete(key);
        if (what !== 'temp') final.set(key, pos);
      }
    });
    for (const [id, idxs] of rcptsOf) for (const i of idxs) assert.ok(final.has(`${id} ${i}`), `${id} ${i} ended delivered or failed`);
    assert.equal(outstanding.size, 0);
    t.diagnostic(`recipients ${final.size}; kill targets ${target}; sent again after a kill (the window): ${resends}; recorded just before a kill: ${recordedUnseen}; entries at the restarts ${recoveries.map((r) => r.entries).join(', ')}`);

    const { store: after } = await openStore(dataDir);
    try {
      assert.deepEqual(after.queue.list(), [], 'the queue is empty');
      const mb = after.mailbox('ann@example.org');
      const seen = new Map<string, number>();
      for (const m of await mb.list('INBOX')) {
        const x = /^X-Id: (\S+)/.exec(Buffer.from((await mb.fetch('INBOX', m.uid)).body).toString())![1]!;
        seen.set(x, (seen.get(x) ?? 0) + 1);
      }
      for (const x of mixed.values()) assert.equal(seen.get(x), 1, `${x}: the local copy exactly once`);
      assert.equal(seen.size, mixed.size);
    } finally {
      await after.close();
    }
  } finally {
    cleanup(dataDir);
  }
}));
