/**
 * IMAP logins over real sockets: AUTHENTICATE with each mechanism (PLAIN, LOGIN and CRAM-MD5
 * through Python's imaplib; SCRAM-SHA-256 and SASL-IR by hand), cancelling and malformed
 * exchanges, the plain/secure login options (LOGINDISABLED, PRIVACYREQUIRED, the mechanisms
 * per connection kind, STARTTLS), maxAuthErrors, and the service's login throttle (ban).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import tls from 'node:tls';
import { imap, imapOn, python, startImap, type ImapClient, type ImapEnv } from './helpers.ts';

const USER = 'user@example.org';
const PASS = 'secret-pw';
const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

/** A SCRAM-SHA-256 client exchange (RFC 5802, RFC 7677) on a raw client; the tagged reply. */
async function scram(c: Pick<ImapClient, 'write' | 'read' | 'until'>, tag: string, user: string, password: string): Promise<string> {
  const cnonce = randomBytes(18).toString('base64');
  const first = `n=${user},r=${cnonce}`;
  c.write(`${tag} AUTHENTICATE SCRAM-SHA-256 ${b64(`n,,${first}`)}\r\n`);
  const ch = await c.read();
  assert.match(ch, /^\+ /);
  const serverFirst = Buffer.from(ch.slice(2), 'base64').toString();
  const attrs = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)]));
  assert.ok(attrs['r']!.startsWith(cnonce));
  const salted = pbkdf2Sync(password, Buffer.from(attrs['s']!, 'base64'), Number(attrs['i']), 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const stored = createHash('sha256').update(clientKey).digest();
  const withoutProof = `c=${b64('n,,')},r=${attrs['r']}`;
  const authMessage = `${first},${serverFirst},${withoutProof}`;
  const sig = createHmac('sha256', stored).update(authMessage).digest();
  const proof = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) proof[i] = clientKey[i]! ^ sig[i]!;
  c.write(`${b64(`${withoutProof},p=${proof.toString('base64')}`)}\r\n`);
  const l = await c.read();
  if (!l.startsWith('+ ')) return l;
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  assert.equal(Buffer.from(l.slice(2), 'base64').toString(), `v=${createHmac('sha256', serverKey).update(authMessage).digest('base64')}`, 'the server proves it knows the key');
  c.write('\r\n');
  return (await c.until(tag)).tagged;
}

