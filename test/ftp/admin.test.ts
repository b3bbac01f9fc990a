/**
 * test/ftp/admin.test.ts: the server admin's password, the FTP backup login:
 * `postern ctl admin passwd --password PW` over the control socket (usage errors included),
 * stored scrypt-hashed in the store's directory file (never the password), kept across a
 * restart, and a new password replaces the old one; a listener without a certificate offers no
 * AUTH TLS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer } from '../../actors/server.ts';
import { parseCtlArgs, runCtl } from '../../src/cli/ctl.ts';
import { connectFtp } from './helpers.ts';
import { tmpDir } from '../helpers.ts';

const config = `Server {
    services = (ftpBackup)
    statusListener = 127.0.0.1:0
    logLevel = error
    ftpBackup = { listeners = ( { address = 127.0.0.1:0 } ) minConnThreads = 1 maxConnThreads = 1 }
}`;

async function ctl(dir: string, ...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCtl(['--data-dir', dir, ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

async function login(port: number, password: string): Promise<string> {
  const c = await connectFtp(port);
  await c.ftp('USER admin');
  const r = await c.ftp(`PASS ${password}`);
  c.close();
  return r;
}

test('ctl admin passwd: usage errors exit 2; parsing maps to the admin.passwd verb', () => {
  assert.deepEqual(parseCtlArgs(['admin', 'passwd', '--password', 's3cret']).verb, 'admin.passwd');
  assert.deepEqual(parseCtlArgs(['admin', 'passwd', '--password', 's3cret']).args, { password: 's3cret' });
  assert.throws(() => parseCtlArgs(['admin', 'passwd']), /--password PW is required/);
  assert.throws(() => parseCtlArgs(['admin', 'reset', '--password', 'x']), /admin: expected passwd/);
  assert.throws(() => parseCtlArgs(['admin', 'passwd', 'extra', '--password', 'x']), /unexpected argument/);
});

test('the admin password: set over the control socket, stored hashed, kept across a restart, replaced', async () => {
  const dir = tmpDir('postern-ftp-admin-');
  let server = await startServer({ configText: config, dataDir: dir, statusPort: 0 });
  try {
    assert.match(await login(server.port('ftpBackup'), 'first-pw'), /^530 /); // none set yet
    // this listener has no certificate: no AUTH TLS offered, and asked for, it is refused
    const c = await connectFtp(server.port('ftpBackup'));
    assert.equal((await c.ftp('FEAT')).includes('AUTH TLS'), false);
    assert.match(await c.ftp('AUTH TLS'), /^534 TLS is not available/);
    c.close();
    const set = await ctl(dir, 'admin', 'passwd', '--password', 'first-pw');
    assert.deepEqual([set.code, set.out], [0, ['admin password changed']]);
    const usage = await ctl(dir, 'admin', 'passwd');
    assert.equal(usage.code, 2);
    assert.equal(usage.err.length, 1);
    assert.match(await login(server.port('ftpBackup'), 'first-pw'), /^230 /);
    const file = fs.readFileSync(path.join(dir, 'store', 'directory.mpk'));
    assert.equal(file.includes('first-pw'), false);
    assert.equal(file.includes('scrypt$'), true);
    await server.stop();
    server = await startServer({ configText: config, dataDir: dir, statusPort: 0 });
    assert.match(await login(server.port('ftpBackup'), 'first-pw'), /^230 /);
    assert.equal((await ctl(dir, '--json', 'admin', 'passwd', '--password', 'second-pw')).code, 0);
    assert.match(await login(server.port('ftpBackup'), 'first-pw'), /^530 /);
    assert.match(await login(server.port('ftpBackup'), 'second-pw'), /^230 /);
  } finally {
    await server.stop();
  }
});
