/**
 * IMAP with mbsync (Debian isync; nobody here wrote it), from a throwaway config in a temp dir:
 * the server's INBOX and Archive synced to a local maildir; then changes on both sides (a new
 * local message, local flags, a local deletion; a new server message, a flag set and a message
 * expunged over IMAP by another client) synced both ways; then a third run that changes nothing.
 * After each run both sides hold the same messages (byte for byte, modulo the maildir's LF line
 * ends and the X-TUID header mbsync adds to its copies), nothing lost or duplicated, and the
 * same system flags; the server side is read over IMAP by imapflow.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { rawMessage, sha256, startTarget, type ImapTarget } from './helpers.ts';
import { runProcess as run } from '../helpers.ts';

const ANN = 'ann@example.org';
const PW = 'sesame pass';
let t: ImapTarget;
let dir: string;
let conf: string;

before(async () => {
  t = await startTarget({ users: [{ user: ANN, password: PW }] });
  for (let i = 1; i <= 4; i++) await t.deliver(ANN, rawMessage(i));
  await t.deliver(ANN, rawMessage(50, 'archived'), 'Archive');
  dir = fs.mkdtempSync(path.join(t.dir, 'mbsync-'));
  conf = path.join(dir, 'mbsyncrc');
  fs.mkdirSync(path.join(dir, 'local'));
  fs.writeFileSync(conf, `IMAPAccount target
Host ${t.host}
Port ${t.port}
User ${ANN}
Pass "${PW}"
SSLType None
AuthMechs LOGIN
Timeout 20

IMAPStore far
Account target

MaildirStore near
Path ${dir}/local/
Inbox ${dir}/local/INBOX
SubFolders Verbatim

Channel both
Far :far:
Near :near:
Patterns INBOX Archive
Create Both
Expunge Both
SyncState *
Sync All
`);
  fs.chmodSync(conf, 0o600);
});
after(async () => t?.stop());

const FLAG_LETTERS: Record<string, string> = { D: '\\Draft', F: '\\Flagged', R: '\\Answered', S: '\\Seen', T: '\\Deleted' };
const SYSTEM = new Set(Object.values(FLAG_LETTERS));

/** A message's bytes with CRLF line ends and without the X-TUID header mbsync adds to the copies
 * it makes on either side (its own marker to find a copy again). */
const asServer = (b: Buffer): Buffer => Buffer.from(b.toString('latin1').replace(/^X-TUID: [^\n]*\n/m, '').replace(/\r?\n/g, '\r\n'), 'latin1');

interface Msg { sha: string; flags: string[] }

function localFolder(folder: string): Msg[] {
  const md = folder === 'INBOX' ? path.join(dir, 'local', 'INBOX') : path.join(dir, 'local', folder);
  const out: Msg[] = [];
  for (const sub of ['cur', 'new']) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(path.join(md, sub));
    } catch {
      continue;
    }
    for (const n of names) {
      const info = n.includes(':2,') ? n.slice(n.indexOf(':2,') + 3) : '';
      out.push({ sha: sha256(asServer(fs.readFileSync(path.join(md, sub, n)))), flags: [...info].map((c) => FLAG_LETTERS[c]).filter((x): x is string => x !== undefined).sort() });
    }
  }
  return out.sort((a, b) => a.sha.localeCompare(b.sha));
}

/** The server's folder, read over IMAP by another client (imapflow, BODY.PEEK[]). */
async function serverFolder(folder: string): Promise<Msg[]> {
  const c = client();
  await c.connect();
  const out: Msg[] = [];
  try {
    await c.mailboxOpen(folder, { readOnly: true });
    if (c.mailbox !== false && c.mailbox.exists > 0) {
      for await (const m of c.fetch('1:*', { uid: true, flags: true, source: true })) {
        out.push({ sha: sha256(asServer(m.source!)), flags: [...(m.flags ?? [])].filter((x) => SYSTEM.has(x)).sort() });
      }
    }
  } finally {
    await c.logout();
  }
  return out.sort((a, b) => a.sha.localeCompare(b.sha));
}

function client(): ImapFlow {
  const c = new ImapFlow({ host: t.host, port: t.port, secure: false, doSTARTTLS: false, auth: { user: ANN, pass: PW }, logger: false, disableAutoIdle: true } as ConstructorParameters<typeof ImapFlow>[0]);
  c.on('error', () => {});
  return c;
}

