/**
 * The IMAP session over real sockets: the greeting and the capabilities before and after
 * login (plain, STARTTLS, implicit TLS), LOGIN with Python's imaplib, LOGINDISABLED, the
 * commands of any state (NOOP, ID, LOGOUT), ENABLE and NAMESPACE, commands in the wrong
 * state, malformed commands, and the session's end (LOGOUT, idle timeout).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { imap, imapOn, python, startImap, type ImapEnv } from './helpers.ts';

let env: ImapEnv;
const USER = 'user@example.org';
const PASS = 'secret-pw';

before(async () => {
  env = await startImap();
  await env.addUser(USER, PASS);
});
after(() => env.stop());

const PRE = 'IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ENABLE ID STARTTLS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=SCRAM-SHA-256';
const PRE_TLS = 'IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ENABLE ID AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=SCRAM-SHA-256';
const POST =
  'IMAP4rev1 IMAP4rev2 LITERAL+ IDLE UIDPLUS MOVE CONDSTORE QRESYNC SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES NAMESPACE UNSELECT CHILDREN STATUS=SIZE BINARY UTF8=ACCEPT QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE SORT THREAD=REFERENCES MULTIAPPEND COMPRESS=DEFLATE ENABLE APPENDLIMIT=52428800 ID';

test('greeting and CAPABILITY before and after login (plain connection)', async () => {
  const c = await imap(env.port);
  assert.equal(c.greeting, `* OK [CAPABILITY ${PRE}] mail.example.org Postern IMAP4rev2 server ready`);
  assert.deepEqual(await c.run('CAPABILITY', 'a1'), { untagged: [`* CAPABILITY ${PRE}`], tagged: 'a1 OK CAPABILITY completed' });
  assert.deepEqual(await c.run(`LOGIN ${USER} ${PASS}`, 'a2'), { untagged: [], tagged: `a2 OK [CAPABILITY ${POST}] logged in` });
  assert.deepEqual(await c.run('CAPABILITY', 'a3'), { untagged: [`* CAPABILITY ${POST}`], tagged: 'a3 OK CAPABILITY completed' });
  assert.deepEqual(await c.run('LOGOUT', 'a4'), { untagged: ['* BYE logging out'], tagged: 'a4 OK LOGOUT completed' });
  await c.closed;
});

test('implicit TLS: no STARTTLS offered; LOGIN works', async () => {
  const sock = tls.connect({ port: env.tlsPort, host: '127.0.0.2', rejectUnauthorized: false });
  await new Promise<void>((r) => sock.once('secureConnect', () => r()));
  const c = imapOn(sock as unknown as import('node:net').Socket);
  assert.equal(await c.read(), `* OK [CAPABILITY ${PRE_TLS}] mail.example.org Postern IMAP4rev2 server ready`);
  assert.equal((await c.run('STARTTLS', 'b0')).tagged, 'b0 BAD already using TLS');
  assert.match((await c.run(`LOGIN ${USER} ${PASS}`, 'b1')).tagged, /^b1 OK \[CAPABILITY IMAP4rev1 /);
  await c.run('LOGOUT', 'b2');
  c.close();
});

test('imaplib: LOGIN, CAPABILITY, NOOP, NAMESPACE, ID, ENABLE, LOGOUT; STARTTLS then LOGIN', async () => {
  const out = await python(`
import imaplib, ssl, json
m = imaplib.IMAP4('127.0.0.1', ${env.port})
pre = list(m.capabilities)
m.login('${USER}', '${PASS}')
post = m.capability()[1][0].decode().split()
ns = m.namespace()
noop = m.noop()
idr = m.xatom('ID', 'NIL')
idu = m.untagged_responses.pop('ID', None)
en = m._simple_command('ENABLE', 'CONDSTORE', 'UTF8=ACCEPT', 'X-UNKNOWN')
enu = m.untagged_responses.pop('ENABLED', None)
bye = m.logout()
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
t = imaplib.IMAP4('127.0.0.1', ${env.port})
t.starttls(ctx)
tls_caps = list(t.capabilities)
t.login('${USER}', '${PASS}')
t.logout()
def s(x):
    return x.decode() if isinstance(x, bytes) else [s(y) for y in x] if isinstance(x, (list, tuple)) else x
print(json.dumps({'pre': pre, 'post': post, 'ns': s(ns), 'noop': s(noop), 'id': s(idr), 'idu': s(idu), 'en': s(en), 'enu': s(enu), 'bye': s(bye), 'tls': tls_caps}))
`);
  const r = JSON.parse(out) as Record<string, unknown>;
  assert.deepEqual(r['pre'], PRE.split(' ').map((x) => x.toUpperCase()));
  assert.deepEqual(r['post'], POST.split(' '));
  assert.deepEqual(r['ns'], ['OK', ['(("" "/")) NIL NIL']]);
  assert.deepEqual(r['noop'], ['OK', ['NOOP completed']]);
  assert.deepEqual(r['idu'], ['("name" "Postern" "vendor" "Postern")']);
  assert.deepEqual(r['en'], ['OK', ['ENABLE completed']]);
  assert.deepEqual(r['enu'], ['CONDSTORE UTF8=ACCEPT']);
  assert.deepEqual((r['bye'] as unknown[])[0], 'BYE');
  assert.deepEqual(r['tls'], PRE_TLS.split(' ').map((x) => x.toUpperCase()));
});

test('commands in the wrong state and malformed commands are BAD with the tag', async () => {
  const c = await imap(env.port);
  assert.equal((await c.run('LIST "" *', 'c1')).tagged, 'c1 BAD LIST log in first');
  assert.equal((await c.run('ENABLE CONDSTORE', 'c2')).tagged, 'c2 BAD ENABLE log in first');
  assert.match((await c.run('FROB', 'c3')).tagged, /^c3 BAD /);
  assert.match((await c.run('LOGIN onlyone', 'c4')).tagged, /^c4 BAD /);
  const untagged = await c.run('', 'c5'); // "c5 " then nothing: a tag with no command
  assert.match(untagged.tagged, /^c5 BAD /);
  c.write('\r\n');
  assert.match(await c.read(), /^\* BAD /, 'an empty line has no tag: untagged BAD');
  await c.run(`LOGIN ${USER} ${PASS}`, 'c6');
  assert.equal((await c.run(`LOGIN ${USER} ${PASS}`, 'c7')).tagged, 'c7 BAD LOGIN not valid in the authenticated state (no mailbox selected, or already logged in)');
  assert.equal((await c.run('STARTTLS', 'c8')).tagged, 'c8 BAD STARTTLS not valid in the authenticated state (no mailbox selected, or already logged in)');
  const e = await c.run('ENABLE QRESYNC', 'c9');
  assert.deepEqual(e, { untagged: ['* ENABLED QRESYNC'], tagged: 'c9 OK ENABLE completed' });
  assert.deepEqual(await c.run('ENABLE QRESYNC CONDSTORE', 'c10'), { untagged: ['* ENABLED'], tagged: 'c10 OK ENABLE completed' }, 'QRESYNC turned CONDSTORE on already');
  c.close();
});

test('pipelined commands are answered in order', async () => {
  const c = await imap(env.port);
  c.write(`p1 NOOP\r\np2 CAPABILITY\r\np3 LOGIN ${USER} ${PASS}\r\np4 NAMESPACE\r\np5 LOGOUT\r\n`);
  assert.equal((await c.until('p1')).tagged, 'p1 OK NOOP completed');
  assert.equal((await c.until('p2')).tagged, 'p2 OK CAPABILITY completed');
  assert.match((await c.until('p3')).tagged, /^p3 OK \[CAPABILITY/);
  assert.deepEqual(await c.until('p4'), { untagged: ['* NAMESPACE (("" "/")) NIL NIL'], tagged: 'p4 OK NAMESPACE completed' });
  assert.deepEqual(await c.until('p5'), { untagged: ['* BYE logging out'], tagged: 'p5 OK LOGOUT completed' });
  await c.closed;
});

test('a literal in LOGIN: synchronising ("+ Ready") and non-synchronising (LITERAL+)', async () => {
  const c = await imap(env.port);
  c.write(`l1 LOGIN {${USER.length}}\r\n`);
  assert.equal(await c.read(), '+ Ready for literal data');
  c.write(`${USER} {${PASS.length}+}\r\n${PASS}\r\n`);
  assert.match((await c.until('l1')).tagged, /^l1 OK \[CAPABILITY/);
  c.close();
});

test('end to end with imaplib: LOGIN, LIST, SELECT, FETCH, LOGOUT', async () => {
  await env.deliver(USER, 'From: a@example.org\r\nSubject: e2e\r\n\r\nbody\r\n');
  const out = await python(`
import imaplib, json
m = imaplib.IMAP4('127.0.0.1', ${env.port})
m.login('${USER}', '${PASS}')
typ, boxes = m.list()
typ, n = m.select('INBOX')
typ, data = m.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
bye = m.logout()
print(json.dumps({'boxes': len(boxes), 'n': n[0].decode(), 'subject': data[0][1].decode().strip(), 'bye': bye[0]}))
`);
  assert.deepEqual(JSON.parse(out), { boxes: 6, n: '1', subject: 'Subject: e2e', bye: 'BYE' });
});
