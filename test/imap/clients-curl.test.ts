/**
 * IMAP with curl (nobody here wrote it): imap:// lists the folders (LIST) and fetches a
 * message by UID (SELECT, UID FETCH BODY[]) byte for byte; the same over STARTTLS
 * (--ssl-reqd) and over implicit TLS (imaps://), both verifying the test certificate
 * (CN=localhost) with --cacert; a wrong password fails with curl's login-denied exit code (67).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rawMessage, startTarget, type ImapTarget } from './helpers.ts';
import { runProcess as run } from '../helpers.ts';

const ANN = 'ann@example.org';
const PW = 'sesame pass';
let t: ImapTarget;
const msgs = [rawMessage(1), rawMessage(2, 'second', 'The second body.\r\n.a line starting with a dot\r\n')];

before(async () => {
  t = await startTarget({ users: [{ user: ANN, password: PW }] });
  for (const m of msgs) await t.deliver(ANN, m);
});
after(async () => t?.stop());

const curl = (url: string, more: string[] = [], pass = PW): ReturnType<typeof run> =>
  run('curl', ['-sS', '--max-time', '20', '-u', `${ANN}:${pass}`, ...more, url]);

/** TLS verified against the test certificate: the name is localhost, resolved to the host. */
const tlsArgs = (port: number, host = t.host): string[] => ['--cacert', t.certFile, '--resolve', `localhost:${port}:${host}`];

function folders(listing: string): string[] {
  return listing.split(/\r?\n/).filter((l) => l.startsWith('* LIST')).map((l) => l.replace(/^\* LIST \([^)]*\) (?:"[^"]*"|NIL) /, '').replace(/^"(.*)"$/, '$1')).sort();
}

test('curl imap://: LIST shows INBOX and the special-use folders', async () => {
  const r = await curl(`imap://${t.host}:${t.port}/`);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(folders(r.stdout), ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
});

test('curl imap://: a message fetched by UID, byte for byte', async () => {
  for (const [i, m] of msgs.entries()) {
    const r = await curl(`imap://${t.host}:${t.port}/INBOX;UID=${i + 1}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, m.toString());
  }
});

test('curl imap:// with --ssl-reqd: STARTTLS, the certificate verified, then the fetch', async () => {
  const r = await curl(`imap://localhost:${t.port}/INBOX;UID=2`, ['--ssl-reqd', ...tlsArgs(t.port)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, msgs[1]!.toString());
});

test('curl imaps://: implicit TLS, LIST and a fetch by UID', async () => {
  const list = await curl(`imaps://localhost:${t.tlsPort}/`, tlsArgs(t.tlsPort, t.tlsHost));
  assert.equal(list.code, 0, list.stderr);
  assert.ok(folders(list.stdout).includes('INBOX'));
  const r = await curl(`imaps://localhost:${t.tlsPort}/INBOX;UID=1`, tlsArgs(t.tlsPort, t.tlsHost));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, msgs[0]!.toString());
});

test('curl imap://: a wrong password is a login denied (exit 67)', async () => {
  const r = await curl(`imap://${t.host}:${t.port}/`, [], 'wrong');
  assert.equal(r.code, 67, r.stderr);
});
