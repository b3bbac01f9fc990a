/**
 * test/report/durable.test.ts: the Report service's samples survive a restart and a kill -9
 * (a child process running the server is SIGKILLed after its sample was acknowledged; a torn
 * last line is cut off at the next append); per-domain samples are absent when the flags are
 * off; the sampler's own timer (sampleInterval) writes samples; lowering reportingInterval (a
 * live config.set) deletes the older samples, with the Report clock injected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../../src/control/client.ts';
import { tmpDir, waitFor } from '../helpers.ts';
import { python, reportConfig, startReport, total } from './helpers.ts';
import type { StatusDoc } from '../../src/status/types.ts';

const CHILD = fileURLToPath(new URL('./fixtures/server-child.ts', import.meta.url));

function send(port: number, n: number, to = 'a@example.org'): Promise<string> {
  return python(`
import smtplib
s = smtplib.SMTP('127.0.0.1', ${port}, local_hostname='client.test')
for i in range(${n}):
    s.sendmail('s@example.net', ['${to}'], 'Subject: %d\\r\\n\\r\\nbody\\r\\n' % i)
s.quit()
`);
}

function dayFiles(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'report')).filter((f) => f.endsWith('.jsonl')).sort();
}

test('samples survive a restart and a kill -9 (a torn last line is cut off)', async () => {
  const dir = tmpDir('postern-report-durable-');
  let env = await startReport({ dir });
  await env.server.admin('account.add', { address: 'a@example.org', password: 'pw-123456' });
  await send(env.smtp, 2);
  await waitFor(() => env.counters('smtpIncoming').SMTP_InboundMessage === 2, 20_000, 'two messages counted');
  await env.sample();
  await env.stop();

  env = await startReport({ dir });
  assert.equal(total(await env.query({ counter: 'SMTP_InboundMessage' }), 'SMTP_InboundMessage'), 2, 'after a restart');
  await env.stop();

  // a child process: three more messages, a sample acknowledged, then SIGKILL
  const child = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const smtp = await new Promise<number>((resolve, reject) => {
      let buf = '';
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        buf += d;
        const m = /\{"smtp":(\d+)\}/.exec(buf);
        if (m !== null) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`child exited (${code})`)));
    });
    await send(smtp, 3);
    const sock = path.join(dir, 'run', 'postern.sock');
    await waitFor(async () => ((await controlRequest(sock, 'status', {})) as StatusDoc).services.find((s) => s.name === 'smtpIncoming')?.counters?.SMTP_InboundMessage === 3, 20_000, 'three messages counted in the child');
    await controlRequest(sock, 'report.sample', {});
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
  // as if the kill had come in the middle of the next append
  const today = dayFiles(dir).filter((f) => !f.includes('.c.')).pop()!;
  fs.appendFileSync(path.join(dir, 'report', today), '{"t":1,"c":{"SMTP_Inbou');

  env = await startReport({ dir });
  try {
    assert.equal(total(await env.query({ counter: 'SMTP_InboundMessage' }), 'SMTP_InboundMessage'), 5, 'after kill -9');
    await env.sample(); // appends after cutting the torn line
    const lines = fs.readFileSync(path.join(dir, 'report', today), 'utf8').split('\n').filter((l) => l !== '');
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), l);
    assert.equal(total(await env.query({ counter: 'SMTP_InboundMessage' }), 'SMTP_InboundMessage'), 5);
  } finally {
    await env.stop();
  }
});

test('per-domain and per-account samples are absent when DomainEnable and DomainObjectEnable are off', async () => {
  const env = await startReport();
  try {
    await env.server.admin('account.add', { address: 'a@example.org', password: 'pw-123456' });
    await send(env.smtp, 1);
    await waitFor(() => env.counters('smtpIncoming').SMTP_InboundMessage === 1, 20_000, 'a message counted');
    await env.sample();
    assert.equal(total(await env.query(), 'SMTP_InboundMessage'), 1);
    const d = await env.query({ scope: 'domain:example.org' });
    assert.equal(total(d, 'SMTP_InboundMessage'), 0);
    assert.deepEqual(d.scopes, { domains: [], accounts: [], nodes: [] });
    assert.equal(fs.existsSync(path.join(env.dir, 'report', 'scoped')), false, 'no per-domain file');
    for (const f of dayFiles(env.dir)) {
      for (const l of fs.readFileSync(path.join(env.dir, 'report', f), 'utf8').split('\n').filter((x) => x !== '')) {
        const s = JSON.parse(l);
        assert.equal(s.d, undefined);
        assert.equal(s.a, undefined);
      }
    }
  } finally {
    await env.stop();
  }
});

test('the sampler samples every sampleInterval by itself', async () => {
  const env = await startReport({ report: 'sampleInterval = 1' });
  try {
    const r = await waitFor(async () => {
      const q = await env.query({ counter: 'QUEUE_Size' });
      return q.samples >= 2 ? q : null;
    }, 20_000, 'two timed samples');
    assert.ok(r.samples >= 2);
  } finally {
    await env.stop();
  }
});

test('report.sample refuses while the Report service is stopped; query still reads the files', async () => {
  const env = await startReport({ services: 'smtpIncoming processing' });
  try {
    await assert.rejects(env.sample(), (e: any) => e.code === 'SERVICE_NOT_RUNNING');
    assert.equal((await env.query()).samples, 0);
  } finally {
    await env.stop();
  }
});

test('lowering reportingInterval (a live reload, as config.set) deletes the older samples (injected clock)', async () => {
  const real = Date.now();
  let now = real - 20 * 86_400_000; // 20 days ago
  const env = await startReport({ report: 'reportingInterval = 4', start: { reportClock: () => now } });
  try {
    await env.sample();
    now = real - 10 * 86_400_000;
    await env.sample();
    now = real;
    await env.sample();
    // (the clock stands still: `to` is exclusive)
    assert.equal((await env.query({ from: 0, to: now + 1 })).samples, 3);
    assert.equal(dayFiles(env.dir).length, 3, dayFiles(env.dir).join(' '));
    const text = reportConfig({ report: 'reportingInterval = 2' });
    await env.server.reload(text); // what config.set runs
    // two weeks: the sample of 20 days ago is gone, from the queries at once and from the disk
    await waitFor(() => dayFiles(env.dir).length === 2, 10_000, 'the 20-day-old file deleted');
    assert.equal((await env.query({ from: 0, to: now + 1 })).samples, 2);
    now = real + 11 * 86_400_000; // 21 days after the middle sample: the clock moves on
    await env.sample();
    assert.equal((await env.query({ from: 0, to: now + 1 })).samples, 2, 'the 10-day-old one is past two weeks now');
    await waitFor(() => dayFiles(env.dir).length === 2, 10_000, 'pruned at the sample');
  } finally {
    await env.stop();
  }
});
