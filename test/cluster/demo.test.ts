/**
 * test/cluster/demo.test.ts: `postern cluster demo` as a newcomer runs it: it starts slapd and
 * the three nodes, prints what to connect to and one command per protocol; the printed POP3,
 * IMAP, SMTP and WebMail commands work as printed; Ctrl-C (SIGINT) stops every node and slapd
 * and the command exits 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { run } from './clients.ts';
import { tmpDir, waitFor } from '../helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('postern cluster demo: prints working commands, Ctrl-C stops everything', async (t) => {
  const dir = tmpDir('postern-demo-');
  const child = spawn(process.execPath, [BIN, 'cluster', 'demo', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await waitFor(() => out.includes('Ctrl-C stops everything.'), 90_000, 'the demo up');
  const line = (what: string): string[] => {
    const l = out.split('\n').find((x) => x.trimStart().startsWith(what))!;
    // the printed command, split as a shell would (single quotes only)
    return [...l.trim().slice(what.length).trim().matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
  };
  const smtp = line('SMTP');
  assert.equal(smtp[0], 'swaks');
  const sw = await run(smtp[0]!, [...smtp.slice(1), '--header', 'Subject: demo']);
  assert.equal(sw.code, 0, sw.stdout + sw.stderr);
  const pop = line('POP3');
  assert.equal(pop[0], 'curl');
  await waitFor(async () => /^1 \d+/m.test((await run(pop[0]!, pop.slice(1))).stdout), 30_000, 'the demo mail listed over POP3');
  const imap = line('IMAP');
  await waitFor(async () => /\* SEARCH 1/.test((await run(imap[0]!, imap.slice(1))).stdout), 30_000, 'the demo mail found over IMAP');
  const web = /WebMail\s+(http:\/\/\S+)/.exec(out)![1]!;
  const page = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', web]);
  assert.equal(page.stdout, '200');
  // the pids of the nodes, from their status endpoints
  const statusUrls = [...out.matchAll(/status (http:\/\/\S+\/status)/g)].map((m) => m[1]!);
  assert.equal(statusUrls.length, 3);
  const pids = await Promise.all(statusUrls.map(async (u) => ((await (await fetch(u)).json()) as { server: { pid: number } }).server.pid));
  child.kill('SIGINT');
  assert.equal(await exit, 0, out.slice(-2000));
  for (const pid of pids) assert.equal(alive(pid), false, `node ${pid} stopped`);
  const ldapPort = /LDAP\s+ldap:\/\/[\d.]+:(\d+)/.exec(out)![1]!;
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port: Number(ldapPort) }, () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
  assert.equal(refused, true, 'slapd stopped (its port refuses connections)');
});
