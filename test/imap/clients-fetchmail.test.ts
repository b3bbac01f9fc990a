/**
 * IMAP with fetchmail (nobody here wrote it), `--protocol IMAP`, each message handed to an mda
 * command that writes it to a file of its own: with --keep the messages arrive intact (as
 * fetchmail passes them: LF line ends) and stay on the server, marked \Seen, and a second run
 * fetches nothing new; without --keep they arrive and the server's INBOX is emptied
 * (\Deleted + EXPUNGE); over implicit TLS (--ssl) the same.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { rawMessage, startTarget, type ImapTarget } from './helpers.ts';
import { runProcess as run } from '../helpers.ts';

const ANN = 'ann@example.org';
const BOB = 'bob@example.org';
const CAROL = 'carol@example.org';
const PW = 'sesame pass';
let t: ImapTarget;
const ann = [rawMessage(1), rawMessage(2, 'with a dot', 'Line.\r\n.\r\n..two dots\r\nFrom the start\r\n'), rawMessage(3, 'big', `${'0123456789abcdef'.repeat(64)}\r\n`.repeat(200))];
const bob = [rawMessage(11), rawMessage(12)];
const carol = [rawMessage(21)];

before(async () => {
  t = await startTarget({ users: [ANN, BOB, CAROL].map((user) => ({ user, password: PW })) });
  for (const m of ann) await t.deliver(ANN, m);
  for (const m of bob) await t.deliver(BOB, m);
  for (const m of carol) await t.deliver(CAROL, m);
});
after(async () => t?.stop());

/** Run fetchmail once for `user`; resolves the messages its mda wrote (sorted). */
async function fetchmail(user: string, more: string[], port = t.port, host = t.host): Promise<{ code: number; got: string[]; out: string }> {
  const dir = fs.mkdtempSync(path.join(t.dir, 'fetchmail-'));
  const out = path.join(dir, 'out');
  fs.mkdirSync(out);
  const rc = path.join(dir, 'fetchmailrc');
  fs.writeFileSync(rc, `poll ${host} protocol IMAP port ${port} user "${user}" password "${PW}"\n`, { mode: 0o600 });
  const r = await run('fetchmail', [
    '-f', rc, '--nodetach', '--nosyslog', '--invisible', '--norewrite', '--idfile', path.join(dir, 'ids'), '--pidfile', path.join(dir, 'pid'),
    '--mda', `sh -c 'cat > ${out}/m.$$'`, ...more,
  ], { env: { HOME: dir, FETCHMAILHOME: dir }, timeoutMs: 60_000 });
  const got = fs.readdirSync(out).map((f) => fs.readFileSync(path.join(out, f), 'latin1')).sort();
  return { code: r.code, got, out: `${r.stdout}\n${r.stderr}` };
}

/** What fetchmail hands an mda: the message with LF line ends. */
const asDelivered = (m: Buffer): string => m.toString('latin1').replace(/\r\n/g, '\n');

test('fetchmail --protocol IMAP --keep: every message intact, kept and \\Seen; a second run fetches nothing', async () => {
  const r = await fetchmail(ANN, ['--keep', '--sslproto', '']);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(r.got, ann.map(asDelivered).sort());
  const d = await t.digest(ANN);
  assert.equal(d.INBOX!.length, 3);
  const flags = await t.allFlags(ANN);
  assert.ok(flags.INBOX!.every((f) => f.includes('\\Seen')), JSON.stringify(flags.INBOX));
  const again = await fetchmail(ANN, ['--keep', '--sslproto', '']);
  assert.equal(again.code, 1, `fetchmail exits 1 when there is no new mail: ${again.out}`);
  assert.deepEqual(again.got, []);
});

test('fetchmail --protocol IMAP without --keep: the messages arrive and INBOX is emptied', async () => {
  const r = await fetchmail(BOB, ['--sslproto', '']);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(r.got, bob.map(asDelivered).sort());
  const d = await t.digest(BOB);
  assert.deepEqual(d.INBOX, []);
});

test('fetchmail --protocol IMAP --ssl on the implicit-TLS listener', async () => {
  const r = await fetchmail(CAROL, ['--ssl', '--nosslcertck'], t.tlsPort, t.tlsHost);
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(r.got, carol.map(asDelivered).sort());
  const d = await t.digest(CAROL);
  assert.deepEqual(d.INBOX, []);
});
