/**
 * test/log/stdout.test.ts: the Log service is an additional sink: a real `postern start` process
 * whose stdout level is `warn` and whose POP3 service logs at `protocol` writes the protocol and
 * info records to the Log service's file, and still only warnings and worse, as pino JSON, on
 * stdout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectLines, freePort, tmpDir, waitFor } from '../helpers.ts';
import { freeUdpPort } from './helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/postern.js', import.meta.url));

test('stdout keeps its level and its JSON; the Log service file gets the service\'s logLevel', async (t) => {
  const dir = tmpDir('postern-log-stdout-');
  const pop3Port = await freePort();
  const logPort = await freeUdpPort();
  const cfg = path.join(dir, 'postern.conf');
  fs.writeFileSync(cfg, `Server {
    services = (pop3 log)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = warn
    pop3 = { listeners = ( { address = 127.0.0.1:${pop3Port} } ) authFailureDelay = 0 logLevel = protocol }
    log = { listeners = ( { address = 127.0.0.1:${logPort} } ) }
}
`);
  const env = { ...process.env };
  delete env.POSTERN_LOG_LEVEL;
  const child = spawn(process.execPath, [BIN, 'start', '--config', cfg, '--data-dir', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const file = path.join(dir, 'log', 'everything.txt');
  const read = (): string => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
  await waitFor(async () => {
    const c = await connectLines(pop3Port);
    c.close();
    return true;
  }, 15_000, 'the POP3 listener');
  const c = await connectLines(pop3Port);
  await c.read();
  await c.cmd('USER stdout-user@example.org');
  assert.match(await c.cmd('PASS wrong'), /^-ERR/);
  c.close();
  await waitFor(() => /WARNING \S+ POP3: login failed .*stdout-user/.test(read()), 15_000, 'the warning in the file');
  await waitFor(() => /PROTOCOL \S+ POP3: pop3: authentication failed .*stdout-user/.test(read()), 15_000, 'the protocol record in the file');
  assert.match(read(), / INFO \S+ POP3: service started /);
  await waitFor(() => out.includes('stdout-user'), 15_000, 'the warning on stdout');
  child.kill('SIGTERM');
  assert.equal(await exit, 0);
  const lines = out.split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 0);
  for (const l of lines) {
    const o = JSON.parse(l) as { level: number };
    assert.ok(o.level >= 40, `below warn on stdout: ${l}`);
  }
  assert.ok(lines.some((l) => l.includes('"msg":"login failed"')));
  assert.ok(!out.includes('authentication failed'));
});
