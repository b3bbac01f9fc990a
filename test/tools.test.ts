/**
 * test/tools.test.ts: the tool step (test/tools.ts). Its decision with the machine injected
 * (missing + root → one locked apt-get run; missing + not root, or no apt-get → one line naming
 * the command, nothing run), and the command itself as a real process: silent when the suite's
 * tools are there, one line and exit 1 when a tool is missing for a user who cannot install.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpDir } from './helpers.ts';
import { ensureTools, missingTools, systemHost, TOOLS, toolsFor, ToolsMissingError, type ToolHost, type ToolName } from './tools.ts';

const TOOLS_CLI = fileURLToPath(new URL('./tools.ts', import.meta.url));

interface Call { cmd: string; args: string[]; env: Record<string, string> }

/** A machine with `present` probes, which `run` makes `installs` present. */
function fakeHost(o: { present: string[]; isRoot: boolean; hasApt?: boolean; installs?: string[]; fail?: boolean }): ToolHost & { calls: Call[]; said: string[] } {
  const present = new Set(o.present);
  const calls: Call[] = [];
  const said: string[] = [];
  return {
    calls,
    said,
    isRoot: o.isRoot,
    hasApt: o.hasApt ?? true,
    has: (probe) => present.has(probe),
    run(cmd, args, env) {
      calls.push({ cmd, args, env });
      if (o.fail === true) throw new Error('Command failed: flock\nE: Unable to locate package');
      for (const p of o.installs ?? []) present.add(p);
    },
    say: (line) => void said.push(line),
  };
}

/** The ToolsMissingError `fn` throws. */
function thrown(fn: () => unknown): ToolsMissingError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ToolsMissingError, String(e));
    return e;
  }
  assert.fail('no ToolsMissingError');
}

const probes = (names: ToolName[]): string[] => names.map((n) => TOOLS[n].probe);

test('tools: nothing missing → nothing run, nothing said', () => {
  const host = fakeHost({ present: probes(toolsFor('test')), isRoot: true });
  assert.deepEqual(ensureTools(toolsFor('test'), { host }), []);
  assert.deepEqual(host.calls, []);
  assert.deepEqual(host.said, []);
});

test('tools: missing + root → one apt-get update and install of each package once, under the lock, non-interactive', () => {
  const all = toolsFor('test');
  const gone: ToolName[] = ['lftp', 'mbsync', 'dovecot', 'doveadm'];
  const host = fakeHost({ present: probes(all.filter((n) => !gone.includes(n))), isRoot: true, installs: probes(gone) });
  const installed = ensureTools(all, { host, lockFile: '/tmp/x.lock', what: 'npm test' });
  assert.deepEqual(installed, ['lftp', 'isync', 'dovecot-core']);
  assert.deepEqual(host.calls, [{
    cmd: 'flock',
    args: ['/tmp/x.lock', 'sh', '-c', 'apt-get update -qq && apt-get install -y -qq lftp isync dovecot-core'],
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  }]);
  assert.match(host.said[0]!, /^postern: npm test needs lftp, mbsync, dovecot, doveadm: installing lftp isync dovecot-core/);
});

test('tools: a row without its recommends is installed apart, after the same single update', () => {
  const host = fakeHost({ present: [], isRoot: true, installs: probes(['vsftpd', 'php', 'roundcube', 'roundcube-sqlite3']) });
  assert.deepEqual(ensureTools(['vsftpd', 'php', 'roundcube', 'roundcube-sqlite3'], { host, lockFile: '/tmp/x.lock' }), ['vsftpd', 'php-cli', 'roundcube-core', 'roundcube-sqlite3']);
  assert.equal(host.calls.length, 1);
  assert.deepEqual(host.calls[0]!.args.slice(2), ['-c', 'apt-get update -qq && apt-get install -y -qq vsftpd && apt-get install -y -qq --no-install-recommends php-cli roundcube-core roundcube-sqlite3']);
  const user = fakeHost({ present: [], isRoot: false });
  assert.equal(thrown(() => ensureTools(['vsftpd', 'roundcube'], { host: user })).message,
    'postern: this run needs vsftpd, roundcube; run: sudo apt-get update && sudo apt-get install -y vsftpd && sudo apt-get install -y --no-install-recommends roundcube-core');
});

