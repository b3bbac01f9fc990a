/**
 * test/rpop/limits.test.ts: the rpop service against scripted POP3 remotes on real sockets
 * (a small server in this file that misbehaves on purpose), each limit tripped: a remote that
 * never answers (rwTimeout), one that never finishes the TLS handshake (connectTimeout), one
 * that greets with garbage, one whose line is over maxLineLength, one that drops the connection
 * in the middle of a RETR (nothing stored; the next poll fetches it once), messages over
 * maxMessageSize (by LIST: left there; a LIST that lies: RPOP_TOO_BIG), maxMessagesPerPoll
 * (several polls, each message once), and maxConnections (polls at once, counted by the remotes).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tmpDir, waitFor } from '../helpers.ts';
import { fetchedMessages, mail, rpopList, startFetcher } from './helpers.ts';

type Mode = 'normal' | 'silent' | 'garbage' | 'longline';

interface Fake {
  port: number;
  msgs: Array<{ uidl: string; body: string; listSize?: number; dropOnce?: boolean }>;
  retrs: Map<string, number>;
  sessionsRetrs: number[];
  concurrent: number;
  maxConcurrent: number;
  close(): void;
}

/** A scripted POP3 server: `normal` serves `msgs` (DELE applied at QUIT), the others misbehave. */
async function fake(mode: Mode, msgs: Fake['msgs'] = [], greetDelayMs = 0): Promise<Fake> {
  const f: Fake = { port: 0, msgs, retrs: new Map(), sessionsRetrs: [], concurrent: 0, maxConcurrent: 0, close: () => server.close() };
  const socks = new Set<net.Socket>();
  const server = net.createServer((s) => {
    socks.add(s);
    f.concurrent++;
    f.maxConcurrent = Math.max(f.maxConcurrent, f.concurrent);
    s.on('close', () => {
      socks.delete(s);
      f.concurrent--;
    });
    s.on('error', () => {});
    if (mode === 'silent') return;
    if (mode === 'garbage') return void s.write('HELLO THERE\r\n');
    if (mode === 'longline') return void s.write(`+OK ${'x'.repeat(10_000)}`);
    const dele = new Set<number>();
    let n = 0;
    f.sessionsRetrs.push(0);
    const me = f.sessionsRetrs.length - 1;
    const live = (): Array<[number, Fake['msgs'][number]]> => f.msgs.map((m, i) => [i + 1, m] as [number, Fake['msgs'][number]]).filter(([i]) => !dele.has(i));
    setTimeout(() => s.write('+OK fake ready\r\n'), greetDelayMs);
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const [verb = '', arg = ''] = buf.slice(0, i).split(' ');
        buf = buf.slice(i + 2);
        n++;
        switch (verb.toUpperCase()) {
          case 'USER': case 'PASS': s.write('+OK\r\n'); break;
          case 'UIDL': s.write(`+OK\r\n${live().map(([k, m]) => `${k} ${m.uidl}\r\n`).join('')}.\r\n`); break;
          case 'LIST': s.write(`+OK\r\n${live().map(([k, m]) => `${k} ${m.listSize ?? m.body.length}\r\n`).join('')}.\r\n`); break;
          case 'RETR': {
            const m = f.msgs[Number(arg) - 1]!;
            f.retrs.set(m.uidl, (f.retrs.get(m.uidl) ?? 0) + 1);
            f.sessionsRetrs[me]!++;
            const wire = m.body.replace(/^\./gm, '..');
            if (m.dropOnce === true) {
              m.dropOnce = false;
              s.write(`+OK\r\n${wire.slice(0, 20)}`);
              s.destroy();
              return;
            }
            s.write(`+OK\r\n${wire}.\r\n`);
            break;
          }
          case 'DELE': dele.add(Number(arg)); s.write('+OK\r\n'); break;
          case 'QUIT':
            f.msgs = f.msgs.filter((_, k) => !dele.has(k + 1));
            s.end('+OK bye\r\n');
            break;
          default: s.write('-ERR unknown\r\n');
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.port = (server.address() as net.AddressInfo).port;
  f.close = () => {
    for (const s of socks) s.destroy();
    server.close();
  };
  return f;
}

const root = tmpDir('postern-rpop-limits-');
const fakes: Fake[] = [];
after(() => {
  for (const f of fakes) f.close();
  fs.rmSync(root, { recursive: true, force: true });
});

async function add(f: Awaited<ReturnType<typeof startFetcher>>, address: string, port: number, more: Record<string, unknown> = {}): Promise<number> {
  const r = (await f.server.admin('account.rpop.add', { address, host: '127.0.0.1', port, username: 'u', password: 'p', interval: 1, ...more })) as { id: number };
  return r.id;
}

const failedWith = async (f: Awaited<ReturnType<typeof startFetcher>>, address: string): Promise<string> =>
  (await waitFor(async () => (await rpopList(f, address)).find((r) => r.state.failures > 0), 20_000, `a failure of ${address}`)).state.lastError!.code;

test('misbehaving remotes: each a bounded wait, reported; a dropped RETR is fetched once later', async () => {
  const silent = await fake('silent');
  const garbage = await fake('garbage');
  const longline = await fake('longline');
  const tlsSilent = await fake('silent');
  const drop = await fake('normal', [{ uidl: 'a1', body: mail('dropped once', 'x\r\n'.repeat(50)), dropOnce: true }, { uidl: 'a2', body: mail('fine') }]);
  fakes.push(silent, garbage, longline, tlsSilent, drop);
  const f = await startFetcher(path.join(root, 'm'), 'minInterval = 1 rwTimeout = 1 connectTimeout = 1 maxLineLength = 512');
  try {
    for (const u of ['s', 'g', 'l', 't', 'd']) await f.addUser(`${u}@example.org`, 'local');
    await add(f, 's@example.org', silent.port);
    await add(f, 'g@example.org', garbage.port);
    await add(f, 'l@example.org', longline.port);
    await add(f, 't@example.org', tlsSilent.port, { tls: 'implicit' });
    await add(f, 'd@example.org', drop.port);
    assert.equal(await failedWith(f, 's@example.org'), 'RPOP_TIMEOUT');
    assert.equal(await failedWith(f, 'g@example.org'), 'RPOP_PROTOCOL');
    assert.equal(await failedWith(f, 'l@example.org'), 'RPOP_PROTOCOL');
    assert.ok(['RPOP_CONNECT', 'RPOP_TLS'].includes(await failedWith(f, 't@example.org')));
    assert.equal(await failedWith(f, 'd@example.org'), 'RPOP_PROTOCOL');
    await waitFor(async () => (await fetchedMessages(f.pop3Port, 'd@example.org', 'local')).length === 2, 20_000, 'both messages after the drop');
    const [row] = await rpopList(f, 'd@example.org');
    await waitFor(async () => ((await rpopList(f, 'd@example.org'))[0]!.state.lastPollAt ?? 0) > row!.state.lastPollAt!, 20_000, 'one more poll');
    assert.deepEqual((await fetchedMessages(f.pop3Port, 'd@example.org', 'local')).map((m) => /Subject: (.*)\r\n/.exec(m)![1]).sort(), ['dropped once', 'fine']);
    assert.equal(drop.retrs.get('a1'), 2, 'RETR again after the drop');
  } finally {
    await f.stop();
  }
});

test('maxMessageSize: a big message stays on the remote; a LIST that lies is RPOP_TOO_BIG', async () => {
  const big = 'y'.repeat(70) + '\r\n';
  const r1 = await fake('normal', [{ uidl: 'b1', body: mail('big', big.repeat(40)) }, { uidl: 'b2', body: mail('small') }]);
  const r2 = await fake('normal', [{ uidl: 'c1', body: mail('liar', big.repeat(40)), listSize: 100 }]);
  fakes.push(r1, r2);
  const f = await startFetcher(path.join(root, 's'), 'minInterval = 1 maxMessageSize = 1');
  try {
    await f.addUser('h@example.org', 'local');
    await f.addUser('i@example.org', 'local');
    await add(f, 'h@example.org', r1.port, { keep: false });
    await add(f, 'i@example.org', r2.port);
    await waitFor(async () => (await fetchedMessages(f.pop3Port, 'h@example.org', 'local')).length === 1, 20_000, 'the small one');
    await waitFor(() => r1.msgs.length === 1, 20_000, 'the small one deleted');
    assert.equal(r1.msgs[0]!.uidl, 'b1', 'the big one stays');
    assert.equal(r1.retrs.get('b1'), undefined, 'never RETRed');
    assert.equal(await failedWith(f, 'i@example.org'), 'RPOP_TOO_BIG');
    assert.equal((await fetchedMessages(f.pop3Port, 'i@example.org', 'local')).length, 0);
  } finally {
    await f.stop();
  }
});

test('maxMessagesPerPoll: at most that many per session, each message once', async () => {
  const r = await fake('normal', Array.from({ length: 5 }, (_, i) => ({ uidl: `p${i}`, body: mail(`per poll ${i}`) })));
  fakes.push(r);
  const f = await startFetcher(path.join(root, 'p'), 'minInterval = 1 maxMessagesPerPoll = 2');
  try {
    await f.addUser('j@example.org', 'local');
    await add(f, 'j@example.org', r.port);
    await waitFor(async () => (await fetchedMessages(f.pop3Port, 'j@example.org', 'local')).length === 5, 20_000, 'all five');
    assert.ok(r.sessionsRetrs.every((n) => n <= 2), `RETRs per session: ${r.sessionsRetrs.join(',')}`);
    assert.deepEqual([...r.retrs.values()], [1, 1, 1, 1, 1]);
  } finally {
    await f.stop();
  }
});

test('maxConnections: polls at once, over two threads', async () => {
  const r = await fake('normal', [], 300);
  fakes.push(r);
  const f = await startFetcher(path.join(root, 'c'), 'minInterval = 1 maxConnections = 2 minConnThreads = 2 maxConnThreads = 2');
  try {
    for (let i = 0; i < 4; i++) {
      await f.addUser(`k${i}@example.org`, 'local');
      await add(f, `k${i}@example.org`, r.port);
    }
    await waitFor(async () => {
      for (let i = 0; i < 4; i++) if ((await rpopList(f, `k${i}@example.org`))[0]!.state.lastPollAt === null) return false;
      return true;
    }, 20_000, 'every connection polled');
    assert.equal(r.maxConcurrent, 2);
  } finally {
    await f.stop();
  }
});
