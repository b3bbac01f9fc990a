/**
 * test/ftp/ftplib.test.ts: the FTP backup service end to end with Python's ftplib: the admin
 * login (refused until `admin.passwd`), passive and active binary downloads byte-identical to
 * the store with the store's sizes and times, TLS (AUTH TLS, PBSZ, PROT P) on control and data
 * connections, restore (MKD, STOR of configuration files and .eml messages), bad uploads that
 * change nothing, REST, SIZE, MDTM, DELE, RMD, ABOR during a transfer, a folder seen as of the
 * session's snapshot, and the protocol's basics over a raw socket (FEAT, OPTS, SYST, TYPE, MODE,
 * STRU, EPSV ALL, MLST, STAT, HELP).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { connectFtp, message, python, retrRaw, startFtp, type FtpEnv } from './helpers.ts';
import { mdtmTime } from '../../src/protocols/ftp/listing.ts';

let env: FtpEnv;
const ANN = 'ann@a.org';
const TWO = message('two', `${'x'.repeat(70)}\r\n`.repeat(300));
const big = Buffer.from(`From: big@a.org\r\nSubject: big\r\n\r\n${'0123456789abcdef'.repeat(512 * 1024)}\r\n`); // ~8 MiB

before(async () => {
  env = await startFtp({ admin: false, ftp: 'maxUploadSize = 64' });
  await env.server.admin('domain.add', { name: 'a.org' });
  await env.server.admin('account.add', { address: ANN, password: 'ann-pw' });
  await env.mkfolder(ANN, 'Archive/2024');
  await env.deliver(ANN, 'INBOX', message('one'));
  await env.deliver(ANN, 'INBOX', TWO);
  await env.deliver(ANN, 'INBOX', Buffer.concat([Buffer.from('Subject: bytes\r\n\r\n'), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]));
  await env.deliver(ANN, 'Archive/2024', message('archived'));
  await env.deliver(ANN, 'Archive', big);
});
after(async () => env.stop());

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const PY_HEAD = `
import ftplib, os, io, json, hashlib, ssl
PORT = int(os.environ['PORT'])
def sha(b): return hashlib.sha256(b).hexdigest()
def login(f=None):
    f = f or ftplib.FTP()
    f.connect('127.0.0.1', PORT, timeout=20)
    f.login('admin', os.environ['PW'])
    return f
def get(f, path):
    b = io.BytesIO(); f.retrbinary('RETR ' + path, b.write); return b.getvalue()
def err(fn):
    try:
        fn(); return 'no error'
    except ftplib.all_errors as e:
        return str(e)
`;
const py = async (body: string): Promise<any> => JSON.parse(await python(PY_HEAD + body, { PORT: String(env.port) }));

test('every login is refused until an admin password is set; then only admin with it logs in', async () => {
  const script = `
out = {}
f = ftplib.FTP(); f.connect('127.0.0.1', PORT, timeout=20)
out['before'] = err(lambda: f.login('admin', 'anything'))
print(json.dumps(out))`;
  assert.match((await py(script)).before, /^530 /);
  await env.server.admin('admin.passwd', { password: 'backup-secret' });
  const r = await py(`
out = {}
f = ftplib.FTP(); f.connect('127.0.0.1', PORT, timeout=20)
out['wrong'] = err(lambda: f.login('admin', 'wrong'))
g = ftplib.FTP(); g.connect('127.0.0.1', PORT, timeout=20)
out['mailuser'] = err(lambda: g.login('${ANN}', 'ann-pw'))
h = ftplib.FTP(); h.connect('127.0.0.1', PORT, timeout=20)
out['anonymous'] = err(lambda: h.login())
out['ok'] = login().pwd()
print(json.dumps(out))`);
  assert.match(r.wrong, /^530 Login incorrect/);
  assert.match(r.mailuser, /^530 /);
  assert.match(r.anonymous, /^530 /);
  assert.equal(r.ok, '/');
});

test('passive and active binary downloads are byte-identical; listings carry the store sizes and times', async () => {
  const r = await py(`
f = login()
out = {'mlsd': {}, 'passive': {}, 'active': {}}
f.cwd('/domains/a.org/users/ann/folders')
out['top'] = sorted(n for n, facts in f.mlsd())
for folder in ['INBOX', 'Archive', 'Archive/2024']:
    for name, facts in f.mlsd(folder):
        if facts['type'] != 'file' or not name.endswith('.eml'): continue
        key = folder + '/' + name
        out['mlsd'][key] = [int(facts['size']), facts['modify']]
        f.set_pasv(True); out['passive'][key] = sha(get(f, key))
        f.set_pasv(False); out['active'][key] = sha(get(f, key))
        f.set_pasv(True)
lines = []; f.retrlines('LIST INBOX', lines.append); out['list'] = lines
print(json.dumps(out))`);
  const dig = await env.digest(ANN);
  assert.deepEqual(r.top, ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']); // a new mailbox's folders, Archive/2024 under Archive
  let n = 0;
  for (const [folder, msgs] of Object.entries(dig)) {
    for (const [uid, size, hash, date] of msgs) {
      const key = `${folder}/${String(uid).padStart(10, '0')}.eml`;
      assert.deepEqual(r.mlsd[key], [size, mdtmTime(date)], key);
      assert.equal(r.passive[key], hash, `${key} passive`);
      assert.equal(r.active[key], hash, `${key} active`);
      n++;
    }
  }
  assert.equal(n, 5);
  assert.equal(Object.keys(r.passive).length, 5);
  assert.match(r.list[0], /^-rw-r--r-- 1 postern postern +\d+ \w{3} \d\d .* %index\.txt$/);
  assert.match(r.list[1], /^-r--r--r-- 1 postern postern +\d+ \w{3} \d\d .* 0000000001\.eml$/);
});

test('TLS: AUTH TLS, PBSZ 0, PROT P: listing, download and upload over encrypted connections', async () => {
  const r = await py(`
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx); f.connect('127.0.0.1', PORT, timeout=20)
out = {'auth': f.auth(), 'login': f.login('admin', os.environ['PW'])}
out['prot'] = f.prot_p()
out['cipher'] = f.sock.version()
out['names'] = f.nlst('/domains/a.org/users/ann/folders/INBOX')
out['one'] = sha(get(f, '/domains/a.org/users/ann/folders/INBOX/1.eml'))
msg = b'From: tls@a.org\\r\\nSubject: over tls\\r\\n\\r\\nsecret\\r\\n'
out['stor'] = f.storbinary('STOR /domains/a.org/users/ann/folders/Archive/2024/new.eml', io.BytesIO(msg))
out['sent'] = sha(msg)
f.prot_c()
out['clear'] = len(get(f, '/domains/a.org/users/ann/folders/INBOX/1.eml'))
f.quit()
print(json.dumps(out))`);
  assert.match(r.auth, /^234 /);
  assert.match(r.prot, /^200 /);
  assert.match(r.cipher, /^TLSv1\.[23]$/);
  assert.deepEqual(r.names.sort(), ['%index.txt', '0000000001.eml', '0000000002.eml', '0000000003.eml']);
  const dig = await env.digest(ANN);
  assert.equal(r.one, dig.INBOX![0]![2]);
  assert.match(r.stor, /^226 .*stored as 0000000002\.eml/);
  assert.equal(dig['Archive/2024']!.find(([uid]) => uid === 2)?.[2], r.sent);
  assert.equal(r.clear, dig.INBOX![0]![1]);
});

test('restore: MKD and STOR of configuration files create a domain and an account; .eml uploads append', async () => {
  const r = await py(`
f = login()
out = {}
cfg = get(f, '/domains/a.org/users/ann/CoreConfig.cfg').decode()
out['mkd_domain'] = f.mkd('/domains/b.org')
dom = b'Domain {\\n    name = "b.org"\\n    enabled = yes\\n}\\n'
out['stor_domain'] = f.storbinary('STOR /domains/b.org/domainCoreConfig.cfg', io.BytesIO(dom))
out['mkd_user'] = f.mkd('/domains/b.org/users/bob')
f.cwd('/domains/b.org/users/bob')
bob = cfg.replace('ann@a.org', 'bob@b.org').replace('folders = ("INBOX" "Archive" "Archive/2024")', 'folders = ("INBOX" "Sent")')
out['stor_user'] = f.storbinary('STOR CoreConfig.cfg', io.BytesIO(bob.encode()))
out['folders'] = sorted(n for n, facts in f.mlsd('folders'))
msg = b'From: x@b.org\\r\\nSubject: restored\\r\\n\\r\\nhello bob\\r\\n'
out['stor_msg'] = f.storbinary('STOR folders/INBOX/1234.eml', io.BytesIO(msg))
out['msg'] = sha(msg)
out['same_name'] = f.storbinary('STOR folders/INBOX/1.eml', io.BytesIO(msg))
out['domain_list'] = sorted(n for n, facts in f.mlsd('/domains'))
off = cfg.replace('enabled = yes', 'enabled = no')
out['update'] = f.storbinary('STOR /domains/a.org/users/ann/CoreConfig.cfg', io.BytesIO(off.encode()))
out['update_bin'] = f.storbinary('STOR /domains/a.org/users/ann/Registry.bin', io.BytesIO(get(f, '/domains/a.org/users/ann/Registry.bin')))
import re
out['annHash'] = re.search(r'passwordHash = .*', cfg).group(0)
out['bobHash'] = re.search(r'passwordHash = .*', get(f, '/domains/b.org/users/bob/CoreConfig.cfg').decode()).group(0)
print(json.dumps(out))`);
  assert.match(r.mkd_domain, /^\/domains\/b\.org$/);
  assert.match(r.stor_domain, /^226 .*domain b\.org created/);
  assert.equal(r.mkd_user, '/domains/b.org/users/bob');
  assert.match(r.stor_user, /^226 .*account bob@b\.org created with 1 folder/);
  assert.deepEqual(r.folders, ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']); // the backup's, with a new mailbox's
  assert.match(r.stor_msg, /^226 .*stored as 0000001234\.eml .*durable/); // the UID its name gives
  assert.match(r.same_name, /^226 .*stored as 0000001235\.eml/); // UID 1 cannot be given again: the next one
  assert.deepEqual(r.domain_list, ['a.org', 'b.org', 'example.org']);
  assert.match(r.update, /^226 .*account ann@a\.org updated/);
  const accounts = (await env.server.admin('account.list', {})) as Array<{ address: string; enabled: boolean }>;
  assert.equal(accounts.find((a) => a.address === 'bob@b.org')?.enabled, true);
  assert.equal(accounts.find((a) => a.address === ANN)?.enabled, false); // Registry.bin was read after the update
  assert.deepEqual((await env.digest('bob@b.org')).INBOX!.map((m) => m[2]), [r.msg, r.msg]);
  // the password hash travelled with the file: bob's exported configuration carries ann's
  assert.equal(r.bobHash, r.annHash);
  assert.match(r.annHash, /^passwordHash = "scrypt\$/);
});

test('bad uploads get a clear FTP error and change nothing', async () => {
  const before = { ann: await env.digest(ANN), accounts: await env.server.admin('account.list', {}), domains: await env.server.admin('domain.list', {}) };
  // each refusal counts against maxErrors (10): a new session every few uploads
  const r = await py(`
sessions = {'f': None, 'n': 0}
def up(path, data):
    if sessions['n'] % 5 == 0: sessions['f'] = login()
    sessions['n'] += 1
    return err(lambda: sessions['f'].storbinary('STOR ' + path, io.BytesIO(data)))
U = '/domains/a.org/users/ann/'
cfg = get(login(), U + 'CoreConfig.cfg')
out = {
  'syntax': up(U + 'CoreConfig.cfg', b'Account {\\n  address = "ann@a.org"\\n  quotaBytes = (\\n'),
  'unknown': up(U + 'CoreConfig.cfg', cfg.replace(b'cramMd5 = yes', b'shell = "/bin/sh"')),
  'wrongUser': up('/domains/a.org/users/carl/CoreConfig.cfg', cfg),
  'wrongDomain': up('/domains/a.org/domainCoreConfig.cfg', b'Domain {\\n name = "c.org"\\n}\\n'),
  'noDomain': up('/domains/zz.org/users/ann/CoreConfig.cfg', cfg),
  'place1': up('/domains/a.org/notes.txt', b'hello'),
  'place2': up('/evil.eml', b'From: a\\r\\n\\r\\nx'),
  'place3': up(U + 'folders/INBOX/notes.txt', b'From: a\\r\\n\\r\\nx'),
  'place4': up(U + 'folders/Nope/x.eml', b'From: a\\r\\n\\r\\nx'),
  'notMessage': up(U + 'folders/INBOX/x.eml', b'\\x7fELF\\x00\\x00binary'),
  'tooLarge': up(U + 'folders/INBOX/big.eml', b'From: a\\r\\n\\r\\n' + b'y' * 100000),
  'binJunk': up(U + 'Registry.bin', b'\\x85\\xa1'),
}
out['alive'] = sessions['f'].voidcmd('NOOP')
print(json.dumps(out))`);
  const want: Record<string, RegExp> = {
    syntax: /^550 Not restored: CoreConfig\.cfg: line 4, column 1: unexpected end of file/, unknown: /^550 Not restored: .*unknown attribute/, wrongUser: /^553 Not restored: this file is for ann@a\.org/,
    wrongDomain: /^553 Not restored: this file is for domain c\.org/, noDomain: /^550 Not stored: no domain zz\.org/, place1: /^553 Not stored: uploads go/,
    place2: /^553 /, place3: /^553 /, place4: /^550 Not stored: no folder/, notMessage: /^550 Not stored: not a message/,
    tooLarge: /^552 Upload larger than 65536 bytes/, binJunk: /^550 Not restored: Registry\.bin: not a msgpack document/,
  };
  for (const [k, re] of Object.entries(want)) assert.match(r[k], re, k);
  assert.match(r.alive, /^200/);
  assert.deepEqual(await env.digest(ANN), before.ann);
  assert.deepEqual(await env.server.admin('account.list', {}), before.accounts);
  assert.deepEqual(await env.server.admin('domain.list', {}), before.domains);
});

test('REST resumes a download; SIZE, MDTM; DELE expunges a message; MKD and RMD folders', async () => {
  const dig = await env.digest(ANN);
  const [uid, size, , date] = dig.INBOX![1]!;
  const r = await py(`
f = login()
f.cwd('/domains/a.org/users/ann/folders')
out = {'size': f.size('INBOX/${uid}.eml'), 'mdtm': f.sendcmd('MDTM INBOX/${uid}.eml')}
b = io.BytesIO(); f.retrbinary('RETR INBOX/${uid}.eml', b.write, rest=100); out['tail'] = sha(b.getvalue())
out['beyond'] = err(lambda: f.retrbinary('RETR INBOX/${uid}.eml', lambda x: None, rest=${size + 1}))
out['sizeDir'] = err(lambda: f.size('INBOX'))
out['mkd'] = f.mkd('Work')
out['mkd2'] = f.mkd('Work/Deep')
out['rmdFull'] = err(lambda: f.rmd('Work'))
out['rmd'] = f.voidcmd('RMD Work/Deep')
out['rmdInbox'] = err(lambda: f.rmd('INBOX'))
out['dele'] = f.delete('INBOX/${uid}.eml')
out['gone'] = err(lambda: f.size('INBOX/${uid}.eml'))
out['deleCfg'] = err(lambda: f.delete('/domains/a.org/users/ann/CoreConfig.cfg'))
print(json.dumps(out))`);
  assert.equal(r.size, size);
  assert.equal(r.mdtm, `213 ${mdtmTime(date)}`);
  assert.equal(r.tail, sha(Buffer.from(TWO).subarray(100)));
  assert.match(r.beyond, /^554 /);
  assert.match(r.sizeDir, /^550 .*not a plain file/);
  assert.match(r.mkd, /Work$/);
  assert.match(r.rmdFull, /^550 .*not empty/);
  assert.match(r.rmd, /^250 /);
  assert.match(r.rmdInbox, /^550 /);
  assert.match(r.dele, /^250 /);
  assert.match(r.gone, /^550 /);
  assert.match(r.deleCfg, /^550 .*only messages/);
  const after = await env.digest(ANN);
  assert.equal(after.INBOX!.some(([u]) => u === uid), false);
  assert.deepEqual(Object.keys(after).sort(), ['Archive', 'Archive/2024', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash', 'Work']);
});

test('ABOR during a download: the transfer stops with 426, ABOR answers 226, the session carries on', async () => {
  const c = await connectFtp(env.port);
  await c.login();
  assert.match(await c.ftp('TYPE I'), /^200/);
  const pasv = await c.ftp('PASV');
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(pasv)!;
  const data = net.connect(Number(m[5]) * 256 + Number(m[6]), '127.0.0.1');
  // the signal: the first bytes arrive; from then on nothing is read and the transfer stalls on backpressure
  const flowing = new Promise<void>((r) => data.once('data', () => (data.pause(), r())));
  await new Promise((r) => data.once('connect', r));
  assert.match(await c.ftp('RETR /domains/a.org/users/ann/folders/Archive/1.eml'), /^150 .*\(\d+ bytes\)/);
  await flowing;
  c.socket.write(Buffer.concat([Buffer.from([0xff, 0xf4, 0xff, 0xf2]), Buffer.from('ABOR\r\n')])); // Telnet IP, Synch
  assert.match(await c.reply(), /^426 /);
  assert.match(await c.reply(), /^226 ABOR/);
  assert.match(await c.ftp('ABOR'), /^225 /);
  assert.match(await c.ftp('NOOP'), /^200/);
  data.destroy();
  // the same file downloads whole afterwards
  const r = await py(`print(json.dumps(sha(get(login(), '/domains/a.org/users/ann/folders/Archive/1.eml'))))`);
  assert.equal(r, sha(big));
  c.close();
});

test('a session sees a folder as of its snapshot: a message deleted meanwhile still downloads whole', async () => {
  const a = await connectFtp(env.port);
  await a.login();
  const b = await connectFtp(env.port);
  await b.login();
  const folder = '/domains/a.org/users/ann/folders/Archive/2024';
  assert.match(await a.ftp(`CWD ${folder}`), /^250 /);
  const before = (await env.digest(ANN))['Archive/2024']!;
  const [uid, , hash] = before[0]!;
  assert.match(await a.ftp(`SIZE ${uid}.eml`), /^213 /); // looked up: the folder's snapshot is taken
  assert.match(await b.ftp(`DELE ${folder}/${uid}.eml`), /^250 /);
  const got = await retrRaw(a, `${uid}.eml`);
  assert.match(got.reply, /^226 /);
  assert.equal(sha(got.bytes), hash);
  assert.match(await b.ftp(`SIZE ${folder}/${uid}.eml`), /^550 /); // the other session sees it gone
  a.close();
  b.close();
});

test('protocol basics: FEAT, OPTS UTF8, SYST, TYPE, MODE, STRU, EPSV ALL, MLST, STAT, HELP', async () => {
  const c = await connectFtp(env.port);
  const feat = await c.ftp('FEAT');
  for (const f of ['AUTH TLS', 'PBSZ', 'PROT', 'EPRT', 'EPSV', 'MDTM', 'MLST type*;size*;modify*;perm*;', 'REST STREAM', 'SIZE', 'UTF8']) assert.ok(feat.split('\n').includes(` ${f}`), f);
  assert.match(feat, /^211-Features:\n[^]*\n211 End$/);
  assert.equal(await c.ftp('OPTS UTF8 ON'), '200 Always in UTF8 mode.');
  assert.equal(await c.ftp('SYST'), '215 UNIX Type: L8');
  assert.match(await c.ftp('STAT'), /^211-Postern FTP backup status:\n[^]*Not logged in[^]*\n211 End of status$/);
  await c.login();
  assert.match(await c.ftp('TYPE I'), /^200 Switching to Binary/);
  assert.match(await c.ftp('TYPE A'), /^200 Switching to ASCII/);
  assert.match(await c.ftp('TYPE E'), /^504 /);
  assert.match(await c.ftp('MODE S'), /^200 /);
  assert.match(await c.ftp('MODE B'), /^504 /);
  assert.match(await c.ftp('STRU F'), /^200 /);
  assert.match(await c.ftp('STRU R'), /^504 /);
  assert.match(await c.ftp('MLST /domains/a.org/users/ann/folders/INBOX/1.eml'), /^250-Listing \/domains\/a\.org\/users\/ann\/folders\/INBOX\/1\.eml\n type=file;size=\d+;modify=\d{14};perm=rd; \/domains\/a\.org\/users\/ann\/folders\/INBOX\/1\.eml\n250 End\.$/);
  assert.match(await c.ftp('MLST /domains'), /\n type=dir;modify=\d{14};perm=elm; \/domains\n/);
  assert.match(await c.ftp('STAT /domains/a.org'), /^213-Status follows:\n -rw-r--r-- 1 postern postern +\d+ .* domainRegistry\.bin\n[^]*users\n[^]*\n213 End of status\.$/);
  assert.match(await c.ftp('HELP'), /^214-/);
  assert.match(await c.ftp('RNFR x'), /^502 Command not implemented/);
  assert.match(await c.ftp('EPSV ALL'), /^200 /);
  assert.match(await c.ftp('PASV'), /^503 EPSV ALL/);
  assert.match(await c.ftp('PORT 127,0,0,1,100,100'), /^503 EPSV ALL/);
  assert.match(await c.ftp('EPSV 2'), /^522 .*\(1\)/);
  assert.match(await c.ftp('EPSV'), /^229 Entering Extended Passive Mode \(\|\|\|\d+\|\)$/);
  assert.match(await c.ftp('QUIT'), /^221 /);
  await c.closed;
});
