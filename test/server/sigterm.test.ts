/**
 * SIGTERM does what the README says (issue 11, item 11), against the `postern` command as an
 * operator runs it: the listeners close at once (a new client is refused by the kernel), an
 * idle SMTP session gets 421 at once, a session in the middle of DATA and one between BDAT
 * chunks may finish their messages (250, then 421), and the process exits 0 as soon as they
 * are done, well before shutdownTimeout. The messages are delivered (read after a restart).
 * The same in-process (`server.stop()`) for an FTP upload and a POP3 RETR in progress.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startServer } from '../../actors/server.ts';
import { freePort, tmpDir, waitFor } from '../helpers.ts';
import { rawSmtp, readInbox, waitMessages } from '../smtp/helpers.ts';

const execFileP = promisify(execFile);
const BIN = path.join(fileURLToPath(new URL('../../', import.meta.url)), 'bin', 'postern.js');
const SHUTDOWN_TIMEOUT_S = 30;


function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

test('SIGTERM: listeners close at once, idle sessions get 421 at once, DATA and BDAT finish first', async (t) => {
  const dir = tmpDir();
  const port = await freePort();
  const cfg = path.join(dir, 'postern.cfg');
  fs.writeFileSync(cfg, `Server {
    services = (smtpIncoming processing)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = info
    shutdownTimeout = ${SHUTDOWN_TIMEOUT_S}
    smtpIncoming = { minConnThreads = 1  maxConnThreads = 1  listeners = ( { address = 127.0.0.1:${port} } ) }
}\n`);
  const child = spawn(process.execPath, [BIN, 'start', '--config', cfg, '--data-dir', dir], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitFor(() => out.includes('postern started'), 20_000, 'the started log line');
  await execFileP(process.execPath, [BIN, 'ctl', '--data-dir', dir, 'account', 'add', 'ann@example.org', '--password', 'pw']);

  const idle = await rawSmtp(port);
  assert.equal((await idle.cmd('EHLO idle.example')).code, 250);
  const data = await rawSmtp(port);
  assert.equal((await data.cmd('EHLO data.example')).code, 250);
  assert.equal((await data.cmd('MAIL FROM:<x@remote.example>')).code, 250);
  assert.equal((await data.cmd('RCPT TO:<ann@example.org>')).code, 250);
  assert.equal((await data.cmd('DATA')).code, 354);
  data.write('Subject: in DATA at SIGTERM\r\n\r\nfirst half\r\n');
  const bdat = await rawSmtp(port);
  assert.equal((await bdat.cmd('EHLO bdat.example')).code, 250);
  assert.equal((await bdat.cmd('MAIL FROM:<x@remote.example>')).code, 250);
  assert.equal((await bdat.cmd('RCPT TO:<ann@example.org>')).code, 250);
  const chunk1 = 'Subject: in BDAT at SIGTERM\r\n\r\n';
  bdat.write(`BDAT ${chunk1.length}\r\n${chunk1}`);
  assert.equal((await bdat.reply()).code, 250);

  const t0 = Date.now();
  child.kill('SIGTERM');
  const bye = await idle.reply(10_000);
  assert.equal(bye.code, 421, bye.text);
  await idle.closed;
  // the goodbye to the idle session comes after the listeners closed
  assert.equal(await connectError(port), 'ECONNREFUSED');

  data.write('second half\r\n.\r\n');
  const queued = await data.reply(10_000);
  assert.equal(queued.code, 250, queued.text);
  assert.equal((await data.reply(10_000)).code, 421);
  await data.closed;
  const chunk2 = 'after SIGTERM\r\n';
  bdat.write(`BDAT ${chunk2.length} LAST\r\n${chunk2}`);
  const queued2 = await bdat.reply(10_000);
  assert.equal(queued2.code, 250, queued2.text);
  assert.equal((await bdat.reply(10_000)).code, 421);
  await bdat.closed;

  assert.equal(await exited, 0, out);
  assert.ok(Date.now() - t0 < SHUTDOWN_TIMEOUT_S * 1000, 'the process exits once the sessions are done, not at the deadline');

  // both messages were queued durably and are delivered
  const server = await startServer({ configText: fs.readFileSync(cfg, 'utf8').replace('logLevel = info', 'logLevel = error'), dataDir: dir, statusPort: 0, controlSocket: false });
  try {
    await waitMessages(server, 'ann@example.org', 2);
  } finally {
    await server.stop();
  }
  const inbox = (await readInbox(dir, 'ann@example.org')).join('\n');
  assert.match(inbox, /first half\r\nsecond half/);
  assert.match(inbox, /in BDAT at SIGTERM\r\n\r\nafter SIGTERM/);
});

test('stop during an FTP upload: the idle session gets 421 at once, the upload finishes (226, then 421) and is stored', async () => {
  const { startFtp, connectFtp, pasvData, message } = await import('../ftp/helpers.ts');
  const env = await startFtp();
  await env.server.admin('account.add', { address: 'ann@example.org', password: 'pw' });
  const port = env.port;
  const idle = await connectFtp(port);
  await idle.login();
  const busy = await connectFtp(port);
  await busy.login();
  const data = await pasvData(busy);
  assert.match(await busy.ftp('STOR /domains/example.org/users/ann/folders/INBOX/new.eml'), /^150 /);
  const text = message('uploaded across a shutdown', 'first half\r\nsecond half\r\n');
  const cut = text.indexOf('second half');
  data.write(text.slice(0, cut));

  const stopping = env.server.stop();
  assert.match(await idle.reply(10_000), /^421 /);
  await idle.closed;
  assert.equal(await connectError(port), 'ECONNREFUSED');

  data.end(text.slice(cut));
  assert.match(await busy.reply(10_000), /^226 /);
  assert.match(await busy.reply(10_000), /^421 /);
  await busy.closed;
  await stopping;
  const inbox = await readInbox(env.dir, 'ann@example.org');
  assert.equal(inbox.length, 1);
  assert.match(inbox[0]!, /first half\r\nsecond half/);
});

test('stop during a POP3 RETR to a slow reader: the idle session gets -ERR at once, the message arrives whole, then the goodbye', async () => {
  const { startPop3, pop3 } = await import('../pop3/helpers.ts');
  const env = await startPop3();
  await env.addUser('ann@example.org', 'pw');
  const SIZE = 32 << 20; // more than the loopback socket buffers hold: the RETR waits for the reader
  await env.bulk('ann@example.org', 1, SIZE);
  const idle = await pop3(env.port);
  assert.match(await idle.login('ann@example.org', 'pw'), /^\+OK/);
  const busy = await pop3(env.port);
  assert.match(await busy.login('ann@example.org', 'pw'), /^\+OK/);
  assert.match(await busy.cmd('RETR 1', 20_000), /^\+OK \d+ octets$/);
  busy.socket.pause(); // a slow reader: the server is in the middle of RETR

  const stopping = env.server.stop();
  assert.equal(await idle.read(10_000), '-ERR [SYS/TEMP] server shutting down');
  await idle.closed;

  busy.socket.resume();
  const lines = await busy.readMulti(60_000);
  const octets = lines.reduce((a, l) => a + Buffer.byteLength(l) + 2, 0);
  assert.ok(octets >= SIZE * 0.99, `${octets} octets of ${SIZE}`);
  assert.equal(await busy.read(10_000), '-ERR [SYS/TEMP] server shutting down');
  await busy.closed;
  await stopping;
});
