/**
 * test/auth/scram.test.ts: SCRAM-SHA-256 (RFC 5802 / RFC 7677) over real sockets on SMTP and
 * POP3, driven by a small RFC 5802 client written in Python (hashlib, hmac): smtplib's `auth()`
 * with the client as its auth object, poplib by hand. The client checks the server's signature
 * (`v=`), so the server proves it holds the account's keys. A wrong password fails (535,
 * -ERR [AUTH]); the keys follow `ctl account passwd`; the other mechanisms still work for the
 * same account (PLAIN through smtplib, USER/PASS through poplib). This machine's curl (7.88,
 * no libgsasl) has no SCRAM, so it is not used here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type Server } from '../../actors/server.ts';
import { tmpDir } from '../helpers.ts';
import { cleanup, python } from '../smtp/helpers.ts';

let server: Server;
let dir: string;
let smtpPort: number;
let pop3Port: number;

before(async () => {
  dir = tmpDir('postern-scram-');
  server = await startServer({
    dataDir: dir,
    statusPort: 0,
    configText: `
Server {
    services = (smtpIncoming processing pop3)
    primaryDomain = "example.org"
    statusListener = 127.0.0.1:0
    logLevel = error
    smtpIncoming = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 }
    processing = { }
    pop3 = { listeners = ( { address = 127.0.0.1:0 } ) authFailureDelay = 0 }
}`,
  });
  smtpPort = server.port('smtpIncoming');
  pop3Port = server.port('pop3');
  await server.admin('account.add', { address: 'ann@example.org', password: 'ann-pw' });
  await server.admin('account.add', { address: 'odd=name@example.org', password: 'odd-pw' });
});
after(async () => {
  await server?.stop().catch(() => {});
  cleanup(dir);
});

/** A client of RFC 5802: `Scram(user, pw)` is an smtplib auth object; `.verified` once the
 * server's signature matched. */
const CLIENT = `
import base64, hashlib, hmac, os, smtplib, poplib, json
class Scram:
    def __init__(self, user, pw):
        self.user, self.pw, self.step, self.verified = user, pw, 0, False
        self.cnonce = base64.b64encode(os.urandom(18)).decode()
        self.bare = 'n=' + user.replace('=', '=3D').replace(',', '=2C') + ',r=' + self.cnonce
    def __call__(self, challenge=None):
        self.step += 1
        if self.step == 1:
            return 'n,,' + self.bare
        if self.step == 2:
            sf = challenge.decode()
            f = dict(kv.split('=', 1) for kv in sf.split(','))
            assert f['r'].startswith(self.cnonce) and len(f['r']) > len(self.cnonce), sf
            salted = hashlib.pbkdf2_hmac('sha256', self.pw.encode(), base64.b64decode(f['s']), int(f['i']))
            ck = hmac.new(salted, b'Client Key', hashlib.sha256).digest()
            without = 'c=' + base64.b64encode(b'n,,').decode() + ',r=' + f['r']
            auth = (self.bare + ',' + sf + ',' + without).encode()
            sig = hmac.new(hashlib.sha256(ck).digest(), auth, hashlib.sha256).digest()
            self.server_sig = hmac.new(hmac.new(salted, b'Server Key', hashlib.sha256).digest(), auth, hashlib.sha256).digest()
            return without + ',p=' + base64.b64encode(bytes(a ^ b for a, b in zip(ck, sig))).decode()
        v = challenge.decode()
        assert v == 'v=' + base64.b64encode(self.server_sig).decode(), v
        self.verified = True
        return ''
def b64(s):
    return base64.b64encode(s.encode()).decode()
def smtp_scram(user, pw, initial=True):
    s = smtplib.SMTP('127.0.0.1', ${'${SMTP}'}, timeout=20)
    s.ehlo('client.test')
    offered = s.esmtp_features.get('auth', '')
    a = Scram(user, pw)
    try:
        code, text = s.auth('SCRAM-SHA-256', a, initial_response_ok=initial)
    except smtplib.SMTPAuthenticationError as e:
        code, text = e.smtp_code, e.smtp_error
    s.quit()
    return [code, text.decode(), a.verified, offered]
def pop3_scram(user, pw, initial=False):
    p = poplib.POP3('127.0.0.1', ${'${POP3}'}, timeout=20)
    a = Scram(user, pw)
    if initial:
        p._putcmd('AUTH SCRAM-SHA-256 ' + b64(a()))
    else:
        p._putcmd('AUTH SCRAM-SHA-256')
        assert p._getline()[0] == b'+ '
        p._putcmd(b64(a()))
    while True:
        line = p._getline()[0].decode()
        if not line.startswith('+ '):
            break
        p._putcmd(b64(a(base64.b64decode(line[2:]))))
    stat = p.stat()[0] if line.startswith('+OK') else None
    p.quit()
    return [line, a.verified, stat]
`;

