/**
 * test/store/crash.test.ts: THE crash test. A child process (fixtures/crash-writer.ts) appends
 * under load (16 writers, random sizes up to 64 KiB) and prints each acknowledged message as
 * its append resolves; we SIGKILL it at a random moment after its first ack, 5 rounds on the
 * same store (sizes, payloads and kill moments all drawn from one seed, printed on failure:
 * POSTERN_TEST_SEED replays the same choices, with the machine's own timing). After each kill
 * the store is opened here and every acknowledged message must be present, byte for byte,
 * exactly once; every visible message must be whole (its own sha256 checks); and recovery
 * must be logged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openStore, tmpData } from './helpers.ts';
import { withSeed } from '../helpers.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
const ROUNDS = 5;

function runAndKill(dataDir: string, round: number, rnd: () => number): Promise<{ acked: Map<string, string>; stderr: string }> {
  return new Promise((resolve, reject) => {
    const childSeed = Math.floor(rnd() * 2 ** 32); // the child's sizes and payloads
    const killAfterMs = Math.floor(rnd() * 600); // after the first ack, so each round has one
    const child = spawn(process.execPath, [FIXTURE, dataDir, String(round), String(childSeed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<string, string>();
    let buf = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('ack ')) {
          const [, id, sha] = line.split(' ');
          acked.set(id!, sha!);
          killTimer ??= setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr += d));
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => { // 'close': after the last of its output is read
      clearTimeout(guard);
      clearTimeout(killTimer);
      if (signal !== 'SIGKILL') reject(new Error(`crash writer exited by itself (code ${code}): ${stderr}`));
      else resolve({ acked, stderr }); // a partial last line (no \n) is not an ack
    });
  });
}

test('kill -9 under load: every acknowledged message there, intact, exactly once; nothing torn', { timeout: 120_000 }, (t) => withSeed(t, async (rnd) => {
  const dataDir = tmpData('postern-crash-');
  const all = new Map<string, string>();
  for (let round = 1; round <= ROUNDS; round++) {
    const { acked } = await runAndKill(dataDir, round, rnd);
    assert.ok(acked.size > 0, `round ${round}: the child acknowledged something before it was killed`);
    for (const [k, v] of acked) all.set(k, v);

    const { store, log } = await openStore(dataDir, { shards: 2 });
    const opened = log.records.filter((r) => r.msg === 'store recovery: shard opened');
    assert.equal(opened.length, 2, 'recovery is logged for each shard');
    assert.ok(opened.some((r) => (r.o.records as number) > 0), 'recovery replayed the log');
    const seen = new Map<string, number>();
    for (const who of ['crash', 'other']) {
      const mb = store.mailbox(`${who}@example.org`);
      let last = 0;
      for (const m of await mb.list('INBOX')) {
        assert.ok(m.uid > last, 'UIDs ascending');
        last = m.uid;
        const body = Buffer.from((await mb.fetch('INBOX', m.uid)).body); // crc32 checked
        const text = body.toString('latin1');
        const sep = text.indexOf('\r\n\r\n');
        const id = /^X-Id: (\S+)/.exec(text)![1]!;
        const sha = /X-Sha: ([0-9a-f]{64})/.exec(text)![1]!;
        assert.equal(createHash('sha256').update(text.slice(sep + 4)).digest('hex'), sha, `message ${id} is whole`);
        seen.set(id, (seen.get(id) ?? 0) + 1);
        const want = all.get(id);
        if (want !== undefined) assert.equal(createHash('sha256').update(body).digest('hex'), want, `message ${id} byte-identical`);
      }
    }
    for (const [id, n] of seen) assert.equal(n, 1, `message ${id} exactly once`);
    let missing = 0;
    for (const id of all.keys()) if (!seen.has(id)) missing++;
    assert.equal(missing, 0, `round ${round}: ${missing} acknowledged messages missing of ${all.size}`);
    await store.close();
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
}));
