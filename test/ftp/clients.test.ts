/**
 * test/ftp/clients.test.ts: the FTP backup service with clients nobody here wrote: curl
 * (`ftp://` listing, download passive and active, TLS, upload) and lftp (`mirror` of a whole
 * domain, then `mirror -R` into an empty server, then Python's poplib on the restored server
 * shows the same messages byte for byte, and a second mirror shows the same configuration).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ADMIN_PASSWORD, message, python, run, startFtp, type FtpEnv } from './helpers.ts';
import { tmpDir } from '../helpers.ts';

let src: FtpEnv;
let dst: FtpEnv;
const local = tmpDir('postern-ftp-mirror-');
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const bin = Buffer.concat([Buffer.from('From: bin@a.org\r\nSubject: 8bit\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'), Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7) % 256).filter((b) => b !== 10 && b !== 13)), Buffer.from('\r\n.\r\n..dot\r\n')]);
const large = message('large', `${'L'.repeat(998)}\r\n`.repeat(300));

before(async () => {
  [src, dst] = await Promise.all([
    startFtp(),
    startFtp({ services: ['pop3'], blocks: 'pop3 = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 }' }),
  ]);
  await src.server.admin('domain.add', { name: 'a.org' });
  await src.server.admin('account.add', { address: 'ann@a.org', password: 'ann-pw', quotaMessages: 500, cramMd5: false });
  await src.server.admin('account.add', { address: 'bob@a.org', password: 'bob-pw', cramMd5: true });
  await src.mkfolder('ann@a.org', 'Archive/2024');
  await src.mkfolder('bob@a.org', 'Empty');
  for (let i = 0; i < 6; i++) await src.deliver('ann@a.org', 'INBOX', message(`ann ${i}`, `body ${i}\r\n`));
  await src.deliver('ann@a.org', 'INBOX', bin);
  await src.deliver('ann@a.org', 'INBOX', large);
  await src.deliver('ann@a.org', 'Archive/2024', message('archived'));
  await src.deliver('bob@a.org', 'INBOX', message('for bob'));
});
after(async () => {
  await Promise.all([src.stop(), dst.stop()]);
  if (process.env.KEEP_FTP_MIRROR === undefined) fs.rmSync(local, { recursive: true, force: true });
});

const url = (env: FtpEnv, p: string) => `ftp://127.0.0.1:${env.port}${p}`;
const curl = (...args: string[]) => run('curl', ['-sS', '--max-time', '20', '--user', `admin:${ADMIN_PASSWORD}`, ...args]);
const lftp = (env: FtpEnv, cmds: string) =>
  run('lftp', ['-e', `set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; set xfer:clobber yes; ${cmds}; quit`,
    '-u', `admin,${ADMIN_PASSWORD}`, '-p', String(env.port), '127.0.0.1'], { timeoutMs: 60_000 });

/** folder → sorted hashes of its messages */
function hashesByFolder(d: Record<string, Array<[number, number, string, number]>>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(d).map(([f, ms]) => [f, ms.map((m) => m[2]).sort()]));
}

test('curl: listing, name list, downloads (passive, active, TLS) byte-identical, upload', async () => {
  const inbox = '/domains/a.org/users/ann/folders/INBOX/';
  const list = await curl(url(src, inbox));
  const lines = list.trim().split(/\r?\n/);
  assert.equal(lines.length, 9); // the folder's %index.txt, then its 8 messages
  assert.match(lines[0]!, /^-rw-r--r-- 1 postern postern +\d+ \w{3} \d\d .* %index\.txt$/);
  assert.match(lines[1]!, /^-r--r--r-- 1 postern postern +\d+ \w{3} \d\d .* 0000000001\.eml$/);
  assert.deepEqual((await curl('--list-only', url(src, inbox))).trim().split(/\r?\n/), ['%index.txt', ...[1, 2, 3, 4, 5, 6, 7, 8].map((u) => `000000000${u}.eml`)]);
  const dig = await src.digest('ann@a.org');
  const out = path.join(local, 'curl.eml');
  await curl('-o', out, url(src, `${inbox}7.eml`));
  assert.equal(sha(fs.readFileSync(out)), sha(bin));
  await curl('-P', '-', '-o', out, url(src, `${inbox}8.eml`)); // active mode
  assert.equal(sha(fs.readFileSync(out)), dig.INBOX![7]![2]);
  await curl('--ssl-reqd', '-k', '-o', out, url(src, `${inbox}8.eml`)); // AUTH TLS, PROT P
  assert.equal(sha(fs.readFileSync(out)), sha(large));
  const up = path.join(local, 'up.eml');
  fs.writeFileSync(up, message('uploaded with curl'));
  await curl('-T', up, url(src, '/domains/a.org/users/ann/folders/Archive/new.eml'));
  assert.deepEqual((await src.digest('ann@a.org')).Archive!.map((m) => m[2]), [sha(fs.readFileSync(up))]);
});