async function py(body: string): Promise<unknown> {
  const script = (CLIENT + body).replaceAll('${SMTP}', String(smtpPort)).replaceAll('${POP3}', String(pop3Port));
  const r = await python(script);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('SMTP: AUTH SCRAM-SHA-256 through smtplib, with and without an initial response; the server proves its keys; a wrong password is 535', async () => {
  const r = await py(`print(json.dumps([smtp_scram('ann@example.org', 'ann-pw'), smtp_scram('ann@example.org', 'ann-pw', False), smtp_scram('ann@example.org', 'nope'), smtp_scram('nobody@example.org', 'x')]))`) as Array<[number, string, boolean, string]>;
  assert.deepEqual(r[0]!.slice(0, 3), [235, '2.7.0 Authentication successful', true]);
  assert.match(r[0]![3], /\bSCRAM-SHA-256\b/, 'advertised in EHLO');
  assert.deepEqual(r[1]!.slice(0, 3), [235, '2.7.0 Authentication successful', true]);
  assert.deepEqual(r[2]!.slice(0, 3), [535, '5.7.8 Error: authentication failed', false]);
  assert.deepEqual(r[3]!.slice(0, 3), [535, '5.7.8 Error: authentication failed', false], 'an unknown login gets a salt and fails only at the proof');
});

test('POP3: AUTH SCRAM-SHA-256 by hand over poplib, with and without an initial response; a wrong password is -ERR [AUTH]; "=3D" in a user name', async () => {
  const r = await py(`print(json.dumps([pop3_scram('ann@example.org', 'ann-pw'), pop3_scram('ann@example.org', 'ann-pw', True), pop3_scram('ann@example.org', 'nope'), pop3_scram('odd=name@example.org', 'odd-pw')]))`) as Array<[string, boolean, number | null]>;
  assert.match(r[0]![0], /^\+OK logged in/);
  assert.deepEqual(r[0]!.slice(1), [true, 0]);
  assert.match(r[1]![0], /^\+OK logged in/);
  assert.equal(r[1]![1], true);
  assert.deepEqual(r[2], ['-ERR [AUTH] authentication failed', false, null]);
  assert.match(r[3]![0], /^\+OK logged in/);
});

test('a new password re-keys SCRAM (the old one fails); PLAIN and USER/PASS still work for the same account', async () => {
  await server.admin('account.passwd', { address: 'ann@example.org', password: 'new-pw' });
  const r = await py(`
s = smtplib.SMTP('127.0.0.1', ${'${SMTP}'}, timeout=20)
s.ehlo('client.test')
s.user, s.password = 'ann@example.org', 'new-pw'
plain = s.auth('PLAIN', s.auth_plain)[0]
s.quit()
p = poplib.POP3('127.0.0.1', ${'${POP3}'}, timeout=20)
p.user('ann@example.org')
up = p.pass_('new-pw').decode()
p.quit()
print(json.dumps([smtp_scram('ann@example.org', 'new-pw')[:3], smtp_scram('ann@example.org', 'ann-pw')[0], pop3_scram('ann@example.org', 'new-pw')[:2], plain, up[:13]]))`) as [unknown[], number, [string, boolean], number, string];
  assert.deepEqual(r[0], [235, '2.7.0 Authentication successful', true], 'SCRAM with the new password');
  assert.equal(r[1], 535, 'SCRAM with the old password');
  assert.match(r[2][0], /^\+OK logged in/);
  assert.equal(r[2][1], true);
  assert.equal(r[3], 235, 'PLAIN');
  assert.equal(r[4], '+OK logged in', 'USER/PASS');
});
