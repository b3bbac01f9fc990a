/**
 * test/ftp/restore.test.ts: what a restore accepts (issue 11 items 6 and 16): a
 * CoreConfig.cfg whose password hash is malformed (an empty key would let any password in) is
 * refused with 553 and changes nothing; lftp's `mirror` then `mirror -R` (the README's recipe)
 * into an empty server reproduces each folder exactly (UIDs, order, flags, internal dates,
 * bytes), a second `mirror -R` changes nothing, and a bare-LF .eml is stored with CRLF.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ADMIN_PASSWORD, connectFtp, message, python, retrRaw, run, startFtp, storRaw, type FtpEnv } from './helpers.ts';
import { tmpDir } from '../helpers.ts';

let env: FtpEnv;
const ANN = 'ann@a.org';

before(async () => {
  env = await startFtp({ services: ['pop3'], blocks: 'pop3 = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 }' });
  await env.server.admin('domain.add', { name: 'a.org' });
  await env.server.admin('account.add', { address: ANN, password: 'ann-pw' });
});
after(async () => env.stop());

/** The README's recipes: `lftp -u admin,PW -p PORT -e '<cmd>; quit' 127.0.0.1`, run in `cwd`
 * (plus TLS off: the test certificate is self-signed; and fail fast). */
const lftp = (e: FtpEnv, cmd: string, cwd: string) =>
  run('lftp', ['-u', `admin,${ADMIN_PASSWORD}`, '-p', String(e.port), '-e', `set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; ${cmd}; quit`, '127.0.0.1'], { timeoutMs: 60_000, cwd });

test('lftp mirror, then mirror -R into an empty server: same UIDs, order, flags, dates and bytes; a second mirror -R changes nothing', async () => {
  const src = await startFtp();
  const dst = await startFtp();
  const local = tmpDir('postern-ftp-restore-');
  try {
    await src.server.admin('domain.add', { name: 'b.org' });
    await src.server.admin('account.add', { address: 'bea@b.org', password: 'bea-pw' });
    await src.mkfolder('bea@b.org', 'Work');
    const t0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
    // 12 messages (10.eml sorts before 2.eml by name), dates not in UID order, flags
    for (let i = 1; i <= 12; i++) {
      const flags = i % 3 === 0 ? ['\\Seen', '\\Flagged'] : i % 3 === 1 ? ['\\Seen'] : ['$Label1'];
      await src.deliver('bea@b.org', 'INBOX', message(`inbox ${i}`, `${'body '.repeat(i)}\r\n`), { date: t0 + ((i * 7919) % 13) * 60_000 + i, flags });
    }
    await src.deliver('bea@b.org', 'Work', message('work 1'), { date: t0 - 86_400_000, flags: ['\\Answered', '\\Draft'] });
    await src.deliver('bea@b.org', 'Work', message('work 2'), { date: t0 - 1 });
    // gaps: UIDs 3 and 12 expunged (the folder's next UID stays 13)
    const c = await connectFtp(src.port);
    await c.login();
    for (const uid of [3, 12]) assert.match(await c.ftp(`DELE /domains/b.org/users/bea/folders/INBOX/${uid}.eml`), /^250 /);
    await c.ftp('QUIT');
    const want = { digest: await src.digest('bea@b.org'), flags: await src.allFlags('bea@b.org') };
    assert.deepEqual(want.digest.INBOX!.map((m) => m[0]), [1, 2, 4, 5, 6, 7, 8, 9, 10, 11]);

    const copy = path.join(local, 'b.org');
    await lftp(src, 'mirror /domains/b.org b.org', local);
    const inbox = path.join(copy, 'users', 'bea', 'folders', 'INBOX');
    assert.deepEqual(fs.readdirSync(inbox).sort(), ['%index.txt', ...want.digest.INBOX!.map((m) => `${String(m[0]).padStart(10, '0')}.eml`)]);

    await lftp(dst, 'mirror -R b.org /domains/b.org', local);
    assert.deepEqual(await dst.digest('bea@b.org'), want.digest);
    assert.deepEqual(await dst.allFlags('bea@b.org'), want.flags);

    // again: nothing changes (no message appended, expunged or re-flagged)
    await lftp(dst, 'mirror -R b.org /domains/b.org', local);
    assert.deepEqual(await dst.digest('bea@b.org'), want.digest);
    assert.deepEqual(await dst.allFlags('bea@b.org'), want.flags);

    // and a mirror of the restored server holds the same files
    const again = path.join(local, 'again');
    await lftp(dst, 'mirror /domains/b.org again', local);
    for (const f of ['INBOX', 'Work']) {
      const dir = path.join('users', 'bea', 'folders', f);
      assert.deepEqual(fs.readdirSync(path.join(again, dir)).sort(), fs.readdirSync(path.join(copy, dir)).sort());
      for (const n of fs.readdirSync(path.join(copy, dir))) assert.ok(fs.readFileSync(path.join(again, dir, n)).equals(fs.readFileSync(path.join(copy, dir, n))), `${dir}/${n}`);
    }
  } finally {
    await Promise.all([src.stop(), dst.stop()]);
    fs.rmSync(local, { recursive: true, force: true });
  }
});

