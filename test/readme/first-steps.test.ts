/**
 * test/readme/first-steps.test.ts: the README's "First five minutes" runs as written.
 *
 * The commands are read from the section itself: every line of its ```sh blocks (a line ending
 * in `\` continues on the next, and is passed on so; `# …` comments stay, the shell ignores them). The first block is the
 * server (`npm start`), run in the background from the repository root; the rest run in order,
 * each with `bash -c` from the repository root, and each must exit 0. Then: the message sent
 * over SMTP is the one read over POP3, /status is the server's JSON, the metrics count one
 * message received and delivered, and the server exits 0 after `ctl stop`.
 *
 * What the test changes, and only that, so that it runs beside the rest of the suite:
 *   - the data directory: POSTERN_DATA_DIR (which `postern start` and `postern ctl` read) names a
 *     temporary directory instead of ./data;
 *   - the ports: POSTERN_CONFIG names a file holding the embedded default configuration
 *     (DEFAULT_CONFIG_TEXT) with each `127.0.0.1:PORT` address replaced by a free port, and the
 *     same replacement is made in the commands. Every address the section names must be one of
 *     the embedded default's.
 * Before the first POP3 command the test waits for the server's `queue: delivered` log line (the
 * README says delivery follows the SMTP 250 within moments).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONFIG_TEXT } from '../../src/config/default.ts';
import { freePort, runProcess, tmpDir, waitFor } from '../helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECTION = 'First five minutes';

/** The section's text, from its heading to the next `## ` heading. */
function section(readme: string, title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README.md has no "## ${title}" section`);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The commands of each ```sh block: one per line, `\`-continued lines joined. */
function shBlocks(text: string): string[][] {
  const blocks: string[][] = [];
  for (const m of text.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    const cmds: string[] = [];
    let pending = '';
    for (const line of m[1]!.split('\n')) {
      if (line.trim() === '' && pending === '') continue;
      if (line.endsWith('\\')) {
        pending += `${line}\n`; // kept as the shell gets it when pasted
        continue;
      }
      cmds.push(pending + line);
      pending = '';
    }
    assert.equal(pending, '', 'a command ends with a backslash');
    blocks.push(cmds);
  }
  return blocks;
}

const ADDRESS = /127\.0\.0\.1:(\d+)/g;

test('README "First five minutes": every command runs as written and the message arrives', async (t) => {
  const text = section(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'), SECTION);
  const blocks = shBlocks(text);
  assert.equal(blocks.length, 2, 'two sh blocks: the server, then the commands');
  const [serverBlock, steps] = blocks as [string[], string[]];
  assert.deepEqual(serverBlock, ['npm start']);

  // Free ports for every address of the embedded default; the section names no other.
  const ports = new Map<string, string>();
  for (const m of DEFAULT_CONFIG_TEXT.matchAll(ADDRESS)) if (!ports.has(m[1]!)) ports.set(m[1]!, String(await freePort()));
  for (const m of text.matchAll(ADDRESS)) assert.ok(ports.has(m[1]!), `the section names 127.0.0.1:${m[1]}, which the embedded default does not`);
  const rewrite = (s: string): string => s.replace(ADDRESS, (_, p: string) => `127.0.0.1:${ports.get(p)}`);

  const dir = tmpDir('postern-readme-');
  const cfg = path.join(dir, 'embedded-default-free-ports.cfg');
  fs.writeFileSync(cfg, rewrite(DEFAULT_CONFIG_TEXT));
  const env = { POSTERN_DATA_DIR: path.join(dir, 'data'), POSTERN_CONFIG: cfg };

  const server: ChildProcess = spawn('bash', ['-c', serverBlock[0]!], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  server.stdout!.on('data', (d) => (log += d));
  server.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((r) => server.on('exit', (code) => r(code)));
  t.after(() => {
    try {
      process.kill(-server.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await waitFor(() => log.includes('"msg":"postern started"') || server.exitCode !== null, 60_000, 'the "postern started" log line');
  assert.ok(log.includes('"msg":"postern started"'), `the server did not start:\n${log}`);

  const outputs: Array<{ cmd: string; stdout: string }> = [];
  for (const step of steps) {
    if (step.includes('pop3://')) await waitFor(() => log.includes('"msg":"queue: delivered"'), 20_000, 'the "queue: delivered" log line');
    const cmd = rewrite(step);
    const r = await runProcess('bash', ['-c', `cd "$0" && ${cmd}`, ROOT], { env, timeoutMs: 60_000 });
    t.diagnostic(`$ ${cmd}\n${r.stdout.length > 600 ? `${r.stdout.slice(0, 600)} …` : r.stdout}`);
    assert.equal(r.code, 0, `${cmd}\n${r.stdout}${r.stderr}`);
    outputs.push({ cmd: step, stdout: r.stdout });
  }
  const out = (pattern: RegExp): string => {
    const hit = outputs.find((o) => pattern.test(o.cmd));
    assert.ok(hit !== undefined, `no command matching ${pattern}`);
    return hit.stdout;
  };

  // The message read over POP3 is the one sent over SMTP, with Postern's trace line.
  const subject = /Subject: ([^\\]+)\\r\\n/.exec(steps.find((s) => s.includes('smtp://')) ?? '')?.[1];
  assert.ok(subject !== undefined, 'the SMTP command sends a message with a Subject');
  const message = out(/pop3:\/\/\S+\/1 /);
  assert.match(message, new RegExp(`^Subject: ${subject}\\r?$`, 'm'));
  assert.match(message, /^Received: from .*\r?\n\s+by .* \(Postern\) with ESMTP id /m);
  assert.match(out(/pop3:\/\/\S+\/ /), /^1 \d+\r?$/m);
  const status = JSON.parse(out(/\/status/)) as { server: { dataDir: string }; services: Array<{ name: string; state: string }> };
  assert.equal(status.server.dataDir, env.POSTERN_DATA_DIR);
  assert.ok(status.services.some((s) => s.name === 'smtpIncoming' && s.state === 'running'), JSON.stringify(status.services));
  const metrics = out(/\/metrics/);
  assert.match(metrics, /^postern_messages_received_total 1$/m);
  assert.match(metrics, /^postern_messages_delivered_total 1$/m);
  // `ctl stop` was the last command: the server (npm start) exits 0.
  assert.match(steps.at(-1)!, /^npx postern ctl stop\b/);
  assert.equal(await exited, 0, log);
});