test('lftp: mirror a whole domain, mirror -R into an empty server; POP3 there serves the same bytes', async () => {
  const copy = path.join(local, 'a.org');
  await lftp(src, `mirror /domains/a.org ${copy}`);
  // the mirror holds every message byte for byte, and both configuration files of each object
  for (const who of ['ann', 'bob']) {
    const dig = await src.digest(`${who}@a.org`);
    for (const [folder, msgs] of Object.entries(dig)) {
      const dir = path.join(copy, 'users', who, 'folders', folder);
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.eml')).sort(), msgs.map((m) => `${String(m[0]).padStart(10, '0')}.eml`).sort(), dir);
      for (const [uid, , hash] of msgs) assert.equal(sha(fs.readFileSync(path.join(dir, `${String(uid).padStart(10, '0')}.eml`))), hash);
    }
    assert.ok(fs.statSync(path.join(copy, 'users', who, 'CoreConfig.cfg')).size > 0);
    assert.ok(fs.statSync(path.join(copy, 'users', who, 'Registry.bin')).size > 0);
  }
  for (const d of ['maillists', 'forwarders', 'publicFolder']) assert.deepEqual(fs.readdirSync(path.join(copy, d)), []);
  assert.match(fs.readFileSync(path.join(copy, 'domainCoreConfig.cfg'), 'utf8'), /^Domain \{\n {4}name = "a\.org"$/m);

  // restore into the empty server (it knows only its primary domain)
  assert.deepEqual(((await dst.server.admin('domain.list', {})) as Array<{ name: string }>).map((d) => d.name), ['example.org']);
  await lftp(dst, `mirror -R ${copy} /domains/a.org`);
  for (const who of ['ann', 'bob']) {
    assert.deepEqual(hashesByFolder(await dst.digest(`${who}@a.org`)), hashesByFolder(await src.digest(`${who}@a.org`)), who);
  }
  const accounts = (await dst.server.admin('account.list', { domain: 'a.org' })) as Array<Record<string, unknown>>;
  assert.deepEqual(accounts.map((a) => [a.address, a.quotaMessages, a.cramMd5]), [['ann@a.org', 500, false], ['bob@a.org', null, true], ['postmaster@a.org', null, true]]);

  // POP3 on the restored server: the original passwords work (the hashes travelled), same bytes
  const pop = await python(`
import poplib, hashlib, json, os
p = poplib.POP3('127.0.0.1', int(os.environ['POP']), timeout=20)
p.user('ann@a.org'); p.pass_('ann-pw')
out = []
for i in range(1, len(p.list()[1]) + 1):
    resp, lines, octets = p.retr(i)
    out.append(hashlib.sha256(b'\\r\\n'.join(lines) + b'\\r\\n').hexdigest())
p.quit()
print(json.dumps(sorted(out)))`, { POP: String(dst.server.port('pop3')) });
  assert.deepEqual(JSON.parse(pop), hashesByFolder(await src.digest('ann@a.org')).INBOX);

  // a second mirror, from the restored server, holds the same configuration files
  const again = path.join(local, 'again');
  await lftp(dst, `mirror /domains/a.org ${again}`);
  for (const f of ['domainCoreConfig.cfg', 'domainRegistry.bin', 'users/ann/CoreConfig.cfg', 'users/ann/Registry.bin', 'users/bob/CoreConfig.cfg', 'users/bob/Registry.bin']) {
    assert.equal(sha(fs.readFileSync(path.join(again, f))), sha(fs.readFileSync(path.join(copy, f))), f);
  }
});