describe('default options', () => {
  let env: ImapEnv;
  before(async () => {
    env = await startImap({ imap: 'maxAuthErrors = 3' });
    await env.addUser(USER, PASS);
  });
  after(() => env.stop());

  test('imaplib: AUTHENTICATE PLAIN, LOGIN and CRAM-MD5; a wrong password is NO [AUTHENTICATIONFAILED]', async () => {
    const out = await python(`
import imaplib
def run(fn):
    m = imaplib.IMAP4('127.0.0.1', ${env.port})
    try:
        r = fn(m)
        print(r[0], r[1][0].decode()[:40] if r[1] and r[1][0] else '')
        m.logout()
    except imaplib.IMAP4.error as e:
        print('error', e)
run(lambda m: m.authenticate('PLAIN', lambda ch: b'\\0${USER}\\0${PASS}'))
answers = iter([b'${USER}', b'${PASS}'])
run(lambda m: m.authenticate('LOGIN', lambda ch: next(answers)))
run(lambda m: m.login_cram_md5('${USER}', '${PASS}'))
run(lambda m: m.authenticate('PLAIN', lambda ch: b'\\0${USER}\\0wrong'))
run(lambda m: m.login_cram_md5('${USER}', 'wrong'))
run(lambda m: m.login('${USER}', 'wrong'))
`);
    // (imaplib words the errors of authenticate and login differently)
    assert.deepEqual(out.trim().split('\n'), [
      'OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+',
      'OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+',
      'OK [CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+',
      'error [AUTHENTICATIONFAILED] authentication failed',
      'error [AUTHENTICATIONFAILED] authentication failed',
      "error b'[AUTHENTICATIONFAILED] authentication failed'",
    ]);
  });

  test('SASL-IR, SCRAM-SHA-256, cancelling and malformed exchanges', async () => {
    const c = await imap(env.port);
    assert.match((await c.run(`AUTHENTICATE PLAIN ${b64(`\0${USER}\0${PASS}`)}`, 's1')).tagged, /^s1 OK \[CAPABILITY /);
    c.close();
    const d = await imap(env.port);
    assert.match(await scram(d, 's2', USER, PASS), /^s2 OK \[CAPABILITY /);
    d.close();
    const e = await imap(env.port);
    assert.equal(await scram(e, 's3', USER, 'wrong'), 's3 NO [AUTHENTICATIONFAILED] authentication failed');
    e.write('s4 AUTHENTICATE PLAIN\r\n');
    assert.equal(await e.read(), '+ ');
    e.write('*\r\n');
    assert.equal(await e.read(), 's4 BAD authentication cancelled');
    e.write('s5 AUTHENTICATE LOGIN\r\n');
    assert.equal(await e.read(), `+ ${b64('Username:')}`);
    e.write('not base64!\r\n');
    assert.equal(await e.read(), 's5 BAD invalid base64 in the authentication exchange');
    assert.equal((await e.run(`AUTHENTICATE CRAM-MD5 ${b64('x')}`, 's6')).tagged, 's6 BAD CRAM-MD5 takes no initial response');
    assert.equal((await e.run('AUTHENTICATE DIGEST-MD5', 's7')).tagged, 's7 NO unsupported authentication mechanism');
    e.write('s8 AUTHENTICATE PLAIN\r\n');
    assert.equal(await e.read(), '+ ');
    e.write(`${'A'.repeat(70_000)}\r\n`);
    assert.equal(await e.read(), 's8 NO [AUTHENTICATIONFAILED] authentication exchange line too long');
    // two failures so far (s3, s8): the third closes the session
    e.write(`s9 LOGIN ${USER} wrong\r\n`);
    assert.equal(await e.read(), '* BYE [AUTHENTICATIONFAILED] too many authentication failures, closing the connection');
    await e.closed;
  });

  test('maxAuthErrors: the third failed login ends the session with BYE', async () => {
    const c = await imap(env.port);
    assert.equal((await c.run(`LOGIN ${USER} bad1`, 'm1')).tagged, 'm1 NO [AUTHENTICATIONFAILED] authentication failed');
    assert.equal((await c.run(`LOGIN ${USER} bad2`, 'm2')).tagged, 'm2 NO [AUTHENTICATIONFAILED] authentication failed');
    c.write(`m3 LOGIN ${USER} bad3\r\n`);
    assert.equal(await c.read(), '* BYE [AUTHENTICATIONFAILED] too many authentication failures, closing the connection');
    await c.closed;
  });
});

describe('plain and secure connections with different login options', () => {
  let env: ImapEnv;
  before(async () => {
    env = await startImap({ imap: 'plainConnAllowLogin = no plainConnAuthTypes = (cramMd5) secureConnAuthTypes = (plain scramSha256) maxAuthErrors = 10' });
    await env.addUser(USER, PASS);
  });
  after(() => env.stop());

  test('plain: LOGINDISABLED, only CRAM-MD5; LOGIN and PLAIN need TLS; after STARTTLS both work', async () => {
    const c = await imap(env.port);
    assert.match(c.greeting, /^\* OK \[CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL\+ SASL-IR ENABLE ID STARTTLS AUTH=CRAM-MD5 LOGINDISABLED\] /);
    assert.equal((await c.run(`LOGIN ${USER} ${PASS}`, 'o1')).tagged, 'o1 NO [PRIVACYREQUIRED] LOGIN is disabled on an unencrypted connection');
    assert.equal((await c.run(`AUTHENTICATE PLAIN ${b64(`\0${USER}\0${PASS}`)}`, 'o2')).tagged, 'o2 NO [PRIVACYREQUIRED] mechanism not allowed on this connection');
    assert.equal((await c.run('AUTHENTICATE LOGIN', 'o3')).tagged, 'o3 NO [CANNOT] mechanism not allowed on this connection');
    c.write('o4 STARTTLS\r\no5 CAPABILITY\r\n'); // the pipelined plaintext is dropped
    assert.equal(await c.read(), 'o4 OK begin TLS negotiation now');
    const sock = tls.connect({ socket: c.socket, rejectUnauthorized: false });
    await new Promise<void>((r) => sock.once('secureConnect', () => r()));
    const t = imapOn(sock as unknown as import('node:net').Socket);
    assert.deepEqual(await t.run('CAPABILITY', 'o6'), { untagged: ['* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ENABLE ID AUTH=PLAIN AUTH=SCRAM-SHA-256'], tagged: 'o6 OK CAPABILITY completed' });
    assert.match(await scram(t, 'o7', USER, PASS), /^o7 OK \[CAPABILITY /);
    t.close();
  });

  test('imaplib: login refused in plain text, accepted after starttls; the implicit TLS listener offers the secure list', async () => {
    const out = await python(`
import imaplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
m = imaplib.IMAP4('127.0.0.1', ${env.port})
print(' '.join(m.capabilities))
try:
    m.login('${USER}', '${PASS}')
except imaplib.IMAP4.error as e:
    print('error', e)
m.starttls(ctx)
print(m.login('${USER}', '${PASS}')[0])
m.logout()
s = imaplib.IMAP4_SSL('127.0.0.2', ${env.tlsPort}, ssl_context=ctx)
print(' '.join(s.capabilities))
print(s.authenticate('PLAIN', lambda ch: b'\\0${USER}\\0${PASS}')[0])
s.logout()
`);
    assert.deepEqual(out.trim().split('\n'), [
      'IMAP4REV1 IMAP4REV2 LITERAL+ SASL-IR ENABLE ID STARTTLS AUTH=CRAM-MD5 LOGINDISABLED',
      "error b'[PRIVACYREQUIRED] LOGIN is disabled on an unencrypted connection'",
      'OK',
      'IMAP4REV1 IMAP4REV2 LITERAL+ SASL-IR ENABLE ID AUTH=PLAIN AUTH=SCRAM-SHA-256',
      'OK',
    ]);
  });
});

describe('the login throttle', () => {
  let env: ImapEnv;
  before(async () => {
    env = await startImap({ imap: 'authBanThreshold = 2 authBanTime = 600 maxAuthErrors = 10' });
    await env.addUser(USER, PASS);
  });
  after(() => env.stop());

  test('authBanThreshold failures ban the IP: logins fail unchecked, new connections are refused with BYE', async () => {
    const c = await imap(env.port);
    assert.equal((await c.run(`LOGIN ${USER} bad1`, 'b1')).tagged, 'b1 NO [AUTHENTICATIONFAILED] authentication failed');
    assert.equal((await c.run(`LOGIN ${USER} bad2`, 'b2')).tagged, 'b2 NO [AUTHENTICATIONFAILED] authentication failed');
    assert.equal((await c.run(`LOGIN ${USER} ${PASS}`, 'b3')).tagged, 'b3 NO [AUTHENTICATIONFAILED] authentication failed', 'banned: even the right password fails');
    c.close();
    const d = await imap(env.port);
    assert.equal(d.greeting, '* BYE [UNAVAILABLE] too many failed logins from your address, try again later');
    await d.closed;
  });
});