test('an uploaded .eml with bare LF (or CR) line ends is stored with CRLF', async () => {
  const bare = 'From: lf@a.org\nSubject: bare LF\n\nline one\nline two\rline three\r\n';
  const crlf = 'From: lf@a.org\r\nSubject: bare LF\r\n\r\nline one\r\nline two\r\nline three\r\n';
  const c = await connectFtp(env.port);
  await c.login();
  assert.match(await storRaw(c, '/domains/a.org/users/ann/folders/INBOX/lf.eml', bare), /^226 .*stored as 0000000001\.eml/);
  const got = await retrRaw(c, '/domains/a.org/users/ann/folders/INBOX/1.eml');
  assert.equal(got.bytes.toString('latin1'), crlf);
  await c.ftp('QUIT');
  const pop = JSON.parse(await python(`
import poplib, os, json
p = poplib.POP3('127.0.0.1', int(os.environ['POP']), timeout=20)
p.user('ann@a.org'); p.pass_('ann-pw')
p._putcmd('RETR 1'); p._getresp()
raw = b''
while True:
    l = p.file.readline()
    if l == b'.\\r\\n': break
    raw += l
p.quit()
print(json.dumps(raw.decode('latin1')))`, { POP: String(env.server.port('pop3')) }));
  assert.equal(pop, crlf);
});

test('a CoreConfig.cfg with a malformed password hash gets 553 and changes nothing', async () => {
  const r = JSON.parse(await python(`
import ftplib, io, os, json, re, poplib
PORT = int(os.environ['PORT'])
f = ftplib.FTP(); f.connect('127.0.0.1', PORT, timeout=20); f.login('admin', os.environ['PW'])
def get(path):
    b = io.BytesIO(); f.retrbinary('RETR ' + path, b.write); return b.getvalue()
U = '/domains/a.org/users/'
cfg = get(U + 'ann/CoreConfig.cfg').decode()
out = {'before': cfg, 'replies': {}}
bad = {
  'emptyKey': 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$=',
  'shortKey': 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAA==',
  'weakCost': 'scrypt$2$1$1$AAAAAAAAAAAAAAAAAAAAAA==$' + 'A' * 43 + '=',
}
for name, h in bad.items():
    for who in ['ann', 'eve']:
        text = re.sub(r'passwordHash = "[^"]*"', 'passwordHash = "' + h + '"', cfg).replace('ann@a.org', who + '@a.org')
        if who == 'eve': f.mkd(U + 'eve')
        try:
            out['replies'][name + '/' + who] = f.storbinary('STOR ' + U + who + '/CoreConfig.cfg', io.BytesIO(text.encode()))
        except ftplib.all_errors as e:
            out['replies'][name + '/' + who] = str(e)
        if who == 'eve': f.rmd(U + 'eve')
    f.quit()
    f = ftplib.FTP(); f.connect('127.0.0.1', PORT, timeout=20); f.login('admin', os.environ['PW'])
out['after'] = get(U + 'ann/CoreConfig.cfg').decode()
out['users'] = sorted(n for n, facts in f.mlsd('/domains/a.org/users'))
def pop(user, pw):
    p = poplib.POP3('127.0.0.1', int(os.environ['POP']), timeout=20)
    try:
        p.user(user); p.pass_(pw); return 'in'
    except poplib.error_proto as e:
        return 'refused'
    finally:
        try: p.quit()
        except Exception: pass
out['pop'] = [pop('ann@a.org', 'whatever'), pop('eve@a.org', 'whatever'), pop('ann@a.org', 'ann-pw')]
print(json.dumps(out))`, { PORT: String(env.port), POP: String(env.server.port('pop3')) }));
  assert.equal(Object.keys(r.replies).length, 6);
  for (const [k, v] of Object.entries(r.replies)) assert.match(v as string, /^553 Not restored: passwordHash is not a well-formed hash/, k);
  assert.equal(r.after, r.before);
  assert.deepEqual(r.users, ['ann', 'postmaster']); // the domain's postmaster comes with it
  assert.deepEqual(r.pop, ['refused', 'refused', 'in']);
});