test('tools: missing + not root → the one line naming the exact command, nothing run', () => {
  const host = fakeHost({ present: probes(toolsFor('test').filter((n) => n !== 'fetchmail' && n !== 'chromium')), isRoot: false });
  const e = thrown(() => ensureTools(toolsFor('test'), { host, what: 'npm test' }));
  assert.equal(e.code, 'TOOLS_MISSING');
  assert.equal(e.message, 'postern: npm test needs fetchmail, chromium; run: sudo apt-get update && sudo apt-get install -y fetchmail chromium');
  assert.doesNotMatch(e.message, /\n/);
  assert.deepEqual(host.calls, []);
});

test('tools: missing + root without apt-get → one line naming the Debian packages, nothing run', () => {
  const host = fakeHost({ present: [], isRoot: true, hasApt: false });
  const e = thrown(() => ensureTools(['lftp', 'mbsync'], { host }));
  assert.equal(e.code, 'TOOLS_MISSING');
  assert.match(e.message, /no apt-get: install the Debian packages lftp isync/);
  assert.deepEqual(host.calls, []);
});

test('tools: apt-get fails → TOOLS_INSTALL_FAILED; installs but the tool is still not there → TOOLS_MISSING', () => {
  const failing = fakeHost({ present: [], isRoot: true, fail: true });
  const e1 = thrown(() => ensureTools(['lftp'], { host: failing }));
  assert.equal(e1.code, 'TOOLS_INSTALL_FAILED');
  assert.doesNotMatch(e1.message, /\n/);
  const noop = fakeHost({ present: [], isRoot: true, installs: [] });
  const e2 = thrown(() => ensureTools(['dovecot-imap'], { host: noop }));
  assert.equal(e2.code, 'TOOLS_MISSING');
  assert.match(e2.message, /dovecot-imap still missing \(looked for \/usr\/lib\/dovecot\/imap\)/);
});

test('tools: the table covers the clients the suite runs, and each is on this machine (npm test ran the step)', () => {
  const set = toolsFor('test');
  for (const n of ['python3', 'curl', 'openssl', 'lftp', 'mbsync', 'fetchmail', 'dovecot', 'dovecot-imap', 'chromium'] as const) assert.ok(set.includes(n), n);
  assert.deepEqual(missingTools(set, systemHost), [], 'run: node test/tools.ts test');
});

function runCli(args: string[], o: { env?: Record<string, string>; uid?: number; gid?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [TOOLS_CLI, ...args], { env: { ...process.env, ...o.env }, uid: o.uid, gid: o.gid, cwd: path.dirname(TOOLS_CLI), timeout: 30_000 }, (e, stdout, stderr) => {
      resolve({ code: e === null ? 0 : Number((e as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

test('tools command: every tool there → exit 0, silent; an unknown name → usage, exit 2', async () => {
  assert.deepEqual(await runCli(['test']), { code: 0, stdout: '', stderr: '' });
  const bad = await runCli(['no-such-tool']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^usage: node test\/tools\.ts test\|bench\|TOOL/);
});

test('tools command: a missing tool for a user who cannot install → one line with the command, exit 1', async () => {
  // lftp and mbsync are in /usr/bin: on a PATH of just this directory they are missing, while
  // apt-get (a stand-in that is never run) is there. As root, the command runs as `nobody`.
  const bin = tmpDir('postern-tools-');
  fs.chmodSync(bin, 0o755);
  fs.writeFileSync(path.join(bin, 'apt-get'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  try {
    const r = await runCli(['lftp', 'mbsync'], { env: { PATH: bin }, ...asNobody });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'postern: this run needs lftp, mbsync; run: sudo apt-get update && sudo apt-get install -y lftp isync\n');
    // Without apt-get on the PATH: the line names the Debian packages.
    const noApt = await runCli(['lftp'], { env: { PATH: '/nonexistent' }, ...asNobody });
    assert.equal(noApt.code, 1, noApt.stderr);
    assert.equal(noApt.stderr, 'postern: this run needs lftp, and this machine has no apt-get: install the Debian packages lftp (or their equivalents)\n');
  } finally {
    fs.rmSync(bin, { recursive: true, force: true });
  }
});
