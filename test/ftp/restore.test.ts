/**
 * test/ftp/restore.test.ts: what a restore accepts (issue 11 items 6 and 16): a
 * CoreConfig.cfg whose password hash is malformed (an empty key would let any password in) is
 * refused with 553 and changes nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { python, startFtp, type FtpEnv } from './helpers.ts';

let env: FtpEnv;
const ANN = 'ann@a.org';

before(async () => {
  env = await startFtp({ services: ['pop3'], blocks: 'pop3 = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 }' });
  await env.server.admin('domain.add', { name: 'a.org' });
  await env.server.admin('account.add', { address: ANN, password: 'ann-pw' });
});
after(async () => env.stop());

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
  assert.deepEqual(r.users, ['ann']);
  assert.deepEqual(r.pop, ['refused', 'refused', 'in']);
});
