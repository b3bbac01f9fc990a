/**
 * test/smtpOutgoing/crash.test.ts: kill -9 in the middle of relaying. A child process runs the
 * real server (fixtures/out-child.ts: smtp with smtpOutgoing, dnsmasq as its resolver); 30
 * messages are relayed to an aiosmtpd receiver that answers each DATA slowly; once some have
 * arrived the child is SIGKILLed and started again on the same data directory. Every message
 * the server answered 250 arrives; a message arrives twice only in the window between the
 * receiver's 250 and the durable record (at most one per open connection at the kill).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { startDnsServer } from '../dns-server.ts';
import { freePort, tmpDir, waitFor } from '../helpers.ts';
import { startReceiver } from './helpers.ts';

const CHILD = fileURLToPath(new URL('./fixtures/out-child.ts', import.meta.url));
const N = 30;

function startChild(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m !== null) resolve({ child, port: Number(m[1]) });
    });
    child.on('exit', (code, sig) => reject(new Error(`child exited (${code ?? sig}) before listening: ${err.slice(-500)}`)));
  });
}

const exited = (c: ChildProcess): Promise<void> => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r())));

test('kill -9 mid-relay: after a restart every accepted message arrives; duplicates only in the 250-to-record window', async () => {
  const mxPort = await freePort();
  const dns = await startDnsServer({ a: { 'mx.crash.test': ['127.0.0.81'] }, mx: { 'crash.test': [{ exchange: 'mx.crash.test', priority: 10 }] } }, { host: '127.0.0.67' });
  const rx = await startReceiver({ host: '127.0.0.81', port: mxPort, dataDelay: 0.15 });
  const dir = tmpDir('postern-out-crash-');
  const args = [dir, dns.server, String(mxPort)];
  let child: ChildProcess | null = null;
  try {
    const first = await startChild(args);
    child = first.child;
    const c = new SMTPConnection({ host: '127.0.0.1', port: first.port, ignoreTLS: true, logger: false });
    await new Promise<void>((res, rej) => { c.once('error', rej); c.connect(() => res()); });
    for (let i = 0; i < N; i++) {
      await new Promise<void>((res, rej) => c.send({ from: 'a@src.test', to: [`u${i}@crash.test`] }, `From: a@src.test\r\nSubject: crash\r\nX-Id: m${i}\r\n\r\nbody ${i}\r\n`, (e) => (e ? rej(e) : res())));
    }
    c.close();
    await rx.waitMessages(4, 30_000);
    child.kill('SIGKILL');
    await exited(child);
    const atKill = rx.messages.length;
    assert.ok(atKill < N, 'the kill came in the middle of the batch');
    child = (await startChild(args)).child;
    const ids = (): Set<string> => new Set(rx.messages.map((m) => /X-Id: (m\d+)/.exec(m.data)?.[1] ?? ''));
    await waitFor(() => ids().size === N, 60_000, `all ${N} messages at the receiver`);
    const dups = rx.messages.length - N;
    assert.ok(dups <= 2, `at most one duplicate per open connection (maxConnectionsPerDomain = 2), got ${dups}`);
    child.kill('SIGTERM');
    await exited(child);
    child = null;
  } finally {
    if (child !== null) { child.kill('SIGKILL'); await exited(child); }
    await rx.stop();
    await dns.stop();
  }
});
