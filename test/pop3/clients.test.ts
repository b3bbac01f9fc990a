/**
 * POP3 with clients nobody here wrote: Python's poplib (USER/PASS, STAT, LIST, UIDL, TOP,
 * RETR, DELE, QUIT; STLS through poplib.stls(); implicit TLS through POP3_SSL; AUTH PLAIN,
 * LOGIN and CRAM-MD5 by hand with _shortcmd/_putcmd where poplib has no helper, with and
 * without initial responses, and `*` cancels), and curl's pop3:// (listing and retrieving).
 * DIGEST-MD5 and GSSAPI answer "mechanism not supported" and CAPA never lists them.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { curl, message, pop3, python, startPop3, type Pop3Env } from './helpers.ts';

let env: Pop3Env;
const ANN = 'ann@example.org';
const PW = 'sesame pass';

before(async () => {
  env = await startPop3();
  await env.addUser(ANN, PW, { cramMd5: true });
  await env.addUser('bob@example.org', 'bobpw', { cramMd5: false }); // no CRAM-MD5 key
  await env.deliver(ANN, message('first', 'line one\r\n.starts with a dot\r\nline three\r\n'));
  await env.deliver(ANN, message('second', 'body two\r\n'));
  await env.deliver(ANN, message('third', 'body three\r\n'));
});
after(async () => env?.stop());

const PRELUDE = `
import poplib, ssl, base64, hmac, hashlib, os, json, sys
HOST, PORT, TLSPORT = '127.0.0.1', int(os.environ['PORT']), int(os.environ['TLSPORT'])
USER, PW = os.environ['USER_NAME'], os.environ['PW']
def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c
def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()
out = {}
`;
const run = async (body: string): Promise<Record<string, any>> => {
  const stdout = await python(`${PRELUDE}${body}\nprint(json.dumps(out))`, { PORT: String(env.port), TLSPORT: String(env.tlsPort), USER_NAME: ANN, PW });
  return JSON.parse(stdout.trim().split('\n').pop()!);
};

test('poplib: USER/PASS, STAT, LIST, UIDL, TOP, RETR (dot-unstuffed), QUIT', async () => {
  const r = await run(`
p = poplib.POP3(HOST, PORT, timeout=10)
out['welcome'] = p.getwelcome().decode()
out['capa'] = sorted(p.capa().keys())
p.user(USER)
out['pass'] = p.pass_(PW).decode()
out['stat'] = list(p.stat())
out['list'] = [x.decode() for x in p.list()[1]]
out['uidl'] = [x.decode() for x in p.uidl()[1]]
out['top'] = [x.decode() for x in p.top(1, 1)[1]]
resp, lines, octets = p.retr(1)
out['retr'] = [x.decode() for x in lines]
out['octets'] = octets
out['quit'] = p.quit().decode()
`);
  assert.match(r.welcome, /^\+OK \S+ Postern POP3 server ready/);
  assert.deepEqual(r.capa, ['IMPLEMENTATION', 'PIPELINING', 'RESP-CODES', 'AUTH-RESP-CODE', 'SASL', 'STLS', 'TOP', 'UIDL', 'USER'].sort());
  assert.match(r.pass, /^\+OK/);
  assert.equal(r.stat[0], 3);
  assert.equal(r.list.length, 3);
  assert.equal(r.uidl.length, 3);
  assert.equal(new Set(r.uidl.map((l: string) => l.split(' ')[1])).size, 3);
  assert.deepEqual(r.top.slice(-2), ['', 'line one']);
  assert.deepEqual(r.retr.slice(-3), ['line one', '.starts with a dot', 'line three']);
  assert.equal(r.retr[2], 'Subject: first');
  assert.match(r.quit, /^\+OK/);
});

test('STLS: plaintext pipelined after it is dropped, not run over TLS (the upgrade verdict)', async () => {
  const r = await run(`
import socket
s = socket.create_connection((HOST, PORT), timeout=10)
f = s.makefile('rb')
f.readline()
s.sendall(b'STLS\\r\\nUSER ' + USER.encode() + b'\\r\\n')
out['stls'] = f.readline().decode().strip()
t = ctx().wrap_socket(s)
g = t.makefile('rb')
t.sendall(b'PASS ' + PW.encode() + b'\\r\\n')
out['pass'] = g.readline().decode().strip()
`);
  assert.match(r.stls, /^\+OK/);
  assert.equal(r.pass, '-ERR USER first', 'the injected USER was not run');
});

test('poplib: STLS upgrades, then USER/PASS works and CAPA no longer offers STLS', async () => {
  const r = await run(`
p = poplib.POP3(HOST, PORT, timeout=10)
out['stls'] = p.stls(ctx()).decode()
out['capa'] = sorted(p.capa().keys())
p.user(USER)
p.pass_(PW)
out['stat'] = list(p.stat())
out['cipher'] = p.sock.cipher()[1]
p.quit()
`);
  assert.match(r.stls, /^\+OK/);
  assert.ok(!r.capa.includes('STLS'));
  assert.ok(r.capa.includes('USER'));
  assert.equal(r.stat[0], 3);
  assert.match(r.cipher, /^TLSv1\.[23]$/);
});

test('poplib: POP3_SSL on the implicit-TLS listener', async () => {
  const r = await run(`
p = poplib.POP3_SSL('127.0.0.2', TLSPORT, context=ctx(), timeout=10)
p.user(USER)
p.pass_(PW)
out['stat'] = list(p.stat())
out['capa'] = sorted(p.capa().keys())
p.quit()
`);
  assert.equal(r.stat[0], 3);
  assert.ok(!r.capa.includes('STLS'));
});

test('AUTH PLAIN with an initial response, and without one (continuation "+ ")', async () => {
  const r = await run(`
p = poplib.POP3(HOST, PORT, timeout=10)
out['ir'] = p._shortcmd('AUTH PLAIN ' + b64('\\0' + USER + '\\0' + PW)).decode()
out['stat'] = list(p.stat())
p.quit()
p = poplib.POP3(HOST, PORT, timeout=10)
p._putcmd('AUTH PLAIN')
out['cont'] = p._getline()[0].decode()
p._putcmd(b64(USER + '\\0' + USER + '\\0' + PW))
out['ok'] = p._getresp().decode()
p.quit()
p = poplib.POP3(HOST, PORT, timeout=10)
try:
    p._shortcmd('AUTH PLAIN ' + b64('\\0' + USER + '\\0wrong'))
except poplib.error_proto as e:
    out['wrong'] = str(e.args[0].decode())
try:
    p._shortcmd('AUTH PLAIN ' + b64('bob@example.org\\0' + USER + '\\0' + PW))
except poplib.error_proto as e:
    out['proxy'] = str(e.args[0].decode())
p.quit()
`);
  assert.match(r.ir, /^\+OK logged in, 3 messages/);
  assert.equal(r.stat[0], 3);
  assert.equal(r.cont, '+ ');
  assert.match(r.ok, /^\+OK/);
  assert.match(r.wrong, /^-ERR \[AUTH\]/);
  assert.match(r.proxy, /^-ERR \[AUTH\]/);
});

test('AUTH LOGIN (Username:/Password: prompts) and with the user name as initial response', async () => {
  const r = await run(`
p = poplib.POP3(HOST, PORT, timeout=10)
p._putcmd('AUTH LOGIN')
out['p1'] = base64.b64decode(p._getline()[0][2:]).decode()
p._putcmd(b64(USER))
out['p2'] = base64.b64decode(p._getline()[0][2:]).decode()
p._putcmd(b64(PW))
out['ok'] = p._getresp().decode()
p.quit()
p = poplib.POP3(HOST, PORT, timeout=10)
p._putcmd('AUTH LOGIN ' + b64(USER))
out['p2b'] = base64.b64decode(p._getline()[0][2:]).decode()
p._putcmd(b64(PW))
out['okb'] = p._getresp().decode()
p.quit()
`);
  assert.equal(r.p1, 'Username:');
  assert.equal(r.p2, 'Password:');
  assert.match(r.ok, /^\+OK/);
  assert.equal(r.p2b, 'Password:');
  assert.match(r.okb, /^\+OK/);
});

test('AUTH CRAM-MD5: HMAC-MD5 of the challenge; an account without CRAM-MD5 keys fails with [AUTH]', async () => {
  const r = await run(`
def cram(user, pw):
    p = poplib.POP3(HOST, PORT, timeout=10)
    p._putcmd('AUTH CRAM-MD5')
    ch = base64.b64decode(p._getline()[0][2:])
    d = hmac.new(pw.encode(), ch, hashlib.md5).hexdigest()
    p._putcmd(b64(user + ' ' + d))
    try:
        r = p._getresp().decode()
    except poplib.error_proto as e:
        r = e.args[0].decode()
    out.setdefault('challenges', []).append(ch.decode())
    p.quit()
    return r
out['ann'] = cram(USER, PW)
out['annWrong'] = cram(USER, 'nope')
out['bob'] = cram('bob@example.org', 'bobpw')
`);
  assert.match(r.ann, /^\+OK/);
  assert.match(r.annWrong, /^-ERR \[AUTH\]/);
  assert.match(r.bob, /^-ERR \[AUTH\]/);
  assert.match(r.challenges[0], /^<[0-9a-f]+\.\d+@.+>$/);
  assert.notEqual(r.challenges[0], r.challenges[1]);
});

test('AUTH: "*" cancels; bad base64 fails; DIGEST-MD5 and GSSAPI are not supported and not listed', async () => {
  const c = await pop3(env.port);
  assert.equal(await c.cmd('AUTH PLAIN'), '+ ');
  assert.equal(await c.cmd('*'), '-ERR authentication cancelled');
  assert.match(await c.cmd('AUTH PLAIN !!notbase64'), /^-ERR \[AUTH\]/);
  assert.equal(await c.cmd('AUTH DIGEST-MD5'), '-ERR mechanism not supported');
  assert.equal(await c.cmd('AUTH GSSAPI'), '-ERR mechanism not supported');
  assert.equal(await c.cmd('AUTH'), '+OK');
  assert.deepEqual(await c.readMulti(), ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256']);
  assert.equal(await c.cmd('CAPA'), '+OK capability list follows');
  const caps = await c.readMulti();
  assert.ok(caps.includes('SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256'));
  assert.ok(!caps.some((x) => /DIGEST|GSSAPI/.test(x)));
  assert.equal(await c.cmd('APOP ann@example.org 0123456789abcdef0123456789abcdef'), '-ERR APOP not implemented');
  c.close();
});

test('curl pop3://: the listing and a message', async () => {
  const base = `pop3://127.0.0.1:${env.port}`;
  const list = await curl(['--user', `${ANN}:${PW}`, `${base}/`]);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(list.stdout.trim().split(/\r?\n/).map((l) => l.split(' ')[0]), ['1', '2', '3']);
  const one = await curl(['--user', `${ANN}:${PW}`, '--login-options', 'AUTH=PLAIN', `${base}/1`]);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /Subject: first\r\n/);
  assert.match(one.stdout, /\r\n\.starts with a dot\r\n/);
  const bad = await curl(['--user', `${ANN}:wrong`, `${base}/1`]);
  assert.notEqual(bad.code, 0);
});
