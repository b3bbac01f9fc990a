/**
 * test/outbound/burst.test.ts: a burst of relayed mail to one destination, as bench:outbound
 * sends it (a smaller count): Postfix's `smtp-source` injects 2,000 messages of 4 KiB over 20
 * sessions into Postern (a child process: smtpIncoming with relayNetworks, processing,
 * smtpOutgoing with a smart-host route and 20 connections per destination), which relays them
 * to one Postfix `smtp-sink`; the sink's own counter (`-c`) reaches exactly 2,000 and no
 * service thread of the server exits on the way (a connection that opens while the others
 * drain its destination's messages finds none left and stops; it once crashed the thread, and
 * the messages it held waited for their lease to end).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startPosternProcess } from '../../bench/lib/server.ts';
import { freePort, waitFor } from '../helpers.ts';

const N = 2000;

test('2,000 relayed messages in a burst all reach one smtp-sink, no thread exits', async () => {
  const sinkPort = await freePort();
  const sink = spawn('smtp-sink', ['-u', 'nobody', '-c', `127.0.0.1:${sinkPort}`, '256'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let count = 0;
  sink.stdout.on('data', (d: Buffer) => {
    const all = [...d.toString('latin1').matchAll(/mesg=(\d+)/g)];
    if (all.length > 0) count = Number(all[all.length - 1]![1]);
  });
  const lines: string[] = [];
  const p = await startPosternProcess({
    onLine: (l) => void lines.push(l),
    configText: `
Server {
    services = (smtpIncoming processing smtpOutgoing)
    primaryDomain = "origin.test"
    statusListener = 127.0.0.1:0
    logLevel = warn
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) relayNetworks = ( 127.0.0.0/8 ) mailAuth = no }
    smtpOutgoing = {
        mtaSts = no
        maxConnectionsPerDomain = 20
        routes = ( { action = smartHost smartHost = { host = "127.0.0.1" port = ${sinkPort} startTls = no } } )
    }
}`,
  });
  try {
    const src = spawn('smtp-source', ['-d', '-s', '20', '-m', String(N), '-l', '4096', '-f', 'bench@origin.test', '-t', 'rcpt@sink.test', `127.0.0.1:${p.port('smtpIncoming')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    src.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((res) => src.on('exit', res));
    assert.equal(code, 0, `smtp-source: ${err}`);
    await waitFor(() => count >= N, 90_000, `${N} messages at the sink (has ${count})`);
    assert.equal(count, N);
    const exits = lines.filter((l) => l.includes('"child exited"'));
    assert.deepEqual(exits, [], 'no service thread exited');
  } finally {
    await p.stop();
    sink.kill('SIGTERM');
  }
});
