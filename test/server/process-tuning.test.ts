/**
 * The server process's memory tuning (src/process-tuning.ts): `tunedLaunch` adds what is
 * missing and keeps what the operator set; `postern start` runs (same pid) with
 * MALLOC_ARENA_MAX and --max-semi-space-size, or with the operator's own values, or without
 * them under POSTERN_PROCESS_TUNING=off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAIN_ONLY_ENV, SERVER_ENV_DEFAULTS, SERVER_NODE_FLAGS, tunedLaunch } from '../../src/process-tuning.ts';
import { tmpDir, waitFor } from '../helpers.ts';

const BIN = path.join(fileURLToPath(new URL('../../', import.meta.url)), 'bin', 'postern.js');

test('tunedLaunch adds the defaults that are missing', () => {
  const t = tunedLaunch({ env: { PATH: '/bin' }, execArgv: ['--enable-source-maps'] });
  assert.equal(t.changed, true);
  assert.equal(t.env.MALLOC_ARENA_MAX, SERVER_ENV_DEFAULTS.MALLOC_ARENA_MAX);
  assert.equal(t.env.PATH, '/bin');
  assert.deepEqual(t.execArgv, [...SERVER_NODE_FLAGS, '--enable-source-maps']);
});

test('tunedLaunch keeps what the operator set, and changes nothing once everything is there', () => {
  const own = tunedLaunch({ env: { MALLOC_ARENA_MAX: '4' }, execArgv: ['--max-semi-space-size=8'] });
  assert.equal(own.changed, false);
  assert.equal(own.env.MALLOC_ARENA_MAX, '4');
  assert.deepEqual(own.execArgv, ['--max-semi-space-size=8']);
  // in NODE_OPTIONS, with underscores: the same option
  const viaOptions = tunedLaunch({ env: { MALLOC_ARENA_MAX: '4', NODE_OPTIONS: '--max_semi_space_size=16' }, execArgv: [] });
  assert.equal(viaOptions.changed, false);
  assert.deepEqual(viaOptions.execArgv, []);
  const again = tunedLaunch(tunedLaunch({ env: {}, execArgv: [] }));
  assert.equal(again.changed, false);
  const off = tunedLaunch({ env: { POSTERN_PROCESS_TUNING: 'off' }, execArgv: [] });
  assert.equal(off.changed, false);
  assert.equal(off.env.MALLOC_ARENA_MAX, undefined);
  assert.deepEqual(off.execArgv, []);
});

/** Start `postern start` with `env` added; resolve with its /proc environ and cmdline once it runs; stop it. */
async function startedWith(env: Record<string, string>): Promise<{ environ: Map<string, string>; cmdline: string[] }> {
  const dir = tmpDir();
  const cfg = path.join(dir, 'postern.cfg');
  fs.writeFileSync(cfg, 'Server {\n  services = ()\n  statusListener = 127.0.0.1:0\n  logLevel = info\n}\n');
  const base = { ...process.env };
  delete base.MALLOC_ARENA_MAX;
  delete base.POSTERN_PROCESS_TUNING;
  const child = spawn(process.execPath, [BIN, 'start', '--config', cfg, '--data-dir', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    await waitFor(() => out.includes('postern started'), 30_000, 'the started log line');
    const pid = child.pid!;
    const environ = new Map(
      fs
        .readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter((x) => x.includes('='))
        .map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)] as [string, string]),
    );
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    child.kill('SIGTERM');
    assert.equal(await exit, 0, out);
    return { environ, cmdline };
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('postern start runs with the tuning, in the same process', { skip: process.platform !== 'linux' }, async () => {
  const { environ, cmdline } = await startedWith({});
  assert.equal(environ.get('MALLOC_ARENA_MAX'), '2');
  for (const f of SERVER_NODE_FLAGS) assert.ok(cmdline.includes(f), cmdline.join(' '));
  assert.ok(cmdline.includes('start'));
});

test("postern start keeps the operator's values, and POSTERN_PROCESS_TUNING=off leaves it alone", { skip: process.platform !== 'linux' }, async () => {
  const own = await startedWith({ MALLOC_ARENA_MAX: '3' });
  assert.equal(own.environ.get('MALLOC_ARENA_MAX'), '3');
  const off = await startedWith({ POSTERN_PROCESS_TUNING: 'off' });
  assert.equal(off.environ.has('MALLOC_ARENA_MAX'), false);
  for (const f of SERVER_NODE_FLAGS) assert.ok(!off.cmdline.includes(f), off.cmdline.join(' '));
});

/** Run `code` (an ES module) in a child Node with `execArgv` and `env`; its stdout. */
function runNode(execArgv: string[], env: Record<string, string>, code: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...execArgv, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (c) => (c === 0 ? resolve(out) : reject(new Error(`exit ${c}: ${err}`))));
  });
}

test("the tuning's young-generation flag stays the main thread's: workers made after workerHeapFlags get their own resourceLimits", async () => {
  const mod = new URL('../../src/process-tuning.ts', import.meta.url).href;
  // the main thread's new space, then a worker's with an 8 MB young-generation limit, in MB
  const code = `
    import v8 from 'node:v8';
    import { Worker } from 'node:worker_threads';
    import { workerHeapFlags } from ${JSON.stringify(mod)};
    const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576;
    const main = newSpace();
    const reset = workerHeapFlags();
    const w = new Worker("const v8 = process.getBuiltinModule('node:v8'); process.getBuiltinModule('node:worker_threads').parentPort.postMessage(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576)", { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    w.once('message', (m) => { console.log(JSON.stringify({ main, worker: m, reset })); w.terminate(); });`;
  const tuned = tunedLaunch({ env: {}, execArgv: [] });
  const ours = JSON.parse(await runNode(tuned.execArgv, { [MAIN_ONLY_ENV]: tuned.env[MAIN_ONLY_ENV]! }, code));
  assert.ok(ours.main <= 1, JSON.stringify(ours)); // the flag applies to the main thread
  assert.ok(ours.worker > 2, JSON.stringify(ours)); // and not to the worker
  assert.deepEqual(ours.reset, ['--max-semi-space-size']);
  // the operator's own flag (no marker): left alone, it applies to every thread
  const theirs = JSON.parse(await runNode(['--max-semi-space-size=1'], {}, code));
  assert.deepEqual(theirs.reset, []);
  assert.ok(theirs.worker <= 2, JSON.stringify(theirs));
});