async function mbsync(): Promise<void> {
  const r = await run('mbsync', ['-c', conf, '-a'], { env: { HOME: dir }, timeoutMs: 60_000 });
  assert.equal(r.code, 0, `mbsync failed:\n${r.stdout}\n${r.stderr}`);
}

async function assertInSync(counts: Record<string, number>): Promise<void> {
  for (const [folder, n] of Object.entries(counts)) {
    const far = await serverFolder(folder);
    const near = localFolder(folder);
    assert.equal(far.length, n, `${folder}: ${far.length} messages on the server, expected ${n}`);
    assert.equal(new Set(far.map((m) => m.sha)).size, n, `${folder}: a message is duplicated on the server`);
    assert.deepEqual(near, far, `${folder}: the local maildir and the server differ`);
  }
}

function localFiles(folder: string): string[] {
  const md = path.join(dir, 'local', folder);
  return ['cur', 'new'].flatMap((s) => fs.readdirSync(path.join(md, s)).map((n) => path.join(md, s, n)));
}

/** Give a local message new maildir flags (the info part of its name). */
function setLocalFlags(file: string, letters: string): void {
  const base = path.basename(file).split(':2,')[0]!;
  fs.renameSync(file, path.join(path.dirname(path.dirname(file)), 'cur', `${base}:2,${letters}`));
}

test('mbsync: the first sync copies the server to the local maildir', async () => {
  await mbsync();
  await assertInSync({ INBOX: 4, Archive: 1 });
});

test('mbsync: changes on both sides go both ways; a third run changes nothing', async () => {
  const inbox = localFiles('INBOX');
  const subjects = new Map(inbox.map((f) => [/^Subject: (.*)$/m.exec(fs.readFileSync(f, 'utf8'))?.[1] ?? '', f]));
  // local: message 1 read and flagged, message 2 deleted, a new message written
  setLocalFlags(subjects.get('message 1')!, 'FS');
  setLocalFlags(subjects.get('message 2')!, 'T');
  const fresh = rawMessage(60, 'written locally');
  fs.writeFileSync(path.join(dir, 'local', 'INBOX', 'new', `1700000000.M1P1.local`), fresh.toString().replace(/\r\n/g, '\n'));
  // server: a new delivery, message 3 answered and message 4 expunged by another client
  await t.deliver(ANN, rawMessage(61, 'delivered meanwhile'));
  const c = client();
  await c.connect();
  try {
    await c.mailboxOpen('INBOX');
    const found = await c.search({ or: [{ subject: 'message 3' }, { subject: 'message 4' }] }, { uid: true });
    assert.ok(Array.isArray(found) && found.length === 2);
    const [m3, m4] = found.sort((a, b) => a - b);
    await c.messageFlagsAdd(String(m3), ['\\Answered'], { uid: true });
    await c.messageDelete(String(m4), { uid: true });
  } finally {
    await c.logout();
  }

  await mbsync();
  // 1 (FS), 3 (answered), the local one, the delivered one; 2 and 4 gone
  await assertInSync({ INBOX: 4, Archive: 1 });
  const far = await serverFolder('INBOX');
  const flagsOf = (m: Buffer): string[] | undefined => far.find((x) => x.sha === sha256(m))?.flags;
  assert.deepEqual(flagsOf(fresh), []);
  const bySubject = async (s: string): Promise<string[] | undefined> => {
    const f = localFiles('INBOX').find((p) => fs.readFileSync(p, 'utf8').includes(`Subject: ${s}\n`));
    return f === undefined ? undefined : far.find((x) => x.sha === sha256(asServer(fs.readFileSync(f))))?.flags;
  };
  assert.deepEqual(await bySubject('message 1'), ['\\Flagged', '\\Seen']);
  assert.deepEqual(await bySubject('message 3'), ['\\Answered']);
  assert.equal(await bySubject('message 2'), undefined);
  assert.equal(await bySubject('message 4'), undefined);
  assert.deepEqual(await bySubject('delivered meanwhile'), []);

  const before = { far: await serverFolder('INBOX'), near: localFolder('INBOX') };
  await mbsync();
  await assertInSync({ INBOX: 4, Archive: 1 });
  assert.deepEqual(await serverFolder('INBOX'), before.far);
  assert.deepEqual(localFolder('INBOX'), before.near);
});
