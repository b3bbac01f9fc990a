/**
 * The `postern` command as an operator runs it: `start` with the embedded default serves the
 * status endpoint within 5 s; `ctl` talks to it over the control socket; SIGHUP reloads;
 * SIGTERM stops it with exit code 0; a bad config fails at start with line, column and path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { getJson, tmpDir, waitFor } from '../helpers.ts';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'postern.js');

function startProc(args: string[], cwd: string): { child: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POSTERN_LOG_LEVEL: 'info' } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => out, exit };
}

function statusPortFrom(out: string): number | undefined {
  for (const line of out.split('\n')) {
    if (!line.includes('postern started')) continue;
    try {
      return JSON.parse(line).statusPort as number;
    } catch {
      /* not JSON */
    }
  }
  return undefined;
}

async function ctl(dataDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileP(process.execPath, [BIN, 'ctl', '--data-dir', dataDir, ...args], { cwd: ROOT });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

test('start with no arguments serves the status endpoint within 5 s on the embedded default', async (t) => {
  const cwd = tmpDir();
  const p = startProc(['start'], cwd);
  t.after(() => p.child.kill('SIGKILL'));
  const t0 = Date.now();
  const doc = await waitFor(() => getJson('http://127.0.0.1:9100/status'), 5000, 'status on 127.0.0.1:9100');
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(doc.tree.id, 'root');
  assert.equal(doc.server.pid, p.child.pid, 'the status endpoint is this server\'s');
  // the status endpoint is up before the services: they start after it, then the control socket
  await waitFor(() => p.out().includes('postern started'), 30_000, 'the started log line');
  assert.ok(fs.existsSync(path.join(cwd, 'data', 'run', 'postern.sock')));
  p.child.kill('SIGTERM');
  assert.equal(await p.exit, 0);
});

test('ctl, SIGHUP reload and SIGTERM against a running server', async (t) => {
  const dir = tmpDir();
  const cfg = path.join(dir, 'postern.cfg');
  fs.writeFileSync(cfg, 'Server {\n  statusListener = 127.0.0.1:0\n  logLevel = info\n}\n');
  const p = startProc(['start', '--config', cfg, '--data-dir', dir], dir);
  t.after(() => p.child.kill('SIGKILL'));
  const port = await waitFor(() => statusPortFrom(p.out()), 5000, 'the started log line');

  const st = await ctl(dir, '--json', 'status');
  assert.equal(st.code, 0, st.stderr);
  const doc = JSON.parse(st.stdout);
  assert.equal(doc.ok, true);
  assert.equal(doc.result.tree.id, 'root');

  const human = await ctl(dir, 'status');
  assert.equal(human.code, 0);
  assert.match(human.stdout, /root/);

  // an error is one line on stderr (every service of the table may be built: an unknown name)
  const ni = await ctl(dir, 'service', 'start', 'nosuchservice');
  assert.equal(ni.code, 1);
  assert.match(ni.stderr.trim(), /^postern ctl: .*nosuchservice/);
  assert.equal(ni.stderr.trim().split('\n').length, 1);

  // the directory verbs reach the store thread
  assert.equal((await ctl(dir, 'domain', 'add', 'example.org')).code, 0);
  const add = await ctl(dir, 'account', 'add', 'bob@example.org', '--password', 'pw1');
  assert.equal(add.code, 0, add.stderr);
  const list = await ctl(dir, '--json', 'account', 'list');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /bob@example\.org/);
  const dup = await ctl(dir, 'account', 'add', 'bob@example.org', '--password', 'pw1');
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /STORE_ACCOUNT_EXISTS/);
  const notEmpty = await ctl(dir, 'domain', 'remove', 'example.org');
  assert.equal(notEmpty.code, 1);
  assert.match(notEmpty.stderr, /^postern ctl: .*\[STORE_DOMAIN_NOT_EMPTY\]\n$/);

  const fault = await ctl(dir, 'fault', 'pop3', 'crash');
  assert.equal(fault.code, 1);
  assert.match(fault.stderr, /fault injection is off/);

  const unknown = await ctl(dir, 'service', 'start', 'nosuch');
  assert.notEqual(unknown.code, 0);

  // SIGHUP reloads the file: change the log level and see the reload logged
  fs.writeFileSync(cfg, 'Server {\n  statusListener = 127.0.0.1:0\n  logLevel = info\n  primaryDomain = "example.org"\n}\n');
  p.child.kill('SIGHUP');
  await waitFor(() => p.out().includes('configuration reloaded'), 5000, 'reload on SIGHUP');
  const viaCtl = await ctl(dir, '--json', 'reload');
  assert.equal(viaCtl.code, 0, viaCtl.stderr);

  // a broken file on reload keeps the running config and says why
  fs.writeFileSync(cfg, 'Server {\n  statusListener = 127.0.0.1:0\n  nosuch = 1\n}\n');
  const bad = await ctl(dir, 'reload');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /line 3, column 3/);
  assert.ok((await getJson(`http://127.0.0.1:${port}/status`)).tree);

  p.child.kill('SIGTERM');
  assert.equal(await p.exit, 0);
  const after = await ctl(dir, 'status');
  assert.equal(after.code, 1);
  assert.match(after.stderr, /^postern ctl: /);
});

test('a bad config fails at start naming line, column and attribute path', async () => {
  const dir = tmpDir();
  const cfg = path.join(dir, 'bad.cfg');
  fs.writeFileSync(cfg, 'Server {\n  pop3 = {\n    maxErrors = lots\n  }\n}\n');
  const p = startProc(['start', '--config', cfg, '--data-dir', dir], dir);
  assert.equal(await p.exit, 1);
  assert.match(p.out(), /line 3, column \d+: Server\.pop3\.maxErrors/);
});
